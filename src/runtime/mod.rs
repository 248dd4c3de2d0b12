//! The runtime: agents on their threads, the host's handles, dead letters and shutdown.
//!
//! A [`Runtime`] is declared with a [`RuntimeBuilder`] (topics, agents with their
//! subscriptions and placements, host subscribers), started, and shut down with
//! [`Runtime::shutdown`]. While it runs, the host publishes with [`Publisher`] and reads
//! with [`Subscriber`]; agents publish from their handlers through [`Context`].
//!
//! # Ordering
//!
//! Within a partition an agent sees first deliveries in offset order. A frame whose
//! handler returns `Retry` is delivered again before any later frame of its partition,
//! until it is acked or dead-lettered, so a key is never reordered.

mod agent;
mod builder;
mod clock;
mod context;
mod dead_letter;
mod defer;
pub(crate) mod durable;
mod idle;
mod keeper;
mod member;
mod metrics;
mod placement;
mod publish;
mod shared;
mod start;
mod stats;
mod subscriber;
mod supervise;
mod throttle;
mod worker;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::log::LogError;
use crate::runtime::clock::deadline_in;

pub use agent::{Agent, Delivery, Outcome, Work};
pub use builder::{AgentSpec, RuntimeBuilder, SubscriberId, SubscriptionConfig};
pub use context::{Context, EmitError};
pub use dead_letter::{DeadLetterReason, DEAD_LETTER_TOPIC};
pub use defer::{AckError, AckHandle};
pub use metrics::{AgentMetrics, LaneMetrics, LatencySummary, MetricsSnapshot};
pub use placement::{IdleStrategy, Placement};
pub use publish::{PublishError, Publisher};
pub use shared::StateStore;
pub use stats::AgentSnapshot;
pub use subscriber::{RecvError, Subscriber};
pub use supervise::{FaultEvent, RestartPolicy, RuntimeError};
pub use throttle::{Quota, RateLimit};

use crate::topic::Topic;
pub use crate::topic::{BackPressure, TopicId};

use shared::Shared;
use worker::Worker;

/// Why a runtime could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two topics, agents or host subscriptions share a name.
    #[error("{kind} name {name:?} is used twice")]
    DuplicateName {
        /// What the name names.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A topic was declared with zero partitions.
    #[error("topic {topic:?} has no partitions")]
    NoPartitions {
        /// The topic.
        topic: String,
    },
    /// A topic's frame maximum cannot hold an envelope.
    #[error("topic {topic:?}: max_frame_size {max_frame_size} is below the minimum of 64 bytes")]
    FrameSizeTooSmall {
        /// The topic.
        topic: String,
        /// The size asked for.
        max_frame_size: usize,
    },
    /// A topic's rings would reserve more memory than allowed: each partition reserves
    /// `max_in_flight` slots of `max_frame_size` bytes.
    #[error("topic {topic:?}: each partition would reserve {ring_bytes} bytes (credits times max_frame_size), over the limit of {max}")]
    TopicTooLarge {
        /// The topic.
        topic: String,
        /// Bytes one partition's ring would reserve.
        ring_bytes: u128,
        /// The limit.
        max: u64,
    },
    /// A `TopicId` that this builder did not issue.
    #[error("unknown topic id {id}")]
    UnknownTopic {
        /// The id.
        id: usize,
    },
    /// An agent was pinned to a core the process may not run on.
    #[error(
        "agent {agent:?} is pinned to core {core}, which does not exist (available: {available:?})"
    )]
    NoSuchCore {
        /// The agent.
        agent: String,
        /// The core asked for.
        core: usize,
        /// The cores the process may run on.
        available: Vec<usize>,
    },
    /// Two busy-spinning agents were pinned to one core.
    #[error("agents {agents:?} would busy-spin on the same core {core}")]
    SpinnersShareCore {
        /// The core.
        core: usize,
        /// The agents.
        agents: Vec<String>,
    },
    /// More busy-spinning threads than cores.
    #[error("{spinners} busy-spinning threads would share {cores} cores")]
    TooManySpinners {
        /// Busy-spinning threads asked for.
        spinners: usize,
        /// Cores available.
        cores: usize,
    },
    /// A subscription with `max_deliver` of 0, which could never deliver anything.
    #[error("subscription {subscription:?}: max_deliver must be at least 1")]
    ZeroMaxDeliver {
        /// The subscription.
        subscription: String,
    },
    /// A subscription with an ack deadline of 0, which would redeliver every deferred
    /// frame at once.
    #[error("subscription {subscription:?}: ack_deadline must be above zero")]
    ZeroAckDeadline {
        /// The subscription.
        subscription: String,
    },
    /// A topic is durable but the builder has no `log_dir`.
    #[error("topic {topic:?} is durable but no log_dir was set")]
    NoLogDir {
        /// The topic.
        topic: String,
    },
    /// A durable topic's log could not be opened or recovered.
    #[error("opening the log of topic {topic:?}{}: {source}", partition.map(|p| format!(" partition {p}")).unwrap_or_default())]
    Log {
        /// The topic.
        topic: String,
        /// The partition, when one partition's log failed.
        partition: Option<u32>,
        /// What went wrong.
        source: Box<LogError>,
    },
    /// An agent thread could not be spawned.
    #[error("spawning agent thread {thread:?}: {source}")]
    Spawn {
        /// The thread's name.
        thread: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// Frames of one topic that shutdown left unsettled, and where they are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unsettled {
    /// The topic.
    pub topic: String,
    /// Frames not settled by every subscription.
    pub frames: usize,
    /// The topic's log directory, where a durable topic keeps them: a restart delivers them
    /// again. `None` for a topic that is not durable: they were in memory only, and are lost.
    pub kept_in: Option<std::path::PathBuf>,
}

