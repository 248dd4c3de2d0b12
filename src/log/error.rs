//! The log's errors: what failed, on which segment, at which offset or byte position.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::PathBuf;

/// An I/O operation of the log, as named in errors and in the failure latch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IoOp {
    /// Creating a file or directory.
    Create,
    /// Opening a file.
    Open,
    /// Listing a directory.
    List,
    /// Reading or mapping a file.
    Read,
    /// Writing (appending to) a file.
    Write,
    /// Forcing a file or directory to disk.
    Sync,
    /// Cutting a file to a length.
    Truncate,
    /// Renaming a file.
    Rename,
    /// Removing a file.
    Remove,
}

impl fmt::Display for IoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self {
            IoOp::Create => "create",
            IoOp::Open => "open",
            IoOp::List => "list",
            IoOp::Read => "read",
            IoOp::Write => "write",
            IoOp::Sync => "sync",
            IoOp::Truncate => "truncate",
            IoOp::Rename => "rename",
            IoOp::Remove => "remove",
        };
        f.write_str(word)
    }
}

/// Why a record or a segment header failed its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Damage {
    /// The stored CRC-32C does not match the bytes.
    Checksum,
    /// The record claims more bytes than the segment holds.
    Truncated,
    /// The record's length is over the format's limit.
    Length,
    /// The record's offset is not the next one expected.
    Offset,
    /// Padding bytes after the frame are not zero.
    Padding,
    /// The segment header's magic number is wrong.
    Magic,
    /// The segment was written by a format version this code does not know.
    Version(u16),
    /// The segment header's base offset disagrees with the file name.
    BaseOffset,
    /// A reserved header field is not zero.
    Reserved,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Checksum => f.write_str("checksum mismatch"),
            Damage::Truncated => f.write_str("record runs past the end of the segment"),
            Damage::Length => f.write_str("record length over the format limit"),
            Damage::Offset => f.write_str("unexpected record offset"),
            Damage::Padding => f.write_str("non-zero padding"),
            Damage::Magic => f.write_str("bad magic number"),
            Damage::Version(v) => write!(f, "unknown format version {v}"),
            Damage::BaseOffset => f.write_str("base offset disagrees with the file name"),
            Damage::Reserved => f.write_str("reserved field not zero"),
        }
    }
}

/// The first failure that latched a log, kept so that later refusals can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoisonCause {
    /// The operation that failed.
    pub op: IoOp,
    /// The file it failed on.
    pub path: PathBuf,
    /// The byte position in that file where the log was writing, when it applies.
    pub position: u64,
    /// The kind of the I/O error.
    pub kind: io::ErrorKind,
    /// The I/O error's message.
    pub message: String,
}

impl fmt::Display for PoisonCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (op, path, pos) = (self.op, self.path.display(), self.position);
        write!(f, "{op} of {path} at byte {pos} failed: {}", self.message)
    }
}

/// An error of the log.
///
/// Storage errors are layered: [`LogError::Io`] carries the `io::Error` as its source, the
/// other variants describe what the log found, with the segment and the offset or byte
/// position as fields.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// An I/O operation failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// The operation.
        op: IoOp,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A record or header is damaged and good records follow it, or the damage is in a
    /// place a crash cannot explain. Nothing was changed on disk.
    #[error(
        "corrupt record at offset {offset} in {} (byte {position}): {damage}",
        segment.display()
    )]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// The offset the damaged record should have had.
        offset: u64,
        /// Byte position of the damaged record in the segment.
        position: u64,
        /// What is wrong.
        damage: Damage,
    },

    /// A segment header is damaged.
    #[error("bad segment header in {}: {damage}", segment.display())]
    BadHeader {
        /// The segment file.
        segment: PathBuf,
        /// What is wrong.
        damage: Damage,
    },

    /// A sealed segment ends inside a record (or with a bad last record): the offsets in
    /// `lost` are gone from the middle of the log.
    #[error(
        "sealed segment {} is cut at byte {position}: offsets {}..{} are lost",
        segment.display(), lost.start, lost.end
    )]
    SegmentCut {
        /// The segment file.
        segment: PathBuf,
        /// Byte position where the valid records end.
        position: u64,
        /// The offsets that cannot be read.
        lost: Range<u64>,
    },

    /// Two neighbouring segments do not continue each other's offsets.
    #[error(
        "offsets {}..{} are missing before segment {}",
        lost.start, lost.end, segment.display()
    )]
    SegmentGap {
        /// The segment after the gap.
        segment: PathBuf,
        /// The missing offsets.
        lost: Range<u64>,
    },

    /// `RecoveryMode::Strict` found a torn tail and refused to cut it.
    #[error(
        "torn tail in {} at byte {position} (offset {offset}, {bytes} bytes); \
         strict recovery refuses to cut it",
        segment.display()
    )]
    TornTail {
        /// The segment file.
        segment: PathBuf,
        /// The offset of the first record that would be dropped.
        offset: u64,
        /// Byte position where the valid records end.
        position: u64,
        /// Bytes that a tolerant recovery would drop.
        bytes: u64,
    },

    /// A record is larger than the log accepts. No offset was used.
    #[error("record of {len} bytes is over the maximum of {max}")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The configured maximum frame length.
        max: usize,
    },

    /// An earlier write or sync failed; the log refuses appends and syncs until reopened.
    #[error("log refuses writes until reopened: {cause}")]
    Poisoned {
        /// The failure that latched the log.
        cause: PoisonCause,
    },

    /// A read asked for an offset past the next offset of the log.
    #[error("offset {requested} is past the end of the log (next offset {next})")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: u64,
        /// The log's next offset.
        next: u64,
    },

    /// A read asked for an offset that retention already removed.
    #[error("offset {requested} was purged (the log starts at {start})")]
    Purged {
        /// The offset asked for.
        requested: u64,
        /// The first offset the log still holds.
        start: u64,
    },

    /// A wait ended at its deadline before the offset was reached.
    #[error("timed out waiting for offset {offset}")]
    Timeout {
        /// The offset waited for.
        offset: u64,
    },

    /// The log was closed.
    #[error("log is closed")]
    Closed,

    /// The configuration is not usable.
    #[error("bad log configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: &'static str,
    },

    /// The consumer positions file is damaged.
    #[error("bad positions file {}: {reason}", path.display())]
    BadPositions {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
}

impl LogError {
    /// Wraps an I/O error with the operation and the path it happened on.
    pub(crate) fn io(op: IoOp, path: impl Into<PathBuf>, source: io::Error) -> LogError {
        LogError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
