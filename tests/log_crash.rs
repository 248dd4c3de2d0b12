//! Crash test with real processes: a child appends with `SyncPolicy::Always` and prints
//! each offset whose append returned; the parent kills it with SIGKILL at random points,
//! 20 times, and after each recovery every printed offset is there, without gaps, and
//! nothing corrupt is replayed.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentlane::log::{LogConfig, PartitionLog, SyncPolicy};

/// Set in the child's environment to the partition directory.
const CHILD_ENV: &str = "AGENTLANE_LOG_CRASH_CHILD";

fn config() -> LogConfig {
    LogConfig::default()
        .sync(SyncPolicy::Always)
        .segment_bytes(4096)
        .index_interval(4)
}

/// The frame written at `offset`: its length and bytes depend on the offset.
fn payload(offset: u64) -> Vec<u8> {
    let len = 16 + (offset * 37 % 300) as usize;
    (0..len)
        .map(|i| (offset as usize).wrapping_mul(7).wrapping_add(i) as u8)
        .collect()
}

/// The child: append forever, printing each acknowledged offset. Does nothing unless run
/// by `kill_9_at_random_points_loses_nothing_acknowledged`.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mut log, _) = PartitionLog::open(&dir, config()).expect("child opens the log");
    let mut stdout = std::io::stdout().lock();
    loop {
        let offset = log.next_offset();
        let appended = log.append(offset, &payload(offset)).expect("child appends");
        writeln!(stdout, "appended {appended}")
            .and_then(|()| stdout.flush())
            .expect("stdout");
    }
}

/// Runs the child until it has acknowledged `lines` appends (plus up to `extra_ms` of
/// time), kills it, and returns every offset it printed.
fn run_child_and_kill(dir: &Path, lines: usize, extra_ms: u64) -> Vec<u64> {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut printed = Vec::new();
    let mut line = String::new();
    while printed.len() < lines {
        line.clear();
        if out.read_line(&mut line).expect("read child") == 0 {
            break;
        }
        printed.extend(
            line.trim()
                .strip_prefix("appended ")
                .and_then(|n| n.parse::<u64>().ok()),
        );
    }
    std::thread::sleep(Duration::from_millis(extra_ms));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    // Whatever it printed before dying was acknowledged too.
    for line in out.lines() {
        let line = line.expect("read child");
        printed.extend(
            line.trim()
                .strip_prefix("appended ")
                .and_then(|n| n.parse::<u64>().ok()),
        );
    }
    printed
}

#[test]
fn kill_9_at_random_points_loses_nothing_acknowledged() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut rng = seed;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acknowledged = 0u64;

    for round in 0..20 {
        let printed = run_child_and_kill(dir.path(), 1 + next(40) as usize, next(4));
        if let Some(&last) = printed.iter().max() {
            acknowledged = acknowledged.max(last + 1);
        }

        // Recover and replay: every acknowledged offset, gapless, each frame intact.
        let (log, report) = PartitionLog::open(dir.path(), config())
            .unwrap_or_else(|e| panic!("seed {seed} round {round}: recovery failed: {e}"));
        assert!(
            log.next_offset() >= acknowledged,
            "seed {seed} round {round}: {report:?}"
        );
        let mut reader = log.reader_from(0).expect("reader");
        let mut expected = 0;
        while let Some(record) = reader.next() {
            let record = record.unwrap_or_else(|e| panic!("seed {seed}: corrupt replay: {e}"));
            assert_eq!(record.offset, expected, "seed {seed} round {round}");
            assert_eq!(record.frame, payload(expected), "seed {seed} round {round}");
            expected += 1;
        }
        assert_eq!(expected, log.next_offset(), "seed {seed} round {round}");
    }
    assert!(acknowledged >= 20, "the children made progress");
}
