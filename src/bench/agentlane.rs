//! agentlane on its full path: two pinned agents linked by two topics for latency, and a
//! pinned host publisher feeding a pinned agent for throughput.
//!
//! Latency: a pinging agent publishes a frame (encode, take a credit, copy into the slot,
//! commit) to `pings`; an echo agent reads it in place, publishes an answer to `pongs` and
//! acks (the credit goes back); the pinging agent reads the answer, checks its id, records
//! the round trip, acks, and publishes the next ping. One hop is half a round trip.
//!
//! Throughput: a host thread pinned to the first core publishes one prebuilt frame over and
//! over (credit, copy, commit); a sink agent on the second core reads each frame's payload
//! in place, checks its offset and acks it.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::frame::sentiment_capnp::post;
use crate::{
    Agent, Context, Delivery, IdleStrategy, Outcome, Placement, PublishError, Publisher, Runtime,
    RuntimeBuilder, TopicConfig, TopicId, Work,
};

use super::measure::{LatencySeries, Recorder, StreamMeasure, Window, WindowEnd};
use super::peers::MESSAGE_BYTES;
use super::{pin, BenchConfig, BenchError, Pins};

/// The key of every benchmark frame (8 bytes).
const KEY: &[u8] = b"bench-01";

/// Credits per lane, as many as the peers' queues hold.
const CREDITS: usize = super::peers::CAPACITY;

/// How long the host waits for a series before it calls the run failed.
const PATIENCE: Duration = Duration::from_secs(600);

/// The idle strategy both agents of a series use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `IdleStrategy::BusySpin`.
    BusySpin,
    /// `IdleStrategy::Backoff`.
    Backoff,
}

impl Mode {
    /// Both modes, in report order.
    pub(crate) const ALL: [Mode; 2] = [Mode::BusySpin, Mode::Backoff];

    /// The series name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::BusySpin => "agentlane BusySpin",
            Mode::Backoff => "agentlane Backoff",
        }
    }

    fn idle(self) -> IdleStrategy {
        match self {
            Mode::BusySpin => IdleStrategy::BusySpin,
            Mode::Backoff => IdleStrategy::Backoff,
        }
    }
}

/// Where an agent hands its result to the host: taken by the first agent built.
type Outbox<T> = Arc<Mutex<Option<Sender<Result<T, BenchError>>>>>;

/// Ping-pongs `warmup + round_trips` frames between two agents pinned to the two cores.
///
/// # Errors
///
/// `Failed` when the runtime does not start or a publish fails, `WrongResult` when an
/// answer carries the wrong id.
pub(crate) fn ping_pong(
    pins: Pins,
    config: &BenchConfig,
    mode: Mode,
) -> Result<LatencySeries, BenchError> {
    let (ping_core, pong_core) = pins.placement_indices();
    let (outbox, results) = outbox();
    let mut builder = RuntimeBuilder::new();
    let pings = builder.topic("pings", TopicConfig::new(1).max_in_flight(CREDITS));
    let pongs = builder.topic("pongs", TopicConfig::new(1).max_in_flight(CREDITS));

    // The pinging agent answers to `pongs`; the echo agent to `pings`.
    let total = config.warmup + config.round_trips;
    let warmup = config.warmup;
    builder
        .agent("pinger", move || {
            Pinger::new(mode, pings, (total, warmup), outbox.clone())
        })
        .subscribe(pongs, "pinger")
        .placement(Placement::Pinned(ping_core))
        .idle(mode.idle());
    builder
        .agent("echo", move || Echo { pongs })
        .subscribe(pings, "echo")
        .placement(Placement::Pinned(pong_core))
        .idle(mode.idle());

    let runtime = start(builder, mode)?;
    let result = check_frame_size(&runtime, pings, mode).and_then(|()| wait(&results, mode));
    runtime.shutdown(Duration::from_secs(5));
    Ok(result?.finish(mode.name()))
}

