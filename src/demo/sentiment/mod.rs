//! The sentiment pipeline: posts, then sentiment scorers, then an aggregator, embedded.
//!
//! ```text
//! Reader --posts (keyed by sequence, N partitions)--> Scorer x N --scores--> Aggregator
//!                                                        '-- rejects --> dead-letters
//! ```
//!
//! The reader streams human-rated posts (`data/sentiment/tweets_GroundTruth.txt`); each of
//! `workers` scorers owns a share of the posts topic's partitions and rates each post with
//! VADER ([`vader`]); the aggregator measures sign accuracy against the human mean rating
//! (posts rated exactly 0 left out), end-to-end latency from the post's publish to its
//! aggregation, and an order-independent digest of every score. The host counts dead
//! letters, and the run ends when every post has been aggregated or dead-lettered.

mod agents;
mod logged;
pub mod posts;
pub mod vader;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::frame::sentiment_capnp::post;
use crate::frame::{FrameEncoder, FrameHeader, DEFAULT_MAX_FRAME_SIZE};
use crate::log::{LogConfig, LogError, SyncPolicy};
use crate::runtime::{
    BuildError, MetricsSnapshot, RecvError, RestartPolicy, Runtime, RuntimeBuilder, RuntimeError,
    ShutdownReport,
};
use crate::topic::TopicConfig;
use agents::{Aggregator, Reader, Replayer, Scorer, Tally};
use vader::{Lexicon, LexiconError, Vader};

