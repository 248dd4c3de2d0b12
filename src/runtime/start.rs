//! Starting a runtime: check the declarations, build the topics, assign partitions to
//! subscription members, group agents into threads, wire doorbells, spawn.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Arc;

use dashmap::DashMap;
use event_listener::Event;
use parking_lot::Mutex;

use crate::lane::LaneReader;
use crate::log::{LogConfig, LogError, Positions, SyncPolicy};
use crate::runtime::builder::{RuntimeBuilder, SubscriptionConfig};
use crate::runtime::clock::Clock;
use crate::runtime::defer::DeferTable;
use crate::runtime::durable::{DurablePartition, DurableTopic};
use crate::runtime::member::{Lane, Member, MemberParts};
use crate::runtime::metrics::{latency_histogram, LaneStats, SharedHistogram};
use crate::runtime::placement::{IdleStrategy, Placement};
use crate::runtime::shared::{Shared, StateStore};
use crate::runtime::stats::AgentStats;
use crate::runtime::subscriber::Subscriber;
use crate::runtime::supervise::Supervisor;
use crate::runtime::throttle::Throttle;
use crate::runtime::worker::Worker;
use crate::runtime::{BuildError, Runtime};
use crate::topic::{Topic, TopicConfig, TopicId};

/// The subscriptions of each topic, numbered in order of first declaration.
type SubscriptionIndex = HashMap<(TopicId, String), usize>;

pub(crate) fn start(mut builder: RuntimeBuilder) -> Result<Runtime, BuildError> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    check(&builder, &cores)?;
    size_dead_letter_topic(&mut builder);

    // Topics, each with one cursor set per subscription; durable ones recover their logs.
    let subscriptions = index_subscriptions(&builder);
    let mut topics = Vec::with_capacity(builder.topics.len());
    for (id, (name, config)) in builder.topics.iter().enumerate() {
        let mut names: Vec<(usize, String)> = subscriptions
            .iter()
            .filter(|((t, _), _)| t.0 == id)
            .map(|((_, n), i)| (*i, n.clone()))
            .collect();
        names.sort();
        let names: Vec<String> = names.into_iter().map(|(_, n)| n).collect();
        let durable = match &config.durability {
            Some(log) => Some(open_durable(
                builder.log_dir.as_deref(),
                name,
                config,
                log,
                &names,
            )?),
            None => None,
        };
        topics.push(Topic::new(name.clone(), config.clone(), names, durable));
    }
    let registry = Registry::default();
    let (workers, lanes) = build_workers(&builder, &topics, &registry, &subscriptions, &cores);
    let (faults, fault_events) = flume::bounded(FAULT_EVENTS);
    let shared = Arc::new(Shared {
        max_frame_size: builder
            .topics
            .iter()
            .map(|(_, c)| c.max_frame_size)
            .max()
            .unwrap_or(0),
        topics,
        dead_letters: TopicId(0),
        clock: Clock::new(),
        intake_open: AtomicBool::new(true),
        threads_draining: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        positions_saved: AtomicBool::new(false),
        stats: registry.stats,
        states: registry.states,
        handler_ns: registry.handler_ns,
        lanes,
        faults,
        failure: Mutex::new(None),
        deterministic: builder.deterministic,
    });

    let subscribers = build_subscribers(&builder, &shared, &subscriptions);
    Runtime::launch(shared, workers, subscribers, fault_events)
}

/// The most memory one partition ring may reserve (credits times the frame maximum).
const MAX_RING_BYTES: u64 = 1 << 32;

/// Fault events kept for the host before new ones are dropped.
const FAULT_EVENTS: usize = 1024;

/// Per-agent records, keyed by agent name, shared by members of the same name.
#[derive(Default)]
struct Registry {
    stats: DashMap<String, Arc<AgentStats>>,
    states: DashMap<String, Arc<StateStore>>,
    handler_ns: DashMap<String, SharedHistogram>,
}

