//! The hook through which the binary's counting allocator tells the suite how many heap
//! allocations happened.
//!
//! A library cannot install a `#[global_allocator]` for its users, so the `agentlane`
//! binary installs one (`src/cli/alloc_counter.rs`) and registers it here. Counting is off
//! while anything is timed: the suite switches it on only for its separate allocation runs,
//! so a shared counter never slows a timed contender down.

use std::sync::OnceLock;

/// A process-wide allocation counter, as the binary's allocator provides it.
#[derive(Debug, Clone, Copy)]
pub struct AllocationProbe {
    /// Switches counting on or off.
    pub set_counting: fn(bool),
    /// Allocations (including reallocations) counted so far.
    pub count: fn() -> u64,
}

static PROBE: OnceLock<AllocationProbe> = OnceLock::new();

/// Registers the allocation counter; the first registration wins. Without one, the suite
/// reports allocation counts as unknown (`null` in JSON).
pub fn set_allocation_probe(probe: AllocationProbe) {
    let _ = PROBE.set(probe);
}

/// Switches counting on or off, when a probe is registered.
pub(crate) fn counting(on: bool) {
    if let Some(probe) = PROBE.get() {
        (probe.set_counting)(on);
    }
}

/// Allocations counted so far, or `None` without a probe.
pub(crate) fn count() -> Option<u64> {
    PROBE.get().map(|probe| (probe.count)())
}
