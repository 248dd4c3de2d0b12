//! `Subscriber`: a host-side handle that reads a topic as one subscription.
//!
//! A host subscriber owns every partition of its subscription. Each received frame is
//! copied out of its slot into an owned [`Frame`] and acknowledged at once, so the host
//! holds no credit while it works. A frame that does not decode is dead-lettered (reason
//! `decode`) and skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use event_listener::{Event, Listener};

use crate::frame::{Frame, FrameEncoder};
use crate::lane::LaneReader;
use crate::runtime::clock::deadline_in;
use crate::runtime::dead_letter::{self, DeadLetterReason, Letter};
use crate::runtime::shared::Shared;
use crate::topic::TopicId;

/// Why a receive returned no frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// No frame is waiting (`try_recv`) or none came before the deadline (`recv_timeout`).
    #[error("no frame available")]
    Empty,
    /// The runtime stopped and every frame has been read.
    #[error("topic closed")]
    Closed,
}

/// A host-side handle reading one subscription of a topic, from plain threads or async
/// code. Declared with `RuntimeBuilder::subscriber` and taken with
/// `Runtime::take_subscriber`.
///
/// Frames of one partition arrive in offset order; partitions are read round-robin.
#[derive(Debug)]
pub struct Subscriber {
    shared: Arc<Shared>,
    topic: TopicId,
    readers: Vec<LaneReader>,
    next: usize,
    doorbell: Arc<Event>,
    encoder: FrameEncoder,
    /// Per partition, frames below this offset were read before a restart: skipped.
    resume: Vec<u64>,
}

impl Subscriber {
    pub(crate) fn new(
        shared: Arc<Shared>,
        topic: TopicId,
        readers: Vec<LaneReader>,
        doorbell: Arc<Event>,
        resume: Vec<u64>,
    ) -> Self {
        let encoder = FrameEncoder::with_max_size(shared.max_frame_size);
        Self {
            shared,
            topic,
            readers,
            next: 0,
            doorbell,
            encoder,
            resume,
        }
    }

    /// The topic this subscriber reads.
    pub fn topic(&self) -> TopicId {
        self.topic
    }

    /// Takes the next frame without waiting.
    ///
    /// # Errors
    ///
    /// `Empty` when no frame is waiting; `Closed` when the runtime stopped and every frame
    /// has been read.
    pub fn try_recv(&mut self) -> Result<Frame, RecvError> {
        let partitions = self.readers.len();
        for i in 0..partitions {
            let index = (self.next + i) % partitions;
            while let Some(offset) = self.readers[index].poll() {
                if offset < self.resume[index] {
                    self.readers[index].release(offset);
                    continue;
                }
                if let Some(frame) = self.take(index, offset) {
                    self.next = (index + 1) % partitions;
                    return Ok(frame);
                }
            }
        }
        if self.readers.iter().all(LaneReader::is_drained) {
            return Err(RecvError::Closed);
        }
        Err(RecvError::Empty)
    }

    /// Waits for the next frame.
    ///
    /// # Errors
    ///
    /// `Closed` when the runtime stopped and every frame has been read.
    pub fn recv(&mut self) -> Result<Frame, RecvError> {
        loop {
            match self.recv_deadline(deadline_in(Duration::from_secs(3600))) {
                Err(RecvError::Empty) => continue,
                other => return other,
            }
        }
    }

    /// Waits up to `timeout` for the next frame.
    ///
    /// # Errors
    ///
    /// `Empty` when none came in time; `Closed` as for [`recv`](Self::recv).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Frame, RecvError> {
        self.recv_deadline(deadline_in(timeout))
    }

    fn recv_deadline(&mut self, deadline: Instant) -> Result<Frame, RecvError> {
        loop {
            // Register before the last look, so a commit in between wakes us.
            let listener = self.doorbell.listen();
            match self.try_recv() {
                Err(RecvError::Empty) => {}
                other => return other,
            }
            if self.arm() {
                continue;
            }
            if listener.wait_deadline(deadline).is_none() && Instant::now() >= deadline {
                return self.try_recv();
            }
        }
    }

    /// Waits for the next frame from async code, with any executor.
    ///
    /// # Errors
    ///
    /// `Closed` when the runtime stopped and every frame has been read.
    pub async fn recv_async(&mut self) -> Result<Frame, RecvError> {
        loop {
            let listener = self.doorbell.listen();
            match self.try_recv() {
                Err(RecvError::Empty) if self.arm() => {}
                Err(RecvError::Empty) => listener.await,
                other => return other,
            }
        }
    }

    /// Arms every partition's doorbell before waiting; true when a frame is there already.
    fn arm(&mut self) -> bool {
        self.readers
            .iter_mut()
            .fold(false, |committed, reader| reader.arm() || committed)
    }

    /// Copies frame `offset` of reader `index` out and releases it; a frame that does not
    /// decode is dead-lettered and `None` returned. Stays on the frame until its dead letter
    /// is published, so nothing is lost.
    fn take(&mut self, index: usize, offset: u64) -> Option<Frame> {
        let reader = &self.readers[index];
        let bytes = reader.bytes(offset).unwrap_or_default();
        match Frame::from_bytes(bytes) {
            Ok(frame) => {
                // NB: the host holds no credit while it works: publish the release now
                // rather than at the reader's next batch.
                self.readers[index].release(offset);
                self.readers[index].flush();
                Some(frame)
            }
            Err(error) => {
                let topic = self.shared.topic(self.topic);
                let key = dead_letter::key_of(bytes);
                let detail = error.to_string();
                let letter = Letter {
                    topic: &topic.name,
                    partition: index as u32,
                    offset,
                    key,
                    attempts: 1,
                    reason: DeadLetterReason::Decode,
                    detail: &detail,
                    frame: bytes,
                };
                while !dead_letter::send(&self.shared, &mut self.encoder, &letter) {
                    if self.shared.topic(self.shared.dead_letters).rings[0].is_closed() {
                        tracing::error!(topic = %topic.name, offset, "undecodable frame lost: dead-letter topic closed");
                        break;
                    }
                }
                self.readers[index].release(offset);
                None
            }
        }
    }
}
