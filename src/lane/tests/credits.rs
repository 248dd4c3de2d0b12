//! Credit accounting, offsets and frame bytes, single-threaded.

use super::{commit_value, ring, value_of};
use crate::lane::{LaneReader, PartitionRing, ReaderError, ReserveError, RingConfig};

#[test]
fn dropped_reservation_returns_its_credit() {
    let ring = ring(2, 1);
    let first = ring.try_reserve().unwrap();
    let second = ring.try_reserve().unwrap();
    assert_eq!(ring.try_reserve().unwrap_err(), ReserveError::NoCredit);

    drop(first);
    assert_eq!(ring.free_credits(), 1);
    drop(second);
    assert_eq!(ring.free_credits(), 2);

    // No sequence was used: the next commit still gets offset 0.
    assert_eq!(commit_value(&ring, 7), 0);
}

#[test]
fn credits_never_exceed_capacity() {
    let ring = ring(4, 1);
    let mut reader = LaneReader::new(ring.clone(), 0);
    for round in 0..10u64 {
        let held: Vec<_> = (0..4).map(|_| ring.try_reserve().unwrap()).collect();
        assert!(ring.try_reserve().is_err());
        for (i, reservation) in held.into_iter().enumerate() {
            reservation.commit(&(round * 4 + i as u64).to_le_bytes(), |_, _| {});
        }
        while let Some(offset) = reader.poll() {
            assert_eq!(value_of(reader.bytes(offset).unwrap()), offset);
            assert!(reader.release(offset));
            assert!(ring.free_credits() <= ring.capacity());
        }
        assert_eq!(ring.free_credits(), 4);
    }
}

#[test]
fn release_out_of_order_returns_credits_over_the_settled_prefix() {
    let ring = ring(4, 1);
    let mut reader = LaneReader::new(ring.clone(), 0);
    let offsets: Vec<u64> = (0..4).map(|v| commit_value(&ring, v)).collect();
    assert_eq!(offsets, [0, 1, 2, 3]);
    for expected in 0..4 {
        assert_eq!(reader.poll(), Some(expected));
    }
    assert_eq!(reader.in_flight(), 4);

    // Releasing later frames first returns nothing: frame 0 still holds the tail.
    for (offset, free) in [(2, 0), (1, 0), (3, 0), (0, 4)] {
        assert_eq!(ring.positions(0), (4, 0));
        assert!(reader.release(offset));
        assert_eq!(ring.free_credits(), free, "after releasing {offset}");
    }
    assert_eq!(ring.positions(0), (4, 4));
    assert_eq!(ring.positions(7), (4, 4), "no such subscription: the tail");
    assert_eq!(reader.in_flight(), 0);

    // A released frame is no longer readable nor releasable.
    assert_eq!(reader.bytes(2), None);
    assert!(!reader.release(2));
}

#[test]
fn two_subscriptions_gate_a_slot_until_both_release() {
    let ring = ring(2, 2);
    let mut first = LaneReader::new(ring.clone(), 0);
    let mut second = LaneReader::new(ring.clone(), 1);
    commit_value(&ring, 10);
    commit_value(&ring, 11);

    assert_eq!(first.poll(), Some(0));
    assert!(first.release(0));
    assert_eq!(
        ring.free_credits(),
        0,
        "the second subscription still holds frame 0"
    );

    assert_eq!(second.poll(), Some(0));
    assert_eq!(value_of(second.bytes(0).unwrap()), 10);
    assert!(second.release(0));
    assert_eq!(ring.free_credits(), 1);

    // The freed slot takes frame 2; both readers then see 1 and 2 in order.
    commit_value(&ring, 12);
    for reader in [&mut first, &mut second] {
        for (offset, value) in [(1, 11), (2, 12)] {
            assert_eq!(reader.poll(), Some(offset));
            assert_eq!(value_of(reader.bytes(offset).unwrap()), value);
        }
        assert_eq!(reader.poll(), None);
    }
}

#[test]
fn zero_subscriptions_release_each_frame_at_commit() {
    let ring = ring(2, 0);
    for value in 0..5 {
        assert_eq!(commit_value(&ring, value), value);
        assert_eq!(ring.free_credits(), 2);
    }
    assert_eq!(ring.next_offset(), 5);
    assert!(LaneReader::try_new(ring.clone(), 0).is_err());
}

