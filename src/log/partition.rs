//! [`PartitionLog`]: the writer of one partition's log: append, sync, rotate, purge.
//!
//! # Writing
//!
//! Records are encoded into a reused buffer and written to the end of the active segment
//! with one `write` per append (one per segment touched, for a batch). A record that does
//! not fit in the room left rolls the log first: the active segment is synced (data, then
//! directory) and sealed, and a new segment named by the next offset is created. Sealing
//! always syncs, whatever the policy, so that a crash can never keep a newer segment while
//! losing the end of an older one.
//!
//! # Durability
//!
//! [`sync`](PartitionLog::sync) forces the active segment's data and, after a roll, the
//! directory; then the durable offset moves up to the next offset and waiters wake. The
//! [`SyncPolicy`] decides who calls it: the caller (`Never`), the first append or
//! [`maybe_sync`](PartitionLog::maybe_sync) call after the interval (`Interval`: group
//! commit, one sync for every record appended since the last), or every append (`Always`).
//!
//! # The failure latch
//!
//! A failed write, sync, roll or directory sync **poisons** the log: the bytes on disk are
//! no longer known (a failed `fsync` may have dropped dirty pages, and a retried one would
//! report success over them). Every later append and sync returns
//! [`LogError::Poisoned`] naming the first failure; waiters for durability get the same.
//! Only reopening, which runs recovery on what the disk really holds, clears it.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, error};

use super::config::{LogConfig, RecoveryMode, SyncPolicy};
use super::error::{IoOp, LogError, PoisonCause};
use super::fs::{LogFs, RealFs};
use super::record::{encode_record, record_size, SEGMENT_HEADER_LEN};
use super::recovery::{self, RecoveryReport, Scan};
use super::replay::LogReader;
use super::segment::{write_all, Segment, SegmentInfo};
use super::shared::{LogHandle, Shared};

/// The write-ahead log of one topic partition: a directory of segments.
///
/// One owner appends (`&mut self`); any number of [`LogHandle`]s and [`LogReader`]s read
/// and wait from other threads.
///
/// # Examples
///
/// ```
/// use agentlane::log::{LogConfig, PartitionLog, SyncPolicy};
///
/// let dir = tempfile::tempdir()?;
/// let config = LogConfig::default().sync(SyncPolicy::Always);
/// let (mut log, report) = PartitionLog::open(dir.path(), config)?;
/// assert_eq!(report.next_offset, 0);
///
/// assert_eq!(log.append(1_000, b"first")?, 0);
/// assert_eq!(log.append(2_000, b"second")?, 1);
/// assert_eq!(log.durable_offset(), 2); // `Always` synced both
/// log.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PartitionLog {
    fs: Arc<dyn LogFs>,
    dir: PathBuf,
    config: LogConfig,
    shared: Arc<Shared>,
    active: Active,
    /// The offset the next append gets.
    next_offset: u64,
    /// Offsets below this are durable.
    durable_offset: u64,
    /// The active segment's name is not yet durable (it was created since the last sync).
    dir_dirty: bool,
    last_sync: Instant,
    poisoned: Option<PoisonCause>,
    /// Encoded records waiting for their write, reused.
    scratch: Vec<u8>,
    /// (offset, timestamp, position) of the records in `scratch`, reused.
    pending: Vec<(u64, u64, u64)>,
}

/// What the writer keeps about the active segment.
#[derive(Debug)]
struct Active {
    segment: Segment,
    /// Timestamp of the segment's first record, for age rolls.
    first_timestamp: Option<u64>,
}

/// Offsets of a batch: the first and after the last.
pub type OffsetRange = Range<u64>;

impl PartitionLog {
    /// Opens (creating if needed) the log in `dir` on the real file system, and recovers it.
    ///
    /// # Errors
    ///
    /// See [`open_with`](Self::open_with).
    pub fn open(
        dir: impl AsRef<Path>,
        config: LogConfig,
    ) -> Result<(PartitionLog, RecoveryReport), LogError> {
        PartitionLog::open_with(RealFs::shared(), dir, config)
    }

