//! Frames: Cap'n Proto envelopes in 8-byte-aligned buffers, read in place.
//!
//! A frame is one message: standard Cap'n Proto flat serialization (a segment table, then
//! the segments) whose root is the [`Envelope`](envelope_capnp::envelope) of
//! `schema/envelope.capnp`, with the user's message in its `payload`. The same bytes are the
//! lane payload, the log record body and the NATS message body; `docs/format.md` draws them.
//!
//! # The pieces
//!
//! - [`FrameEncoder`] writes a frame from a [`FrameHeader`] and a payload closure, into a
//!   reused buffer, one segment, at most [`DEFAULT_MAX_FRAME_SIZE`] bytes by default.
//! - [`FrameRef`] decodes a frame borrowed from an aligned buffer, zero-copy and
//!   allocation-free, with a traversal limit sized to the frame.
//! - [`Frame`] owns a validated frame in an aligned shared buffer, with its key hash.
//! - [`patch`] edits the fixed-width fields (partition, offset, attempt, publish time) of
//!   an encoded frame in place.
//! - [`key_hash`] is the stable partitioning hash (64-bit FNV-1a).
//!
//! # Bad input
//!
//! Every decoder here returns a [`FrameError`] for malformed bytes and never panics; no
//! allocation is ever sized by a length the bytes claim. A frame that decodes is not
//! necessarily the frame that was written: bit flips can leave a valid frame, so the log
//! guards its records with a CRC.
//!
//! # Examples
//!
//! ```
//! use agentlane::frame::sentiment_capnp::post;
//! use agentlane::frame::{FrameEncoder, FrameHeader, FrameRef};
//!
//! let mut encoder = FrameEncoder::new();
//! let header = FrameHeader { topic: "posts", key: b"17", ..Default::default() };
//! let bytes = encoder.encode(&header, |payload| {
//!     let mut post = payload.init_as::<post::Builder<'_>>();
//!     post.set_id(17);
//!     post.set_text("what a lovely day");
//!     Ok(())
//! })?;
//!
//! let frame = FrameRef::decode(bytes)?;
//! let post = frame.payload::<post::Owned>()?;
//! assert_eq!(post.get_id(), 17);
//! assert_eq!(post.get_text()?.to_str()?, "what a lovely day");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod aligned;
mod encode;
mod error;
mod key;
mod owned;
pub mod patch;
mod read;
mod scratch;
mod table;

pub use encode::{
    FrameEncoder, FrameHeader, DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT, SPAN_FRAMES,
};
pub use error::FrameError;
pub use key::{key_hash, FNV_OFFSET_BASIS, FNV_PRIME};
pub use owned::Frame;
pub use read::{FrameRef, TRAVERSAL_FACTOR};
pub use table::MAX_SEGMENTS;

/// Code generated from `schema/envelope.capnp`: the envelope, its headers, and the
/// dead-letter payload.
#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
#[allow(clippy::all, clippy::pedantic, clippy::undocumented_unsafe_blocks)]
pub mod envelope_capnp {
    include!(concat!(env!("OUT_DIR"), "/envelope_capnp.rs"));
}

/// Code generated from `schema/sentiment.capnp`: the sentiment demo's posts and scores.
#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
#[allow(clippy::all, clippy::pedantic, clippy::undocumented_unsafe_blocks)]
pub mod sentiment_capnp {
    include!(concat!(env!("OUT_DIR"), "/sentiment_capnp.rs"));
}
