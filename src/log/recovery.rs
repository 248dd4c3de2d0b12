//! Recovery: reading a partition directory back into segments, and classifying damage.
//!
//! # The algorithm
//!
//! 1. List the directory; files named like segments (`<20 digits>.seg`) are sorted by base
//!    offset, other files are reported as foreign and left alone.
//! 2. For each segment, check the header (magic, version, base offset = file name, CRC),
//!    then decode records from byte 32 on, each expected to carry the next offset, and feed
//!    the offset and time indexes.
//! 3. At the first record that fails (short, bad length, wrong offset, non-zero padding,
//!    bad CRC), look for any valid record at a later 8-byte boundary of the same segment
//!    ([`find_valid_after`]):
//!    - found: **corruption** ([`LogError::Corrupt`]), in any mode;
//!    - not found, last segment: a **torn tail**, which the caller cuts or refuses;
//!    - not found, sealed segment: a **cut segment** ([`LogError::SegmentCut`]) naming the
//!      offsets lost up to the next segment's base.
//! 4. Neighbouring segments must continue each other's offsets ([`LogError::SegmentGap`]).
//!
//! A last segment shorter than its header, or with a bad header and nothing after it, is a
//! crash while it was being created: a torn tail at byte 0, repaired by writing the header
//! again.
//!
//! Scanning never changes a file: [`scan`] only reads, so a refused open leaves the
//! directory byte for byte as it was, and `agentlane log verify` uses the same code.

use std::path::{Path, PathBuf};

use tracing::warn;

use super::error::{Damage, IoOp, LogError};
use super::fs::LogFs;
use super::index::SegmentIndex;
use super::record::{check_header, decode_record, find_valid_after, Decoded, SEGMENT_HEADER_LEN};
use super::segment::{parse_segment_name, Segment};

/// A torn tail: the end of the last segment that recovery cuts (or would cut).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: PathBuf,
    /// The offset of the first record dropped.
    pub offset: u64,
    /// Byte position where the valid records end (the cut).
    pub position: u64,
    /// Bytes after the cut.
    pub bytes: u64,
    /// What was wrong with the first dropped bytes.
    pub damage: Damage,
}

/// What opening a log found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments in the log after recovery.
    pub segments: usize,
    /// The first offset the log holds.
    pub start_offset: u64,
    /// The offset the next append gets.
    pub next_offset: u64,
    /// The torn tail found, if any.
    pub torn_tail: Option<TornTail>,
    /// Bytes cut from the end of the log (0 when nothing was cut, and for read-only opens).
    pub bytes_dropped: u64,
    /// Names of files in the directory that are not segments.
    pub foreign_files: Vec<String>,
}

/// The result of reading a directory: the valid segments and the torn tail, if any.
#[derive(Debug)]
pub(crate) struct Scan {
    pub(crate) segments: Vec<Segment>,
    pub(crate) tail: Option<TornTail>,
    /// The base offset of a last segment whose header was torn (left out of `segments`).
    pub(crate) torn_header_base: Option<u64>,
    pub(crate) foreign: Vec<String>,
}

impl Scan {
    /// The offset the next append gets.
    pub(crate) fn next_offset(&self) -> u64 {
        let last = self.segments.last().map(|s| s.next);
        self.torn_header_base.or(last).unwrap_or(0)
    }

    /// The report of this scan, before any repair.
    pub(crate) fn report(&self) -> RecoveryReport {
        RecoveryReport {
            segments: self.segments.len(),
            start_offset: self.segments.first().map_or(self.next_offset(), |s| s.base),
            next_offset: self.next_offset(),
            torn_tail: self.tail.clone(),
            bytes_dropped: 0,
            foreign_files: self.foreign.clone(),
        }
    }
}

/// Reads every segment of `dir` without changing anything.
///
/// # Errors
///
/// [`LogError::Io`] when the directory or a segment cannot be read; [`LogError::BadHeader`],
/// [`LogError::Corrupt`], [`LogError::SegmentCut`] or [`LogError::SegmentGap`] for damage
/// that is not a torn tail.
pub(crate) fn scan(fs: &dyn LogFs, dir: &Path, interval: u32) -> Result<Scan, LogError> {
    let names = fs.list(dir).map_err(|e| LogError::io(IoOp::List, dir, e))?;
    let (mut bases, foreign) = split_names(names);
    bases.sort_unstable();

    let mut scan = Scan {
        segments: Vec::new(),
        tail: None,
        torn_header_base: None,
        foreign,
    };
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        if let Some(prev) = scan.segments.last() {
            check_continuity(prev, base, &dir.join(super::segment_file_name(base)))?;
        }
        scan_segment(fs, dir, base, next_base, interval, &mut scan)?;
    }
    Ok(scan)
}

/// Splits directory entries into segment base offsets and foreign names.
fn split_names(names: Vec<String>) -> (Vec<u64>, Vec<String>) {
    let mut bases = Vec::new();
    let mut foreign = Vec::new();
    for name in names {
        match parse_segment_name(&name) {
            Some(base) => bases.push(base),
            None => foreign.push(name),
        }
    }
    foreign.sort();
    (bases, foreign)
}