    /// Opens (creating if needed) the log in `dir` on the file system `fs`, and recovers it.
    ///
    /// Recovery reads every segment (see the module docs of `recovery`). A torn tail is cut
    /// before this returns, under [`RecoveryMode::TolerateTornTail`], and reported.
    ///
    /// # Errors
    ///
    /// - [`LogError::Config`] for a bad configuration.
    /// - [`LogError::Corrupt`], [`LogError::BadHeader`], [`LogError::SegmentCut`],
    ///   [`LogError::SegmentGap`]: damage that is not a torn tail; nothing was changed.
    /// - [`LogError::TornTail`] under [`RecoveryMode::Strict`]; nothing was changed.
    /// - [`LogError::Io`] when the directory or a segment cannot be read or repaired.
    pub fn open_with(
        fs: Arc<dyn LogFs>,
        dir: impl AsRef<Path>,
        config: LogConfig,
    ) -> Result<(PartitionLog, RecoveryReport), LogError> {
        let dir = dir.as_ref().to_owned();
        config.validate()?;
        fs.create_dir_all(&dir)
            .map_err(|e| LogError::io(IoOp::Create, &dir, e))?;

        // Read everything; refuse damage; cut a torn tail (or refuse it, when strict).
        let mut scan = recovery::scan(&*fs, &dir, config.index_interval)?;
        let mut report = scan.report();
        if let (Some(tail), RecoveryMode::Strict) = (&scan.tail, config.recovery) {
            let (segment, offset, position, bytes) =
                (tail.segment.clone(), tail.offset, tail.position, tail.bytes);
            return Err(LogError::TornTail {
                segment,
                offset,
                position,
                bytes,
            });
        }
        report.bytes_dropped = recovery::cut_tail(&*fs, &dir, config.index_interval, &mut scan)?;

        // An empty directory gets its first segment, durable at once.
        let active = match scan.segments.last() {
            Some(last) => last.clone(),
            None => {
                let segment = Segment::create(&*fs, &dir, 0, config.index_interval)?;
                recovery::sync_file_and_dir(&*fs, &dir, &segment)?;
                scan.segments.push(segment.clone());
                segment
            }
        };
        report.segments = scan.segments.len();

        let log = PartitionLog::from_scan(fs, dir, config, scan, active);
        debug!(dir = %log.dir.display(), next_offset = log.next_offset, "opened log");
        Ok((log, report))
    }

