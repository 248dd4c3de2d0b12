//! The `agentlane log` command on real log directories: ls, verify, dump, replay.

use std::path::Path;
use std::process::{Command, Output};

use agentlane::frame::{FrameEncoder, FrameHeader};
use agentlane::log::{partition_dir_name, segment_file_name, LogConfig, PartitionLog};

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
