//! [`Frame`]: an owned, validated, shareable frame.

use std::fmt;
use std::sync::Arc;

use super::aligned;
use super::key::key_hash;
use super::patch;
use super::read::{Fields, Fixed, FrameRef};
use super::table::Table;
use super::FrameError;

/// An owned frame: validated once, kept in an 8-byte-aligned shared buffer.
///
/// Clones share the buffer (one reference count), so fanning a frame out to several
/// subscriptions copies nothing. The key hash is computed once, at construction.
///
/// # Examples
///
/// ```
/// use agentlane::frame::{key_hash, Frame, FrameEncoder, FrameHeader};
///
/// let mut encoder = FrameEncoder::new();
/// let header = FrameHeader { topic: "posts", key: b"user-7", ..Default::default() };
/// let frame = encoder.encode_frame(&header, |mut payload| payload.set_as("hello"))?;
///
/// assert_eq!(frame.key_hash(), key_hash(b"user-7"));
/// assert_eq!(frame.reader().topic()?, "posts");
/// assert_eq!(frame.as_bytes().as_ptr() as usize % 8, 0);
/// # Ok::<(), agentlane::frame::FrameError>(())
/// ```
#[derive(Clone)]
pub struct Frame {
    /// The frame's bytes, padded to whole words. Shared by clones; copied on patch when
    /// shared.
    words: Arc<[u64]>,
    /// The frame's length in bytes (a multiple of 8 for every valid frame).
    len: usize,
    /// The segment table, checked at construction.
    table: Table,
    /// Where the topic lies in the frame.
    topic: Span,
    /// Where the key lies in the frame.
    key: Span,
    /// The fixed-width envelope fields.
    fixed: Fixed,
    /// `key_hash` of the key.
    key_hash: u64,
}

/// A byte range inside a frame.
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    start: usize,
    len: usize,
}

impl Span {
    /// Where `inner` lies inside `outer` (empty slices get an empty span at 0).
    fn of(outer: &[u8], inner: &[u8]) -> Span {
        if inner.is_empty() {
            return Span::default();
        }
        let start = (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize);
        Span {
            start,
            len: inner.len(),
        }
    }

    /// The bytes of this span in `outer`; empty if it does not fit (it always does for
    /// spans made by [`Span::of`] over the same bytes).
    fn get(self, outer: &[u8]) -> &[u8] {
        outer
            .get(self.start..self.start + self.len)
            .unwrap_or_default()
    }
}

impl Frame {
    /// Copies `bytes` into a fresh aligned buffer and validates it as exactly one frame with
    /// a readable envelope and a UTF-8 topic. `bytes` may start at any address.
    ///
    /// # Errors
    ///
    /// The errors of [`FrameRef::decode`] except [`FrameError::Misaligned`], and
    /// [`FrameError::Utf8`] when the topic is not UTF-8.
    pub fn from_bytes(bytes: &[u8]) -> Result<Frame, FrameError> {
        let words = aligned::copy_to_shared(bytes);
        let view = aligned::as_bytes(&words)
            .get(..bytes.len())
            .unwrap_or_default();

        // Validate, then keep where the decoded fields lie.
        let frame = FrameRef::decode(view)?;
        frame.topic()?;
        let Fields { topic, key, fixed } = frame.fields();
        let (topic, key_span) = (Span::of(view, topic), Span::of(view, key));
        let table = super::table::parse(view)?;

        Ok(Frame {
            len: bytes.len(),
            table,
            topic,
            key: key_span,
            fixed,
            key_hash: key_hash(key),
            words,
        })
    }

    /// The frame's bytes; they start on an 8-byte boundary.
    pub fn as_bytes(&self) -> &[u8] {
        aligned::as_bytes(&self.words)
            .get(..self.len)
            .unwrap_or_default()
    }

    /// The frame's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame has no bytes; never true for a validated frame.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The stable hash of the frame's key ([`key_hash`](super::key_hash)), computed once.
    pub fn key_hash(&self) -> u64 {
        self.key_hash
    }

    /// A zero-copy view of the frame. Free: nothing is decoded again.
    pub fn reader(&self) -> FrameRef<'_> {
        let bytes = self.as_bytes();
        let fields = Fields {
            topic: self.topic.get(bytes),
            key: self.key.get(bytes),
            fixed: self.fixed,
        };
        FrameRef::from_parts(bytes, self.table, fields)
    }

    /// Sets the partition in place (copying the buffer first if clones share it).
    ///
    /// # Errors
    ///
    /// The errors of [`patch::set_partition`]; the frame is unchanged on error.
    pub fn set_partition(&mut self, partition: u32) -> Result<(), FrameError> {
        patch::set_partition(self.bytes_mut(), partition)?;
        self.fixed.partition = partition;
        Ok(())
    }

    /// Sets the offset in place (copying the buffer first if clones share it).
    ///
    /// # Errors
    ///
    /// The errors of [`patch::set_offset`]; the frame is unchanged on error.
    pub fn set_offset(&mut self, offset: u64) -> Result<(), FrameError> {
        patch::set_offset(self.bytes_mut(), offset)?;
        self.fixed.offset = offset;
        Ok(())
    }

    /// Sets the delivery attempt in place (copying the buffer first if clones share it).
    ///
    /// # Errors
    ///
    /// The errors of [`patch::set_attempt`]; the frame is unchanged on error.
    pub fn set_attempt(&mut self, attempt: u32) -> Result<(), FrameError> {
        patch::set_attempt(self.bytes_mut(), attempt)?;
        self.fixed.attempt = attempt;
        Ok(())
    }

    /// Sets the publish time in place (copying the buffer first if clones share it).
    ///
    /// # Errors
    ///
    /// The errors of [`patch::set_publish_time_ns`]; the frame is unchanged on error.
    pub fn set_publish_time_ns(&mut self, publish_time_ns: u64) -> Result<(), FrameError> {
        patch::set_publish_time_ns(self.bytes_mut(), publish_time_ns)?;
        self.fixed.publish_time_ns = publish_time_ns;
        Ok(())
    }

    /// The frame's bytes, mutable; unshares the buffer first.
    fn bytes_mut(&mut self) -> &mut [u8] {
        if Arc::get_mut(&mut self.words).is_none() {
            self.words = aligned::copy_to_shared(self.as_bytes());
        }

        let len = self.len;
        match Arc::get_mut(&mut self.words) {
            Some(words) => aligned::as_bytes_mut(words)
                .get_mut(..len)
                .unwrap_or_default(),
            // NB: unreachable, the buffer was just made unique; an empty slice makes the
            // patch fail instead of panicking.
            None => &mut [],
        }
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Frame {}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("len", &self.len)
            .field(
                "topic",
                &String::from_utf8_lossy(self.topic.get(self.as_bytes())),
            )
            .field("partition", &self.fixed.partition)
            .field("offset", &self.fixed.offset)
            .field("attempt", &self.fixed.attempt)
            .field("key_hash", &format_args!("{:#018x}", self.key_hash))
            .finish_non_exhaustive()
    }
}
