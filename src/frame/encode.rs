//! [`FrameEncoder`]: writes envelopes into a reused buffer, without allocating per frame.
//!
//! # How a frame is built
//!
//! The encoder keeps one `capnp::message::Builder` alive over a [`Scratch`] buffer of
//! [`SPAN_FRAMES`] maximal frames. Each `encode` re-initialises the builder's root:
//! Cap'n Proto zeroes the previous envelope and bump-allocates the new one after it, so the
//! new root struct and everything it points to lie together at the end of the used part of
//! the segment. The encoder then writes a one-segment table and a root pointer with offset
//! 0, and copies that tail behind them: Cap'n Proto pointers are relative, so the copied
//! words are a complete, compact frame.
//!
//! Before each frame the encoder checks that a maximal frame still fits in what is left of
//! the buffer; when it does not, it hands the buffer back to the allocator (which re-zeroes
//! the used words) and starts a new builder over it. That restart is the only heap
//! allocation in steady state: `capnp` 0.27 keeps a builder's segment list in a `Vec`, and a
//! new builder allocates it on its first segment (one 64-byte block). With the default
//! maximum it happens at most once per [`SPAN_FRAMES`]` - 1` maximal frames, and far less
//! often for small ones.

use std::fmt;

use capnp::message;

use super::aligned::{self, WORD};
use super::envelope_capnp::envelope;
use super::scratch::Scratch;
use super::{Frame, FrameError};

/// The default largest frame, in bytes.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 4096;

/// The largest maximum an encoder accepts; larger requests are clamped to it.
pub const MAX_FRAME_SIZE_LIMIT: usize = 1 << 30;

/// How many maximal frames the encoder's scratch buffer holds (for maxima up to 64 KiB;
/// larger maxima get a buffer of two frames).
pub const SPAN_FRAMES: usize = 16;

/// The envelope fields of a frame to encode; the payload is built separately.
///
/// # Examples
///
/// ```
/// use agentlane::frame::FrameHeader;
///
/// let headers = [("trace-id", &b"7f3a"[..])];
/// let header = FrameHeader { topic: "posts", key: b"user-7", headers: &headers, ..Default::default() };
/// assert_eq!(header.attempt, 0);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameHeader<'a> {
    /// The topic name.
    pub topic: &'a str,
    /// The partition (the runtime sets it at publish; see [`patch`](super::patch)).
    pub partition: u32,
    /// The offset (the runtime sets it at publish).
    pub offset: u64,
    /// The partitioning key.
    pub key: &'a [u8],
    /// Publish time in nanoseconds since the Unix epoch.
    pub publish_time_ns: u64,
    /// The delivery attempt, 0 for a new frame.
    pub attempt: u32,
    /// Name/value headers, written in this order.
    pub headers: &'a [(&'a str, &'a [u8])],
}

impl FrameHeader<'_> {
    /// Bytes the variable-length fields alone take: a lower bound of the frame size.
    fn variable_len(&self) -> usize {
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len());
        self.topic.len() + self.key.len() + headers.sum::<usize>()
    }
}

/// A reusable frame encoder with its own scratch buffer.
///
/// Frames come out as standard Cap'n Proto flat serialization with one segment and the
/// envelope as root, 8-byte aligned, at most [`max_size`](Self::max_size) bytes.
///
/// # Examples
///
/// ```
/// use agentlane::frame::{FrameEncoder, FrameHeader, FrameRef};
///
/// let mut encoder = FrameEncoder::new();
/// for offset in 0..3 {
///     let header = FrameHeader { topic: "ticks", offset, ..Default::default() };
///     let bytes = encoder.encode(&header, |mut payload| payload.set_as("tick"))?;
///     assert_eq!(FrameRef::decode(bytes)?.offset(), offset);
/// }
/// # Ok::<(), agentlane::frame::FrameError>(())
/// ```
pub struct FrameEncoder {
    /// The largest frame to produce, in bytes.
    max: usize,
    /// The long-lived builder; its root is re-initialised per frame.
    builder: message::Builder<Scratch>,
    /// The last frame: table, root pointer, then the envelope's words.
    out: Vec<u64>,
    /// The last frame's length in bytes.
    out_len: usize,
    /// The scratch buffer's size in words (the builder owns the buffer).
    span_words: usize,
}

impl FrameEncoder {
    /// An encoder for frames up to [`DEFAULT_MAX_FRAME_SIZE`] bytes.
    pub fn new() -> Self {
        Self::with_max_size(DEFAULT_MAX_FRAME_SIZE)
    }

    /// An encoder for frames up to `max` bytes (clamped to [`MAX_FRAME_SIZE_LIMIT`]).
    /// Allocates nothing until the first frame.
    pub fn with_max_size(max: usize) -> Self {
        let max = max.min(MAX_FRAME_SIZE_LIMIT);
        let max_words = aligned::words_for(max);
        let frames = if max <= 64 * 1024 { SPAN_FRAMES } else { 2 };
        let span_words = (max_words * frames).clamp(2, u32::MAX as usize);

        let builder = message::Builder::new(Scratch::new(span_words));
        FrameEncoder {
            max,
            builder,
            out: Vec::new(),
            out_len: 0,
            span_words,
        }
    }

    /// The largest frame this encoder produces, in bytes.
    pub fn max_size(&self) -> usize {
        self.max
    }

