//! Durable topics through the runtime, on a real disk: write-ahead, restart resuming after
//! the last acknowledged frame (case C2's restart variant), durable publishes, and
//! deterministic replay.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentlane::log::{LogConfig, PartitionLog, SyncPolicy};
use agentlane::{
    Agent, Context, Delivery, Outcome, RuntimeBuilder, SubscriptionConfig, TopicConfig, TopicId,
};
use common::{id_of, numbered, wait_for, Recorder, Seen};

fn durable(partitions: u32, sync: SyncPolicy) -> TopicConfig {
    TopicConfig::new(partitions)
        .max_in_flight(8)
        .durable(LogConfig::default().sync(sync))
}

/// Acks frames until `stop_acking` is set, then defers everything and never acks.
struct AcksUntil {
    seen: Seen,
    stop_acking: Arc<AtomicBool>,
}

impl Agent for AcksUntil {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        let key = frame.key().unwrap().to_vec();
        self.seen.lock().push((
            key,
            id_of(frame),
            frame.partition(),
            frame.offset(),
            frame.attempt(),
        ));
        if self.stop_acking.load(Ordering::Acquire) {
            Outcome::Defer
        } else {
            Outcome::Ack
        }
    }
}

#[test]
fn c2_a_restart_delivers_the_unacked_frames_first_and_skips_the_acked_ones() {
    let dir = tempfile::tempdir().unwrap();

    // First run: frames 0..4 acked, 4..8 deferred and never acked, then stop.
    let (seen, stop_acking): (Seen, _) = (Default::default(), Arc::new(AtomicBool::new(false)));
    let mut builder = RuntimeBuilder::new();
    builder.log_dir(dir.path());
    let topic = builder.topic("work", durable(1, SyncPolicy::Always));
    let (s, stop) = (seen.clone(), stop_acking.clone());
    builder
        .agent("worker", move || AcksUntil {
            seen: s.clone(),
            stop_acking: stop.clone(),
        })
        .subscribe(topic, "workers");
    let runtime = builder.start().unwrap();
    let publisher = runtime.publisher(topic);
    for id in 0..4 {
        publisher
            .publish(numbered(&mut publisher.clone(), b"k", id))
            .unwrap();
    }
    assert!(wait_for(|| seen.lock().len() == 4));
    stop_acking.store(true, Ordering::Release);
    for id in 4..8 {
        publisher
            .publish(numbered(&mut publisher.clone(), b"k", id))
            .unwrap();
    }
    assert!(wait_for(|| seen.lock().len() == 8));
    let report = runtime.shutdown(Duration::from_millis(100));
    assert!(!report.drained);
    assert_eq!(report.unsettled[0].frames, 4);
    assert_eq!(
        report.unsettled[0].kept_in.as_deref(),
        Some(dir.path().join("work").as_path())
    );

    // Second run: the four unacked frames come first, then new ones, offsets continuing.
    let again: Seen = Default::default();
    let mut builder = RuntimeBuilder::new();
    builder.log_dir(dir.path());
    let topic = builder.topic("work", durable(1, SyncPolicy::Always));
    let a = again.clone();
    builder
        .agent("worker", move || Recorder(a.clone()))
        .subscribe(topic, "workers");
    let runtime = builder.start().unwrap();
    let publisher = runtime.publisher(topic);
    assert_eq!(
        publisher
            .publish(numbered(&mut publisher.clone(), b"k", 8))
            .unwrap(),
        8
    );
    assert!(
        wait_for(|| again.lock().len() == 5),
        "{:?} {:?}",
        again.lock(),
        runtime.metrics().lanes
    );
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);
    let delivered: Vec<(u64, u64)> = again.lock().iter().map(|e| (e.1, e.3)).collect();
    assert_eq!(delivered, vec![(4, 4), (5, 5), (6, 6), (7, 7), (8, 8)]);
}

