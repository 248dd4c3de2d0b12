//! The demo under injected faults, and the metrics it exposes: panics and malformed frames
//! lose no post, and the posts that were processed score exactly as in a clean run.

use std::io::Write;

use agentlane::demo::sentiment::{self, posts, SentimentOptions};
use prometheus_parse::{Scrape, Value};

#[test]
fn injected_panics_and_malformed_frames_lose_nothing_and_change_no_score() {
    let mut options = SentimentOptions::vendored();
    options.inject_panics = 0.01;
    options.inject_malformed = 0.002;
    let faulty = sentiment::run(&options).unwrap();

    assert_eq!(faulty.input, 4200);
    assert_eq!(faulty.processed + faulty.dead_lettered, faulty.input);
    assert!(faulty.restarts > 0, "no panic was injected");
    assert!(
        faulty.redelivered >= faulty.restarts,
        "a panicked post was not delivered again"
    );
    assert!(faulty.dead_lettered > 0, "no malformed frame was injected");
    assert_eq!(
        faulty.dead_lettered,
        faulty.injected_malformed_ids.len() as u64
    );

    // A clean run over the same posts, less the malformed ones, has the same digest.
    let (all, errors) = posts::read_posts(&options.input).unwrap();
    assert!(errors.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let subset = dir.path().join("posts.txt");
    let mut file = std::fs::File::create(&subset).unwrap();
    for post in all
        .iter()
        .filter(|p| !faulty.injected_malformed_ids.contains(&p.id))
    {
        writeln!(
            file,
            "{}\t{}\t{}",
            post.id,
            post.rating,
            post.text.replace('&', "&amp;")
        )
        .unwrap();
    }
    drop(file);
    let mut clean = SentimentOptions::vendored();
    clean.input = subset;
    let clean = sentiment::run(&clean).unwrap();
    assert_eq!(clean.input, faulty.processed);
    assert_eq!((clean.restarts, clean.dead_lettered), (0, 0));
    assert_eq!(clean.digest, faulty.digest);
}

#[test]
fn the_prometheus_text_parses_and_agrees_with_the_report() {
    let mut options = SentimentOptions::vendored();
    options.metrics = true;
    let report = sentiment::run(&options).unwrap();
    let text = report.metrics.as_ref().unwrap().to_prometheus();

    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    // The sum over every sample of `metric` whose `label` is `wanted`.
    let sum = |metric: &str, label: &str, wanted: &str| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric && s.labels.get(label) == Some(wanted))
            .map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .sum()
    };
    assert_eq!(
        sum("agentlane_agent_acked_total", "agent", "aggregator"),
        4200.0
    );
    assert_eq!(
        sum("agentlane_lane_published_total", "topic", "scores"),
        4200.0
    );
    assert_eq!(
        sum("agentlane_lane_published_total", "topic", "posts"),
        4200.0
    );
    assert_eq!(sum("agentlane_lane_consumer_lag", "topic", "scores"), 0.0);
    let scorer_acks: f64 = (0..2)
        .map(|i| {
            sum(
                "agentlane_agent_acked_total",
                "agent",
                &format!("scorer-{i}"),
            )
        })
        .sum();
    assert_eq!(scorer_acks, 4200.0);
    assert!(scrape.docs.contains_key("agentlane_agent_handler_seconds"));
}
