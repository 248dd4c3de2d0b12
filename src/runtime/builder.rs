//! `RuntimeBuilder`: declares topics, agents, subscriptions and placements, checks them,
//! and starts the runtime.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::frame::DEFAULT_MAX_FRAME_SIZE;
use crate::runtime::agent::Agent;
use crate::runtime::dead_letter::DEAD_LETTER_TOPIC;
use crate::runtime::member::Factory;
use crate::runtime::placement::{IdleStrategy, Placement};
use crate::runtime::start;
use crate::runtime::supervise::RestartPolicy;
use crate::runtime::throttle::RateLimit;
use crate::runtime::Runtime;
use crate::topic::{TopicConfig, TopicId};

/// Settings of one subscription (a consumer group on one topic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionConfig {
    /// Deliveries a frame gets before it is dead-lettered (at least 1). Default 5.
    pub max_deliver: u32,
    /// How long a deferred frame may stay unacknowledged before it is delivered again.
    /// Default 30 s.
    pub ack_deadline: Duration,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        Self {
            max_deliver: 5,
            ack_deadline: Duration::from_secs(30),
        }
    }
}

impl SubscriptionConfig {
    /// Sets how many deliveries a frame gets before it is dead-lettered.
    pub fn max_deliver(mut self, deliveries: u32) -> Self {
        self.max_deliver = deliveries;
        self
    }

    /// Sets how long a deferred frame may stay unacknowledged.
    pub fn ack_deadline(mut self, deadline: Duration) -> Self {
        self.ack_deadline = deadline;
        self
    }
}

/// Names a host subscriber declared with [`RuntimeBuilder::subscriber`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriberId(pub(crate) usize);

/// One agent as declared: its factory, placement and subscriptions.
pub struct AgentSpec {
    pub(crate) name: String,
    pub(crate) factory: Factory,
    pub(crate) placement: Placement,
    pub(crate) idle: IdleStrategy,
    pub(crate) subscriptions: Vec<(TopicId, String)>,
    pub(crate) restart: RestartPolicy,
    pub(crate) rate_limit: Option<RateLimit>,
}

impl std::fmt::Debug for AgentSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSpec")
            .field("name", &self.name)
            .field("placement", &self.placement)
            .field("idle", &self.idle)
            .field("subscriptions", &self.subscriptions)
            .finish()
    }
}

impl AgentSpec {
    /// Makes the agent a member of `subscription` on `topic`. The members of one
    /// subscription split its partitions: member `i` of `m` (in declaration order) owns the
    /// partitions `p` with `p % m == i`.
    pub fn subscribe(&mut self, topic: TopicId, subscription: &str) -> &mut Self {
        self.subscriptions.push((topic, subscription.to_owned()));
        self
    }

    /// Sets where the agent's thread runs. Default: `Placement::Floating`.
    pub fn placement(&mut self, placement: Placement) -> &mut Self {
        self.placement = placement;
        self
    }

    /// Sets how the agent's thread waits when idle. Default: `IdleStrategy::Backoff`.
    pub fn idle(&mut self, strategy: IdleStrategy) -> &mut Self {
        self.idle = strategy;
        self
    }

    /// Sets how the agent is restarted after a panic. Default: `RestartPolicy::default()`.
    pub fn restart_policy(&mut self, policy: RestartPolicy) -> &mut Self {
        self.restart = policy;
        self
    }

    /// Limits the rate of deliveries to the agent (see `throttle` for the back-pressure
    /// it applies).
    pub fn rate_limit(&mut self, limit: RateLimit) -> &mut Self {
        self.rate_limit = Some(limit);
        self
    }
}

