//! The three agents of the sentiment pipeline: a reader that streams posts, scorers that
//! rate them with VADER, and an aggregator that checks them against the human ratings.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::demo::sentiment::posts::Post;
use crate::demo::sentiment::vader::Vader;
use crate::frame::sentiment_capnp::{post, score};
use crate::runtime::{Agent, Context, Delivery, EmitError, Outcome, Work};
use crate::topic::TopicId;

/// The message of an injected panic (the demo keeps these out of its output).
pub(crate) const INJECTED_PANIC: &str = "injected fault: scorer panic";

/// Posts the reader publishes per poll before it lets its thread look at other work.
const READ_BATCH: usize = 64;

/// Streams the posts into the posts topic, `repeat` times over, keyed by sequence number.
#[derive(Debug)]
pub(crate) struct Reader {
    pub(crate) posts: Arc<Vec<Post>>,
    pub(crate) repeat: usize,
    pub(crate) topic: TopicId,
    /// The next sequence number to publish; shared so a rebuilt reader resumes.
    pub(crate) next: Arc<AtomicU64>,
    /// Fraction of posts sent as malformed frames (fault injection).
    pub(crate) inject_malformed: f64,
    /// Post ids sent malformed, for the report.
    pub(crate) malformed: Arc<Mutex<Vec<u64>>>,
}

/// Salts that make the malformed and the panicking posts different ones.
const MALFORMED_SALT: u64 = 0x6d61_6c66_6f72_6d64;
const PANIC_SALT: u64 = 0x7061_6e69_6373_2121;

/// Whether sequence number `seq` is among the `rate` fraction picked with `salt`: the same
/// posts in every run, so a faulty run can be compared with a clean one.
pub(crate) fn picked(seq: u64, salt: u64, rate: f64) -> bool {
    // splitmix64 of the salted sequence, as a uniform fraction in [0, 1).
    let mut z = (seq ^ salt).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    ((z >> 11) as f64 / (1u64 << 53) as f64) < rate
}

impl Agent for Reader {
    fn on_frame(&mut self, _frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        Outcome::Ack
    }

    fn on_poll(&mut self, ctx: &mut Context<'_>) -> Work {
        let total = (self.posts.len() * self.repeat) as u64;
        for _ in 0..READ_BATCH {
            let seq = self.next.load(Ordering::Relaxed);
            if seq >= total {
                return Work::Finished;
            }
            let post = &self.posts[(seq % self.posts.len() as u64) as usize];
            let key = seq.to_le_bytes();
            let published = if picked(seq, MALFORMED_SALT, self.inject_malformed) {
                self.publish_malformed(ctx, &key, post.id)
            } else {
                ctx.publish(self.topic, &key, |payload| {
                    let mut p = payload.init_as::<post::Builder>();
                    p.set_id(post.id);
                    p.set_rating(post.rating);
                    p.set_text(post.text.as_str());
                    Ok(())
                })
            };
            match published {
                Ok(_) => self.next.store(seq + 1, Ordering::Relaxed),
                // A full lane: try the same post again on the next poll.
                Err(EmitError::Publish { .. }) => return Work::Busy,
                Err(error) => {
                    tracing::error!(seq, %error, "post cannot be encoded; skipping it");
                    self.next.store(seq + 1, Ordering::Relaxed);
                }
            }
        }
        Work::Busy
    }
}

/// Streams recorded post frames (from a log) into the posts topic, as they were.
#[derive(Debug)]
pub(crate) struct Replayer {
    pub(crate) frames: Arc<Vec<Vec<u8>>>,
    pub(crate) topic: TopicId,
    pub(crate) next: Arc<AtomicU64>,
}

impl Agent for Replayer {
    fn on_frame(&mut self, _frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        Outcome::Ack
    }

    fn on_poll(&mut self, ctx: &mut Context<'_>) -> Work {
        for _ in 0..READ_BATCH {
            let i = self.next.load(Ordering::Relaxed) as usize;
            let Some(bytes) = self.frames.get(i) else {
                return Work::Finished;
            };
            let key = crate::frame::FrameRef::decode(bytes)
                .ok()
                .and_then(|f| f.key().ok().map(<[u8]>::to_vec));
            match ctx.publish_bytes(self.topic, key.as_deref().unwrap_or_default(), bytes) {
                Ok(_) => self.next.store(i as u64 + 1, Ordering::Relaxed),
                Err(_) => return Work::Busy,
            }
        }
        Work::Busy
    }
}

