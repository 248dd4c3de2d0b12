//! The `agentlane log` command on real log directories: ls, verify, dump, replay.

use std::path::Path;
use std::process::{Command, Output};

use agentlane::frame::{FrameEncoder, FrameHeader};
use agentlane::log::{partition_dir_name, segment_file_name, LogConfig, PartitionLog, Positions};

fn agentlane(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentlane"))
        .arg("log")
        .args(args)
        .arg(dir)
        .output()
        .expect("run agentlane")
}

/// A topic directory with two partitions of 5 real frames each, plus one raw record.
fn topic(dir: &Path) {
    let mut encoder = FrameEncoder::new();
    for partition in 0..2u32 {
        let config = LogConfig::default().segment_bytes(512);
        let path = dir.join(partition_dir_name(partition));
        let (mut log, _) = PartitionLog::open(&path, config).expect("open");
        for i in 0..5u64 {
            let key = format!("k{i}");
            let header = FrameHeader {
                topic: "posts",
                key: key.as_bytes(),
                offset: i,
                partition,
                ..Default::default()
            };
            let frame = encoder.encode(&header, |_| Ok(())).expect("encode");
            log.append(1000 + i, frame).expect("append");
        }
        log.append(2000, b"not a frame").expect("append");
        log.close().expect("close");
    }
}

#[test]
fn ls_verify_dump_and_replay_a_topic() {
    let dir = tempfile::tempdir().expect("tempdir");
    topic(dir.path());

    let ls = agentlane(&["ls"], dir.path());
    let text = String::from_utf8_lossy(&ls.stdout);
    assert!(ls.status.success(), "{text}");
    assert!(
        text.contains("p0001") && text.contains(&segment_file_name(0)),
        "{text}"
    );

    let verify = agentlane(&["verify"], dir.path());
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    let dump = agentlane(
        &["dump", "--json", "--from", "4"],
        &dir.path().join("p0000"),
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&dump.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["offset"].as_u64(), lines[0]["topic"].as_str()),
        (Some(4), Some("posts"))
    );
    assert_eq!(lines[0]["key"].as_str(), Some("k4"));
    assert!(lines[1]["decode_error"].is_string(), "{}", lines[1]);
    assert_eq!(lines[1]["len"].as_u64(), Some(11));

    let replay = agentlane(&["replay", "--from-time", "1003"], dir.path());
    let out = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success());
    assert_eq!(out.lines().count(), 6, "{out}"); // 3 records from each partition
    assert!(out.lines().all(|l| l.contains("\"frame_hex\"")), "{out}");
}

#[test]
fn verify_names_the_segment_and_offset_of_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    topic(dir.path());
    let partition = dir.path().join("p0001");
    let segment = partition.join(segment_file_name(0));
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes[32 + 30] ^= 0xff; // inside record 0's frame
    std::fs::write(&segment, &bytes).expect("damage");

    let verify = agentlane(&["verify"], dir.path());
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(!verify.status.success(), "{out}");
    assert!(out.contains("ok: ") && out.contains("corrupt: "), "{out}");
    assert!(
        out.contains(&segment.display().to_string()) && out.contains("offset 0"),
        "{out}"
    );
}

#[test]
fn verify_says_when_a_torn_tail_would_be_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    topic(dir.path());
    let partition = dir.path().join("p0000");
    let last = PartitionLog::open(&partition, LogConfig::default())
        .expect("open")
        .0
        .segments();
    let last = last.last().expect("a segment").path.clone();
    let mut bytes = std::fs::read(&last).expect("read");
    bytes.extend_from_slice(&[1, 2, 3]);
    std::fs::write(&last, &bytes).expect("damage");

    let verify = agentlane(&["verify"], &partition);
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{out}");
    assert!(
        out.contains("torn tail") && out.contains("will cut it"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&last).expect("read"),
        bytes,
        "verify changes nothing"
    );
}

/// The segment files of a partition directory, sorted by base offset.
fn segments(partition: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(partition)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// A runtime `log_dir` with topic `posts` (see [`topic`]) and its positions: subscription
/// `scorers` at the end of both partitions.
fn log_dir(dir: &Path) -> std::path::PathBuf {
    let posts = dir.join("posts");
    topic(&posts);
    let mut positions = Positions::open(&posts).expect("positions");
    positions
        .store_all([("scorers", 0, 6), ("scorers", 1, 6)])
        .expect("store");
    posts
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn verify_checks_positions_at_every_level() {
    let dir = tempfile::tempdir().expect("tempdir");
    let posts = log_dir(dir.path());
    for level in [dir.path(), &posts, &posts.join("p0001")] {
        let verify = agentlane(&["verify"], level);
        let out = stdout(&verify);
        assert!(verify.status.success(), "{out}");
        let positions = posts.join("positions").display().to_string();
        assert!(out.contains(&format!("ok: {positions}")), "{out}");
    }
}

#[test]
fn verify_fails_when_a_deleted_segment_leaves_positions_past_the_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let posts = log_dir(dir.path());
    let partition = posts.join("p0001");
    let last = segments(&partition).pop().expect("a segment");
    assert!(
        segments(&partition).len() > 1,
        "the test needs two segments"
    );
    std::fs::remove_file(&last).expect("delete");

    for level in [dir.path(), &posts, &partition] {
        let verify = agentlane(&["verify"], level);
        let out = stdout(&verify);
        assert!(!verify.status.success(), "{out}");
        assert!(
            out.contains("positions of scorers on partition 1 at 6 are past the end of the log")
                && out.contains("records were lost"),
            "{out}"
        );
        assert!(!out.contains("on partition 0"), "{out}");
    }
}

#[test]
fn verify_fails_when_positions_are_before_the_start_of_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let posts = log_dir(dir.path());
    Positions::open(&posts)
        .expect("positions")
        .store("scorers", 0, 0)
        .expect("store");
    let first = segments(&posts.join("p0000")).remove(0);
    std::fs::remove_file(&first).expect("delete");

    let verify = agentlane(&["verify"], &posts);
    let out = stdout(&verify);
    assert!(!verify.status.success(), "{out}");
    assert!(
        out.contains("positions of scorers on partition 0 at 0 are before the start of the log"),
        "{out}"
    );
}

