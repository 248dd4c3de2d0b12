//! Back-pressure policies: `Fail` hands the very frame back, `Block` honours its deadline,
//! `DropOldest` conflates, oversized frames are refused before any credit is used, and
//! publishing after shutdown is refused.

mod common;

use std::time::{Duration, Instant};

use agentlane::topic::BackPressure;
use agentlane::{PublishError, RuntimeBuilder, TopicConfig};
use common::numbered;

#[test]
fn fail_hands_back_the_very_frame() {
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic(
        "t",
        TopicConfig::new(1)
            .max_in_flight(2)
            .back_pressure(BackPressure::Fail),
    );
    let _unread = builder.subscriber(topic, "slow");
    let runtime = builder.start().unwrap();
    let mut publisher = runtime.publisher(topic);

    publisher
        .publish(numbered(&mut publisher.clone(), b"k", 0))
        .unwrap();
    publisher
        .publish(numbered(&mut publisher.clone(), b"k", 1))
        .unwrap();
    let third = numbered(&mut publisher, b"k", 2);
    let address = third.as_bytes().as_ptr();
    match publisher.publish(third) {
        Err(PublishError::Full(frame)) => {
            assert_eq!(frame.as_bytes().as_ptr(), address, "not the same frame");
            assert_eq!(frame.reader().key().unwrap(), b"k");
        }
        other => panic!("expected Full, got {other:?}"),
    }
    runtime.shutdown(Duration::ZERO);
}

#[test]
fn block_waits_until_its_deadline_then_hands_the_frame_back() {
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1).max_in_flight(2));
    let _unread = builder.subscriber(topic, "slow");
    let runtime = builder.start().unwrap();
    let mut publisher = runtime.publisher(topic);
    for id in 0..2 {
        publisher
            .publish(numbered(&mut publisher.clone(), b"k", id))
            .unwrap();
    }

    let frame = numbered(&mut publisher, b"k", 2);
    let started = Instant::now();
    let result = publisher.publish_timeout(&frame, Duration::from_millis(50));
    let waited = started.elapsed();
    assert!(matches!(result, Err(PublishError::Timeout(f)) if std::ptr::eq(f, &frame)));
    assert!(
        waited >= Duration::from_millis(50),
        "returned before its deadline: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "did not honour its deadline: {waited:?}"
    );

    // try_publish never waits, whatever the policy.
    assert!(matches!(
        publisher.try_publish(&frame),
        Err(PublishError::Full(_))
    ));
    runtime.shutdown(Duration::ZERO);
}

#[test]
fn block_resumes_as_soon_as_a_credit_returns() {
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1).max_in_flight(2));
    let reader = builder.subscriber(topic, "host");
    let runtime = builder.start().unwrap();
    let mut subscriber = runtime.take_subscriber(reader).unwrap();
    let mut publisher = runtime.publisher(topic);
    for id in 0..2 {
        publisher
            .publish(numbered(&mut publisher.clone(), b"k", id))
            .unwrap();
    }

    std::thread::scope(|scope| {
        let frame = numbered(&mut publisher, b"k", 2);
        let blocked = scope.spawn(|| publisher.publish_timeout(frame, Duration::from_secs(20)));
        std::thread::sleep(Duration::from_millis(20));
        subscriber.recv().unwrap();
        assert_eq!(blocked.join().unwrap().ok(), Some(2));
    });
    runtime.shutdown(Duration::ZERO);
}

#[test]
fn drop_oldest_keeps_the_latest_frames() {
    let mut builder = RuntimeBuilder::new();
    let config = TopicConfig::new(1)
        .max_in_flight(4)
        .back_pressure(BackPressure::DropOldest);
    let topic = builder.topic("sensor", config);
    let reader = builder.subscriber(topic, "host");
    let runtime = builder.start().unwrap();
    let publisher = runtime.publisher(topic);

    // Ten readings into four credits, none read: every publish succeeds.
    for id in 0..10 {
        publisher
            .publish(numbered(&mut publisher.clone(), b"imu", id))
            .unwrap();
    }

    // The subscriber sees the four latest, in order.
    let mut subscriber = runtime.take_subscriber(reader).unwrap();
    let mut offsets = Vec::new();
    while let Ok(frame) = subscriber.try_recv() {
        offsets.push(frame.reader().offset());
    }
    assert_eq!(offsets, vec![6, 7, 8, 9]);
    runtime.shutdown(Duration::ZERO);
}

#[test]
fn an_oversized_frame_is_refused_before_any_offset_is_used() {
    let mut builder = RuntimeBuilder::new();
    let small = builder.topic("small", TopicConfig::new(1).max_frame_size(128));
    let big = builder.topic("big", TopicConfig::new(1).max_frame_size(4096));
    let reader = builder.subscriber(small, "host");
    let runtime = builder.start().unwrap();

    // A frame built for the big topic does not fit the small one.
    let mut big_publisher = runtime.publisher(big);
    let large = big_publisher
        .frame(b"k", |payload| {
            let mut p = payload.init_as::<agentlane::frame::sentiment_capnp::post::Builder>();
            p.set_text("x".repeat(1000).as_str());
            Ok(())
        })
        .unwrap();
    let mut small_publisher = runtime.publisher(small);
    match small_publisher.publish(&large) {
        Err(PublishError::TooLarge { size, max, .. }) => assert!(size > max && max == 128),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Building one directly is refused too.
    assert!(small_publisher
        .frame(b"k", |payload| {
            let mut p = payload.init_as::<agentlane::frame::sentiment_capnp::post::Builder>();
            p.set_text("x".repeat(1000).as_str());
            Ok(())
        })
        .is_err());

    // The next frame that fits gets offset 0.
    let fits = numbered(&mut small_publisher, b"k", 1);
    assert_eq!(small_publisher.publish(fits).unwrap(), 0);
    let mut subscriber = runtime.take_subscriber(reader).unwrap();
    assert_eq!(subscriber.recv().unwrap().reader().offset(), 0);
    runtime.shutdown(Duration::ZERO);
}

#[test]
fn publishing_after_shutdown_began_is_refused() {
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1));
    let runtime = builder.start().unwrap();
    let mut publisher = runtime.publisher(topic);
    let frame = numbered(&mut publisher, b"k", 0);
    runtime.shutdown(Duration::from_secs(1));
    assert!(matches!(
        publisher.publish(frame),
        Err(PublishError::Closed(_))
    ));
}
