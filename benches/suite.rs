//! The `agentlane bench` suite under criterion: round trips and streams of agentlane, the
//! floor and the peers, each on two threads the suite pins to two distinct cores.
//!
//! Criterion's own thread stays unpinned (the runtime reads the calling thread's affinity
//! mask when it starts); each measurement spawns its own pinned pair. For the percentile
//! tables, the plot and allocation counts run `agentlane bench` instead.

// NB: criterion's macros generate public functions that cannot carry docs.
#![allow(missing_docs)]

use std::time::Duration;

use agentlane::bench::criterion_support::{round_trips, stream, CONTENDERS};
use agentlane::bench::Pins;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn pins() -> Option<Pins> {
    match Pins::detect() {
        Ok(pins) => Some(pins),
        Err(error) => {
            eprintln!("suite skipped: {error}");
            None
        }
    }
}

fn latency(c: &mut Criterion) {
    let Some(pins) = pins() else { return };
    let mut group = c.benchmark_group("round_trip");
    for &name in CONTENDERS {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| round_trips(pins, name, iters).expect("a clean run"))
        });
    }
    group.finish();
}

fn throughput(c: &mut Criterion) {
    let Some(pins) = pins() else { return };
    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Elements(1));
    for &name in CONTENDERS.iter().filter(|&&name| name != "floor") {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| stream(pins, name, iters).expect("a clean run"))
        });
    }
    group.finish();
}

criterion_group! {
    name = suite;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = latency, throughput
}
criterion_main!(suite);
