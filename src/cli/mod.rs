//! Subcommands of the `agentlane` binary that have more to them than a few lines.

pub(crate) mod alloc_counter;
pub(crate) mod bench;
pub(crate) mod log;
