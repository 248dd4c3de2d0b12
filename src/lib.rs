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

pub mod frame;
pub(crate) mod lane;
pub mod log;
pub mod runtime;
pub(crate) mod sync;
pub mod topic;

pub mod demo;

#[cfg(feature = "cli")]
pub mod bench;

pub use frame::{Frame, FrameError, FrameRef};
pub use runtime::{
    AckError, AckHandle, Agent, BackPressure, BuildError, Context, Delivery, EmitError, FaultEvent,
    IdleStrategy, MetricsSnapshot, Outcome, Placement, PublishError, Publisher, Quota, RateLimit,
    RecvError, RestartPolicy, Runtime, RuntimeBuilder, RuntimeError, ShutdownReport, Subscriber,
    SubscriptionConfig, Work,
};
pub use topic::{TopicConfig, TopicId};
