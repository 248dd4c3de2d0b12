//! Counts heap allocations of decoding, reading and encoding frames.
//!
//! A counting global allocator counts per thread, so tests running in parallel do not
//! disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use agentlane::frame::sentiment_capnp::post;
use agentlane::frame::{Frame, FrameEncoder, FrameHeader, FrameRef, SPAN_FRAMES};

/// The system allocator, counting allocations made by the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only a
// const-initialised thread-local, which itself never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations the current thread makes while running `f`.
fn allocations<R>(f: impl FnOnce() -> R) -> (u64, R) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    (ALLOCATIONS.with(Cell::get) - before, result)
}

const HEADERS: [(&str, &[u8]); 1] = [("trace", b"abc")];

fn header(offset: u64) -> FrameHeader<'static> {
    FrameHeader {
        topic: "posts",
        offset,
        key: b"user-7",
        headers: &HEADERS,
        ..Default::default()
    }
}

fn encode_post(encoder: &mut FrameEncoder, offset: u64) -> usize {
    let bytes = encoder.encode(&header(offset), |payload| {
        let mut post = payload.init_as::<post::Builder<'_>>();
        post.set_id(offset);
        post.set_text("a post of a hundred bytes or so, about nothing in particular at all");
        Ok(())
    });
    bytes.map(<[u8]>::len).unwrap()
}

/// Reads every field of a frame; returns something that depends on all of them.
fn read_fields(frame: &FrameRef<'_>) -> u64 {
    let topic = frame.topic().unwrap().len() as u64;
    let key = frame.key().unwrap().len() as u64;
    let trace = frame.header("trace").unwrap().len() as u64;
    let post = frame.payload::<post::Owned>().unwrap();
    let text = post.get_text().unwrap().to_str().unwrap().len() as u64;
    topic + key + trace + text + frame.offset() + u64::from(frame.partition()) + post.get_id()
}

#[test]
fn decode_and_read_allocate_nothing() {
    let mut encoder = FrameEncoder::new();
    encode_post(&mut encoder, 7);
    let frame = encoder
        .encode_frame(&header(7), |payload| {
            let mut post = payload.init_as::<post::Builder<'_>>();
            post.set_id(7);
            post.set_text("text");
            Ok(())
        })
        .unwrap();

    let (decoded, sum) = allocations(|| read_fields(&FrameRef::decode(frame.as_bytes()).unwrap()));
    let (viewed, again) = allocations(|| read_fields(&frame.reader()));

    assert_eq!((decoded, viewed), (0, 0));
    assert_eq!((sum, again), (5 + 6 + 3 + 4 + 7 + 7, sum));
}

#[test]
fn malformed_claims_allocate_nothing() {
    // Huge claimed segment counts and sizes must not size any allocation.
    let claims: [[u64; 2]; 3] = [
        [0x7fff_ffff, 0],
        [0xffff_ffff << 32, 0],
        [1 | (u64::MAX << 32), 0],
    ];
    for claim in claims {
        let bytes: Vec<u8> = claim.iter().flat_map(|w| w.to_le_bytes()).collect();
        let frame = aligned(&bytes);

        let (decoding, rejected) = allocations(|| FrameRef::decode(frame.bytes()).is_err());
        let (copying, refused) = allocations(|| Frame::from_bytes(&bytes).is_err());

        assert!(rejected && refused, "claim {claim:x?}");
        assert_eq!(decoding, 0, "claim {claim:x?}");
        // `Frame::from_bytes` copies the 16 input bytes, once; nothing sized by the claim.
        assert_eq!(copying, 1, "claim {claim:x?}");
    }
}

/// A copy of `bytes` starting on an 8-byte boundary, made without `unsafe`.
struct Aligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}

fn aligned(bytes: &[u8]) -> Aligned {
    let mut buf = vec![0u8; bytes.len() + 8];
    let start = buf.as_ptr().align_offset(8);
    buf[start..start + bytes.len()].copy_from_slice(bytes);
    Aligned {
        buf,
        start,
        len: bytes.len(),
    }
}

#[test]
fn encode_after_warm_up_allocates_nothing_until_the_scratch_wraps() {
    let mut encoder = FrameEncoder::new();
    let (first, _) = allocations(|| encode_post(&mut encoder, 0));
    assert!(first > 0, "the first frame makes the scratch buffer");

    // A hundred small frames fit in the scratch buffer: no allocation at all.
    let (warm, _) = allocations(|| {
        (1..=100)
            .map(|i| encode_post(&mut encoder, i))
            .sum::<usize>()
    });
    assert_eq!(warm, 0);

    // Over a long run each scratch restart costs exactly one allocation (capnp's segment
    // list), at most once per SPAN_FRAMES - 1 maximal frames.
    let mut restarts = 0;
    for i in 0..10_000 {
        let (count, _) = allocations(|| encode_post(&mut encoder, i));
        assert!(count <= 1, "frame {i} allocated {count} times");
        restarts += count;
    }
    assert!(restarts <= 10_000 / (SPAN_FRAMES as u64 - 1));
    eprintln!(
        "10000 frames of ~{} bytes: {restarts} allocations",
        encode_post(&mut encoder, 0)
    );
}
