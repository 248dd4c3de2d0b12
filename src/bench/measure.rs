//! The series a run produces, and the small recorders that fill them on the pinned threads.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::alloc;

/// The highest round trip a histogram holds: 10 s, in nanoseconds (longer ones saturate).
const HIGHEST_NS: u64 = 10_000_000_000;

/// Quantiles drawn in the plot and listed in `--json`, as "nines": quantile `1 - 10^-x`.
const NINES_STEP: f64 = 0.05;

/// One-way latency figures in nanoseconds: half of the round trip at each quantile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// The slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// One contender's latency: a ping-pong of `round_trips` messages.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySeries {
    /// The contender.
    pub name: String,
    /// Timed round trips (each recorded in the histogram).
    pub round_trips: u64,
    /// One-way latency in nanoseconds (round trip / 2).
    pub one_way_ns: Percentiles,
    /// The distribution: `(quantile, one-way ns)` pairs, quantiles spaced in nines.
    pub distribution: Vec<(f64, f64)>,
    /// Wall time of the timed round trips.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// One contender's one-producer, one-consumer stream.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputSeries {
    /// The contender.
    pub name: String,
    /// Frames streamed and checked.
    pub frames: u64,
    /// Seconds from the first send to the last receive.
    pub seconds: f64,
    /// Frames per second.
    pub frames_per_s: f64,
    /// The same as a duration.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// Heap allocations of one contender while it streamed frames (untimed run).
#[derive(Debug, Clone, Serialize)]
pub struct AllocationSeries {
    /// The contender.
    pub name: String,
    /// Frames streamed while counting.
    pub frames: u64,
    /// Allocations counted, or `None` without an allocation probe.
    pub allocations: Option<u64>,
    /// Allocations per frame, or `None` without an allocation probe.
    pub per_frame: Option<f64>,
}

/// One way of decoding a frame and reading its fields.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeSeries {
    /// The decoder.
    pub name: String,
    /// Iterations timed.
    pub iterations: u64,
    /// Nanoseconds per decode plus field reads (the median of several batches).
    pub ns_per_op: f64,
    /// Heap allocations per decode, or `None` without an allocation probe.
    pub allocations_per_op: Option<f64>,
}

/// Records round trips on the pinging thread.
#[derive(Debug)]
pub(crate) struct Recorder {
    histogram: Histogram<u64>,
    warmup: u64,
    seen: u64,
    timed_since: Option<Instant>,
}

impl Recorder {
    /// A recorder that ignores the first `warmup` round trips.
    pub(crate) fn new(warmup: u64) -> Self {
        let histogram =
            Histogram::new_with_bounds(1, HIGHEST_NS, 3).expect("constant bounds are valid");
        Self {
            histogram,
            warmup,
            seen: 0,
            timed_since: None,
        }
    }

    /// Records one round trip that started at `sent`.
    #[inline]
    pub(crate) fn record(&mut self, sent: Instant) {
        let now = Instant::now();
        if self.seen >= self.warmup {
            if self.seen == self.warmup {
                self.timed_since = Some(sent);
            }
            let ns = u64::try_from((now - sent).as_nanos()).unwrap_or(u64::MAX);
            self.histogram.saturating_record(ns.max(1));
        }
        self.seen += 1;
    }

    /// The series, under `name`.
    pub(crate) fn finish(self, name: &str) -> LatencySeries {
        let elapsed = self.timed_since.map(|t| t.elapsed()).unwrap_or_default();
        let h = &self.histogram;
        let half = |ns: u64| ns as f64 / 2.0;
        let one_way_ns = Percentiles {
            p50: half(h.value_at_quantile(0.50)),
            p90: half(h.value_at_quantile(0.90)),
            p99: half(h.value_at_quantile(0.99)),
            p999: half(h.value_at_quantile(0.999)),
            max: half(h.max()),
            mean: h.mean() / 2.0,
        };
        LatencySeries {
            name: name.to_owned(),
            round_trips: h.len(),
            one_way_ns,
            distribution: distribution(h),
            elapsed,
        }
    }
}

/// `(quantile, one-way ns)` from the median up to the quantile the sample count supports.
fn distribution(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let deepest = (h.len().max(1) as f64).log10();
    let steps = (deepest / NINES_STEP).floor() as u32;
    (0..=steps)
        .map(|i| {
            let q = 1.0 - 10f64.powf(-(f64::from(i) * NINES_STEP).max(std::f64::consts::LOG10_2));
            (q, h.value_at_quantile(q) as f64 / 2.0)
        })
        .collect()
}

/// The start of a timed stream, taken by the producer once both threads are ready.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    started: Instant,
    allocations: Option<u64>,
}

/// The end of a timed stream, taken by the consumer after the last frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowEnd {
    ended: Instant,
    allocations: Option<u64>,
}

/// What one stream run gives: its throughput and, when counting was on, its allocations.
#[derive(Debug, Clone)]
pub(crate) struct StreamMeasure {
    pub(crate) throughput: ThroughputSeries,
    pub(crate) allocations: AllocationSeries,
}

impl Window {
    /// Opens the window now.
    pub(crate) fn open() -> Self {
        Self {
            allocations: alloc::count(),
            started: Instant::now(),
        }
    }

    /// Closes the window now.
    pub(crate) fn close() -> WindowEnd {
        let ended = Instant::now();
        WindowEnd {
            ended,
            allocations: alloc::count(),
        }
    }

    /// The measure of `frames` frames of `name` streamed between `self` and `end`.
    pub(crate) fn measure(self, end: WindowEnd, name: &str, frames: u64) -> StreamMeasure {
        let elapsed = end.ended.saturating_duration_since(self.started);
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let allocations = match (self.allocations, end.allocations) {
            (Some(start), Some(end)) => Some(end.saturating_sub(start)),
            _ => None,
        };
        StreamMeasure {
            throughput: ThroughputSeries {
                name: name.to_owned(),
                frames,
                seconds,
                frames_per_s: frames as f64 / seconds,
                elapsed,
            },
            allocations: AllocationSeries {
                name: name.to_owned(),
                frames,
                allocations,
                per_frame: allocations.map(|a| a as f64 / frames.max(1) as f64),
            },
        }
    }
}
