//! The report of one run: every series, the ratios, and its three renderings (a terminal
//! table, Markdown, JSON).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::measure::{AllocationSeries, DecodeSeries, LatencySeries, ThroughputSeries};
use super::peers::MESSAGE_BYTES;
use super::{BenchConfig, Machine, Pins};

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// The two cores the threads were pinned to.
    pub pins: Pins,
    /// How much work each series did.
    pub config: BenchConfig,
    /// Bytes per frame (agentlane) and per message (peers).
    pub message_bytes: usize,
    /// One-way latency, per contender.
    pub latency: Vec<LatencySeries>,
    /// Stream throughput, per contender.
    pub throughput: Vec<ThroughputSeries>,
    /// Heap allocations per frame, per contender.
    pub allocations: Vec<AllocationSeries>,
    /// Decoding a frame and reading its fields.
    pub decode: Vec<DecodeSeries>,
    /// agentlane over each other contender.
    pub ratios: Vec<Ratio>,
    /// Wall time of the whole run.
    pub seconds: f64,
}

/// One agentlane series divided by another contender's: below 1 means agentlane is faster
/// for latency, and above 1 means agentlane is faster for throughput.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// The agentlane series.
    pub agentlane: String,
    /// The contender it is compared with.
    pub against: String,
    /// agentlane p50 / contender p50 (one-way latency).
    pub latency_p50: f64,
    /// agentlane p99 / contender p99.
    pub latency_p99: f64,
    /// agentlane frames/s / contender frames/s, when both streamed.
    pub throughput: Option<f64>,
}

impl Report {
    /// An empty report for a run on `machine`, pinned to `pins`.
    pub(crate) fn new(machine: Machine, pins: Pins, config: BenchConfig) -> Self {
        Self {
            machine,
            pins,
            config,
            message_bytes: MESSAGE_BYTES,
            latency: Vec::new(),
            throughput: Vec::new(),
            allocations: Vec::new(),
            decode: Vec::new(),
            ratios: Vec::new(),
            seconds: 0.0,
        }
    }

    /// Computes the ratios and notes the run's wall time.
    pub(crate) fn finish(&mut self, elapsed: Duration) {
        self.seconds = elapsed.as_secs_f64();
        self.ratios = self.compute_ratios();
    }

    fn compute_ratios(&self) -> Vec<Ratio> {
        let ours = self
            .latency
            .iter()
            .filter(|s| s.name.starts_with("agentlane"));
        ours.flat_map(|al| {
            let others = self
                .latency
                .iter()
                .filter(|s| !s.name.starts_with("agentlane"));
            others.map(move |other| Ratio {
                agentlane: al.name.clone(),
                against: other.name.clone(),
                latency_p50: al.one_way_ns.p50 / other.one_way_ns.p50.max(f64::MIN_POSITIVE),
                latency_p99: al.one_way_ns.p99 / other.one_way_ns.p99.max(f64::MIN_POSITIVE),
                throughput: self
                    .frames_per_s(&al.name)
                    .zip(self.frames_per_s(&other.name))
                    .map(|(a, b)| a / b),
            })
        })
        .collect()
    }