#[test]
fn every_published_frame_is_in_the_log_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let seen: Seen = Default::default();
    let mut builder = RuntimeBuilder::new();
    builder.log_dir(dir.path());
    let topic = builder.topic(
        "audit",
        durable(2, SyncPolicy::Interval(Duration::from_millis(5))),
    );
    let s = seen.clone();
    builder
        .agent("recorder", move || Recorder(s.clone()))
        .subscribe(topic, "r");
    let runtime = builder.start().unwrap();
    let mut publisher = runtime.publisher(topic);
    for id in 0..200u64 {
        let frame = numbered(&mut publisher, &id.to_le_bytes(), id);
        publisher
            .publish_durable(frame, Duration::from_secs(10))
            .unwrap();
    }
    assert!(wait_for(|| seen.lock().len() == 200));
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);

    // Reading the logs back: each partition holds its frames at the offsets delivered.
    let mut total = 0;
    for p in 0..2 {
        let (log, _) = PartitionLog::open(
            dir.path().join("audit").join(format!("p{p:04}")),
            LogConfig::default(),
        )
        .unwrap();
        let mut reader = log.reader_from_start();
        while let Some(record) = reader.next() {
            let record = record.unwrap();
            let frame = agentlane::FrameRef::decode(record.frame).unwrap();
            assert_eq!((frame.partition(), frame.offset()), (p, record.offset));
            let delivered = seen
                .lock()
                .iter()
                .any(|e| e.2 == p && e.3 == record.offset && e.0 == frame.key().unwrap());
            assert!(
                delivered,
                "logged frame p{p}@{} was not delivered",
                record.offset
            );
            total += 1;
        }
    }
    assert_eq!(total, 200);
}

/// Echoes each frame to `out` with `ctx.now()` as its id, so the output records the clock.
struct Stamper {
    out: TopicId,
}

impl Agent for Stamper {
    fn on_frame(&mut self, frame: &Delivery<'_>, ctx: &mut Context<'_>) -> Outcome {
        let now = ctx.now();
        let key = frame.key().unwrap();
        ctx.publish(self.out, key, |p| {
            p.init_as::<agentlane::frame::sentiment_capnp::post::Builder>()
                .set_id(now);
            Ok(())
        })
        .unwrap();
        Outcome::Ack
    }
}

/// Replays the logged `input` topic of `source` through a `Stamper` into the `output`
/// topic of `target` with the deterministic clock; returns the output log's bytes.
fn replay(source: &std::path::Path, target: &std::path::Path) -> Vec<u8> {
    // Copy the input log, so each replay starts from the same, unconsumed state.
    let input_dir = target.join("input");
    std::fs::create_dir_all(input_dir.join("p0000")).unwrap();
    for entry in std::fs::read_dir(source.join("input").join("p0000")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            input_dir.join("p0000").join(entry.file_name()),
        )
        .unwrap();
    }

    let mut builder = RuntimeBuilder::new();
    builder.log_dir(target).deterministic_clock(true);
    let input = builder.topic("input", durable(1, SyncPolicy::Never));
    let output = builder.topic("output", durable(1, SyncPolicy::Never));
    builder
        .agent("stamper", move || Stamper { out: output })
        .subscribe(input, "stampers");
    builder.subscription(input, "stampers", SubscriptionConfig::default());
    let runtime = builder.start().unwrap();
    assert!(wait_for(|| runtime
        .metrics()
        .lanes
        .iter()
        .all(|l| l.lag == 0 && l.published == 50)));
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);

    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(target.join("output").join("p0000")).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    bytes
}

#[test]
fn deterministic_replay_gives_byte_identical_outputs() {
    // Record 50 frames into a durable input topic.
    let source = tempfile::tempdir().unwrap();
    let mut builder = RuntimeBuilder::new();
    builder.log_dir(source.path());
    let input = builder.topic("input", durable(1, SyncPolicy::Never));
    let runtime = builder.start().unwrap();
    let mut publisher = runtime.publisher(input);
    for id in 0..50u64 {
        let frame = numbered(&mut publisher, &id.to_le_bytes(), id);
        publisher.publish(frame).unwrap();
        std::thread::sleep(Duration::from_micros(50));
    }
    runtime.shutdown(Duration::from_secs(5));

    // Two replays, at different times, write the same bytes.
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = replay(source.path(), a.path());
    std::thread::sleep(Duration::from_millis(20));
    let second = replay(source.path(), b.path());
    assert!(!first.is_empty());
    assert!(first == second, "replays differ");
}

#[test]
fn a_durable_topic_without_a_log_dir_is_refused() {
    let mut builder = RuntimeBuilder::new();
    builder.topic("t", durable(1, SyncPolicy::Always));
    assert!(matches!(
        builder.start(),
        Err(agentlane::BuildError::NoLogDir { .. })
    ));
}
