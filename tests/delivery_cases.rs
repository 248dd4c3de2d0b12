//! The delivery failure cases C1 to C6 (see the project's design notes): cycles, redelivery
//! without new credit, stale acks, retries that must not reorder a key, counting attempts,
//! and agent panics.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentlane::frame::envelope_capnp::dead_letter;
use agentlane::topic::{key_hash, partition_for};
use agentlane::{
    AckError, AckHandle, Agent, Context, Delivery, FaultEvent, Outcome, Placement, PublishError,
    RestartPolicy, RuntimeBuilder, RuntimeError, SubscriptionConfig, TopicConfig, TopicId,
};
use common::{id_of, numbered, wait_for, Seen};
use parking_lot::Mutex;

/// (id, attempt, when) per delivery.
type Timeline = Arc<Mutex<Vec<(u64, u32, Instant)>>>;

fn dead_letters(
    subscriber: &mut agentlane::Subscriber,
) -> Vec<(Vec<u8>, u64, u32, dead_letter::Reason)> {
    let mut letters = Vec::new();
    while let Ok(frame) = subscriber.recv_timeout(Duration::from_millis(200)) {
        let reader = frame.reader();
        let l = reader.payload::<dead_letter::Owned>().unwrap();
        letters.push((
            l.get_key().unwrap().to_vec(),
            l.get_offset(),
            l.get_attempts(),
            l.get_reason().unwrap(),
        ));
    }
    letters
}

// C1 ------------------------------------------------------------------------------------

/// Captures log lines so a test can look for the warning that names a full edge.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// For each input: three frames back to itself, one to B. Counts inputs and refusals.
struct CycleA {
    own: TopicId,
    b: TopicId,
    processed: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

impl Agent for CycleA {
    fn on_frame(&mut self, frame: &Delivery<'_>, ctx: &mut Context<'_>) -> Outcome {
        self.processed.fetch_add(1, Ordering::Relaxed);
        let id = id_of(frame);
        for topic in [self.own, self.own, self.own, self.b] {
            let sent = ctx.publish(topic, b"k", |p| {
                p.init_as::<agentlane::frame::sentiment_capnp::post::Builder>()
                    .set_id(id + 1);
                Ok(())
            });
            if sent.is_err() {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        Outcome::Ack
    }
}

/// Sends everything back to A.
struct CycleB {
    a: TopicId,
}

impl Agent for CycleB {
    fn on_frame(&mut self, frame: &Delivery<'_>, ctx: &mut Context<'_>) -> Outcome {
        let id = id_of(frame);
        let _ = ctx.publish(self.a, b"k", |p| {
            p.init_as::<agentlane::frame::sentiment_capnp::post::Builder>()
                .set_id(id);
            Ok(())
        });
        Outcome::Ack
    }
}

#[test]
fn c1_a_cycle_in_the_graph_stalls_but_never_freezes() {
    // Agent threads log through the global subscriber; this test binary sets it once.
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("only this test sets it");

    let (processed, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut builder = RuntimeBuilder::new();
    let timeout = Duration::from_millis(20);
    let a = builder.topic(
        "a-input",
        TopicConfig::new(1).max_in_flight(4).block_timeout(timeout),
    );
    let b = builder.topic(
        "b-input",
        TopicConfig::new(1).max_in_flight(4).block_timeout(timeout),
    );
    let (p, r) = (processed.clone(), refused.clone());
    builder
        .agent("a", move || CycleA {
            own: a,
            b,
            processed: p.clone(),
            refused: r.clone(),
        })
        .subscribe(a, "a");
    builder.agent("b", move || CycleB { a }).subscribe(b, "b");
    let runtime = builder.start().unwrap();

    // Feed 8 inputs from the host, waiting as long as it takes for each credit.
    let mut publisher = runtime.publisher(a);
    for id in 0..8 {
        let frame = numbered(&mut publisher, b"k", id * 1000);
        publisher
            .publish_timeout(frame, Duration::from_secs(30))
            .unwrap();
    }

    // A keeps making progress, and its refused publishes return instead of hanging.
    let early = processed.load(Ordering::Relaxed);
    assert!(
        wait_for(|| processed.load(Ordering::Relaxed) > early + 20),
        "A stopped making progress"
    );
    assert!(
        refused.load(Ordering::Relaxed) > 0,
        "the cycle never filled up"
    );
    let report = runtime.shutdown(Duration::from_millis(200));
    assert!(!report.drained, "an endless cycle cannot drain");

    let logs = String::from_utf8_lossy(&captured.0.lock()).into_owned();
    assert!(
        logs.contains("agent=\"a\"") || logs.contains("agent=a"),
        "no warning names the agent: {logs}"
    );
    assert!(
        logs.contains("a-input"),
        "no warning names the full topic: {logs}"
    );
}

/// Keeps the first frame deferred (its handle parked) and acks the rest.
struct HoldsFirst {
    parked: Arc<Mutex<Vec<AckHandle>>>,
    seen: Arc<AtomicU64>,
}

impl Agent for HoldsFirst {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        self.seen.fetch_add(1, Ordering::Release);
        if id_of(frame) == 0 {
            self.parked.lock().push(frame.ack_handle());
            return Outcome::Defer;
        }
        Outcome::Ack
    }
}

#[test]
fn c1_a_held_credit_does_not_block_publishers_while_slots_remain() {
    let parked = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(AtomicU64::new(0));
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1).max_in_flight(4));
    let (p, s) = (parked.clone(), seen.clone());
    builder
        .agent("holder", move || HoldsFirst {
            parked: p.clone(),
            seen: s.clone(),
        })
        .subscribe(topic, "s");
    let runtime = builder.start().unwrap();
    let mut publisher = runtime.publisher(topic);

