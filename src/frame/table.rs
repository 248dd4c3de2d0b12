//! The segment table and root pointer of Cap'n Proto flat serialization, parsed in place.
//!
//! A frame starts with a segment table: a little-endian `u32` holding the segment count
//! minus one, one `u32` size in words per segment, and padding to a whole word. The
//! segments follow back to back; the first word of the first segment is the root pointer.
//! Parsing here checks every claimed length against the buffer before anything is sliced,
//! and allocates nothing, whatever the table claims.

use capnp::serialize::NoAllocSegmentTableInfo;

use super::aligned::WORD;
use super::FrameError;

/// The most segments a frame may have. Frames from [`FrameEncoder`](super::FrameEncoder)
/// have one; other Cap'n Proto writers split large messages into a few.
pub const MAX_SEGMENTS: u32 = 64;

/// A parsed, bounds-checked segment table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Table {
    /// The number of segments, 1 to [`MAX_SEGMENTS`].
    pub(crate) segments: u32,
    /// Bytes taken by the table itself, padding included.
    pub(crate) table_len: usize,
    /// Bytes taken by all segments together.
    pub(crate) body_len: usize,
}

impl Table {
    /// The frame's whole size in bytes: table plus segments.
    pub(crate) fn frame_len(&self) -> usize {
        self.table_len + self.body_len
    }

    /// The same facts in the form the `capnp` crate's no-alloc reader takes.
    pub(crate) fn to_capnp(self) -> NoAllocSegmentTableInfo {
        NoAllocSegmentTableInfo {
            segments_count: self.segments as usize,
            segment_table_length_bytes: self.table_len,
            total_segments_length_bytes: self.body_len,
        }
    }
}

/// Parses the segment table at the start of `bytes` and checks that the buffer holds every
/// segment it claims. Bytes after the last segment are allowed.
///
/// # Errors
///
/// [`FrameError::Empty`], [`FrameError::Misaligned`], [`FrameError::TooManySegments`] or
/// [`FrameError::Truncated`].
pub(crate) fn parse(bytes: &[u8]) -> Result<Table, FrameError> {
    if bytes.is_empty() {
        return Err(FrameError::Empty);
    }

    let misalignment = bytes.as_ptr() as usize % WORD;
    if misalignment != 0 {
        return Err(FrameError::Misaligned { misalignment });
    }

    parse_any_alignment(bytes)
}

/// [`parse`] without the alignment check, for code that edits bytes rather than reading
/// them through Cap'n Proto.
fn parse_any_alignment(bytes: &[u8]) -> Result<Table, FrameError> {
    if bytes.is_empty() {
        return Err(FrameError::Empty);
    }

    // The count word holds segments minus one; check it before reading any sizes.
    let count = u64::from(u32_at(bytes, 0)?) + 1;
    let segments = u32::try_from(count)
        .ok()
        .filter(|&n| n <= MAX_SEGMENTS)
        .ok_or(FrameError::TooManySegments {
            count,
            max: MAX_SEGMENTS,
        })?;
    let table_len = (segments as usize / 2 + 1) * WORD;
    check_len(bytes, table_len)?;

    let body_len = body_len(bytes, segments)?;
    let frame_len = table_len.checked_add(body_len).ok_or(too_long(bytes))?;
    check_len(bytes, frame_len)?;

    Ok(Table {
        segments,
        table_len,
        body_len,
    })
}

/// Where the root struct's data section lies in a single-segment frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RootData {
    /// Byte index of the data section from the start of the frame.
    pub(crate) start: usize,
    /// Size of the data section in bytes.
    pub(crate) len: usize,
}

