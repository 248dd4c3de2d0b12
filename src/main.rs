//! The `agentlane` command line.
fn main() {}
