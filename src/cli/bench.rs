//! `agentlane bench`: runs the core-pinned benchmark suite and prints or writes its report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use agentlane::bench::{self, AllocationProbe, BenchConfig, BenchError, Report};

use super::alloc_counter;

/// Options of `agentlane bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// A short run (50,000 round trips, 1,000,000 frames per series): within a minute on
    /// two cores.
    #[arg(long)]
    quick: bool,
    /// Print the report as JSON, with every series, instead of the tables.
    #[arg(long)]
    json: bool,
    /// Also write the latency plot (latency.svg) and the tables (bench.md) into DIR.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Scale every count to about N round trips (for smoke tests).
    #[arg(long, value_name = "N", hide = true)]
    iterations: Option<u64>,
}

/// Runs the suite as `args` say.
pub(crate) fn run(args: BenchArgs) -> ExitCode {
    match run_inner(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("agentlane bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(args: &BenchArgs) -> Result<(), BenchError> {
    // Refuse an unusable output directory before measuring anything.
    if let Some(dir) = &args.out {
        prepare(dir)?;
    }

    bench::set_allocation_probe(AllocationProbe {
        set_counting: alloc_counter::set_counting,
        count: alloc_counter::allocations,
    });
    let config = match (args.iterations, args.quick) {
        (Some(n), _) => BenchConfig::scaled(n),
        (None, true) => BenchConfig::quick(),
        (None, false) => BenchConfig::full(),
    };
    let started = std::time::Instant::now();
    let progress = |step: &str| {
        eprintln!(
            "agentlane bench: {:>5.1} s {step}",
            started.elapsed().as_secs_f64()
        )
    };
    let report = bench::run(&config, progress)?;

    print(&report, args.json)?;
    match &args.out {
        Some(dir) => write_out(&report, dir),
        None => Ok(()),
    }
}

/// Creates `dir` if needed and checks it can hold files.
fn prepare(dir: &Path) -> Result<(), BenchError> {
    let error = |source| BenchError::Output {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(error)?;
    let probe = dir.join(".agentlane-bench-probe");
    std::fs::write(&probe, b"").map_err(error)?;
    std::fs::remove_file(&probe).map_err(error)
}

fn print(report: &Report, json: bool) -> Result<(), BenchError> {
    if json {
        let text = report
            .json()
            .map_err(|e| BenchError::Plot(format!("JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// Writes `latency.svg` and `bench.md` into `dir`.
fn write_out(report: &Report, dir: &Path) -> Result<(), BenchError> {
    let svg = dir.join("latency.svg");
    bench::write_svg(report, &svg)?;
    let markdown = format!("{}\n![one-way latency](latency.svg)\n", report.markdown());
    let md = dir.join("bench.md");
    std::fs::write(&md, markdown).map_err(|source| BenchError::Output {
        path: md.clone(),
        source,
    })?;
    eprintln!(
        "agentlane bench: wrote {} and {}",
        svg.display(),
        md.display()
    );
    Ok(())
}
