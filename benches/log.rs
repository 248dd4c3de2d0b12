//! Benchmarks of the log, each beside its raw peer: append throughput (`Never`) against a
//! `write()` loop of the same bytes, durable append latency (group commit and `Always`)
//! against a `write()` + `fdatasync` loop, and replay throughput against a sequential read.
//! Every bench checks its result before timing.
#![allow(missing_docs)] // NB: `criterion_group!` defines an undocumented public function.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use agentlane::log::{record_size, LogConfig, PartitionLog, SyncPolicy};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hdrhistogram::Histogram;

const FRAME: usize = 256;
const BATCH: u64 = 1000;

fn frame(i: u64) -> Vec<u8> {
    (0..FRAME).map(|j| (i as usize + j) as u8).collect()
}

fn open(dir: &Path, sync: SyncPolicy) -> PartitionLog {
    let config = LogConfig::default().sync(sync).segment_bytes(1 << 30);
    PartitionLog::open(dir, config).expect("open").0
}

/// The log reads back what it was given.
fn check(dir: &Path) {
    let mut log = open(dir, SyncPolicy::Never);
    for i in 0..100 {
        log.append(i, &frame(i)).expect("append");
    }
    let mut reader = log.reader_from(0).expect("reader");
    for i in 0..100 {
        let record = reader.next().expect("record").expect("valid");
        assert_eq!((record.offset, record.frame), (i, frame(i).as_slice()));
    }
}

fn append_throughput(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    check(&dir.path().join("check"));
    let bytes = BATCH * record_size(FRAME) as u64;
    let mut group = c.benchmark_group("append_never");
    group.throughput(Throughput::Bytes(bytes));

    // The log: 1000 appends per iteration. Every 32 MiB, outside the timing, a roll (which
    // syncs the sealed segment) and a purge keep the disk use small.
    let data = frame(7);
    group.bench_function("log_append", |b| {
        let mut log = open(&dir.path().join("log"), SyncPolicy::Never);
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for i in 0..BATCH {
                    log.append(i, &data).expect("append");
                }
                spent += start.elapsed();
                if log.next_offset() % (128 * BATCH) == 0 {
                    log.rotate().expect("rotate");
                    let next = log.next_offset();
                    log.purge_to(next).expect("purge");
                }
            }
            spent
        });
    });

    // The peer: one write() per record of the same bytes to one file.
    group.bench_function("raw_write", |b| {
        let path = dir.path().join("raw");
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("raw");
        let record = vec![7u8; record_size(FRAME)];
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for _ in 0..BATCH {
                    file.write_all(&record).expect("write");
                }
                spent += start.elapsed();
                if file.metadata().expect("len").len() > 32 << 20 {
                    file.set_len(0).expect("reset");
                }
            }
            spent
        });
    });
    group.finish();
}

/// Latency of durable appends, printed as p50/p99 (criterion times the batch).
fn durable_latency(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = frame(1);
    let mut group = c.benchmark_group("durable_append");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(2));
    // The peer first: write + fdatasync per record.
    let mut file = File::create(dir.path().join("raw")).expect("raw");
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    let record = vec![1u8; record_size(FRAME)];
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_write_fdatasync", |b| {
        b.iter(|| {
            let t = Instant::now();
            file.write_all(&record).expect("write");
            file.sync_data().expect("fdatasync");
            histogram
                .record(t.elapsed().as_nanos() as u64)
                .expect("record");
        });
    });
    report("raw write+fdatasync", &histogram);

    for batch in [1u64, 16] {
        let mut log = open(&dir.path().join(format!("log{batch}")), SyncPolicy::Never);
        let mut histogram = Histogram::<u64>::new(3).expect("histogram");
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(
            BenchmarkId::new("group_commit", batch),
            &batch,
            |b, &batch| {
                b.iter(|| {
                    let started: Vec<Instant> = (0..batch)
                        .map(|i| {
                            let t = Instant::now();
                            log.append(i, &data).expect("append");
                            t
                        })
                        .collect();
                    assert_eq!(log.sync().expect("sync"), log.next_offset());
                    for t in started {
                        histogram
                            .record(t.elapsed().as_nanos() as u64)
                            .expect("record");
                    }
                });
            },
        );
        report(&format!("log group commit of {batch}"), &histogram);
    }

    group.finish();
}

fn report(what: &str, h: &Histogram<u64>) {
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    eprintln!(
        "{what}: p50 {:.1} us, p99 {:.1} us over {} records",
        us(0.5),
        us(0.99),
        h.len()
    );
}

fn replay_throughput(c: &mut Criterion) {
    const RECORDS: u64 = 100_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log");
    let mut log = open(&path, SyncPolicy::Never);
    for i in 0..RECORDS {
        log.append(i, &frame(i)).expect("append");
    }
    log.close().expect("close");
    let (log, _) = PartitionLog::open(&path, LogConfig::default()).expect("reopen");

    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Bytes(RECORDS * record_size(FRAME) as u64));
    group.bench_function("log_reader", |b| {
        b.iter(|| {
            let mut reader = log.reader_from(0).expect("reader");
            let (mut count, mut sum) = (0u64, 0u64);
            while let Some(record) = reader.next() {
                let record = record.expect("valid");
                sum += u64::from(record.frame[0]);
                count += 1;
            }
            assert_eq!(count, RECORDS);
            sum
        });
    });

    // The peer: read the segment files sequentially, 1 MiB at a time, touching each byte
    // once per record's worth.
    let files: Vec<_> = log.segments().into_iter().map(|s| s.path).collect();
    group.bench_function("raw_read", |b| {
        let mut buf = vec![0u8; 1 << 20];
        b.iter(|| {
            let mut total = 0u64;
            for path in &files {
                let mut file = File::open(path).expect("open");
                loop {
                    let n = file.read(&mut buf).expect("read");
                    if n == 0 {
                        break;
                    }
                    total += n as u64;
                }
            }
            assert!(total >= RECORDS * record_size(FRAME) as u64);
            total
        });
    });
    group.finish();
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = short();
    targets = append_throughput, durable_latency, replay_throughput
}
criterion_main!(benches);
