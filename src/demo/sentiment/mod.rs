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
pub mod posts;
pub mod vader;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::runtime::{BuildError, RecvError, RuntimeBuilder};
use crate::topic::TopicConfig;
use agents::{Aggregator, Reader, Scorer, Tally};
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
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sentiment").join(file)
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
    /// Input lines that could not be parsed (not fed in), with the first few reasons.
    pub malformed_lines: u64,
    /// The first malformed lines' errors.
    pub malformed_examples: Vec<String>,
    /// Fraction of posts with a non-zero human rating whose score has the same sign.
    pub accuracy: f64,
    /// Posts with a non-zero human rating.
    pub rated: u64,
    /// Processed posts per second, from the first post published to the last aggregated.
    pub throughput_per_s: f64,
    /// End-to-end latency, post published to score aggregated.
    pub latency_us: Latency,
    /// Order-independent hash of every score (hex), equal across runs over the same input.
    pub digest: String,
    /// Scorer agents.
    pub workers: usize,
    /// Wall time of the run, in seconds.
    pub elapsed_s: f64,
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
    #[error("loading lexicon: {0}")]
    Lexicon(#[from] LexiconError),
    /// The options make no sense.
    #[error("invalid option: {0}")]
    Options(String),
    /// The runtime refused the pipeline.
    #[error("starting the runtime: {0}")]
    Build(#[from] BuildError),
    /// The pipeline made no progress for `stall_timeout`.
    #[error("pipeline stalled: {processed} processed and {dead_lettered} dead-lettered of {input}")]
    Stalled {
        /// Posts fed in.
        input: u64,
        /// Posts aggregated.
        processed: u64,
        /// Posts dead-lettered.
        dead_lettered: u64,
    },
}

/// Runs the pipeline to completion and reports what it measured.
///
/// # Errors
///
/// A [`DemoError`] when the input or lexicon cannot be read, the options are invalid, or
/// the pipeline stalls.
pub fn run(options: &SentimentOptions) -> Result<SentimentReport, DemoError> {
    let started = Instant::now();
    if options.workers == 0 || options.repeat == 0 {
        return Err(DemoError::Options("--workers and --repeat must be at least 1".into()));
    }

    // Load the data on the host, before any agent starts.
    let (posts, malformed) = posts::read_posts(&options.input)
        .map_err(|source| DemoError::Input { path: options.input.clone(), source })?;
    let vader = Arc::new(Vader::new(Lexicon::load(&options.lexicon)?));
    let input = (posts.len() * options.repeat) as u64;

    // Declare the graph.
    let mut builder = RuntimeBuilder::new();
    let partitions = (options.workers * 2) as u32;
    let posts_topic = builder.topic("posts", TopicConfig::new(partitions).max_in_flight(256));
    let scores_topic = builder.topic("scores", TopicConfig::new(1).max_in_flight(1024));
    let dead_letters = builder.subscriber(builder.dead_letter_topic(), "demo-host");
    let tally = Arc::new(Tally::new());

    let (posts, next) = (Arc::new(posts), Arc::new(AtomicU64::new(0)));
    let repeat = options.repeat;
    builder.agent("reader", move || Reader {
        posts: posts.clone(),
        repeat,
        topic: posts_topic,
        next: next.clone(),
    });
    for i in 0..options.workers {
        let vader = vader.clone();
        builder
            .agent(&format!("scorer-{i}"), move || Scorer { vader: vader.clone(), scores: scores_topic })
            .subscribe(posts_topic, "scorers");
    }
    let aggregator_tally = tally.clone();
    builder
        .agent("aggregator", move || Aggregator { tally: aggregator_tally.clone() })
        .subscribe(scores_topic, "aggregate");

    // Run until every post is aggregated or dead-lettered.
    let runtime = builder.start()?;
    let mut dead = runtime.take_subscriber(dead_letters).expect("declared above");
    let mut dead_lettered = 0u64;
    let mut last_progress = (0, Instant::now());
    loop {
        let processed = tally.processed.load(Ordering::Acquire);
        if processed + dead_lettered >= input {
            break;
        }
        match dead.recv_timeout(Duration::from_millis(5)) {
            Ok(_) => dead_lettered += 1,
            Err(RecvError::Empty) => {}
            Err(RecvError::Closed) => break,
        }
        let done = processed + dead_lettered;
        if done != last_progress.0 {
            last_progress = (done, Instant::now());
        } else if last_progress.1.elapsed() > options.stall_timeout {
            runtime.shutdown(Duration::from_secs(1));
            return Err(DemoError::Stalled { input, processed, dead_lettered });
        }
    }
    let report = runtime.shutdown(Duration::from_secs(5));
    if !report.drained {
        tracing::warn!(?report, "demo runtime did not drain at shutdown");
    }

    Ok(summarise(&tally, input, dead_lettered, &malformed, options.workers, started))
}

fn summarise(
    tally: &Tally,
    input: u64,
    dead_lettered: u64,
    malformed: &[posts::PostError],
    workers: usize,
    started: Instant,
) -> SentimentReport {
    let processed = tally.processed.load(Ordering::Acquire);
    let inner = tally.inner.lock();
    let span_s = (inner.last_ns.saturating_sub(inner.first_ns) as f64 / 1e9).max(1e-9);
    let latency = &inner.latency_us;
    SentimentReport {
        input,
        processed,
        dead_lettered,
        malformed_lines: malformed.len() as u64,
        malformed_examples: malformed.iter().take(5).map(ToString::to_string).collect(),
        accuracy: if inner.rated == 0 { 0.0 } else { inner.agreed as f64 / inner.rated as f64 },
        rated: inner.rated,
        throughput_per_s: processed as f64 / span_s,
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
        writeln!(f, "  malformed lines   {}", self.malformed_lines)?;
        for example in &self.malformed_examples {
            writeln!(f, "    {example}")?;
        }
        writeln!(f, "  sign accuracy     {:.4} over {} rated posts", self.accuracy, self.rated)?;
        writeln!(f, "  throughput        {:.0} posts/s", self.throughput_per_s)?;
        let l = &self.latency_us;
        writeln!(f, "  latency (us)      p50 {}  p99 {}  p99.9 {}  max {}", l.p50, l.p99, l.p999, l.max)?;
        writeln!(f, "  digest            {}", self.digest)?;
        write!(f, "  elapsed           {:.2} s", self.elapsed_s)
    }
}
