//! Dead letters: frames that were rejected, could not be decoded, or ran out of attempts,
//! published to the runtime's dead-letter topic with the reason.
//!
//! A dead letter is a frame like any other: its key is the original key (when it could be
//! read), and its payload a `DeadLetter` struct (`schema/envelope.capnp`) carrying the
//! original topic, partition, offset, attempt count, reason, and the original frame bytes.

use std::time::{Duration, Instant};

use crate::frame::envelope_capnp::dead_letter;
use crate::frame::{FrameEncoder, FrameHeader, FrameRef};
use crate::runtime::publish::{publish_bytes, Wait};
use crate::runtime::shared::Shared;
use crate::topic::key_hash;

/// The name of the dead-letter topic every runtime has.
pub const DEAD_LETTER_TOPIC: &str = "dead-letters";

/// How long a thread waits for a credit on the dead-letter topic before it keeps the frame
/// and tries again on a later round.
const DEAD_LETTER_WAIT: Duration = Duration::from_millis(100);

/// Why a frame was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// The agent returned `Outcome::Reject`.
    Rejected,
    /// The frame could not be decoded.
    Decode,
    /// The frame was delivered `max_deliver` times without an ack.
    MaxDeliveries,
}

impl DeadLetterReason {
    fn to_schema(self) -> dead_letter::Reason {
        match self {
            DeadLetterReason::Rejected => dead_letter::Reason::Rejected,
            DeadLetterReason::Decode => dead_letter::Reason::Decode,
            DeadLetterReason::MaxDeliveries => dead_letter::Reason::MaxDeliveries,
        }
    }
}

/// One frame on its way to the dead-letter topic.
#[derive(Debug)]
pub(crate) struct Letter<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
    /// The original key, or empty when it could not be read.
    pub(crate) key: &'a [u8],
    pub(crate) attempts: u32,
    pub(crate) reason: DeadLetterReason,
    pub(crate) detail: &'a str,
    /// The original frame bytes, as they sat in the lane.
    pub(crate) frame: &'a [u8],
}

/// The key of the frame in `bytes`, or empty when it does not decode: a dead letter keeps
/// the original key when it can.
pub(crate) fn key_of(bytes: &[u8]) -> &[u8] {
    FrameRef::decode(bytes)
        .ok()
        .and_then(|f| f.key().ok())
        .unwrap_or(&[])
}

/// Makes every dead letter published so far durable, when the dead-letter topic is (so the
/// original may be released). Returns false when the sync failed: the caller keeps the
/// frame and tries again.
pub(crate) fn make_durable(shared: &Shared) -> bool {
    let Some(durable) = &shared.topic(shared.dead_letters).durable else {
        return true;
    };
    let log = &durable.partitions[0];
    let last = log.next_offset().saturating_sub(1);
    match log.sync_through(last) {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, "cannot make dead letters durable; keeping the frame");
            false
        }
    }
}

/// Publishes `letter` to the dead-letter topic. Returns false when the topic stayed full
/// (or closed): the caller keeps the frame and tries again, so nothing is dropped.
pub(crate) fn send(shared: &Shared, encoder: &mut FrameEncoder, letter: &Letter<'_>) -> bool {
    let topic = shared.topic(shared.dead_letters);
    let header = FrameHeader {
        topic: &topic.name,
        partition: 0,
        offset: 0,
        key: letter.key,
        publish_time_ns: shared.clock.now_ns(),
        attempt: 1,
        headers: &[],
    };

    // Encode the letter; the topic's maximum leaves room for any frame of the runtime.
    let encoded = encoder.encode(&header, |payload| {
        let mut dl = payload.init_as::<dead_letter::Builder>();
        dl.set_topic(letter.topic);
        dl.set_partition(letter.partition);
        dl.set_offset(letter.offset);
        dl.set_key(letter.key);
        dl.set_attempts(letter.attempts);
        dl.set_reason(letter.reason.to_schema());
        dl.set_detail(letter.detail);
        dl.set_frame(letter.frame);
        Ok(())
    });
    let bytes = match encoded {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(topic = letter.topic, offset = letter.offset, %error, "cannot encode dead letter");
            return false;
        }
    };

    let wait = Wait::Until(Instant::now() + DEAD_LETTER_WAIT);
    match publish_bytes(topic, key_hash(letter.key), bytes, wait) {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(topic = letter.topic, offset = letter.offset, %error, "dead-letter topic full; will retry");
            false
        }
    }
}
