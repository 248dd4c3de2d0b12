//! [`LaneReader`]: one subscription's view of one partition ring, owned by one consumer.
//!
//! The reader takes frames in sequence order and settles them in any order. It keeps its
//! own copies of the cursors (`next`, `released`) and a bitmap with one bit per slot for
//! frames released out of order; the shared cursors only ever receive what it decided.
//!
//! On a ring with DropOldest, a dropper may move the shared read cursor past frames this
//! reader never took. That happens only while the reader has nothing in flight, so when a
//! take finds the cursor ahead of `next`, the skipped frames are already settled (the
//! dropper published them) and the reader simply jumps.

use std::cell::Cell;
use std::marker::PhantomData;

use super::settle::Cursor;
use super::PartitionRing;
use crate::sync::{fence, Arc, Ordering};

/// Why a reader could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReaderError {
    /// The ring has no such subscription.
    #[error("no subscription {0} on this ring")]
    NoSuchSubscription(usize),
    /// Another reader is open on this subscription.
    #[error("subscription {0} already has a reader")]
    AlreadyOpen(usize),
}

/// One subscription's reader of one partition: `Send`, not `Sync`, one per subscription.
///
/// Dropping it settles every frame it still holds in flight, so that a new reader may be
/// opened on the subscription.
pub(crate) struct LaneReader {
    /// The ring read.
    ring: Arc<PartitionRing>,
    /// The subscription's index.
    subscription: usize,
    /// The next sequence to take (the shared read cursor may be ahead after drops).
    next: u64,
    /// Every sequence below it is settled (published up to `published`).
    released: u64,
    /// What the shared released cursor was last told: the reader publishes settled frames
    /// in batches of `batch`, and whenever it finds its lane empty or is about to sleep,
    /// so credits go back with one shared write per batch instead of one per frame.
    published: u64,
    /// Settled frames held back before a publish: an eighth of the ring, at least 1.
    batch: u64,
    /// Frames taken and not yet released.
    in_flight: usize,
    /// Bit `s & (capacity - 1)` is set when `s` in `released..next` was released early.
    settled: Box<[u64]>,
    /// Keeps the reader `!Sync`: its methods assume one thread.
    _not_sync: PhantomData<Cell<()>>,
}

impl LaneReader {
    /// Opens the reader of `subscription`.
    ///
    /// # Panics
    ///
    /// If `subscription` is out of range or already has a reader (both are wiring bugs);
    /// [`try_new`](Self::try_new) returns them as errors.
    pub(crate) fn new(ring: Arc<PartitionRing>, subscription: usize) -> LaneReader {
        match Self::try_new(ring, subscription) {
            Ok(reader) => reader,
            Err(error) => panic!("{error}"),
        }
    }

    /// Opens the reader of `subscription`.
    ///
    /// # Errors
    ///
    /// [`ReaderError`] when the subscription does not exist or already has a reader.
    pub(crate) fn try_new(
        ring: Arc<PartitionRing>,
        subscription: usize,
    ) -> Result<LaneReader, ReaderError> {
        let cursor = ring
            .cursors
            .get(subscription)
            .ok_or(ReaderError::NoSuchSubscription(subscription))?;
        if cursor
            .open
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(ReaderError::AlreadyOpen(subscription));
        }

