//! The slots of a partition ring and the producer's side: claim, write, stamp.
//!
//! A slot holds one frame: its bytes in an 8-aligned buffer of `slot_size` bytes, its
//! length, and its stamp. The stamp is `sequence + 1` once the frame of `sequence` is
//! written (0 before the first use); it is stored with Release after the bytes and the
//! length, and readers load it with Acquire before touching either. Because a slot only
//! ever holds sequences `s, s + capacity, s + 2 * capacity, ...`, a stamp names exactly
//! one frame and a stale one can never pass for the next.

use crate::sync::{fence, AtomicU64, Ordering, UnsafeCell};

use super::PartitionRing;

/// One frame's storage.
struct Slot {
    /// `sequence + 1` of the frame last written here. Written (Release) by the producer
    /// that claimed the sequence, after the bytes; read (Acquire) by readers and settlers,
    /// who treat any other value as "not yet".
    stamp: AtomicU64,
    /// The frame's length. Written by the claiming producer before the stamp; read by
    /// readers holding the frame in flight, after the stamp.
    len: UnsafeCell<usize>,
    /// The frame's bytes, `slot_size / 8` words, zeroed at build. Same access as `len`.
    body: UnsafeCell<Box<[u64]>>,
}

/// The preallocated slots of one ring.
pub(super) struct Slots {
    /// The slots; sequence `s` lives in `slots[s & mask]`.
    slots: Box<[Slot]>,
    /// `capacity - 1`.
    mask: u64,
    /// Bytes per slot, a multiple of 8.
    slot_size: usize,
}

impl Slots {
    /// Allocates `capacity` zeroed slots of `slot_size` bytes.
    pub(super) fn new(capacity: usize, slot_size: usize) -> Self {
        debug_assert!(capacity.is_power_of_two() && slot_size % 8 == 0);
        let slots = (0..capacity)
            .map(|_| Slot {
                stamp: AtomicU64::new(0),
                len: UnsafeCell::new(0),
                body: UnsafeCell::new(vec![0u64; slot_size / 8].into_boxed_slice()),
            })
            .collect();
        Self {
            slots,
            mask: capacity as u64 - 1,
            slot_size,
        }
    }

    /// Number of slots.
    pub(super) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Bytes per slot.
    pub(super) fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// The slot holding `sequence`.
    fn slot(&self, sequence: u64) -> &Slot {
        &self.slots[(sequence & self.mask) as usize]
    }

    /// Whether the frame of `sequence` is written and stamped (Acquire: its bytes are then
    /// visible to the caller).
    pub(super) fn is_committed(&self, sequence: u64) -> bool {
        self.slot(sequence).stamp.load(Ordering::Acquire) == sequence + 1
    }

    /// Copies `bytes` into the slot of `sequence` and lets `patch` edit the copy.
    ///
    /// # Safety
    ///
    /// - The caller claimed `sequence` and has not stamped it, so no other thread touches
    ///   this slot (its previous frame is released by every subscription).
    /// - `bytes.len() <= slot_size`.
    unsafe fn write(&self, sequence: u64, bytes: &[u8], patch: impl FnOnce(&mut [u8])) {
        debug_assert!(bytes.len() <= self.slot_size);
        debug_assert!(!self.is_committed(sequence));
        let slot = self.slot(sequence);

        // SAFETY: the caller's claim makes this the only access to the slot's length.
        slot.len.with_mut(|len| unsafe { *len = bytes.len() });
        slot.body.with_mut(|body| {
            // SAFETY: the claim makes this the only access to the body, and the body holds
            // `slot_size >= bytes.len()` initialized bytes (u64 words, so any bytes are valid).
            let frame = unsafe { words_as_bytes_mut(&mut *body, bytes.len()) };
            frame.copy_from_slice(bytes);
            patch(frame);
        });
    }

    /// Stamps the slot of `sequence`, publishing its frame (Release).
    fn stamp(&self, sequence: u64) {
        self.slot(sequence)
            .stamp
            .store(sequence + 1, Ordering::Release);
    }

