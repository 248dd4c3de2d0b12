//! The crate's concurrency shim: std's atomics, cells, `Arc` and threads, or loom's in models.
//!
//! Every lock-free structure in the crate takes its primitives from here, never from `std`
//! directly, so that `RUSTFLAGS="--cfg loom"` swaps the whole set for loom's checked
//! versions at once. Under `cfg(loom)`:
//!
//! - the atomics, `Arc`, `fence` and threads are loom's, so each model explores every
//!   interleaving and every weak-memory outcome loom knows;
//! - [`UnsafeCell`] is loom's, so a write racing with a read of the same cell fails the model;
//! - [`MAX_RING_CAPACITY`] shrinks, because a model's state space grows with each slot.
//!
//! The API follows loom's (`with` / `with_mut` on the cell) so one code path serves both.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::thread;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::thread;

/// The largest ring capacity a partition ring accepts: 2^30 slots normally, 4 in models.
#[cfg(not(loom))]
pub(crate) const MAX_RING_CAPACITY: usize = 1 << 30;

/// The largest ring capacity a partition ring accepts: 2^30 slots normally, 4 in models.
#[cfg(loom)]
pub(crate) const MAX_RING_CAPACITY: usize = 4;

/// A cell with interior mutability whose accesses loom checks for data races.
///
/// It wraps `std::cell::UnsafeCell` normally and `loom::cell::UnsafeCell` in models. Access
/// goes through closures that receive a raw pointer; the caller proves, at each use, that no
/// conflicting access can overlap (that is what the `unsafe` dereference inside the closure
/// must justify).
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(
    #[cfg(not(loom))] std::cell::UnsafeCell<T>,
    #[cfg(loom)] loom::cell::UnsafeCell<T>,
);

impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    pub(crate) fn new(value: T) -> Self {
        #[cfg(not(loom))]
        return Self(std::cell::UnsafeCell::new(value));
        #[cfg(loom)]
        return Self(loom::cell::UnsafeCell::new(value));
    }

    /// Runs `f` with a shared pointer to the value; loom records a read.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        #[cfg(not(loom))]
        return f(self.0.get());
        #[cfg(loom)]
        return self.0.with(f);
    }

    /// Runs `f` with a mutable pointer to the value; loom records a write.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(not(loom))]
        return f(self.0.get());
        #[cfg(loom)]
        return self.0.with_mut(f);
    }
}
