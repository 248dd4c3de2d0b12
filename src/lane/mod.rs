//! The partition ring: one bounded, lock-free ring per topic partition, read by every subscription.
//!
//! # Shape
//!
//! A [`PartitionRing`] holds `capacity` preallocated slots of `slot_size` bytes (8-byte
//! aligned), one copy of each frame, Disruptor-style: every subscription of the topic reads
//! the same slots through its own cursors ([`LaneReader`]). A **credit** is one slot. A
//! producer takes a credit before it writes ([`PartitionRing::try_reserve`] hands it out as
//! a [`Reservation`] value) and the credit comes back only when *every* subscription has
//! released the frame (acknowledged or dead-lettered it), or when the reservation is
//! dropped without a commit.
//!
//! # The protocol of one frame
//!
//! Sequences count claims from 0; a frame's offset is `base_offset + sequence`, so offsets
//! are dense. Slot `s & (capacity - 1)` holds sequence `s`.
//!
//! 1. **Reserve.** A CAS takes one credit from the credit window (`credit.rs`), Acquire on
//!    success, so the producer sees every release that gave that credit back.
//! 2. **Claim.** `commit` takes the next sequence with one `fetch_add` (AcqRel) on the claim
//!    cursor. The credit guarantees the slot's previous frame (`sequence - capacity`) has
//!    been released by all subscriptions: at most `capacity` credits exist. A producer's
//!    commits claim in its program order, which is what keeps each producer's order when
//!    several publish into one partition (fan-in).
//! 3. **Write and stamp.** The producer copies the bytes, lets the caller patch the offset
//!    into them, then stores the slot's stamp `sequence + 1` with Release (`ring.rs`).
//! 4. **Take.** A reader takes sequences in order: it waits (returns `None`) until the next
//!    slot's stamp reads `sequence + 1` with Acquire, which makes the bytes visible, then
//!    advances its read cursor: a plain Release store on a ring without drops, a CAS where
//!    DropOldest may race with it.
//! 5. **Release.** A reader settles frames in any order, tracked in a private bitmap of
//!    `capacity` bits, and publishes its contiguous settled prefix as its released cursor
//!    (`fetch_max`, AcqRel).
//! 6. **Return.** The ring's tail is the minimum released cursor over all subscriptions
//!    (`settle.rs`). Whoever moves it (`fetch_max`, AcqRel) gives the gained credits back
//!    (`fetch_add`, AcqRel): the release chain reader, then tail, then credit, then the next
//!    producer's CAS orders the last read of a slot before its next write.
//!
//! With two or more subscriptions, two readers each publish their cursor and then read the
//! others' (store buffering); a `SeqCst` fence between the two steps makes the later of
//! them see both, so the tail never lags behind for good. With no subscription, the
//! committing producer settles frames itself, in sequence order, by the same fence pattern.
//!
//! # DropOldest
//!
//! [`PartitionRing::try_drop_oldest`] frees the oldest credit (the tail's frame) when that
//! frame is committed and no subscription has it in flight: for each subscription that
//! has not taken it, a CAS moves the read cursor past it, so exactly one of the reader's
//! take and the drop wins, and the frame is counted as dropped for that subscription. The
//! released cursor then moves with `fetch_max`, which the reader's own releases also use,
//! so neither can undo the other. Rings built with [`PartitionRing::new_without_drops`]
//! refuse drops and readers take with a plain store instead of the CAS.
//!
//! # Close
//!
//! [`PartitionRing::close`] sets the closed bit inside the credit word, so a reservation
//! either got its credit before the close or fails with `Closed`; reservations taken before
//! may still commit, and readers drain every committed frame. Waiters and doorbells are
//! woken. [`LaneReader::is_drained`] says when a subscription has taken everything that can
//! ever be committed.
//!
//! # Waiting
//!
//! Nothing on the fast path sleeps, locks or allocates. Blocking reservations spin, yield,
//! then park on an `event_listener::Event`; they announce themselves in the credit word so
//! a credit return only touches the event (a lock) when someone waits. Readers may install
//! a doorbell; a commit rings it only when the reader armed it after finding nothing.

