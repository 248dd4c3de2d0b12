//! Rate limits: a token bucket per agent or per key (GCRA, from the `governor` crate).
//!
//! # Back-pressure
//!
//! A frame over the limit is not dropped and does not count as a delivery attempt: it
//! waits at the head of its lane until its token is due, and the frames behind it wait in
//! the lane holding their credits, so publishers feel the limit through their topic's own
//! back-pressure policy (`Block` waits, `Fail` fails, `DropOldest` conflates).

use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
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
                .map(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
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
                .map(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
            Throttle::Agent(_) => None,
        }
    }
}