/// Streams `frames` prebuilt frames from a pinned host publisher to a pinned sink agent.
///
/// # Errors
///
/// As [`ping_pong`]; `WrongResult` when a frame arrives out of order.
pub(crate) fn stream(pins: Pins, frames: u64, mode: Mode) -> Result<StreamMeasure, BenchError> {
    let (_, sink_core) = pins.placement_indices();
    let (outbox, results) = outbox();
    let mut builder = RuntimeBuilder::new();
    let config = TopicConfig::new(1)
        .max_in_flight(CREDITS)
        .block_timeout(PATIENCE);
    let topic = builder.topic("stream", config);
    builder
        .agent("sink", move || Sink {
            frames,
            next: 0,
            outbox: outbox.clone(),
        })
        .subscribe(topic, "sink")
        .placement(Placement::Pinned(sink_core))
        .idle(mode.idle());

    let runtime = start(builder, mode)?;
    let result = produce(&runtime, pins, topic, frames, mode)
        .and_then(|window| Ok(window.measure(wait(&results, mode)?, mode.name(), frames)));
    runtime.shutdown(Duration::from_secs(5));
    result
}

/// Publishes `frames` copies of one frame from a thread pinned to the ping core.
fn produce(
    runtime: &Runtime,
    pins: Pins,
    topic: TopicId,
    frames: u64,
    mode: Mode,
) -> Result<Window, BenchError> {
    let mut publisher = runtime.publisher(topic);
    let frame = bench_frame(&mut publisher, mode)?;
    pin::alone(pins.ping, mode.name(), move || {
        let window = Window::open();
        for _ in 0..frames {
            let published = match mode {
                Mode::BusySpin => spin_publish(&publisher, &frame),
                Mode::Backoff => publisher.publish(&frame).map_err(|e| e.map(())),
            };
            published.map_err(|e| failed(mode, format!("publish: {e}")))?;
        }
        Ok(window)
    })?
}

/// `try_publish`, spinning while the lane has no credit.
fn spin_publish(publisher: &Publisher, frame: &crate::Frame) -> Result<u64, PublishError<()>> {
    loop {
        match publisher.try_publish(frame) {
            Ok(offset) => return Ok(offset),
            Err(PublishError::Full(_)) => std::hint::spin_loop(),
            Err(other) => return Err(other.map(())),
        }
    }
}

/// Checks that a frame of this suite is as long as the peers' messages.
fn check_frame_size(runtime: &Runtime, topic: TopicId, mode: Mode) -> Result<(), BenchError> {
    bench_frame(&mut runtime.publisher(topic), mode).map(drop)
}

/// The benchmark frame: the envelope with [`KEY`] and a post with an id, [`MESSAGE_BYTES`] long.
fn bench_frame(publisher: &mut Publisher, mode: Mode) -> Result<crate::Frame, BenchError> {
    let frame = publisher
        .frame(KEY, |payload| {
            payload.init_as::<post::Builder>().set_id(42);
            Ok(())
        })
        .map_err(|e| failed(mode, format!("encode: {e}")))?;
    if frame.len() != MESSAGE_BYTES {
        let detail = format!(
            "frame is {} bytes, peers carry {MESSAGE_BYTES}",
            frame.len()
        );
        return Err(BenchError::WrongResult {
            contender: mode.name(),
            detail,
        });
    }
    Ok(frame)
}

fn start(builder: RuntimeBuilder, mode: Mode) -> Result<Runtime, BenchError> {
    builder
        .start()
        .map_err(|e| failed(mode, format!("runtime: {e}")))
}

fn outbox<T>() -> (Outbox<T>, Receiver<Result<T, BenchError>>) {
    let (tx, rx) = std::sync::mpsc::channel();
    (Arc::new(Mutex::new(Some(tx))), rx)
}

/// Waits for the agent's result.
fn wait<T>(results: &Receiver<Result<T, BenchError>>, mode: Mode) -> Result<T, BenchError> {
    match results.recv_timeout(PATIENCE) {
        Ok(result) => result,
        Err(_) => Err(failed(mode, "no result from the agents".to_owned())),
    }
}

fn failed(mode: Mode, detail: String) -> BenchError {
    BenchError::Failed {
        contender: mode.name(),
        detail,
    }
}