/// What to run.
#[derive(Debug, Clone)]
pub struct SentimentOptions {
    /// Posts, in the `id<TAB>rating<TAB>text` format.
    pub input: PathBuf,
    /// The VADER lexicon.
    pub lexicon: PathBuf,
    /// Scorer agents (at least 1).
    pub workers: usize,
    /// Times the input is streamed (at least 1).
    pub repeat: usize,
    /// Give up when no progress is made for this long.
    pub stall_timeout: Duration,
    /// Fraction of posts whose first delivery panics a scorer (fault injection).
    pub inject_panics: f64,
    /// Fraction of posts sent as malformed frames (fault injection).
    pub inject_malformed: f64,
    /// Include the runtime's metrics in the report.
    pub metrics: bool,
    /// Keep the topics durable in this directory; a run interrupted there resumes when
    /// run again with the same options.
    pub log: Option<PathBuf>,
    /// Run the pipeline from the posts recorded in this log directory instead of the
    /// input file, with the deterministic clock.
    pub replay: Option<PathBuf>,
    /// Stop the run (draining what is in flight) when this becomes true, as on SIGTERM.
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl SentimentOptions {
    /// The vendored data set with 2 workers, streamed once.
    pub fn vendored() -> Self {
        Self {
            input: data_path("tweets_GroundTruth.txt"),
            lexicon: data_path("vader_lexicon.txt"),
            workers: 2,
            repeat: 1,
            stall_timeout: Duration::from_secs(30),
            inject_panics: 0.0,
            inject_malformed: 0.0,
            metrics: false,
            log: None,
            replay: None,
            interrupt: None,
        }
    }
}

/// The path of a vendored data file: under `data/sentiment` in the working directory when
/// there is one, else in the source tree the binary was built from.
pub fn data_path(file: &str) -> PathBuf {
    let local = Path::new("data/sentiment").join(file);
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/sentiment")
        .join(file)
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest seen.
    pub max: u64,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SentimentReport {
    /// Posts fed into the pipeline (valid lines times `repeat`).
    pub input: u64,
    /// Posts scored and aggregated.
    pub processed: u64,
    /// Posts that went to the dead-letter topic.
    pub dead_lettered: u64,
    /// Deliveries beyond each post's first (after a panic, a retry or a deadline).
    pub redelivered: u64,
    /// Times a scorer was rebuilt after a panic.
    pub restarts: u64,
    /// Ids of the posts sent as malformed frames by this run (with `inject_malformed`; a
    /// resumed `--log` run lists only those it sent itself); a clean run over the input
    /// without them has the same digest.
    pub injected_malformed_ids: Vec<u64>,
    /// Input lines that could not be parsed (not fed in), with the first few reasons.
    pub malformed_lines: u64,
    /// The first malformed lines' errors.
    pub malformed_examples: Vec<String>,
    /// Fraction of posts with a non-zero human rating whose score has the same sign.
    pub accuracy: f64,
    /// Posts with a non-zero human rating.
    pub rated: u64,
    /// Posts aggregated in this run per second of wall time, from the runtime's start to the
    /// last aggregation.
    pub throughput_per_s: f64,
    /// End-to-end latency, post published to score aggregated.
    pub latency_us: Latency,
    /// Order-independent hash of every score (hex), equal across runs over the same input.
    pub digest: String,
    /// Scorer agents.
    pub workers: usize,
    /// Wall time of the run, in seconds.
    pub elapsed_s: f64,
    /// The runtime's metrics at the end of the run (with `metrics`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSnapshot>,
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The input file could not be read.
    #[error("reading posts from {path}: {source}")]
    Input {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The lexicon could not be loaded.
    #[error("loading lexicon {path}: {source}")]
    Lexicon {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: LexiconError,
    },
    /// The options make no sense.
    #[error("invalid option: {0}")]
    Options(String),
    /// The runtime refused the pipeline.
    #[error("starting the runtime: {0}")]
    Build(#[from] BuildError),
    /// The runtime stopped on its own.
    #[error("runtime failed: {0}")]
    Runtime(#[from] RuntimeError),
    /// A log directory could not be read.
    #[error("reading the log in {dir}: {source}")]
    Log {
        /// The partition directory.
        dir: PathBuf,
        /// What went wrong.
        source: Box<LogError>,
    },
    /// The run was interrupted (SIGTERM or Ctrl-C) and shut down cleanly.
    #[error(
        "interrupted: {processed} processed and {dead_lettered} dead-lettered of {input}; {}",
        interrupted_note(report)
    )]
    Interrupted {
        /// Posts to process in all.
        input: u64,
        /// Posts aggregated so far.
        processed: u64,
        /// Posts dead-lettered so far.
        dead_lettered: u64,
        /// What the shutdown left, and where.
        report: Box<ShutdownReport>,
    },
    /// The pipeline made no progress for `stall_timeout`.
    #[error(
        "pipeline stalled: {processed} processed and {dead_lettered} dead-lettered of {input}"
    )]
    Stalled {
        /// Posts fed in.
        input: u64,
        /// Posts aggregated.
        processed: u64,
        /// Posts dead-lettered.
        dead_lettered: u64,
    },
}

/// Partitions of the posts and scores topics. Fixed, so a run resumed with another
/// `--workers` finds the same logs; scorers beyond 16 would get no partition.
const PARTITIONS: u32 = 16;

/// Runs the pipeline to completion and reports what it measured.
///
/// # Errors
///
/// A [`DemoError`] when the input, lexicon or logs cannot be read, the options are
/// invalid, the pipeline stalls or fails, or `interrupt` was raised.
pub fn run(options: &SentimentOptions) -> Result<SentimentReport, DemoError> {
    let started = Instant::now();
    check_options(options)?;
    if options.inject_panics > 0.0 {
        quiet_injected_panics();
    }

    // Load the data on the host, before any agent starts.
    let lexicon = Lexicon::load(&options.lexicon).map_err(|source| DemoError::Lexicon {
        path: options.lexicon.clone(),
        source,
    })?;
    if lexicon.is_empty() {
        let path = options.lexicon.clone();
        return Err(DemoError::Options(format!(
            "lexicon {} has no entries",
            path.display()
        )));
    }
    let vader = Arc::new(Vader::new(lexicon));
    let source = Source::load(options)?;
    let input = source.input();
    let tally = Arc::new(Tally::new());
    let mut dead_seen = HashSet::new();
    if let Some(dir) = &options.log {
        logged::claim_job(dir, &job_of(options)?)?;
        logged::preload_tally(dir, PARTITIONS, &tally)?;
        dead_seen = logged::earlier_dead_letters(dir)?;
    }

    // Declare the graph.
    let mut builder = RuntimeBuilder::new();
    let (mut posts_config, mut scores_config) = (
        TopicConfig::new(PARTITIONS).max_in_flight(256),
        TopicConfig::new(PARTITIONS).max_in_flight(256),
    );
    if let Some(dir) = &options.log {
        builder.log_dir(dir);
        let log = LogConfig::default().sync(SyncPolicy::Interval(Duration::from_millis(20)));
        posts_config = posts_config.durable(log.clone());
        scores_config = scores_config.durable(log);
    }
    builder.deterministic_clock(options.replay.is_some());
    let posts_topic = builder.topic("posts", posts_config);
    let scores_topic = builder.topic("scores", scores_config);
    let dead_letters = builder.subscriber(builder.dead_letter_topic(), "demo-host");
    source.declare(&mut builder, posts_topic, options);
    let scorers: Vec<String> = (0..options.workers)
        .map(|i| format!("scorer-{i}"))
        .collect();
    for name in &scorers {
        let (vader, inject_panics) = (vader.clone(), options.inject_panics);
        // NB: injected panics may come by the thousand with --repeat; they must not count
        // against the default restart limit, which is for agents that cannot recover.
        let policy = RestartPolicy::default().max_restarts(u32::MAX, Duration::from_secs(1));
        builder
            .agent(name, move || Scorer {
                vader: vader.clone(),
                scores: scores_topic,
                inject_panics,
            })
            .subscribe(posts_topic, "scorers")
            .restart_policy(policy);
    }
    let aggregator_tally = tally.clone();
    builder
        .agent("aggregator", move || Aggregator {
            tally: aggregator_tally.clone(),
        })
        .subscribe(scores_topic, "aggregate");

    // Run until every post is aggregated or dead-lettered.
    let ran = Instant::now();
    let runtime = builder.start()?;
    let mut dead = runtime
        .take_subscriber(dead_letters)
        .expect("declared above");
    let mut last_progress = (0, Instant::now());
    loop {
        let processed = tally.processed.load(Ordering::Acquire);
        let dead_lettered = dead_seen.len() as u64;
        if processed + dead_lettered >= input {
            break;
        }
        if read_dead_letter(&mut dead, &mut dead_seen) == Err(RecvError::Closed) {
            break;
        }

        // Stop on a failure, an interrupt, or a stall.
        if let Some(failure) = runtime.failure() {
            runtime.shutdown(Duration::from_secs(1));
            return Err(DemoError::Runtime(failure));
        }
        if options
            .interrupt
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Acquire))
        {
            let report = shutdown_reading(runtime, &mut dead, &mut dead_seen);
            let dead_lettered = dead_seen.len() as u64;
            return Err(DemoError::Interrupted {
                input,
                processed,
                dead_lettered,
                report: Box::new(report),
            });
        }
        let done = processed + dead_lettered;
        if done != last_progress.0 {
            last_progress = (done, Instant::now());
        } else if last_progress.1.elapsed() > options.stall_timeout {
            runtime.shutdown(Duration::from_secs(1));
            return Err(DemoError::Stalled {
                input,
                processed,
                dead_lettered,
            });
        }
    }
    let wall = ran.elapsed();
    let (redelivered, restarts) = scorer_faults(&runtime, &scorers, input);
    let metrics = options.metrics.then(|| runtime.metrics());
    let report = shutdown_reading(runtime, &mut dead, &mut dead_seen);
    if !report.drained {
        tracing::warn!(?report, "demo runtime did not drain at shutdown");
    }

    let mut summary = summarise(
        &tally,
        input,
        dead_seen.len() as u64,
        source.malformed(),
        options.workers,
        started,
        wall,
    );
    summary.redelivered = redelivered;
    summary.restarts = restarts;
    summary.injected_malformed_ids = source.injected_malformed();
    summary.metrics = metrics;
    Ok(summary)
}

