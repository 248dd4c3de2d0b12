//! One agent on its thread: its lanes, the frame at the head of each, and what becomes of
//! every delivery.
//!
//! Each round the thread calls [`Member::step`], which takes up to `BATCH` frames from one
//! lane (rotating over the agent's lanes for fairness), decodes each in place, hands it to
//! the agent, and settles it by the outcome:
//!
//! - `Ack`: release the credit.
//! - `Retry { after }`: keep the frame at the head of its lane and deliver it again once
//!   `after` has passed, before any later frame of that partition; at `max_deliver`
//!   deliveries, dead-letter it instead.
//! - `Reject`, or a frame that does not decode: dead-letter it, then release.
//! - a panic: rebuild the agent from its factory, count the delivery as an attempt, and
//!   treat it as a retry after the restart backoff.
//!
//! A frame is released only after its dead letter was published, so nothing is lost when
//! the dead-letter topic is full: the frame stays at the head and is tried again.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::frame::{FrameEncoder, FrameRef};
use crate::lane::LaneReader;
use crate::runtime::agent::{Agent, Delivery, Outcome, Work};
use crate::runtime::context::Context;
use crate::runtime::dead_letter::{self, DeadLetterReason, Letter};
use crate::runtime::shared::{Shared, StateStore};
use crate::runtime::stats::AgentStats;

/// Frames taken from one lane before the thread moves to the next.
const BATCH: usize = 64;

/// How long after a panic the rebuilt agent gets the frame again.
const RESTART_BACKOFF: Duration = Duration::from_millis(10);

/// Builds a fresh instance of an agent.
pub(crate) type Factory = Arc<dyn Fn() -> Box<dyn Agent> + Send + Sync>;

/// One partition of one subscription, owned by this member.
pub(crate) struct Lane {
    pub(crate) reader: LaneReader,
    pub(crate) topic: usize,
    pub(crate) partition: u32,
    pub(crate) max_deliver: u32,
    /// A frame waiting to be delivered again (or dead-lettered) before any later frame.
    head: Option<Head>,
}

/// The frame at the head of a lane that is not done yet.
#[derive(Debug, Clone)]
struct Head {
    offset: u64,
    /// Deliveries made so far.
    attempts: u32,
    /// Not to be delivered again before this instant.
    not_before: Instant,
    /// Set when the frame must go to the dead-letter topic (which was full last time).
    dead_letter: Option<(DeadLetterReason, String)>,
}

impl Lane {
    /// A lane over `reader`, for partition `partition` of topic number `topic`.
    pub(crate) fn new(reader: LaneReader, topic: usize, partition: u32, max_deliver: u32) -> Self {
        Self { reader, topic, partition, max_deliver, head: None }
    }

    fn has_ready_work(&self, now: Instant) -> bool {
        match &self.head {
            Some(head) => head.not_before <= now,
            None => self.reader.depth() > 0,
        }
    }
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").field("topic", &self.topic).field("partition", &self.partition).finish()
    }
}

/// One agent instance and everything it reads.
pub(crate) struct Member {
    pub(crate) name: String,
    factory: Factory,
    agent: Box<dyn Agent>,
    lanes: Vec<Lane>,
    next_lane: usize,
    /// True while the agent's `on_poll` may still produce.
    polling: bool,
    stats: Arc<AgentStats>,
    state: Arc<StateStore>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("name", &self.name).field("lanes", &self.lanes).finish()
    }
}

impl Member {
    /// A member named `name`, built by `factory`, reading `lanes`.
    pub(crate) fn new(
        name: String,
        factory: Factory,
        lanes: Vec<Lane>,
        stats: Arc<AgentStats>,
        state: Arc<StateStore>,
    ) -> Self {
        let agent = factory();
        Self { name, factory, agent, lanes, next_lane: 0, polling: true, stats, state }
    }

