//! The state every thread and handle of one runtime shares.

use std::sync::atomic::{AtomicBool, AtomicUsize};

use dashmap::DashMap;

use std::sync::Arc;

use parking_lot::Mutex;

use crate::runtime::clock::Clock;
use crate::runtime::metrics::{LaneStats, SharedHistogram};
use crate::runtime::stats::AgentStats;
use crate::runtime::supervise::{FaultEvent, RuntimeError};
use crate::topic::{Topic, TopicId};

/// The key-value store an agent keeps state in across rebuilds; shared by the members of
/// one agent name and readable by the host through `Runtime::state`.
pub type StateStore = DashMap<String, bytes::Bytes>;

/// Everything shared by the threads and handles of one runtime.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Every topic, indexed by `TopicId`; the dead-letter topic is one of them.
    pub(crate) topics: Vec<Topic>,
    /// The topic dead letters go to.
    pub(crate) dead_letters: TopicId,
    /// The runtime's clock.
    pub(crate) clock: Clock,
    /// The largest `max_frame_size` of any topic: what a thread's encoder must hold.
    pub(crate) max_frame_size: usize,
    /// Written once by `shutdown` (true to false); read by publishers and agent threads.
    /// A stale `true` lets at most one more publish in, which the drain then handles.
    pub(crate) intake_open: AtomicBool,
    /// Written by each agent thread once it has seen `intake_open` false (and so will call
    /// no more `on_poll`); read by `shutdown` to know when sources are quiet.
    pub(crate) threads_draining: AtomicUsize,
    /// Written once by `shutdown` when draining is over; read by agent threads each round.
    pub(crate) stop: AtomicBool,
    /// Written once by `shutdown` after storing the final consumer positions; agent threads
    /// keep their lanes (and so their unacknowledged frames) until then.
    pub(crate) positions_saved: AtomicBool,
    /// Per-agent counters, by agent name.
    pub(crate) stats: DashMap<String, Arc<AgentStats>>,
    /// Per-agent state stores, by agent name.
    pub(crate) states: DashMap<String, Arc<StateStore>>,
    /// Per-agent merged handler latencies, by agent name.
    pub(crate) handler_ns: DashMap<String, SharedHistogram>,
    /// Every agent lane's counters, in start order.
    pub(crate) lanes: Vec<Arc<LaneStats>>,
    /// Fault events for the host (bounded; events past the bound are dropped and logged).
    pub(crate) faults: flume::Sender<FaultEvent>,
    /// Set once when the runtime stops on its own.
    pub(crate) failure: Mutex<Option<RuntimeError>>,
    /// Inside `on_frame`, `Context::now` is the frame's recorded publish time.
    pub(crate) deterministic: bool,
}

impl Shared {
    /// The topic behind a handle issued by this runtime's builder.
    pub(crate) fn topic(&self, id: TopicId) -> &Topic {
        &self.topics[id.0]
    }
}
