//! The frame error type, shared by decoding, encoding and patching.

/// Why a buffer is not a usable frame, or a frame could not be encoded or patched.
///
/// Every malformed input gives one of these; none panics. Variants carry the numbers that
/// explain the failure, not strings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The buffer holds no bytes at all.
    #[error("frame is empty")]
    Empty,

    /// The buffer ends before the frame its segment table describes.
    #[error("frame truncated: needs {needed} bytes, has {available}")]
    Truncated {
        /// Bytes needed so far (the segment table, or the table plus all segments).
        needed: usize,
        /// Bytes the buffer holds.
        available: usize,
    },

    /// The segment table claims more segments than a frame may have.
    #[error("frame claims {count} segments, at most {max} allowed")]
    TooManySegments {
        /// The claimed segment count.
        count: u64,
        /// The most segments a frame may have ([`MAX_SEGMENTS`](super::MAX_SEGMENTS)).
        max: u32,
    },

    /// The buffer does not start on an 8-byte boundary, so it can not be read in place.
    #[error("frame buffer is misaligned: address mod 8 = {misalignment}")]
    Misaligned {
        /// The buffer's start address modulo 8 (1 to 7).
        misalignment: usize,
    },

    /// The frame is larger than the configured maximum.
    #[error("frame of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The frame's size in bytes (a lower bound when encoding stopped early).
        size: usize,
        /// The maximum frame size in bytes.
        max: usize,
    },

    /// Bytes follow the frame where exactly one frame was expected.
    #[error("{trailing} trailing bytes after a frame of {frame_len} bytes")]
    TrailingBytes {
        /// The frame's size in bytes.
        frame_len: usize,
        /// The bytes left over after it.
        trailing: usize,
    },

    /// The frame has several segments where an in-place edit needs exactly one.
    #[error("frame has {segments} segments, patching needs one")]
    NotSingleSegment {
        /// The frame's segment count.
        segments: u64,
    },

    /// The root pointer is not a pointer to a struct inside the first segment.
    #[error("frame root is not a struct inside the segment")]
    BadRoot,

    /// A fixed-width field lies outside the envelope's data section, for example in a frame
    /// written with an older, shorter envelope.
    #[error("field {field} lies outside the envelope data section of {data_bytes} bytes")]
    FieldOutsideData {
        /// The envelope field's schema name.
        field: &'static str,
        /// The size of the frame's data section in bytes.
        data_bytes: usize,
    },

    /// A text field is not valid UTF-8.
    #[error("field {field} is not valid utf-8")]
    Utf8 {
        /// The envelope field's schema name.
        field: &'static str,
    },

    /// Cap'n Proto refused the frame: a bad pointer, a traversal or nesting limit, a list of
    /// the wrong kind.
    #[error("frame does not decode: {0}")]
    Decode(capnp::Error),

    /// The payload builder returned an error while encoding.
    #[error("payload does not encode: {0}")]
    Encode(capnp::Error),
}