    fn frames_per_s(&self, name: &str) -> Option<f64> {
        self.throughput
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.frames_per_s)
    }

    fn allocations_per_frame(&self, name: &str) -> Option<f64> {
        self.allocations
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.per_frame)
    }

    /// The report as pretty JSON, every series included.
    ///
    /// # Errors
    ///
    /// When serialization fails (it does not for these types).
    pub fn json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }

    /// The tables for a terminal.
    pub fn table(&self) -> String {
        self.render(Style::Plain)
    }

    /// The tables in Markdown.
    pub fn markdown(&self) -> String {
        self.render(Style::Markdown)
    }

    fn render(&self, style: Style) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", self.heading());
        out += &style.table(&self.main_table());
        out.push('\n');
        out += &style.table(&self.ratio_table());
        out.push('\n');
        out += &style.table(&self.decode_table());
        out
    }

    fn heading(&self) -> String {
        let m = &self.machine;
        let c = &self.config;
        format!(
            "agentlane bench: threads pinned to cores {} and {}; {} ({} cores), {}\n\
             {} bytes per frame; {} round trips per latency series (after {} warm-up), \
             {} frames per stream; run took {:.1} s",
            self.pins.ping,
            self.pins.pong,
            m.cpu,
            m.cores,
            m.kernel,
            self.message_bytes,
            thousands(c.round_trips),
            thousands(c.warmup),
            thousands(c.frames),
            self.seconds,
        )
    }

    fn main_table(&self) -> Vec<Vec<String>> {
        let mut rows = vec![header(&[
            "contender",
            "p50 ns",
            "p90 ns",
            "p99 ns",
            "p99.9 ns",
            "max ns",
            "stream Mframes/s",
            "allocs/frame",
        ])];
        for s in &self.latency {
            let p = &s.one_way_ns;
            let mut row = vec![s.name.clone()];
            row.extend([p.p50, p.p90, p.p99, p.p999, p.max].map(|ns| format!("{ns:.0}")));
            row.push(opt(self.frames_per_s(&s.name).map(|f| f / 1e6), 2));
            row.push(opt(self.allocations_per_frame(&s.name), 2));
            rows.push(row);
        }
        rows
    }

    fn ratio_table(&self) -> Vec<Vec<String>> {
        let mut rows = vec![header(&[
            "agentlane / contender",
            "p50 latency",
            "p99 latency",
            "throughput",
        ])];
        for r in &self.ratios {
            rows.push(vec![
                format!("{} / {}", r.agentlane, r.against),
                format!("{:.2}x", r.latency_p50),
                format!("{:.2}x", r.latency_p99),
                r.throughput
                    .map_or_else(|| "-".to_owned(), |t| format!("{t:.2}x")),
            ]);
        }
        rows
    }

    fn decode_table(&self) -> Vec<Vec<String>> {
        let mut rows = vec![header(&["decode and read fields", "ns/op", "allocs/op"])];
        for d in &self.decode {
            rows.push(vec![
                d.name.clone(),
                format!("{:.1}", d.ns_per_op),
                opt(d.allocations_per_op, 1),
            ]);
        }
        rows
    }
}

fn header(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How a table is drawn.
#[derive(Debug, Clone, Copy)]
enum Style {
    Plain,
    Markdown,
}

impl Style {
    /// Draws `rows` (the first is the header): names left-aligned, figures right-aligned.
    fn table(self, rows: &[Vec<String>]) -> String {
        let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
        let width = |c: usize| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..columns).map(width).collect();
        let mut out = String::new();
        for (i, row) in rows.iter().enumerate() {
            out += &self.row(row, &widths);
            if i == 0 {
                out += &self.rule(&widths);
            }
        }
        out
    }

    fn row(self, row: &[String], widths: &[usize]) -> String {
        let cells: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(c, &w)| {
                let cell = row.get(c).map_or("", String::as_str);
                if c == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        match self {
            Style::Plain => format!("{}\n", cells.join("  ").trim_end()),
            Style::Markdown => format!("| {} |\n", cells.join(" | ")),
        }
    }

    fn rule(self, widths: &[usize]) -> String {
        match self {
            Style::Plain => format!(
                "{}\n",
                "-".repeat(widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1))
            ),
            Style::Markdown => {
                let cells: Vec<String> = widths
                    .iter()
                    .enumerate()
                    .map(|(c, &w)| {
                        if c == 0 {
                            format!(":{}", "-".repeat(w.max(2) - 1))
                        } else {
                            format!("{}:", "-".repeat(w.max(2) - 1))
                        }
                    })
                    .collect();
                format!("| {} |\n", cells.join(" | "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{thousands, Style};

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
    }

    #[test]
    fn markdown_tables_have_a_rule_under_the_header() {
        let rows = vec![
            vec!["a".to_owned(), "b".to_owned()],
            vec!["xy".to_owned(), "1".to_owned()],
        ];
        let md = Style::Markdown.table(&rows);
        assert_eq!(md, "| a  | b |\n| :- | -: |\n| xy | 1 |\n");
    }
}
