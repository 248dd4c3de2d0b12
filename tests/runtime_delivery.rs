//! Delivery through the runtime: nothing lost or duplicated under load, per-key order across
//! partitions, fan-out between subscriptions, async handles.

mod common;

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentlane::{Agent, Context, Delivery, Outcome, RuntimeBuilder, TopicConfig};
use common::{id_of, numbered, wait_for, Recorder, Seen};

const PUBLISHERS: u64 = 2;
const PER_PUBLISHER: u64 = 500_000;

/// Marks each id seen and checks each publisher's order within each partition.
struct Checker {
    seen: Arc<Vec<AtomicU8>>,
    /// Last sequence seen per (publisher, partition), +1 (0 = none yet).
    last: Vec<u64>,
    partitions: u32,
    count: Arc<AtomicU64>,
    disorder: Arc<AtomicU64>,
}

impl Agent for Checker {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        let id = id_of(frame);
        let (publisher, seq) = (id / PER_PUBLISHER, id % PER_PUBLISHER);
        let slot = (publisher * u64::from(self.partitions) + u64::from(frame.partition())) as usize;
        if seq + 1 <= self.last[slot] {
            self.disorder.fetch_add(1, Ordering::Relaxed);
        }
        self.last[slot] = seq + 1;
        self.seen[id as usize].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Release);
        Outcome::Ack
    }
}

#[test]
fn a_million_frames_from_two_publishers_to_two_agents_arrive_once_each_in_order() {
    let partitions = 4;
    let total = PUBLISHERS * PER_PUBLISHER;
    let seen: Arc<Vec<AtomicU8>> = Arc::new((0..total).map(|_| AtomicU8::new(0)).collect());
    let count = Arc::new(AtomicU64::new(0));
    let disorder = Arc::new(AtomicU64::new(0));

    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("load", TopicConfig::new(partitions).max_in_flight(1024));
    for i in 0..2 {
        let (seen, count, disorder) = (seen.clone(), count.clone(), disorder.clone());
        builder
            .agent(&format!("checker-{i}"), move || Checker {
                seen: seen.clone(),
                last: vec![0; (PUBLISHERS * u64::from(partitions)) as usize],
                partitions,
                count: count.clone(),
                disorder: disorder.clone(),
            })
            .subscribe(topic, "checkers");
    }
    let runtime = builder.start().unwrap();

    // Two host threads publish concurrently, each frame keyed by its id.
    std::thread::scope(|scope| {
        for p in 0..PUBLISHERS {
            let mut publisher = runtime.publisher(topic);
            scope.spawn(move || {
                for seq in 0..PER_PUBLISHER {
                    let id = p * PER_PUBLISHER + seq;
                    let frame = numbered(&mut publisher, &(id % 64).to_le_bytes(), id);
                    let mut frame = frame;
                    loop {
                        match publisher.publish_timeout(frame, Duration::from_secs(5)) {
                            Ok(_) => break,
                            Err(e) => frame = e.into_inner(),
                        }
                    }
                }
            });
        }
    });

    assert!(
        wait_for(|| count.load(Ordering::Acquire) >= total),
        "only {} arrived",
        count.load(Ordering::Acquire)
    );
    let report = runtime.shutdown(Duration::from_secs(5));
    assert!(report.drained, "{report:?}");
    assert_eq!(count.load(Ordering::Acquire), total);
    let missing = seen
        .iter()
        .filter(|s| s.load(Ordering::Relaxed) == 0)
        .count();
    let doubled = seen
        .iter()
        .filter(|s| s.load(Ordering::Relaxed) > 1)
        .count();
    assert_eq!((missing, doubled), (0, 0), "frames missing or duplicated");
    assert_eq!(
        disorder.load(Ordering::Relaxed),
        0,
        "a publisher's order was broken in a partition"
    );
}

