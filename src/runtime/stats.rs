//! Per-agent counters, written by the agent's thread and read by the host as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one agent. Written only by the agent's thread (relaxed); read by any thread,
/// so a snapshot may be a few frames stale and its fields not mutually consistent.
#[derive(Debug, Default)]
pub(crate) struct AgentStats {
    pub(crate) delivered: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) redelivered: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) published: AtomicU64,
}

/// A snapshot of one agent's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AgentSnapshot {
    /// Deliveries made to the agent, redeliveries included.
    pub delivered: u64,
    /// Frames the agent acknowledged.
    pub acked: u64,
    /// Deliveries the agent asked to retry.
    pub retried: u64,
    /// Deferred frames delivered again because their ack deadline passed.
    pub redelivered: u64,
    /// Frames the agent rejected.
    pub rejected: u64,
    /// Frames sent to the dead-letter topic from this agent's lanes, for any reason.
    pub dead_lettered: u64,
    /// Frames that could not be decoded.
    pub decode_errors: u64,
    /// Times the agent was rebuilt after a panic.
    pub restarts: u64,
    /// Frames the agent published.
    pub published: u64,
}

impl AgentStats {
    /// Adds one to a counter; only the agent's own thread calls this.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub(crate) fn snapshot(&self) -> AgentSnapshot {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AgentSnapshot {
            delivered: read(&self.delivered),
            acked: read(&self.acked),
            retried: read(&self.retried),
            redelivered: read(&self.redelivered),
            rejected: read(&self.rejected),
            dead_lettered: read(&self.dead_lettered),
            decode_errors: read(&self.decode_errors),
            restarts: read(&self.restarts),
            published: read(&self.published),
        }
    }
}
