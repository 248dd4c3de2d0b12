//! The `agentlane` command line: demo pipelines on real data.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use agentlane::demo::sentiment::{self, SentimentOptions};

mod cli;

/// Counts heap allocations for `agentlane bench` (off, and nearly free, unless it asks).
#[global_allocator]
static ALLOCATOR: cli::alloc_counter::CountingAllocator = cli::alloc_counter::CountingAllocator;

/// agentlane: an embedded agent runtime. Pinned agents, lock-free lanes, Cap'n Proto frames.
#[derive(Debug, Parser)]
#[command(name = "agentlane", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a demo pipeline on the vendored real data.
    #[command(subcommand)]
    Demo(Demo),
    /// Inspect, verify, dump or replay a log directory.
    Log(cli::log::LogArgs),
    /// The core-pinned benchmark suite: agentlane against the floor and its peers.
    Bench(cli::bench::BenchArgs),
}

#[derive(Debug, Subcommand)]
enum Demo {
    /// Posts -> VADER sentiment scorers -> aggregator, over 4,200 human-rated posts.
    Sentiment(SentimentArgs),
}

#[derive(Debug, Args)]
struct SentimentArgs {
    /// Posts file (`id<TAB>mean rating<TAB>text` per line). Default: the vendored posts.
    #[arg(long)]
    input: Option<PathBuf>,
    /// VADER lexicon file. Default: the vendored lexicon.
    #[arg(long)]
    lexicon: Option<PathBuf>,
    /// Scorer agents.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Stream the input this many times (for load).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    /// Fraction of posts whose first delivery panics a scorer (fault injection).
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    inject_panics: f64,
    /// Fraction of posts sent as malformed frames (fault injection).
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    inject_malformed: f64,
    /// Print the runtime's metrics (Prometheus text; a `metrics` object with --json).
    #[arg(long)]
    metrics: bool,
    /// Keep posts, scores and dead letters durable in DIR. After SIGTERM or Ctrl-C, the
    /// same command again finishes the job, counting each post once.
    #[arg(long, value_name = "DIR")]
    log: Option<PathBuf>,
    /// Run the pipeline from the posts recorded in DIR (by --log) instead of the input,
    /// with the deterministic clock.
    #[arg(long, value_name = "DIR")]
    replay: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();

    // Warnings by default; restarts after injected panics are expected, so quieter then.
    let injecting =
        matches!(&cli.command, Command::Demo(Demo::Sentiment(a)) if a.inject_panics > 0.0);
    let default = if injecting {
        "warn,agentlane::runtime::member=error"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AGENTLANE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    match cli.command {
        Command::Demo(Demo::Sentiment(args)) => demo_sentiment(args),
        Command::Log(args) => cli::log::run(args),
        Command::Bench(args) => cli::bench::run(args),
    }
}

fn demo_sentiment(args: SentimentArgs) -> ExitCode {
    let mut options = SentimentOptions::vendored();
    if let Some(input) = args.input {
        options.input = input;
    }
    if let Some(lexicon) = args.lexicon {
        options.lexicon = lexicon;
    }
    options.workers = args.workers;
    options.repeat = args.repeat;
    options.inject_panics = args.inject_panics;
    options.inject_malformed = args.inject_malformed;
    options.metrics = args.metrics;
    options.log = args.log;
    options.replay = args.replay;

    // SIGTERM and Ctrl-C stop intake, drain, store positions and report what was left.
    let interrupt = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(error) = signal_hook::flag::register(signal, interrupt.clone()) {
            return fail(&format!(
                "cannot install the handler of signal {signal}: {error}"
            ));
        }
    }
    options.interrupt = Some(interrupt);

    match sentiment::run(&options) {
        Ok(report) if args.json => match serde_json::to_string(&report) {
            Ok(json) => print(&json),
            Err(error) => fail(&format!("cannot render the report as JSON: {error}")),
        },
        Ok(report) => print(&report.to_string()),
        Err(error @ sentiment::DemoError::Interrupted { .. }) => {
            eprintln!("agentlane: {error}");
            ExitCode::from(130)
        }
        Err(error) => fail(&error.to_string()),
    }
}

/// Prints `text` and a newline to stdout; a closed stdout (`| head`) is not an error.
fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => fail(&format!("cannot write to stdout: {error}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("agentlane: {message}");
    ExitCode::FAILURE
}
