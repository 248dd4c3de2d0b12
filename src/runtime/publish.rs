//! Publishing: the one path every frame takes into a partition ring, and the host's
//! `Publisher` handle over it.
//!
//! A publish checks the frame's size, picks the partition from the key hash, takes a
//! credit (or applies the topic's back-pressure policy when there is none), copies the
//! frame into the credit's slot, writes the partition and the offset into the slot's
//! envelope, and stamps the slot so the subscriptions can read it.

use std::borrow::Borrow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::frame::{patch, Frame, FrameEncoder, FrameError, FrameHeader};
use crate::lane::{PartitionRing, Reservation, ReserveError};
use crate::log::{LogError, SyncPolicy};
use crate::runtime::clock::{deadline_in, wall_ns};
use crate::runtime::shared::Shared;
use crate::topic::{BackPressure, Topic, TopicId};

/// Why a publish did not happen. Each variant hands the frame back.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError<F> {
    /// The partition had no free credit and the call could not wait.
    #[error("partition full")]
    Full(F),
    /// No credit came free before the deadline.
    #[error("timed out waiting for a credit")]
    Timeout(F),
    /// The runtime is shutting down, or the topic is closed.
    #[error("topic closed")]
    Closed(F),
    /// The frame is larger than the topic's `max_frame_size`.
    #[error("frame of {size} bytes exceeds the topic maximum of {max}")]
    TooLarge {
        /// The refused frame.
        frame: F,
        /// Its size in bytes.
        size: usize,
        /// The topic's maximum.
        max: usize,
    },
    /// A durable topic's log refused the frame (a failed write or sync, or a log that
    /// failed before and refuses appends until the runtime restarts).
    #[error("writing ahead to the log: {error}")]
    Log {
        /// The refused frame.
        frame: F,
        /// The log's error.
        error: Arc<LogError>,
    },
}

impl<F> PublishError<F> {
    /// Takes the frame back out of the error.
    pub fn into_inner(self) -> F {
        match self {
            PublishError::Full(f) | PublishError::Timeout(f) | PublishError::Closed(f) => f,
            PublishError::TooLarge { frame, .. } | PublishError::Log { frame, .. } => frame,
        }
    }

    /// Puts another value in place of the frame.
    pub fn map<G>(self, g: G) -> PublishError<G> {
        match self {
            PublishError::Full(_) => PublishError::Full(g),
            PublishError::Timeout(_) => PublishError::Timeout(g),
            PublishError::Closed(_) => PublishError::Closed(g),
            PublishError::TooLarge { size, max, .. } => PublishError::TooLarge {
                frame: g,
                size,
                max,
            },
            PublishError::Log { error, .. } => PublishError::Log { frame: g, error },
        }
    }
}

/// How long a publish may wait for a credit.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Not at all (`try_publish`).
    Never,
    /// As the topic's back-pressure policy says, with its block timeout.
    Policy,
    /// Until this instant, whatever the policy (`publish_timeout`).
    Until(Instant),
}

/// Publishes encoded frame bytes into `topic`. The one path every publish takes.
pub(crate) fn publish_bytes(
    topic: &Topic,
    key_hash: u64,
    bytes: &[u8],
    wait: Wait,
) -> Result<u64, PublishError<()>> {
    // Refuse an oversized frame before any credit or offset is used.
    let max = topic.config.max_frame_size;
    if bytes.len() > max {
        return Err(PublishError::TooLarge {
            frame: (),
            size: bytes.len(),
            max,
        });
    }

    let (partition, ring) = topic.ring_for(key_hash);
    let (policy, block_timeout) = (&topic.config.back_pressure, topic.config.block_timeout);
    let reserve_credit = |ring| reserve(ring, policy, block_timeout, wait);

    // A durable topic writes ahead to the log, under its partition's writer lock.
    if let Some(durable) = &topic.durable {
        let log = &durable.partitions[partition as usize];
        return match log.publish(ring, partition, bytes, wall_ns(), reserve_credit)? {
            Ok(offset) => Ok(offset),
            Err(error) => Err(PublishError::Log {
                frame: (),
                error: Arc::new(error),
            }),
        };
    }
    let reservation = reserve_credit(ring)?;
    Ok(commit(reservation, partition, bytes))
}

/// Copies `bytes` into the reserved slot and stamps it with its partition and offset.
fn commit(reservation: Reservation<'_>, partition: u32, bytes: &[u8]) -> u64 {
    // NB: a validated `Frame` or a `FrameEncoder`'s output always patches; raw bytes from
    // `Context::publish_bytes` may not, and travel as they are: their consumer cannot
    // decode them either, and dead-letters them with reason `decode`.
    reservation.commit(bytes, |slot, offset| {
        let _ = patch::set_position(slot, partition, offset);
    })
}