    // Frame 0 is held; the three other slots take three more frames without waiting.
    for id in 0..4 {
        let frame = numbered(&mut publisher, b"k", id);
        assert!(
            publisher.try_publish(frame).is_ok(),
            "publish {id} refused with slots free"
        );
    }
    assert!(wait_for(|| seen.load(Ordering::Acquire) == 4));

    // Acking the held frame gives all four credits back.
    parked.lock().pop().unwrap().ack().unwrap();
    for id in 4..8 {
        let frame = numbered(&mut publisher, b"k", id);
        publisher
            .publish_timeout(frame, Duration::from_secs(10))
            .unwrap();
    }
    assert!(wait_for(|| seen.load(Ordering::Acquire) == 8));
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);
}

// C2 ------------------------------------------------------------------------------------

/// Defers every first delivery without ever acking it; acks every later one.
struct NeverAcksFirst(Timeline);

impl Agent for NeverAcksFirst {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        self.0
            .lock()
            .push((id_of(frame), frame.attempt(), Instant::now()));
        if frame.attempt() == 1 {
            Outcome::Defer
        } else {
            Outcome::Ack
        }
    }
}

#[test]
fn c2_deferred_frames_come_back_without_new_credit() {
    let timeline: Timeline = Default::default();
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1).max_in_flight(4));
    let deadline = Duration::from_millis(100);
    builder.subscription(
        topic,
        "s",
        SubscriptionConfig::default().ack_deadline(deadline),
    );
    let t = timeline.clone();
    builder
        .agent("deferrer", move || NeverAcksFirst(t.clone()))
        .subscribe(topic, "s");
    let runtime = builder.start().unwrap();

    // Eight frames into four credits: the last four wait for the first four to settle.
    let mut publisher = runtime.publisher(topic);
    let frames: Vec<_> = (0..8)
        .map(|id| numbered(&mut publisher, b"k", id))
        .collect();
    for frame in frames {
        publisher
            .publish_timeout(frame, Duration::from_secs(10))
            .unwrap();
    }
    assert!(wait_for(|| timeline.lock().len() == 16));
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);

    let timeline = timeline.lock();
    let first: Vec<(u64, u32)> = timeline[..8].iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(
        first,
        vec![
            (0, 1),
            (1, 1),
            (2, 1),
            (3, 1),
            (0, 2),
            (1, 2),
            (2, 2),
            (3, 2)
        ]
    );
    for id in 0..4 {
        let [start, again] =
            [1, 2].map(|a| timeline.iter().find(|e| e.0 == id && e.1 == a).unwrap().2);
        let waited = again - start;
        assert!(
            waited >= deadline,
            "frame {id} redelivered before its deadline: {waited:?}"
        );
    }
    let rest: Vec<u64> = timeline[8..]
        .iter()
        .filter(|e| e.1 == 1)
        .map(|e| e.0)
        .collect();
    assert_eq!(
        rest,
        vec![4, 5, 6, 7],
        "frames 5 to 8 flow once 1 to 4 are acked"
    );
}

