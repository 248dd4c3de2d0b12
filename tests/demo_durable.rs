//! The demo on disk, through the `agentlane` binary: a logged run and its replay agree,
//! replays are byte-identical, `log verify` tells a torn tail from corruption, and a run
//! stopped by SIGTERM finishes when run again, counting each post once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

fn agentlane(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentlane"))
        .args(args)
        .output()
        .unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file under `dir/topic`, sorted, with its bytes.
fn topic_files(dir: &Path, topic: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for partition in std::fs::read_dir(dir.join(topic)).unwrap().flatten() {
        if partition.path().is_dir() {
            for segment in std::fs::read_dir(partition.path()).unwrap().flatten() {
                let relative = segment.path().strip_prefix(dir).unwrap().to_owned();
                files.push((relative, std::fs::read(segment.path()).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn a_logged_run_and_its_replay_agree_and_verify_tells_damage_apart() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");

    let logged = json_of(&agentlane(&[
        "demo",
        "sentiment",
        "--log",
        path(&log),
        "--json",
    ]));
    let replayed = json_of(&agentlane(&[
        "demo",
        "sentiment",
        "--replay",
        path(&log),
        "--json",
    ]));
    assert_eq!(logged["processed"], 4200);
    assert_eq!(replayed["input"], 4200);
    assert_eq!(logged["digest"], replayed["digest"]);

    // Clean, then a byte cut off the end of a segment: a torn tail, still recoverable.
    assert!(agentlane(&["log", "verify", path(&log)]).status.success());
    let segment = log.join("posts/p0003/00000000000000000000.seg");
    let bytes = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, &bytes[..bytes.len() - 1]).unwrap();
    let verify = agentlane(&["log", "verify", path(&log)]);
    assert!(verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stdout).contains("torn tail"));

    // A flipped byte in the middle is corruption, named by segment and offset.
    let mut damaged = std::fs::read(&segment).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    std::fs::write(&segment, &damaged).unwrap();
    let verify = agentlane(&["log", "verify", path(&log)]);
    assert!(!verify.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        said.contains("00000000000000000000.seg") && said.contains("offset"),
        "{said}"
    );
}

#[test]
fn two_replays_of_one_log_write_byte_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let (log, first, second) = (
        dir.path().join("log"),
        dir.path().join("first"),
        dir.path().join("second"),
    );
    json_of(&agentlane(&[
        "demo",
        "sentiment",
        "--log",
        path(&log),
        "--json",
    ]));

    let a = json_of(&agentlane(&[
        "demo",
        "sentiment",
        "--replay",
        path(&log),
        "--log",
        path(&first),
        "--json",
    ]));
    let b = json_of(&agentlane(&[
        "demo",
        "sentiment",
        "--replay",
        path(&log),
        "--log",
        path(&second),
        "--json",
        "--workers",
        "3",
    ]));
    assert_eq!(a["digest"], b["digest"]);

    let (scores_a, scores_b) = (
        topic_files(&first, "scores"),
        topic_files(&second, "scores"),
    );
    assert_eq!(scores_a.len(), 16);
    assert!(
        scores_a == scores_b,
        "the two replays wrote different score streams"
    );
}

#[test]
fn a_run_stopped_by_sigterm_finishes_when_run_again_counting_each_post_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let args = ["demo", "sentiment", "--repeat", "20", "--json"];
    let clean = json_of(&agentlane(&args));

    // Interrupt a logged run once it has made some progress.
    let mut logged_args = args.to_vec();
    logged_args.extend(["--log", path(&log)]);
    let child = Command::new(env!("CARGO_BIN_EXE_agentlane"))
        .args(&logged_args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let posts = log.join("posts/p0000/00000000000000000000.seg");
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&posts).map(|m| m.len()).unwrap_or(0) < 64 * 1024
        && std::time::Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    let interrupted = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&interrupted.stderr).into_owned();

    // Either it was interrupted (exit 130, saying so) or it had already finished.
    if interrupted.status.code() == Some(130) {
        assert!(stderr.contains("interrupted"), "{stderr}");
    } else {
        assert!(interrupted.status.success(), "{stderr}");
    }

    // The same command again completes the job with the clean run's results.
    let resumed = json_of(&agentlane(&logged_args));
    for field in [
        "input",
        "processed",
        "dead_lettered",
        "accuracy",
        "rated",
        "digest",
    ] {
        assert_eq!(
            resumed[field], clean[field],
            "{field} differs from the uninterrupted run"
        );
    }
}

#[test]
fn a_log_refuses_to_resume_another_job() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let other = dir.path().join("other.txt");
    std::fs::write(&other, "1\t2.0\tI love it\r\n").unwrap();
    json_of(&agentlane(&[
        "demo",
        "sentiment",
        "--log",
        path(&log),
        "--json",
    ]));

    let mixed = agentlane(&[
        "demo",
        "sentiment",
        "--log",
        path(&log),
        "--input",
        path(&other),
    ]);
    assert!(!mixed.status.success());
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("holds another job"));
    let repeated = agentlane(&["demo", "sentiment", "--log", path(&log), "--repeat", "2"]);
    assert!(!repeated.status.success());
}

#[test]
fn bad_options_are_refused_with_a_clear_error() {
    let too_many = agentlane(&["demo", "sentiment", "--workers", "17"]);
    assert!(!too_many.status.success());
    assert!(
        String::from_utf8_lossy(&too_many.stderr).contains("--workers must be between 1 and 16")
    );
    let bad_rate = agentlane(&["demo", "sentiment", "--inject-panics=2"]);
    assert!(!bad_rate.status.success());
    let lexicon = agentlane(&["demo", "sentiment", "--lexicon", "/nonexistent/lexicon.txt"]);
    assert!(String::from_utf8_lossy(&lexicon.stderr).contains("/nonexistent/lexicon.txt"));
}
