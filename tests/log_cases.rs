//! The log's field cases on a real disk: C8 (torn tails), C9 (records that do not fit),
//! C10 (replay starts exactly where asked, positions, cut sealed segments).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentlane::log::{
    record_size, segment_file_name, Crash, Damage, LogConfig, LogError, LogSnapshot, MemFs,
    PartitionLog, Positions, RecoveryMode, SyncPolicy,
};

/// Every record from `from` on, as (offset, timestamp, frame).
fn replay(log: &PartitionLog, from: u64) -> Vec<(u64, u64, Vec<u8>)> {
    let mut reader = log.reader_from(from).expect("a reader");
    let mut out = Vec::new();
    while let Some(record) = reader.next() {
        let record = record.expect("a valid record");
        out.push((record.offset, record.timestamp_ns, record.frame.to_vec()));
    }
    out
}

/// A frame whose bytes say which offset it was written at.
fn frame_for(offset: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (offset as usize * 31 + i) as u8).collect()
}

// ---------------------------------------------------------------------------------------
// C8: a torn tail, then new appends, then a second restart.
// ---------------------------------------------------------------------------------------

const R: [&[u8]; 4] = [
    b"r1: first",
    b"r2: second record",
    b"r3: third one",
    b"r4: after recovery",
];

fn write_r1_to_r3(dir: &Path) -> PathBuf {
    let (mut log, _) = PartitionLog::open(dir, LogConfig::default()).expect("open");
    for (i, frame) in R[..3].iter().enumerate() {
        log.append(i as u64, frame).expect("append");
    }
    log.sync().expect("sync");
    log.close().expect("close");
    dir.join(segment_file_name(0))
}

/// A record as the format draws it, with the right CRC unless `bad_crc`.
fn raw_record(offset: u64, timestamp: u64, frame: &[u8], bad_crc: bool) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&timestamp.to_le_bytes());
    out.extend_from_slice(frame);
    out.resize(record_size(frame.len()), 0);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[0..4]), &out[8..24 + frame.len()]);
    let crc = if bad_crc { crc ^ 1 } else { crc };
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    out
}

fn torn_tail_then_append_then_restart(damage: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let segment = write_r1_to_r3(dir.path());
    let clean_len = std::fs::metadata(&segment).expect("metadata").len();
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes.extend_from_slice(damage);
    std::fs::write(&segment, &bytes).expect("damage");

    // Recovery 1: reports the tail and cuts it before any append.
    let (mut log, report) = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    let tail = report.torn_tail.expect("a torn tail");
    assert_eq!(
        (tail.segment.as_path(), tail.offset, tail.position),
        (segment.as_path(), 3, clean_len)
    );
    assert_eq!(report.bytes_dropped, damage.len() as u64);
    assert_eq!(
        std::fs::metadata(&segment).expect("metadata").len(),
        clean_len
    );
    assert_eq!(log.append(3, R[3]).expect("append r4"), 3);
    log.sync().expect("sync");
    log.close().expect("close");

    // Recovery 2: clean; replay is exactly r1..r4.
    let (log, report) = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    assert_eq!(report.torn_tail, None);
    let frames: Vec<Vec<u8>> = replay(&log, 0).into_iter().map(|(_, _, f)| f).collect();
    assert_eq!(frames, R.iter().map(|r| r.to_vec()).collect::<Vec<_>>());
}

#[test]
fn c8_one_stray_byte_is_cut() {
    torn_tail_then_append_then_restart(&[0xab]);
}

#[test]
fn c8_a_header_running_past_the_end_is_cut() {
    let mut header = raw_record(3, 3, &[7; 1000], false);
    header.truncate(40);
    torn_tail_then_append_then_restart(&header);
}

#[test]
fn c8_a_whole_record_with_a_bad_checksum_is_cut() {
    torn_tail_then_append_then_restart(&raw_record(3, 3, b"never acknowledged", true));
}

#[test]
fn c8_a_zero_filled_tail_is_cut() {
    torn_tail_then_append_then_restart(&[0; 4096]);
}

