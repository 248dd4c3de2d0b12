//! The record codec: segment headers and records, as drawn in `docs/format.md`.
//!
//! A record is a 24-byte header (length, CRC-32C, offset, timestamp), the frame bytes, and
//! zero padding to a multiple of 8 bytes. The CRC covers the length field, then the offset,
//! the timestamp and the frame. Decoding never trusts a length before checking that the
//! bytes are there, and never allocates.

use super::error::Damage;

/// The magic number that opens every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"AGLNSEG\0";

/// The segment format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;

/// Bytes in a segment header.
pub const SEGMENT_HEADER_LEN: u64 = 32;

/// Bytes in a record header.
pub const RECORD_HEADER_LEN: usize = 24;

/// The format's limit on a frame's length (1 GiB); configured limits may only be lower.
pub const MAX_RECORD_LIMIT: usize = 1 << 30;

/// One record read from the log: its offset, its timestamp and its frame, borrowed.
///
/// The frame starts on an 8-byte boundary, so [`FrameRef::decode`] reads it in place.
///
/// [`FrameRef::decode`]: crate::frame::FrameRef::decode
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The record's offset in its partition.
    pub offset: u64,
    /// The timestamp given to `append`, in nanoseconds.
    pub timestamp_ns: u64,
    /// The frame bytes.
    pub frame: &'a [u8],
}

/// The bytes a record of a `frame_len`-byte frame takes in a segment, padding included.
pub const fn record_size(frame_len: usize) -> usize {
    (RECORD_HEADER_LEN + frame_len + 7) & !7
}

/// What decoding at a byte position found.
#[derive(Debug)]
pub(crate) enum Decoded<'a> {
    /// A whole, valid record and the bytes it takes.
    Record(Record<'a>, usize),
    /// Damage: a bad check, or a record that runs past the end of the bytes.
    Damaged(Damage),
}

/// A segment header for a segment starting at `base`.
pub(crate) fn encode_header(base: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    header[0..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
    header[16..24].copy_from_slice(&base.to_le_bytes());
    let crc = crc32c::crc32c(&header[0..28]);
    header[28..32].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Checks a segment header against the base offset its file name gives.
pub(crate) fn check_header(bytes: &[u8], base: u64) -> Result<(), Damage> {
    if bytes.len() < SEGMENT_HEADER_LEN as usize {
        return Err(Damage::Truncated);
    }
    if bytes[0..8] != SEGMENT_MAGIC {
        return Err(Damage::Magic);
    }
    if crc32c::crc32c(&bytes[0..28]) != u32_at(bytes, 28) {
        return Err(Damage::Checksum);
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION {
        return Err(Damage::Version(version));
    }
    if bytes[10..12] != [0, 0] || u32_at(bytes, 12) != 32 || u32_at(bytes, 24) != 0 {
        return Err(Damage::Reserved);
    }
    if u64_at(bytes, 16) != base {
        return Err(Damage::BaseOffset);
    }
    Ok(())
}

/// Appends one encoded record to `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, offset: u64, timestamp_ns: u64, frame: &[u8]) {
    debug_assert!(frame.len() <= MAX_RECORD_LIMIT);
    let start = out.len();
    let len = (frame.len() as u32).to_le_bytes();

    // Header with a zero CRC, the frame, the padding; then the CRC in place.
    out.extend_from_slice(&len);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&timestamp_ns.to_le_bytes());
    out.extend_from_slice(frame);
    out.resize(start + record_size(frame.len()), 0);

    let body = &out[start + 8..start + RECORD_HEADER_LEN + frame.len()];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), body);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes the record at the start of `bytes`, which must have offset `expected`.
