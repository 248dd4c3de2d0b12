//! Outcomes other than `Ack`: rejects and spent retries go to the dead-letter topic with
//! their reason, retries keep a key's order, and a panicking agent is rebuilt without
//! losing the frame in hand or those queued behind it.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentlane::frame::envelope_capnp::dead_letter;
use agentlane::{
    Agent, Context, Delivery, Frame, Outcome, RuntimeBuilder, SubscriptionConfig, TopicConfig,
};
use common::{id_of, numbered, wait_for, Seen};

/// Records each delivery, then acts by the post id: 13 is rejected, 7 is retried once,
/// 99 is always retried, 21 panics the first time.
struct Picky {
    seen: Seen,
    panicked: Arc<AtomicBool>,
}

impl Agent for Picky {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        let id = id_of(frame);
        let key = frame.key().unwrap().to_vec();
        self.seen
            .lock()
            .push((key, id, frame.partition(), frame.offset(), frame.attempt()));
        match id {
            13 => Outcome::reject("thirteen is unlucky"),
            7 if frame.attempt() == 1 => Outcome::Retry {
                after: Duration::from_millis(5),
            },
            99 => Outcome::Retry {
                after: Duration::from_millis(1),
            },
            21 if !self.panicked.swap(true, Ordering::SeqCst) => panic!("agent bug on 21"),
            _ => Outcome::Ack,
        }
    }
}

fn letter_of(frame: &Frame) -> (String, u64, Vec<u8>, u32, dead_letter::Reason, String) {
    let reader = frame.reader();
    let letter = reader.payload::<dead_letter::Owned>().unwrap();
    (
        letter.get_topic().unwrap().to_str().unwrap().to_owned(),
        letter.get_offset(),
        letter.get_key().unwrap().to_vec(),
        letter.get_attempts(),
        letter.get_reason().unwrap(),
        letter.get_detail().unwrap().to_str().unwrap().to_owned(),
    )
}

#[test]
fn outcomes_settle_every_frame_and_nothing_is_lost() {
    let seen: Seen = Default::default();
    let panicked = Arc::new(AtomicBool::new(false));
    let mut builder = RuntimeBuilder::new();
    let topic = builder.topic("work", TopicConfig::new(1));
    builder.subscription(
        topic,
        "pickers",
        SubscriptionConfig::default().max_deliver(3),
    );
    let (agent_seen, agent_panicked) = (seen.clone(), panicked.clone());
    builder
        .agent("picky", move || Picky {
            seen: agent_seen.clone(),
            panicked: agent_panicked.clone(),
        })
        .subscribe(topic, "pickers");
    let dead = builder.subscriber(builder.dead_letter_topic(), "host");
    let runtime = builder.start().unwrap();

    // One key, so every frame shares a partition and order matters.
    let publisher = runtime.publisher(topic);
    let ids = [1, 7, 13, 21, 99, 100, 101];
    for id in ids {
        publisher
            .publish(numbered(&mut publisher.clone(), b"one-key", id))
            .unwrap();
    }
    assert!(wait_for(|| seen.lock().iter().any(|e| e.1 == 101)));

    // Two dead letters: 13 rejected, 99 out of attempts.
    let mut subscriber = runtime.take_subscriber(dead).unwrap();
    let mut letters = vec![
        letter_of(&subscriber.recv_timeout(Duration::from_secs(10)).unwrap()),
        letter_of(&subscriber.recv_timeout(Duration::from_secs(10)).unwrap()),
    ];
    letters.sort_by_key(|l| l.1);
    let restarts = runtime.stats("picky").unwrap().restarts;
    assert!(runtime.shutdown(Duration::from_secs(5)).drained);

    assert_eq!(letters[0].0, "work");
    assert_eq!(
        (letters[0].1, letters[0].2.as_slice(), letters[0].3),
        (2, &b"one-key"[..], 1)
    );
    assert_eq!(letters[0].4, dead_letter::Reason::Rejected);
    assert_eq!(letters[0].5, "thirteen is unlucky");
    assert_eq!((letters[1].1, letters[1].3), (4, 3));
    assert_eq!(letters[1].4, dead_letter::Reason::MaxDeliveries);

    // Head-of-line: each retry or panic is delivered again before any later frame.
    let order: Vec<(u64, u32)> = seen.lock().iter().map(|e| (e.1, e.4)).collect();
    assert_eq!(
        order,
        vec![
            (1, 1),
            (7, 1),
            (7, 2),
            (13, 1),
            (21, 1),
            (21, 2),
            (99, 1),
            (99, 2),
            (99, 3),
            (100, 1),
            (101, 1)
        ]
    );
    assert_eq!(restarts, 1);
}
