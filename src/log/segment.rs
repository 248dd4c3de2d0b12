//! One segment file: its name, its header, and the records it holds as the log sees them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{IoOp, LogError};
use super::fs::{LogFile, LogFs};
use super::index::SegmentIndex;
use super::record::{encode_header, SEGMENT_HEADER_LEN};

/// The file-name suffix of segments.
pub const SEGMENT_SUFFIX: &str = ".seg";

/// The file name of the segment whose first offset is `base`: 20 digits and `.seg`.
pub fn segment_file_name(base: u64) -> String {
    format!("{base:020}{SEGMENT_SUFFIX}")
}

/// The base offset a segment file name gives, or `None` when it is not a segment name.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    let all_digits = digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit());
    all_digits.then(|| digits.parse().ok()).flatten()
}

/// A segment as the log tracks it: where it is, what it holds, its indexes.
///
/// The writer updates the last segment after each write, under the shared lock; readers
/// copy what they need under the same lock.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    /// The first offset of the segment (also its name).
    pub(crate) base: u64,
    /// The segment file.
    pub(crate) path: PathBuf,
    /// The open file, shared by the writer and readers.
    pub(crate) file: Arc<dyn LogFile>,
    /// Bytes of the header and of the whole records written so far.
    pub(crate) len: u64,
    /// The offset after the last record.
    pub(crate) next: u64,
    /// The sparse offset index and the time index.
    pub(crate) index: SegmentIndex,
}

/// A public summary of one segment, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment file.
    pub path: PathBuf,
    /// Its first offset.
    pub base_offset: u64,
    /// The offset after its last record.
    pub next_offset: u64,
    /// Bytes of the header and whole records.
    pub bytes: u64,
    /// Smallest and largest record timestamps, `None` when it has no record.
    pub time_range: Option<(u64, u64)>,
}

impl Segment {
    /// Creates a new, empty segment file starting at `base` and writes its header.
    pub(crate) fn create(
        fs: &dyn LogFs,
        dir: &Path,
        base: u64,
        interval: u32,
    ) -> Result<Segment, LogError> {
        let path = dir.join(segment_file_name(base));
        let file = fs
            .create(&path)
            .map_err(|e| LogError::io(IoOp::Create, &path, e))?;
        write_all(&*file, &encode_header(base)).map_err(|e| LogError::io(IoOp::Write, &path, e))?;
        let index = SegmentIndex::new(interval);
        Ok(Segment {
            base,
            path,
            file,
            len: SEGMENT_HEADER_LEN,
            next: base,
            index,
        })
    }

    /// The public summary.
    pub(crate) fn info(&self) -> SegmentInfo {
        SegmentInfo {
            path: self.path.clone(),
            base_offset: self.base,
            next_offset: self.next,
            bytes: self.len,
            time_range: self.index.times.range(),
        }
    }

    /// Whether the segment holds no record.
    pub(crate) fn is_empty(&self) -> bool {
        self.next == self.base
    }
}

/// Writes every byte, going on after short writes; the first error ends it.
pub(crate) fn write_all(file: &dyn LogFile, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match file.append(bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        assert_eq!(segment_file_name(250), "00000000000000000250.seg");
        assert_eq!(parse_segment_name("00000000000000000250.seg"), Some(250));
        assert_eq!(parse_segment_name("250.seg"), None);
        assert_eq!(parse_segment_name("00000000000000000250.idx"), None);
        assert_eq!(parse_segment_name("0000000000000000025x.seg"), None);
        assert_eq!(parse_segment_name("99999999999999999999.seg"), None);
    }
}