// C3 ------------------------------------------------------------------------------------

/// Hands each first delivery's handle out and defers it; acks every later delivery.
struct HandsOut(mpsc::Sender<AckHandle>, Timeline);

impl Agent for HandsOut {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        self.1
            .lock()
            .push((id_of(frame), frame.attempt(), Instant::now()));
        if frame.attempt() == 1 {
            self.0.send(frame.ack_handle()).unwrap();
            return Outcome::Defer;
        }
        Outcome::Ack
    }
}

#[test]
fn c3_a_late_ack_from_an_expired_attempt_is_stale() {
    let (handles, handed) = mpsc::channel();
    let timeline: Timeline = Default::default();
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1).max_in_flight(4));
    let config = SubscriptionConfig::default().ack_deadline(Duration::from_millis(100));
    builder.subscription(topic, "s", config);
    let (h, t) = (Mutex::new(handles), timeline.clone());
    builder
        .agent("late", move || HandsOut(h.lock().clone(), t.clone()))
        .subscribe(topic, "s");
    let dead = builder.subscriber(builder.dead_letter_topic(), "host");
    let runtime = builder.start().unwrap();

    let publisher = runtime.publisher(topic);
    publisher
        .publish(numbered(&mut publisher.clone(), b"m", 9))
        .unwrap();
    let late: AckHandle = handed.recv_timeout(Duration::from_secs(10)).unwrap();
    std::thread::sleep(Duration::from_millis(250));

    // Attempt 2 was delivered and acked meanwhile; the ack of attempt 1 is stale.
    assert_eq!(
        late.ack(),
        Err(AckError::Stale {
            offset: 0,
            attempt: 1
        })
    );
    let lane = &runtime.metrics().lanes[0];
    assert_eq!(
        lane.free_credits, 4,
        "credits exceed or fall short of the grant"
    );
    let mut subscriber = runtime.take_subscriber(dead).unwrap();
    assert!(
        dead_letters(&mut subscriber).is_empty(),
        "m was dead-lettered"
    );
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);

    let attempts: Vec<u32> = timeline.lock().iter().map(|e| e.1).collect();
    assert_eq!(attempts, vec![1, 2]);
}

/// Takes a handle but acks the frame at once.
struct AcksAnyway(mpsc::Sender<AckHandle>);

impl Agent for AcksAnyway {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        self.0.send(frame.ack_handle()).unwrap();
        Outcome::Ack
    }
}

#[test]
fn c3_an_ack_for_a_frame_that_is_not_deferred_is_an_error() {
    let (handles, handed) = mpsc::channel();
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1));
    let h = Mutex::new(handles);
    builder
        .agent("eager", move || AcksAnyway(h.lock().clone()))
        .subscribe(topic, "s");
    let runtime = builder.start().unwrap();
    let publisher = runtime.publisher(topic);
    publisher
        .publish(numbered(&mut publisher.clone(), b"m", 1))
        .unwrap();
    let handle: AckHandle = handed.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(wait_for(|| runtime.metrics().lanes[0].acked == 1));

    assert_eq!(handle.ack(), Err(AckError::Unknown { offset: 0 }));
    assert_eq!(
        runtime.metrics().lanes[0].free_credits,
        1024,
        "credits exceed or fall short of the grant"
    );
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);
}

// C4 ------------------------------------------------------------------------------------

