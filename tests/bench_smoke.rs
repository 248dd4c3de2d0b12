//! Smoke test of `agentlane bench`: every series is reported with non-zero counts, the plot
//! and the Markdown table are written, and a bad output path is a clear error. No timing is
//! asserted.

use std::process::{Command, Output};

use serde_json::Value;

/// Latency series, in report order.
const LATENCY: &[&str] = &[
    "floor",
    "agentlane BusySpin",
    "agentlane Backoff",
    "crossbeam-channel",
    "flume",
    "tokio mpsc",
    "std sync_channel",
    "rtrb",
    "disruptor",
];

/// Decode series.
const DECODE: &[&str] = &[
    "capnp decode + fields (in place)",
    "serde_json decode + fields (borrowed)",
    "serde_json decode + fields (owned)",
    "capnp encode (FrameEncoder)",
];

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentlane"))
        .arg("bench")
        .args(args)
        .output()
        .expect("the agentlane binary runs")
}

fn names(report: &Value, section: &str) -> Vec<String> {
    let series = report[section]
        .as_array()
        .unwrap_or_else(|| panic!("no {section} array"));
    series
        .iter()
        .map(|s| s["name"].as_str().expect("a name").to_owned())
        .collect()
}

fn positive(value: &Value, what: &str) {
    let n = value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"));
    assert!(n > 0.0, "{what} is {n}");
}

#[test]
fn quick_json_has_every_series_with_counts() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let dir = out.path().join("report");
    let dir_arg = dir.to_str().expect("a UTF-8 path");
    let output = bench(&["--quick", "--json", "--iterations", "500", "--out", dir_arg]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("need two cores") {
        eprintln!("skipped: fewer than two cores to pin to");
        return;
    }
    assert!(output.status.success(), "bench failed: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");

    // Latency: every contender, with round trips and a distribution.
    assert_eq!(names(&report, "latency"), LATENCY);
    for series in report["latency"].as_array().into_iter().flatten() {
        positive(&series["round_trips"], "round_trips");
        positive(&series["one_way_ns"]["p50"], "p50");
        positive(&series["one_way_ns"]["max"], "max");
        assert!(!series["distribution"]
            .as_array()
            .expect("a distribution")
            .is_empty());
    }

    // Throughput and allocations: every contender but the floor.
    assert_eq!(names(&report, "throughput"), &LATENCY[1..]);
    assert_eq!(names(&report, "allocations"), &LATENCY[1..]);
    for series in report["throughput"].as_array().into_iter().flatten() {
        positive(&series["frames"], "frames");
        positive(&series["frames_per_s"], "frames_per_s");
    }
    for series in report["allocations"].as_array().into_iter().flatten() {
        positive(&series["frames"], "frames");
        assert!(
            series["allocations"].is_u64(),
            "the binary counts allocations: {series}"
        );
    }

    // Decode, and the ratios of both agentlane series against the six others.
    assert_eq!(names(&report, "decode"), DECODE);
    for series in report["decode"].as_array().into_iter().flatten() {
        positive(&series["iterations"], "iterations");
    }
    assert_eq!(
        report["ratios"].as_array().map(Vec::len),
        Some(2 * (LATENCY.len() - 2))
    );

    // The files of --out.
    let svg = std::fs::read_to_string(dir.join("latency.svg")).expect("latency.svg written");
    assert!(
        svg.contains("percentile") && svg.contains("one-way latency"),
        "axes labelled"
    );
    let md = std::fs::read_to_string(dir.join("bench.md")).expect("bench.md written");
    assert!(md.contains("| agentlane BusySpin"), "the table in Markdown");
}

#[test]
fn an_unusable_out_path_is_a_clear_error() {
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    let below_a_file = file.path().join("report");
    let output = bench(&[
        "--quick",
        "--out",
        below_a_file.to_str().expect("a UTF-8 path"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("cannot write"), "stderr: {stderr}");
}