/// Locates the root struct's data section of a single-segment frame from its root pointer.
/// The frame may start at any address.
///
/// # Errors
///
/// The errors of [`parse`] but [`FrameError::Misaligned`], [`FrameError::NotSingleSegment`], or [`FrameError::BadRoot`]
/// when the root pointer is null, not a struct pointer, or points outside the segment.
pub(crate) fn root_data(bytes: &[u8]) -> Result<RootData, FrameError> {
    let table = parse_any_alignment(bytes)?;
    if table.segments != 1 {
        return Err(FrameError::NotSingleSegment {
            segments: u64::from(table.segments),
        });
    }

    // A struct pointer: kind 0 in bits 0-1, signed word offset in bits 2-31 (from the end
    // of the pointer), data words in bits 32-47, pointer words in bits 48-63.
    let pointer = u64_at(bytes, table.table_len).map_err(|_| FrameError::BadRoot)?;
    if pointer == 0 || pointer & 3 != 0 {
        return Err(FrameError::BadRoot);
    }
    let offset = i64::from((pointer as u32 as i32) >> 2);
    let data_words = (pointer >> 32) & 0xffff;
    let pointer_words = pointer >> 48;

    // The whole struct must lie inside the segment, after the root pointer.
    let segment_words = (table.body_len / WORD) as i64;
    let start_word = 1 + offset;
    let end_word = start_word + (data_words + pointer_words) as i64;
    if start_word < 1 || end_word > segment_words {
        return Err(FrameError::BadRoot);
    }

    let start = table.table_len + start_word as usize * WORD;
    Ok(RootData {
        start,
        len: data_words as usize * WORD,
    })
}

/// Sums the segment sizes listed in the table, in bytes.
fn body_len(bytes: &[u8], segments: u32) -> Result<usize, FrameError> {
    let mut total = 0usize;
    for index in 0..segments as usize {
        let words = u32_at(bytes, 4 + 4 * index)? as usize;
        total = words
            .checked_mul(WORD)
            .and_then(|len| total.checked_add(len))
            .ok_or(too_long(bytes))?;
    }
    Ok(total)
}

/// Fails with [`FrameError::Truncated`] unless `bytes` holds at least `needed` bytes.
fn check_len(bytes: &[u8], needed: usize) -> Result<(), FrameError> {
    if bytes.len() < needed {
        return Err(FrameError::Truncated {
            needed,
            available: bytes.len(),
        });
    }
    Ok(())
}

/// The error for a table whose sizes overflow `usize`: no buffer can hold that frame.
fn too_long(bytes: &[u8]) -> FrameError {
    FrameError::Truncated {
        needed: usize::MAX,
        available: bytes.len(),
    }
}

/// Reads the little-endian `u32` at byte `at`.
fn u32_at(bytes: &[u8], at: usize) -> Result<u32, FrameError> {
    let word = bytes
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok());
    word.map(u32::from_le_bytes).ok_or(FrameError::Truncated {
        needed: (at + 4).next_multiple_of(WORD),
        available: bytes.len(),
    })
}

/// Reads the little-endian `u64` at byte `at`.
fn u64_at(bytes: &[u8], at: usize) -> Result<u64, FrameError> {
    let word = bytes
        .get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok());
    word.map(u64::from_le_bytes).ok_or(FrameError::Truncated {
        needed: at + 8,
        available: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words laid out as little-endian bytes in an aligned buffer.
    fn frame(words: &[u64]) -> Vec<u64> {
        words
            .iter()
            .map(|w| u64::from_ne_bytes(w.to_le_bytes()))
            .collect()
    }

    fn bytes(words: &[u64]) -> &[u8] {
        super::super::aligned::as_bytes(words)
    }

    #[test]
    fn one_segment_table() {
        let words = frame(&[2 << 32, 0, 0]);

        let table = parse(bytes(&words)).unwrap();

        assert_eq!(
            table,
            Table {
                segments: 1,
                table_len: 8,
                body_len: 16
            }
        );
    }

    #[test]
    fn two_segment_table_is_padded() {
        let words = frame(&[1 | (1 << 32), 1, 0, 0]);

        let table = parse(bytes(&words)).unwrap();

        assert_eq!(
            table,
            Table {
                segments: 2,
                table_len: 16,
                body_len: 16
            }
        );
    }

    #[test]
    fn root_data_of_envelope_sized_struct() {
        // Root pointer: offset 0, 3 data words, 4 pointer words.
        let words = frame(&[8 << 32, (3 << 32) | (4 << 48), 0, 0, 0, 0, 0, 0, 0]);

        let root = root_data(bytes(&words)).unwrap();

        assert_eq!(root, RootData { start: 16, len: 24 });
    }

    #[test]
    fn root_outside_segment_is_refused() {
        let words = frame(&[2 << 32, (3 << 32) | (4 << 48), 0]);

        assert!(matches!(root_data(bytes(&words)), Err(FrameError::BadRoot)));
    }

    #[test]
    fn negative_root_offset_is_refused() {
        let words = frame(&[2 << 32, u64::from((-1i32 << 2) as u32) | (1 << 32), 0]);

        assert!(matches!(root_data(bytes(&words)), Err(FrameError::BadRoot)));
    }
}
