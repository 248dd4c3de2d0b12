//! The credit window of a partition ring, and [`Reservation`], a credit held as a value.
//!
//! # The credit word
//!
//! One `AtomicU64` holds the whole window, so that every question about it is answered by
//! a single atomic operation:
//!
//! ```text
//!  63        62 ..................... 32   31 ..................... 0
//! [closed] [ parked waiters (31 bits)  ] [ free credits (32 bits)   ]
//! ```
//!
//! - `try_acquire` CASes `free - 1`, Acquire on success: every credit was put back by a
//!   Release RMW and all writes to the word are RMWs, so the taker synchronizes with every
//!   earlier return (release sequence) and so with the last read of the slot it will reuse.
//! - `give_back` adds credits with one `fetch_add` (AcqRel) and learns from the value it
//!   replaced whether anybody is parked; only then does it touch the event (which locks).
//! - A parking waiter registers its listener first, then adds itself to the waiter count
//!   with an RMW that also tells it whether a credit is free or the window closed. Both
//!   sides are RMWs on one word, so one of them sees the other: either the waiter sees the
//!   credit and does not sleep, or the returner sees the waiter, synchronizes with its
//!   registration and notifies it.
//! - `close` sets the top bit; a CAS that would take a credit after it fails with `Closed`.

use std::time::Instant;

use crossbeam_utils::{Backoff, CachePadded};
use event_listener::{listener, Event, IntoNotification, Listener};

use super::{PartitionRing, ReserveError};
use crate::sync::{AtomicU64, Ordering};

/// The closed bit of the credit word.
const CLOSED: u64 = 1 << 63;
/// One parked waiter in the credit word.
const WAITER: u64 = 1 << 32;
/// The free-credit bits of the credit word.
const FREE_MASK: u64 = WAITER - 1;
/// The waiter-count bits of the credit word.
const WAITER_MASK: u64 = (CLOSED - 1) & !FREE_MASK;

/// The credits of one ring: how many slots producers may still take.
pub(super) struct CreditWindow {
    /// Free credits, parked waiters and the closed bit (see the module docs). Written by
    /// reservers (CAS), returners (`fetch_add`), waiters and `close`; every write is an RMW,
    /// so RMWs never see a stale value; plain loads are snapshots.
    word: CachePadded<AtomicU64>,
    /// The ring's size: free credits never exceed it.
    capacity: u64,
    /// Where parked reservers wait for a credit or the close.
    event: Event,
}

impl CreditWindow {
    /// A window with `capacity` free credits.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            word: CachePadded::new(AtomicU64::new(capacity as u64)),
            capacity: capacity as u64,
            event: Event::new(),
        }
    }

    /// Takes one credit if one is free.
    pub(super) fn try_acquire(&self) -> Result<(), ReserveError> {
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if word & CLOSED != 0 {
                return Err(ReserveError::Closed);
            }
            if word & FREE_MASK == 0 {
                return Err(ReserveError::NoCredit);
            }
            match self.word.compare_exchange_weak(
                word,
                word - 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => word = now,
            }
        }
    }

    /// Takes one credit, waiting up to `deadline`: spin, then yield, then park.
    pub(super) fn acquire_deadline(&self, deadline: Instant) -> Result<(), ReserveError> {
        // Spin, then yield, while a credit may come back within microseconds.
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            match self.try_acquire() {
                Err(ReserveError::NoCredit) => backoff.snooze(),
                done => return done,
            }
        }

        // Park until a credit returns, the window closes or the deadline passes.
        loop {
            match self.try_acquire() {
                Err(ReserveError::NoCredit) => {}
                done => return done,
            }
            if Instant::now() >= deadline {
                return Err(ReserveError::Timeout);
            }
            listener!(self.event => listener);
            let waiter = WaiterGuard::register(self);
            if !waiter.should_retry() {
                listener.wait_deadline(deadline);
            }
        }
    }

    /// Takes one credit, waiting asynchronously; dropping the future takes nothing.
    pub(super) async fn acquire_async(&self) -> Result<(), ReserveError> {
        loop {
            match self.try_acquire() {
                Err(ReserveError::NoCredit) => {}
                done => return done,
            }
            let listener = self.event.listen();
            let waiter = WaiterGuard::register(self);
            if !waiter.should_retry() {
                listener.await;
            }
            drop(waiter);
        }
    }

    /// Returns `n` credits and wakes as many parked waiters, if any.
    pub(super) fn give_back(&self, n: u64) {
        let before = self.word.fetch_add(n, Ordering::AcqRel);
        debug_assert!(
            (before & FREE_MASK) + n <= self.capacity,
            "credits exceed capacity"
        );

        // Only a parked waiter needs the event, and it announced itself in the word.
        if before & WAITER_MASK != 0 {
            self.event.notify((n as usize).additional());
        }
    }

    /// Closes the window: later acquisitions fail with `Closed`; every waiter wakes.
    pub(super) fn close(&self) {
        self.word.fetch_or(CLOSED, Ordering::AcqRel);
        self.event.notify(usize::MAX);
    }

    /// A snapshot of (free credits, closed), Acquire; stale as soon as it returns.
    pub(super) fn snapshot(&self) -> (u64, bool) {
        let word = self.word.load(Ordering::Acquire);
        (word & FREE_MASK, word & CLOSED != 0)
    }
}

