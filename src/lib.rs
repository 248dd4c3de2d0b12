//! agentlane: an embedded agent runtime.
//!
//! A [`Runtime`] runs a graph of agents inside one process, with no broker. Each agent is a
//! thread pinned to a core (or sharing a thread with others); agents are linked by bounded,
//! lock-free lanes that act as partitioned queues with credit-based back-pressure; messages
//! are Cap'n Proto frames read in place.
//!
//! The layers, lowest first:
//!
//! - `sync`: the atomics and cells every lock-free structure uses, swapped for loom's in
//!   model checks.
//! - [`frame`]: the Cap'n Proto envelope, encoded into 8-byte-aligned buffers and read in
//!   place.
//! - `lane`: the partition ring: a bounded multi-producer ring whose slots are credits.
//! - [`topic`]: named streams split into partitions by a stable hash of the key.
//! - [`log`]: the write-ahead segment log that makes topics durable and replayable.
//! - [`runtime`]: agents, placement, host handles, dead letters.
#![deny(unsafe_op_in_unsafe_fn)]
// NB: the loom build leaves out the layers that use the lanes, so their API looks unused.
#![cfg_attr(loom, allow(dead_code))]

// NB: under `--cfg loom` only the lock-free leaves are built, for their models; the
// layers above use std's threads and atomics directly.
pub mod frame;
pub(crate) mod lane;
#[cfg(not(loom))]
pub mod log;
#[cfg(not(loom))]
pub mod runtime;
pub(crate) mod sync;
#[cfg(not(loom))]
pub mod topic;

#[cfg(not(loom))]
pub mod demo;

#[cfg(all(feature = "cli", not(loom)))]
pub mod bench;

pub use frame::{Frame, FrameError, FrameRef};
#[cfg(not(loom))]
pub use runtime::{
    AckError, AckHandle, Agent, BackPressure, BuildError, Context, Delivery, EmitError, FaultEvent,
    IdleStrategy, MetricsSnapshot, Outcome, Placement, PublishError, Publisher, Quota, RateLimit,
    RecvError, RestartPolicy, Runtime, RuntimeBuilder, RuntimeError, ShutdownReport, Subscriber,
    SubscriptionConfig, Work,
};
#[cfg(not(loom))]
pub use topic::{TopicConfig, TopicId};