/// Damages r2 at `at` bytes into it (r3 intact) and checks that both modes refuse to open
/// and leave the file unchanged.
fn damaged_r2_is_refused(at: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let segment = write_r1_to_r3(dir.path());
    let mut bytes = std::fs::read(&segment).expect("read");
    let r2 = 32 + record_size(R[0].len());
    bytes[r2 + at] ^= 0x10;
    std::fs::write(&segment, &bytes).expect("damage");

    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::Strict] {
        let error = PartitionLog::open(dir.path(), LogConfig::default().recovery(mode))
            .expect_err("a corrupt log must not open");
        match &error {
            LogError::Corrupt {
                segment: s,
                offset,
                position,
                ..
            } => {
                assert_eq!((s, *offset, *position), (&segment, 1, r2 as u64), "{error}");
            }
            other => panic!("expected a corruption error, got {other}"),
        }
        assert!(error.to_string().contains("offset 1"), "{error}");
        assert_eq!(
            std::fs::read(&segment).expect("read"),
            bytes,
            "the file must not change"
        );
    }
}

#[test]
fn c8_a_flipped_byte_in_a_middle_frame_is_corruption() {
    damaged_r2_is_refused(30);
}

#[test]
fn c8_a_flipped_length_in_a_middle_record_is_corruption() {
    damaged_r2_is_refused(2); // the length now runs past the end of the file
}

#[test]
fn c8_a_flipped_offset_in_a_middle_record_is_corruption() {
    damaged_r2_is_refused(9);
}

#[test]
fn c8_strict_refuses_a_torn_tail_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segment = write_r1_to_r3(dir.path());
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes.push(1);
    std::fs::write(&segment, &bytes).expect("damage");

    let strict = LogConfig::default().recovery(RecoveryMode::Strict);
    let error = PartitionLog::open(dir.path(), strict).expect_err("strict refuses");
    assert!(
        matches!(
            error,
            LogError::TornTail {
                offset: 3,
                bytes: 1,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(std::fs::read(&segment).expect("read"), bytes);

    // The read-only view names the tail without cutting it.
    let (_snapshot, report) = LogSnapshot::open(dir.path()).expect("snapshot");
    assert_eq!(report.torn_tail.map(|t| t.offset), Some(3));
    assert_eq!(std::fs::read(&segment).expect("read"), bytes);
}

// ---------------------------------------------------------------------------------------
// C9: records that do not fit the room left in a segment.
// ---------------------------------------------------------------------------------------

const SEG: u64 = 64 << 10;

/// Checks the segment-size rule and gapless offsets, and returns every record.
fn check_segments_and_replay(log: &PartitionLog) -> Vec<(u64, u64, Vec<u8>)> {
    for segment in log.segments() {
        let records = segment.next_offset - segment.base_offset;
        assert!(
            segment.bytes <= SEG || records == 1,
            "{segment:?} is past its size"
        );
    }
    let records = replay(log, 0);
    for (i, (offset, _, frame)) in records.iter().enumerate() {
        assert_eq!(*offset, i as u64, "offsets run without gaps");
        assert_eq!(
            frame,
            &frame_for(*offset, frame.len()),
            "record {offset} reads back"
        );
    }
    records
}

#[test]
fn c9_records_that_do_not_fit_roll_or_stand_alone() {
    let fs = MemFs::new();
    let dir = Path::new("/p0000");
    let config = LogConfig::default()
        .segment_bytes(SEG)
        .max_record_bytes(128 << 10);
    let (mut log, _) = PartitionLog::open_with(fs.shared(), dir, config.clone()).expect("open");
    let append = |log: &mut PartitionLog, len: usize| {
        let offset = log.next_offset();
        assert_eq!(
            log.append(offset, &frame_for(offset, len)).expect("append"),
            offset
        );
    };

    // The first segment filled to exactly 60 KiB.
    for _ in 0..59 {
        append(&mut log, 1000);
    }
    append(&mut log, 968);
    assert_eq!(log.segments()[0].bytes, 60 << 10);

    // (a) 8 KiB does not fit in the 4 KiB left: a new segment at the next offset.
    append(&mut log, 8192 - 24);
    let segments = log.segments();
    assert_eq!((segments.len(), segments[1].base_offset), (2, 60));

    // (b) 25 records of 4 KiB in one group commit.
    let frames: Vec<Vec<u8>> = (61..86).map(|o| frame_for(o, 4096 - 24)).collect();
    let batch: Vec<(u64, &[u8])> = (61..86).zip(frames.iter().map(Vec::as_slice)).collect();
    assert_eq!(log.append_batch(&batch).expect("batch"), 61..86);
    assert_eq!(log.sync().expect("group commit"), 86);

    // (c) 100 KiB: alone in a segment of its own.
    append(&mut log, 100 << 10);
    let last = log.segments().pop().expect("segments");
    assert_eq!((last.base_offset, last.next_offset), (86, 87));

    // (d) a record that fills the room left to the byte: no roll, exactly SEG bytes.
    append(&mut log, 1000);
    let room = SEG - log.segments().pop().expect("segments").bytes;
    append(&mut log, room as usize - 24);
    let last = log.segments().pop().expect("segments");
    assert_eq!(
        (last.base_offset, last.next_offset, last.bytes),
        (87, 89, SEG)
    );

    // Too large: refused before any offset is used; the largest accepted is accepted.
    let next = log.next_offset();
    let error = log
        .append(0, &vec![0; (128 << 10) + 1])
        .expect_err("too large");
    assert!(
        matches!(error, LogError::TooLarge { max: 131072, .. }),
        "{error}"
    );
    assert_eq!(log.next_offset(), next);
    append(&mut log, 128 << 10);
    log.sync().expect("sync");
    let before = check_segments_and_replay(&log);

    // Crash without closing (everything was synced), recover, replay.
    for crash in [Crash::SyncedOnly, Crash::Random(7), Crash::Everything] {
        let image = fs.crash_image(crash);
        let (log, report) =
            PartitionLog::open_with(image.shared(), dir, config.clone()).expect("recover");
        assert_eq!(report.torn_tail, None);
        let after = check_segments_and_replay(&log);
        assert_eq!(after, before, "{crash:?}");
        assert_eq!(after.last().map(|r| r.2.len()), Some(128 << 10));
    }
}

#[test]
fn c9_the_same_on_a_real_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig::default()
        .segment_bytes(SEG)
        .sync(SyncPolicy::Always);
    let (mut log, _) = PartitionLog::open(dir.path(), config.clone()).expect("open");
    for len in [60_000, 8168, 100 << 10, 4072, 4072] {
        let offset = log.next_offset();
        log.append(offset, &frame_for(offset, len)).expect("append");
    }
    let before = check_segments_and_replay(&log);
    drop(log); // no close: `Always` made every append durable
    let (log, _) = PartitionLog::open(dir.path(), config).expect("reopen");
    assert_eq!(check_segments_and_replay(&log), before);
}

// ---------------------------------------------------------------------------------------
// C10: replay starts exactly where asked.
// ---------------------------------------------------------------------------------------

/// 250 records of 64 bytes each, segments of exactly 100 records, an index every 32.
fn c10_config() -> LogConfig {
    LogConfig::default()
        .segment_bytes(32 + 100 * 64)
        .index_interval(32)
}

fn c10_log(dir: &Path) -> PartitionLog {
    let (mut log, _) = PartitionLog::open(dir, c10_config()).expect("open");
    for offset in 0..250 {
        log.append(offset * 10, &frame_for(offset, 40))
            .expect("append");
    }
    log.sync().expect("sync");
    let bases: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, [0, 100, 200]);
    log
}

