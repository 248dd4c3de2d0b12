//! `agentlane bench`: the core-pinned benchmark suite, agentlane against the floor and its peers.
//!
//! One run measures, with two threads pinned to two distinct cores:
//!
//! - **latency**: a ping-pong of one message between the two threads; the one-way latency is
//!   half of each round trip, recorded in an HDR histogram. The floor bounces one cache line
//!   (an atomic); agentlane runs two agents linked by two topics, each hop on the full path
//!   (encode, credit, publish, consume in place, ack); each peer carries a message of the
//!   same size as agentlane's frame.
//! - **throughput**: one producer streams frames to one consumer as fast as the consumer
//!   keeps up; the consumer checks every frame's sequence.
//! - **allocations**: a separate, untimed stream counts heap allocations per frame through
//!   the probe the binary registers with [`set_allocation_probe`].
//! - **decode**: decoding a frame and reading its fields, Cap'n Proto in place against
//!   `serde_json` into owned and borrowed structs.
//!
//! Every contender checks what it receives (the sequence number of each message) while it is
//! timed; a wrong answer ends the run with a [`BenchError`], never a figure.
//!
//! The calling thread is never pinned: `core_affinity::get_core_ids` reads the calling
//! thread's mask, and the agentlane runtime calls it when it starts.

mod agentlane;
mod alloc;
mod decode;
mod floor;
mod machine;
mod measure;
mod peers;
mod pin;
mod plot;
mod report;

use std::time::Instant;

pub use alloc::{set_allocation_probe, AllocationProbe};
pub use machine::Machine;
pub use measure::{AllocationSeries, DecodeSeries, LatencySeries, Percentiles, ThroughputSeries};
pub use pin::Pins;
pub use plot::write_svg;
pub use report::{Ratio, Report};

/// How much work one run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BenchConfig {
    /// Timed round trips per latency series (after the warm-up).
    pub round_trips: u64,
    /// Untimed round trips before the timed ones.
    pub warmup: u64,
    /// Frames per throughput series.
    pub frames: u64,
    /// Frames streamed while counting allocations.
    pub allocation_frames: u64,
    /// Iterations per decode series.
    pub decodes: u64,
}

impl BenchConfig {
    /// The full run: 1,000,000 round trips and 10,000,000 frames per series.
    pub fn full() -> Self {
        Self {
            round_trips: 1_000_000,
            warmup: 50_000,
            frames: 10_000_000,
            allocation_frames: 100_000,
            decodes: 2_000_000,
        }
    }

    /// A run that finishes within a minute on a 2-core machine: 50,000 round trips and
    /// 1,000,000 frames per series.
    pub fn quick() -> Self {
        Self {
            round_trips: 50_000,
            warmup: 5_000,
            frames: 1_000_000,
            allocation_frames: 20_000,
            decodes: 200_000,
        }
    }

    /// Every count scaled to about `n` (a smoke-test knob): `n` round trips, `10 n` frames.
    pub fn scaled(n: u64) -> Self {
        let n = n.max(100);
        Self {
            round_trips: n,
            warmup: n / 10,
            frames: n * 10,
            allocation_frames: n,
            decodes: n,
        }
    }
}

