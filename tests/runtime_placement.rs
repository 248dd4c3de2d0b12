//! Placement: pinned threads run on their core, shared groups share one thread, and the
//! builder refuses placements that cannot work.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agentlane::{
    Agent, BuildError, Context, Delivery, IdleStrategy, Outcome, Placement, RuntimeBuilder,
    SubscriptionConfig, TopicConfig,
};
use common::{numbered, wait_for};
use parking_lot::Mutex;

/// Records the thread name and the cores the thread may run on, per frame.
struct WhereAmI(Arc<Mutex<Vec<(String, Vec<usize>)>>>);

impl Agent for WhereAmI {
    fn on_frame(&mut self, _frame: &Delivery<'_>, ctx: &mut Context<'_>) -> Outcome {
        let cores = core_affinity::get_core_ids()
            .unwrap_or_default()
            .iter()
            .map(|c| c.id)
            .collect();
        let name = format!(
            "{}@{}",
            ctx.agent_name(),
            std::thread::current().name().unwrap_or("?")
        );
        self.0.lock().push((name, cores));
        Outcome::Ack
    }
}

fn first_core() -> usize {
    core_affinity::get_core_ids().expect("cores are readable")[0].id
}

#[test]
fn a_pinned_agent_runs_only_on_its_core() {
    let core = first_core();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1));
    let agent_seen = seen.clone();
    builder
        .agent("pinned", move || WhereAmI(agent_seen.clone()))
        .subscribe(topic, "s")
        .placement(Placement::Pinned(core));
    let runtime = builder.start().unwrap();
    let publisher = runtime.publisher(topic);
    publisher
        .publish(numbered(&mut publisher.clone(), b"k", 0))
        .unwrap();
    assert!(wait_for(|| !seen.lock().is_empty()));
    runtime.shutdown(Duration::from_secs(1));

    let (_, cores) = &seen.lock()[0];
    assert_eq!(cores, &vec![core], "the agent's thread may run elsewhere");
}

#[test]
fn a_shared_group_runs_its_agents_on_one_thread() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut builder = RuntimeBuilder::new();
    let topics: Vec<_> = (0..3)
        .map(|i| builder.topic(&format!("t{i}"), TopicConfig::new(1)))
        .collect();
    for (i, topic) in topics.iter().enumerate() {
        let agent_seen = seen.clone();
        builder
            .agent(&format!("a{i}"), move || WhereAmI(agent_seen.clone()))
            .subscribe(*topic, "s")
            .placement(Placement::shared("small"));
    }
    let runtime = builder.start().unwrap();
    for topic in &topics {
        let publisher = runtime.publisher(*topic);
        publisher
            .publish(numbered(&mut publisher.clone(), b"k", 0))
            .unwrap();
    }
    assert!(wait_for(|| seen.lock().len() == 3));
    runtime.shutdown(Duration::from_secs(1));

    let mut names: Vec<String> = seen.lock().iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "a0@agentlane:group:small",
            "a1@agentlane:group:small",
            "a2@agentlane:group:small"
        ]
    );
}

struct Idle;

impl Agent for Idle {
    fn on_frame(&mut self, _frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        Outcome::Ack
    }
}

#[test]
fn two_busy_spinning_agents_on_one_core_are_refused() {
    let core = first_core();
    let mut builder = RuntimeBuilder::new();
    for name in ["a", "b"] {
        builder
            .agent(name, || Idle)
            .placement(Placement::Pinned(core))
            .idle(IdleStrategy::BusySpin);
    }
    match builder.start() {
        Err(BuildError::SpinnersShareCore { core: c, agents }) => {
            assert_eq!(c, core);
            assert_eq!(agents, vec!["a", "b"]);
        }
        other => panic!("expected SpinnersShareCore, got {other:?}"),
    }
}

#[test]
fn more_busy_spinners_than_cores_are_refused() {
    let cores = core_affinity::get_core_ids().unwrap().len();
    let mut builder = RuntimeBuilder::new();
    for i in 0..=cores {
        builder
            .agent(&format!("spin-{i}"), || Idle)
            .idle(IdleStrategy::BusySpin);
    }
    assert!(matches!(
        builder.start(),
        Err(BuildError::TooManySpinners { .. })
    ));
}

#[test]
fn a_core_that_does_not_exist_is_refused() {
    let mut builder = RuntimeBuilder::new();
    builder
        .agent("far", || Idle)
        .placement(Placement::Pinned(100_000));
    let error = builder.start().unwrap_err();
    assert!(matches!(
        error,
        BuildError::NoSuchCore { core: 100_000, .. }
    ));
    assert!(
        error.to_string().contains("far"),
        "error should name the agent: {error}"
    );
}

#[test]
fn bad_configuration_is_refused_with_a_clear_error() {
    let mut builder = RuntimeBuilder::new();
    builder.topic("none", TopicConfig::new(0));
    assert!(matches!(
        builder.start(),
        Err(BuildError::NoPartitions { .. })
    ));

    let mut builder = RuntimeBuilder::new();
    builder.topic("twice", TopicConfig::new(1));
    builder.topic("twice", TopicConfig::new(1));
    assert!(matches!(
        builder.start(),
        Err(BuildError::DuplicateName { kind: "topic", .. })
    ));

    let mut builder = RuntimeBuilder::new();
    builder.topic("huge", TopicConfig::new(1).max_frame_size(usize::MAX / 2));
    assert!(matches!(
        builder.start(),
        Err(BuildError::TopicTooLarge { .. })
    ));

    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1));
    builder.subscription(topic, "s", SubscriptionConfig::default().max_deliver(0));
    assert!(matches!(
        builder.start(),
        Err(BuildError::ZeroMaxDeliver { .. })
    ));
}
