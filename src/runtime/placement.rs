//! Where an agent's thread runs, and how it waits when it has nothing to do.

use std::time::Duration;

/// Where an agent runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Placement {
    /// A thread of its own, pinned to this core (an index into the cores the process may
    /// run on when the runtime starts).
    Pinned(usize),
    /// A thread shared round-robin with every other agent of the same group. Use it when
    /// agents outnumber cores.
    Shared(String),
    /// A thread of its own, placed by the operating system.
    Floating,
}

impl Placement {
    /// A shared placement in the named group.
    pub fn shared(group: impl Into<String>) -> Self {
        Placement::Shared(group.into())
    }
}

/// How an agent's thread waits when none of its agents has work.
///
/// As in Aeron: the lower the latency, the more CPU an idle thread burns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdleStrategy {
    /// Spin on the lanes without pause: the lowest latency, and one core burnt at 100%.
    /// The runtime refuses two busy-spinning threads on one core.
    BusySpin,
    /// Give the core to the scheduler between polls.
    Yield,
    /// Spin briefly, then yield, then sleep until a frame arrives (or `max_park` passes).
    /// The default, and the only sane choice on a shared machine.
    #[default]
    Backoff,
}

/// The longest a `Backoff` thread sleeps before looking at its lanes again, even without
/// a wake-up (source agents are polled at least this often).
pub(crate) const MAX_PARK: Duration = Duration::from_millis(1);
