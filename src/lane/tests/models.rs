//! Loom models of the partition ring.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --lib lane`. Each model keeps
//! to a capacity-2 ring and a preemption bound so that it finishes in about a minute.

use loom::model::Builder;
use loom::thread;

use super::{commit_value, ring, value_of};
use crate::lane::{LaneReader, PartitionRing, Reservation};

/// Runs `model` under every interleaving within the preemption bound.
fn check(bound: usize, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = Builder::new();
    builder.preemption_bound = Some(bound);
    builder.max_branches = 100_000;
    builder.check(model);
}

/// Takes a credit, yielding to the other threads while none is free.
fn reserve(ring: &PartitionRing) -> Reservation<'_> {
    loop {
        match ring.try_reserve() {
            Ok(reservation) => return reservation,
            Err(_) => thread::yield_now(),
        }
    }
}

/// Takes the next frame, yielding while none is committed; returns (offset, value).
fn take(reader: &mut LaneReader) -> (u64, u64) {
    loop {
        if let Some(offset) = reader.poll() {
            return (offset, value_of(reader.bytes(offset).unwrap()));
        }
        thread::yield_now();
    }
}

#[test]
fn two_producers_one_consumer_keep_order_and_conserve_credits() {
    check(3, || {
        let ring = ring(4, 1);
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let ring = ring.clone();
                thread::spawn(move || {
                    for i in 0..2 {
                        reserve(&ring).commit(&(p * 10 + i).to_le_bytes(), |_, _| {});
                    }
                })
            })
            .collect();

        // Each producer's frames arrive in its order, once each, at dense offsets.
        let mut reader = LaneReader::new(ring.clone(), 0);
        let mut next = [0, 10];
        for expected_offset in 0..4 {
            let (offset, value) = take(&mut reader);
            assert_eq!(offset, expected_offset);
            let producer = (value / 10) as usize;
            assert_eq!(value, next[producer]);
            next[producer] += 1;
            assert!(reader.release(offset));
        }
        producers.into_iter().for_each(|p| p.join().unwrap());
        assert_eq!(next, [2, 12]);
        assert_eq!(ring.free_credits(), ring.capacity());
    });
}

#[test]
fn credits_wrap_around_a_capacity_2_ring() {
    check(4, || {
        let ring = ring(2, 1);
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || {
                for value in 0..3u64 {
                    reserve(&ring).commit(&value.to_le_bytes(), |_, _| {});
                }
            })
        };

        // The third frame reuses slot 0 only after frame 0 was read and released.
        let mut reader = LaneReader::new(ring.clone(), 0);
        for expected in 0..3 {
            assert_eq!(take(&mut reader), (expected, expected));
            assert!(reader.release(expected));
        }
        producer.join().unwrap();
        assert_eq!(ring.free_credits(), 2);
    });
}

#[test]
fn a_dropped_reservation_leaves_no_gap_and_returns_its_credit() {
    check(4, || {
        let ring = ring(2, 1);
        let dropper = {
            let ring = ring.clone();
            thread::spawn(move || {
                drop(reserve(&ring));
                reserve(&ring).commit(&1u64.to_le_bytes(), |_, _| {});
            })
        };
        let committer = {
            let ring = ring.clone();
            thread::spawn(move || {
                reserve(&ring).commit(&2u64.to_le_bytes(), |_, _| {});
            })
        };

        let mut reader = LaneReader::new(ring.clone(), 0);
        let (first, a) = take(&mut reader);
        let (second, b) = take(&mut reader);
        assert_eq!((first, second), (0, 1));
        assert_eq!(a + b, 3);
        assert!(reader.release(first) && reader.release(second));
        dropper.join().unwrap();
        committer.join().unwrap();
        assert_eq!(ring.free_credits(), 2);
    });
}

#[test]
fn drop_oldest_and_a_take_never_both_win() {
    check(4, || {
        let ring = ring(2, 1);
        commit_value(&ring, 0);
        commit_value(&ring, 1);

        let producer = {
            let ring = ring.clone();
            thread::spawn(move || {
                if ring.try_drop_oldest().is_ok() {
                    if let Ok(reservation) = ring.try_reserve() {
                        reservation.commit(&2u64.to_le_bytes(), |_, _| {});
                    }
                }
            })
        };
        let mut reader = LaneReader::new(ring.clone(), 0);
        let mut delivered = Vec::new();
        if let Some(offset) = reader.poll() {
            delivered.push(value_of(reader.bytes(offset).unwrap()));
            assert!(reader.release(offset));
        }
        producer.join().unwrap();

        // Drain the rest: every committed frame was delivered once or dropped once.
        while let Some(offset) = reader.poll() {
            delivered.push(value_of(reader.bytes(offset).unwrap()));
            assert!(reader.release(offset));
        }
        assert!(
            delivered.windows(2).all(|w| w[0] < w[1]),
            "in order, once each"
        );
        let committed = ring.next_offset();
        let missing = (0..committed).filter(|v| !delivered.contains(v)).count() as u64;
        assert_eq!(
            missing,
            reader.dropped(),
            "a frame both dropped and delivered, or lost"
        );
        assert!(reader.dropped() <= 1);
        assert_eq!(ring.free_credits(), 2);
    });
}

#[test]
fn two_subscriptions_gate_a_slot_until_both_release() {
    check(4, || {
        let ring = ring(2, 2);
        commit_value(&ring, 0);
        commit_value(&ring, 1);

        let readers: Vec<_> = (0..2)
            .map(|s| {
                let mut reader = LaneReader::new(ring.clone(), s);
                thread::spawn(move || {
                    // Reading the bytes races with the producer's write unless gated.
                    let (offset, value) = take(&mut reader);
                    assert_eq!((offset, value), (0, 0));
                    assert!(reader.release(offset));
                    reader
                })
            })
            .collect();
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || {
                reserve(&ring).commit(&2u64.to_le_bytes(), |_, _| {});
            })
        };

        producer.join().unwrap();
        for reader in readers {
            let mut reader = reader.join().unwrap();
            assert_eq!(take(&mut reader), (1, 1));
            assert_eq!(take(&mut reader), (2, 2));
        }
    });
}
