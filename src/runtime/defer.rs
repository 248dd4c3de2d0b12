//! Deferred frames: an agent keeps an [`AckHandle`], returns `Outcome::Defer`, and settles
//! the frame later, from any thread.
//!
//! Each lane has one `DeferTable`, shared by the lane's thread and every handle it gave out.
//! A handle registers its frame (offset, attempt, deadline) when it is made, so an ack that
//! arrives before the handler has even returned is never lost. From then on:
//!
//! - `AckHandle::ack` of the frame's current attempt removes the entry and queues the
//!   offset for the lane's thread to release (and rings its doorbell);
//! - past its deadline the lane's thread marks the entry expired and delivers the frame
//!   again from its slot: no new credit is needed, since the frame never gave its up;
//! - an ack of an expired or earlier attempt is refused as stale and changes nothing;
//!   an ack of a frame that is not deferred (settled, or never deferred) is refused too.
//!
//! The table is a cold path (frames handed to something slower), so it is a plain mutex;
//! the lane's thread skips it entirely while nothing is deferred.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use event_listener::Event;
use parking_lot::Mutex;

/// Why an ack was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// The ack is for an attempt whose deadline passed; the frame was (or is about to be)
    /// delivered again, and only the newer attempt can settle it.
    #[error("stale ack of offset {offset} attempt {attempt}: the frame's deadline passed")]
    Stale {
        /// The frame's offset.
        offset: u64,
        /// The attempt the ack was for.
        attempt: u32,
    },
    /// The frame is not deferred: already settled, or never deferred on this lane.
    #[error("ack of offset {offset}, which is not deferred")]
    Unknown {
        /// The frame's offset.
        offset: u64,
    },
}

/// One deferred frame.
#[derive(Debug, Clone, Copy)]
struct Entry {
    attempt: u32,
    deadline: Instant,
    expired: bool,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<u64, Entry>,
    /// Offsets acked by handles, for the lane's thread to release.
    acked: Vec<u64>,
    /// The latest expired attempts, (offset, attempt), oldest first: a late ack for one of
    /// them is reported as stale even after the frame was settled by a later attempt.
    expired_attempts: VecDeque<(u64, u32)>,
}

/// Expired attempts remembered for stale-ack reports.
const REMEMBERED_EXPIRIES: usize = 4096;

/// The deferred frames of one lane.
#[derive(Debug)]
pub(crate) struct DeferTable {
    inner: Mutex<Inner>,
    /// Entries plus queued acks. Written under the lock; read without it by the lane's
    /// thread, which skips the table while it reads 0 (a stale 0 delays the work by one
    /// round, since the doorbell rings after every ack).
    busy: AtomicUsize,
    /// The lane thread's doorbell, rung after an ack.
    doorbell: Arc<Event>,
}