    /// Runs `on_start`.
    pub(crate) fn start(&mut self, shared: &Shared, encoder: &mut FrameEncoder) {
        let mut ctx = context(shared, encoder, &self.name, &self.stats, &self.state);
        let agent = &mut self.agent;
        if panic::catch_unwind(AssertUnwindSafe(|| agent.on_start(&mut ctx))).is_err() {
            self.restart();
        }
    }

    /// Runs `on_stop`.
    pub(crate) fn stop(&mut self, shared: &Shared, encoder: &mut FrameEncoder) {
        let mut ctx = context(shared, encoder, &self.name, &self.stats, &self.state);
        let agent = &mut self.agent;
        if panic::catch_unwind(AssertUnwindSafe(|| agent.on_stop(&mut ctx))).is_err() {
            tracing::error!(agent = %self.name, "agent panicked in on_stop");
        }
    }

    /// True when a lane has a frame ready (or a head whose wait is over).
    pub(crate) fn has_work(&self) -> bool {
        let now = Instant::now();
        self.lanes.iter().any(|lane| lane.has_ready_work(now))
    }

    /// One round: poll the source (unless `draining`), then work one lane. Returns true
    /// when anything was done.
    pub(crate) fn step(&mut self, shared: &Shared, encoder: &mut FrameEncoder, draining: bool) -> bool {
        let mut worked = false;
        if self.polling && !draining {
            worked |= self.poll_source(shared, encoder);
        }

        let lanes = self.lanes.len();
        for i in 0..lanes {
            let index = (self.next_lane + i) % lanes;
            if self.work_lane(index, shared, encoder) {
                self.next_lane = (index + 1) % lanes;
                return true;
            }
        }
        worked
    }

    fn poll_source(&mut self, shared: &Shared, encoder: &mut FrameEncoder) -> bool {
        let mut ctx = context(shared, encoder, &self.name, &self.stats, &self.state);
        let agent = &mut self.agent;
        match panic::catch_unwind(AssertUnwindSafe(|| agent.on_poll(&mut ctx))) {
            Ok(Work::Busy) => true,
            Ok(Work::Idle) => false,
            Ok(Work::Finished) => {
                self.polling = false;
                false
            }
            Err(_) => {
                self.restart();
                true
            }
        }
    }

    /// Delivers up to `BATCH` frames of lane `index`. Returns true when any was handled.
    fn work_lane(&mut self, index: usize, shared: &Shared, encoder: &mut FrameEncoder) -> bool {
        let mut handled = 0;
        while handled < BATCH {
            // Take the head if it is due, else the next frame.
            let lane = &mut self.lanes[index];
            let (offset, attempt, pending) = match lane.head.take() {
                Some(head) if head.not_before > Instant::now() => {
                    lane.head = Some(head);
                    break;
                }
                Some(head) => (head.offset, head.attempts + 1, head.dead_letter),
                None => match lane.reader.poll() {
                    Some(offset) => (offset, 1, None),
                    None => break,
                },
            };
            handled += 1;

            // A dead letter that could not be sent last time is sent before anything else.
            if let Some((reason, detail)) = pending {
                self.finish_dead_letter(index, shared, encoder, offset, attempt - 1, reason, detail);
                if self.lanes[index].head.is_some() {
                    break;
                }
                continue;
            }
            self.deliver(index, shared, encoder, offset, attempt);
            if self.lanes[index].head.is_some() {
                break;
            }
        }
        handled > 0
    }