#[test]
fn offsets_start_at_the_base_and_patch_sees_them() {
    let config = RingConfig {
        capacity: 4,
        slot_size: 24,
        subscriptions: 1,
        base_offset: 1000,
    };
    let ring = PartitionRing::new(config);
    let mut reader = LaneReader::new(ring.clone(), 0);

    let offset = ring
        .try_reserve()
        .unwrap()
        .commit(&[0u8; 20], |frame, offset| {
            assert_eq!(frame.len(), 20);
            frame[..8].copy_from_slice(&offset.to_le_bytes());
        });
    assert_eq!(offset, 1000);
    assert_eq!(ring.next_offset(), 1001);

    assert_eq!(reader.poll(), Some(1000));
    let bytes = reader.bytes(1000).unwrap();
    assert_eq!(bytes.len(), 20);
    assert_eq!(bytes.as_ptr() as usize % 8, 0, "frames are 8-aligned");
    assert_eq!(value_of(&bytes[..8]), 1000);

    // Offsets this reader does not hold give nothing, never a panic.
    for wrong in [0, 999, 1001, u64::MAX] {
        assert_eq!(reader.bytes(wrong), None);
        assert!(!reader.release(wrong));
    }
}

#[test]
fn a_frame_larger_than_a_slot_is_refused_with_its_reservation() {
    let ring = ring(2, 1);
    let refused = ring
        .try_reserve()
        .unwrap()
        .try_commit(&[0u8; 17], |_, _| {})
        .unwrap_err();
    assert_eq!(refused.len, 17);
    assert_eq!(
        ring.free_credits(),
        1,
        "the refused reservation still holds its credit"
    );

    // The same reservation commits a frame that fits, at offset 0.
    assert_eq!(refused.reservation.commit(&[1u8; 16], |_, _| {}), 0);
}

#[test]
fn close_refuses_reservations_and_readers_drain() {
    let ring = ring(4, 1);
    let mut reader = LaneReader::new(ring.clone(), 0);
    commit_value(&ring, 1);
    let late = ring.try_reserve().unwrap();

    ring.close();
    assert!(ring.is_closed());
    assert_eq!(ring.try_reserve().unwrap_err(), ReserveError::Closed);

    // The committed frame drains; the open reservation keeps the reader undrained.
    assert_eq!(reader.poll(), Some(0));
    assert!(reader.release(0));
    assert!(
        !reader.is_drained(),
        "a reservation taken before close may still commit"
    );

    late.commit(&2u64.to_le_bytes(), |_, _| {});
    assert!(!reader.is_drained());
    assert_eq!(reader.poll(), Some(1));
    assert!(reader.is_drained());
    assert!(reader.release(1));
    assert_eq!(ring.free_credits(), 4);
}

#[test]
fn a_dropped_reservation_after_close_lets_readers_drain() {
    let ring = ring(2, 1);
    let reader = LaneReader::new(ring.clone(), 0);
    let reservation = ring.try_reserve().unwrap();
    ring.close();
    assert!(!reader.is_drained());
    drop(reservation);
    assert!(reader.is_drained());
}

#[test]
fn one_reader_per_subscription_and_drop_settles_what_it_held() {
    let ring = ring(2, 1);
    let mut reader = LaneReader::new(ring.clone(), 0);
    assert_eq!(
        LaneReader::try_new(ring.clone(), 0).unwrap_err(),
        ReaderError::AlreadyOpen(0)
    );
    assert_eq!(
        LaneReader::try_new(ring.clone(), 1).unwrap_err(),
        ReaderError::NoSuchSubscription(1)
    );

    commit_value(&ring, 5);
    commit_value(&ring, 6);
    assert_eq!(reader.poll(), Some(0));
    drop(reader);
    assert_eq!(ring.free_credits(), 1, "frame 0 was settled by the drop");

    // A new reader goes on after what the old one took.
    let mut reader = LaneReader::new(ring.clone(), 0);
    assert_eq!(reader.poll(), Some(1));
}

#[test]
fn configurations_round_into_range_or_are_refused() {
    let config = RingConfig {
        capacity: 5,
        slot_size: 13,
        subscriptions: 1,
        base_offset: 0,
    };
    assert!(PartitionRing::try_new(config).is_err());
    let ring = PartitionRing::new(config);
    assert_eq!((ring.capacity(), ring.slot_size()), (8, 16));

    let tiny = PartitionRing::new(RingConfig {
        capacity: 0,
        slot_size: 0,
        ..config
    });
    assert_eq!((tiny.capacity(), tiny.slot_size()), (2, 0));
    assert_eq!(tiny.try_reserve().unwrap().commit(&[], |_, _| {}), 0);
    assert!(PartitionRing::try_new(RingConfig {
        capacity: 1,
        slot_size: 8,
        ..config
    })
    .is_err());
}
