//! The two cores a run pins to, and the scoped pair of pinned threads every series runs on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use core_affinity::CoreId;
use serde::Serialize;

use super::BenchError;

/// The two distinct cores of a run: the pinging (producing) side and the answering
/// (consuming) side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pins {
    /// Core id of the pinging or producing thread.
    pub ping: usize,
    /// Core id of the answering or consuming thread.
    pub pong: usize,
}

impl Pins {
    /// The first two cores this process may run on. Call it from a thread that was never
    /// pinned, since the list is the calling thread's affinity mask.
    ///
    /// # Errors
    ///
    /// [`BenchError::TooFewCores`] when there are fewer than two.
    pub fn detect() -> Result<Self, BenchError> {
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        match cores.as_slice() {
            [first, second, ..] => Ok(Self {
                ping: first.id,
                pong: second.id,
            }),
            _ => Err(BenchError::TooFewCores { found: cores.len() }),
        }
    }

    /// Indices of the two cores in the runtime's list (`Placement::Pinned` takes an index).
    pub(crate) fn placement_indices(&self) -> (usize, usize) {
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let index = |id| cores.iter().position(|c| c.id == id).unwrap_or(id);
        (index(self.ping), index(self.pong))
    }
}

/// Runs `ping` on the ping core and `pong` on the pong core, both starting together, and
/// returns what each returned.
///
/// # Errors
///
/// `Failed` when a thread cannot be pinned or panics.
pub(crate) fn pair<A, B, RA, RB>(
    pins: Pins,
    contender: &'static str,
    ping: A,
    pong: B,
) -> Result<(RA, RB), BenchError>
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let start = Start {
        barrier: Barrier::new(2),
        pinned: AtomicUsize::new(0),
    };
    let failed = |detail: &str| BenchError::Failed {
        contender,
        detail: detail.to_owned(),
    };
    std::thread::scope(|scope| {
        let ping = scope.spawn(|| start.pinned(pins.ping, ping));
        let pong = scope.spawn(|| start.pinned(pins.pong, pong));
        let (ping, pong) = (ping.join(), pong.join());
        match (ping, pong) {
            (Ok(Some(a)), Ok(Some(b))) => Ok((a, b)),
            (Ok(None), _) | (_, Ok(None)) => Err(failed("a thread could not be pinned")),
            _ => Err(failed("a benchmark thread panicked")),
        }
    })
}

/// The start line of a pair: both threads pin, then both run or neither does.
struct Start {
    barrier: Barrier,
    /// Threads pinned so far; written by both before the barrier, read by both after it.
    pinned: AtomicUsize,
}

impl Start {
    /// Pins the current thread, waits for its partner, then runs `work` if both are pinned.
    /// `None` when either could not be pinned, so neither waits for the other forever.
    fn pinned<R>(&self, core: usize, work: impl FnOnce() -> R) -> Option<R> {
        if core_affinity::set_for_current(CoreId { id: core }) {
            self.pinned.fetch_add(1, Ordering::AcqRel);
        }
        self.barrier.wait();
        (self.pinned.load(Ordering::Acquire) == 2).then(work)
    }
}

/// Runs `work` on a thread pinned to `core` and returns what it returned.
///
/// # Errors
///
/// `Failed` when the thread cannot be pinned or panics.
pub(crate) fn alone<R: Send>(
    core: usize,
    contender: &'static str,
    work: impl FnOnce() -> R + Send,
) -> Result<R, BenchError> {
    let failed = |detail: &str| BenchError::Failed {
        contender,
        detail: detail.to_owned(),
    };
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| core_affinity::set_for_current(CoreId { id: core }).then(work));
        match thread.join() {
            Ok(Some(result)) => Ok(result),
            Ok(None) => Err(failed("the thread could not be pinned")),
            Err(_) => Err(failed("a benchmark thread panicked")),
        }
    })
}