#[test]
fn each_key_keeps_its_order_across_four_partitions() {
    let seen: Seen = Default::default();
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("keys", TopicConfig::new(4).max_in_flight(64));
    for i in 0..2 {
        let seen = seen.clone();
        builder
            .agent(&format!("recorder-{i}"), move || Recorder(seen.clone()))
            .subscribe(topic, "group");
    }
    let runtime = builder.start().unwrap();

    // 16 keys, 200 frames each, interleaved.
    let mut publisher = runtime.publisher(topic);
    for seq in 0..200u64 {
        for key in 0..16u64 {
            let frame = numbered(&mut publisher, format!("key-{key}").as_bytes(), seq);
            publisher.publish(frame).unwrap();
        }
    }
    assert!(wait_for(|| seen.lock().len() == 16 * 200));
    runtime.shutdown(Duration::from_secs(5));

    // Per key: 0..200 exactly, in order, all on one partition.
    let seen = seen.lock();
    let mut partitions_used = std::collections::HashSet::new();
    for key in 0..16u64 {
        let name = format!("key-{key}").into_bytes();
        let of_key: Vec<_> = seen.iter().filter(|e| e.0 == name).collect();
        let ids: Vec<u64> = of_key.iter().map(|e| e.1).collect();
        assert_eq!(ids, (0..200).collect::<Vec<_>>(), "key-{key} out of order");
        let partition = of_key[0].2;
        assert!(
            of_key.iter().all(|e| e.2 == partition),
            "key-{key} moved partition"
        );
        partitions_used.insert(partition);
        let offsets: Vec<u64> = of_key.iter().map(|e| e.3).collect();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "offsets not increasing for key-{key}"
        );
    }
    assert!(
        partitions_used.len() > 1,
        "16 keys should spread over several of 4 partitions"
    );
}

#[test]
fn two_subscriptions_each_see_every_frame() {
    let (a, b): (Seen, Seen) = Default::default();
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("fanout", TopicConfig::new(2).max_in_flight(8));
    let a2 = a.clone();
    builder
        .agent("a", move || Recorder(a2.clone()))
        .subscribe(topic, "first");
    let b2 = b.clone();
    builder
        .agent("b", move || Recorder(b2.clone()))
        .subscribe(topic, "second");
    let runtime = builder.start().unwrap();

    let mut publisher = runtime.publisher(topic);
    for id in 0..1000u64 {
        let frame = numbered(&mut publisher, &id.to_le_bytes(), id);
        publisher.publish(frame).unwrap();
    }
    assert!(wait_for(|| a.lock().len() == 1000 && b.lock().len() == 1000));
    runtime.shutdown(Duration::from_secs(5));

    let sorted = |s: &Seen| {
        let mut ids: Vec<(u32, u64, u64)> = s.lock().iter().map(|e| (e.2, e.3, e.1)).collect();
        ids.sort();
        ids
    };
    // Same frames at the same partition and offset in both subscriptions.
    assert_eq!(sorted(&a), sorted(&b));
}

#[test]
fn async_handles_work_from_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut builder = RuntimeBuilder::new();
        let topic = builder.topic("async", TopicConfig::new(2).max_in_flight(4));
        let reader = builder.subscriber(topic, "host");
        let runtime = builder.start().unwrap();
        let mut subscriber = runtime.take_subscriber(reader).unwrap();

        // The consumer is a tokio task; the producer outruns the 4 credits and must wait.
        let consumer = tokio::spawn(async move {
            let mut ids = Vec::new();
            while ids.len() < 100 {
                let frame = subscriber.recv_async().await.unwrap();
                let reader = frame.reader();
                let post = reader
                    .payload::<agentlane::frame::sentiment_capnp::post::Owned>()
                    .unwrap();
                ids.push(post.get_id());
            }
            ids
        });
        let mut publisher = runtime.publisher(topic);
        for id in 0..100u64 {
            let frame = numbered(&mut publisher, b"one-key", id);
            publisher.publish_async(frame).await.unwrap();
        }
        let ids = tokio::time::timeout(Duration::from_secs(30), consumer)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ids, (0..100).collect::<Vec<_>>());
        assert!(runtime.shutdown(Duration::from_secs(5)).drained);
    });
}
