//! One agent on its thread: its lanes, the frame at the head of each, and what becomes of
//! every delivery.
//!
//! Each round the thread calls [`Member::step`], which settles what handles acked, finds
//! deferred frames past their deadline, then takes up to `BATCH` frames from one lane
//! (rotating over the agent's lanes for fairness), decodes each in place, hands it to the
//! agent, and settles it by the outcome:
//!
//! - `Ack`: release the credit.
//! - `Retry { after }`: keep the frame at the head of its lane and deliver it again once
//!   `after` has passed, before any later frame of that partition.
//! - `Defer`: keep the frame in flight until its handle acks it; past the ack deadline,
//!   deliver it again from its slot (no new credit needed).
//! - `Reject`, or a frame that does not decode: dead-letter it, then release.
//! - a panic: see `supervise`: the delivery counts as an attempt and the frame stays at
//!   the head while the rebuilt agent waits out its backoff.
//!
//! Any failed delivery whose attempts reach the subscription's `max_deliver` is
//! dead-lettered instead of retried. A frame is released only after its dead letter was
//! published, so nothing is lost when the dead-letter topic is full: the frame stays at
//! the head and is tried again.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::frame::{FrameEncoder, FrameRef};
use crate::lane::LaneReader;
use crate::runtime::agent::{Agent, Delivery, Outcome, Work};
use crate::runtime::clock::deadline_in;
use crate::runtime::context::Context;
use crate::runtime::dead_letter::{self, DeadLetterReason, Letter};
use crate::runtime::defer::DeferTable;
use crate::runtime::metrics::{latency_histogram, LaneStats, SharedHistogram};
use crate::runtime::shared::{Shared, StateStore};
use crate::runtime::stats::AgentStats;
use crate::runtime::supervise::{panic_message, FaultEvent, RuntimeError, Supervisor, Verdict};
use crate::runtime::throttle::Throttle;
use crate::topic::TopicId;

/// Frames taken from one lane before the thread moves to the next.
const BATCH: usize = 64;

/// Handler latencies recorded before they are merged into the shared histogram.
const MERGE_EVERY: u32 = 4096;

/// The longest an idle agent keeps recorded latencies unmerged.
const MERGE_AFTER: Duration = Duration::from_millis(50);

/// How long a frame whose dead letter could not be published waits before the next try.
const DEAD_LETTER_RETRY: Duration = Duration::from_millis(10);

/// Builds a fresh instance of an agent.
pub(crate) type Factory = Arc<dyn Fn() -> Box<dyn Agent> + Send + Sync>;

/// One partition of one subscription, owned by this member.
pub(crate) struct Lane {
    pub(crate) reader: LaneReader,
    pub(crate) topic: TopicId,
    pub(crate) partition: u32,
    pub(crate) max_deliver: u32,
    pub(crate) ack_deadline: Duration,
    pub(crate) defer: Arc<DeferTable>,
    pub(crate) stats: Arc<LaneStats>,
    /// A frame to deliver again (or dead-letter) before any later frame.
    head: Option<Head>,
    /// Deferred frames whose deadline passed, with the deliveries made so far.
    expired: VecDeque<(u64, u32)>,
    /// Frames below this offset were acknowledged before a restart: released unseen.
    pub(crate) resume_from: u64,
}

/// The frame at the head of a lane that is not done yet.
#[derive(Debug, Clone)]
struct Head {
    offset: u64,
    /// Deliveries made so far (0 when a rate limit held it back before its first).
    attempts: u32,
    /// Not to be delivered again before this instant.
    not_before: Instant,
    /// Set when the frame must go to the dead-letter topic (which was full last time).
    dead_letter: Option<(DeadLetterReason, String)>,
}

/// The next frame a lane hands out.
#[derive(Debug)]
struct Next {
    offset: u64,
    /// This delivery's attempt number.
    attempt: u32,
    pending_dead_letter: Option<(DeadLetterReason, String)>,
}

impl Lane {
    /// A lane over `reader`.
    pub(crate) fn new(
        reader: LaneReader,
        topic: TopicId,
        partition: u32,
        config: (u32, Duration),
        defer: Arc<DeferTable>,
        stats: Arc<LaneStats>,
    ) -> Self {
        let (max_deliver, ack_deadline) = config;
        let expired = VecDeque::new();
        let resume_from = 0;
        Self {
            reader,
            topic,
            partition,
            max_deliver,
            ack_deadline,
            defer,
            stats,
            head: None,
            expired,
            resume_from,
        }
    }

