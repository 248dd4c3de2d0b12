//! Decoding a frame and reading four fields, against `serde_json` borrowed and owned.
#![allow(missing_docs)] // NB: `criterion_group!` defines an undocumented public function.

use std::borrow::Cow;
use std::hint::black_box;

use agentlane::frame::{FrameEncoder, FrameHeader, FrameRef};
use criterion::{criterion_group, criterion_main, Criterion};
use serde::{Deserialize, Serialize};

/// The same four fields as JSON, borrowing strings where it can.
#[derive(Serialize, Deserialize)]
struct Borrowed<'a> {
    #[serde(borrow)]
    topic: Cow<'a, str>,
    partition: u32,
    offset: u64,
    #[serde(borrow)]
    payload: Cow<'a, str>,
}

/// The same four fields as JSON, owned.
#[derive(Serialize, Deserialize)]
struct Owned {
    topic: String,
    partition: u32,
    offset: u64,
    payload: String,
}

const TOPIC: &str = "sensor.readings";
const PARTITION: u32 = 3;
const OFFSET: u64 = 1_234_567;

/// Reads the four fields of a frame; what a consumer does first.
fn read_frame(bytes: &[u8]) -> (usize, u32, u64, usize) {
    let frame = FrameRef::decode(bytes).unwrap();
    let payload = frame.payload::<capnp::data::Owned>().unwrap();
    (
        frame.topic().unwrap().len(),
        frame.partition(),
        frame.offset(),
        payload.len(),
    )
}

fn decode(c: &mut Criterion) {
    // The inputs: a frame with a 100-byte payload, and the same fields as JSON.
    let payload = "p".repeat(100);
    let mut encoder = FrameEncoder::new();
    let header = FrameHeader {
        topic: TOPIC,
        partition: PARTITION,
        offset: OFFSET,
        ..Default::default()
    };
    let frame = encoder
        .encode_frame(&header, |mut p| {
            p.set_as::<capnp::data::Owned>(payload.as_bytes())
        })
        .unwrap();
    let json = serde_json::to_vec(&Owned {
        topic: TOPIC.into(),
        partition: PARTITION,
        offset: OFFSET,
        payload: payload.clone(),
    })
    .unwrap();

    // Check every reader gets the right answer before timing it.
    let expected = (TOPIC.len(), PARTITION, OFFSET, 100);
    assert_eq!(read_frame(frame.as_bytes()), expected);
    let borrowed: Borrowed<'_> = serde_json::from_slice(&json).unwrap();
    assert!(matches!(borrowed.topic, Cow::Borrowed(_)));
    assert_eq!(
        (
            borrowed.topic.len(),
            borrowed.partition,
            borrowed.offset,
            borrowed.payload.len()
        ),
        expected
    );
    let owned: Owned = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        (
            owned.topic.len(),
            owned.partition,
            owned.offset,
            owned.payload.len()
        ),
        expected
    );

    let mut group = c.benchmark_group("decode_four_fields_100b");
    group.bench_function("capnp_frame", |b| {
        b.iter(|| read_frame(black_box(frame.as_bytes())))
    });
    group.bench_function("serde_json_borrowed", |b| {
        b.iter(|| {
            let v: Borrowed<'_> = serde_json::from_slice(black_box(&json)).unwrap();
            (v.topic.len(), v.partition, v.offset, v.payload.len())
        })
    });
    group.bench_function("serde_json_owned", |b| {
        b.iter(|| {
            let v: Owned = serde_json::from_slice(black_box(&json)).unwrap();
            (v.topic.len(), v.partition, v.offset, v.payload.len())
        })
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let payload = [7u8; 100];
    let mut encoder = FrameEncoder::new();
    let header = FrameHeader {
        topic: TOPIC,
        partition: PARTITION,
        offset: OFFSET,
        ..Default::default()
    };
    let bytes = encoder
        .encode(&header, |mut p| {
            p.set_as::<capnp::data::Owned>(&payload[..])
        })
        .unwrap();
    assert_eq!(read_frame(bytes), (TOPIC.len(), PARTITION, OFFSET, 100));

    c.bench_function("encode_100b", |b| {
        b.iter(|| {
            let bytes = encoder.encode(black_box(&header), |mut p| {
                p.set_as::<capnp::data::Owned>(&payload[..])
            });
            bytes.map(<[u8]>::len).unwrap()
        })
    });
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
