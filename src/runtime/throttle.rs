//! Rate limits: a token bucket per agent or per key (GCRA, from the `governor` crate).
//!
//! # Back-pressure
//!
//! A frame over the limit is not dropped and does not count as a delivery attempt: it
//! waits at the head of its lane until its token is due, and the frames behind it wait in
//! the lane holding their credits, so publishers feel the limit through their topic's own
//! back-pressure policy (`Block` waits, `Fail` fails, `DropOldest` conflates).

use std::time::Duration;

// NB: a wait is measured on the limiter's own clock; another clock instance has another
// origin.
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter};

pub use governor::Quota;

/// A rate limit on an agent's deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimit {
    /// One bucket for every frame the agent receives.
    PerAgent(Quota),
    /// One bucket per frame key.
    PerKey(Quota),
}

/// A built rate limiter.
#[derive(Debug)]
pub(crate) enum Throttle {
    Agent(DefaultDirectRateLimiter),
    Key(DefaultKeyedRateLimiter<Vec<u8>>),
}

impl Throttle {
    pub(crate) fn new(limit: RateLimit) -> Self {
        match limit {
            RateLimit::PerAgent(quota) => Throttle::Agent(DefaultDirectRateLimiter::direct(quota)),
            RateLimit::PerKey(quota) => Throttle::Key(DefaultKeyedRateLimiter::keyed(quota)),
        }
    }

    /// Takes a token for the next frame, whatever its key; `Some(wait)` when none is due
    /// yet (always `None` for a per-key limit, which `check_key` handles).
    pub(crate) fn check_agent(&self) -> Option<Duration> {
        match self {
            Throttle::Agent(limiter) => limiter
                .check()
                .err()
                .map(|not_until| not_until.wait_time_from(limiter.clock().now())),
            Throttle::Key(_) => None,
        }
    }

    /// Takes a token for a frame with `key`; `Some(wait)` when none is due yet (always
    /// `None` for a per-agent limit, which `check_agent` handles).
    pub(crate) fn check_key(&self, key: &[u8]) -> Option<Duration> {
        match self {
            Throttle::Key(limiter) => limiter
                .check_key(&key.to_vec())
                .err()
                .map(|not_until| not_until.wait_time_from(limiter.clock().now())),
            Throttle::Agent(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_per_agent_limit_waits_out_each_interval() {
        let per_second = NonZeroU32::new(50).unwrap();
        let quota = Quota::per_second(per_second).allow_burst(NonZeroU32::new(1).unwrap());
        let throttle = Throttle::new(RateLimit::PerAgent(quota));
        let started = Instant::now();
        let mut passed = 0;
        while passed < 20 {
            match throttle.check_agent() {
                None => passed += 1,
                Some(wait) => std::thread::sleep(wait),
            }
        }
        assert!(
            started.elapsed() >= Duration::from_millis(380),
            "{:?}",
            started.elapsed()
        );
    }
}