/// Why a run stopped without figures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// Fewer than two cores to pin to.
    #[error("need two cores to pin to, found {found}")]
    TooFewCores {
        /// The cores this process may run on.
        found: usize,
    },
    /// A contender delivered something other than what was sent.
    #[error("{contender}: {detail}")]
    WrongResult {
        /// The contender.
        contender: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A contender's channel closed or its thread died mid-run.
    #[error("{contender}: {detail}")]
    Failed {
        /// The contender.
        contender: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The output directory or a file in it could not be written.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The path.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The plot could not be drawn.
    #[error("cannot draw the plot: {0}")]
    Plot(String),
}

/// Runs every series and gathers the report. `progress` is told which series starts.
///
/// # Errors
///
/// [`BenchError::TooFewCores`] on a single-core machine, and any contender's failure.
pub fn run(config: &BenchConfig, mut progress: impl FnMut(&str)) -> Result<Report, BenchError> {
    let started = Instant::now();
    let pins = Pins::detect()?;
    let mut report = Report::new(Machine::detect(), pins, *config);

    // Latency: the floor, agentlane in both idle strategies, then each peer.
    progress("latency: floor");
    report.latency.push(floor::ping_pong(pins, config)?);
    for mode in agentlane::Mode::ALL {
        progress(&format!("latency: {}", mode.name()));
        report
            .latency
            .push(agentlane::ping_pong(pins, config, mode)?);
    }
    for peer in peers::ALL {
        progress(&format!("latency: {}", peer.name));
        report.latency.push((peer.ping_pong)(pins, config)?);
    }

    // Throughput, then allocations (counted in separate, untimed runs).
    for mode in agentlane::Mode::ALL {
        progress(&format!("throughput: {}", mode.name()));
        report
            .throughput
            .push(agentlane::stream(pins, config.frames, mode)?.throughput);
    }
    for peer in peers::ALL {
        progress(&format!("throughput: {}", peer.name));
        report
            .throughput
            .push((peer.stream)(pins, config.frames)?.throughput);
    }
    progress("allocations");
    report.allocations = count_allocations(pins, config)?;

    // Decode.
    progress("decode");
    report.decode = decode::run(config.decodes)?;

    report.finish(started.elapsed());
    Ok(report)
}

/// Streams `allocation_frames` through each contender with the allocation probe on.
fn count_allocations(
    pins: Pins,
    config: &BenchConfig,
) -> Result<Vec<AllocationSeries>, BenchError> {
    let frames = config.allocation_frames;
    let mut series = Vec::new();
    alloc::counting(true);
    let result = (|| {
        for mode in agentlane::Mode::ALL {
            series.push(agentlane::stream(pins, frames, mode)?.allocations);
        }
        for peer in peers::ALL {
            series.push((peer.stream)(pins, frames)?.allocations);
        }
        Ok(())
    })();
    alloc::counting(false);
    result.map(|()| series)
}

/// Criterion entry points: each returns the time `iterations` round trips or frames took,
/// measured on the pinned threads. Used by `benches/suite.rs`.
pub mod criterion_support {
    use std::time::Duration;

    use super::{agentlane, floor, peers, BenchConfig, BenchError, Pins};

    /// The contenders criterion measures, by name.
    pub const CONTENDERS: &[&str] = &[
        "floor",
        "agentlane BusySpin",
        "crossbeam-channel",
        "flume",
        "rtrb",
        "disruptor",
    ];

    /// `iterations` round trips of the named contender; returns their total time.
    ///
    /// # Errors
    ///
    /// As [`super::run`], and `Failed` for an unknown name.
    pub fn round_trips(pins: Pins, name: &str, iterations: u64) -> Result<Duration, BenchError> {
        let config = BenchConfig {
            round_trips: iterations.max(1),
            warmup: 0,
            ..BenchConfig::quick()
        };
        let series = match name {
            "floor" => floor::ping_pong(pins, &config)?,
            "agentlane BusySpin" => agentlane::ping_pong(pins, &config, agentlane::Mode::BusySpin)?,
            "agentlane Backoff" => agentlane::ping_pong(pins, &config, agentlane::Mode::Backoff)?,
            other => match peers::ALL.iter().find(|p| p.name == other) {
                Some(peer) => (peer.ping_pong)(pins, &config)?,
                None => return Err(unknown(name)),
            },
        };
        Ok(series.elapsed)
    }

    /// `frames` frames streamed by the named contender; returns the time they took.
    ///
    /// # Errors
    ///
    /// As [`super::run`], and `Failed` for an unknown name or the floor (latency only).
    pub fn stream(pins: Pins, name: &str, frames: u64) -> Result<Duration, BenchError> {
        let frames = frames.max(1);
        let measured = match name {
            "agentlane BusySpin" => agentlane::stream(pins, frames, agentlane::Mode::BusySpin)?,
            "agentlane Backoff" => agentlane::stream(pins, frames, agentlane::Mode::Backoff)?,
            other => match peers::ALL.iter().find(|p| p.name == other) {
                Some(peer) => (peer.stream)(pins, frames)?,
                None => return Err(unknown(name)),
            },
        };
        Ok(measured.throughput.elapsed)
    }

    fn unknown(name: &str) -> BenchError {
        BenchError::Failed {
            contender: "criterion",
            detail: format!("no contender {name:?}"),
        }
    }
}
