//! The runtime's clock: wall-clock nanoseconds read from a monotonic source.
//!
//! The epoch time is read once at start; every later reading adds the monotonic time
//! elapsed since, so timestamps never go backwards within a process and cost a vDSO
//! read, not a system call.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, monotonic within one runtime.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
    start_epoch_ns: u64,
}

impl Clock {
    /// A clock anchored at the current wall-clock time.
    pub(crate) fn new() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            start: Instant::now(),
            start_epoch_ns: since_epoch.as_nanos() as u64,
        }
    }

    /// Nanoseconds since the Unix epoch.
    pub(crate) fn now_ns(&self) -> u64 {
        self.start_epoch_ns + self.start.elapsed().as_nanos() as u64
    }
}
