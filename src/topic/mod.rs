//! Topics: named streams of frames, split into partitions by a stable hash of the key.
//!
//! A topic owns one partition ring per partition (see the `lane` module). Every
//! subscription of the topic reads every partition ring through its own cursors, so two
//! subscriptions each see every frame (fan-out), while inside one subscription each
//! partition is owned by exactly one member (a consumer group).
//!
//! # Partitioning
//!
//! A frame's partition is `key_hash(key) % partitions`, where [`key_hash`] is 64-bit FNV-1a
//! over the key bytes. The hash is part of the format (see `docs/format.md`): it never
//! changes between versions, so a key lands on the same partition in every process, in the
//! log and across the bridge.

use std::sync::Arc;
use std::time::Duration;

pub use crate::frame::key_hash;
use crate::frame::DEFAULT_MAX_FRAME_SIZE;
use crate::lane::{PartitionRing, RingConfig};
use crate::log::LogConfig;
use crate::runtime::durable::DurableTopic;

/// What a publisher does when a partition has no free credit.
///
/// # Back-pressure
///
/// A credit is one slot of the partition ring. It is taken when a frame is published and
/// returned once every subscription has acknowledged (or dead-lettered) that frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BackPressure {
    /// Wait for a credit with the runtime's idle strategy, up to a deadline, then fail with
    /// `Timeout` and hand the frame back.
    #[default]
    Block,
    /// Fail at once with `Full`, handing the very frame back to the caller.
    Fail,
    /// Conflate: drop the oldest frame that no subscription has taken yet and publish the
    /// new one. Meant for sensor streams where only the latest value matters. When every
    /// queued frame is already in a consumer's hands, the publish fails with `Full`.
    DropOldest,
}

/// The configuration of one topic.
///
/// # Examples
///
/// ```
/// use agentlane::TopicConfig;
/// use agentlane::topic::BackPressure;
///
/// let config = TopicConfig::new(4).max_in_flight(256).back_pressure(BackPressure::Fail);
/// assert_eq!(config.partitions, 4);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TopicConfig {
    /// Number of partitions, at least 1.
    pub partitions: u32,
    /// Credits per partition: how many frames may be published and not yet acknowledged by
    /// every subscription. Rounded up to a power of two, at least 2.
    pub max_in_flight: usize,
    /// The largest frame, in bytes, a publisher may send; larger frames are refused at
    /// publish time with `TooLarge`. Each slot of the ring reserves this much memory.
    pub max_frame_size: usize,
    /// What `publish` does when there is no credit.
    pub back_pressure: BackPressure,
    /// How long a blocking publish waits for a credit (host `publish`, and every publish
    /// made by an agent from inside a handler).
    pub block_timeout: Duration,
    /// When set, the topic is durable: every frame is appended to its partition's log
    /// (under the runtime's `log_dir`) before any subscription sees it.
    pub durability: Option<LogConfig>,
}

impl TopicConfig {
    /// A topic with `partitions` partitions and default settings: 1024 credits per
    /// partition, frames up to 4 KiB, `Block` back-pressure with a 1 s deadline.
    pub fn new(partitions: u32) -> Self {
        Self {
            partitions,
            max_in_flight: 1024,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            back_pressure: BackPressure::Block,
            block_timeout: Duration::from_secs(1),
            durability: None,
        }
    }

    /// Makes the topic durable, with this log configuration.
    ///
    /// # Durability
    ///
    /// A frame is written ahead to the log before consumers can see it, and is durable
    /// once the log's sync policy has synced it (see `Publisher::publish_durable`).
    pub fn durable(mut self, log: LogConfig) -> Self {
        self.durability = Some(log);
        self
    }

    /// Sets the credits per partition.
    pub fn max_in_flight(mut self, credits: usize) -> Self {
        self.max_in_flight = credits;
        self
    }

    /// Sets the largest frame accepted at publish time, in bytes.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets the back-pressure policy.
    pub fn back_pressure(mut self, policy: BackPressure) -> Self {
        self.back_pressure = policy;
        self
    }

    /// Sets how long a blocking publish waits for a credit.
    pub fn block_timeout(mut self, timeout: Duration) -> Self {
        self.block_timeout = timeout;
        self
    }

    /// The ring capacity the credits round up to.
    pub(crate) fn ring_capacity(&self) -> usize {
        self.max_in_flight
            .max(2)
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX)
    }

    /// The slot size the maximum frame rounds up to (a multiple of 8).
    pub(crate) fn slot_size(&self) -> usize {
        self.max_frame_size.div_ceil(8).saturating_mul(8)
    }
}