/// Takes a credit on `ring`, applying the back-pressure policy when there is none.
fn reserve<'r>(
    ring: &'r PartitionRing,
    policy: &BackPressure,
    block_timeout: Duration,
    wait: Wait,
) -> Result<Reservation<'r>, PublishError<()>> {
    // The fast path: a credit is free.
    match ring.try_reserve() {
        Ok(reservation) => return Ok(reservation),
        Err(ReserveError::Closed) => return Err(PublishError::Closed(())),
        Err(_) => {}
    }

    // No credit: conflate, fail or wait.
    let deadline = match (policy, wait) {
        (BackPressure::DropOldest, _) => return reserve_dropping_oldest(ring),
        (_, Wait::Until(deadline)) => deadline,
        (BackPressure::Block, Wait::Policy) => deadline_in(block_timeout),
        _ => return Err(PublishError::Full(())),
    };
    ring.reserve_deadline(deadline).map_err(|e| match e {
        ReserveError::Closed => PublishError::Closed(()),
        ReserveError::Timeout => PublishError::Timeout(()),
        _ => PublishError::Full(()),
    })
}

/// `DropOldest`: drop the oldest untaken frame until a credit is free.
fn reserve_dropping_oldest(ring: &PartitionRing) -> Result<Reservation<'_>, PublishError<()>> {
    loop {
        match ring.try_reserve() {
            Ok(reservation) => return Ok(reservation),
            Err(ReserveError::Closed) => return Err(PublishError::Closed(())),
            Err(_) => {}
        }
        if ring.try_drop_oldest().is_err() {
            return Err(PublishError::Full(()));
        }
    }
}

/// A host-side handle that publishes frames into one topic.
///
/// Cheap to clone; each clone is independent and may move to another thread. Frames from
/// one `Publisher` to one partition keep their order, even with other publishers writing
/// into the same partition.
///
/// # Back-pressure
///
/// `try_publish` never waits. `publish` follows the topic's policy: `Block` waits up to
/// the topic's `block_timeout`, `Fail` fails at once, `DropOldest` replaces the oldest
/// untaken frame. `publish_timeout` waits up to the given time, whatever the policy
/// (except `DropOldest`, which never waits). Every failure hands the frame back.
///
/// # Examples
///
/// ```
/// use agentlane::{RuntimeBuilder, TopicConfig};
/// use agentlane::frame::sentiment_capnp::post;
///
/// let mut builder = RuntimeBuilder::new();
/// let posts = builder.topic("posts", TopicConfig::new(2));
/// let reader = builder.subscriber(posts, "host");
/// let runtime = builder.start().unwrap();
///
/// let mut publisher = runtime.publisher(posts);
/// let frame = publisher
///     .frame(b"post-1", |payload| {
///         let mut post = payload.init_as::<post::Builder>();
///         post.set_id(1);
///         post.set_text("hello");
///         Ok(())
///     })
///     .unwrap();
/// let offset = publisher.publish(&frame).unwrap();
/// assert_eq!(offset, 0);
///
/// let mut subscriber = runtime.take_subscriber(reader).unwrap();
/// let received = subscriber.recv().unwrap();
/// assert_eq!(received.reader().key().unwrap(), b"post-1");
/// assert!(runtime.shutdown(std::time::Duration::from_secs(1)).drained);
/// ```
#[derive(Debug)]
pub struct Publisher {
    shared: Arc<Shared>,
    topic: TopicId,
    encoder: FrameEncoder,
}

impl Clone for Publisher {
    fn clone(&self) -> Self {
        Publisher::new(self.shared.clone(), self.topic)
    }
}

impl Publisher {
    pub(crate) fn new(shared: Arc<Shared>, topic: TopicId) -> Self {
        let max = shared.topic(topic).config.max_frame_size;
        Self {
            shared,
            topic,
            encoder: FrameEncoder::with_max_size(max),
        }
    }

