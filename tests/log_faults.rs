//! Failure injection: every fault of the test backend, with nothing acknowledged lost, the
//! failure latch, errors that say what failed and where, and durability waits.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentlane::log::{
    segment_file_name, Crash, Fault, IoOp, LogConfig, LogError, MemFs, PartitionLog, SyncPolicy,
};

const DIR: &str = "/topic/p0000";

fn open(fs: &MemFs, sync: SyncPolicy) -> PartitionLog {
    let config = LogConfig::default().sync(sync).segment_bytes(4096);
    PartitionLog::open_with(fs.shared(), DIR, config)
        .expect("open")
        .0
}

fn frames(log: &PartitionLog) -> Vec<Vec<u8>> {
    let mut reader = log.reader_from_start();
    let mut out = Vec::new();
    while let Some(record) = reader.next() {
        out.push(record.expect("nothing corrupt is replayed").frame.to_vec());
    }
    out
}

fn frame(i: u64) -> Vec<u8> {
    format!("frame {i}").into_bytes()
}

fn active_segment(log: &PartitionLog) -> PathBuf {
    log.segments().pop().expect("a segment").path
}

/// Appends 5 acknowledged records, injects `fault`, and checks the failed append, the
/// latch, and what every crash image recovers.
fn fault_latches_and_loses_nothing_acknowledged(fault: Fault, op: IoOp) {
    let fs = MemFs::new();
    let mut log = open(&fs, SyncPolicy::Always);
    for i in 0..5 {
        log.append(i, &frame(i)).expect("append");
    }
    let segment = active_segment(&log);
    let handle = log.handle();

    // The failing append names the operation and the segment.
    fs.inject(fault, 0);
    let error = log.append(5, &frame(5)).expect_err("the fault surfaces");
    match &error {
        LogError::Io { op: got, path, .. } => assert_eq!((*got, path), (op, &segment), "{error}"),
        other => panic!("expected an I/O error, got {other}"),
    }
    assert!(
        error.to_string().contains(&segment.display().to_string()),
        "{error}"
    );

    // The latch: every write refuses with the original failure until reopened.
    for refused in [
        log.append(6, b"x").map(drop),
        log.sync().map(drop),
        log.rotate(),
    ] {
        match refused {
            Err(LogError::Poisoned { cause }) => {
                assert_eq!((cause.op, &cause.path), (op, &segment));
                assert!(!cause.message.is_empty());
            }
            other => panic!("expected the latch, got {other:?}"),
        }
    }
    let far = Instant::now() + Duration::from_secs(30);
    assert!(matches!(
        handle.wait_durable(5, far),
        Err(LogError::Poisoned { .. })
    ));
    assert_eq!(handle.wait_durable(4, far).expect("durable"), 5);

    // Whatever a crash keeps: the 5 acknowledged records, nothing corrupt.
    drop(log);
    for crash in [
        Crash::SyncedOnly,
        Crash::Everything,
        Crash::Random(1),
        Crash::Random(99),
    ] {
        let image = fs.crash_image(crash);
        let log = open(&image, SyncPolicy::Always);
        let got = frames(&log);
        assert!(
            got.len() == 5 || got.len() == 6,
            "{fault:?} {crash:?}: {} records",
            got.len()
        );
        assert_eq!(got, (0..got.len() as u64).map(frame).collect::<Vec<_>>());
    }

    // Reopening the same file system clears the latch.
    let mut log = open(&fs, SyncPolicy::Always);
    let next = log.next_offset();
    assert_eq!(
        log.append(next, b"after reopen")
            .expect("append after reopen"),
        next
    );
}

#[test]
fn a_failed_write_latches() {
    fault_latches_and_loses_nothing_acknowledged(Fault::WriteError, IoOp::Write);
}

#[test]
fn a_torn_write_latches_and_recovery_cuts_it() {
    fault_latches_and_loses_nothing_acknowledged(Fault::TornWrite, IoOp::Write);
}

#[test]
fn a_full_disk_latches() {
    fault_latches_and_loses_nothing_acknowledged(Fault::NoSpace, IoOp::Write);
}

#[test]
fn a_failed_sync_latches_and_is_never_retried() {
    fault_latches_and_loses_nothing_acknowledged(Fault::SyncError, IoOp::Sync);
}