    /// Encodes one frame; `payload` builds the payload in place. The returned bytes start on
    /// an 8-byte boundary and stay valid until the next call.
    ///
    /// # Errors
    ///
    /// [`FrameError::TooLarge`] when the frame would exceed the maximum size (checked before
    /// building from the header alone, and after), and [`FrameError::Encode`] when `payload`
    /// fails.
    pub fn encode<F>(&mut self, header: &FrameHeader<'_>, payload: F) -> Result<&[u8], FrameError>
    where
        F: FnOnce(capnp::any_pointer::Builder<'_>) -> capnp::Result<()>,
    {
        // Refuse what can not fit before Cap'n Proto allocates for it.
        let floor = header.variable_len();
        if floor > self.max {
            return Err(FrameError::TooLarge {
                size: floor,
                max: self.max,
            });
        }

        self.make_room();
        let encoded = self.build(header, payload).and_then(|()| self.copy_out());
        if encoded.is_err() {
            // The builder may hold a partial or multi-segment message: start afresh.
            self.restart();
        }
        encoded?;

        Ok(aligned::as_bytes(&self.out)
            .get(..self.out_len)
            .unwrap_or_default())
    }

    /// Encodes one frame as an owned [`Frame`].
    ///
    /// # Errors
    ///
    /// As [`encode`](Self::encode).
    pub fn encode_frame<F>(
        &mut self,
        header: &FrameHeader<'_>,
        payload: F,
    ) -> Result<Frame, FrameError>
    where
        F: FnOnce(capnp::any_pointer::Builder<'_>) -> capnp::Result<()>,
    {
        Frame::from_bytes(self.encode(header, payload)?)
    }

    /// Restarts the builder when a maximal frame might not fit in the rest of the buffer.
    fn make_room(&mut self) {
        let used = self.builder.size_in_words();
        let needed = aligned::words_for(self.max) + 1;
        if used + needed > self.span_words {
            self.restart();
        }
    }

    /// Hands the buffer back (re-zeroing the used words) and starts a new builder over it.
    fn restart(&mut self) {
        let old = std::mem::replace(&mut self.builder, message::Builder::new(Scratch::new(0)));
        self.builder = message::Builder::new(old.into_allocator());
    }

    /// Writes the envelope and lets `payload` write the payload.
    fn build<F>(&mut self, header: &FrameHeader<'_>, payload: F) -> Result<(), FrameError>
    where
        F: FnOnce(capnp::any_pointer::Builder<'_>) -> capnp::Result<()>,
    {
        let mut envelope = self.builder.init_root::<envelope::Builder<'_>>();
        envelope.set_topic(header.topic);
        envelope.set_partition(header.partition);
        envelope.set_offset(header.offset);
        envelope.set_key(header.key);
        envelope.set_publish_time_ns(header.publish_time_ns);
        envelope.set_attempt(header.attempt);

        // The header count fits: the floor check bounds it by the maximum size.
        let count = u32::try_from(header.headers.len()).unwrap_or(u32::MAX);
        let mut headers = envelope.reborrow().init_headers(count);
        for (index, (name, value)) in (0..count).zip(header.headers) {
            let mut entry = headers.reborrow().get(index);
            entry.set_name(*name);
            entry.set_value(value);
        }

        payload(envelope.init_payload()).map_err(FrameError::Encode)
    }

    /// Copies the new envelope out of the builder's segment as a compact frame.
    fn copy_out(&mut self) -> Result<(), FrameError> {
        let segments = self.builder.get_segments_for_output();
        let [segment] = &segments[..] else {
            let size = self.builder.size_in_words() * WORD;
            return Err(FrameError::TooLarge {
                size,
                max: self.max,
            });
        };

        // Find the root struct the root pointer points at: all of the new frame follows it.
        let root = segment
            .get(..WORD)
            .and_then(|b| <[u8; 8]>::try_from(b).ok());
        let root = root.map(u64::from_le_bytes).ok_or(FrameError::BadRoot)?;
        let start = 1 + i64::from((root as u32 as i32) >> 2);
        let segment_words = (segment.len() / WORD) as i64;
        if root & 3 != 0 || start < 1 || start > segment_words {
            return Err(FrameError::BadRoot);
        }
        let body = segment.get(start as usize * WORD..).unwrap_or_default();

        // Table, root pointer at offset 0, body.
        let frame_len = 2 * WORD + body.len();
        if frame_len > self.max {
            return Err(FrameError::TooLarge {
                size: frame_len,
                max: self.max,
            });
        }
        let body_words = (body.len() / WORD) as u64;
        self.out.clear();
        self.out.reserve(aligned::words_for(self.max) + 2);
        self.out.push(((body_words + 1) << 32).to_le());
        self.out.push((root & 0xffff_ffff_0000_0000).to_le());
        self.out.resize(2 + body_words as usize, 0);
        aligned::as_bytes_mut(&mut self.out[2..]).copy_from_slice(body);
        self.out_len = frame_len;
        Ok(())
    }
}

impl Default for FrameEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameEncoder")
            .field("max", &self.max)
            .field("span_words", &self.span_words)
            .field("used_words", &self.builder.size_in_words())
            .field("last_len", &self.out_len)
            .finish()
    }
}
