//! Tests of the partition ring: credit accounting, loom models, multi-threaded stress.

#[cfg(not(loom))]
mod credits;
#[cfg(not(loom))]
mod drops;
#[cfg(loom)]
mod models;
#[cfg(not(loom))]
mod stress;
#[cfg(not(loom))]
mod waiting;

use super::{PartitionRing, RingConfig};
use crate::sync::Arc;

/// A ring of `capacity` 16-byte slots read by `subscriptions`, offsets from 0.
fn ring(capacity: usize, subscriptions: usize) -> Arc<PartitionRing> {
    PartitionRing::new(RingConfig {
        capacity,
        slot_size: 16,
        subscriptions,
        base_offset: 0,
    })
}

/// Commits an 8-byte frame holding `value`; returns its offset.
fn commit_value(ring: &PartitionRing, value: u64) -> u64 {
    let reservation = ring.try_reserve().expect("a free credit");
    reservation.commit(&value.to_le_bytes(), |_, _| {})
}

/// The value of an 8-byte frame.
fn value_of(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("an 8-byte frame"))
}