    /// Delivers frame `offset` of lane `index` as attempt `attempt` and settles it.
    fn deliver(&mut self, index: usize, shared: &Shared, encoder: &mut FrameEncoder, offset: u64, attempt: u32) {
        let lane = &self.lanes[index];
        let bytes = lane.reader.bytes(offset).unwrap_or_default();
        AgentStats::bump(&self.stats.delivered);

        // Decode in place; a frame that does not decode is dead-lettered at once.
        let frame = match FrameRef::decode(bytes) {
            Ok(frame) => frame,
            Err(error) => {
                AgentStats::bump(&self.stats.decode_errors);
                let detail = error.to_string();
                self.finish_dead_letter(index, shared, encoder, offset, attempt, DeadLetterReason::Decode, detail);
                return;
            }
        };

        // Run the handler, catching a panic.
        let delivery = Delivery { frame, partition: lane.partition, offset, attempt };
        let mut ctx = context(shared, encoder, &self.name, &self.stats, &self.state);
        let agent = &mut self.agent;
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| agent.on_frame(&delivery, &mut ctx)));

        // Settle by the outcome.
        match outcome {
            Ok(Outcome::Ack) => {
                AgentStats::bump(&self.stats.acked);
                self.lanes[index].reader.release(offset);
            }
            Ok(Outcome::Retry { after }) => {
                AgentStats::bump(&self.stats.retried);
                self.retry(index, shared, encoder, offset, attempt, after, "retried");
            }
            Ok(Outcome::Reject { reason }) => {
                AgentStats::bump(&self.stats.rejected);
                let reason = reason.into_owned();
                self.finish_dead_letter(index, shared, encoder, offset, attempt, DeadLetterReason::Rejected, reason);
            }
            Err(_) => {
                self.restart();
                self.retry(index, shared, encoder, offset, attempt, RESTART_BACKOFF, "agent panicked");
            }
        }
    }

    /// Keeps a failed delivery at the head of its lane, or dead-letters it when its
    /// attempts are spent.
    #[allow(clippy::too_many_arguments)]
    fn retry(
        &mut self,
        index: usize,
        shared: &Shared,
        encoder: &mut FrameEncoder,
        offset: u64,
        attempt: u32,
        after: Duration,
        why: &str,
    ) {
        if attempt >= self.lanes[index].max_deliver {
            let detail = format!("{why} on each of {attempt} deliveries");
            self.finish_dead_letter(index, shared, encoder, offset, attempt, DeadLetterReason::MaxDeliveries, detail);
            return;
        }
        let not_before = Instant::now() + after;
        self.lanes[index].head = Some(Head { offset, attempts: attempt, not_before, dead_letter: None });
    }

    /// Publishes the dead letter of frame `offset`, then releases it; when the dead-letter
    /// topic is full the frame stays at the head of its lane and is tried again later.
    #[allow(clippy::too_many_arguments)]
    fn finish_dead_letter(
        &mut self,
        index: usize,
        shared: &Shared,
        encoder: &mut FrameEncoder,
        offset: u64,
        attempts: u32,
        reason: DeadLetterReason,
        detail: String,
    ) {
        let lane = &mut self.lanes[index];
        let bytes = lane.reader.bytes(offset).unwrap_or_default();
        let key = FrameRef::decode(bytes).ok().and_then(|f| f.key().ok()).unwrap_or(&[]);
        let letter = Letter {
            topic: &shared.topic(crate::topic::TopicId(lane.topic)).name,
            partition: lane.partition,
            offset,
            key,
            attempts,
            reason,
            detail: &detail,
            frame: bytes,
        };

        if dead_letter::send(shared, encoder, &letter) {
            AgentStats::bump(&self.stats.dead_lettered);
            lane.reader.release(offset);
        } else {
            let not_before = Instant::now() + RESTART_BACKOFF;
            let dead_letter = Some((reason, detail));
            lane.head = Some(Head { offset, attempts, not_before, dead_letter });
        }
    }

    /// Replaces a panicked agent with a fresh one from its factory.
    fn restart(&mut self) {
        AgentStats::bump(&self.stats.restarts);
        tracing::warn!(agent = %self.name, "agent panicked; rebuilding it from its factory");
        let factory = self.factory.clone();
        match panic::catch_unwind(AssertUnwindSafe(|| factory())) {
            Ok(agent) => self.agent = agent,
            Err(_) => tracing::error!(agent = %self.name, "agent factory panicked; keeping the old instance"),
        }
    }
}

fn context<'a>(
    shared: &'a Shared,
    encoder: &'a mut FrameEncoder,
    agent: &'a str,
    stats: &'a AgentStats,
    state: &'a StateStore,
) -> Context<'a> {
    Context { shared, encoder, agent, stats, state }
}
