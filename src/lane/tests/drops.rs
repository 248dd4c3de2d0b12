//! DropOldest, single-threaded: what is dropped, what is refused, how it is counted.

use super::{commit_value, ring, value_of};
use crate::lane::{DropRefused, LaneReader, PartitionRing, RingConfig};

#[test]
fn drop_oldest_frees_a_credit_and_counts_it_per_subscription() {
    let ring = ring(2, 2);
    let mut first = LaneReader::new(ring.clone(), 0);
    let mut second = LaneReader::new(ring.clone(), 1);
    commit_value(&ring, 0);
    commit_value(&ring, 1);

    // The first subscription took and settled frame 0; only the second loses it.
    assert_eq!(first.poll(), Some(0));
    assert!(first.release(0));
    assert_eq!(ring.try_drop_oldest(), Ok(()));
    assert_eq!(ring.free_credits(), 1);
    assert_eq!((first.dropped(), second.dropped()), (0, 1));

    // The second subscription skips to frame 1.
    assert_eq!(second.poll(), Some(1));
    assert_eq!(value_of(second.bytes(1).unwrap()), 1);
}

#[test]
fn drop_oldest_is_refused_while_a_subscription_holds_the_frame() {
    let ring = ring(2, 2);
    let mut first = LaneReader::new(ring.clone(), 0);
    let second = LaneReader::new(ring.clone(), 1);
    commit_value(&ring, 0);
    commit_value(&ring, 1);
    assert_eq!(first.poll(), Some(0));

    assert_eq!(ring.try_drop_oldest(), Err(DropRefused::InFlight));
    assert_eq!(
        (first.dropped(), second.dropped()),
        (0, 0),
        "nothing dropped on refusal"
    );

    assert!(first.release(0));
    assert_eq!(ring.try_drop_oldest(), Ok(()));
    assert_eq!(second.dropped(), 1);
}

#[test]
fn drop_oldest_refuses_when_nothing_is_committed() {
    let ring = ring(2, 1);
    assert_eq!(ring.try_drop_oldest(), Err(DropRefused::Empty));
    let _held = ring.try_reserve().unwrap();
    assert_eq!(ring.try_drop_oldest(), Err(DropRefused::Empty));

    let config = RingConfig {
        capacity: 2,
        slot_size: 8,
        subscriptions: 1,
        base_offset: 0,
    };
    let lossless = PartitionRing::new_without_drops(config);
    commit_value(&lossless, 1);
    assert_eq!(lossless.try_drop_oldest(), Err(DropRefused::Disabled));
}

#[test]
fn every_frame_is_delivered_or_counted_dropped() {
    let ring = ring(4, 1);
    let mut reader = LaneReader::new(ring.clone(), 0);
    let mut delivered = Vec::new();
    for value in 0..40u64 {
        while ring.free_credits() == 0 {
            ring.try_drop_oldest().unwrap();
        }
        commit_value(&ring, value);
        if value % 3 == 0 {
            let offset = reader.poll().unwrap();
            delivered.push(value_of(reader.bytes(offset).unwrap()));
            assert!(reader.release(offset));
        }
    }
    while let Some(offset) = reader.poll() {
        delivered.push(value_of(reader.bytes(offset).unwrap()));
        assert!(reader.release(offset));
    }
    assert!(
        delivered.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicate"
    );
    assert_eq!(delivered.len() as u64 + reader.dropped(), 40);
    assert_eq!(ring.free_credits(), 4);
}