#[test]
fn verify_fails_when_a_partition_directory_is_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let posts = log_dir(dir.path());
    std::fs::remove_dir_all(posts.join("p0001")).expect("delete");

    let verify = agentlane(&["verify"], dir.path());
    let out = stdout(&verify);
    assert!(!verify.status.success(), "{out}");
    assert!(
        out.contains("positions of scorers on partition 1 at 6 are past the end of the log")
            && out.contains(&posts.join("p0001").display().to_string()),
        "{out}"
    );

    // With every partition gone, the positions alone still fail.
    std::fs::remove_dir_all(posts.join("p0000")).expect("delete");
    let verify = agentlane(&["verify"], &posts);
    let out = stdout(&verify);
    assert!(!verify.status.success(), "{out}");
    assert!(out.contains("on partition 0 at 6"), "{out}");
}

#[test]
fn verify_reports_a_damaged_positions_file_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let posts = log_dir(dir.path());
    let path = posts.join("positions");
    let good = std::fs::read(&path).expect("read");
    let cut = good[..good.len() - 1].to_vec();
    for bad in [b"garbage, not positions".to_vec(), Vec::new(), cut] {
        std::fs::write(&path, &bad).expect("damage");
        let verify = agentlane(&["verify"], dir.path());
        let out = stdout(&verify);
        assert!(!verify.status.success(), "{out}");
        assert!(
            out.contains(&format!("corrupt: bad positions file {}", path.display())),
            "{out}"
        );
        assert_eq!(
            out.matches("ok: ").count(),
            2,
            "both partitions reported: {out}"
        );
    }
}

#[test]
fn ls_and_verify_report_every_partition_before_failing() {
    let dir = tempfile::tempdir().expect("tempdir");
    topic(dir.path());
    let segment = dir.path().join("p0000").join(segment_file_name(0));
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes[32 + 30] ^= 0xff; // inside record 0's frame
    std::fs::write(&segment, &bytes).expect("damage");

    let ls = agentlane(&["ls"], dir.path());
    let out = stdout(&ls);
    assert!(!ls.status.success(), "{out}");
    let p0000 = format!("{}: corrupt: ", dir.path().join("p0000").display());
    let p0001 = format!("{}: offsets 0..6", dir.path().join("p0001").display());
    assert!(out.contains(&p0000) && out.contains(&p0001), "{out}");

    let verify = agentlane(&["verify"], dir.path());
    let out = stdout(&verify);
    assert!(!verify.status.success(), "{out}");
    let p0001 = format!("ok: {}", dir.path().join("p0001").display());
    assert!(out.contains("corrupt: ") && out.contains(&p0001), "{out}");
}

#[test]
fn dump_prints_keys_by_one_rule_and_names_the_directory_of_undecodable_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut encoder = FrameEncoder::new();
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    let keys: [&[u8]; 5] = [b"k1", b"", b"a\0b", &[0xff, 0x01], b"0x61"];
    for key in keys {
        let header = FrameHeader {
            topic: "posts",
            key,
            ..Default::default()
        };
        let frame = encoder.encode(&header, |_| Ok(())).expect("encode");
        log.append(1, frame).expect("append");
    }
    log.append(2, b"not a frame").expect("append");
    log.close().expect("close");

    let dump = agentlane(&["dump", "--json"], dir.path());
    assert!(dump.status.success(), "{}", stdout(&dump));
    let lines: Vec<serde_json::Value> = stdout(&dump)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let printed: Vec<_> = lines[..5].iter().map(|l| l["key"].as_str()).collect();
    let expected = ["k1", "", "0x610062", "0xff01", "0x30783631"];
    assert_eq!(printed, expected.map(Some));
    let bad = &lines[5];
    assert!(bad["decode_error"].is_string(), "{bad}");
    assert_eq!(
        bad["dir"].as_str(),
        Some(dir.path().display().to_string().as_str())
    );
}

#[test]
fn verify_help_says_what_fails_and_what_passes() {
    let help = Command::new(env!("CARGO_BIN_EXE_agentlane"))
        .args(["log", "verify", "--help"])
        .output()
        .expect("run agentlane");
    let text = stdout(&help);
    for words in [
        "corruption",
        "cut",
        "gap",
        "positions",
        "torn tail",
        "Exits 0",
    ] {
        assert!(text.contains(words), "{words}: {text}");
    }
}