impl std::fmt::Debug for CreditWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let word = self.word.load(Ordering::Relaxed);
        f.debug_struct("CreditWindow")
            .field("free", &(word & FREE_MASK))
            .field("waiters", &((word & WAITER_MASK) >> 32))
            .field("closed", &(word & CLOSED != 0))
            .finish()
    }
}

/// A parked waiter's place in the credit word, removed on drop.
struct WaiterGuard<'a> {
    /// The window waited on.
    window: &'a CreditWindow,
    /// The credit word just before this waiter was counted in.
    seen: u64,
}

impl<'a> WaiterGuard<'a> {
    /// Counts a waiter in; the caller registered its listener before.
    fn register(window: &'a CreditWindow) -> Self {
        let seen = window.word.fetch_add(WAITER, Ordering::AcqRel);
        Self { window, seen }
    }

    /// Whether a credit was free or the window closed when the waiter was counted in, so
    /// that sleeping could miss the wake-up.
    fn should_retry(&self) -> bool {
        self.seen & (FREE_MASK | CLOSED) != 0
    }
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.window.word.fetch_sub(WAITER, Ordering::AcqRel);
    }
}

/// One credit of a ring, held between reservation and commit.
///
/// Dropping it without [`commit`](Self::commit) gives the credit back and wakes a waiter.
#[must_use = "a reservation holds a credit until it is committed or dropped"]
pub(crate) struct Reservation<'a> {
    /// The ring whose credit this is.
    ring: &'a PartitionRing,
}

/// A frame larger than a slot, refused before any sequence was claimed; the reservation
/// comes back with it.
#[derive(Debug)]
pub(crate) struct TooLarge<'a> {
    /// The unused reservation, still holding its credit.
    pub(crate) reservation: Reservation<'a>,
    /// The refused frame's length.
    pub(crate) len: usize,
}

impl std::fmt::Display for TooLarge<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slot = self.reservation.ring.slot_size();
        write!(f, "frame of {} bytes exceeds slot size {slot}", self.len)
    }
}

impl<'a> Reservation<'a> {
    /// Wraps a credit just taken from `ring`.
    pub(super) fn new(ring: &'a PartitionRing) -> Self {
        Self { ring }
    }

    /// Publishes `bytes` as the next frame of the partition and returns its offset.
    ///
    /// Claims the next sequence, copies `bytes` into its slot, calls `patch(frame, offset)`
    /// on the copy (exactly `bytes.len()` bytes, 8-aligned) so the caller can write the
    /// offset into the frame, then stamps the slot for readers. Lock-free, no allocation.
    ///
    /// # Panics
    ///
    /// If `bytes` is longer than the ring's slot size; callers refuse such frames first
    /// (the runtime does at publish), or use [`try_commit`](Self::try_commit).
    pub(crate) fn commit(self, bytes: &[u8], patch: impl FnOnce(&mut [u8], u64)) -> u64 {
        match self.try_commit(bytes, patch) {
            Ok(offset) => offset,
            Err(refused) => panic!("{refused}"),
        }
    }

    /// Like [`commit`](Self::commit), but a frame larger than a slot is refused.
    ///
    /// # Errors
    ///
    /// [`TooLarge`], holding this reservation, when `bytes` exceeds the slot size; no
    /// sequence is used.
    pub(crate) fn try_commit(
        self,
        bytes: &[u8],
        patch: impl FnOnce(&mut [u8], u64),
    ) -> Result<u64, TooLarge<'a>> {
        if bytes.len() > self.ring.slot_size() {
            let len = bytes.len();
            return Err(TooLarge {
                reservation: self,
                len,
            });
        }

        // The credit now travels with the claimed sequence, not with this value.
        let ring = self.ring;
        std::mem::forget(self);
        Ok(ring.publish(bytes, patch))
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.ring.credits.give_back(1);
    }
}

impl std::fmt::Debug for Reservation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation").finish_non_exhaustive()
    }
}
