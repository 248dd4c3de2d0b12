//! Subcommands of the `agentlane` binary that have more to them than a few lines.

pub(crate) mod log;