    fn has_ready_work(&self, now: Instant) -> bool {
        match &self.head {
            Some(head) => head.not_before <= now,
            None => !self.expired.is_empty() || self.reader.depth() > 0 || self.defer.has_due(now),
        }
    }

    /// The next frame to deliver, if any is due: the head, then expired deferred frames,
    /// then new frames.
    fn next(&mut self, now: Instant, throttle: Option<&Throttle>) -> Result<Option<Next>, Instant> {
        if let Some(mut head) = self.head.take() {
            // A frame held back by a per-agent rate limit takes its token now.
            let throttled = head.attempts == 0 && head.dead_letter.is_none();
            if head.not_before <= now && throttled {
                if let Some(wait) = throttle.and_then(Throttle::check_agent) {
                    // NB: a refused token may report a zero wait; the frame waits anyway.
                    head.not_before = now + wait.max(Duration::from_micros(1));
                }
            }
            if head.not_before > now {
                let until = head.not_before;
                self.head = Some(head);
                return Err(until);
            }
            let attempt = head.attempts + 1;
            return Ok(Some(Next {
                offset: head.offset,
                attempt,
                pending_dead_letter: head.dead_letter,
            }));
        }
        if let Some((offset, attempts)) = self.expired.pop_front() {
            self.defer.forget(offset);
            AgentStats::bump(&self.stats.redelivered);
            return Ok(Some(Next {
                offset,
                attempt: attempts + 1,
                pending_dead_letter: None,
            }));
        }
        let offset = loop {
            match self.reader.poll() {
                Some(offset) if offset < self.resume_from => {
                    self.reader.release(offset);
                }
                Some(offset) => break offset,
                None => return Ok(None),
            }
        };

        // A per-agent rate limit holds the frame at the head until its token is due.
        if let Some(wait) = throttle.and_then(Throttle::check_agent) {
            let not_before = now + wait;
            self.head = Some(Head {
                offset,
                attempts: 0,
                not_before,
                dead_letter: None,
            });
            return Err(not_before);
        }
        Ok(Some(Next {
            offset,
            attempt: 1,
            pending_dead_letter: None,
        }))
    }
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .finish()
    }
}

/// What a member needs besides its lanes, gathered at start.
pub(crate) struct MemberParts {
    pub(crate) name: String,
    pub(crate) factory: Factory,
    pub(crate) lanes: Vec<Lane>,
    pub(crate) stats: Arc<AgentStats>,
    pub(crate) state: Arc<StateStore>,
    pub(crate) supervisor: Supervisor,
    pub(crate) throttle: Option<Throttle>,
    pub(crate) handler_ns: SharedHistogram,
}

/// One agent instance and everything it reads.
pub(crate) struct Member {
    name: String,
    factory: Factory,
    agent: Box<dyn Agent>,
    lanes: Vec<Lane>,
    next_lane: usize,
    /// True while the agent's `on_poll` may still produce.
    polling: bool,
    stats: Arc<AgentStats>,
    state: Arc<StateStore>,
    supervisor: Supervisor,
    /// After a panic, the member waits out its backoff until then.
    paused_until: Option<Instant>,
    throttle: Option<Throttle>,
    /// Handler latencies not yet merged into `handler_ns`.
    latency: Histogram<u64>,
    unmerged: u32,
    /// When the latencies were last merged.
    merged_at: Instant,
    handler_ns: SharedHistogram,
    /// Reused buffer for acked offsets.
    acked: Vec<u64>,
    /// Reused buffer for expired deferred frames.
    expired: Vec<(u64, u32)>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("name", &self.name)
            .field("lanes", &self.lanes)
            .finish()
    }
}

impl Member {
    /// A member built from its parts; the agent is built here, on the starting thread.
    pub(crate) fn new(parts: MemberParts) -> Self {
        Self {
            agent: (parts.factory)(),
            name: parts.name,
            factory: parts.factory,
            lanes: parts.lanes,
            next_lane: 0,
            polling: true,
            stats: parts.stats,
            state: parts.state,
            supervisor: parts.supervisor,
            paused_until: None,
            throttle: parts.throttle,
            latency: latency_histogram(),
            unmerged: 0,
            merged_at: Instant::now(),
            handler_ns: parts.handler_ns,
            acked: Vec::new(),
            expired: Vec::new(),
        }
    }