/// Declares the topics, agents and host handles of a runtime, then starts it.
///
/// # Examples
///
/// ```
/// use agentlane::{Agent, Context, Delivery, Outcome, Placement, RuntimeBuilder, TopicConfig};
///
/// struct Echo;
/// impl Agent for Echo {
///     fn on_frame(&mut self, _f: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
///         Outcome::Ack
///     }
/// }
///
/// let mut builder = RuntimeBuilder::new();
/// let input = builder.topic("input", TopicConfig::new(2));
/// builder.agent("echo", || Echo).subscribe(input, "echoes").placement(Placement::Floating);
/// let runtime = builder.start().unwrap();
/// assert!(runtime.shutdown(std::time::Duration::from_secs(1)).drained);
/// ```
#[derive(Debug)]
pub struct RuntimeBuilder {
    pub(crate) topics: Vec<(String, TopicConfig)>,
    pub(crate) agents: Vec<AgentSpec>,
    pub(crate) subscribers: Vec<(TopicId, String)>,
    pub(crate) subscription_configs: HashMap<(TopicId, String), SubscriptionConfig>,
    pub(crate) log_dir: Option<PathBuf>,
    pub(crate) deterministic: bool,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RuntimeBuilder {
    /// A builder with only the dead-letter topic declared.
    pub fn new() -> Self {
        let dead_letters = TopicConfig::new(1).max_frame_size(2 * DEFAULT_MAX_FRAME_SIZE + 1024);
        Self {
            topics: vec![(DEAD_LETTER_TOPIC.to_owned(), dead_letters)],
            agents: Vec::new(),
            subscribers: Vec::new(),
            subscription_configs: HashMap::new(),
            log_dir: None,
            deterministic: false,
        }
    }

    /// Sets the directory durable topics keep their logs in: `DIR/<topic>/p0000/...`, with
    /// the consumer positions of each topic in `DIR/<topic>`. When the dead-letter topic is
    /// left as it is and any topic is durable, dead letters are made durable too.
    pub fn log_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.log_dir = Some(dir.into());
        self
    }

    /// Deterministic replay: inside `on_frame`, `Context::now` returns the publish time
    /// recorded in the frame being handled instead of the clock, so the same log through
    /// the same agents gives byte-identical outputs.
    pub fn deterministic_clock(&mut self, on: bool) -> &mut Self {
        self.deterministic = on;
        self
    }

    /// Declares a topic and returns its handle.
    pub fn topic(&mut self, name: &str, config: TopicConfig) -> TopicId {
        self.topics.push((name.to_owned(), config));
        TopicId(self.topics.len() - 1)
    }

    /// The dead-letter topic, which every runtime has. Subscribe to it to read dead
    /// letters; its frames' payload is the `DeadLetter` struct of `schema/envelope.capnp`.
    pub fn dead_letter_topic(&self) -> TopicId {
        TopicId(0)
    }

    /// Sets the dead-letter topic's configuration (its frame maximum is raised, when
    /// needed, to hold any frame of the runtime plus the letter's fields).
    pub fn dead_letter_config(&mut self, config: TopicConfig) -> &mut Self {
        self.topics[0].1 = config;
        self
    }

    /// Declares an agent built by `factory` (called again to rebuild it after a panic).
    pub fn agent<A, F>(&mut self, name: &str, factory: F) -> &mut AgentSpec
    where
        A: Agent,
        F: Fn() -> A + Send + Sync + 'static,
    {
        self.agents.push(AgentSpec {
            name: name.to_owned(),
            factory: Arc::new(move || Box::new(factory()) as Box<dyn Agent>),
            placement: Placement::Floating,
            idle: IdleStrategy::default(),
            subscriptions: Vec::new(),
            restart: RestartPolicy::default(),
            rate_limit: None,
        });
        self.agents.last_mut().expect("just pushed")
    }

    /// Declares a host subscriber: a subscription named `subscription` on `topic`, read by
    /// the host through `Runtime::take_subscriber`. It owns every partition.
    pub fn subscriber(&mut self, topic: TopicId, subscription: &str) -> SubscriberId {
        self.subscribers.push((topic, subscription.to_owned()));
        SubscriberId(self.subscribers.len() - 1)
    }

    /// Sets the configuration of a subscription.
    pub fn subscription(
        &mut self,
        topic: TopicId,
        subscription: &str,
        config: SubscriptionConfig,
    ) -> &mut Self {
        self.subscription_configs
            .insert((topic, subscription.to_owned()), config);
        self
    }

    /// Checks the declarations and starts every agent thread.
    ///
    /// # Errors
    ///
    /// A [`BuildError`](crate::runtime::BuildError) naming what is wrong: a topic without
    /// partitions, a name used twice, an unknown topic, a core that does not exist, two
    /// busy-spinning threads on one core, `max_deliver` of 0, or a thread that could not
    /// be spawned.
    pub fn start(self) -> Result<Runtime, crate::runtime::BuildError> {
        start::start(self)
    }
}