/// Records deliveries; retries k1:0 once (or rejects it), acks the rest.
struct RetriesK1 {
    seen: Seen,
    reject: bool,
}

impl Agent for RetriesK1 {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        let key = frame.key().unwrap().to_vec();
        let id = id_of(frame);
        self.seen.lock().push((
            key.clone(),
            id,
            frame.partition(),
            frame.offset(),
            frame.attempt(),
        ));
        if key == b"k1" && id == 0 && frame.attempt() == 1 {
            if self.reject {
                return Outcome::reject("k1:0 is bad");
            }
            return Outcome::Retry {
                after: Duration::from_millis(200),
            };
        }
        Outcome::Ack
    }
}

/// A second key that lands on another partition than `k1` among 4.
fn other_key() -> Vec<u8> {
    let k1 = partition_for(key_hash(b"k1"), 4);
    (2..100)
        .map(|i| format!("k{i}").into_bytes())
        .find(|k| partition_for(key_hash(k), 4) != k1)
        .unwrap()
}

fn run_c4(
    reject: bool,
) -> (
    Vec<(Vec<u8>, u64, u32, u64, u32)>,
    Vec<(Vec<u8>, u64, u32, dead_letter::Reason)>,
) {
    let seen: Seen = Default::default();
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(4));
    let s = seen.clone();
    builder
        .agent("agent", move || RetriesK1 {
            seen: s.clone(),
            reject,
        })
        .subscribe(topic, "s");
    let dead = builder.subscriber(builder.dead_letter_topic(), "host");
    let runtime = builder.start().unwrap();

    let k2 = other_key();
    let publisher = runtime.publisher(topic);
    for id in 0..5 {
        for key in [&b"k1"[..], &k2] {
            publisher
                .publish(numbered(&mut publisher.clone(), key, id))
                .unwrap();
        }
    }
    let expected = if reject { 10 } else { 11 };
    assert!(wait_for(|| seen.lock().len() == expected));
    let mut subscriber = runtime.take_subscriber(dead).unwrap();
    let letters = dead_letters(&mut subscriber);
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);
    let seen = seen.lock().clone();
    (seen, letters)
}

#[test]
fn c4_a_retry_does_not_reorder_a_key_or_hold_up_other_partitions() {
    let (seen, letters) = run_c4(false);
    let k1: Vec<u64> = seen.iter().filter(|e| e.0 == b"k1").map(|e| e.1).collect();
    assert_eq!(k1, vec![0, 0, 1, 2, 3, 4]);
    assert!(letters.is_empty());

    // Every k2 frame was delivered before k1:0 came back.
    let k2 = other_key();
    let retry_at = seen.iter().position(|e| e.0 == b"k1" && e.4 == 2).unwrap();
    let k2_last = seen.iter().rposition(|e| e.0 == k2).unwrap();
    assert!(
        k2_last < retry_at,
        "k2 was held up by k1's retry on another partition"
    );
}

#[test]
fn c4_a_dead_lettered_head_lets_the_key_resume() {
    let (seen, letters) = run_c4(true);
    let k1: Vec<u64> = seen.iter().filter(|e| e.0 == b"k1").map(|e| e.1).collect();
    assert_eq!(k1, vec![0, 1, 2, 3, 4]);
    let k1_first_offset = seen.iter().find(|e| e.0 == b"k1").unwrap().3;
    assert_eq!(
        letters,
        vec![(
            b"k1".to_vec(),
            k1_first_offset,
            1,
            dead_letter::Reason::Rejected
        )]
    );
}

// C5 ------------------------------------------------------------------------------------

/// Takes 150 ms on frame 0 and then fails it, every time; acks the others.
struct SlowFailure(Timeline);

impl Agent for SlowFailure {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        let id = id_of(frame);
        self.0.lock().push((id, frame.attempt(), Instant::now()));
        if id == 0 {
            std::thread::sleep(Duration::from_millis(150));
            return Outcome::Retry {
                after: Duration::ZERO,
            };
        }
        Outcome::Ack
    }
}

/// Defers frame 0 every time and never acks it; acks the others.
struct DefersForever(Timeline);

