//! Rate limits hold frames in their lane instead of dropping them, and never deliver
//! faster than the quota allows.

mod common;

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use agentlane::{Quota, RateLimit, RuntimeBuilder, TopicConfig};
use common::{numbered, wait_for, Recorder, Seen};

fn quota(per_second: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(per_second).unwrap()).allow_burst(NonZeroU32::new(1).unwrap())
}

#[test]
fn a_per_agent_limit_spaces_deliveries_and_loses_nothing() {
    let seen: Seen = Default::default();
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(2));
    let s = seen.clone();
    builder
        .agent("limited", move || Recorder(s.clone()))
        .subscribe(topic, "s")
        .rate_limit(RateLimit::PerAgent(quota(50)));
    let runtime = builder.start().unwrap();

    let started = Instant::now();
    let publisher = runtime.publisher(topic);
    for id in 0..20u64 {
        publisher
            .publish(numbered(&mut publisher.clone(), &id.to_le_bytes(), id))
            .unwrap();
    }
    assert!(wait_for(|| seen.lock().len() == 20));
    let elapsed = started.elapsed();
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);

    // 20 frames at 50 per second, one at a time: at least 19 intervals of 20 ms.
    assert!(
        elapsed >= Duration::from_millis(380),
        "delivered faster than the quota: {elapsed:?}"
    );
    let mut ids: Vec<u64> = seen.lock().iter().map(|e| e.1).collect();
    ids.sort();
    assert_eq!(ids, (0..20).collect::<Vec<_>>());
    assert!(
        seen.lock().iter().all(|e| e.4 == 1),
        "a held-back frame counted as an attempt"
    );
}

#[test]
fn a_per_key_limit_holds_back_only_the_busy_key() {
    let seen: Seen = Default::default();
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1));
    let s = seen.clone();
    builder
        .agent("limited", move || Recorder(s.clone()))
        .subscribe(topic, "s")
        .rate_limit(RateLimit::PerKey(quota(20)));
    let runtime = builder.start().unwrap();

    let started = Instant::now();
    let publisher = runtime.publisher(topic);
    for id in 0..5u64 {
        publisher
            .publish(numbered(&mut publisher.clone(), b"busy", id))
            .unwrap();
    }
    assert!(wait_for(|| seen.lock().len() == 5));
    let elapsed = started.elapsed();
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);
    assert!(
        elapsed >= Duration::from_millis(190),
        "key delivered faster than its quota: {elapsed:?}"
    );
    let ids: Vec<u64> = seen.lock().iter().map(|e| e.1).collect();
    assert_eq!(ids, vec![0, 1, 2, 3, 4], "a held-back key was reordered");
}