pub(crate) fn decode_record(bytes: &[u8], expected: u64) -> Decoded<'_> {
    if bytes.len() < RECORD_HEADER_LEN {
        return Decoded::Damaged(Damage::Truncated);
    }
    let len = u32_at(bytes, 0) as usize;
    if len > MAX_RECORD_LIMIT {
        return Decoded::Damaged(Damage::Length);
    }
    let size = record_size(len);
    if size > bytes.len() {
        return Decoded::Damaged(Damage::Truncated);
    }

    // The checks, cheapest first; the CRC last.
    let end = RECORD_HEADER_LEN + len;
    let offset = u64_at(bytes, 8);
    if offset != expected {
        return Decoded::Damaged(Damage::Offset);
    }
    if bytes[end..size].iter().any(|&b| b != 0) {
        return Decoded::Damaged(Damage::Padding);
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[0..4]), &bytes[8..end]);
    if crc != u32_at(bytes, 4) {
        return Decoded::Damaged(Damage::Checksum);
    }
    let record = Record {
        offset,
        timestamp_ns: u64_at(bytes, 16),
        frame: &bytes[RECORD_HEADER_LEN..end],
    };
    Decoded::Record(record, size)
}

/// Whether a valid record with an offset at or after `min_offset` starts at any 8-byte
/// boundary of `bytes` from `from` on; returns its position.
///
/// This is how recovery tells a torn tail (nothing valid after the damage) from corruption
/// (good records after it), even when the damage hit a length field.
pub(crate) fn find_valid_after(bytes: &[u8], from: usize, min_offset: u64) -> Option<usize> {
    let most_records = (bytes.len() / RECORD_HEADER_LEN) as u64 + 1;
    let mut position = (from + 7) & !7;
    while position + RECORD_HEADER_LEN <= bytes.len() {
        let offset = u64_at(bytes, position + 8);
        let plausible = offset >= min_offset && offset - min_offset <= most_records;
        if plausible
            && matches!(
                decode_record(&bytes[position..], offset),
                Decoded::Record(..)
            )
        {
            return Some(position);
        }
        position += 8;
    }
    None
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut le = [0u8; 4];
    le.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(le)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(le)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_is_padded() {
        let mut out = Vec::new();
        encode_record(&mut out, 7, 99, b"hello");
        assert_eq!(out.len(), 32);
        match decode_record(&out, 7) {
            Decoded::Record(record, size) => {
                assert_eq!(
                    (record.offset, record.timestamp_ns, record.frame),
                    (7, 99, &b"hello"[..])
                );
                assert_eq!(size, 32);
            }
            other => panic!("expected a record, got {other:?}"),
        }
    }

    #[test]
    fn every_damage_is_detected() {
        let mut out = Vec::new();
        encode_record(&mut out, 3, 1, b"abcdefgh");
        for at in 0..out.len() {
            let mut bad = out.clone();
            bad[at] ^= 0x40;
            assert!(
                matches!(decode_record(&bad, 3), Decoded::Damaged(_)),
                "byte {at}"
            );
        }
        assert!(matches!(
            decode_record(&out[..out.len() - 1], 3),
            Decoded::Damaged(Damage::Truncated)
        ));
        assert!(matches!(
            decode_record(&out, 4),
            Decoded::Damaged(Damage::Offset)
        ));
    }

    #[test]
    fn headers_check_magic_version_and_base() {
        let header = encode_header(250);
        assert_eq!(check_header(&header, 250), Ok(()));
        assert_eq!(check_header(&header, 0), Err(Damage::BaseOffset));
        let mut bad = header;
        bad[0] = b'X';
        assert_eq!(check_header(&bad, 250), Err(Damage::Magic));
        assert_eq!(check_header(&header[..31], 250), Err(Damage::Truncated));
    }

    #[test]
    fn a_valid_record_is_found_after_damage() {
        let mut out = Vec::new();
        encode_record(&mut out, 0, 0, b"first");
        encode_record(&mut out, 1, 0, b"second");
        out[0] = 0xff;
        assert_eq!(find_valid_after(&out, 8, 0), Some(32));
        assert_eq!(find_valid_after(&out, 40, 0), None);
    }
}
