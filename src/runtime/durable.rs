//! Durable topics: each partition's frames are appended to its write-ahead log before any
//! subscription can see them, and consumer positions are kept on disk, so a restarted
//! runtime resumes after the last acknowledged frame.
//!
//! # Publishing
//!
//! A durable partition has one writer lock. Under it a publish takes a credit, copies the
//! frame into a scratch buffer with its partition and offset written in, appends it to the
//! log, and only then commits it to the ring. The ring's offsets start at the log's, and
//! both advance by one per publish under the lock, so a frame has the same offset in the
//! lane and on disk. A failed append gives the credit back and the error to the publisher;
//! the log then refuses further appends until the runtime is restarted (its latch).
//!
//! # Restart
//!
//! On start each partition's log is recovered, each subscription's stored position read
//! (absent: the start of the log), and the ring's first offset set to the lowest of them.
//! A feeder then commits the logged frames from there to the end of the log into the ring,
//! holding the writer lock so new publishes queue behind it; each subscription skips (and
//! releases at once) the frames below its own position. Positions are stored by the
//! runtime's log thread a few times a second and at shutdown: delivery is at least once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::frame::aligned::{as_bytes_mut, words_for};
use crate::frame::{patch, FrameRef};
use crate::lane::{PartitionRing, Reservation};
use crate::log::{
    LogConfig, LogError, LogHandle, PartitionLog, Positions, RecoveryReport, SyncPolicy,
};

/// The log side of one durable partition.
#[derive(Debug)]
pub(crate) struct DurablePartition {
    writer: Mutex<Writer>,
    pub(crate) handle: LogHandle,
    pub(crate) sync: SyncPolicy,
    /// Set by the log keeper once the frames a restart delivers again are in the ring;
    /// publishers wait for it, so new frames queue behind the replayed ones.
    fed: AtomicBool,
}

#[derive(Debug)]
struct Writer {
    log: PartitionLog,
    /// The frame being appended, with its partition and offset written in; 8-byte words so
    /// it stays aligned.
    scratch: Vec<u64>,
}

impl DurablePartition {
    /// Opens (and recovers) the log in `dir`.
    pub(crate) fn open(dir: &Path, config: LogConfig) -> Result<(Self, RecoveryReport), LogError> {
        let sync = config.sync;
        let (log, report) = PartitionLog::open(dir, config)?;
        let handle = log.handle();
        let writer = Mutex::new(Writer {
            log,
            scratch: Vec::new(),
        });
        Ok((
            Self {
                writer,
                handle,
                sync,
                fed: AtomicBool::new(false),
            },
            report,
        ))
    }

    /// Appends `bytes` to the log and commits them to `ring` under one lock, so the frame
    /// has the same offset in both. `reserve` takes the credit (it may wait, and it is
    /// called before anything is written).
    pub(crate) fn publish<'r, E>(
        &self,
        ring: &'r PartitionRing,
        partition: u32,
        bytes: &[u8],
        now_ns: u64,
        reserve: impl FnOnce(&'r PartitionRing) -> Result<Reservation<'r>, E>,
    ) -> Result<Result<u64, LogError>, E> {
        while !self.fed.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_micros(100));
        }
        let mut writer = self.writer.lock();
        let reservation = reserve(ring)?;

        // Write the partition and offset in, then append: the log gets the final bytes.
        let offset = writer.log.next_offset();
        let Writer { log, scratch } = &mut *writer;
        let frame = fill(scratch, bytes);
        let _ = patch::set_position(frame, partition, offset);
        let timestamp = FrameRef::decode(frame)
            .map(|f| f.publish_time_ns())
            .unwrap_or(now_ns);
        if let Err(error) = log.append(timestamp, frame) {
            drop(reservation);
            return Ok(Err(error));
        }

        // Only now can subscriptions see it.
        let committed = reservation.commit(frame, |_, _| {});
        debug_assert_eq!(committed, offset, "ring and log offsets diverged");
        Ok(Ok(offset))
    }

    /// Commits the logged frames from the ring's next offset to the end of the log into
    /// the ring, waiting for credits, until done or `stop` is set. Returns frames fed.
    pub(crate) fn feed(&self, ring: &PartitionRing, stop: &AtomicBool) -> Result<u64, LogError> {
        let writer = self.writer.lock();
        let fed = self.feed_locked(&writer, ring, stop);
        self.fed.store(true, Ordering::Release);
        fed
    }

    /// True when the log holds frames past the ring's next offset (after a restart).
    pub(crate) fn needs_feed(&self, ring: &PartitionRing) -> bool {
        ring.next_offset() < self.next_offset()
    }

    /// Lets publishers in without feeding: nothing to replay.
    pub(crate) fn mark_fed(&self) {
        self.fed.store(true, Ordering::Release);
    }

    fn feed_locked(
        &self,
        writer: &Writer,
        ring: &PartitionRing,
        stop: &AtomicBool,
    ) -> Result<u64, LogError> {
        let end = writer.log.next_offset();
        let mut reader = writer.log.reader_from(ring.next_offset())?;
        let mut fed = 0;
        while let Some(record) = reader.next() {
            let record = record?;
            if record.offset >= end {
                break;
            }
            let reservation = loop {
                if stop.load(Ordering::Acquire) {
                    return Ok(fed);
                }
                if let Ok(reservation) =
                    ring.reserve_deadline(Instant::now() + Duration::from_millis(50))
                {
                    break reservation;
                }
            };
            let committed = reservation.commit(record.frame, |_, _| {});
            debug_assert_eq!(committed, record.offset, "ring and log offsets diverged");
            fed += 1;
        }
        Ok(fed)
    }

    /// Runs a due group commit (`SyncPolicy::Interval`).
    pub(crate) fn maybe_sync(&self) -> Result<u64, LogError> {
        self.writer.lock().log.maybe_sync(Instant::now())
    }

    /// Makes every frame up to and including `offset` durable, syncing if needed.
    pub(crate) fn sync_through(&self, offset: u64) -> Result<(), LogError> {
        if self.handle.durable_offset() > offset {
            return Ok(());
        }
        self.writer.lock().log.sync().map(drop)
    }

    /// Syncs everything appended.
    pub(crate) fn sync(&self) -> Result<u64, LogError> {
        self.writer.lock().log.sync()
    }

    /// The offset the next append gets.
    pub(crate) fn next_offset(&self) -> u64 {
        self.handle.next_offset()
    }

    /// The partition directory.
    pub(crate) fn dir(&self) -> &Path {
        self.handle.dir()
    }
}

/// Copies `bytes` into `scratch` (8-byte words, so aligned) and returns them as bytes.
fn fill<'s>(scratch: &'s mut Vec<u64>, bytes: &[u8]) -> &'s mut [u8] {
    scratch.clear();
    scratch.resize(words_for(bytes.len()), 0);
    let frame = &mut as_bytes_mut(scratch)[..bytes.len()];
    frame.copy_from_slice(bytes);
    frame
}

/// The log side of one durable topic: its partitions and its stored positions.
#[derive(Debug)]
pub(crate) struct DurableTopic {
    pub(crate) dir: PathBuf,
    pub(crate) partitions: Vec<DurablePartition>,
    pub(crate) positions: Mutex<Positions>,
}

impl DurableTopic {
    /// The directory of partition `p` of the topic in `dir`.
    pub(crate) fn partition_dir(dir: &Path, partition: u32) -> PathBuf {
        dir.join(crate::log::partition_dir_name(partition))
    }
}
