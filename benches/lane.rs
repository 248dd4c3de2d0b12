//! The lane hop between two pinned threads, on the full public path: a host publisher on
//! one core, an agent on another, credits taken and returned for every frame.
//!
//! - `stream`: frames per second from the host to an agent that reads each in place and
//!   acks it (one-way throughput).
//! - `round_trip`: the host publishes a ping, the agent answers on a second topic, the host
//!   receives the answer; half of it is one hop.
#![allow(missing_docs)] // NB: `criterion_group!` defines an undocumented public function.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentlane::frame::sentiment_capnp::post;
use agentlane::{
    Agent, Context, Delivery, Frame, IdleStrategy, Outcome, Placement, PublishError, Publisher,
    RecvError, RuntimeBuilder, TopicConfig, TopicId,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Counts frames after reading the payload's id in place.
struct Sink(Arc<AtomicU64>);

impl Agent for Sink {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        let id = frame
            .payload::<post::Owned>()
            .map(|p| p.get_id())
            .unwrap_or(0);
        std::hint::black_box(id);
        self.0.fetch_add(1, Ordering::Release);
        Outcome::Ack
    }
}

/// Answers every frame on `pongs`, keyed the same.
struct Echo {
    pongs: TopicId,
}

impl Agent for Echo {
    fn on_frame(&mut self, frame: &Delivery<'_>, ctx: &mut Context<'_>) -> Outcome {
        let key = frame.key().unwrap_or_default();
        match ctx.try_publish(self.pongs, key, |payload| {
            payload.init_as::<post::Builder>().set_id(1);
            Ok(())
        }) {
            Ok(_) => Outcome::Ack,
            Err(_) => Outcome::Retry {
                after: Duration::ZERO,
            },
        }
    }
}

/// A 64-byte-class frame: envelope, 8-byte key, a post with an id.
fn small_frame(publisher: &mut Publisher) -> Frame {
    let frame = publisher
        .frame(b"bench-01", |payload| {
            payload.init_as::<post::Builder>().set_id(42);
            Ok(())
        })
        .expect("a small frame");
    assert!(frame.len() <= 128, "frame is {} bytes", frame.len());
    frame
}

/// Two cores to pin to, or `None` on a single-core machine.
fn two_cores() -> Option<(core_affinity::CoreId, usize)> {
    let cores = core_affinity::get_core_ids()?;
    (cores.len() >= 2).then(|| (cores[0], cores[1].id))
}

/// Runs `work(iters)` on a thread pinned to `core` for each measurement criterion asks
/// for, and reports the time it took. The criterion thread itself stays unpinned, so later
/// runtimes can still see every core.
fn pinned_driver<W>(core: core_affinity::CoreId, mut work: W) -> impl FnMut(u64) -> Duration
where
    W: FnMut(u64) -> Duration + Send + 'static,
{
    let (ask, asked) = std::sync::mpsc::channel::<u64>();
    let (tell, told) = std::sync::mpsc::channel::<Duration>();
    std::thread::spawn(move || {
        core_affinity::set_for_current(core);
        while let Ok(iters) = asked.recv() {
            if tell.send(work(iters)).is_err() {
                break;
            }
        }
    });
    move |iters| {
        ask.send(iters).expect("driver thread alive");
        told.recv().expect("driver thread alive")
    }
}

fn stream(c: &mut Criterion) {
    let Some((host_core, agent_core)) = two_cores() else {
        return;
    };
    let count = Arc::new(AtomicU64::new(0));
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("stream", TopicConfig::new(1).max_in_flight(1024));
    let sink_count = count.clone();
    builder
        .agent("sink", move || Sink(sink_count.clone()))
        .subscribe(topic, "sink")
        .placement(Placement::Pinned(agent_core))
        .idle(IdleStrategy::Backoff);
    let runtime = builder.start().expect("bench graph");
    let mut publisher = runtime.publisher(topic);
    let frame = small_frame(&mut publisher);

    let mut drive = pinned_driver(host_core, move |iters| {
        let target = count.load(Ordering::Acquire) + iters;
        let started = Instant::now();
        for _ in 0..iters {
            while let Err(PublishError::Full(_)) = publisher.try_publish(&frame) {
                std::hint::spin_loop();
            }
        }
        while count.load(Ordering::Acquire) < target {
            std::hint::spin_loop();
        }
        started.elapsed()
    });
    let mut group = c.benchmark_group("lane");
    group.throughput(Throughput::Elements(1));
    group.bench_function("stream", |b| b.iter_custom(&mut drive));
    group.finish();
    drop(drive);
    runtime.shutdown(Duration::from_secs(5));
}

fn round_trip(c: &mut Criterion) {
    let Some((host_core, agent_core)) = two_cores() else {
        return;
    };
    let mut builder = RuntimeBuilder::new();
    let pings = builder.topic("pings", TopicConfig::new(1).max_in_flight(2));
    let pongs = builder.topic("pongs", TopicConfig::new(1).max_in_flight(2));
    builder
        .agent("echo", move || Echo { pongs })
        .subscribe(pings, "echo")
        .placement(Placement::Pinned(agent_core))
        .idle(IdleStrategy::BusySpin);
    let answers = builder.subscriber(pongs, "host");
    let runtime = builder.start().expect("bench graph");
    let mut publisher = runtime.publisher(pings);
    let mut subscriber = runtime.take_subscriber(answers).expect("declared");
    let frame = small_frame(&mut publisher);

    let mut drive = pinned_driver(host_core, move |iters| {
        let started = Instant::now();
        for _ in 0..iters {
            publisher
                .try_publish(&frame)
                .expect("one ping in flight at a time");
            let answer = loop {
                match subscriber.try_recv() {
                    Ok(answer) => break answer,
                    Err(RecvError::Empty) => std::hint::spin_loop(),
                    Err(error) => panic!("no answer: {error}"),
                }
            };
            std::hint::black_box(answer);
        }
        started.elapsed()
    });
    c.bench_function("lane/round_trip", |b| b.iter_custom(&mut drive));
    drop(drive);
    runtime.shutdown(Duration::from_secs(5));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = stream, round_trip
}
criterion_main!(benches);
