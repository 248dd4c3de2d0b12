//! The state the writer shares with readers and waiters, and [`LogHandle`] over it.
//!
//! The writer ([`PartitionLog`](super::PartitionLog), one thread at a time through
//! `&mut self`) is the only one that changes this state; it does so under one mutex after
//! each write, roll, sync or purge, and wakes waiters on two condition variables: one for
//! appended records, one for durable ones. Readers and waiters take the mutex to copy what
//! they need; the two offsets are also mirrored in atomics for lock-free queries.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::error::{LogError, PoisonCause};
use super::replay::LogReader;
use super::segment::{Segment, SegmentInfo};

/// The state behind the mutex.
#[derive(Debug)]
pub(crate) struct View {
    /// Every segment, oldest first; the last is the active one.
    pub(crate) segments: Vec<Segment>,
    /// The first failure, once the writer latched.
    pub(crate) poisoned: Option<PoisonCause>,
    /// Set when the writer is closed or dropped.
    pub(crate) closed: bool,
}

/// What the writer shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) view: Mutex<View>,
    /// Written by the writer under `view`'s lock; read anywhere (may be stale by a write).
    pub(crate) next_offset: AtomicU64,
    /// Written by the writer under `view`'s lock; read anywhere (may be stale by a sync).
    pub(crate) durable_offset: AtomicU64,
    pub(crate) appended: Condvar,
    pub(crate) synced: Condvar,
}

impl Shared {
    /// Shared state over recovered segments, all of which count as durable.
    pub(crate) fn new(dir: &Path, segments: Vec<Segment>, next: u64, closed: bool) -> Shared {
        Shared {
            dir: dir.to_owned(),
            view: Mutex::new(View {
                segments,
                poisoned: None,
                closed,
            }),
            next_offset: AtomicU64::new(next),
            durable_offset: AtomicU64::new(next),
            appended: Condvar::new(),
            synced: Condvar::new(),
        }
    }

    /// Locks the view.
    pub(crate) fn lock(&self) -> MutexGuard<'_, View> {
        self.view.lock()
    }

    /// The first offset still held.
    pub(crate) fn start_offset(&self) -> u64 {
        let view = self.lock();
        view.segments
            .first()
            .map_or(self.next_offset.load(Ordering::Acquire), |s| s.base)
    }

    /// Summaries of every segment.
    pub(crate) fn segments(&self) -> Vec<SegmentInfo> {
        self.lock().segments.iter().map(Segment::info).collect()
    }
}

/// A cheap, cloneable, thread-safe handle on a partition log: offsets, durability waits
/// and readers, without the right to write.
///
/// This is what a publisher of a durable topic holds: it appends through the log's owner,
/// then waits with [`wait_durable`](Self::wait_durable) for the offset it got.
#[derive(Debug, Clone)]
pub struct LogHandle {
    pub(crate) shared: Arc<Shared>,
}

impl LogHandle {
    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The offset the next append will get. Racy: may be stale by the time it returns.
    pub fn next_offset(&self) -> u64 {
        self.shared.next_offset.load(Ordering::Acquire)
    }

    /// Every offset below this one is durable. Racy in the same way as `next_offset`.
    pub fn durable_offset(&self) -> u64 {
        self.shared.durable_offset.load(Ordering::Acquire)
    }

    /// The first offset the log still holds (after retention).
    pub fn start_offset(&self) -> u64 {
        self.shared.start_offset()
    }

    /// Summaries of every segment, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.shared.segments()
    }

    /// Blocks until the record at `offset` is durable, and returns the durable offset.
    ///
    /// # Errors
    ///
    /// [`LogError::Timeout`] at `deadline`; [`LogError::Poisoned`] when the log latched a
    /// failure before the record became durable; [`LogError::Closed`] when the log was
    /// closed or dropped first.
    ///
    /// # Durability
    ///
    /// On `Ok`, a sync that covered the record has returned: it survives a crash.
    pub fn wait_durable(&self, offset: u64, deadline: Instant) -> Result<u64, LogError> {
        let shared = &*self.shared;
        let mut view = shared.lock();
        loop {
            let durable = shared.durable_offset.load(Ordering::Acquire);
            if durable > offset {
                return Ok(durable);
            }
            if let Some(cause) = &view.poisoned {
                return Err(LogError::Poisoned {
                    cause: cause.clone(),
                });
            }
            if view.closed {
                return Err(LogError::Closed);
            }
            if shared.synced.wait_until(&mut view, deadline).timed_out() {
                let durable = shared.durable_offset.load(Ordering::Acquire);
                return if durable > offset {
                    Ok(durable)
                } else {
                    Err(LogError::Timeout { offset })
                };
            }
        }
    }

    /// A reader from `offset`; see [`LogReader`].
    ///
    /// # Errors
    ///
    /// [`LogError::OffsetOutOfRange`] past the next offset, [`LogError::Purged`] before the
    /// start.
    pub fn reader_from(&self, offset: u64) -> Result<LogReader, LogError> {
        LogReader::from_offset(self.shared.clone(), offset)
    }

    /// A reader from the first record whose timestamp is at or after `timestamp_ns`.
    pub fn reader_from_time(&self, timestamp_ns: u64) -> LogReader {
        LogReader::from_time(self.shared.clone(), timestamp_ns)
    }

    /// A reader from the first record the log holds.
    pub fn reader_from_start(&self) -> LogReader {
        LogReader::from_start(self.shared.clone())
    }
}
