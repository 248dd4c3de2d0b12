//! The idle loop of an agent thread: spin, yield, then sleep on the thread's doorbell.
//!
//! Every lane a thread reads rings the thread's doorbell (an `event_listener::Event`) after
//! each commit. Ringing costs a fence and a load when nobody listens, so a busy thread pays
//! almost nothing; a sleeping one is woken at once. To close the race between "no work"
//! and "go to sleep", the thread registers its listener first, looks at its lanes once
//! more, and only then sleeps.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;
use event_listener::{Event, Listener};

use crate::runtime::placement::{IdleStrategy, MAX_PARK};

/// The idle state of one thread.
#[derive(Debug)]
pub(crate) struct Idler {
    strategy: IdleStrategy,
    backoff: Backoff,
    /// When the current idle stretch began; `None` while working.
    idle_since: Cell<Option<Instant>>,
    doorbell: Arc<Event>,
}

/// How long a `Backoff` thread spins and yields before it sleeps: longer than a futex
/// wake-up, so a ping-pong of two agents does not settle into sleeping on every hop.
const SPIN_FOR: Duration = Duration::from_micros(50);

impl Idler {
    /// An idler for a thread woken through `doorbell`.
    pub(crate) fn new(strategy: IdleStrategy, doorbell: Arc<Event>) -> Self {
        Self {
            strategy,
            backoff: Backoff::new(),
            idle_since: Cell::new(None),
            doorbell,
        }
    }

    /// Called after a round that did work: the next idle starts from the cheapest step.
    pub(crate) fn reset(&self) {
        self.backoff.reset();
        self.idle_since.set(None);
    }

    /// Called after a round that found no work. `arm` arms the lanes' doorbells once a
    /// listener is registered and looks at them again, so a frame committed meanwhile is
    /// never slept through; only a thread about to sleep arms, so spinning costs producers
    /// nothing.
    pub(crate) fn idle(&self, arm: impl FnOnce() -> bool) {
        match self.strategy {
            IdleStrategy::BusySpin => std::hint::spin_loop(),
            IdleStrategy::Yield => std::thread::yield_now(),
            IdleStrategy::Backoff => self.backoff_then_park(arm),
        }
    }

    fn backoff_then_park(&self, arm: impl FnOnce() -> bool) {
        // Spin and yield while the idle stretch is young.
        let since = self.idle_since.get().unwrap_or_else(Instant::now);
        self.idle_since.set(Some(since));
        if !self.backoff.is_completed() {
            self.backoff.snooze();
            return;
        }
        if since.elapsed() < SPIN_FOR {
            std::thread::yield_now();
            return;
        }

        // Register, re-check, sleep.
        let listener = self.doorbell.listen();
        if arm() {
            return;
        }
        listener.wait_timeout(MAX_PARK);
    }

    /// Wakes the thread if it sleeps.
    pub(crate) fn wake(doorbell: &Event) {
        doorbell.notify(usize::MAX);
    }
}