/// What shutdown left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// True when every published frame was settled before the deadline.
    pub drained: bool,
    /// Per topic, frames published but not settled by every subscription when the agents
    /// stopped.
    pub unsettled: Vec<Unsettled>,
    /// Agent threads that ended by a panic outside any handler (a bug in the runtime).
    pub crashed_threads: Vec<String>,
    /// Why the runtime had stopped on its own before `shutdown`, if it had.
    pub failure: Option<RuntimeError>,
}

/// A running graph of agents. See the [module docs](self).
#[derive(Debug)]
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Vec<(String, JoinHandle<()>)>,
    doorbells: Vec<Arc<event_listener::Event>>,
    subscribers: Mutex<Vec<Option<Subscriber>>>,
    faults: flume::Receiver<FaultEvent>,
}

impl Runtime {
    fn launch(
        shared: Arc<Shared>,
        workers: Vec<Worker>,
        subscribers: Vec<Option<Subscriber>>,
        faults: flume::Receiver<FaultEvent>,
    ) -> Result<Self, BuildError> {
        let mut runtime = Runtime {
            doorbells: workers.iter().map(|w| w.idler_doorbell.clone()).collect(),
            shared,
            threads: Vec::new(),
            subscribers: Mutex::new(subscribers),
            faults,
        };
        let keeper = runtime.shared.clone();
        let keeper_thread = std::thread::Builder::new()
            .name("agentlane:logs".into())
            .spawn(move || keeper::run(&keeper));
        match keeper_thread {
            Ok(handle) => runtime.threads.push(("agentlane:logs".into(), handle)),
            Err(source) => {
                return Err(BuildError::Spawn {
                    thread: "agentlane:logs".into(),
                    source,
                })
            }
        }
        for worker in workers {
            let thread = worker.name.clone();
            match worker.spawn(runtime.shared.clone()) {
                Ok(handle) => runtime.threads.push((thread, handle)),
                Err(source) => {
                    runtime.stop_threads();
                    return Err(BuildError::Spawn { thread, source });
                }
            }
        }
        tracing::debug!(
            threads = runtime.threads.len(),
            topics = runtime.shared.topics.len(),
            "runtime started"
        );
        Ok(runtime)
    }

    /// A new publisher into `topic`.
    pub fn publisher(&self, topic: TopicId) -> Publisher {
        Publisher::new(self.shared.clone(), topic)
    }

    /// Takes the host subscriber declared as `id`; `None` if it was taken already.
    pub fn take_subscriber(&self, id: SubscriberId) -> Option<Subscriber> {
        self.subscribers.lock().get_mut(id.0).and_then(Option::take)
    }

    /// The dead-letter topic.
    pub fn dead_letter_topic(&self) -> TopicId {
        self.shared.dead_letters
    }

    /// A snapshot of one agent's counters.
    pub fn stats(&self, agent: &str) -> Option<AgentSnapshot> {
        self.shared.stats.get(agent).map(|s| s.snapshot())
    }

    /// Fault events (panics, restarts, a runtime giving up), for the host to watch. Events
    /// past a bound of 1,024 unread are dropped (each is also logged).
    pub fn faults(&self) -> flume::Receiver<FaultEvent> {
        self.faults.clone()
    }