    /// The bytes of the committed frame of `sequence`.
    ///
    /// # Safety
    ///
    /// The frame of `sequence` is committed (its stamp was seen with Acquire) and the
    /// caller's subscription holds it in flight, so the slot is not written until the
    /// caller releases it, which the returned borrow must not outlive.
    pub(super) unsafe fn read(&self, sequence: u64) -> &[u8] {
        debug_assert!(self.is_committed(sequence));
        let slot = self.slot(sequence);

        // SAFETY: the frame is in flight for the caller: no producer writes the slot.
        let len = slot.len.with(|len| unsafe { *len });
        slot.body.with(|body| {
            // SAFETY: as above, and `len <= slot_size` was checked by the writer; the
            // borrow lives as long as the caller keeps the frame in flight.
            unsafe { words_as_bytes(&*body, len) }
        })
    }
}

/// The first `len` bytes of `words`.
///
/// # Safety
///
/// `len <= words.len() * 8`.
unsafe fn words_as_bytes(words: &[u64], len: usize) -> &[u8] {
    debug_assert!(len <= words.len() * 8);
    // SAFETY: u64 words are initialized bytes with stricter alignment, and the caller
    // bounds `len` by the buffer.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), len) }
}

/// The first `len` bytes of `words`, mutably.
///
/// # Safety
///
/// `len <= words.len() * 8`.
unsafe fn words_as_bytes_mut(words: &mut [u64], len: usize) -> &mut [u8] {
    debug_assert!(len <= words.len() * 8);
    // SAFETY: as in `words_as_bytes`; the exclusive borrow of `words` carries over.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

/// Stamps a claimed sequence when dropped, so that a panicking `patch` cannot leave a
/// claimed slot unstamped (which would stall every reader behind it).
struct StampOnDrop<'a> {
    /// The ring of the claim.
    ring: &'a PartitionRing,
    /// The claimed sequence.
    sequence: u64,
}

impl Drop for StampOnDrop<'_> {
    fn drop(&mut self) {
        self.ring.finish_commit(self.sequence);
    }
}

impl PartitionRing {
    /// Claims a sequence for `bytes`, writes and stamps it; the caller spent a credit on it.
    pub(super) fn publish(&self, bytes: &[u8], patch: impl FnOnce(&mut [u8], u64)) -> u64 {
        debug_assert!(bytes.len() <= self.slots.slot_size());

        // Claim: the credit guarantees the slot's previous frame was released (AcqRel
        // chains this claim after the returns that made room, see the module docs).
        let sequence = self.claim.fetch_add(1, Ordering::AcqRel);
        let offset = self.base_offset + sequence;
        let stamp = StampOnDrop {
            ring: self,
            sequence,
        };

        // SAFETY: this thread claimed `sequence` and stamps it only below, and the caller
        // checked the length against the slot size.
        unsafe {
            self.slots
                .write(sequence, bytes, |frame| patch(frame, offset))
        };

        // Stamp, settle if nobody subscribes, ring doorbells.
        drop(stamp);
        offset
    }

    /// Publishes the frame of `sequence` to readers and wakes those who asked.
    fn finish_commit(&self, sequence: u64) {
        self.slots.stamp(sequence);
        if self.cursors.is_empty() {
            self.settle_unwatched();
        }
        self.ring_doorbells();
    }

    /// With no subscription, moves the tail over every stamped frame and returns their
    /// credits, in sequence order.
    ///
    /// Any committer may do it for all. Each stores its stamp, then (after the fence) reads
    /// the tail and the stamps ahead of it; between two committers the later fence sees
    /// the other's stamp, so no stamped frame is left behind (store buffering).
    fn settle_unwatched(&self) {
        fence(Ordering::SeqCst);
        loop {
            let tail = self.tail.load(Ordering::Acquire);
            if !self.slots.is_committed(tail) {
                return;
            }
            let moved =
                self.tail
                    .compare_exchange(tail, tail + 1, Ordering::AcqRel, Ordering::Relaxed);
            if moved.is_ok() {
                self.credits.give_back(1);
            }
        }
    }

    /// Notifies the doorbell of each subscription whose reader armed it.
    ///
    /// The fence pairs with the reader's in `LaneReader::poll`: the reader stores `armed`
    /// and then re-reads the stamp, this thread stored the stamp and then reads `armed`;
    /// one of them sees the other's store.
    fn ring_doorbells(&self) {
        if self.doorbells.load(Ordering::Relaxed) == 0 {
            return;
        }
        fence(Ordering::SeqCst);
        self.cursors
            .iter()
            .for_each(|cursor| cursor.ring_doorbell_if_armed());
    }
}