#[test]
fn c10_replay_starts_exactly_where_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = c10_log(dir.path());

    for from in [0, 31, 32, 45, 99, 100, 249] {
        let records = replay(&log, from);
        let offsets: Vec<u64> = records.iter().map(|r| r.0).collect();
        assert_eq!(offsets, (from..250).collect::<Vec<_>>(), "from {from}");
        assert_eq!(records[0].2, frame_for(from, 40));
    }

    // From 250: nothing yet, then the records as they arrive.
    let mut tail = log.reader_from(250).expect("a reader at the end");
    assert!(tail.next().is_none());
    log.append(2500, b"late").expect("append");
    assert_eq!(
        tail.next().expect("the new record").expect("valid").offset,
        250
    );
    assert!(tail.next().is_none());

    // From past the end: an error.
    let error = log.reader_from(252).expect_err("past the end");
    assert!(
        matches!(
            error,
            LogError::OffsetOutOfRange {
                requested: 252,
                next: 251
            }
        ),
        "{error}"
    );
}

#[test]
fn c10_from_251_of_250_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = c10_log(dir.path());
    assert!(log.reader_from(250).expect("at the end").next().is_none());
    assert!(matches!(
        log.reader_from(251),
        Err(LogError::OffsetOutOfRange {
            requested: 251,
            next: 250
        })
    ));
}

#[test]
fn c10_replay_from_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = c10_log(dir.path());
    for (time, first) in [(0, 0), (455, 46), (460, 46), (1000, 100), (2490, 249)] {
        let mut reader = log.reader_from_time(time);
        assert_eq!(
            reader.next().expect("a record").expect("valid").offset,
            first,
            "time {time}"
        );
    }
    assert!(log.reader_from_time(2491).next().is_none());
}

