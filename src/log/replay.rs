//! Replay: [`LogReader`], reading records in offset order from an offset, a time or the
//! start, and tailing the log as it grows.
//!
//! A reader maps one segment at a time ([`LogFile::map`]): sealed segments once, the active
//! segment again each time the reader has caught up with its last map and more records were
//! appended. Frames are borrowed from the map, 8-byte aligned, with no copy. A reader never
//! looks past the records the writer has published (or, with
//! [`durable_only`](LogReader::durable_only), past the durable offset), so it never sees a
//! half-written record. Every record's CRC is checked again as it is read, so damage done
//! after recovery comes out as [`LogError::Corrupt`], never as a wrong frame.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::error::{IoOp, LogError};
use super::fs::{FileBytes, LogFile};
use super::index::Seek;
use super::record::{decode_record, Decoded, Record, SEGMENT_HEADER_LEN};
use super::shared::Shared;

/// Reads records in offset order; a poll-style cursor that also waits for new records.
///
/// [`next`](Self::next) returns `None` when the reader has caught up (it is not a fused
/// iterator: records appended later come out of later calls). Each record borrows the
/// reader, so it lives until the next call.
///
/// # Examples
///
/// ```
/// use agentlane::log::{LogConfig, PartitionLog};
///
/// let dir = tempfile::tempdir()?;
/// let (mut log, _report) = PartitionLog::open(dir.path(), LogConfig::default())?;
/// log.append(10, b"frame zero")?;
/// let mut reader = log.reader_from(0)?;
/// let record = reader.next().expect("one record")?;
/// assert_eq!((record.offset, record.timestamp_ns, record.frame), (0, 10, &b"frame zero"[..]));
/// assert!(reader.next().is_none()); // caught up
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LogReader {
    shared: Arc<Shared>,
    /// The offset of the next record to return.
    next: u64,
    /// The mapped segment and the position of the record `next` in it.
    cursor: Option<Cursor>,
    /// Records earlier than this are skipped until the first one at or after it.
    min_time: Option<u64>,
    durable_only: bool,
}

/// Where the record a reader wants lies: its segment, as far as written, and a start.
struct Located {
    base: u64,
    path: PathBuf,
    file: Arc<dyn LogFile>,
    len: u64,
    seek: Seek,
}

#[derive(Debug)]
struct Cursor {
    base: u64,
    path: PathBuf,
    bytes: FileBytes,
    position: usize,
}