/// The partition a key hash maps to.
///
/// `partitions` must be at least 1; the runtime refuses a topic with none.
pub fn partition_for(key_hash: u64, partitions: u32) -> u32 {
    debug_assert!(partitions > 0);
    let partitions = u64::from(partitions.max(1));

    // NB: for a power of two the mask is the same remainder without a 64-bit division,
    // which is a fifth of a publish's cost when profiled.
    if partitions.is_power_of_two() {
        return (key_hash & (partitions - 1)) as u32;
    }
    (key_hash % partitions) as u32
}

/// A handle naming a topic of a runtime, returned by `RuntimeBuilder::topic`.
///
/// Agents keep it (captured by their factory) and publish with `Context::publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopicId(pub(crate) usize);

/// A topic as the running runtime holds it.
#[derive(Debug)]
pub(crate) struct Topic {
    /// The topic's name, as written into each frame's envelope.
    pub(crate) name: String,
    /// Its configuration, fixed at build.
    pub(crate) config: TopicConfig,
    /// One ring per partition, indexed by partition number.
    pub(crate) rings: Vec<Arc<PartitionRing>>,
    /// The names of its subscriptions, by subscription index.
    pub(crate) subscriptions: Vec<String>,
    /// The log side, for a durable topic.
    pub(crate) durable: Option<DurableTopic>,
    /// Per subscription index, per partition: the first offset to deliver (earlier frames
    /// were acknowledged before a restart). All 0 for a topic that is not durable.
    pub(crate) resume: Vec<Vec<u64>>,
}

impl Topic {
    /// Builds the rings of a topic read by `subscriptions`, each ring starting at the
    /// offset `base(partition)`.
    pub(crate) fn new(
        name: String,
        config: TopicConfig,
        subscriptions: Vec<String>,
        durable: Option<(DurableTopic, Vec<Vec<u64>>)>,
    ) -> Self {
        let count = subscriptions.len();
        let (durable, resume) = match durable {
            Some((topic, resume)) => (Some(topic), resume),
            None => (None, vec![vec![0; config.partitions as usize]; count]),
        };
        let base = |p: usize| match &durable {
            Some(d) => resume
                .iter()
                .map(|r| r[p])
                .min()
                .unwrap_or(d.partitions[p].next_offset()),
            None => 0,
        };
        let rings = (0..config.partitions as usize)
            .map(|p| {
                let ring = RingConfig {
                    capacity: config.ring_capacity(),
                    slot_size: config.slot_size(),
                    subscriptions: count,
                    base_offset: base(p),
                };
                // Only a conflating topic pays for readers that take frames by CAS.
                match config.back_pressure {
                    BackPressure::DropOldest => PartitionRing::new(ring),
                    _ => PartitionRing::new_without_drops(ring),
                }
            })
            .collect();
        Self {
            name,
            config,
            rings,
            subscriptions,
            durable,
            resume,
        }
    }

    /// The ring of the partition `key_hash` maps to, with its partition number.
    pub(crate) fn ring_for(&self, key_hash: u64) -> (u32, &Arc<PartitionRing>) {
        let partition = partition_for(key_hash, self.config.partitions);
        (partition, &self.rings[partition as usize])
    }

    /// Refuses every further publish; readers still drain what was committed.
    pub(crate) fn close(&self) {
        self.rings.iter().for_each(|ring| ring.close());
    }

    /// True when every frame published so far has been released by every subscription.
    pub(crate) fn is_settled(&self) -> bool {
        self.rings
            .iter()
            .all(|ring| ring.free_credits() == ring.capacity())
    }

    /// Frames published but not yet released by every subscription (racy snapshot).
    pub(crate) fn unsettled(&self) -> usize {
        self.rings
            .iter()
            .map(|ring| ring.capacity() - ring.free_credits())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioning_is_stable_and_in_range() {
        for partitions in 1..9 {
            for key in [&b""[..], b"a", b"post-17", b"\xff\x00"] {
                let p = partition_for(key_hash(key), partitions);
                assert!(p < partitions);
                assert_eq!(p, partition_for(key_hash(key), partitions));
            }
        }
    }

    #[test]
    fn the_mask_and_the_remainder_agree() {
        let hashes = [0, 1, 7, 0xcbf2_9ce4_8422_2325, u64::MAX, key_hash(b"k1")];
        for partitions in 1..=64u32 {
            for hash in hashes {
                assert_eq!(
                    u64::from(partition_for(hash, partitions)),
                    hash % u64::from(partitions)
                );
            }
        }
    }

    #[test]
    fn capacity_rounds_to_power_of_two() {
        assert_eq!(TopicConfig::new(1).max_in_flight(0).ring_capacity(), 2);
        assert_eq!(TopicConfig::new(1).max_in_flight(5).ring_capacity(), 8);
        assert_eq!(TopicConfig::new(1).max_frame_size(13).slot_size(), 16);
    }
}
