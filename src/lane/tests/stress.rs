//! Multi-threaded stress: fan-in order, fan-out, DropOldest under load.
//!
//! Run in release for the full counts (`cargo test --release --lib lane::tests::stress`);
//! debug builds run a tenth. Nothing here asserts on timing.

use std::thread;
use std::time::{Duration, Instant};

use super::ring;
use crate::lane::{LaneReader, PartitionRing, RingConfig};
use crate::sync::Arc;

/// Frames per test, over all producers.
const FRAMES: u64 = if cfg!(debug_assertions) {
    100_000
} else {
    1_000_000
};
/// Producers per test.
const PRODUCERS: u64 = 2;
/// Frame bytes: producer, sequence, offset (patched in), check word.
const FRAME: usize = 32;

/// A check word no other (producer, sequence) pair shares.
fn check(producer: u64, sequence: u64) -> u64 {
    (producer << 56 | sequence).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A ring of `capacity` frame-sized slots read by `subscriptions`.
fn frame_ring(capacity: usize, subscriptions: usize) -> Arc<PartitionRing> {
    let config = RingConfig {
        capacity,
        slot_size: FRAME,
        subscriptions,
        base_offset: 0,
    };
    PartitionRing::new(config)
}

/// Publishes `count` frames as `producer`, blocking for credits, or dropping the oldest
/// frame when `drop_oldest` and no credit is free.
fn produce(ring: &PartitionRing, producer: u64, count: u64, drop_oldest: bool) {
    for sequence in 0..count {
        let reservation = loop {
            if let Ok(reservation) = ring.try_reserve() {
                break reservation;
            }
            if drop_oldest {
                if ring.try_drop_oldest().is_err() {
                    thread::yield_now();
                }
                continue;
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            break ring
                .reserve_deadline(deadline)
                .expect("a credit within the hang guard");
        };
        let mut frame = [0u8; FRAME];
        frame[..8].copy_from_slice(&producer.to_le_bytes());
        frame[8..16].copy_from_slice(&sequence.to_le_bytes());
        frame[24..].copy_from_slice(&check(producer, sequence).to_le_bytes());
        reservation.commit(&frame, |bytes, offset| {
            bytes[16..24].copy_from_slice(&offset.to_le_bytes())
        });
    }
}

/// What one subscription saw.
#[derive(Debug, Default)]
struct Seen {
    /// Frames delivered, per producer.
    delivered: [u64; PRODUCERS as usize],
    /// Frames the subscription lost to DropOldest.
    dropped: u64,
}

/// Reads until the ring is closed and drained, checking order and bytes of every frame;
/// holds up to `hold` frames in flight and releases them newest first.
fn consume(mut reader: LaneReader, hold: usize) -> Seen {
    let mut seen = Seen::default();
    let mut next = [0u64; PRODUCERS as usize];
    let mut last_offset = None;
    let mut held = Vec::with_capacity(hold);
    loop {
        let Some(offset) = reader.poll() else {
            if reader.is_drained() {
                break;
            }
            held.drain(..)
                .rev()
                .for_each(|o| assert!(reader.release(o)));
            thread::yield_now();
            continue;
        };

        // Offsets grow; each producer's sequences grow; bytes are intact.
        assert!(
            last_offset.map_or(true, |last| offset > last),
            "offset order"
        );
        last_offset = Some(offset);
        let bytes = reader.bytes(offset).expect("a taken frame is readable");
        let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        let (producer, sequence) = (word(0), word(1));
        assert!(producer < PRODUCERS);
        assert_eq!(word(2), offset, "patched offset");
        assert_eq!(word(3), check(producer, sequence), "payload intact");
        let expected = &mut next[producer as usize];
        assert!(
            sequence >= *expected,
            "producer {producer} order: {sequence} after {expected}"
        );
        if reader.dropped() == 0 {
            assert_eq!(sequence, *expected, "no loss without drops");
        }
        *expected = sequence + 1;
        seen.delivered[producer as usize] += 1;

        // Release out of order now and then.
        held.push(offset);
        if held.len() >= hold {
            held.drain(..)
                .rev()
                .for_each(|o| assert!(reader.release(o)));
        }
    }
    held.drain(..)
        .rev()
        .for_each(|o| assert!(reader.release(o)));
    seen.dropped = reader.dropped();
    seen
}

/// Runs `PRODUCERS` producers and one consumer per subscription, closes the ring when the
/// producers are done, and returns what each subscription saw.
fn run(ring: &Arc<PartitionRing>, drop_oldest: bool, hold: usize) -> Vec<Seen> {
    let consumers: Vec<_> = (0..ring.subscriptions())
        .map(|s| {
            let reader = LaneReader::new(ring.clone(), s);
            thread::spawn(move || consume(reader, hold))
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let ring = ring.clone();
            thread::spawn(move || produce(&ring, p, FRAMES / PRODUCERS, drop_oldest))
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().unwrap());
    ring.close();
    consumers.into_iter().map(|c| c.join().unwrap()).collect()
}

#[test]
fn fan_in_keeps_each_producers_order_without_loss() {
    let ring = frame_ring(1024, 1);
    let seen = run(&ring, false, 8);
    assert_eq!(seen[0].delivered, [FRAMES / PRODUCERS; PRODUCERS as usize]);
    assert_eq!(ring.next_offset(), FRAMES);
    assert_eq!(ring.free_credits(), ring.capacity());
}

#[test]
fn fan_out_delivers_every_frame_to_each_subscription() {
    let ring = frame_ring(256, 2);
    let seen = run(&ring, false, 4);
    for subscription in &seen {
        assert_eq!(
            subscription.delivered,
            [FRAMES / PRODUCERS; PRODUCERS as usize]
        );
    }
    assert_eq!(ring.free_credits(), ring.capacity());
}

#[test]
fn drop_oldest_under_load_delivers_or_counts_every_frame() {
    let ring = frame_ring(64, 2);
    let seen = run(&ring, true, 16);
    for subscription in &seen {
        let delivered: u64 = subscription.delivered.iter().sum();
        assert_eq!(delivered + subscription.dropped, FRAMES, "{subscription:?}");
    }
    assert_eq!(ring.free_credits(), ring.capacity());
}

#[test]
fn tiny_ring_with_no_subscription_settles_under_contention() {
    let ring = ring(2, 0);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let ring = ring.clone();
            thread::spawn(move || {
                for _ in 0..FRAMES / 10 {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    let reservation = ring.reserve_deadline(deadline).expect("credits come back");
                    reservation.commit(&[7; 16], |_, _| {});
                }
            })
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().unwrap());
    assert_eq!(ring.next_offset(), PRODUCERS * (FRAMES / 10));
    assert_eq!(ring.free_credits(), 2);
}
