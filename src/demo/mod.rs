//! Demo pipelines run by `agentlane demo`, built on the public API only, on real data.
//!
//! - [`sentiment`]: the classic queue-backed sentiment pipeline (posts, then scorer
//!   workers, then an aggregator), embedded, over 4,200 human-rated posts.

pub mod sentiment;