/// What a `--log` directory is the log of: resuming it with other input would mix jobs.
fn job_of(options: &SentimentOptions) -> Result<serde_json::Value, DemoError> {
    if let Some(replay) = &options.replay {
        return Ok(serde_json::json!({ "replay": replay.display().to_string() }));
    }
    let bytes = std::fs::read(&options.input).map_err(|source| DemoError::Input {
        path: options.input.clone(),
        source,
    })?;
    Ok(serde_json::json!({
        "input_bytes": bytes.len(),
        "input_fnv1a": format!("{:016x}", crate::frame::key_hash(&bytes)),
        "repeat": options.repeat,
        "inject_malformed": options.inject_malformed,
    }))
}

/// Waits a few milliseconds for a dead letter and counts it once, by its original topic,
/// partition and offset (a letter without them counts on its own).
fn read_dead_letter(
    dead: &mut crate::runtime::Subscriber,
    seen: &mut HashSet<(String, u32, u64)>,
) -> Result<(), RecvError> {
    let frame = dead.recv_timeout(Duration::from_millis(5))?;
    let id = logged::dead_letter_id(frame.as_bytes());
    seen.insert(id.unwrap_or_else(|| ("?".into(), 0, seen.len() as u64)));
    Ok(())
}

/// Shuts the runtime down while still reading dead letters, so those in flight settle
/// (and count) instead of holding the shutdown to its deadline.
fn shutdown_reading(
    runtime: Runtime,
    dead: &mut crate::runtime::Subscriber,
    seen: &mut HashSet<(String, u32, u64)>,
) -> ShutdownReport {
    std::thread::scope(|scope| {
        let reader = scope.spawn(
            || {
                while read_dead_letter(dead, seen) != Err(RecvError::Closed) {}
            },
        );
        let report = runtime.shutdown(Duration::from_secs(5));
        let _ = reader.join();
        report
    })
}