    /// Runs `on_start`.
    pub(crate) fn start(&mut self, shared: &Shared, encoder: &mut FrameEncoder) {
        let mut ctx = context(shared, encoder, &self.name, &self.stats, &self.state);
        let agent = &mut self.agent;
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| agent.on_start(&mut ctx))) {
            self.on_panic(shared, &*payload, None);
        }
    }

    /// Runs `on_stop`, publishes what the lanes settled, and merges the last latencies.
    pub(crate) fn stop(&mut self, shared: &Shared, encoder: &mut FrameEncoder) {
        self.lanes.iter_mut().for_each(|lane| lane.reader.flush());
        let mut ctx = context(shared, encoder, &self.name, &self.stats, &self.state);
        let agent = &mut self.agent;
        if panic::catch_unwind(AssertUnwindSafe(|| agent.on_stop(&mut ctx))).is_err() {
            tracing::error!(agent = %self.name, "agent panicked in on_stop");
        }
        self.merge_latency();
    }

    /// Arms every lane's doorbell before the thread sleeps; true when there is work after
    /// all (a frame committed meanwhile, a head or deadline due), so it must not sleep.
    pub(crate) fn arm(&mut self) -> bool {
        let mut committed = false;
        for lane in &mut self.lanes {
            committed |= lane.reader.arm();
        }
        committed || self.has_work()
    }

    /// True when a lane has a frame ready (or a head whose wait is over).
    pub(crate) fn has_work(&self) -> bool {
        let now = Instant::now();
        if self.paused_until.is_some_and(|t| t > now) {
            return false;
        }
        self.lanes.iter().any(|lane| lane.has_ready_work(now))
    }

    /// Called when the thread found no work: merges the latencies recorded since the
    /// last merge, at most every `MERGE_AFTER` (a merge walks the whole histogram, some
    /// microseconds, which a spinning thread must not pay on every idle round).
    pub(crate) fn on_idle(&mut self) {
        if self.unmerged > 0 && self.merged_at.elapsed() >= MERGE_AFTER {
            self.merge_latency();
        }
    }

    /// One round: poll the source (unless `draining`), then work one lane. Returns true
    /// when anything was done.
    pub(crate) fn step(
        &mut self,
        shared: &Shared,
        encoder: &mut FrameEncoder,
        draining: bool,
    ) -> bool {
        // Wait out a restart backoff.
        if let Some(until) = self.paused_until {
            if Instant::now() < until {
                return false;
            }
            self.paused_until = None;
        }

        let mut worked = false;
        if self.polling && !draining {
            worked |= self.poll_source(shared, encoder);
        }

        let lanes = self.lanes.len();
        for i in 0..lanes {
            let index = (self.next_lane + i) % lanes;
            self.settle_deferred(index, shared, encoder);
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
            Err(payload) => {
                self.on_panic(shared, &*payload, None);
                true
            }
        }
    }

    /// Releases frames their handles acked, and queues deferred frames past their deadline
    /// for redelivery (or dead-letters those out of attempts).
    fn settle_deferred(&mut self, index: usize, shared: &Shared, encoder: &mut FrameEncoder) {
        let lane = &mut self.lanes[index];
        if lane.defer.is_idle() {
            return;
        }

        // Acks from handles.
        lane.defer.take_acked(&mut self.acked);
        for offset in self.acked.drain(..) {
            if lane.reader.release(offset) {
                AgentStats::bump(&self.stats.acked);
                AgentStats::bump(&lane.stats.acked);
            }
        }

        // Deadlines.
        lane.defer.take_expired(Instant::now(), &mut self.expired);
        let expired = std::mem::take(&mut self.expired);
        for &(offset, attempts) in &expired {
            if attempts >= self.lanes[index].max_deliver {
                self.lanes[index].defer.forget(offset);
                let detail = format!("ack deadline passed on each of {attempts} deliveries");
                let reason = DeadLetterReason::MaxDeliveries;
                self.finish_dead_letter(index, shared, encoder, offset, attempts, reason, detail);
            } else {
                AgentStats::bump(&self.stats.redelivered);
                self.lanes[index].expired.push_back((offset, attempts));
            }
        }
        self.expired = expired;
        self.expired.clear();
    }

    /// Delivers up to `BATCH` frames of lane `index`. Returns true when any was handled.
    fn work_lane(&mut self, index: usize, shared: &Shared, encoder: &mut FrameEncoder) -> bool {
        let mut handled = 0;
        while handled < BATCH && self.paused_until.is_none() {
            let now = Instant::now();
            let next = match self.lanes[index].next(now, self.throttle.as_ref()) {
                Ok(Some(next)) => next,
                Ok(None) | Err(_) => break,
            };
            handled += 1;

            // A dead letter that could not be sent last time is sent before anything else.
            if let Some((reason, detail)) = next.pending_dead_letter {
                let attempts = next.attempt - 1;
                self.finish_dead_letter(
                    index,
                    shared,
                    encoder,
                    next.offset,
                    attempts,
                    reason,
                    detail,
                );
            } else {
                self.deliver(index, shared, encoder, next.offset, next.attempt);
            }
            if self.lanes[index].head.is_some() {
                break;
            }
        }
        handled > 0
    }

    /// Delivers frame `offset` of lane `index` as attempt `attempt` and settles it.
    fn deliver(
        &mut self,
        index: usize,
        shared: &Shared,
        encoder: &mut FrameEncoder,
        offset: u64,
        attempt: u32,
    ) {
        let lane = &self.lanes[index];
        let bytes = lane.reader.bytes(offset).unwrap_or_default();

        // Decode in place; a frame that does not decode is dead-lettered at once.
        let frame = match FrameRef::decode(bytes) {
            Ok(frame) => frame,
            Err(error) => {
                AgentStats::bump(&self.stats.delivered);
                AgentStats::bump(&self.stats.decode_errors);
                let detail = format!("decode: {error}");
                self.finish_dead_letter(
                    index,
                    shared,
                    encoder,
                    offset,
                    attempt,
                    DeadLetterReason::Decode,
                    detail,
                );
                return;
            }
        };

        // A per-key rate limit holds the frame at the head, not counting an attempt.
        if let Some(wait) = self
            .throttle
            .as_ref()
            .and_then(|t| frame.key().ok().and_then(|k| t.check_key(k)))
        {
            let not_before = deadline_in(wait);
            self.lanes[index].head = Some(Head {
                offset,
                attempts: attempt - 1,
                not_before,
                dead_letter: None,
            });
            return;
        }
        AgentStats::bump(&self.stats.delivered);
        AgentStats::bump(&lane.stats.delivered);

        // Run the handler, catching a panic.
        let delivery = Delivery {
            frame,
            partition: lane.partition,
            offset,
            attempt,
            defer: &lane.defer,
            ack_deadline: lane.ack_deadline,
        };
        let mut ctx = context(shared, encoder, &self.name, &self.stats, &self.state);
        if shared.deterministic {
            ctx.frame_time = Some(delivery.frame.publish_time_ns());
        }
        let agent = &mut self.agent;
        let started = Instant::now();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| agent.on_frame(&delivery, &mut ctx)));
        self.record_latency(started.elapsed());

        // Settle by the outcome.
        if outcome.is_ok() {
            self.supervisor.on_success();
        }
        match outcome {
            Ok(Outcome::Ack) => self.ack(index, offset),
            Ok(Outcome::Retry { after }) => {
                AgentStats::bump(&self.stats.retried);
                self.retry(index, shared, encoder, offset, attempt, after, "retried");
            }
            Ok(Outcome::Defer) => {
                let deadline = deadline_in(self.lanes[index].ack_deadline);
                self.lanes[index]
                    .defer
                    .ensure_registered(offset, attempt, deadline);
            }
            Ok(Outcome::Reject { reason }) => {
                AgentStats::bump(&self.stats.rejected);
                self.lanes[index].defer.forget(offset);
                let reason = reason.into_owned();
                self.finish_dead_letter(
                    index,
                    shared,
                    encoder,
                    offset,
                    attempt,
                    DeadLetterReason::Rejected,
                    reason,
                );
            }
            Err(payload) => {
                let partition = self.lanes[index].partition;
                let backoff = self.on_panic(shared, &*payload, Some((partition, offset)));
                self.retry(
                    index,
                    shared,
                    encoder,
                    offset,
                    attempt,
                    backoff,
                    "agent panicked",
                );
            }
        }
    }

    fn ack(&mut self, index: usize, offset: u64) {
        let lane = &mut self.lanes[index];
        lane.defer.forget(offset);
        if lane.reader.release(offset) {
            AgentStats::bump(&self.stats.acked);
            AgentStats::bump(&lane.stats.acked);
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
        self.lanes[index].defer.forget(offset);
        if attempt >= self.lanes[index].max_deliver {
            let detail = format!("{why} on each of {attempt} deliveries");
            self.finish_dead_letter(
                index,
                shared,
                encoder,
                offset,
                attempt,
                DeadLetterReason::MaxDeliveries,
                detail,
            );
            return;
        }
        let not_before = deadline_in(after);
        self.lanes[index].head = Some(Head {
            offset,
            attempts: attempt,
            not_before,
            dead_letter: None,
        });
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
        let key = dead_letter::key_of(bytes);
        let letter = Letter {
            topic: &shared.topic(lane.topic).name,
            partition: lane.partition,
            offset,
            key,
            attempts,
            reason,
            detail: &detail,
            frame: bytes,
        };

        if dead_letter::send(shared, encoder, &letter) && dead_letter::make_durable(shared) {
            AgentStats::bump(&self.stats.dead_lettered);
            AgentStats::bump(&lane.stats.dead_lettered);
            lane.reader.release(offset);
        } else {
            let not_before = deadline_in(DEAD_LETTER_RETRY);
            let dead_letter = Some((reason, detail));
            lane.head = Some(Head {
                offset,
                attempts,
                not_before,
                dead_letter,
            });
        }
    }

    /// Counts a panic, rebuilds the agent, and returns the backoff before it runs again;
    /// past the restart limit, fails the runtime.
    fn on_panic(
        &mut self,
        shared: &Shared,
        payload: &(dyn std::any::Any + Send),
        frame: Option<(u32, u64)>,
    ) -> Duration {
        AgentStats::bump(&self.stats.restarts);
        let message = panic_message(payload);
        match self.supervisor.on_panic(Instant::now()) {
            Verdict::Restart { restarts, backoff } => {
                tracing::warn!(agent = %self.name, %message, restarts, ?backoff, "agent panicked; rebuilding it");
                let agent = self.name.clone();
                let _ = shared.faults.try_send(FaultEvent::Restarted {
                    agent,
                    message,
                    frame,
                    restarts,
                    backoff,
                });
                self.rebuild();
                self.paused_until = Some(deadline_in(backoff));
                backoff
            }
            Verdict::GiveUp { restarts } => {
                let window = self.supervisor.policy.window;
                tracing::error!(agent = %self.name, restarts, ?window, "agent panicked too often; stopping the runtime");
                let _ = shared.faults.try_send(FaultEvent::GaveUp {
                    agent: self.name.clone(),
                    restarts,
                    window,
                });
                shared.fail(RuntimeError::TooManyRestarts {
                    agent: self.name.clone(),
                    restarts,
                    window,
                });
                self.paused_until = Some(deadline_in(Duration::from_secs(3600)));
                Duration::from_secs(3600)
            }
        }
    }

    /// Replaces a panicked agent with a fresh one from its factory.
    fn rebuild(&mut self) {
        let factory = self.factory.clone();
        match panic::catch_unwind(AssertUnwindSafe(|| factory())) {
            Ok(agent) => self.agent = agent,
            Err(_) => {
                tracing::error!(agent = %self.name, "agent factory panicked; keeping the old instance")
            }
        }
    }

    fn record_latency(&mut self, elapsed: Duration) {
        self.latency
            .saturating_record(elapsed.as_nanos().max(1) as u64);
        self.unmerged += 1;
        if self.unmerged >= MERGE_EVERY {
            self.merge_latency();
        }
    }

    fn merge_latency(&mut self) {
        if self.handler_ns.lock().add(&self.latency).is_ok() {
            self.latency.reset();
            self.unmerged = 0;
        }
        self.merged_at = Instant::now();
    }
}

fn context<'a>(
    shared: &'a Shared,
    encoder: &'a mut FrameEncoder,
    agent: &'a str,
    stats: &'a AgentStats,
    state: &'a StateStore,
) -> Context<'a> {
    Context {
        shared,
        encoder,
        agent,
        stats,
        state,
        frame_time: None,
    }
}

impl Shared {
    /// Records why the runtime failed (the first reason wins) and stops it.
    pub(crate) fn fail(&self, error: RuntimeError) {
        let mut failure = self.failure.lock();
        if failure.is_none() {
            *failure = Some(error);
        }
        self.intake_open.store(false, Ordering::Release);
        self.stop.store(true, Ordering::Release);
    }
}
