//! Case C7: malformed frames give errors, never panics; plus encode/decode/patch round trips.

use agentlane::frame::sentiment_capnp::post;
use agentlane::frame::{
    patch, Frame, FrameEncoder, FrameError, FrameHeader, FrameRef, MAX_SEGMENTS,
};
use proptest::prelude::*;

/// A byte buffer whose `bytes()` start on an 8-byte boundary (plus `shift`), built safely.
struct Aligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new(bytes: &[u8]) -> Aligned {
        Aligned::shifted(bytes, 0)
    }

    /// `bytes` copied to an address `shift` bytes past an 8-byte boundary.
    fn shifted(bytes: &[u8], shift: usize) -> Aligned {
        let mut buf = vec![0u8; bytes.len() + 16];
        let start = buf.as_ptr().align_offset(8) + shift;
        buf[start..start + bytes.len()].copy_from_slice(bytes);
        Aligned {
            buf,
            start,
            len: bytes.len(),
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}

/// Little-endian words as bytes.
fn words(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// A valid frame with headers and a `Post` payload.
fn sample(offset: u64) -> Vec<u8> {
    let mut encoder = FrameEncoder::new();
    let headers = [("trace", &b"abc"[..]), ("source", &b"test"[..])];
    let header = FrameHeader {
        topic: "posts",
        partition: 3,
        offset,
        key: b"user-7",
        publish_time_ns: 1_700_000_000_000_000_000,
        attempt: 1,
        headers: &headers,
    };
    let bytes = encoder.encode(&header, |payload| {
        let mut post = payload.init_as::<post::Builder<'_>>();
        post.set_id(offset);
        post.set_rating(2.5);
        post.set_text("a perfectly ordinary post");
        Ok(())
    });
    bytes.unwrap().to_vec()
}

/// Reads every field of a decoded frame, to show reading never panics either.
fn read_all(frame: &FrameRef<'_>) {
    let _ = (
        frame.topic(),
        frame.key(),
        frame.partition(),
        frame.offset(),
    );
    let _ = (
        frame.publish_time_ns(),
        frame.attempt(),
        frame.header("trace"),
    );
    if let Ok(post) = frame.payload::<post::Owned>() {
        let _ = (
            post.get_id(),
            post.get_rating(),
            post.get_text().map(|t| t.to_str().is_ok()),
        );
    }
}

/// Feeds `bytes` to every decoder and patcher; returns whether `FrameRef::decode` accepted it.
fn feed(bytes: &[u8]) -> bool {
    if let Ok((frame, consumed)) = FrameRef::decode_prefix(bytes) {
        assert!(consumed <= bytes.len() && consumed % 8 == 0);
        read_all(&frame);
    }
    if let Ok(frame) = Frame::from_bytes(bytes) {
        read_all(&frame.reader());
    }
    let mut copy = bytes.to_vec();
    let _ = patch::set_partition(&mut copy, 9);
    let _ = patch::set_offset(&mut copy, 9);
    let _ = patch::set_attempt(&mut copy, 9);
    let _ = patch::set_publish_time_ns(&mut copy, 9);

    FrameRef::decode(bytes)
        .map(|frame| read_all(&frame))
        .is_ok()
}

#[test]
fn empty_slice_is_empty() {
    assert!(matches!(FrameRef::decode(&[]), Err(FrameError::Empty)));
    assert!(matches!(
        FrameRef::decode_prefix(&[]),
        Err(FrameError::Empty)
    ));
    assert!(matches!(Frame::from_bytes(&[]), Err(FrameError::Empty)));
    assert!(matches!(
        patch::set_offset(&mut [], 1),
        Err(FrameError::Empty)
    ));
}

#[test]
fn three_bytes_are_truncated() {
    let buf = Aligned::new(&[0, 0, 0]);

    let err = FrameRef::decode(buf.bytes()).unwrap_err();

    assert!(
        matches!(err, FrameError::Truncated { available: 3, .. }),
        "{err}"
    );
}

#[test]
fn two_to_the_31_segments_are_refused_before_reading_sizes() {
    let buf = Aligned::new(&words(&[0x7fff_ffff, 0]));

    let err = FrameRef::decode(buf.bytes()).unwrap_err();

    assert!(
        matches!(
            err,
            FrameError::TooManySegments {
                count: 0x8000_0000,
                max: MAX_SEGMENTS
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "frame claims 2147483648 segments, at most 64 allowed"
    );
}

#[test]
fn most_segments_claimable_is_refused() {
    let buf = Aligned::new(&words(&[0xffff_ffff, 0]));

    let err = FrameRef::decode(buf.bytes()).unwrap_err();

    assert!(
        matches!(
            err,
            FrameError::TooManySegments {
                count: 0x1_0000_0000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn segment_sizes_past_the_buffer_are_truncated() {
    // One segment of 2^32 - 1 words, then two of them, in a 16- and 24-byte buffer.
    let one = Aligned::new(&words(&[0xffff_ffff << 32, 0]));
    let two = Aligned::new(&words(&[1 | (0xffff_ffff << 32), 0xffff_ffff, 0]));

    let one_err = FrameRef::decode(one.bytes()).unwrap_err();
    let two_err = FrameRef::decode(two.bytes()).unwrap_err();

    let needed = 8 + 0xffff_ffff * 8;
    assert!(matches!(one_err, FrameError::Truncated { needed: n, available: 16 } if n == needed));
    assert!(
        matches!(two_err, FrameError::Truncated { available: 24, .. }),
        "{two_err}"
    );
}

#[test]
fn every_cut_of_a_valid_frame_is_an_error() {
    let frame = sample(5);
    let buf = Aligned::new(&frame);

    for len in 0..frame.len() {
        let cut = &buf.bytes()[..len];
        let err = FrameRef::decode(cut).unwrap_err();
        let expected = if len == 0 {
            matches!(err, FrameError::Empty)
        } else {
            matches!(err, FrameError::Truncated { available, .. } if available == len)
        };
        assert!(expected, "cut at {len}: {err}");
        assert!(FrameRef::decode_prefix(cut).is_err(), "cut at {len}");
        assert!(Frame::from_bytes(cut).is_err(), "cut at {len}");
    }
    assert!(FrameRef::decode(buf.bytes()).is_ok());
}

#[test]
fn frame_followed_by_start_of_next() {
    let (first, second) = (sample(1), sample(2));

    for extra in [1, 7, 8, 20, second.len() - 1] {
        let mut joined = first.clone();
        joined.extend_from_slice(&second[..extra]);
        let buf = Aligned::new(&joined);

        let (frame, consumed) = FrameRef::decode_prefix(buf.bytes()).unwrap();
        assert_eq!((consumed, frame.offset()), (first.len(), 1));
        assert_eq!(frame.as_bytes(), &first[..]);

        let err = FrameRef::decode(buf.bytes()).unwrap_err();
        let trailing_ok = matches!(
            err,
            FrameError::TrailingBytes { frame_len, trailing }
                if frame_len == first.len() && trailing == extra
        );
        assert!(trailing_ok, "{err}");
        assert!(FrameRef::decode_prefix(&buf.bytes()[consumed..]).is_err());
    }
}

#[test]
fn back_to_back_frames_walk() {
    let frames: Vec<Vec<u8>> = (0..4).map(sample).collect();
    let buf = Aligned::new(&frames.concat());

    let mut rest = buf.bytes();
    let mut offsets = Vec::new();
    while !rest.is_empty() {
        let (frame, consumed) = FrameRef::decode_prefix(rest).unwrap();
        offsets.push(frame.offset());
        rest = &rest[consumed..];
    }

    assert_eq!(offsets, [0, 1, 2, 3]);
}

#[test]
fn odd_address_is_misaligned_but_copies() {
    let frame = sample(11);

    for shift in 1..8 {
        let buf = Aligned::shifted(&frame, shift);

        let err = FrameRef::decode(buf.bytes()).unwrap_err();
        assert!(matches!(err, FrameError::Misaligned { misalignment } if misalignment == shift));

        let owned = Frame::from_bytes(buf.bytes()).unwrap();
        assert_eq!(
            (owned.reader().offset(), owned.reader().topic().unwrap()),
            (11, "posts")
        );
    }
}

#[test]
fn patch_refuses_fields_outside_the_data_section() {
    // A Post as root: two data words (16 bytes), so publishTimeNs (bytes 16..24) is outside.
    let mut message = capnp::message::Builder::new_default();
    message.init_root::<post::Builder<'_>>().set_id(1);
    let mut bytes = capnp::serialize::write_message_to_words(&message);

    assert!(patch::set_offset(&mut bytes, 7).is_ok());
    let err = patch::set_publish_time_ns(&mut bytes, 7).unwrap_err();

    let outside = matches!(
        err,
        FrameError::FieldOutsideData {
            field: "publishTimeNs",
            data_bytes: 16
        }
    );
    assert!(outside, "{err}");
}

#[test]
fn multi_segment_frames_decode_but_do_not_patch() {
    // A tiny first segment forces capnp to spill the envelope into more segments.
    let allocator = capnp::message::HeapAllocator::new().first_segment_words(1);
    let mut message = capnp::message::Builder::new(allocator);
    let mut envelope =
        message.init_root::<agentlane::frame::envelope_capnp::envelope::Builder<'_>>();
    envelope.set_topic("spilled");
    envelope.set_offset(77);
    let bytes = capnp::serialize::write_message_to_words(&message);
    let buf = Aligned::new(&bytes);

    let frame = FrameRef::decode(buf.bytes()).unwrap();
    assert_eq!((frame.topic().unwrap(), frame.offset()), ("spilled", 77));

    let err = patch::set_offset(&mut bytes.clone(), 1).unwrap_err();
    assert!(
        matches!(err, FrameError::NotSingleSegment { segments } if segments > 1),
        "{err}"
    );
}

#[test]
fn root_that_is_not_a_struct_fails_to_decode() {
    // Root pointer is a list pointer (kind 1).
    let buf = Aligned::new(&words(&[1 << 32, 1]));

    assert!(matches!(
        FrameRef::decode(buf.bytes()),
        Err(FrameError::Decode(_))
    ));
    assert!(matches!(
        patch::set_offset(&mut words(&[1 << 32, 1]), 1),
        Err(FrameError::BadRoot)
    ));
}

#[test]
fn too_large_frames_are_refused_and_the_encoder_recovers() {
    let mut encoder = FrameEncoder::with_max_size(256);
    let big = vec![7u8; 300];
    let header = FrameHeader {
        topic: "t",
        ..Default::default()
    };

    let by_header = FrameHeader {
        key: &big,
        ..header
    };
    let err = encoder.encode(&by_header, |_| Ok(())).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::TooLarge {
                size: 301,
                max: 256
            }
        ),
        "{err}"
    );

    let err = encoder
        .encode(&header, |mut p| p.set_as::<capnp::data::Owned>(&big[..]))
        .unwrap_err();
    assert!(
        matches!(err, FrameError::TooLarge { max: 256, .. }),
        "{err}"
    );

    let err = encoder
        .encode(&header, |_| Err(capnp::Error::failed("no".into())))
        .unwrap_err();
    assert!(matches!(err, FrameError::Encode(_)), "{err}");

    let bytes = encoder
        .encode(&header, |mut p| p.set_as::<capnp::data::Owned>(&big[..100]))
        .unwrap();
    assert!(bytes.len() <= 256);
    let frame = FrameRef::decode(bytes).unwrap();
    assert_eq!(frame.payload::<capnp::data::Owned>().unwrap(), &big[..100]);
}

#[test]
fn one_encoder_many_frames_of_varied_sizes() {
    // Crosses many scratch restarts; every frame must decode to what was written.
    let mut encoder = FrameEncoder::new();
    let text = "x".repeat(3000);

    for i in 0..5_000u64 {
        let len = (i * 37 % 3000) as usize;
        let header = FrameHeader {
            topic: "varied",
            offset: i,
            key: &i.to_le_bytes(),
            ..Default::default()
        };
        let bytes = encoder
            .encode(&header, |mut p| p.set_as(&text[..len]))
            .unwrap();

        let frame = FrameRef::decode(bytes).unwrap();
        assert_eq!(
            (frame.offset(), frame.key().unwrap()),
            (i, &i.to_le_bytes()[..])
        );
        assert_eq!(
            frame
                .payload::<capnp::text::Owned>()
                .unwrap()
                .to_str()
                .unwrap()
                .len(),
            len
        );
    }
}

#[test]
fn frame_clones_share_until_patched() {
    let mut frame = Frame::from_bytes(&sample(1)).unwrap();
    let clone = frame.clone();

    frame.set_offset(99).unwrap();
    frame.set_attempt(4).unwrap();

    assert_eq!((frame.reader().offset(), frame.reader().attempt()), (99, 4));
    assert_eq!((clone.reader().offset(), clone.reader().attempt()), (1, 1));
    let reread = Frame::from_bytes(frame.as_bytes()).unwrap();
    assert_eq!(
        (reread.reader().offset(), reread.reader().attempt()),
        (99, 4)
    );
    assert_eq!(reread, frame);
}

/// Arbitrary header names and values.
fn headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec(
        ("[a-z]{0,8}", prop::collection::vec(any::<u8>(), 0..16)),
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_buffers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let buf = Aligned::new(&bytes);
        feed(buf.bytes());
        feed(Aligned::shifted(&bytes, 3).bytes());
    }

    #[test]
    fn random_segment_tables_never_panic(
        count in 0u32..4,
        sizes in prop::collection::vec(any::<u32>(), 4),
        body in prop::collection::vec(any::<u64>(), 0..64),
    ) {
        let mut table = vec![u64::from(count) | (u64::from(sizes[0] % 64) << 32)];
        table.push(u64::from(sizes[1] % 64) | (u64::from(sizes[2] % 64) << 32));
        table.extend(body);
        feed(Aligned::new(&words(&table)).bytes());
    }

    #[test]
    fn bit_flipped_frames_never_panic(flips in prop::collection::vec(any::<prop::sample::Index>(), 1..4)) {
        let mut bytes = sample(3);
        for flip in flips {
            let bit = flip.index(bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
        feed(Aligned::new(&bytes).bytes());
    }

    #[test]
    fn encode_then_decode_gives_the_same_fields(
        topic in "\\PC{0,24}",
        key in prop::collection::vec(any::<u8>(), 0..32),
        (partition, offset, time, attempt) in (any::<u32>(), any::<u64>(), any::<u64>(), any::<u32>()),
        headers in headers(),
        (id, rating, text) in (any::<u64>(), any::<f64>(), "\\PC{0,64}"),
    ) {
        let pairs: Vec<(&str, &[u8])> =
            headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        let header = FrameHeader {
            topic: &topic, partition, offset, key: &key, publish_time_ns: time, attempt,
            headers: &pairs,
        };
        let mut encoder = FrameEncoder::new();
        let frame = encoder.encode_frame(&header, |payload| {
            let mut post = payload.init_as::<post::Builder<'_>>();
            post.set_id(id);
            post.set_rating(rating);
            post.set_text(text.as_str());
            Ok(())
        }).unwrap();

        let read = frame.reader();
        prop_assert_eq!(read.topic().unwrap(), topic.as_str());
        prop_assert_eq!(read.key().unwrap(), &key[..]);
        prop_assert_eq!((read.partition(), read.offset()), (partition, offset));
        prop_assert_eq!((read.publish_time_ns(), read.attempt()), (time, attempt));
        prop_assert_eq!(frame.key_hash(), agentlane::frame::key_hash(&key));
        for (name, _) in &headers {
            let first = headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice());
            prop_assert_eq!(read.header(name), first);
        }
        prop_assert_eq!(read.header("no-such-header"), None);
        let post = read.payload::<post::Owned>().unwrap();
        prop_assert_eq!(post.get_id(), id);
        prop_assert_eq!(post.get_rating().to_bits(), rating.to_bits());
        prop_assert_eq!(post.get_text().unwrap().to_str().unwrap(), text.as_str());
    }

    #[test]
    fn patch_then_read_gives_patched_values(
        (partition, offset, time, attempt) in (any::<u32>(), any::<u64>(), any::<u64>(), any::<u32>()),
    ) {
        let mut bytes = sample(8);

        patch::set_partition(&mut bytes, partition).unwrap();
        patch::set_offset(&mut bytes, offset).unwrap();
        patch::set_publish_time_ns(&mut bytes, time).unwrap();
        patch::set_attempt(&mut bytes, attempt).unwrap();

        let buf = Aligned::new(&bytes);
        let read = FrameRef::decode(buf.bytes()).unwrap();
        prop_assert_eq!((read.partition(), read.offset()), (partition, offset));
        prop_assert_eq!((read.publish_time_ns(), read.attempt()), (time, attempt));
        prop_assert_eq!(read.topic().unwrap(), "posts");
        prop_assert_eq!(read.payload::<post::Owned>().unwrap().get_id(), 8);
    }
}

#[test]
fn encoder_output_equals_capnp_serialization() {
    // The compacting copy must give exactly what capnp's own writer gives for a fresh
    // message, so any Cap'n Proto reader (C++, Python, Go) reads frames as they are.
    let mut encoder = FrameEncoder::new();
    let headers = [("h", &b"v"[..])];
    let header = FrameHeader {
        topic: "t",
        offset: 3,
        key: b"k",
        headers: &headers,
        ..Default::default()
    };
    for round in 0..3 {
        let ours = encoder
            .encode(&header, |mut p| p.set_as("payload"))
            .unwrap()
            .to_vec();

        let mut message = capnp::message::Builder::new_default();
        let mut envelope =
            message.init_root::<agentlane::frame::envelope_capnp::envelope::Builder<'_>>();
        envelope.set_topic("t");
        envelope.set_offset(3);
        envelope.set_key(b"k");
        let mut list = envelope.reborrow().init_headers(1);
        list.reborrow().get(0).set_name("h");
        list.reborrow().get(0).set_value(b"v");
        envelope.init_payload().set_as("payload").unwrap();

        assert_eq!(
            ours,
            capnp::serialize::write_message_to_words(&message),
            "round {round}"
        );
    }
}
