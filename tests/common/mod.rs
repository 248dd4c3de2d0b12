//! Helpers shared by the runtime tests: frames with a numbered payload, and agents that
//! record what they see.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

pub mod counting;

use agentlane::frame::sentiment_capnp::post;
use agentlane::{Agent, Context, Delivery, Frame, Outcome, Publisher};
use parking_lot::Mutex;

/// Builds a frame keyed `key` whose `Post` payload carries `id`.
pub fn numbered(publisher: &mut Publisher, key: &[u8], id: u64) -> Frame {
    publisher
        .frame(key, |payload| {
            let mut p = payload.init_as::<post::Builder>();
            p.set_id(id);
            Ok(())
        })
        .expect("a numbered frame fits")
}

/// The `Post` id of a delivered frame.
pub fn id_of(frame: &Delivery<'_>) -> u64 {
    frame.payload::<post::Owned>().expect("a post").get_id()
}

/// What a recording agent saw: (key, id, partition, offset, attempt) per delivery.
pub type Seen = Arc<Mutex<Vec<(Vec<u8>, u64, u32, u64, u32)>>>;

/// An agent that records every delivery and acks it.
pub struct Recorder(pub Seen);

impl Agent for Recorder {
    fn on_frame(&mut self, frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
        let key = frame.key().expect("a key").to_vec();
        let entry = (
            key,
            id_of(frame),
            frame.partition(),
            frame.offset(),
            frame.attempt(),
        );
        self.0.lock().push(entry);
        Outcome::Ack
    }
}

/// Waits until `done` or 30 s pass; returns whether it became true.
pub fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    done()
}