impl Reader {
    /// Publishes garbage where a frame should be: a segment table claiming four billion
    /// segments, as a corrupted buffer would.
    fn publish_malformed(
        &mut self,
        ctx: &mut Context<'_>,
        key: &[u8],
        id: u64,
    ) -> Result<u64, EmitError> {
        let mut bytes = [0u8; 64];
        bytes[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let published = ctx.publish_bytes(self.topic, key, &bytes);
        if published.is_ok() {
            self.malformed.lock().push(id);
        }
        published
    }
}

/// Scores each post with VADER and publishes the score, keyed like the post.
#[derive(Debug)]
pub(crate) struct Scorer {
    pub(crate) vader: Arc<Vader>,
    pub(crate) scores: TopicId,
    /// Fraction of posts whose first delivery panics the scorer (fault injection).
    pub(crate) inject_panics: f64,
}

impl Agent for Scorer {
    fn on_frame(&mut self, frame: &Delivery<'_>, ctx: &mut Context<'_>) -> Outcome {
        // Injected faults hit a post's first delivery only, so the retry succeeds.
        if frame.attempt() == 1 {
            let seq = frame
                .key()
                .ok()
                .and_then(|k| k.try_into().ok())
                .map(u64::from_le_bytes);
            if seq.is_some_and(|seq| picked(seq, PANIC_SALT, self.inject_panics)) {
                panic!("{INJECTED_PANIC}");
            }
        }

        // Read the post in place.
        let (Ok(key), Ok(post)) = (frame.key(), frame.payload::<post::Owned>()) else {
            return Outcome::reject("payload is not a Post");
        };
        let Ok(text) = post
            .get_text()
            .map_err(drop)
            .and_then(|t| t.to_str().map_err(drop))
        else {
            return Outcome::reject("post text is not UTF-8");
        };
        let polarity = self.vader.polarity(text);

        // Publish the score; a full lane means try this post again shortly.
        let posted_ns = frame.frame().publish_time_ns();
        let published = ctx.publish(self.scores, key, |payload| {
            let mut s = payload.init_as::<score::Builder>();
            s.set_id(post.get_id());
            s.set_rating(post.get_rating());
            s.set_compound(polarity.compound);
            s.set_neg(polarity.neg);
            s.set_neu(polarity.neu);
            s.set_pos(polarity.pos);
            s.set_posted_ns(posted_ns);
            Ok(())
        });
        match published {
            Ok(_) => Outcome::Ack,
            Err(EmitError::Publish { .. }) => Outcome::Retry {
                after: Duration::from_millis(1),
            },
            Err(_) => Outcome::reject("score cannot be encoded"),
        }
    }
}

/// What the aggregator has seen so far; shared with the host.
#[derive(Debug)]
pub(crate) struct Tally {
    /// Scores aggregated (read by the host to know when the run is complete).
    pub(crate) processed: AtomicU64,
    pub(crate) inner: Mutex<TallyInner>,
}

/// The aggregator's counters and histogram.
#[derive(Debug)]
pub(crate) struct TallyInner {
    /// Posts with a non-zero human rating.
    pub(crate) rated: u64,
    /// Of those, posts whose compound score has the same sign.
    pub(crate) agreed: u64,
    /// End-to-end latency from the post's publish to its aggregation, in microseconds.
    pub(crate) latency_us: Histogram<u64>,
    /// Order-independent hash of every score: the wrapping sum of each one's hash.
    pub(crate) digest: u64,
    /// Aggregation time of the first and last score, in ns since the epoch.
    pub(crate) first_ns: u64,
    pub(crate) last_ns: u64,
    /// Keys of the posts counted: delivery is at least once, and each post counts once.
    pub(crate) seen: HashSet<Vec<u8>>,
}

impl Tally {
    pub(crate) fn new() -> Self {
        let histogram =
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds are valid");
        let inner = TallyInner {
            rated: 0,
            agreed: 0,
            latency_us: histogram,
            digest: 0,
            first_ns: 0,
            last_ns: 0,
            seen: HashSet::new(),
        };
        Self {
            processed: AtomicU64::new(0),
            inner: Mutex::new(inner),
        }
    }

    /// Counts one score of the post keyed `key`, unless that post was counted already.
    /// `latency_us` is recorded when given (scores replayed from an earlier run have none).
    pub(crate) fn add_once(
        &self,
        key: &[u8],
        rating: f64,
        compound: f64,
        hash: u64,
        latency_us: Option<u64>,
        now: u64,
    ) {
        let mut tally = self.inner.lock();
        if !tally.seen.insert(key.to_vec()) {
            return;
        }
        if rating != 0.0 {
            tally.rated += 1;
            tally.agreed += u64::from(compound != 0.0 && (compound > 0.0) == (rating > 0.0));
        }
        tally.digest = tally.digest.wrapping_add(hash);
        if let Some(latency) = latency_us {
            tally.latency_us.saturating_record(latency.max(1));
            if tally.first_ns == 0 {
                tally.first_ns = now;
            }
            tally.last_ns = now;
        }
        drop(tally);
        self.processed.fetch_add(1, Ordering::Release);
    }
}

/// Checks every score against the human rating and records its latency.
#[derive(Debug)]
pub(crate) struct Aggregator {
    pub(crate) tally: Arc<Tally>,
}

impl Agent for Aggregator {
    fn on_frame(&mut self, frame: &Delivery<'_>, ctx: &mut Context<'_>) -> Outcome {
        let (Ok(key), Ok(score)) = (frame.key(), frame.payload::<score::Owned>()) else {
            return Outcome::reject("payload is not a Score");
        };
        let now = ctx.now();
        let latency_us = now.saturating_sub(score.get_posted_ns()) / 1_000;
        let (rating, compound) = (score.get_rating(), score.get_compound());
        self.tally.add_once(
            key,
            rating,
            compound,
            score_digest(&score),
            Some(latency_us),
            now,
        );
        Outcome::Ack
    }
}

/// The digest term of one score: the hash of its post id and its scores.
pub(crate) fn score_digest(score: &score::Reader<'_>) -> u64 {
    score_hash(&[
        score.get_id(),
        score.get_compound().to_bits(),
        score.get_neg().to_bits(),
        score.get_neu().to_bits(),
        score.get_pos().to_bits(),
    ])
}

/// The hash of one score for the digest: FNV-1a over the post id and the score's fields
/// (not the sequence number, so a run over a subset of the posts can be compared).
pub(crate) fn score_hash(fields: &[u64; 5]) -> u64 {
    let mut bytes = [0u8; 40];
    for (chunk, field) in bytes.chunks_exact_mut(8).zip(fields) {
        chunk.copy_from_slice(&field.to_le_bytes());
    }
    crate::frame::key_hash(&bytes)
}