fn check_options(options: &SentimentOptions) -> Result<(), DemoError> {
    if options.workers == 0 || options.workers > PARTITIONS as usize {
        return Err(DemoError::Options(format!(
            "--workers must be between 1 and {PARTITIONS} (the posts topic has {PARTITIONS} partitions), not {}",
            options.workers
        )));
    }
    if options.repeat == 0 {
        return Err(DemoError::Options("--repeat must be at least 1".into()));
    }
    for (name, rate) in [
        ("--inject-panics", options.inject_panics),
        ("--inject-malformed", options.inject_malformed),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(DemoError::Options(format!(
                "{name} must be a fraction between 0 and 1, not {rate}"
            )));
        }
    }
    let same = |a: &PathBuf, b: &PathBuf| {
        a == b
            || std::fs::canonicalize(a)
                .ok()
                .is_some_and(|a| std::fs::canonicalize(b).ok() == Some(a))
    };
    if let (Some(log), Some(replay)) = (&options.log, &options.replay) {
        if same(log, replay) {
            return Err(DemoError::Options(
                "--replay and --log must be different directories".into(),
            ));
        }
    }
    Ok(())
}

/// The posts that fit a frame of the posts topic; the others are reported as malformed
/// lines (a post is one line), so they are counted and never stall the run.
fn fitting(posts: Vec<posts::Post>, malformed: &mut Vec<String>) -> Vec<posts::Post> {
    let mut encoder = FrameEncoder::with_max_size(DEFAULT_MAX_FRAME_SIZE);
    let header = FrameHeader {
        topic: "posts",
        key: &[0; 8],
        ..FrameHeader::default()
    };
    posts
        .into_iter()
        .filter(|post| {
            let fits = encoder
                .encode(&header, |payload| {
                    let mut p = payload.init_as::<post::Builder>();
                    p.set_id(post.id);
                    p.set_rating(post.rating);
                    p.set_text(post.text.as_str());
                    Ok(())
                })
                .is_ok();
            if !fits {
                let bytes = post.text.len();
                malformed.push(format!("post {}: {bytes} bytes of text do not fit a {DEFAULT_MAX_FRAME_SIZE}-byte frame", post.id));
            }
            fits
        })
        .collect()
}

/// Where the posts come from: the input file, or a recorded log.
enum Source {
    File {
        posts: Arc<Vec<posts::Post>>,
        malformed: Vec<String>,
        repeat: usize,
        resume: u64,
        injected: Arc<parking_lot::Mutex<Vec<u64>>>,
    },
    Log {
        frames: Arc<Vec<Vec<u8>>>,
    },
}

impl Source {
    fn load(options: &SentimentOptions) -> Result<Self, DemoError> {
        if let Some(dir) = &options.replay {
            return Ok(Source::Log {
                frames: Arc::new(logged::recorded_posts(dir)?),
            });
        }
        let (posts, errors) =
            posts::read_posts(&options.input).map_err(|source| DemoError::Input {
                path: options.input.clone(),
                source,
            })?;
        let mut malformed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let posts = fitting(posts, &mut malformed);
        let resume = match &options.log {
            Some(dir) => logged::posts_logged(dir, PARTITIONS)?,
            None => 0,
        };
        let injected = Arc::new(parking_lot::Mutex::new(Vec::new()));
        Ok(Source::File {
            posts: Arc::new(posts),
            malformed,
            repeat: options.repeat,
            resume,
            injected,
        })
    }

    fn input(&self) -> u64 {
        match self {
            Source::File { posts, repeat, .. } => (posts.len() * repeat) as u64,
            Source::Log { frames } => frames.len() as u64,
        }
    }

    fn declare(
        &self,
        builder: &mut RuntimeBuilder,
        topic: crate::topic::TopicId,
        options: &SentimentOptions,
    ) {
        match self {
            Source::File {
                posts,
                repeat,
                resume,
                injected,
                ..
            } => {
                let (posts, repeat, inject_malformed, sink) = (
                    posts.clone(),
                    *repeat,
                    options.inject_malformed,
                    injected.clone(),
                );
                let next = Arc::new(AtomicU64::new(*resume));
                builder.agent("reader", move || Reader {
                    posts: posts.clone(),
                    repeat,
                    topic,
                    next: next.clone(),
                    inject_malformed,
                    malformed: sink.clone(),
                });
            }
            Source::Log { frames } => {
                let (frames, next) = (frames.clone(), Arc::new(AtomicU64::new(0)));
                builder.agent("reader", move || Replayer {
                    frames: frames.clone(),
                    topic,
                    next: next.clone(),
                });
            }
        }
    }

