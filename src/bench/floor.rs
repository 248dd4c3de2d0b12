//! The floor: one cache line bounced between the two pinned cores, with nothing else.
//!
//! The pinging thread writes an odd value into one atomic and spins until the answering
//! thread writes the next even value. No queue, no message: what is left is the cost of
//! moving one cache line from one core to the other and back, plus the clock reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam_utils::CachePadded;

use super::measure::{LatencySeries, Recorder};
use super::{pin, BenchConfig, BenchError, Pins};

const NAME: &str = "floor";

/// Ping-pongs one atomic `warmup + round_trips` times.
///
/// # Errors
///
/// `WrongResult` when the answering thread sees a value it did not expect.
pub(crate) fn ping_pong(pins: Pins, config: &BenchConfig) -> Result<LatencySeries, BenchError> {
    let total = config.warmup + config.round_trips;
    // Written by both threads in turn; each spins on the other's write.
    let line = CachePadded::new(AtomicU64::new(0));

    let (recorder, answered) = pin::pair(
        pins,
        NAME,
        || ping(&line, total, config.warmup),
        || pong(&line, total),
    )?;

    answered?;
    Ok(recorder.finish(NAME))
}

/// Writes `2i + 1`, waits for `2i + 2`, records the round trip.
fn ping(line: &AtomicU64, total: u64, warmup: u64) -> Recorder {
    let mut recorder = Recorder::new(warmup);
    for i in 0..total {
        let sent = Instant::now();
        line.store(2 * i + 1, Ordering::Release);
        while line.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
        recorder.record(sent);
    }
    recorder
}

/// Waits for each odd value and answers with the next even one.
fn pong(line: &AtomicU64, total: u64) -> Result<(), BenchError> {
    for i in 0..total {
        let expected = 2 * i + 1;
        let seen = loop {
            let seen = line.load(Ordering::Acquire);
            if seen != 2 * i {
                break seen;
            }
            std::hint::spin_loop();
        };
        if seen != expected {
            let detail = format!("round trip {i}: saw {seen}, expected {expected}");
            return Err(BenchError::WrongResult {
                contender: NAME,
                detail,
            });
        }
        line.store(expected + 1, Ordering::Release);
    }
    Ok(())
}