/// Recovers the logs of a durable topic and reads where each subscription resumes.
fn open_durable(
    log_dir: Option<&Path>,
    name: &str,
    config: &TopicConfig,
    log: &LogConfig,
    subscriptions: &[String],
) -> Result<(DurableTopic, Vec<Vec<u64>>), BuildError> {
    let root = log_dir.ok_or_else(|| BuildError::NoLogDir {
        topic: name.to_owned(),
    })?;
    let dir = root.join(name);
    let fail = |partition: Option<u32>, source: LogError| BuildError::Log {
        topic: name.to_owned(),
        partition,
        source: Box::new(source),
    };

    // Each partition's log, recovered.
    let mut partitions = Vec::new();
    for p in 0..config.partitions {
        let (partition, report) =
            DurablePartition::open(&DurableTopic::partition_dir(&dir, p), log.clone())
                .map_err(|e| fail(Some(p), e))?;
        if let Some(tail) = &report.torn_tail {
            tracing::warn!(
                topic = name,
                partition = p,
                ?tail,
                bytes = report.bytes_dropped,
                "cut a torn log tail"
            );
        }
        tracing::debug!(
            topic = name,
            partition = p,
            next = report.next_offset,
            "log recovered"
        );
        partitions.push(partition);
    }

    // Where each subscription resumes: its stored position, else the start of the log.
    let positions = Positions::open(&dir).map_err(|e| fail(None, e))?;
    let resume = subscriptions
        .iter()
        .map(|sub| {
            partitions
                .iter()
                .enumerate()
                .map(|(p, part)| {
                    let (start, next) = (part.handle.start_offset(), part.next_offset());
                    positions
                        .get(sub, p as u32)
                        .unwrap_or(start)
                        .clamp(start, next)
                })
                .collect()
        })
        .collect();
    Ok((
        DurableTopic {
            dir,
            partitions,
            positions: Mutex::new(positions),
        },
        resume,
    ))
}

/// Refuses declarations that cannot run.
fn check(builder: &RuntimeBuilder, cores: &[core_affinity::CoreId]) -> Result<(), BuildError> {
    // Topics: unique names, at least one partition.
    let mut names = HashSet::new();
    for (name, config) in &builder.topics {
        if !names.insert(name.as_str()) {
            return Err(BuildError::DuplicateName {
                kind: "topic",
                name: name.clone(),
            });
        }
        if config.partitions == 0 {
            return Err(BuildError::NoPartitions {
                topic: name.clone(),
            });
        }
        let ring_bytes = (config.ring_capacity() as u128) * (config.slot_size() as u128);
        if ring_bytes > MAX_RING_BYTES as u128 {
            let (topic, max) = (name.clone(), MAX_RING_BYTES);
            return Err(BuildError::TopicTooLarge {
                topic,
                ring_bytes,
                max,
            });
        }
        if config.max_frame_size < 64 {
            return Err(BuildError::FrameSizeTooSmall {
                topic: name.clone(),
                max_frame_size: config.max_frame_size,
            });
        }
    }

    // Agents: unique names, known topics and cores.
    let mut names = HashSet::new();
    for agent in &builder.agents {
        if !names.insert(agent.name.as_str()) {
            return Err(BuildError::DuplicateName {
                kind: "agent",
                name: agent.name.clone(),
            });
        }
        for (topic, _) in &agent.subscriptions {
            known_topic(builder, *topic)?;
        }
        if let Placement::Pinned(core) = agent.placement {
            if !cores.iter().any(|c| c.id == core) {
                let available = cores.iter().map(|c| c.id).collect();
                return Err(BuildError::NoSuchCore {
                    agent: agent.name.clone(),
                    core,
                    available,
                });
            }
        }
    }
    for (topic, _) in &builder.subscribers {
        known_topic(builder, *topic)?;
    }
    for ((topic, name), config) in &builder.subscription_configs {
        known_topic(builder, *topic)?;
        if config.max_deliver == 0 {
            return Err(BuildError::ZeroMaxDeliver {
                subscription: name.clone(),
            });
        }
        if config.ack_deadline.is_zero() {
            return Err(BuildError::ZeroAckDeadline {
                subscription: name.clone(),
            });
        }
    }

    check_host_subscriptions(builder)?;
    check_spinners(builder, cores.len())
}

fn known_topic(builder: &RuntimeBuilder, topic: TopicId) -> Result<(), BuildError> {
    if topic.0 < builder.topics.len() {
        Ok(())
    } else {
        Err(BuildError::UnknownTopic { id: topic.0 })
    }
}