    fn malformed(&self) -> &[String] {
        match self {
            Source::File { malformed, .. } => malformed,
            Source::Log { .. } => &[],
        }
    }

    fn injected_malformed(&self) -> Vec<u64> {
        match self {
            Source::File { injected, .. } => injected.lock().clone(),
            Source::Log { .. } => Vec::new(),
        }
    }
}

/// Says where the frames an interrupted run left are kept.
fn interrupted_note(report: &ShutdownReport) -> String {
    let kept: Vec<String> = report
        .unsettled
        .iter()
        .map(|u| match &u.kept_in {
            Some(dir) => format!("{} {} frames kept in {}", u.frames, u.topic, dir.display()),
            None => format!("{} {} frames lost (in memory only)", u.frames, u.topic),
        })
        .collect();
    if kept.is_empty() {
        "nothing was left in flight".into()
    } else {
        kept.join(", ")
    }
}

/// Deliveries beyond each post's first, and restarts, over every scorer.
fn scorer_faults(runtime: &Runtime, scorers: &[String], input: u64) -> (u64, u64) {
    let stats: Vec<_> = scorers
        .iter()
        .filter_map(|name| runtime.stats(name))
        .collect();
    let delivered: u64 = stats.iter().map(|s| s.delivered).sum();
    let restarts = stats.iter().map(|s| s.restarts).sum();
    (delivered.saturating_sub(input), restarts)
}

/// Keeps injected panics out of the output; any other panic still prints as usual.
fn quiet_injected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>().map(String::as_str);
        let message = message.or_else(|| info.payload().downcast_ref::<&str>().copied());
        if message != Some(agents::INJECTED_PANIC) {
            default(info);
        }
    }));
}

fn summarise(
    tally: &Tally,
    input: u64,
    dead_lettered: u64,
    malformed: &[String],
    workers: usize,
    started: Instant,
    wall: Duration,
) -> SentimentReport {
    let processed = tally.processed.load(Ordering::Acquire);
    let inner = tally.inner.lock();
    let latency = &inner.latency_us;
    SentimentReport {
        input,
        processed,
        dead_lettered,
        redelivered: 0,
        restarts: 0,
        injected_malformed_ids: Vec::new(),
        metrics: None,
        malformed_lines: malformed.len() as u64,
        malformed_examples: malformed.iter().take(5).cloned().collect(),
        accuracy: if inner.rated == 0 {
            0.0
        } else {
            inner.agreed as f64 / inner.rated as f64
        },
        rated: inner.rated,
        throughput_per_s: latency.len() as f64 / wall.as_secs_f64().max(1e-9),
        latency_us: Latency {
            p50: latency.value_at_quantile(0.50),
            p99: latency.value_at_quantile(0.99),
            p999: latency.value_at_quantile(0.999),
            max: latency.max(),
        },
        digest: format!("{:016x}", inner.digest),
        workers,
        elapsed_s: started.elapsed().as_secs_f64(),
    }
}

impl std::fmt::Display for SentimentReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "agentlane demo sentiment: {} workers", self.workers)?;
        writeln!(f, "  posts in          {}", self.input)?;
        writeln!(f, "  processed         {}", self.processed)?;
        writeln!(f, "  dead-lettered     {}", self.dead_lettered)?;
        writeln!(f, "  redelivered       {}", self.redelivered)?;
        writeln!(f, "  agent restarts    {}", self.restarts)?;
        writeln!(f, "  malformed lines   {}", self.malformed_lines)?;
        for example in &self.malformed_examples {
            writeln!(f, "    {example}")?;
        }
        writeln!(
            f,
            "  sign accuracy     {:.4} over {} rated posts",
            self.accuracy, self.rated
        )?;
        writeln!(
            f,
            "  throughput        {:.0} posts/s",
            self.throughput_per_s
        )?;
        let l = &self.latency_us;
        writeln!(
            f,
            "  latency (us)      p50 {}  p99 {}  p99.9 {}  max {}",
            l.p50, l.p99, l.p999, l.max
        )?;
        writeln!(f, "  digest            {}", self.digest)?;
        write!(f, "  elapsed           {:.2} s", self.elapsed_s)?;
        if let Some(metrics) = &self.metrics {
            write!(f, "\n\n{}", metrics.to_prometheus().trim_end())?;
        }
        Ok(())
    }
}