        // A previous reader settled all it held, so both cursors agree.
        let next = cursor.read.load(Ordering::Acquire);
        let settled = vec![0u64; ring.capacity().div_ceil(64)].into_boxed_slice();
        // NB: on a DropOldest ring a settled frame not yet published looks taken to a
        // dropper, which would then refuse; publish each at once there.
        let batch = if ring.drops {
            1
        } else {
            (ring.capacity() as u64 / 8).max(1)
        };
        Ok(LaneReader {
            ring,
            subscription,
            next,
            released: next,
            published: next,
            batch,
            in_flight: 0,
            settled,
            _not_sync: PhantomData,
        })
    }

    /// Takes the next committed frame, in offset order, and returns its offset.
    ///
    /// `None` when the next frame is not committed yet (also when a producer claimed it and
    /// is still writing: later frames wait behind it). Lock-free, no allocation, and it
    /// does not arm the doorbell: a spinning consumer costs its producers nothing.
    pub(crate) fn poll(&mut self) -> Option<u64> {
        loop {
            // Where to take: drops may have moved the shared cursor ahead of us.
            let sequence = self.next_to_take();
            if !self.ring.slots.is_committed(sequence) {
                self.flush();
                return None;
            }

            // Take it, unless a dropper got there first.
            if !self.take(sequence) {
                continue;
            }
            self.next = sequence + 1;
            self.in_flight += 1;
            return Some(self.ring.base_offset + sequence);
        }
    }

    /// The sequence the next take is for, jumping over frames dropped while idle.
    fn next_to_take(&mut self) -> u64 {
        if !self.ring.drops {
            return self.next;
        }
        let sequence = self.cursor().read.load(Ordering::Acquire);
        if sequence != self.next {
            debug_assert!(self.in_flight == 0 && self.released == self.next);
            self.next = sequence;
            self.released = sequence;
            self.published = sequence;
        }
        sequence
    }

    /// Moves the shared read cursor past `sequence`; false if a dropper took it first.
    fn take(&self, sequence: u64) -> bool {
        let read = &self.cursor().read;
        if !self.ring.drops {
            read.store(sequence + 1, Ordering::Release);
            return true;
        }
        read.compare_exchange(sequence, sequence + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Arms the doorbell before the consumer thread sleeps (after it registered its
    /// listener); true when a frame is committed already, so the thread must not sleep.
    /// The next commit disarms the doorbell and rings it.
    pub(crate) fn arm(&mut self) -> bool {
        self.flush();
        let sequence = self.next_to_take();
        self.ring.slots.is_committed(sequence) || self.arm_doorbell(sequence)
    }

    /// Arms the doorbell after an empty poll; true if the frame turned up meanwhile.
    ///
    /// Stores `armed`, fences, re-reads the stamp: paired with the committer's stamp,
    /// fence, read of `armed`, one side sees the other (see `ring.rs`).
    fn arm_doorbell(&self, sequence: u64) -> bool {
        let cursor = self.cursor();
        if !cursor.has_doorbell() || cursor.armed.load(Ordering::Acquire) {
            return false;
        }
        cursor.armed.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.ring.slots.is_committed(sequence)
    }

    /// The bytes of an in-flight frame (8-aligned, its exact length), or `None` when this
    /// reader does not hold `offset` in flight.
    pub(crate) fn bytes(&self, offset: u64) -> Option<&[u8]> {
        let sequence = self.in_flight_sequence(offset)?;
        // SAFETY: `sequence` is in flight for this reader: it was committed when taken and
        // its slot is not reused before `release`, which needs `&mut self`.
        Some(unsafe { self.ring.slots.read(sequence) })
    }

    /// Settles an in-flight frame (acknowledged or dead-lettered), in any order.
    ///
    /// Returns false, changing nothing, when `offset` is not in flight here. When the
    /// settled prefix grows, the subscription's released cursor moves and credits return
    /// once every subscription is past the frames. Lock-free, no allocation.
    pub(crate) fn release(&mut self, offset: u64) -> bool {
        let Some(sequence) = self.in_flight_sequence(offset) else {
            return false;
        };
        self.set_settled(sequence, true);
        self.in_flight -= 1;
        if sequence != self.released {
            return true;
        }

        // Advance over the contiguous settled prefix; publish it once a batch is ready.
        while self.released < self.next && self.is_settled(self.released) {
            self.set_settled(self.released, false);
            self.released += 1;
        }
        if self.released - self.published >= self.batch {
            self.flush();
        }
        true
    }

    /// Publishes every settled frame not yet published: their credits go back once every
    /// subscription is past them. `poll` does it on an empty lane and `arm` before a sleep,
    /// so a reader never holds back credits while idle.
    pub(crate) fn flush(&mut self) {
        if self.released != self.published {
            self.published = self.released;
            self.ring.publish_released(self.subscription, self.released);
        }
    }

    /// Frames taken and not yet released.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Frames claimed but not yet taken (racy; includes frames still being written).
    pub(crate) fn depth(&self) -> u64 {
        let claimed = self.ring.claim.load(Ordering::Acquire);
        claimed.saturating_sub(self.cursor().read.load(Ordering::Acquire))
    }

    /// Frames DropOldest removed from this subscription before it took them (snapshot).
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> u64 {
        self.ring.dropped(self.subscription)
    }

    /// Whether the ring is closed and this subscription took every frame that was or can
    /// still be committed.
    ///
    /// No reservation can start after the close, so the credit word read then fixes how
    /// many credits were ever taken; `free + claimed == capacity + tail` then says every
    /// one of them was committed (and is counted in `claimed`) or given back (see the
    /// module docs of `credit.rs` for the word, and the tail's order before credits).
    pub(crate) fn is_drained(&self) -> bool {
        let (free, closed) = self.ring.credits.snapshot();
        if !closed {
            return false;
        }
        let claimed = self.ring.claim.load(Ordering::Acquire);
        let tail = self.ring.tail.load(Ordering::Acquire);
        let capacity = self.ring.capacity() as u64;
        free + claimed == capacity + tail && self.cursor().read.load(Ordering::Acquire) >= claimed
    }

    /// The shared cursors of this subscription.
    fn cursor(&self) -> &Cursor {
        &self.ring.cursors[self.subscription]
    }

    /// The sequence of `offset` if this reader holds it in flight.
    fn in_flight_sequence(&self, offset: u64) -> Option<u64> {
        let sequence = offset.checked_sub(self.ring.base_offset)?;
        let taken = (self.released..self.next).contains(&sequence);
        (taken && !self.is_settled(sequence)).then_some(sequence)
    }

    /// Whether `sequence` was released early.
    fn is_settled(&self, sequence: u64) -> bool {
        let (word, bit) = self.bit(sequence);
        self.settled[word] & bit != 0
    }

    /// Marks `sequence` released early, or clears its mark.
    fn set_settled(&mut self, sequence: u64, settled: bool) {
        let (word, bit) = self.bit(sequence);
        if settled {
            self.settled[word] |= bit;
        } else {
            self.settled[word] &= !bit;
        }
    }

    /// The bitmap word and mask of `sequence`.
    fn bit(&self, sequence: u64) -> (usize, u64) {
        let index = sequence & (self.ring.capacity() as u64 - 1);
        ((index / 64) as usize, 1 << (index % 64))
    }
}

impl Drop for LaneReader {
    fn drop(&mut self) {
        // Settle whatever is still in flight, then let another reader open.
        if self.released != self.next {
            self.settled.fill(0);
            self.released = self.next;
        }
        self.flush();
        self.cursor().open.store(false, Ordering::Release);
    }
}

impl std::fmt::Debug for LaneReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaneReader")
            .field("subscription", &self.subscription)
            .field("next_offset", &(self.ring.base_offset + self.next))
            .field("in_flight", &self.in_flight)
            .finish()
    }
}