mod credit;
mod reader;
mod ring;
mod settle;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::sync::{Arc, AtomicU64, AtomicUsize, Ordering, MAX_RING_CAPACITY};

use self::credit::CreditWindow;
use self::ring::Slots;
use self::settle::Cursor;

#[allow(unused_imports)] // NB: the whole lane API, whether or not the runtime names each type.
pub(crate) use self::credit::{Reservation, TooLarge};
#[allow(unused_imports)] // NB: the whole lane API, whether or not the runtime names each type.
pub(crate) use self::reader::{LaneReader, ReaderError};

/// The shape of one partition ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RingConfig {
    /// Slots, which are also the credits: a power of two, at least 2.
    pub(crate) capacity: usize,
    /// Bytes per slot, the largest frame: a multiple of 8.
    pub(crate) slot_size: usize,
    /// How many subscriptions read the ring; 0 settles every frame at commit.
    pub(crate) subscriptions: usize,
    /// The offset of the first frame committed.
    pub(crate) base_offset: u64,
}

/// Why a configuration was refused by [`PartitionRing::try_new`].
#[allow(dead_code)] // NB: lane API; the runtime builds rings with `new`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RingConfigError {
    /// The capacity is not a power of two in `2..=MAX_RING_CAPACITY`.
    #[error("ring capacity {0} is not a power of two between 2 and 2^30")]
    Capacity(usize),
    /// The slot size is not a multiple of 8, or slots would not fit in memory.
    #[error("slot size {0} is not a multiple of 8 or too large")]
    SlotSize(usize),
}

/// Why a reservation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReserveError {
    /// Every credit is taken.
    #[error("no free credit")]
    NoCredit,
    /// The ring was closed.
    #[error("ring closed")]
    Closed,
    /// The deadline passed before a credit came back.
    #[error("timed out waiting for a credit")]
    Timeout,
}

/// Why [`PartitionRing::try_drop_oldest`] freed no credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DropRefused {
    /// The ring was built without drops (`new_without_drops`), or has no subscription.
    #[error("ring does not drop frames")]
    Disabled,
    /// No frame is committed and unreleased: every credit is held by a reservation.
    #[error("no committed frame to drop")]
    Empty,
    /// The oldest frame is claimed but its producer has not stamped it yet.
    #[error("oldest frame not yet committed")]
    Uncommitted,
    /// A subscription holds the oldest frame in flight.
    #[error("oldest frame is in flight")]
    InFlight,
}

/// One partition's ring of frame slots, shared by its producers and subscriptions.
///
/// Built once per partition and shared through an `Arc`; see the module docs for the
/// protocol.
pub(crate) struct PartitionRing {
    /// The next sequence to claim. Written by committing producers (`fetch_add`); read by
    /// readers and queries, which may see a stale value (it only grows).
    claim: CachePadded<AtomicU64>,
    /// Every sequence below it is released by all subscriptions (its slot is free). Written
    /// by whoever settles (`fetch_max`, or CAS with no subscription); read by the same and
    /// by droppers, possibly stale (it only grows).
    tail: CachePadded<AtomicU64>,
    /// The free credits, waiters and closed bit.
    credits: CreditWindow,
    /// The slots.
    slots: Slots,
    /// One set of cursors per subscription.
    cursors: Box<[CachePadded<Cursor>]>,
    /// How many doorbells are installed. Written by `set_doorbell`; read by committers,
    /// possibly stale right after an install (the reader polls once after installing).
    doorbells: AtomicUsize,
    /// The offset of sequence 0.
    base_offset: u64,
    /// Whether DropOldest may race with readers (readers take by CAS).
    drops: bool,
}

