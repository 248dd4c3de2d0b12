//! [`FrameRef`]: a zero-copy view of one encoded frame that never allocates.

use std::fmt;

use capnp::message::{self, ReaderOptions};
use capnp::serialize::{NoAllocBufferSegments, NoAllocSliceSegments};

use super::envelope_capnp::envelope;
use super::table::{self, Table};
use super::FrameError;

/// A frame's traversal budget, in multiples of its own size in words.
///
/// Decoding spends at most one frame's worth (the root struct, topic and key); the rest is
/// left for reading headers and the payload. A frame whose pointers overlap to make a
/// reader walk the same words again and again hits this limit and reads as an error.
pub const TRAVERSAL_FACTOR: usize = 4;

/// A decoded frame, borrowed from an 8-byte-aligned buffer and read in place.
///
/// Decoding checks the segment table against the buffer, opens the root
/// [`Envelope`](envelope::Reader) and reads its fixed-width fields, topic and key once;
/// after that [`partition`](Self::partition), [`offset`](Self::offset),
/// [`publish_time_ns`](Self::publish_time_ns) and [`attempt`](Self::attempt) are plain field
/// loads. Neither decoding nor any accessor allocates.
///
/// Each `FrameRef` has its own traversal limit of [`TRAVERSAL_FACTOR`] times the frame's
/// size; [`Frame::reader`](super::Frame::reader) makes a fresh one for free.
///
/// # Examples
///
/// ```
/// use agentlane::frame::{FrameEncoder, FrameHeader, FrameRef};
///
/// let mut encoder = FrameEncoder::new();
/// let header = FrameHeader { topic: "posts", key: b"user-7", offset: 42, ..Default::default() };
/// let bytes = encoder.encode(&header, |mut payload| payload.set_as("hello"))?;
///
/// let frame = FrameRef::decode(bytes)?;
/// assert_eq!(frame.topic()?, "posts");
/// assert_eq!(frame.key()?, b"user-7");
/// assert_eq!(frame.offset(), 42);
/// assert_eq!(frame.payload::<capnp::text::Owned>()?.to_str()?, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FrameRef<'a> {
    /// Exactly the frame's bytes: segment table and segments.
    bytes: &'a [u8],
    /// The Cap'n Proto reader over `bytes`, with this view's traversal budget.
    message: message::Reader<NoAllocSliceSegments<'a>>,
    /// The envelope fields read at decode time.
    fields: Fields<'a>,
}

/// The envelope fields a [`FrameRef`] reads once, at decode time.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Fields<'a> {
    /// The topic's bytes, not yet checked as UTF-8.
    pub(crate) topic: &'a [u8],
    /// The key's bytes.
    pub(crate) key: &'a [u8],
    /// The fixed-width fields.
    pub(crate) fixed: Fixed,
}

/// The envelope's fixed-width fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fixed {
    pub(crate) partition: u32,
    pub(crate) offset: u64,
    pub(crate) publish_time_ns: u64,
    pub(crate) attempt: u32,
}

impl<'a> FrameRef<'a> {
    /// Decodes `bytes` as exactly one frame.
    ///
    /// # Errors
    ///
    /// The errors of [`decode_prefix`](Self::decode_prefix), and
    /// [`FrameError::TrailingBytes`] when bytes follow the frame.
    pub fn decode(bytes: &'a [u8]) -> Result<FrameRef<'a>, FrameError> {
        let (frame, consumed) = Self::decode_prefix(bytes)?;
        if consumed != bytes.len() {
            let trailing = bytes.len() - consumed;
            return Err(FrameError::TrailingBytes {
                frame_len: consumed,
                trailing,
            });
        }
        Ok(frame)
    }

    /// Decodes the first frame of `bytes`, returning it and the number of bytes it took.
    ///
    /// Use this to walk frames written back to back; the next frame starts at the returned
    /// count, which is always a multiple of 8, so alignment is kept.
    ///
    /// # Errors
    ///
    /// [`FrameError::Empty`], [`FrameError::Misaligned`] (the buffer must start on an 8-byte
    /// boundary), [`FrameError::TooManySegments`], [`FrameError::Truncated`], or
    /// [`FrameError::Decode`] when the root is not a readable envelope.
    pub fn decode_prefix(bytes: &'a [u8]) -> Result<(FrameRef<'a>, usize), FrameError> {
        let table = table::parse(bytes)?;
        let bytes = bytes
            .get(..table.frame_len())
            .ok_or(FrameError::Truncated {
                needed: table.frame_len(),
                available: bytes.len(),
            })?;

        let message = open(bytes, table);
        let fields = read_fields(bytes, &message)?;

        Ok((
            FrameRef {
                bytes,
                message,
                fields,
            },
            table.frame_len(),
        ))
    }

    /// Builds a view of a frame validated before, without reading anything again.
    pub(crate) fn from_parts(bytes: &'a [u8], table: Table, fields: Fields<'a>) -> Self {
        FrameRef {
            bytes,
            message: open(bytes, table),
            fields,
        }
    }

    /// The frame's bytes: segment table and segments, starting on an 8-byte boundary.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The topic the frame was published to.
    ///
    /// # Errors
    ///
    /// [`FrameError::Utf8`] when the topic is not valid UTF-8.
    pub fn topic(&self) -> Result<&'a str, FrameError> {
        std::str::from_utf8(self.fields.topic).map_err(|_| FrameError::Utf8 { field: "topic" })
    }