impl DeferTable {
    pub(crate) fn new(doorbell: Arc<Event>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            busy: AtomicUsize::new(0),
            doorbell,
        }
    }

    /// Registers a frame about to be deferred; replaces any older attempt's entry.
    pub(crate) fn register(&self, offset: u64, attempt: u32, deadline: Instant) {
        let mut inner = self.inner.lock();
        inner.entries.insert(
            offset,
            Entry {
                attempt,
                deadline,
                expired: false,
            },
        );
        self.publish_busy(&inner);
    }

    /// Registers a frame the handler deferred without taking a handle (so its deadline
    /// still applies), unless a handle registered or already acked it.
    pub(crate) fn ensure_registered(&self, offset: u64, attempt: u32, deadline: Instant) {
        let mut inner = self.inner.lock();
        if inner.entries.contains_key(&offset) || inner.acked.contains(&offset) {
            return;
        }
        inner.entries.insert(
            offset,
            Entry {
                attempt,
                deadline,
                expired: false,
            },
        );
        self.publish_busy(&inner);
    }

    /// True when an ack is queued or a deadline has passed (for the idle check).
    pub(crate) fn has_due(&self, now: Instant) -> bool {
        if self.is_idle() {
            return false;
        }
        let inner = self.inner.lock();
        !inner.acked.is_empty()
            || inner
                .entries
                .values()
                .any(|e| !e.expired && e.deadline <= now)
    }

    /// Forgets a frame the lane's thread settled itself (or is about to redeliver).
    pub(crate) fn forget(&self, offset: u64) {
        if self.busy.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        inner.entries.remove(&offset);
        inner.acked.retain(|o| *o != offset);
        self.publish_busy(&inner);
    }

    /// Settles `offset` for `attempt`, from any thread.
    pub(crate) fn ack(&self, offset: u64, attempt: u32) -> Result<(), AckError> {
        let mut inner = self.inner.lock();
        match inner.entries.get(&offset) {
            Some(entry) if entry.attempt == attempt && !entry.expired => {
                inner.entries.remove(&offset);
                inner.acked.push(offset);
            }
            Some(_) => return Err(AckError::Stale { offset, attempt }),
            None if inner.expired_attempts.contains(&(offset, attempt)) => {
                return Err(AckError::Stale { offset, attempt })
            }
            None => return Err(AckError::Unknown { offset }),
        }
        self.publish_busy(&inner);
        drop(inner);
        self.doorbell.notify(usize::MAX);
        Ok(())
    }

    /// True when nothing is deferred or queued (racy, see `busy`).
    pub(crate) fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }

    /// Moves the offsets acked by handles into `out`.
    pub(crate) fn take_acked(&self, out: &mut Vec<u64>) {
        let mut inner = self.inner.lock();
        out.append(&mut inner.acked);
        self.publish_busy(&inner);
    }

    /// Marks entries past their deadline expired and moves (offset, attempt) into `out`.
    pub(crate) fn take_expired(&self, now: Instant, out: &mut Vec<(u64, u32)>) {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let from = out.len();
        for (offset, entry) in inner.entries.iter_mut() {
            if !entry.expired && entry.deadline <= now {
                entry.expired = true;
                out.push((*offset, entry.attempt));
                if inner.expired_attempts.len() == REMEMBERED_EXPIRIES {
                    inner.expired_attempts.pop_front();
                }
                inner.expired_attempts.push_back((*offset, entry.attempt));
            }
        }
        // Redeliver in offset order, as they were first delivered.
        out[from..].sort_unstable();
    }

    fn publish_busy(&self, inner: &Inner) {
        self.busy
            .store(inner.entries.len() + inner.acked.len(), Ordering::Release);
    }
}

/// Settles one deferred frame later, from any thread. Made by
/// [`Delivery::ack_handle`](crate::Delivery::ack_handle) before the handler returns
/// `Outcome::Defer`.
///
/// # Examples
///
/// ```
/// use agentlane::{Agent, AckHandle, Context, Delivery, Outcome};
///
/// struct HandsOff(std::sync::mpsc::Sender<AckHandle>);
///
/// impl Agent for HandsOff {
///     fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
///         // Something slower settles it with `handle.ack()`.
///         let _ = self.0.send(frame.ack_handle());
///         Outcome::Defer
///     }
/// }
/// ```
#[derive(Debug)]
#[must_use = "a deferred frame is redelivered at its deadline unless its handle acks it"]
pub struct AckHandle {
    pub(crate) table: Arc<DeferTable>,
    pub(crate) offset: u64,
    pub(crate) attempt: u32,
}

impl AckHandle {
    /// Settles the frame: its credit goes back once the lane's thread sees the ack.
    ///
    /// # Errors
    ///
    /// `Stale` when this attempt's ack deadline passed (the frame is delivered again, and
    /// only the new attempt settles it); `Unknown` when the frame is no longer deferred.
    pub fn ack(self) -> Result<(), AckError> {
        self.table.ack(self.offset, self.attempt)
    }

    /// The frame's offset.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The delivery attempt this handle settles.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}