/// A host subscription owns every partition, so it cannot share its name with agents.
fn check_host_subscriptions(builder: &RuntimeBuilder) -> Result<(), BuildError> {
    let mut seen = HashSet::new();
    for (topic, name) in &builder.subscribers {
        let taken_by_agent = builder
            .agents
            .iter()
            .any(|a| a.subscriptions.contains(&(*topic, name.clone())));
        if taken_by_agent || !seen.insert((*topic, name.clone())) {
            return Err(BuildError::DuplicateName {
                kind: "host subscription",
                name: name.clone(),
            });
        }
    }
    Ok(())
}

/// Never two busy-spinning threads on one core, nor more of them than cores.
fn check_spinners(builder: &RuntimeBuilder, cores: usize) -> Result<(), BuildError> {
    let mut pinned: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    let mut groups: HashSet<&str> = HashSet::new();
    let mut spinners = 0;
    for agent in builder
        .agents
        .iter()
        .filter(|a| a.idle == IdleStrategy::BusySpin)
    {
        match &agent.placement {
            Placement::Pinned(core) => {
                pinned.entry(*core).or_default().push(&agent.name);
                spinners += 1;
            }
            Placement::Shared(group) => spinners += usize::from(groups.insert(group)),
            Placement::Floating => spinners += 1,
        }
    }
    if let Some((core, agents)) = pinned.into_iter().find(|(_, agents)| agents.len() > 1) {
        let agents = agents.into_iter().map(str::to_owned).collect();
        return Err(BuildError::SpinnersShareCore { core, agents });
    }
    if spinners > cores {
        return Err(BuildError::TooManySpinners { spinners, cores });
    }
    Ok(())
}

/// Gives the dead-letter topic room for any frame of the runtime plus the letter's fields.
fn size_dead_letter_topic(builder: &mut RuntimeBuilder) {
    let largest = builder
        .topics
        .iter()
        .skip(1)
        .map(|(_, c)| c.max_frame_size)
        .max()
        .unwrap_or(0);
    let needed = largest.saturating_mul(2).saturating_add(1024);
    let durable = builder
        .topics
        .iter()
        .skip(1)
        .find_map(|(_, c)| c.durability.clone());
    let config = &mut builder.topics[0].1;
    config.max_frame_size = config.max_frame_size.max(needed);

    // Dead letters of durable topics are durable (each synced) before the original goes.
    if config.durability.is_none() {
        config.durability = durable.map(|log| log.sync(SyncPolicy::Always));
    }
}

fn index_subscriptions(builder: &RuntimeBuilder) -> SubscriptionIndex {
    let declared = builder
        .agents
        .iter()
        .flat_map(|a| a.subscriptions.iter().cloned())
        .chain(builder.subscribers.iter().cloned());
    let mut index = SubscriptionIndex::new();
    let mut per_topic: HashMap<TopicId, usize> = HashMap::new();
    for key in declared {
        if !index.contains_key(&key) {
            let next = per_topic.entry(key.0).or_default();
            index.insert(key, *next);
            *next += 1;
        }
    }
    index
}