    /// The writer over recovered segments, `active` being the last of them.
    ///
    /// The writer's copy of the active segment keeps its length and next offset; the
    /// indexes are kept only in the shared view.
    fn from_scan(
        fs: Arc<dyn LogFs>,
        dir: PathBuf,
        config: LogConfig,
        scan: Scan,
        segment: Segment,
    ) -> PartitionLog {
        let next = scan.next_offset();
        let first_timestamp = segment.index.times.range().map(|(min, _)| min);
        let shared = Arc::new(Shared::new(&dir, scan.segments, next, false));
        PartitionLog {
            fs,
            dir,
            config,
            shared,
            active: Active {
                segment,
                first_timestamp,
            },
            next_offset: next,
            durable_offset: next,
            dir_dirty: false,
            last_sync: Instant::now(),
            poisoned: None,
            scratch: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Appends one record and returns its offset.
    ///
    /// # Errors
    ///
    /// - [`LogError::TooLarge`] when `frame` is longer than `max_record_bytes`; no offset
    ///   is used and the log stays usable.
    /// - [`LogError::Poisoned`] after an earlier failure.
    /// - [`LogError::Io`] when the write, a roll or the policy's sync fails; the log is
    ///   then poisoned, and the record may or may not survive a crash.
    ///
    /// # Durability
    ///
    /// Under [`SyncPolicy::Always`] the record is durable when this returns `Ok`; otherwise
    /// once [`durable_offset`](Self::durable_offset) passes its offset.
    pub fn append(&mut self, timestamp_ns: u64, frame: &[u8]) -> Result<u64, LogError> {
        self.append_batch(&[(timestamp_ns, frame)])
            .map(|range| range.start)
    }

    /// Appends records in order as one group: one write per segment touched and, under
    /// `Always`, one sync for all. Returns their offsets.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append); [`LogError::TooLarge`] for any record refuses the whole
    /// batch before anything is written.
    ///
    /// # Durability
    ///
    /// As [`append`](Self::append), for every record of the batch.
    pub fn append_batch(&mut self, records: &[(u64, &[u8])]) -> Result<OffsetRange, LogError> {
        self.check_poisoned()?;
        let max = self.config.max_record_bytes;
        if let Some(&(_, frame)) = records.iter().find(|(_, frame)| frame.len() > max) {
            return Err(LogError::TooLarge {
                len: frame.len(),
                max,
            });
        }

        // Encode segment by segment; roll whenever the next record does not fit.
        let first = self.next_offset;
        for &(timestamp_ns, frame) in records {
            if self.must_roll(record_size(frame.len()) as u64, timestamp_ns) {
                self.flush()?;
                self.roll()?;
            }
            self.encode(timestamp_ns, frame);
        }
        self.flush()?;

        self.sync_by_policy()?;
        Ok(first..self.next_offset)
    }

    /// Whether a record of `size` bytes and this timestamp must go to a new segment.
    fn must_roll(&self, size: u64, timestamp_ns: u64) -> bool {
        let records =
            self.active.segment.next - self.active.segment.base + self.pending.len() as u64;
        if records == 0 {
            return false;
        }
        let len = self.active.segment.len + self.scratch.len() as u64;
        let full = len + size > self.config.segment_bytes;
        let first = self
            .active
            .first_timestamp
            .or(self.pending.first().map(|p| p.1));
        let old = match (self.config.segment_age, first) {
            (Some(age), Some(first)) => {
                u128::from(timestamp_ns.saturating_sub(first)) >= age.as_nanos()
            }
            _ => false,
        };
        full || old
    }

    /// Encodes one record into the scratch buffer with the next pending offset.
    fn encode(&mut self, timestamp_ns: u64, frame: &[u8]) {
        let offset = self.next_offset + self.pending.len() as u64;
        let position = self.active.segment.len + self.scratch.len() as u64;
        encode_record(&mut self.scratch, offset, timestamp_ns, frame);
        self.pending.push((offset, timestamp_ns, position));
    }

    /// Writes the scratch buffer to the active segment and publishes its records.
    fn flush(&mut self) -> Result<(), LogError> {
        if self.scratch.is_empty() {
            return Ok(());
        }
        let segment = &self.active.segment;
        if let Err(e) = write_all(&*segment.file, &self.scratch) {
            let position = segment.len;
            return Err(self.poison(IoOp::Write, segment.path.clone(), position, e));
        }

        // The records exist: advance the writer's state, then the shared view.
        let count = self.pending.len() as u64;
        self.active.segment.len += self.scratch.len() as u64;
        self.active.segment.next += count;
        self.active.first_timestamp = self
            .active
            .first_timestamp
            .or(self.pending.first().map(|p| p.1));
        self.next_offset += count;
        self.publish_active();
        self.scratch.clear();
        self.pending.clear();
        Ok(())
    }

    /// Publishes the flushed records to the shared view (indexes included) and wakes
    /// readers. The indexes live only in the shared view.
    fn publish_active(&self) {
        let mut view = self.shared.lock();
        if let Some(last) = view
            .segments
            .last_mut()
            .filter(|s| s.base == self.active.segment.base)
        {
            for &(offset, timestamp_ns, position) in &self.pending {
                last.index.observe(offset, timestamp_ns, position);
            }
            last.len = self.active.segment.len;
            last.next = self.active.segment.next;
        }
        self.shared
            .next_offset
            .store(self.next_offset, Ordering::Release);
        drop(view);
        self.shared.appended.notify_all();
    }

    /// Seals the active segment (synced, name durable) and starts a new one.
    fn roll(&mut self) -> Result<(), LogError> {
        let old = self.active.segment.path.clone();
        if let Err(e) = self.active.segment.file.sync() {
            return Err(self.poison(IoOp::Sync, old, self.active.segment.len, e));
        }
        if let Err(e) = self.fs.sync_dir(&self.dir) {
            return Err(self.poison(IoOp::Sync, self.dir.clone(), 0, e));
        }
        self.mark_durable(self.next_offset);

        // The new segment: its name becomes durable with the next sync.
        let base = self.next_offset;
        let segment = match Segment::create(&*self.fs, &self.dir, base, self.config.index_interval)
        {
            Ok(segment) => segment,
            Err(LogError::Io { op, path, source }) => return Err(self.poison(op, path, 0, source)),
            Err(other) => return Err(other),
        };
        debug!(sealed = %old.display(), new = %segment.path.display(), "rolled log segment");
        self.shared.lock().segments.push(segment.clone());
        self.active = Active {
            segment,
            first_timestamp: None,
        };
        self.dir_dirty = true;
        Ok(())
    }

    /// Seals the active segment and starts a new one, when the active one holds records.
    ///
    /// # Errors
    ///
    /// [`LogError::Poisoned`] after an earlier failure; [`LogError::Io`] when the sync of
    /// the sealed segment or the creation of the new one fails (the log is then poisoned).
    ///
    /// # Durability
    ///
    /// Every record appended so far is durable when this returns `Ok`.
    pub fn rotate(&mut self) -> Result<(), LogError> {
        self.check_poisoned()?;
        if self.active.segment.is_empty() {
            return Ok(());
        }
        self.roll()
    }

    /// Forces every appended record to disk; returns the durable offset (exclusive).
    ///
    /// # Errors
    ///
    /// [`LogError::Poisoned`] after an earlier failure; [`LogError::Io`] when the sync
    /// fails. The sync is never retried: the log is poisoned, and what the disk holds is
    /// decided by the next open's recovery.
    ///
    /// # Durability
    ///
    /// On `Ok(n)`, every record below offset `n` survives a crash.
    pub fn sync(&mut self) -> Result<u64, LogError> {
        self.check_poisoned()?;
        if self.durable_offset == self.next_offset && !self.dir_dirty {
            return Ok(self.durable_offset);
        }

        let segment = &self.active.segment;
        if let Err(e) = segment.file.sync() {
            return Err(self.poison(IoOp::Sync, segment.path.clone(), segment.len, e));
        }
        if self.dir_dirty {
            if let Err(e) = self.fs.sync_dir(&self.dir) {
                return Err(self.poison(IoOp::Sync, self.dir.clone(), 0, e));
            }
            self.dir_dirty = false;
        }
        self.last_sync = Instant::now();
        self.mark_durable(self.next_offset);
        Ok(self.durable_offset)
    }

    /// Syncs when the policy is `Interval` and the interval since the last sync has passed
    /// with records waiting; returns the durable offset either way.
    ///
    /// The thread that owns the log calls this from its loop (waking at
    /// [`next_sync_at`](Self::next_sync_at)), so that a group commit happens even when no
    /// further append comes.
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync).
    pub fn maybe_sync(&mut self, now: Instant) -> Result<u64, LogError> {
        match self.next_sync_at() {
            Some(due) if now >= due => self.sync(),
            _ => {
                self.check_poisoned()?;
                Ok(self.durable_offset)
            }
        }
    }

    /// When the next group commit is due under `Interval`; `None` when nothing waits for
    /// a sync or the policy is not `Interval`.
    pub fn next_sync_at(&self) -> Option<Instant> {
        let waiting = self.durable_offset < self.next_offset || self.dir_dirty;
        match self.config.sync {
            SyncPolicy::Interval(every) if waiting => Some(self.last_sync + every),
            _ => None,
        }
    }

    /// The sync the policy asks for after an append.
    fn sync_by_policy(&mut self) -> Result<(), LogError> {
        match self.config.sync {
            SyncPolicy::Never => Ok(()),
            SyncPolicy::Always => self.sync().map(drop),
            SyncPolicy::Interval(_) => self.maybe_sync(Instant::now()).map(drop),
        }
    }

    /// Moves the durable offset and wakes waiters.
    fn mark_durable(&mut self, offset: u64) {
        self.durable_offset = offset;
        let view = self.shared.lock();
        self.shared.durable_offset.store(offset, Ordering::Release);
        drop(view);
        self.shared.synced.notify_all();
    }

    /// Latches the first failure and returns the error for the caller.
    fn poison(
        &mut self,
        op: IoOp,
        path: PathBuf,
        position: u64,
        source: std::io::Error,
    ) -> LogError {
        let cause = PoisonCause {
            op,
            path: path.clone(),
            position,
            kind: source.kind(),
            message: source.to_string(),
        };
        let shown = path.display();
        error!(%op, path = %shown, position, error = %source, "log write failed; latched");
        self.poisoned = Some(cause.clone());
        self.shared.lock().poisoned = Some(cause);
        self.shared.synced.notify_all();
        self.shared.appended.notify_all();
        self.scratch.clear();
        self.pending.clear();
        LogError::io(op, path, source)
    }

    fn check_poisoned(&self) -> Result<(), LogError> {
        match &self.poisoned {
            Some(cause) => Err(LogError::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Removes every sealed segment whose records all lie below `offset`; returns the
    /// first offset still held. The active segment is never removed.
    ///
    /// # Errors
    ///
    /// [`LogError::Io`] when a file cannot be removed or the directory synced; the log is
    /// not poisoned by it (no record is at stake).
    pub fn purge_to(&mut self, offset: u64) -> Result<u64, LogError> {
        let removed: Vec<Segment> = {
            let mut view = self.shared.lock();
            let sealed = view.segments.len().saturating_sub(1);
            let count = view.segments[..sealed]
                .iter()
                .take_while(|s| s.next <= offset)
                .count();
            view.segments.drain(..count).collect()
        };
        for segment in &removed {
            debug!(segment = %segment.path.display(), "removing log segment");
            self.fs
                .remove(&segment.path)
                .map_err(|e| LogError::io(IoOp::Remove, &segment.path, e))?;
        }
        if !removed.is_empty() {
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| LogError::io(IoOp::Sync, &self.dir, e))?;
        }
        Ok(self.start_offset())
    }

    /// Applies the retention limits (`retention_bytes`, `retention_age`, against `now_ns`
    /// in the records' time base) by removing whole sealed segments, oldest first; returns
    /// the first offset still held.
    ///
    /// # Errors
    ///
    /// As [`purge_to`](Self::purge_to).
    pub fn apply_retention(&mut self, now_ns: u64) -> Result<u64, LogError> {
        let cut = self.retention_cut(now_ns);
        match cut {
            Some(offset) => self.purge_to(offset),
            None => Ok(self.start_offset()),
        }
    }

    /// The offset below which retention removes segments, if any.
    fn retention_cut(&self, now_ns: u64) -> Option<u64> {
        let view = self.shared.lock();
        let sealed = &view.segments[..view.segments.len().saturating_sub(1)];
        let mut total: u64 = view.segments.iter().map(|s| s.len).sum();
        let mut cut = None;
        for segment in sealed {
            let too_big = self.config.retention_bytes.is_some_and(|max| total > max);
            let newest = segment.index.times.range().map_or(0, |(_, max)| max);
            let age = Duration::from_nanos(now_ns.saturating_sub(newest));
            let too_old = self.config.retention_age.is_some_and(|max| age > max);
            if !(too_big || too_old) {
                break;
            }
            total -= segment.len;
            cut = Some(segment.next);
        }
        cut
    }

    /// Syncs and closes the log; returns the durable offset.
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync) (a poisoned log returns [`LogError::Poisoned`]); the log is
    /// closed either way.
    ///
    /// # Durability
    ///
    /// On `Ok`, every appended record is durable. Dropping the log instead does not sync.
    pub fn close(mut self) -> Result<u64, LogError> {
        let result = self.sync();
        debug!(dir = %self.dir.display(), next_offset = self.next_offset, "closed log");
        result
    }

    /// The offset the next append gets.
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// Every offset below this one is durable.
    pub fn durable_offset(&self) -> u64 {
        self.durable_offset
    }

    /// The first offset the log holds.
    pub fn start_offset(&self) -> u64 {
        self.shared.start_offset()
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// The failure that latched the log, if any.
    pub fn poisoned(&self) -> Option<&PoisonCause> {
        self.poisoned.as_ref()
    }

    /// Summaries of every segment, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.shared.segments()
    }

    /// A handle for other threads: offsets, durability waits, readers.
    pub fn handle(&self) -> LogHandle {
        LogHandle {
            shared: self.shared.clone(),
        }
    }

    /// A reader from `offset` (`next_offset` gives a reader that waits for new records).
    ///
    /// # Errors
    ///
    /// [`LogError::OffsetOutOfRange`] past the next offset, [`LogError::Purged`] before the
    /// start.
    pub fn reader_from(&self, offset: u64) -> Result<LogReader, LogError> {
        self.handle().reader_from(offset)
    }

    /// A reader from the first record whose timestamp is at or after `timestamp_ns`.
    pub fn reader_from_time(&self, timestamp_ns: u64) -> LogReader {
        self.handle().reader_from_time(timestamp_ns)
    }

    /// A reader from the first record held.
    pub fn reader_from_start(&self) -> LogReader {
        self.handle().reader_from_start()
    }
}

impl Drop for PartitionLog {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.appended.notify_all();
        self.shared.synced.notify_all();
    }
}

/// The largest frame length that fits in an empty segment of `segment_bytes` without the
/// oversized-record rule.
pub fn largest_fitting_frame(segment_bytes: u64) -> u64 {
    (segment_bytes.saturating_sub(SEGMENT_HEADER_LEN) & !7).saturating_sub(24)
}