impl LogReader {
    /// A reader from `offset`.
    pub(crate) fn from_offset(shared: Arc<Shared>, offset: u64) -> Result<LogReader, LogError> {
        let next = shared.next_offset.load(Ordering::Acquire);
        if offset > next {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                next,
            });
        }
        let start = shared.start_offset();
        if offset < start {
            return Err(LogError::Purged {
                requested: offset,
                start,
            });
        }
        Ok(LogReader::at(shared, offset, None))
    }

    /// A reader from the first record held.
    pub(crate) fn from_start(shared: Arc<Shared>) -> LogReader {
        let start = shared.start_offset();
        LogReader::at(shared, start, None)
    }

    /// A reader from the first record at or after `timestamp_ns`.
    pub(crate) fn from_time(shared: Arc<Shared>, timestamp_ns: u64) -> LogReader {
        let found = {
            let view = shared.lock();
            view.segments
                .iter()
                .find_map(|s| s.index.times.lookup(timestamp_ns))
        };
        let next = found.map_or_else(|| shared.next_offset.load(Ordering::Acquire), |s| s.offset);
        LogReader::at(shared, next, Some(timestamp_ns))
    }

    fn at(shared: Arc<Shared>, next: u64, min_time: Option<u64>) -> LogReader {
        LogReader {
            shared,
            next,
            cursor: None,
            min_time,
            durable_only: false,
        }
    }

    /// Makes this reader stop at the durable offset instead of the next offset: it only
    /// returns records a crash can no longer take back.
    pub fn durable_only(mut self) -> LogReader {
        self.durable_only = true;
        self
    }

    /// The offset of the next record this reader returns.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The next record, or `None` when the reader has caught up for now.
    ///
    /// # Errors
    ///
    /// [`LogError::Purged`] when retention removed the next record's segment;
    /// [`LogError::Corrupt`] when a record changed on disk after recovery;
    /// [`LogError::Io`] when a segment cannot be mapped. The reader does not move past an
    /// error.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Record<'_>, LogError>> {
        loop {
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(error) => return Some(Err(error)),
            }
            let Some(min_time) = self.min_time else { break };
            match self.peek_timestamp() {
                Ok(ts) if ts < min_time => self.skip(),
                Ok(_) => self.min_time = None,
                Err(error) => return Some(Err(error)),
            }
        }
        Some(self.take())
    }

    /// Like [`next`](Self::next), but waits for a record until `deadline`; `None` at the
    /// deadline, or once the log is closed or poisoned and the reader has caught up.
    pub fn next_timeout(&mut self, deadline: Instant) -> Option<Result<Record<'_>, LogError>> {
        loop {
            match self.fill() {
                Ok(true) => break,
                Ok(false) => {}
                Err(error) => return Some(Err(error)),
            }
            if !self.wait(deadline) {
                return None;
            }
        }
        self.next()
    }

    /// Waits until a record past the reader's position is visible; false at the deadline
    /// or when none will come.
    fn wait(&self, deadline: Instant) -> bool {
        let shared = &*self.shared;
        let mut view = shared.lock();
        loop {
            if self.limit() > self.next {
                return true;
            }
            if view.closed || view.poisoned.is_some() {
                return false;
            }
            let condvar = if self.durable_only {
                &shared.synced
            } else {
                &shared.appended
            };
            if condvar.wait_until(&mut view, deadline).timed_out() {
                return self.limit() > self.next;
            }
        }
    }

    /// The offset this reader may read up to (exclusive).
    fn limit(&self) -> u64 {
        let offset = if self.durable_only {
            &self.shared.durable_offset
        } else {
            &self.shared.next_offset
        };
        offset.load(Ordering::Acquire)
    }

    /// Makes sure the cursor stands on the record `next`; false when there is none yet.
    fn fill(&mut self) -> Result<bool, LogError> {
        if self.next >= self.limit() {
            return Ok(false);
        }
        if self
            .cursor
            .as_ref()
            .is_some_and(|c| c.position < c.bytes.len())
        {
            return Ok(true);
        }
        self.remap()?;
        Ok(self
            .cursor
            .as_ref()
            .is_some_and(|c| c.position < c.bytes.len()))
    }

    /// Maps the segment holding `next` as far as it is written, and finds `next` in it.
    fn remap(&mut self) -> Result<(), LogError> {
        let Located {
            base,
            path,
            file,
            len,
            seek,
        } = self.locate()?;
        let bytes = file
            .map(len)
            .map_err(|e| LogError::io(IoOp::Read, &path, e))?;

        // The same segment, grown: the cursor already stands on `next`.
        if let Some(cursor) = self.cursor.as_mut().filter(|c| c.base == base) {
            cursor.bytes = bytes;
            return Ok(());
        }
        let mut cursor = Cursor {
            base,
            path,
            bytes,
            position: seek.position as usize,
        };
        skip_to(&mut cursor, seek.offset, self.next)?;
        self.cursor = Some(cursor);
        Ok(())
    }

    /// The segment holding `next`: base, path, file, bytes written, where to start.
    fn locate(&self) -> Result<Located, LogError> {
        let view = self.shared.lock();
        let start = view.segments.first().map_or(self.next, |s| s.base);
        if self.next < start {
            return Err(LogError::Purged {
                requested: self.next,
                start,
            });
        }
        let at = view.segments.partition_point(|s| s.base <= self.next);
        let Some(segment) = at.checked_sub(1).map(|i| &view.segments[i]) else {
            return Err(LogError::OffsetOutOfRange {
                requested: self.next,
                next: start,
            });
        };
        let first = Seek {
            offset: segment.base,
            position: SEGMENT_HEADER_LEN,
        };
        let seek = segment.index.offsets.lookup(self.next).unwrap_or(first);
        let (path, file) = (segment.path.clone(), segment.file.clone());
        Ok(Located {
            base: segment.base,
            path,
            file,
            len: segment.len,
            seek,
        })
    }

    /// The timestamp of the record under the cursor.
    fn peek_timestamp(&self) -> Result<u64, LogError> {
        let cursor = self.cursor.as_ref().ok_or(LogError::Closed)?;
        match decode_record(&cursor.bytes.as_bytes()[cursor.position..], self.next) {
            Decoded::Record(record, _) => Ok(record.timestamp_ns),
            Decoded::Damaged(damage) => Err(corrupt(cursor, self.next, damage)),
        }
    }

    /// Steps over the record under the cursor (already checked by `peek_timestamp`).
    fn skip(&mut self) {
        if let Some(cursor) = self.cursor.as_mut() {
            if let Decoded::Record(_, size) =
                decode_record(&cursor.bytes.as_bytes()[cursor.position..], self.next)
            {
                cursor.position += size;
                self.next += 1;
            }
        }
    }

    /// Returns the record under the cursor and steps over it.
    fn take(&mut self) -> Result<Record<'_>, LogError> {
        let cursor = self.cursor.as_mut().ok_or(LogError::Closed)?;
        match decode_record(&cursor.bytes.as_bytes()[cursor.position..], self.next) {
            Decoded::Record(record, size) => {
                cursor.position += size;
                self.next += 1;
                Ok(record)
            }
            Decoded::Damaged(damage) => Err(corrupt(cursor, self.next, damage)),
        }
    }
}

/// Moves a fresh cursor from the record `offset` to the record `target`.
fn skip_to(cursor: &mut Cursor, mut offset: u64, target: u64) -> Result<(), LogError> {
    while offset < target {
        match decode_record(&cursor.bytes.as_bytes()[cursor.position..], offset) {
            Decoded::Record(_, size) => cursor.position += size,
            Decoded::Damaged(damage) => return Err(corrupt(cursor, offset, damage)),
        }
        offset += 1;
    }
    Ok(())
}

fn corrupt(cursor: &Cursor, offset: u64, damage: super::error::Damage) -> LogError {
    let (segment, position) = (cursor.path.clone(), cursor.position as u64);
    LogError::Corrupt {
        segment,
        offset,
        position,
        damage,
    }
}