    /// Builds a frame for this topic: the envelope with `key` and the current time, and a
    /// payload written by `payload`.
    ///
    /// # Errors
    ///
    /// Returns the encoding error, including `TooLarge` past the topic's maximum.
    pub fn frame<F>(&mut self, key: &[u8], payload: F) -> Result<Frame, FrameError>
    where
        F: FnOnce(capnp::any_pointer::Builder<'_>) -> capnp::Result<()>,
    {
        let topic = self.shared.topic(self.topic);
        let header = FrameHeader {
            topic: &topic.name,
            partition: 0,
            offset: 0,
            key,
            publish_time_ns: self.shared.clock.now_ns(),
            attempt: 1,
            headers: &[],
        };
        self.encoder.encode_frame(&header, payload)
    }

    /// Publishes without waiting; returns the frame's offset.
    ///
    /// # Errors
    ///
    /// `Full` when the partition has no credit (after conflating, on a `DropOldest`
    /// topic), `Closed` once shutdown began, `TooLarge` past the topic's maximum.
    pub fn try_publish<F: Borrow<Frame>>(&self, frame: F) -> Result<u64, PublishError<F>> {
        self.publish_with(frame, Wait::Never)
    }

    /// Publishes following the topic's back-pressure policy; returns the frame's offset.
    ///
    /// # Errors
    ///
    /// As [`try_publish`](Self::try_publish), plus `Timeout` when a `Block` topic had no
    /// credit within its `block_timeout`.
    pub fn publish<F: Borrow<Frame>>(&self, frame: F) -> Result<u64, PublishError<F>> {
        self.publish_with(frame, Wait::Policy)
    }

    /// Publishes, waiting up to `timeout` for a credit; returns the frame's offset.
    ///
    /// # Errors
    ///
    /// As [`publish`](Self::publish).
    pub fn publish_timeout<F: Borrow<Frame>>(
        &self,
        frame: F,
        timeout: Duration,
    ) -> Result<u64, PublishError<F>> {
        self.publish_with(frame, Wait::Until(deadline_in(timeout)))
    }

    /// Publishes from async code, waiting for a credit without blocking the executor.
    /// Works with any executor.
    ///
    /// # Errors
    ///
    /// `Closed` once shutdown began, `TooLarge` past the topic's maximum, and `Full` on a
    /// `Fail` topic or a `DropOldest` topic that could not conflate.
    pub async fn publish_async<F: Borrow<Frame>>(&self, frame: F) -> Result<u64, PublishError<F>> {
        let topic = self.shared.topic(self.topic);
        match self.publish_with(frame, Wait::Never) {
            Err(PublishError::Full(frame)) if topic.config.back_pressure == BackPressure::Block => {
                let (partition, ring) = topic.ring_for(frame.borrow().key_hash());
                let Ok(reservation) = ring.reserve_async().await else {
                    return Err(PublishError::Closed(frame));
                };
                if topic.durable.is_none() {
                    return Ok(commit(reservation, partition, frame.borrow().as_bytes()));
                }
                // NB: a durable publish must take its credit under the log's writer lock,
                // which is not held across an await: give the credit back and race for it.
                drop(reservation);
                Box::pin(self.publish_async(frame)).await
            }
            other => other,
        }
    }

    fn publish_with<F: Borrow<Frame>>(&self, frame: F, wait: Wait) -> Result<u64, PublishError<F>> {
        if !self.shared.intake_open.load(Ordering::Acquire) {
            return Err(PublishError::Closed(frame));
        }
        let topic = self.shared.topic(self.topic);
        let bytes = frame.borrow();
        match publish_bytes(topic, bytes.key_hash(), bytes.as_bytes(), wait) {
            Ok(offset) => Ok(offset),
            Err(e) => Err(e.map(frame)),
        }
    }

    /// Publishes, waiting for a credit and then until the frame is durable (synced to the
    /// log), up to `timeout` in all; returns the frame's offset.
    ///
    /// # Durability
    ///
    /// On `Ok` the frame survives a crash. On a topic whose sync policy is `Never` this
    /// syncs the partition's log itself; under `Interval` it waits for the group commit.
    /// On a topic that is not durable it is `publish`.
    ///
    /// # Errors
    ///
    /// As [`publish`](Self::publish), plus `Log` when the log fails or the sync does not
    /// come within `timeout` (the frame was published, and may yet become durable).
    pub fn publish_durable<F: Borrow<Frame>>(
        &self,
        frame: F,
        timeout: Duration,
    ) -> Result<u64, PublishError<F>> {
        let deadline = deadline_in(timeout);
        let topic = self.shared.topic(self.topic);
        let (partition, _) = topic.ring_for(frame.borrow().key_hash());
        let offset = self
            .publish_with(frame.borrow(), Wait::Until(deadline))
            .map_err(|e| e.map(()));
        let offset = match offset {
            Ok(offset) => offset,
            Err(error) => return Err(error.map(frame)),
        };
        let Some(durable) = &topic.durable else {
            return Ok(offset);
        };
        let log = &durable.partitions[partition as usize];
        let synced = match log.sync {
            SyncPolicy::Interval(_) => log.handle.wait_durable(offset, deadline).map(drop),
            _ => log.sync_through(offset),
        };
        synced.map(|()| offset).map_err(|error| PublishError::Log {
            frame,
            error: Arc::new(error),
        })
    }

    /// The topic this publisher writes to.
    pub fn topic(&self) -> TopicId {
        self.topic
    }
}
