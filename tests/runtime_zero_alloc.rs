//! Zero heap allocations per frame from publish to ack, counted by a global allocator
//! across every thread. Alone in its test binary: another test's thread parking on a lock
//! allocates once, which would be counted.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentlane::{
    Agent, Context, Delivery, IdleStrategy, Outcome, PublishError, RuntimeBuilder, TopicConfig,
};
use common::counting::{Counting, ALLOCATIONS};
use common::{id_of, numbered};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Reads each frame's payload in place and counts it.
struct Reading(Arc<AtomicU64>);

impl Agent for Reading {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        let id = id_of(frame);
        std::hint::black_box(id);
        self.0.fetch_add(1, Ordering::Release);
        Outcome::Ack
    }
}

#[test]
fn publish_deliver_and_ack_allocate_nothing_per_frame() {
    let count = Arc::new(AtomicU64::new(0));
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("hot", TopicConfig::new(1).max_in_flight(256));
    let agent_count = count.clone();
    builder
        .agent("reader", move || Reading(agent_count.clone()))
        .subscribe(topic, "readers")
        .idle(IdleStrategy::BusySpin);
    let runtime = builder.start().unwrap();
    let mut publisher = runtime.publisher(topic);
    let frame = numbered(&mut publisher, b"key", 7);

    // Warm up: the first frames may touch lazily built state.
    let publish_all = |n: u64| {
        let target = count.load(Ordering::Acquire) + n;
        for _ in 0..n {
            while let Err(PublishError::Full(_)) = publisher.try_publish(&frame) {
                std::hint::spin_loop();
            }
        }
        while count.load(Ordering::Acquire) < target {
            std::hint::spin_loop();
        }
    };
    publish_all(10_000);

    // Measure: 100,000 frames, publish to ack, across every thread.
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    publish_all(100_000);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    runtime.shutdown(Duration::from_secs(5));
    assert_eq!(
        allocations, 0,
        "{allocations} allocations over 100,000 frames"
    );
}
