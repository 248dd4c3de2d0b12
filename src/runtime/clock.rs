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
        Self {
            start: Instant::now(),
            start_epoch_ns: wall_ns(),
        }
    }

    /// Nanoseconds since the Unix epoch.
    pub(crate) fn now_ns(&self) -> u64 {
        self.start_epoch_ns + self.start.elapsed().as_nanos() as u64
    }
}

/// Nanoseconds since the Unix epoch from the system clock (0 before the epoch).
pub(crate) fn wall_ns() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    since_epoch.as_nanos() as u64
}

/// The instant `after` from now, or about a century from now when that overflows
/// (`Duration::MAX` means "never", not a panic).
pub(crate) fn deadline_in(after: std::time::Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .or_else(|| now.checked_add(std::time::Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_huge_wait_is_far_away_not_a_panic() {
        assert!(deadline_in(Duration::MAX) > Instant::now() + Duration::from_secs(3600));
        assert!(deadline_in(Duration::ZERO) <= Instant::now());
    }
}
