//! Property test: random appends, batches, syncs, rolls, crash images and reopens against
//! an in-memory reference model of the log.
//!
//! The model is the list of appended records and how many of them are durable. After a
//! crash, recovery must give back a prefix of the model at least as long as the durable
//! part; after a clean reopen, all of it; and every replay must match the model.

use std::path::Path;

use agentlane::log::{Crash, LogConfig, MemFs, PartitionLog, SyncPolicy};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append { len: usize, timestamp: u64 },
    Batch { lens: Vec<usize> },
    Sync,
    Rotate,
    Crash { seed: u64 },
    Reopen,
    ReadFrom { permille: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..400, 0u64..1000).prop_map(|(len, timestamp)| Op::Append { len, timestamp }),
        1 => (1100usize..1300).prop_map(|len| Op::Append { len, timestamp: 5 }),
        2 => prop::collection::vec(0usize..300, 1..6).prop_map(|lens| Op::Batch { lens }),
        2 => Just(Op::Sync),
        1 => Just(Op::Rotate),
        2 => any::<u64>().prop_map(|seed| Op::Crash { seed }),
        1 => Just(Op::Reopen),
        2 => (0u64..=1000).prop_map(|permille| Op::ReadFrom { permille }),
    ]
}

fn config(sync: SyncPolicy) -> LogConfig {
    LogConfig::default()
        .segment_bytes(1024)
        .index_interval(3)
        .sync(sync)
}

fn frame(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize * 13 + i) as u8).collect()
}

/// Every record from `from` on must equal the model's.
fn check_replay(log: &PartitionLog, model: &[(u64, Vec<u8>)], from: u64) {
    let mut reader = log.reader_from(from).expect("reader");
    let mut offset = from;
    while let Some(record) = reader.next() {
        let record = record.expect("valid record");
        assert_eq!(record.offset, offset);
        let (timestamp, frame) = &model[offset as usize];
        assert_eq!(
            (record.timestamp_ns, record.frame),
            (*timestamp, frame.as_slice())
        );
        offset += 1;
    }
    assert_eq!(
        offset,
        model.len() as u64,
        "replay reaches the end of the model"
    );
}

fn run(ops: Vec<Op>, sync: SyncPolicy) {
    let dir = Path::new("/log/p0000");
    let mut fs = MemFs::new();
    let mut log = PartitionLog::open_with(fs.shared(), dir, config(sync))
        .expect("open")
        .0;
    let mut model: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut seq = 0u64;

    for op in ops {
        match op {
            Op::Append { len, timestamp } => {
                seq += 1;
                let frame = frame(seq, len);
                assert_eq!(
                    log.append(timestamp, &frame).expect("append"),
                    model.len() as u64
                );
                model.push((timestamp, frame));
            }
            Op::Batch { lens } => {
                let frames: Vec<(u64, Vec<u8>)> = lens
                    .iter()
                    .map(|&len| {
                        seq += 1;
                        (seq, frame(seq, len))
                    })
                    .collect();
                let batch: Vec<(u64, &[u8])> =
                    frames.iter().map(|(t, f)| (*t, f.as_slice())).collect();
                let range = log.append_batch(&batch).expect("batch");
                assert_eq!(
                    range,
                    model.len() as u64..(model.len() + frames.len()) as u64
                );
                model.extend(frames);
            }
            Op::Sync => assert_eq!(log.sync().expect("sync"), model.len() as u64),
            Op::Rotate => log.rotate().expect("rotate"),
            Op::Crash { seed } => {
                let durable = log.durable_offset() as usize;
                let image = fs.crash_image(Crash::Random(seed));
                drop(log);
                fs = image;
                log = PartitionLog::open_with(fs.shared(), dir, config(sync))
                    .expect("recover")
                    .0;
                let recovered = log.next_offset() as usize;
                assert!(
                    durable <= recovered && recovered <= model.len(),
                    "{durable} <= {recovered} <= {}",
                    model.len()
                );
                model.truncate(recovered);
            }
            Op::Reopen => {
                log.close().expect("close");
                log = PartitionLog::open_with(fs.shared(), dir, config(sync))
                    .expect("reopen")
                    .0;
                assert_eq!(log.next_offset(), model.len() as u64);
            }
            Op::ReadFrom { permille } => {
                check_replay(&log, &model, model.len() as u64 * permille / 1000);
            }
        }
        for segment in log.segments() {
            let alone = segment.next_offset - segment.base_offset == 1;
            assert!(segment.bytes <= 1024 || alone, "{segment:?}");
        }
    }
    check_replay(&log, &model, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_log_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        run(ops, SyncPolicy::Never);
    }

    #[test]
    fn the_log_matches_the_model_with_sync_always(ops in prop::collection::vec(op(), 1..40)) {
        run(ops, SyncPolicy::Always);
    }
}
