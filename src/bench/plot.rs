//! The SVG plot of the latency distributions: one line per contender, one-way latency
//! (log scale) against the percentile, spaced in "nines" so the tail gets room.

use std::path::Path;

use plotters::prelude::*;

use super::{BenchError, Report};

/// Pixels of the plot.
const SIZE: (u32, u32) = (1100, 700);

/// Writes the latency plot of `report` to `path` as SVG.
///
/// # Errors
///
/// [`BenchError::Plot`] when drawing or writing fails.
pub fn write_svg(report: &Report, path: &Path) -> Result<(), BenchError> {
    draw(report, path).map_err(|e| BenchError::Plot(e.to_string()))
}

fn draw(report: &Report, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let (x_max, y_min, y_max) = bounds(report);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;

    let caption = format!(
        "One-way latency, cores {} and {}, {} bytes per frame ({})",
        report.pins.ping, report.pins.pong, report.message_bytes, report.machine.cpu
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_max, (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("one-way latency (ns, log scale)")
        .x_labels(x_max.ceil() as usize + 1)
        .x_label_formatter(&|nines| percentile_label(*nines))
        .y_label_formatter(&|ns| format!("{ns:.0}"))
        .draw()?;

    for (i, series) in report.latency.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points = series
            .distribution
            .iter()
            .map(|&(q, ns)| (nines(q), ns.max(y_min)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(series.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The axes' ranges: nines on x, nanoseconds on y.
fn bounds(report: &Report) -> (f64, f64, f64) {
    let points = report.latency.iter().flat_map(|s| s.distribution.iter());
    let (mut x_max, mut y_min, mut y_max) = (1.0_f64, f64::MAX, 1.0_f64);
    for &(q, ns) in points {
        x_max = x_max.max(nines(q));
        y_min = y_min.min(ns);
        y_max = y_max.max(ns);
    }
    let y_min = if y_min == f64::MAX {
        1.0
    } else {
        (y_min * 0.8).max(1.0)
    };
    (x_max, y_min, (y_max * 1.25).max(y_min * 10.0))
}

/// Quantile `q` as "nines": 0.9 is 1, 0.99 is 2, 0.999 is 3.
fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-12).log10()
}

/// The percentile at `nines` nines, as an axis label.
fn percentile_label(nines: f64) -> String {
    let percent = 100.0 * (1.0 - 10f64.powf(-nines));
    let decimals = (nines.round() as usize).saturating_sub(2);
    format!("{percent:.decimals$}%")
}

#[cfg(test)]
mod tests {
    use super::{nines, percentile_label};

    #[test]
    fn nines_and_labels_round_trip() {
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(4.0), "99.99%");
    }
}
