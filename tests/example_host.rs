//! Runs `examples/host.rs`, the README's example of linking agentlane into a host.

#[path = "../examples/host.rs"]
mod host;

#[test]
fn the_readme_example_runs() {
    assert_eq!(host::run_example(), 25);
}
