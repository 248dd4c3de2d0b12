//! Decoding one frame and reading its fields: Cap'n Proto in place against `serde_json`
//! into borrowed and owned structs, over the same fields; and encoding the Cap'n Proto frame.
//!
//! Every decoder's reading is checked against the values written before anything is timed.
//! Each series is timed in batches and reports the median batch, per operation.

use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::frame::sentiment_capnp::post;
use crate::frame::{FrameEncoder, FrameHeader, FrameRef};

use super::measure::DecodeSeries;
use super::{alloc, BenchError};

/// Batches per series; the median is reported.
const BATCHES: u64 = 11;

/// Iterations of the untimed allocation-counting pass.
const COUNTED: u64 = 1_000;

/// The fields every decoder reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Owned {
    topic: String,
    partition: u32,
    offset: u64,
    key: String,
    publish_time_ns: u64,
    attempt: u32,
    payload: Payload,
}

/// The same fields, borrowing the text from the input.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Borrowed<'a> {
    topic: &'a str,
    partition: u32,
    offset: u64,
    key: &'a str,
    publish_time_ns: u64,
    attempt: u32,
    payload: Payload,
}

/// The payload's one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Payload {
    id: u64,
}

/// What each decoder must read.
fn expected() -> Owned {
    Owned {
        topic: "stream".to_owned(),
        partition: 3,
        offset: 1_234_567,
        key: "bench-01".to_owned(),
        publish_time_ns: 1_700_000_000_000_000_000,
        attempt: 1,
        payload: Payload { id: 42 },
    }
}

/// Times every decoder over `iterations` operations.
///
/// # Errors
///
/// `WrongResult` when a decoder reads something other than what was written.
pub(crate) fn run(iterations: u64) -> Result<Vec<DecodeSeries>, BenchError> {
    let want = expected();
    let mut encoder = FrameEncoder::new();
    let frame = encode(&mut encoder, &want)?;
    let json = serde_json::to_vec(&want).map_err(|e| wrong("serde_json", e.to_string()))?;

    // Check each reading before timing any.
    check("capnp in place", read_capnp(frame.as_bytes()), &want)?;
    check("serde_json borrowed", read_borrowed(&json), &want)?;
    check("serde_json owned", read_owned(&json), &want)?;

    let bytes = frame.as_bytes();
    Ok(vec![
        series("capnp decode + fields (in place)", iterations, || {
            read_capnp(bytes)
        }),
        series("serde_json decode + fields (borrowed)", iterations, || {
            read_borrowed(&json)
        }),
        series("serde_json decode + fields (owned)", iterations, || {
            read_owned(&json)
        }),
        series("capnp encode (FrameEncoder)", iterations, || {
            encode_bytes(&mut encoder, &want).map(|len| (len as u64, 0))
        }),
    ])
}

/// Decodes in place and sums the fields (a checksum the optimiser cannot skip).
fn read_capnp(bytes: &[u8]) -> Result<(u64, u64), String> {
    let frame = FrameRef::decode(bytes).map_err(|e| e.to_string())?;
    let topic = frame.topic().map_err(|e| e.to_string())?;
    let key = frame.key().map_err(|e| e.to_string())?;
    let id = frame
        .payload::<post::Owned>()
        .map_err(|e| e.to_string())?
        .get_id();
    let numbers = u64::from(frame.partition())
        .wrapping_add(frame.offset())
        .wrapping_add(frame.publish_time_ns())
        .wrapping_add(u64::from(frame.attempt()))
        .wrapping_add(id);
    Ok((numbers, (topic.len() + key.len()) as u64))
}

fn read_borrowed(json: &[u8]) -> Result<(u64, u64), String> {
    let f: Borrowed<'_> = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let numbers = sum(
        f.partition,
        f.offset,
        f.publish_time_ns,
        f.attempt,
        f.payload.id,
    );
    Ok((numbers, (f.topic.len() + f.key.len()) as u64))
}

fn read_owned(json: &[u8]) -> Result<(u64, u64), String> {
    let f: Owned = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let numbers = sum(
        f.partition,
        f.offset,
        f.publish_time_ns,
        f.attempt,
        f.payload.id,
    );
    Ok((numbers, (f.topic.len() + f.key.len()) as u64))
}

fn sum(partition: u32, offset: u64, time: u64, attempt: u32, id: u64) -> u64 {
    u64::from(partition)
        .wrapping_add(offset)
        .wrapping_add(time)
        .wrapping_add(u64::from(attempt))
        .wrapping_add(id)
}

/// Checks one decoder's checksum against the expected fields.
fn check(name: &str, read: Result<(u64, u64), String>, want: &Owned) -> Result<(), BenchError> {
    let p = want.payload.id;
    let numbers = sum(
        want.partition,
        want.offset,
        want.publish_time_ns,
        want.attempt,
        p,
    );
    let want = (numbers, (want.topic.len() + want.key.len()) as u64);
    match read {
        Ok(got) if got == want => Ok(()),
        Ok(got) => Err(wrong(name, format!("read {got:?}, expected {want:?}"))),
        Err(e) => Err(wrong(name, e)),
    }
}

fn header(want: &Owned) -> FrameHeader<'_> {
    FrameHeader {
        topic: &want.topic,
        partition: want.partition,
        offset: want.offset,
        key: want.key.as_bytes(),
        publish_time_ns: want.publish_time_ns,
        attempt: want.attempt,
        headers: &[],
    }
}

fn encode(encoder: &mut FrameEncoder, want: &Owned) -> Result<crate::Frame, BenchError> {
    let id = want.payload.id;
    encoder
        .encode_frame(&header(want), |payload| {
            payload.init_as::<post::Builder>().set_id(id);
            Ok(())
        })
        .map_err(|e| wrong("capnp encode", e.to_string()))
}

fn encode_bytes(encoder: &mut FrameEncoder, want: &Owned) -> Result<usize, String> {
    let id = want.payload.id;
    let bytes = encoder.encode(&header(want), |payload| {
        payload.init_as::<post::Builder>().set_id(id);
        Ok(())
    });
    bytes.map(<[u8]>::len).map_err(|e| e.to_string())
}

fn wrong(name: &str, detail: String) -> BenchError {
    BenchError::WrongResult {
        contender: "decode",
        detail: format!("{name}: {detail}"),
    }
}

/// Times `op` in [`BATCHES`] batches and counts its allocations in an untimed pass.
fn series<T>(name: &str, iterations: u64, mut op: impl FnMut() -> T) -> DecodeSeries {
    let per_batch = (iterations / BATCHES).max(1);
    let mut batches: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..per_batch {
                black_box(op());
            }
            started.elapsed().as_nanos() as f64 / per_batch as f64
        })
        .collect();
    batches.sort_by(f64::total_cmp);

    DecodeSeries {
        name: name.to_owned(),
        iterations: per_batch * BATCHES,
        ns_per_op: batches[batches.len() / 2],
        allocations_per_op: count(&mut op),
    }
}

/// Allocations per call of `op`, counted with the probe on.
fn count<T>(op: &mut impl FnMut() -> T) -> Option<f64> {
    alloc::counting(true);
    let before = alloc::count();
    for _ in 0..COUNTED {
        black_box(op());
    }
    let after = alloc::count();
    alloc::counting(false);
    Some(after?.saturating_sub(before?) as f64 / COUNTED as f64)
}