// SAFETY: the only cells are the slots'; a slot is written only by the producer that
// claimed its sequence (which its credit makes exclusive) and read only after its stamp by
// readers holding it in flight, as the module docs lay out.
unsafe impl Sync for PartitionRing {}
// SAFETY: every field is an owned atomic, event or buffer with no thread affinity.
unsafe impl Send for PartitionRing {}

impl PartitionRing {
    /// Builds a ring, rounding the configuration into range, on which DropOldest is allowed.
    ///
    /// The capacity rounds up to a power of two in `2..=2^30`, the slot size up to a
    /// multiple of 8; [`capacity`](Self::capacity) and [`slot_size`](Self::slot_size) say
    /// what was built. Use [`try_new`](Self::try_new) to refuse instead.
    pub(crate) fn new(config: RingConfig) -> Arc<PartitionRing> {
        Arc::new(Self::build(normalized(config), true))
    }

    /// Like [`new`](Self::new), but `try_drop_oldest` is always refused and readers take
    /// frames with a plain store instead of a CAS.
    pub(crate) fn new_without_drops(config: RingConfig) -> Arc<PartitionRing> {
        Arc::new(Self::build(normalized(config), false))
    }

    /// Builds a ring (DropOldest allowed) from a configuration that must already be valid.
    ///
    /// # Errors
    ///
    /// [`RingConfigError`] when the capacity or the slot size is out of range.
    #[allow(dead_code)] // NB: lane API; the runtime builds rings with `new`.
    pub(crate) fn try_new(config: RingConfig) -> Result<Arc<PartitionRing>, RingConfigError> {
        validate(&config)?;
        Ok(Arc::new(Self::build(config, true)))
    }

    /// Allocates the slots and cursors of a validated configuration.
    fn build(config: RingConfig, drops: bool) -> Self {
        debug_assert_eq!(validate(&config), Ok(()));
        let cursors = (0..config.subscriptions)
            .map(|_| CachePadded::new(Cursor::new(0)))
            .collect();
        Self {
            claim: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            credits: CreditWindow::new(config.capacity),
            slots: Slots::new(config.capacity, config.slot_size),
            cursors,
            doorbells: AtomicUsize::new(0),
            base_offset: config.base_offset,
            drops,
        }
    }