/// The pinging agent: sends ping `seq`, waits for its answer, records, sends the next.
struct Pinger {
    mode: Mode,
    pings: TopicId,
    total: u64,
    seq: u64,
    sent: Instant,
    recorder: Option<Recorder>,
    outbox: Option<Sender<Result<Recorder, BenchError>>>,
}

impl Pinger {
    fn new(
        mode: Mode,
        pings: TopicId,
        (total, warmup): (u64, u64),
        outbox: Outbox<Recorder>,
    ) -> Self {
        let outbox = outbox.lock().take();
        let recorder = Some(Recorder::new(warmup));
        Self {
            mode,
            pings,
            total,
            seq: 0,
            sent: Instant::now(),
            recorder,
            outbox,
        }
    }

    /// Sends ping `self.seq`.
    fn ping(&mut self, ctx: &mut Context<'_>) {
        let seq = self.seq;
        self.sent = Instant::now();
        let sent = ctx.try_publish(self.pings, KEY, |payload| {
            payload.init_as::<post::Builder>().set_id(seq);
            Ok(())
        });
        if let Err(e) = sent {
            let detail = format!("publish ping {seq}: {e}");
            self.finish(Err(failed(self.mode, detail)));
        }
    }

    /// Hands the result to the host, once.
    fn finish(&mut self, result: Result<Recorder, BenchError>) {
        self.recorder = None;
        if let Some(outbox) = self.outbox.take() {
            let _ = outbox.send(result);
        }
    }
}

impl Agent for Pinger {
    fn on_poll(&mut self, ctx: &mut Context<'_>) -> Work {
        self.ping(ctx);
        Work::Finished
    }

    fn on_frame(&mut self, frame: &Delivery<'_>, ctx: &mut Context<'_>) -> Outcome {
        let Some(recorder) = self.recorder.as_mut() else {
            return Outcome::Ack;
        };

        // Check the answer, then record the round trip.
        let id = frame.payload::<post::Owned>().map(|p| p.get_id());
        if id.as_ref().ok() != Some(&self.seq) {
            let detail = format!("answer {id:?}, expected {}", self.seq);
            self.finish(Err(BenchError::WrongResult {
                contender: self.mode.name(),
                detail,
            }));
            return Outcome::Ack;
        }
        recorder.record(self.sent);

        // Next ping, or done.
        self.seq += 1;
        if self.seq == self.total {
            let recorder = self.recorder.take();
            self.finish(recorder.ok_or_else(|| failed(self.mode, "no recorder".into())));
        } else {
            self.ping(ctx);
        }
        Outcome::Ack
    }
}

/// The echo agent: answers every ping with a frame carrying the same id.
struct Echo {
    pongs: TopicId,
}

impl Agent for Echo {
    fn on_frame(&mut self, frame: &Delivery<'_>, ctx: &mut Context<'_>) -> Outcome {
        let Ok(id) = frame.payload::<post::Owned>().map(|p| p.get_id()) else {
            return Outcome::reject("bench ping without a post");
        };
        let answered = ctx.try_publish(self.pongs, KEY, |payload| {
            payload.init_as::<post::Builder>().set_id(id);
            Ok(())
        });
        match answered {
            Ok(_) => Outcome::Ack,
            Err(_) => Outcome::Retry {
                after: Duration::ZERO,
            },
        }
    }
}

/// The sink agent: checks each frame's offset, reads its payload in place, acks.
struct Sink {
    frames: u64,
    next: u64,
    outbox: Outbox<WindowEnd>,
}

impl Agent for Sink {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        let id = frame.payload::<post::Owned>().map(|p| p.get_id());
        if frame.offset() != self.next || id.is_err() {
            let detail = format!("frame at offset {}, expected {}", frame.offset(), self.next);
            self.send(Err(BenchError::WrongResult {
                contender: "agentlane",
                detail,
            }));
            return Outcome::Ack;
        }
        std::hint::black_box(id.ok());
        self.next += 1;
        if self.next == self.frames {
            self.send(Ok(Window::close()));
        }
        Outcome::Ack
    }
}

impl Sink {
    fn send(&mut self, result: Result<WindowEnd, BenchError>) {
        if let Some(outbox) = self.outbox.lock().take() {
            let _ = outbox.send(result);
        }
    }
}
