//! Subscription cursors, the tail that returns credits, and DropOldest.
//!
//! Each subscription has a read cursor (next sequence to take) and a released cursor
//! (every sequence below it is settled: released, or dropped before it was taken). Always
//! `tail <= released <= read <= claim`, and `read - released` frames are in flight.
//!
//! The tail is the minimum released cursor. Settling a frame moves a released cursor with
//! `fetch_max` and then recomputes the minimum; the tail moves with `fetch_max` too, and
//! the thread that moved it returns exactly the credits it gained. Both `fetch_max`es
//! mean two settlers racing (a reader and a dropper, or readers of different
//! subscriptions) can only lose to a larger value, never undo one.

use std::sync::OnceLock;

use event_listener::{Event, IntoNotification};

use super::{DropRefused, PartitionRing};
use crate::sync::{fence, AtomicBool, AtomicU64, Ordering};

/// One subscription's shared cursors.
pub(super) struct Cursor {
    /// The next sequence to take. Written by the subscription's reader (take) and by
    /// droppers (CAS past a frame nobody took); read by both and by queries (stale is fine
    /// for queries: it only grows).
    pub(super) read: AtomicU64,
    /// Every sequence below it is settled for this subscription. Written (`fetch_max`) by
    /// the reader and by droppers; read by every settler computing the tail (possibly
    /// stale, hence the fence in `advance_tail`).
    pub(super) released: AtomicU64,
    /// Frames dropped before this subscription took them. Written by droppers; read by the
    /// reader's `dropped()` (a snapshot).
    pub(super) dropped: AtomicU64,
    /// Whether a reader is open on this subscription. Written by `LaneReader::try_new`
    /// (CAS) and its drop; read by nobody else.
    pub(super) open: AtomicBool,
    /// Whether the reader found nothing and wants its doorbell rung. Set by the reader,
    /// cleared (swap) by the committer that rings it.
    pub(super) armed: AtomicBool,
    /// The reader's doorbell, installed at most once.
    doorbell: OnceLock<std::sync::Arc<Event>>,
}

impl Cursor {
    /// Cursors starting at `sequence`.
    pub(super) fn new(sequence: u64) -> Self {
        Self {
            read: AtomicU64::new(sequence),
            released: AtomicU64::new(sequence),
            dropped: AtomicU64::new(0),
            open: AtomicBool::new(false),
            armed: AtomicBool::new(false),
            doorbell: OnceLock::new(),
        }
    }

    /// Installs the doorbell; false when one is already there.
    pub(super) fn install_doorbell(&self, doorbell: std::sync::Arc<Event>) -> bool {
        self.doorbell.set(doorbell).is_ok()
    }

    /// Whether a doorbell is installed.
    pub(super) fn has_doorbell(&self) -> bool {
        self.doorbell.get().is_some()
    }

    /// Rings the doorbell when the reader armed it, disarming it (AcqRel: a reader that
    /// sees the disarm also sees the stamp that caused it).
    pub(super) fn ring_doorbell_if_armed(&self) {
        if self.armed.load(Ordering::Relaxed) && self.armed.swap(false, Ordering::AcqRel) {
            self.ring_doorbell_always();
        }
    }

    /// Rings the doorbell, armed or not.
    pub(super) fn ring_doorbell_always(&self) {
        if let Some(doorbell) = self.doorbell.get() {
            doorbell.notify(1.additional());
        }
    }
}

impl PartitionRing {
    /// Records that `subscription` settled every sequence below `released`, and returns
    /// the credits this frees.
    pub(super) fn publish_released(&self, subscription: usize, released: u64) {
        self.cursors[subscription]
            .released
            .fetch_max(released, Ordering::AcqRel);
        self.advance_tail();
    }

    /// Moves the tail to the minimum released cursor and returns the credits gained.
    fn advance_tail(&self) {
        // NB: each settler stored its own cursor before reading the others'; with two or
        // more cursors the fence makes the later settler see every earlier store.
        if self.cursors.len() > 1 {
            fence(Ordering::SeqCst);
        }
        let Some(min) = self
            .cursors
            .iter()
            .map(|c| c.released.load(Ordering::Acquire))
            .min()
        else {
            return;
        };

        let before = self.tail.fetch_max(min, Ordering::AcqRel);
        if min > before {
            self.credits.give_back(min - before);
        }
    }

    /// DropOldest: frees one credit by dropping the oldest frame from every subscription
    /// that has not taken it.
    ///
    /// Lock-free, no allocation. Each subscription that loses the frame counts one drop.
    /// On `Ok` the oldest frame was settled by every subscription (by this call, a rival
    /// dropper, or the readers), so a credit came back unless another producer took it.
    ///
    /// # Errors
    ///
    /// [`DropRefused`]: drops disabled or no subscription; nothing committed to drop; the
    /// oldest frame not yet stamped; or a subscription holds it in flight. In the last
    /// case the frame may already be dropped from other subscriptions (and counted).
    pub(crate) fn try_drop_oldest(&self) -> Result<(), DropRefused> {
        if !self.drops || self.cursors.is_empty() {
            return Err(DropRefused::Disabled);
        }
        loop {
            // The oldest frame: the tail's, if it is stamped.
            let head = self.tail.load(Ordering::Acquire);
            if !self.slots.is_committed(head) {
                if self.tail.load(Ordering::Acquire) != head {
                    continue;
                }
                let claimed = self.claim.load(Ordering::Acquire);
                return Err(if claimed > head {
                    DropRefused::Uncommitted
                } else {
                    DropRefused::Empty
                });
            }

            // Refuse before dropping anything if a reader holds it.
            if self.cursors.iter().any(|c| holds(c, head)) {
                return Err(DropRefused::InFlight);
            }

            // Drop it from each subscription that has not taken it, then settle.
            self.cursors
                .iter()
                .for_each(|cursor| drop_from(cursor, head));
            self.advance_tail();
            if self.cursors.iter().any(|c| holds(c, head)) {
                return Err(DropRefused::InFlight);
            }
            return Ok(());
        }
    }
}

/// Whether the subscription of `cursor` has `sequence` in flight (taken, not settled).
fn holds(cursor: &Cursor, sequence: u64) -> bool {
    cursor.released.load(Ordering::Acquire) <= sequence
        && cursor.read.load(Ordering::Acquire) > sequence
}

/// Drops `head`, the ring's oldest frame, from `cursor`'s subscription unless it took it.
///
/// The CAS succeeds only while the read cursor sits on `head`, which (since the released
/// cursor is at least the tail) means nothing is in flight and the reader has not taken
/// `head`; the reader's own take is a CAS on the same cursor, so exactly one wins.
fn drop_from(cursor: &Cursor, head: u64) {
    let moved = cursor
        .read
        .compare_exchange(head, head + 1, Ordering::AcqRel, Ordering::Acquire);
    if moved.is_ok() {
        cursor.dropped.fetch_add(1, Ordering::Relaxed);
        cursor.released.fetch_max(head + 1, Ordering::AcqRel);
    }
}