/// Checks that a segment starting at `base` continues `prev`.
fn check_continuity(prev: &Segment, base: u64, path: &Path) -> Result<(), LogError> {
    if prev.next < base {
        return Err(LogError::SegmentGap {
            segment: path.to_owned(),
            lost: prev.next..base,
        });
    }
    if prev.next > base {
        let (offset, position) = (base, 0);
        let damage = Damage::BaseOffset;
        return Err(LogError::Corrupt {
            segment: path.to_owned(),
            offset,
            position,
            damage,
        });
    }
    Ok(())
}

/// Reads one segment, pushing it (or its torn tail) into `scan`.
fn scan_segment(
    fs: &dyn LogFs,
    dir: &Path,
    base: u64,
    next_base: Option<u64>,
    interval: u32,
    scan: &mut Scan,
) -> Result<(), LogError> {
    let path = dir.join(super::segment_file_name(base));
    let file = fs
        .open(&path)
        .map_err(|e| LogError::io(IoOp::Open, &path, e))?;
    let len = file.len().map_err(|e| LogError::io(IoOp::Read, &path, e))?;
    let bytes = file
        .map(len)
        .map_err(|e| LogError::io(IoOp::Read, &path, e))?;
    let bytes = bytes.as_bytes();

    // The header; a torn one is repairable only at the very end of the log.
    if let Err(damage) = check_header(bytes, base) {
        let torn = next_base.is_none() && len <= SEGMENT_HEADER_LEN;
        if !torn {
            return Err(LogError::BadHeader {
                segment: path,
                damage,
            });
        }
        scan.torn_header_base = Some(base);
        scan.tail = Some(TornTail {
            segment: path,
            offset: base,
            position: 0,
            bytes: len,
            damage,
        });
        return Ok(());
    }

    // The records, up to the end or the first damage.
    let mut segment = Segment {
        base,
        path,
        file,
        len: SEGMENT_HEADER_LEN,
        next: base,
        index: SegmentIndex::new(interval),
    };
    let damage = read_records(bytes, &mut segment);
    if let Some(damage) = damage {
        classify(bytes, &segment, damage, next_base, scan)?;
    }
    scan.segments.push(segment);
    Ok(())
}

/// Decodes records into `segment` until the end or the first damage, which it returns.
fn read_records(bytes: &[u8], segment: &mut Segment) -> Option<Damage> {
    let mut position = SEGMENT_HEADER_LEN as usize;
    while position < bytes.len() {
        match decode_record(&bytes[position..], segment.next) {
            Decoded::Record(record, size) => {
                segment
                    .index
                    .observe(record.offset, record.timestamp_ns, position as u64);
                position += size;
                segment.next += 1;
                segment.len = position as u64;
            }
            Decoded::Damaged(damage) => return Some(damage),
        }
    }
    None
}

/// Decides what damage at the end of `segment`'s valid records means.
fn classify(
    bytes: &[u8],
    segment: &Segment,
    damage: Damage,
    next_base: Option<u64>,
    scan: &mut Scan,
) -> Result<(), LogError> {
    let position = segment.len;
    let (path, offset) = (segment.path.clone(), segment.next);

    // Good records after the damage: never skipped, never cut.
    if find_valid_after(bytes, position as usize + 8, offset).is_some() {
        return Err(LogError::Corrupt {
            segment: path,
            offset,
            position,
            damage,
        });
    }
    match next_base {
        Some(next) if next > offset => Err(LogError::SegmentCut {
            segment: path,
            position,
            lost: offset..next,
        }),
        Some(_) => Err(LogError::Corrupt {
            segment: path,
            offset,
            position,
            damage,
        }),
        None => {
            let bytes = bytes.len() as u64 - position;
            scan.tail = Some(TornTail {
                segment: path,
                offset,
                position,
                bytes,
                damage,
            });
            Ok(())
        }
    }
}

/// Cuts the torn tail found by `scan`, before any append; returns the bytes dropped.
///
/// # Errors
///
/// [`LogError::Io`] when the cut or its sync fails.
pub(crate) fn cut_tail(
    fs: &dyn LogFs,
    dir: &Path,
    interval: u32,
    scan: &mut Scan,
) -> Result<u64, LogError> {
    let Some(tail) = scan.tail.clone() else {
        return Ok(0);
    };
    warn!(
        segment = %tail.segment.display(),
        offset = tail.offset,
        position = tail.position,
        bytes = tail.bytes,
        damage = %tail.damage,
        "cutting torn tail of the log"
    );

    // A torn header: write the segment again from scratch.
    if let Some(base) = scan.torn_header_base.take() {
        let segment = Segment::create(fs, dir, base, interval)?;
        sync_file_and_dir(fs, dir, &segment)?;
        scan.segments.push(segment);
        return Ok(tail.bytes);
    }

    // A torn record: cut the last segment where its valid records end.
    let Some(segment) = scan.segments.last() else {
        return Ok(0);
    };
    let path = &segment.path;
    segment
        .file
        .truncate(tail.position)
        .map_err(|e| LogError::io(IoOp::Truncate, path, e))?;
    segment
        .file
        .sync()
        .map_err(|e| LogError::io(IoOp::Sync, path, e))?;
    Ok(tail.bytes)
}

/// Makes a new segment's bytes and name durable.
pub(crate) fn sync_file_and_dir(
    fs: &dyn LogFs,
    dir: &Path,
    segment: &Segment,
) -> Result<(), LogError> {
    segment
        .file
        .sync()
        .map_err(|e| LogError::io(IoOp::Sync, &segment.path, e))?;
    fs.sync_dir(dir)
        .map_err(|e| LogError::io(IoOp::Sync, dir, e))
}