#[test]
fn c10_a_tailing_reader_wakes_for_new_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = c10_log(dir.path());
    let mut reader = log.reader_from(250).expect("reader");
    let waiter = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let record = reader
            .next_timeout(deadline)
            .expect("woken")
            .expect("valid");
        (record.offset, record.frame.to_vec())
    });
    log.append(2500, b"wake up").expect("append");
    assert_eq!(waiter.join().expect("waiter"), (250, b"wake up".to_vec()));
}

#[test]
fn c10_positions_resume_without_skips_or_repeats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = c10_log(dir.path());

    // Consume and acknowledge 0..=136, store the position (last acked + 1), stop.
    let mut seen = Vec::new();
    let mut reader = log.reader_from(0).expect("reader");
    while let Some(record) = reader.next() {
        seen.push(record.expect("valid").offset);
        if seen.len() == 137 {
            break;
        }
    }
    Positions::open(dir.path())
        .expect("positions")
        .store("scorers", 0, 137)
        .expect("store");
    drop(reader);
    log.close().expect("close");

    // Restart: resume at the stored position.
    let (log, _) = PartitionLog::open(dir.path(), c10_config()).expect("reopen");
    let position = Positions::open(dir.path())
        .expect("positions")
        .get("scorers", 0);
    assert_eq!(position, Some(137));
    seen.extend(replay(&log, 137).into_iter().map(|r| r.0));
    assert_eq!(seen, (0..250).collect::<Vec<_>>());
}

#[test]
fn c10_a_sealed_segment_cut_mid_record_names_the_lost_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    c10_log(dir.path()).close().expect("close");
    let sealed = dir.path().join(segment_file_name(0));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&sealed)
        .expect("open");
    file.set_len(32 + 50 * 64 + 10).expect("cut");
    let bytes = std::fs::read(&sealed).expect("read");

    for error in [
        PartitionLog::open(dir.path(), c10_config()).expect_err("refused"),
        LogSnapshot::open(dir.path()).expect_err("refused"),
    ] {
        match &error {
            LogError::SegmentCut {
                segment,
                position,
                lost,
            } => {
                assert_eq!(
                    (segment, *position, lost.clone()),
                    (&sealed, 32 + 50 * 64, 50..100)
                );
            }
            other => panic!("expected a cut segment, got {other}"),
        }
        assert!(
            error.to_string().contains("offsets 50..100 are lost"),
            "{error}"
        );
    }
    assert_eq!(std::fs::read(&sealed).expect("read"), bytes);
}

#[test]
fn c10_a_missing_segment_is_a_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    c10_log(dir.path()).close().expect("close");
    std::fs::remove_file(dir.path().join(segment_file_name(100))).expect("remove");
    let error = PartitionLog::open(dir.path(), c10_config()).expect_err("refused");
    assert!(
        matches!(error, LogError::SegmentGap { ref lost, .. } if *lost == (100..200)),
        "{error}"
    );
}

#[test]
fn retention_and_purge_remove_whole_sealed_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = c10_log(dir.path());
    assert_eq!(log.purge_to(150).expect("purge"), 100);
    assert!(!dir.path().join(segment_file_name(0)).exists());
    assert!(matches!(
        log.reader_from(99),
        Err(LogError::Purged {
            requested: 99,
            start: 100
        })
    ));
    assert_eq!(replay(&log, 100).len(), 150);

    // By age: the sealed segment's newest record (1990 ns) is older than 100 ns at 2500.
    let mut log = {
        log.close().expect("close");
        let config = c10_config().retention_age(Some(Duration::from_nanos(100)));
        PartitionLog::open(dir.path(), config).expect("reopen").0
    };
    assert_eq!(log.apply_retention(2000).expect("retention"), 100);
    assert_eq!(log.apply_retention(2500).expect("retention"), 200);
    assert_eq!(log.start_offset(), 200);
}

#[test]
fn bad_segment_headers_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    c10_log(dir.path()).close().expect("close");
    let sealed = dir.path().join(segment_file_name(100));
    let mut bytes = std::fs::read(&sealed).expect("read");
    bytes[8] = 9; // version
    std::fs::write(&sealed, &bytes).expect("damage");
    let error = PartitionLog::open(dir.path(), c10_config()).expect_err("refused");
    assert!(
        matches!(
            error,
            LogError::BadHeader {
                damage: Damage::Checksum,
                ..
            }
        ),
        "{error}"
    );
}
