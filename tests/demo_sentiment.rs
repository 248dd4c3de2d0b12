//! The main job: the sentiment pipeline over the 4,200 real human-rated posts, through the
//! library and through the `agentlane` binary.

use std::io::Write;
use std::process::Command;

use agentlane::demo::sentiment::{self, SentimentOptions};

#[test]
fn the_pipeline_scores_every_real_post_above_the_accuracy_floor() {
    let report = sentiment::run(&SentimentOptions::vendored()).unwrap();
    assert_eq!(report.input, 4200);
    assert_eq!(report.processed + report.dead_lettered, report.input);
    assert_eq!(report.dead_lettered, 0);
    assert_eq!(report.malformed_lines, 0);
    assert_eq!(report.rated, 4196, "posts rated exactly 0 are left out");
    assert!(report.accuracy >= 0.80, "accuracy {}", report.accuracy);
    assert!(
        report.latency_us.p50 <= report.latency_us.p99
            && report.latency_us.p99 <= report.latency_us.max
    );
}

#[test]
fn the_digest_does_not_depend_on_the_number_of_workers() {
    let mut options = SentimentOptions::vendored();
    options.workers = 1;
    let one = sentiment::run(&options).unwrap();
    options.workers = 3;
    let three = sentiment::run(&options).unwrap();
    assert_eq!(one.digest, three.digest);
    assert_eq!(one.accuracy, three.accuracy);
}

#[test]
fn malformed_lines_are_counted_and_the_rest_processed() {
    let dir = std::env::temp_dir().join(format!("agentlane-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("posts.txt");
    let mut file = std::fs::File::create(&input).unwrap();
    write!(file, "1\t2.5\tI love this!\r\nnot a line\r\n2\tabc\tbad rating\r\n3\t-1.5\tThis is awful\r\n4\t1.0").unwrap();
    drop(file);

    let mut options = SentimentOptions::vendored();
    options.input = input;
    let report = sentiment::run(&options).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(report.input, 2, "lines 1 and 4 are valid");
    assert_eq!(report.malformed_lines, 3);
    assert_eq!(report.processed, 2);
    assert!(
        report
            .malformed_examples
            .iter()
            .any(|e| e.contains("line 2")),
        "{:?}",
        report.malformed_examples
    );
}

#[test]
fn the_binary_prints_one_json_object_with_the_documented_fields() {
    let output = Command::new(env!("CARGO_BIN_EXE_agentlane"))
        .args(["demo", "sentiment", "--json", "--workers", "2"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for field in [
        "input",
        "processed",
        "dead_lettered",
        "accuracy",
        "throughput_per_s",
        "digest",
    ] {
        assert!(json.get(field).is_some(), "missing {field}");
    }
    for field in ["p50", "p99", "p999", "max"] {
        assert!(
            json["latency_us"].get(field).is_some(),
            "missing latency_us.{field}"
        );
    }
    assert_eq!(json["input"], 4200);
    assert_eq!(
        json["processed"].as_u64().unwrap() + json["dead_lettered"].as_u64().unwrap(),
        4200
    );
}

#[test]
fn the_binary_reports_a_missing_input_file_clearly() {
    let output = Command::new(env!("CARGO_BIN_EXE_agentlane"))
        .args(["demo", "sentiment", "--input", "/nonexistent/posts.txt"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/posts.txt"), "{stderr}");
}
