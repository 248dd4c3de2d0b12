//! Heap use while a publisher outruns a slow agent, counted by a global allocator: memory
//! stays bounded.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentlane::{Agent, Context, Delivery, Outcome, RuntimeBuilder, TopicConfig};
use common::counting::{Counting, LIVE, PEAK};
use common::{numbered, wait_for};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Sleeps on each frame, so a publisher outruns it about ten to one.
struct Slow(Arc<AtomicU64>);

impl Agent for Slow {
    fn on_frame(&mut self, _frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        std::thread::sleep(Duration::from_micros(100));
        self.0.fetch_add(1, Ordering::Release);
        Outcome::Ack
    }
}

#[test]
fn memory_stays_bounded_while_a_publisher_outruns_a_slow_agent() {
    let count = Arc::new(AtomicU64::new(0));
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic(
        "flood",
        TopicConfig::new(1)
            .max_in_flight(64)
            .block_timeout(Duration::from_secs(30)),
    );
    let agent_count = count.clone();
    builder
        .agent("slow", move || Slow(agent_count.clone()))
        .subscribe(topic, "slow");
    let runtime = builder.start().unwrap();
    let mut publisher = runtime.publisher(topic);
    let frame = numbered(&mut publisher, b"key", 1);

    // Publish 5,000 frames as fast as credits allow; the agent needs ~100 us each.
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let mut blocked_publishes = 0;
    for _ in 0..5_000 {
        if publisher.try_publish(&frame).is_err() {
            blocked_publishes += 1;
            publisher.publish(&frame).unwrap();
        }
    }
    let publishing = started.elapsed();
    assert!(wait_for(|| count.load(Ordering::Acquire) == 5_000));
    let growth = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
    let elapsed = started.elapsed();
    runtime.shutdown(Duration::from_secs(5));

    // The publisher was held back rather than queueing without bound: it could not finish
    // before the agent had slept through all but 64 frames (a lower bound, so a slow
    // machine cannot fail it).
    assert!(blocked_publishes > 0, "the publisher never met a full lane");
    assert!(
        publishing >= Duration::from_micros(100 * (5_000 - 64)),
        "5,000 publishes into 64 credits finished in {publishing:?}: not back-pressured"
    );
    assert!(
        growth < 256 * 1024,
        "heap grew by {growth} bytes over {elapsed:?}"
    );
}
