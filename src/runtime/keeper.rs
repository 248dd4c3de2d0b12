//! The log keeper: the runtime thread that looks after durable topics.
//!
//! At start it feeds each durable partition's ring with the logged frames a restart must
//! deliver again (see `durable`). Then, until the runtime stops, it runs the group commits
//! of `SyncPolicy::Interval` logs when they are due and stores consumer positions a few
//! times a second. When every agent has stopped, `finish` syncs every log and stores the
//! final positions.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::runtime::shared::Shared;
use crate::topic::Topic;

/// How often positions are stored while the runtime runs.
const STORE_EVERY: Duration = Duration::from_millis(200);

/// How long the keeper sleeps between looks.
const TICK: Duration = Duration::from_millis(5);

/// The keeper thread's body.
pub(crate) fn run(shared: &Shared) {
    std::thread::scope(|scope| {
        feed(shared, scope);

        let mut stored = Instant::now();
        while !shared.stop.load(Ordering::Acquire) {
            for topic in durable(shared) {
                group_commit(topic);
            }
            if stored.elapsed() >= STORE_EVERY {
                durable(shared).for_each(store_positions);
                stored = Instant::now();
            }
            std::thread::sleep(TICK);
        }
    });
}

/// Stores every position; called at stop, while agent threads still hold their lanes
/// (their in-flight frames are not released, so they count as unacknowledged).
pub(crate) fn store_all_positions(shared: &Shared) {
    durable(shared).for_each(store_positions);
}

/// Syncs every log; called once the agents have stopped.
pub(crate) fn sync_all(shared: &Shared) {
    for topic in durable(shared) {
        let Some(log) = &topic.durable else { continue };
        for partition in &log.partitions {
            if let Err(error) = partition.sync() {
                tracing::error!(topic = %topic.name, dir = %partition.dir().display(), %error, "final log sync failed");
            }
        }
    }
}

fn durable(shared: &Shared) -> impl Iterator<Item = &Topic> {
    shared.topics.iter().filter(|t| t.durable.is_some())
}

/// Commits the logged frames that must be delivered again into the rings.
///
/// Partitions with nothing to replay open at once; the others are fed each on a thread of
/// its own, since feeding one may wait on agents that publish into another.
fn feed<'s>(shared: &'s Shared, scope: &'s std::thread::Scope<'s, '_>) {
    let mut pending = Vec::new();
    for topic in durable(shared) {
        let Some(log) = &topic.durable else { continue };
        for (partition, ring) in log.partitions.iter().zip(&topic.rings) {
            if partition.needs_feed(ring) {
                pending.push((topic, partition, ring));
            } else {
                partition.mark_fed();
            }
        }
    }

    for (topic, partition, ring) in pending {
        scope.spawn(move || match partition.feed(ring, &shared.stop) {
            Ok(fed) => tracing::debug!(topic = %topic.name, dir = %partition.dir().display(), fed, "replayed logged frames"),
            Err(error) => tracing::error!(topic = %topic.name, dir = %partition.dir().display(), %error, "cannot replay the log"),
        });
    }
}

fn group_commit(topic: &Topic) {
    let Some(log) = &topic.durable else { return };
    for partition in &log.partitions {
        if let Err(error) = partition.maybe_sync() {
            tracing::error!(topic = %topic.name, dir = %partition.dir().display(), %error, "group commit failed");
        }
    }
}

/// Stores each subscription's released offset per partition, when any changed.
fn store_positions(topic: &Topic) {
    let Some(log) = &topic.durable else { return };
    let current: Vec<(&str, u32, u64)> = topic
        .subscriptions
        .iter()
        .enumerate()
        .flat_map(|(sub, name)| {
            topic
                .rings
                .iter()
                .enumerate()
                .map(move |(p, ring)| (name.as_str(), p as u32, ring.positions(sub).1))
        })
        .collect();
    let mut positions = log.positions.lock();
    if current
        .iter()
        .all(|(name, p, at)| positions.get(name, *p) == Some(*at))
    {
        return;
    }
    if let Err(error) = positions.store_all(current) {
        tracing::error!(topic = %topic.name, dir = %log.dir.display(), %error, "cannot store consumer positions");
    }
}
