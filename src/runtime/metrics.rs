//! Metrics: per-lane and per-agent counters and handler-latency histograms, read by the
//! host as a snapshot and rendered in the Prometheus text format.
//!
//! Counters are written by the thread that owns them with relaxed stores and read by any
//! thread; a snapshot may be a few frames stale and its fields not mutually consistent.
//! Histograms are recorded on the agent's thread into a private copy and merged into the
//! shared one every few thousand frames and whenever the thread idles, so the hot path
//! takes no lock.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;

use crate::lane::PartitionRing;
use crate::runtime::stats::AgentSnapshot;

/// Handler latencies are recorded up to one minute, in nanoseconds, to 3 significant
/// digits.
pub(crate) fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static bounds are valid")
}

/// The counters of one lane (one partition of one subscription). Written by the owning
/// thread only.
#[derive(Debug)]
pub(crate) struct LaneStats {
    pub(crate) topic: String,
    pub(crate) partition: u32,
    pub(crate) subscription: String,
    pub(crate) owner: String,
    pub(crate) ring: Arc<PartitionRing>,
    pub(crate) subscription_index: usize,
    pub(crate) delivered: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) redelivered: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
}

impl LaneStats {
    pub(crate) fn snapshot(&self) -> LaneMetrics {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (taken, released) = self.ring.positions(self.subscription_index);
        let published = self.ring.next_offset();
        LaneMetrics {
            topic: self.topic.clone(),
            partition: self.partition,
            subscription: self.subscription.clone(),
            owner: self.owner.clone(),
            published,
            delivered: read(&self.delivered),
            acked: read(&self.acked),
            redelivered: read(&self.redelivered),
            dead_lettered: read(&self.dead_lettered),
            free_credits: self.ring.free_credits() as u64,
            depth: published.saturating_sub(taken),
            lag: published.saturating_sub(released),
            conflated: self.ring.dropped(self.subscription_index),
        }
    }
}

/// One lane's metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LaneMetrics {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The subscription.
    pub subscription: String,
    /// The agent (or host subscriber) that owns the lane.
    pub owner: String,
    /// Frames published to the partition (its next offset).
    pub published: u64,
    /// Deliveries on this lane, redeliveries included.
    pub delivered: u64,
    /// Frames acked.
    pub acked: u64,
    /// Deferred frames delivered again after their ack deadline.
    pub redelivered: u64,
    /// Frames dead-lettered.
    pub dead_lettered: u64,
    /// Credits free on the partition (shared by every subscription).
    pub free_credits: u64,
    /// Frames published and not yet taken by this subscription.
    pub depth: u64,
    /// Frames published and not yet released by this subscription (consumer lag).
    pub lag: u64,
    /// Frames a `DropOldest` topic replaced before this subscription took them.
    pub conflated: u64,
}

/// Latency percentiles in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl LatencySummary {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        Self {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// One agent's metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AgentMetrics {
    /// The agent.
    pub agent: String,
    /// Its counters.
    pub counters: AgentSnapshot,
    /// Time spent in `on_frame`, per delivery.
    pub handler_ns: LatencySummary,
}

/// Every metric of a runtime at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Per agent.
    pub agents: Vec<AgentMetrics>,
    /// Per lane.
    pub lanes: Vec<LaneMetrics>,
}

/// Where merged handler histograms live, per agent.
pub(crate) type SharedHistogram = Arc<Mutex<Histogram<u64>>>;

impl MetricsSnapshot {
    /// Renders the snapshot in the Prometheus text exposition format (version 0.0.4).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let agent_counters: [(&str, &str, fn(&AgentSnapshot) -> u64); 9] = [
            (
                "delivered",
                "Deliveries to the agent, redeliveries included.",
                |c| c.delivered,
            ),
            ("acked", "Frames the agent acked.", |c| c.acked),
            ("retried", "Deliveries the agent asked to retry.", |c| {
                c.retried
            }),
            (
                "redelivered",
                "Deferred frames delivered again after their deadline.",
                |c| c.redelivered,
            ),
            ("rejected", "Frames the agent rejected.", |c| c.rejected),
            (
                "dead_lettered",
                "Frames dead-lettered from the agent's lanes.",
                |c| c.dead_lettered,
            ),
            ("decode_errors", "Frames that could not be decoded.", |c| {
                c.decode_errors
            }),
            (
                "restarts",
                "Times the agent was rebuilt after a panic.",
                |c| c.restarts,
            ),
            ("published", "Frames the agent published.", |c| c.published),
        ];
        for (name, help, get) in agent_counters {
            header(
                &mut out,
                &format!("agentlane_agent_{name}_total"),
                help,
                "counter",
            );
            for a in &self.agents {
                let _ = writeln!(
                    out,
                    "agentlane_agent_{name}_total{{agent=\"{}\"}} {}",
                    escape(&a.agent),
                    get(&a.counters)
                );
            }
        }
        self.render_handler_latency(&mut out);
        self.render_lanes(&mut out);
        out
    }

    fn render_handler_latency(&self, out: &mut String) {
        let name = "agentlane_agent_handler_seconds";
        header(out, name, "Time spent in on_frame per delivery.", "summary");
        for a in &self.agents {
            let agent = escape(&a.agent);
            let h = &a.handler_ns;
            for (q, v) in [
                ("0.5", h.p50),
                ("0.9", h.p90),
                ("0.99", h.p99),
                ("0.999", h.p999),
                ("1", h.max),
            ] {
                let _ = writeln!(
                    out,
                    "{name}{{agent=\"{agent}\",quantile=\"{q}\"}} {}",
                    v as f64 / 1e9
                );
            }
            let _ = writeln!(out, "{name}_count{{agent=\"{agent}\"}} {}", h.count);
        }
    }

    fn render_lanes(&self, out: &mut String) {
        let metrics: [(&str, &str, &str, fn(&LaneMetrics) -> u64); 9] = [
            (
                "published_total",
                "Frames published to the partition.",
                "counter",
                |l| l.published,
            ),
            (
                "delivered_total",
                "Deliveries on the lane.",
                "counter",
                |l| l.delivered,
            ),
            ("acked_total", "Frames acked on the lane.", "counter", |l| {
                l.acked
            }),
            (
                "redelivered_total",
                "Frames redelivered after their ack deadline.",
                "counter",
                |l| l.redelivered,
            ),
            (
                "dead_lettered_total",
                "Frames dead-lettered from the lane.",
                "counter",
                |l| l.dead_lettered,
            ),
            (
                "free_credits",
                "Free credits on the partition.",
                "gauge",
                |l| l.free_credits,
            ),
            (
                "depth",
                "Frames published and not yet taken.",
                "gauge",
                |l| l.depth,
            ),
            (
                "consumer_lag",
                "Frames published and not yet released.",
                "gauge",
                |l| l.lag,
            ),
            (
                "conflated_total",
                "Frames DropOldest replaced before they were taken.",
                "counter",
                |l| l.conflated,
            ),
        ];
        for (name, help, kind, get) in metrics {
            header(out, &format!("agentlane_lane_{name}"), help, kind);
            for l in &self.lanes {
                let _ = writeln!(
                    out,
                    "agentlane_lane_{name}{{topic=\"{}\",partition=\"{}\",subscription=\"{}\",owner=\"{}\"}} {}",
                    escape(&l.topic),
                    l.partition,
                    escape(&l.subscription),
                    escape(&l.owner),
                    get(l)
                );
            }
        }
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
