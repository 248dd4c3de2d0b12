//! Linking agentlane into a host: one topic in, one agent, one topic out, read by the host.
//!
//! Run with `cargo run --example host`. The test suite runs it too
//! (`tests/example_host.rs`), so it cannot rot.

use std::time::Duration;

use agentlane::frame::sentiment_capnp::{post, score};
use agentlane::{
    Agent, Context, Delivery, Outcome, Placement, RuntimeBuilder, TopicConfig, TopicId,
};

/// An agent that rates each post by a toy rule and publishes the score.
struct Exclaimer {
    scores: TopicId,
}

impl Agent for Exclaimer {
    fn on_frame(&mut self, frame: &Delivery<'_>, ctx: &mut Context<'_>) -> Outcome {
        // Read the post in place: no copy, no allocation.
        let Ok(post) = frame.payload::<post::Owned>() else {
            return Outcome::reject("not a post");
        };
        let text = post
            .get_text()
            .ok()
            .and_then(|t| t.to_str().ok())
            .unwrap_or("");
        let compound = if text.ends_with('!') { 1.0 } else { 0.0 };

        // Publish the result, keyed like the input.
        let key = frame.key().unwrap_or_default();
        let sent = ctx.publish(self.scores, key, |payload| {
            let mut s = payload.init_as::<score::Builder>();
            s.set_id(post.get_id());
            s.set_compound(compound);
            Ok(())
        });
        match sent {
            Ok(_) => Outcome::Ack,
            Err(_) => Outcome::Retry {
                after: Duration::from_millis(1),
            },
        }
    }
}

/// Builds the graph, feeds it, reads the results; returns how many posts were exclaimed.
pub(crate) fn run_example() -> u64 {
    let mut builder = RuntimeBuilder::new();
    let posts = builder.topic("posts", TopicConfig::new(2));
    let scores = builder.topic("scores", TopicConfig::new(1));
    builder
        .agent("exclaimer", move || Exclaimer { scores })
        .subscribe(posts, "exclaimers")
        .placement(Placement::Floating);
    let results = builder.subscriber(scores, "host");
    let runtime = builder.start().expect("the graph is valid");

    // Publish from the host thread.
    let mut publisher = runtime.publisher(posts);
    for id in 0..100u64 {
        let text = if id % 4 == 0 { "what a day!" } else { "a day" };
        let frame = publisher
            .frame(&id.to_le_bytes(), |payload| {
                let mut p = payload.init_as::<post::Builder>();
                p.set_id(id);
                p.set_text(text);
                Ok(())
            })
            .expect("a small post fits a frame");
        publisher.publish(frame).expect("the agent keeps up");
    }

    // Read every result back.
    let mut subscriber = runtime.take_subscriber(results).expect("taken once");
    let mut exclaimed = 0;
    for _ in 0..100 {
        let frame = subscriber
            .recv_timeout(Duration::from_secs(10))
            .expect("a result");
        let reader = frame.reader();
        let score = reader.payload::<score::Owned>().expect("a score");
        exclaimed += u64::from(score.get_compound() > 0.0);
    }

    let report = runtime.shutdown(Duration::from_secs(5));
    assert!(report.drained, "{report:?}");
    exclaimed
}

#[allow(dead_code)]
fn main() {
    println!("{} of 100 posts exclaimed", run_example());
}