/// Groups agents into threads and gives each member its partitions.
fn build_workers(
    builder: &RuntimeBuilder,
    topics: &[Topic],
    registry: &Registry,
    subscriptions: &SubscriptionIndex,
    cores: &[core_affinity::CoreId],
) -> (Vec<Worker>, Vec<Arc<LaneStats>>) {
    let mut all_lanes = Vec::new();
    let mut doorbells = Vec::new();
    // Members of each subscription, in declaration order.
    let mut members: HashMap<(TopicId, String), Vec<usize>> = HashMap::new();
    for (i, agent) in builder.agents.iter().enumerate() {
        for key in &agent.subscriptions {
            members.entry(key.clone()).or_default().push(i);
        }
    }

    let mut workers: Vec<Worker> = Vec::new();
    let mut group_worker: HashMap<String, usize> = HashMap::new();
    for (i, agent) in builder.agents.iter().enumerate() {
        // The thread this agent runs on.
        let worker = match &agent.placement {
            Placement::Shared(group) => *group_worker.entry(group.clone()).or_insert_with(|| {
                workers.push(new_worker(
                    format!("agentlane:group:{group}"),
                    None,
                    agent.idle,
                ));
                workers.len() - 1
            }),
            placement => {
                let core = match placement {
                    Placement::Pinned(id) => cores.iter().copied().find(|c| c.id == *id),
                    _ => None,
                };
                workers.push(new_worker(
                    format!("agentlane:{}", agent.name),
                    core,
                    agent.idle,
                ));
                workers.len() - 1
            }
        };
        let worker_index = worker;
        let worker = &mut workers[worker];
        worker.idle = livelier(worker.idle, agent.idle);

        // Its lanes: the partitions it owns in each subscription.
        let mut lanes = Vec::new();
        for key in &agent.subscriptions {
            let group = &members[key];
            let rank = group.iter().position(|&m| m == i).unwrap_or(0);
            let sub = subscriptions[key];
            let config = config_of(builder, key);
            let topic = &topics[key.0 .0];
            for partition in
                (0..topic.config.partitions).filter(|p| *p as usize % group.len() == rank)
            {
                let ring = &topic.rings[partition as usize];
                doorbells.push((ring.clone(), sub, worker_index));
                let stats = Arc::new(LaneStats {
                    topic: topic.name.clone(),
                    partition,
                    subscription: key.1.clone(),
                    owner: agent.name.clone(),
                    ring: ring.clone(),
                    subscription_index: sub,
                    delivered: AtomicU64::new(0),
                    acked: AtomicU64::new(0),
                    redelivered: AtomicU64::new(0),
                    dead_lettered: AtomicU64::new(0),
                });
                all_lanes.push(stats.clone());
                let defer = Arc::new(DeferTable::new(worker.idler_doorbell.clone()));
                let reader = LaneReader::new(ring.clone(), sub);
                let limits = (config.max_deliver, config.ack_deadline);
                let mut lane = Lane::new(reader, key.0, partition, limits, defer, stats);
                lane.resume_from = topic.resume[sub][partition as usize];
                lanes.push(lane);
            }
        }

        worker.members.push(Member::new(MemberParts {
            name: agent.name.clone(),
            factory: agent.factory.clone(),
            lanes,
            stats: registry
                .stats
                .entry(agent.name.clone())
                .or_default()
                .clone(),
            state: registry
                .states
                .entry(agent.name.clone())
                .or_default()
                .clone(),
            supervisor: Supervisor::new(agent.restart),
            throttle: agent.rate_limit.map(Throttle::new),
            handler_ns: registry
                .handler_ns
                .entry(agent.name.clone())
                .or_insert_with(|| Arc::new(Mutex::new(latency_histogram())))
                .clone(),
        }));
    }
    // Only threads that sleep need their lanes to ring: a doorbell costs each commit a
    // fence, which spinning threads should not make their producers pay.
    for (ring, sub, worker) in doorbells {
        if workers[worker].idle == IdleStrategy::Backoff {
            ring.set_doorbell(sub, workers[worker].idler_doorbell.clone());
        }
    }
    (workers, all_lanes)
}

fn new_worker(name: String, core: Option<core_affinity::CoreId>, idle: IdleStrategy) -> Worker {
    Worker {
        name,
        core,
        idle,
        members: Vec::new(),
        idler_doorbell: Arc::new(Event::new()),
    }
}

/// A shared thread idles as its liveliest agent asks.
fn livelier(a: IdleStrategy, b: IdleStrategy) -> IdleStrategy {
    let rank = |s| match s {
        IdleStrategy::BusySpin => 0,
        IdleStrategy::Yield => 1,
        IdleStrategy::Backoff => 2,
    };
    if rank(a) <= rank(b) {
        a
    } else {
        b
    }
}

fn config_of(builder: &RuntimeBuilder, key: &(TopicId, String)) -> SubscriptionConfig {
    builder
        .subscription_configs
        .get(key)
        .copied()
        .unwrap_or_default()
}

fn build_subscribers(
    builder: &RuntimeBuilder,
    shared: &Arc<Shared>,
    subscriptions: &SubscriptionIndex,
) -> Vec<Option<Subscriber>> {
    builder
        .subscribers
        .iter()
        .map(|key| {
            let sub = subscriptions[key];
            let doorbell = Arc::new(Event::new());
            let readers = shared
                .topic(key.0)
                .rings
                .iter()
                .map(|ring| {
                    ring.set_doorbell(sub, doorbell.clone());
                    LaneReader::new(ring.clone(), sub)
                })
                .collect();
            let resume = shared.topic(key.0).resume[sub].clone();
            Some(Subscriber::new(
                shared.clone(),
                key.0,
                readers,
                doorbell,
                resume,
            ))
        })
        .collect()
}