#[test]
fn a_disk_filling_up_mid_record_latches() {
    let fs = MemFs::new();
    let mut log = open(&fs, SyncPolicy::Always);
    log.append(0, &frame(0)).expect("append");
    fs.set_space_left(Some(10));
    let error = log.append(1, &frame(1)).expect_err("no space");
    match &error {
        LogError::Io {
            op: IoOp::Write,
            source,
            ..
        } => {
            assert_eq!(source.raw_os_error(), Some(28), "{error}");
        }
        other => panic!("expected ENOSPC, got {other}"),
    }
    assert!(matches!(
        log.append(2, b"x"),
        Err(LogError::Poisoned { .. })
    ));
    drop(log);

    fs.set_space_left(None);
    let (log, report) =
        PartitionLog::open_with(fs.shared(), DIR, LogConfig::default()).expect("open");
    assert_eq!(report.bytes_dropped, 10, "the partial record is cut");
    assert_eq!(frames(&log), vec![frame(0)]);
}

#[test]
fn a_short_write_is_finished_not_failed() {
    let fs = MemFs::new();
    let mut log = open(&fs, SyncPolicy::Always);
    fs.inject(Fault::ShortWrite, 0);
    log.append(0, &frame(0)).expect("a short write is legal");
    log.append(1, &frame(1)).expect("append");
    assert!(log.poisoned().is_none());
    drop(log);
    let log = open(&fs.crash_image(Crash::SyncedOnly), SyncPolicy::Always);
    assert_eq!(frames(&log), vec![frame(0), frame(1)]);
}

#[test]
fn a_failed_roll_latches() {
    let fs = MemFs::new();
    let mut log = open(&fs, SyncPolicy::Never);
    let big = vec![7u8; 1000];
    for i in 0..3 {
        log.append(i, &big).expect("append");
    }
    fs.inject(Fault::SyncError, 0); // the roll syncs the sealed segment
    let error = log.append(3, &big).expect_err("roll fails");
    assert!(
        matches!(error, LogError::Io { op: IoOp::Sync, .. }),
        "{error}"
    );
    assert!(matches!(
        log.append(4, &big),
        Err(LogError::Poisoned { .. })
    ));
}

#[test]
fn group_commit_makes_everything_since_the_last_sync_durable() {
    let fs = MemFs::new();
    let every = Duration::from_secs(3600);
    let mut log = open(&fs, SyncPolicy::Interval(every));
    let handle = log.handle();
    let batch: Vec<(u64, Vec<u8>)> = (0..10).map(|i| (i, frame(i))).collect();
    for (ts, f) in &batch {
        log.append(*ts, f).expect("append");
    }

    // Not yet due: nothing synced; a crash keeps nothing.
    assert_eq!(log.durable_offset(), 0);
    assert!(log.next_sync_at().is_some());
    assert_eq!(log.maybe_sync(Instant::now()).expect("not due"), 0);
    let image = fs.crash_image(Crash::SyncedOnly);
    assert!(frames(&open(&image, SyncPolicy::Never)).is_empty());

    // A waiter on another thread is woken by the one sync that covers all ten.
    let waiter = std::thread::spawn(move || {
        handle.wait_durable(9, Instant::now() + Duration::from_secs(30))
    });
    assert_eq!(log.maybe_sync(Instant::now() + every).expect("due"), 10);
    assert_eq!(waiter.join().expect("waiter").expect("durable"), 10);
    assert_eq!(log.next_sync_at(), None);
    let image = fs.crash_image(Crash::SyncedOnly);
    assert_eq!(frames(&open(&image, SyncPolicy::Never)).len(), 10);
}

#[test]
fn a_wait_times_out_or_sees_the_close() {
    let fs = MemFs::new();
    let mut log = open(&fs, SyncPolicy::Never);
    log.append(0, b"x").expect("append");
    let handle = log.handle();
    assert!(matches!(
        handle.wait_durable(0, Instant::now()),
        Err(LogError::Timeout { offset: 0 })
    ));
    assert_eq!(log.close().expect("close syncs"), 1);
    assert_eq!(handle.wait_durable(0, Instant::now()).expect("durable"), 1);
    assert!(matches!(
        handle.wait_durable(1, Instant::now()),
        Err(LogError::Closed)
    ));
}

#[test]
fn a_new_segment_whose_name_was_lost_costs_only_unsynced_records() {
    let fs = MemFs::new();
    let mut log = open(&fs, SyncPolicy::Never);
    let big = vec![1u8; 1000];
    for i in 0..5 {
        log.append(i, &big).expect("append"); // rolls after the third
    }
    assert_eq!(log.durable_offset(), 3, "a roll syncs the sealed segment");
    drop(log);
    let log = open(&fs.crash_image(Crash::SyncedOnly), SyncPolicy::Never);
    assert_eq!(log.next_offset(), 3);
    assert_eq!(frames(&log), vec![big.clone(); 3]);

    // With every name kept, the unsynced records may survive too, and the log reopens.
    let log = open(&fs.crash_image(Crash::Everything), SyncPolicy::Never);
    assert_eq!(
        log.segments()[1].path,
        Path::new(DIR).join(segment_file_name(3))
    );
    assert_eq!(frames(&log).len(), 5);
}