impl Agent for DefersForever {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        let id = id_of(frame);
        self.0.lock().push((id, frame.attempt(), Instant::now()));
        if id == 0 {
            return Outcome::Defer;
        }
        Outcome::Ack
    }
}

fn run_c5<A: Agent>(
    max_deliver: u32,
    make: impl Fn(Timeline) -> A + Send + Sync + 'static,
) -> (Vec<(u64, u32)>, usize, Vec<u32>) {
    let timeline: Timeline = Default::default();
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1));
    let config = SubscriptionConfig::default()
        .max_deliver(max_deliver)
        .ack_deadline(Duration::from_millis(100));
    builder.subscription(topic, "s", config);
    let t = timeline.clone();
    builder
        .agent("agent", move || make(t.clone()))
        .subscribe(topic, "s");
    let dead = builder.subscriber(builder.dead_letter_topic(), "host");
    let runtime = builder.start().unwrap();

    let publisher = runtime.publisher(topic);
    for id in 0..6 {
        publisher
            .publish(numbered(&mut publisher.clone(), b"k", id))
            .unwrap();
    }
    assert!(wait_for(|| timeline
        .lock()
        .iter()
        .filter(|e| e.0 == 5)
        .count()
        == 1));
    let mut subscriber = runtime.take_subscriber(dead).unwrap();
    let mut letters = dead_letters(&mut subscriber);
    while letters.is_empty() && timeline.lock().len() < 20 {
        letters = dead_letters(&mut subscriber);
    }
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);
    let timeline: Vec<(u64, u32)> = timeline.lock().iter().map(|e| (e.0, e.1)).collect();
    let reasons_ok = letters
        .iter()
        .all(|l| l.3 == dead_letter::Reason::MaxDeliveries);
    assert!(reasons_ok, "{letters:?}");
    (
        timeline,
        letters.len(),
        letters.iter().map(|l| l.2).collect(),
    )
}

#[test]
fn c5_a_slow_failure_counts_each_attempt_once() {
    let (timeline, letters, attempts) = run_c5(3, SlowFailure);
    let zero: Vec<u32> = timeline.iter().filter(|e| e.0 == 0).map(|e| e.1).collect();
    assert_eq!(zero, vec![1, 2, 3]);
    assert_eq!((letters, attempts), (1, vec![3]));
    let followers: Vec<u64> = timeline.iter().filter(|e| e.0 != 0).map(|e| e.0).collect();
    assert_eq!(followers, vec![1, 2, 3, 4, 5]);
}

#[test]
fn c5_an_expired_deferral_counts_each_attempt_once() {
    let (timeline, letters, attempts) = run_c5(3, DefersForever);
    let zero: Vec<u32> = timeline.iter().filter(|e| e.0 == 0).map(|e| e.1).collect();
    assert_eq!(zero, vec![1, 2, 3]);
    assert_eq!((letters, attempts), (1, vec![3]));
}

#[test]
fn c5_max_deliver_of_one_dead_letters_on_the_first_failure() {
    let (timeline, letters, attempts) = run_c5(1, SlowFailure);
    let zero: Vec<u32> = timeline.iter().filter(|e| e.0 == 0).map(|e| e.1).collect();
    assert_eq!(zero, vec![1]);
    assert_eq!((letters, attempts), (1, vec![1]));
}

// C6 ------------------------------------------------------------------------------------

/// Waits for a gate on its first frame, panics on frame 10's first delivery, records the
/// rest with the cores it may run on.
struct Fragile {
    gate: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(u64, u32, Vec<usize>)>>>,
    panicked: Arc<AtomicBool>,
}

impl Agent for Fragile {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        while !self.gate.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        let id = id_of(frame);
        if id == 10 && !self.panicked.swap(true, Ordering::SeqCst) {
            panic!("fragile agent fails on frame 10");
        }
        let cores = core_affinity::get_core_ids()
            .unwrap_or_default()
            .iter()
            .map(|c| c.id)
            .collect();
        self.seen.lock().push((id, frame.attempt(), cores));
        Outcome::Ack
    }
}