    /// The partition of the topic the frame belongs to.
    pub fn partition(&self) -> u32 {
        self.fields.fixed.partition
    }

    /// The frame's position in its partition.
    pub fn offset(&self) -> u64 {
        self.fields.fixed.offset
    }

    /// The partitioning key.
    ///
    /// # Errors
    ///
    /// None today: the key was read at decode time. The `Result` leaves room for lazily
    /// read keys.
    pub fn key(&self) -> Result<&'a [u8], FrameError> {
        Ok(self.fields.key)
    }

    /// The publish time in nanoseconds since the Unix epoch.
    pub fn publish_time_ns(&self) -> u64 {
        self.fields.fixed.publish_time_ns
    }

    /// The delivery attempt: 0 before the first delivery.
    pub fn attempt(&self) -> u32 {
        self.fields.fixed.attempt
    }

    /// The value of the first header called `name`, or `None` when there is none or the
    /// header list does not decode.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        let headers = self.envelope().ok()?.get_headers().ok()?;
        headers.iter().find_map(|header| {
            let found = header.get_name().ok()?.as_bytes() == name.as_bytes();
            found.then(|| header.get_value().ok()).flatten()
        })
    }

    /// The payload, read as the Cap'n Proto type `T`.
    ///
    /// # Errors
    ///
    /// [`FrameError::Decode`] when the payload is not a readable `T` or this view's
    /// traversal budget is spent.
    pub fn payload<T: capnp::traits::Owned>(&self) -> Result<T::Reader<'_>, FrameError> {
        self.envelope()?
            .get_payload()
            .get_as()
            .map_err(FrameError::Decode)
    }

    /// The whole envelope, for fields this type has no accessor for.
    ///
    /// # Errors
    ///
    /// [`FrameError::Decode`] when this view's traversal budget is spent.
    pub fn envelope(&self) -> Result<envelope::Reader<'_>, FrameError> {
        self.message.get_root().map_err(FrameError::Decode)
    }

    /// The fields read at decode time.
    pub(crate) fn fields(&self) -> Fields<'a> {
        self.fields
    }
}

impl fmt::Debug for FrameRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameRef")
            .field("len", &self.bytes.len())
            .field("topic", &String::from_utf8_lossy(self.fields.topic))
            .field("partition", &self.fields.fixed.partition)
            .field("offset", &self.fields.fixed.offset)
            .field("attempt", &self.fields.fixed.attempt)
            .field("key_len", &self.fields.key.len())
            .finish_non_exhaustive()
    }
}

/// Opens a Cap'n Proto reader over a frame whose table was checked, with a traversal
/// limit sized to the frame.
fn open(bytes: &[u8], table: Table) -> message::Reader<NoAllocSliceSegments<'_>> {
    let words = (table.body_len / 8).max(1);
    let mut options = ReaderOptions::new();
    options.traversal_limit_in_words(Some(words.saturating_mul(TRAVERSAL_FACTOR)));

    let segments = NoAllocBufferSegments::from_segment_table_info(bytes, table.to_capnp());
    message::Reader::new(segments, options)
}

/// Reads the envelope fields a [`FrameRef`] keeps.
fn read_fields<'a>(
    bytes: &'a [u8],
    message: &message::Reader<NoAllocSliceSegments<'a>>,
) -> Result<Fields<'a>, FrameError> {
    let root: envelope::Reader<'_> = message.get_root().map_err(FrameError::Decode)?;
    let topic = root.get_topic().map_err(FrameError::Decode)?.as_bytes();
    let key = root.get_key().map_err(FrameError::Decode)?;

    let fixed = Fixed {
        partition: root.get_partition(),
        offset: root.get_offset(),
        publish_time_ns: root.get_publish_time_ns(),
        attempt: root.get_attempt(),
    };
    Ok(Fields {
        topic: reslice(bytes, topic)?,
        key: reslice(bytes, key)?,
        fixed,
    })
}

/// Finds `inner`, a slice the Cap'n Proto reader returned, inside `outer`, and returns it
/// with `outer`'s lifetime.
///
/// The reader's slices borrow the reader, but point into the frame's buffer; re-slicing the
/// buffer by address gives the same bytes for the buffer's whole life, without `unsafe`.
pub(crate) fn reslice<'a>(outer: &'a [u8], inner: &[u8]) -> Result<&'a [u8], FrameError> {
    if inner.is_empty() {
        return Ok(&[]);
    }

    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize);
    let range = start.and_then(|start| Some(start..start.checked_add(inner.len())?));
    // NB: unreachable for slices read from `outer`; a bad root is the nearest honest error.
    range
        .and_then(|range| outer.get(range))
        .ok_or(FrameError::BadRoot)
}