    /// Takes a credit if one is free, without waiting.
    ///
    /// Lock-free, no syscall, no allocation.
    ///
    /// # Errors
    ///
    /// [`ReserveError::NoCredit`] when all credits are taken, [`ReserveError::Closed`] after
    /// [`close`](Self::close).
    pub(crate) fn try_reserve(&self) -> Result<Reservation<'_>, ReserveError> {
        self.credits.try_acquire()?;
        Ok(Reservation::new(self))
    }

    /// Takes a credit, waiting up to `deadline`: spin, then yield, then park.
    ///
    /// # Errors
    ///
    /// [`ReserveError::Timeout`] at the deadline, [`ReserveError::Closed`] after close.
    pub(crate) fn reserve_deadline(
        &self,
        deadline: Instant,
    ) -> Result<Reservation<'_>, ReserveError> {
        self.credits.acquire_deadline(deadline)?;
        Ok(Reservation::new(self))
    }

    /// Takes a credit, waiting asynchronously on any executor.
    ///
    /// Cancel-safe: dropping the future takes no credit.
    ///
    /// # Errors
    ///
    /// [`ReserveError::Closed`] after close.
    pub(crate) async fn reserve_async(&self) -> Result<Reservation<'_>, ReserveError> {
        self.credits.acquire_async().await?;
        Ok(Reservation::new(self))
    }

    /// Refuses every later reservation and wakes waiters and doorbells.
    ///
    /// Reservations taken before may still commit; readers drain what was committed.
    pub(crate) fn close(&self) {
        self.credits.close();
        self.cursors
            .iter()
            .for_each(|cursor| cursor.ring_doorbell_always());
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.credits.snapshot().1
    }

    /// Free credits now: a racy snapshot, stale as soon as it returns; it never exceeds
    /// [`capacity`](Self::capacity).
    pub(crate) fn free_credits(&self) -> usize {
        self.credits.snapshot().0 as usize
    }

    /// The offset the next commit gets: a racy snapshot, another producer may claim it.
    pub(crate) fn next_offset(&self) -> u64 {
        self.base_offset + self.claim.load(Ordering::Acquire)
    }

    /// Slots (and credits) of the ring.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Bytes per slot: the largest frame a commit accepts.
    pub(crate) fn slot_size(&self) -> usize {
        self.slots.slot_size()
    }

    /// How many subscriptions read the ring.
    pub(crate) fn subscriptions(&self) -> usize {
        self.cursors.len()
    }

    /// `(taken, released)` offsets of `subscription`: the next offset its reader will take
    /// and the offset below which it settled everything (the position to resume after).
    ///
    /// A racy snapshot: both only grow, and `released <= taken`. For a subscription out of
    /// range, both are the ring's tail, the offset below which every subscription settled.
    pub(crate) fn positions(&self, subscription: usize) -> (u64, u64) {
        let Some(cursor) = self.cursors.get(subscription) else {
            let tail = self.base_offset + self.tail.load(Ordering::Acquire);
            return (tail, tail);
        };
        let released = cursor.released.load(Ordering::Acquire);
        let taken = cursor.read.load(Ordering::Acquire).max(released);
        (self.base_offset + taken, self.base_offset + released)
    }

    /// Frames `DropOldest` removed from `subscription` before it took them (a racy
    /// snapshot; 0 for a subscription out of range).
    pub(crate) fn dropped(&self, subscription: usize) -> u64 {
        self.cursors
            .get(subscription)
            .map_or(0, |c| c.dropped.load(Ordering::Relaxed))
    }

    /// Installs the event a commit notifies when `subscription`'s reader armed it.
    ///
    /// Returns false (and changes nothing) when `subscription` is out of range or already
    /// has a doorbell. A reader parks like this: poll until `None`, register a listener on
    /// the doorbell, poll once more, and wait only if that poll is `None` too; an empty
    /// poll arms the doorbell, and the next commit disarms it and notifies.
    pub(crate) fn set_doorbell(
        &self,
        subscription: usize,
        doorbell: std::sync::Arc<event_listener::Event>,
    ) -> bool {
        let Some(cursor) = self.cursors.get(subscription) else {
            return false;
        };
        if !cursor.install_doorbell(doorbell) {
            return false;
        }
        self.doorbells.fetch_add(1, Ordering::Release);
        true
    }
}

impl fmt::Debug for PartitionRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionRing")
            .field("capacity", &self.capacity())
            .field("slot_size", &self.slot_size())
            .field("subscriptions", &self.subscriptions())
            .field("next_offset", &self.next_offset())
            .field("free_credits", &self.free_credits())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Checks that `config` can be built as is.
fn validate(config: &RingConfig) -> Result<(), RingConfigError> {
    let capacity = config.capacity;
    if !capacity.is_power_of_two() || !(2..=MAX_RING_CAPACITY).contains(&capacity) {
        return Err(RingConfigError::Capacity(capacity));
    }
    let fits = capacity
        .checked_mul(config.slot_size)
        .is_some_and(|b| b <= isize::MAX as usize);
    if config.slot_size % 8 != 0 || !fits {
        return Err(RingConfigError::SlotSize(config.slot_size));
    }
    Ok(())
}

/// Rounds `config` into range: capacity up to a power of two in `2..=MAX_RING_CAPACITY`,
/// slot size up to a multiple of 8 (at most what fits in memory with that capacity).
fn normalized(config: RingConfig) -> RingConfig {
    let capacity = config
        .capacity
        .clamp(2, MAX_RING_CAPACITY)
        .next_power_of_two();
    let largest = (isize::MAX as usize / capacity) & !7;
    let slot_size = config.slot_size.min(largest).div_ceil(8) * 8;
    RingConfig {
        capacity,
        slot_size,
        ..config
    }
}