#[test]
fn c6_a_panic_loses_no_queued_frame_and_restarts_on_the_same_core() {
    let core = core_affinity::get_core_ids().unwrap()[0].id;
    let gate = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1).max_in_flight(64));
    let (g, s, p) = (gate.clone(), seen.clone(), Arc::new(AtomicBool::new(false)));
    builder
        .agent("fragile", move || Fragile {
            gate: g.clone(),
            seen: s.clone(),
            panicked: p.clone(),
        })
        .subscribe(topic, "s")
        .placement(Placement::Pinned(core));
    let runtime = builder.start().unwrap();
    let faults = runtime.faults();

    // Queue 50 frames while the agent waits at its gate, then open it.
    let publisher = runtime.publisher(topic);
    for id in 1..=50 {
        publisher
            .publish(numbered(&mut publisher.clone(), b"k", id))
            .unwrap();
    }
    gate.store(true, Ordering::Release);
    assert!(wait_for(|| seen.lock().len() == 50));
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);

    let seen = seen.lock();
    let ids: Vec<u64> = seen.iter().map(|e| e.0).collect();
    assert_eq!(
        ids,
        (1..=50).collect::<Vec<_>>(),
        "frames lost or reordered"
    );
    assert_eq!(seen[9].1, 2, "frame 10 is its second delivery");
    assert!(
        seen.iter().all(|e| e.2 == vec![core]),
        "the rebuilt agent left its core"
    );
    match faults.try_recv() {
        Ok(FaultEvent::Restarted {
            agent,
            message,
            frame,
            restarts,
            ..
        }) => {
            assert_eq!(agent, "fragile");
            assert!(message.contains("frame 10"));
            assert_eq!((frame, restarts), (Some((0, 9)), 1));
        }
        other => panic!("expected a restart event, got {other:?}"),
    }
}

/// Panics on every frame.
struct AlwaysPanics;

impl Agent for AlwaysPanics {
    fn on_frame(&mut self, _frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        panic!("always");
    }
}

#[test]
fn c6_too_many_restarts_stop_the_runtime_naming_the_agent() {
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1));
    builder.subscription(topic, "s", SubscriptionConfig::default().max_deliver(100));
    let policy = RestartPolicy::default()
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .max_restarts(3, Duration::from_secs(60));
    builder
        .agent("doomed", || AlwaysPanics)
        .subscribe(topic, "s")
        .restart_policy(policy);
    let runtime = builder.start().unwrap();
    let publisher = runtime.publisher(topic);
    publisher
        .publish(numbered(&mut publisher.clone(), b"k", 1))
        .unwrap();

    assert!(wait_for(|| runtime.failure().is_some()));
    let failure = runtime.failure().unwrap();
    assert!(
        matches!(&failure, RuntimeError::TooManyRestarts { agent, restarts: 4, .. } if agent == "doomed")
    );
    assert!(failure.to_string().contains("doomed"));
    let gave_up = runtime
        .faults()
        .try_iter()
        .any(|e| matches!(e, FaultEvent::GaveUp { .. }));
    assert!(gave_up, "no GaveUp event");
    let report = runtime.shutdown(Duration::from_secs(1));
    assert_eq!(report.failure, Some(failure));
}

#[test]
fn c6_shutdown_right_after_publishing_handles_every_frame() {
    let seen: Seen = Default::default();
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("t", TopicConfig::new(1));
    let s = seen.clone();
    builder
        .agent("recorder", move || common::Recorder(s.clone()))
        .subscribe(topic, "s");
    let runtime = builder.start().unwrap();
    let mut publisher = runtime.publisher(topic);
    for id in 0..5 {
        publisher
            .publish(numbered(&mut publisher.clone(), b"k", id))
            .unwrap();
    }
    let late = numbered(&mut publisher, b"k", 5);
    let report = runtime.shutdown(Duration::from_secs(5));
    assert!(report.drained);
    assert_eq!(
        seen.lock().iter().map(|e| e.1).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert!(matches!(
        publisher.publish(late),
        Err(PublishError::Closed(_))
    ));
}
