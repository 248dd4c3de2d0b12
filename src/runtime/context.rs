//! `Context`: what an agent can do from inside a handler (publish, read the clock, keep
//! state).

use crate::frame::{FrameEncoder, FrameError, FrameHeader};
use crate::runtime::publish::{publish_bytes, PublishError, Wait};
use crate::runtime::shared::{Shared, StateStore};
use crate::runtime::stats::AgentStats;
use crate::topic::{key_hash, Topic, TopicId};

/// Why a publish from inside a handler did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The frame could not be built.
    #[error("encoding frame: {0}")]
    Encode(#[from] FrameError),
    /// The frame was built but not published.
    #[error("publishing to {topic}: {error}")]
    Publish {
        /// The topic the frame was meant for.
        topic: String,
        /// Why it was not published.
        error: PublishError<()>,
    },
}

/// Publishes encoded `bytes` from agent `agent`, counting them; names the edge (agent and
/// topic) in a warning when a blocking publish ran out its deadline.
fn send(
    topic: &Topic,
    stats: &AgentStats,
    agent: &str,
    hash: u64,
    bytes: &[u8],
    wait: Wait,
) -> Result<u64, EmitError> {
    match publish_bytes(topic, hash, bytes, wait) {
        Ok(offset) => {
            AgentStats::bump(&stats.published);
            Ok(offset)
        }
        Err(error) => {
            if matches!(error, PublishError::Timeout(())) {
                tracing::warn!(
                    agent,
                    topic = %topic.name,
                    waited_ms = topic.config.block_timeout.as_millis() as u64,
                    "publish from a handler timed out: the lane stayed full (a cycle or a stalled consumer)"
                );
            }
            Err(EmitError::Publish {
                topic: topic.name.clone(),
                error,
            })
        }
    }
}

/// An agent's view of the runtime while it handles a frame or is polled.
///
/// # Back-pressure
///
/// A publish from a handler on a `Block` topic waits at most the topic's `block_timeout`,
/// then fails with `Timeout` and logs a warning naming the agent and the full topic, so a
/// cycle in the graph (A to B to A) can stall but never freeze the process.
#[derive(Debug)]
pub struct Context<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) encoder: &'a mut FrameEncoder,
    pub(crate) agent: &'a str,
    pub(crate) stats: &'a AgentStats,
    pub(crate) state: &'a StateStore,
    /// In deterministic replay, the recorded publish time of the frame being handled.
    pub(crate) frame_time: Option<u64>,
}

impl Context<'_> {
    /// Builds a frame with `key` and the payload written by `payload`, and publishes it to
    /// `topic` following the topic's back-pressure policy. Returns the frame's offset.
    ///
    /// # Errors
    ///
    /// `Encode` when the payload cannot be built or is too large; `Publish` when the topic
    /// is full (after waiting, on a `Block` topic) or closed.
    pub fn publish<F>(&mut self, topic: TopicId, key: &[u8], payload: F) -> Result<u64, EmitError>
    where
        F: FnOnce(capnp::any_pointer::Builder<'_>) -> capnp::Result<()>,
    {
        self.emit(topic, key, payload, Wait::Policy)
    }

    /// As [`publish`](Self::publish), but never waits for a credit.
    ///
    /// # Errors
    ///
    /// As [`publish`](Self::publish), with `Full` instead of waiting.
    pub fn try_publish<F>(
        &mut self,
        topic: TopicId,
        key: &[u8],
        payload: F,
    ) -> Result<u64, EmitError>
    where
        F: FnOnce(capnp::any_pointer::Builder<'_>) -> capnp::Result<()>,
    {
        self.emit(topic, key, payload, Wait::Never)
    }

    /// Publishes `bytes` as a frame keyed `key`, without building or validating it: for
    /// forwarding frames verbatim (a bridge, a replay) and for fault injection. The
    /// runtime writes the partition and offset into the envelope when it can; a frame that
    /// does not decode is dead-lettered by its consumer with reason `decode`.
    ///
    /// # Errors
    ///
    /// `Publish` when the frame is too large for the topic, or the topic is full or closed.
    pub fn publish_bytes(
        &mut self,
        topic: TopicId,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<u64, EmitError> {
        let target = self.shared.topic(topic);
        send(
            target,
            self.stats,
            self.agent,
            key_hash(key),
            bytes,
            Wait::Policy,
        )
    }

    fn emit<F>(&mut self, id: TopicId, key: &[u8], payload: F, wait: Wait) -> Result<u64, EmitError>
    where
        F: FnOnce(capnp::any_pointer::Builder<'_>) -> capnp::Result<()>,
    {
        // Encode into the thread's reusable buffer.
        let topic = self.shared.topic(id);
        let hash = key_hash(key);
        let header = FrameHeader {
            topic: &topic.name,
            partition: 0,
            offset: 0,
            key,
            publish_time_ns: self.now(),
            attempt: 1,
            headers: &[],
        };
        let bytes = self.encoder.encode(&header, payload)?;

        send(topic, self.stats, self.agent, hash, bytes, wait)
    }

    /// Nanoseconds since the Unix epoch, from the runtime's monotonic clock; in
    /// deterministic replay (`RuntimeBuilder::deterministic_clock`), inside `on_frame`,
    /// the publish time recorded in the frame being handled.
    pub fn now(&self) -> u64 {
        self.frame_time
            .unwrap_or_else(|| self.shared.clock.now_ns())
    }

    /// The name of the agent being run.
    pub fn agent_name(&self) -> &str {
        self.agent
    }

    /// The agent's state store: shared by every member with this agent's name, kept across
    /// rebuilds after a panic, readable by the host with `Runtime::state`.
    pub fn state(&self) -> &StateStore {
        self.state
    }
}
