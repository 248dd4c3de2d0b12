//! In-place edits of the envelope's fixed-width fields in an encoded frame.
//!
//! The runtime stamps a frame's partition and offset at publish and raises its attempt at
//! each delivery. Re-encoding for that would cost a copy and an encoder; instead these
//! functions find the root struct from the root pointer and overwrite the field's bytes.
//! They work on single-segment frames (what [`FrameEncoder`](super::FrameEncoder) writes),
//! at any address, and ignore bytes after the frame. Every position is bounds-checked: a
//! field outside the frame's data section (an older, shorter envelope) is an error, never a
//! write elsewhere. `docs/format.md` lists the byte offsets.
//!
//! # Examples
//!
//! ```
//! use agentlane::frame::{patch, FrameEncoder, FrameHeader, FrameRef};
//!
//! let mut encoder = FrameEncoder::new();
//! let mut bytes = encoder.encode(&FrameHeader::default(), |_| Ok(()))?.to_vec();
//!
//! patch::set_offset(&mut bytes, 1234)?;
//! patch::set_attempt(&mut bytes, 2)?;
//!
//! let frame = agentlane::frame::Frame::from_bytes(&bytes)?;
//! assert_eq!((frame.reader().offset(), frame.reader().attempt()), (1234, 2));
//! # Ok::<(), agentlane::frame::FrameError>(())
//! ```

use super::table;
use super::FrameError;

/// Byte offset of `partition` (`UInt32`) in the envelope's data section.
pub const PARTITION_AT: usize = 0;

/// Byte offset of `attempt` (`UInt32`) in the envelope's data section.
pub const ATTEMPT_AT: usize = 4;

/// Byte offset of `offset` (`UInt64`) in the envelope's data section.
pub const OFFSET_AT: usize = 8;

/// Byte offset of `publishTimeNs` (`UInt64`) in the envelope's data section.
pub const PUBLISH_TIME_NS_AT: usize = 16;

/// Sets the envelope's `partition`.
///
/// # Errors
///
/// [`FrameError::Empty`], [`FrameError::Truncated`], [`FrameError::TooManySegments`],
/// [`FrameError::NotSingleSegment`], [`FrameError::BadRoot`], or
/// [`FrameError::FieldOutsideData`]; `bytes` is unchanged on error.
pub fn set_partition(bytes: &mut [u8], partition: u32) -> Result<(), FrameError> {
    write(bytes, "partition", PARTITION_AT, &partition.to_le_bytes())
}

/// Sets the envelope's `offset`.
///
/// # Errors
///
/// As [`set_partition`].
pub fn set_offset(bytes: &mut [u8], offset: u64) -> Result<(), FrameError> {
    write(bytes, "offset", OFFSET_AT, &offset.to_le_bytes())
}

/// Sets the envelope's `partition` and `offset` together, finding the root struct once:
/// what every publish writes into its frame.
///
/// # Errors
///
/// As [`set_partition`]; `bytes` is unchanged on error.
pub fn set_position(bytes: &mut [u8], partition: u32, offset: u64) -> Result<(), FrameError> {
    let root = table::root_data(bytes)?;
    let end = OFFSET_AT + 8;
    if end > root.len {
        return Err(FrameError::FieldOutsideData {
            field: "offset",
            data_bytes: root.len,
        });
    }

    let data = bytes
        .get_mut(root.start..root.start + end)
        .ok_or(FrameError::BadRoot)?;
    data[PARTITION_AT..PARTITION_AT + 4].copy_from_slice(&partition.to_le_bytes());
    data[OFFSET_AT..end].copy_from_slice(&offset.to_le_bytes());
    Ok(())
}

/// Sets the envelope's `attempt`.
///
/// # Errors
///
/// As [`set_partition`].
pub fn set_attempt(bytes: &mut [u8], attempt: u32) -> Result<(), FrameError> {
    write(bytes, "attempt", ATTEMPT_AT, &attempt.to_le_bytes())
}

/// Sets the envelope's `publishTimeNs`.
///
/// # Errors
///
/// As [`set_partition`].
pub fn set_publish_time_ns(bytes: &mut [u8], publish_time_ns: u64) -> Result<(), FrameError> {
    write(
        bytes,
        "publishTimeNs",
        PUBLISH_TIME_NS_AT,
        &publish_time_ns.to_le_bytes(),
    )
}

/// Writes `value` at byte `at` of the root struct's data section.
fn write(bytes: &mut [u8], field: &'static str, at: usize, value: &[u8]) -> Result<(), FrameError> {
    let root = table::root_data(bytes)?;
    if at + value.len() > root.len {
        return Err(FrameError::FieldOutsideData {
            field,
            data_bytes: root.len,
        });
    }

    let start = root.start + at;
    let target = bytes
        .get_mut(start..start + value.len())
        .ok_or(FrameError::BadRoot)?;
    target.copy_from_slice(value);
    Ok(())
}