    /// Why the runtime stopped on its own, if it did (agents then no longer run).
    pub fn failure(&self) -> Option<RuntimeError> {
        self.shared.failure.lock().clone()
    }

    /// A snapshot of every agent's and lane's metrics.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut agents: Vec<AgentMetrics> = self
            .shared
            .stats
            .iter()
            .map(|entry| {
                let handler_ns = self
                    .shared
                    .handler_ns
                    .get(entry.key())
                    .map(|h| LatencySummary::of(&h.lock()))
                    .unwrap_or_default();
                AgentMetrics {
                    agent: entry.key().clone(),
                    counters: entry.value().snapshot(),
                    handler_ns,
                }
            })
            .collect();
        agents.sort_by(|a, b| a.agent.cmp(&b.agent));
        let lanes = self.shared.lanes.iter().map(|l| l.snapshot()).collect();
        MetricsSnapshot { agents, lanes }
    }

    /// The state store of an agent.
    pub fn state(&self, agent: &str) -> Option<Arc<StateStore>> {
        self.shared.states.get(agent).map(|s| s.clone())
    }

    /// Stops intake, lets in-flight frames drain through the graph until every topic is
    /// settled or `deadline` has passed, then stops every agent thread.
    ///
    /// A host `Subscriber` counts as a subscription like any other: frames waiting for a
    /// host that no longer reads hold the drain until the deadline (read them, or drop
    /// nothing and accept `drained: false`).
    ///
    /// Publishes by the host fail with `Closed` from the moment this is called; source
    /// agents are no longer polled; agents keep handling and publishing frames until the
    /// drain ends.
    pub fn shutdown(mut self, deadline: Duration) -> ShutdownReport {
        let until = deadline_in(deadline);

        // Stop intake and wait for every thread to have stopped polling its sources.
        self.shared.intake_open.store(false, Ordering::Release);
        self.wake_all();
        let threads = self.threads.len() - 1;
        let stopped = || self.shared.stop.load(Ordering::Acquire);
        while self.shared.threads_draining.load(Ordering::Acquire) < threads
            && Instant::now() < until
            && !stopped()
        {
            std::thread::sleep(Duration::from_micros(200));
        }

        // Let what is in flight drain.
        let settled = || self.shared.topics.iter().all(|t| t.is_settled());
        while !settled() && Instant::now() < until && !stopped() {
            std::thread::sleep(Duration::from_micros(200));
        }
        let drained = settled();
        let unsettled = self
            .shared
            .topics
            .iter()
            .filter(|t| !t.is_settled())
            .map(|t| Unsettled {
                topic: t.name.clone(),
                frames: t.unsettled(),
                kept_in: t.durable.as_ref().map(|d| d.dir.clone()),
            })
            .collect::<Vec<_>>();
        if !drained {
            tracing::warn!(?unsettled, "shutdown deadline passed with frames unsettled");
        }

        let crashed_threads = self.stop_threads();
        let failure = self.failure();
        ShutdownReport {
            drained,
            unsettled,
            crashed_threads,
            failure,
        }
    }

    fn wake_all(&self) {
        self.doorbells.iter().for_each(|d| idle::Idler::wake(d));
    }

    /// Stops and joins every thread; returns those that panicked.
    fn stop_threads(&mut self) -> Vec<String> {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.intake_open.store(false, Ordering::Release);
        self.shared.topics.iter().for_each(|t| t.close());
        self.wake_all();
        // The log keeper first (index 0), then the final positions, taken while agent
        // threads still hold their lanes: a reader let go releases what it held.
        let mut crashed = Vec::new();
        let mut join = |(name, handle): (String, JoinHandle<()>)| {
            if handle.join().is_err() {
                tracing::error!(thread = %name, "runtime thread panicked");
                crashed.push(name);
            }
        };
        let mut threads = self.threads.drain(..);
        threads.next().map(&mut join);
        keeper::store_all_positions(&self.shared);
        self.shared.positions_saved.store(true, Ordering::Release);
        threads.for_each(join);

        // Last, with every agent stopped: sync the logs.
        keeper::sync_all(&self.shared);
        crashed
    }
}

impl Drop for Runtime {
    /// Stops every thread at once, without draining: call `shutdown` to drain. Frames still
    /// in flight are counted in a warning (a durable topic keeps them in its log).
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        let unsettled: usize = self.shared.topics.iter().map(Topic::unsettled).sum();
        if unsettled > 0 {
            tracing::warn!(
                unsettled,
                "runtime dropped without shutdown; frames in flight were not drained"
            );
        }
        self.stop_threads();
    }
}
