//! Supervision: what happens when an agent panics.
//!
//! The panic is caught on the agent's thread. The agent is rebuilt from its factory on the
//! same thread (so on the same placement and core), after an exponential backoff during
//! which its lanes wait; the frame in hand counts one delivery attempt and stays at the
//! head of its lane, so frames queued behind it keep their order. Too many restarts within
//! the policy's window stop the runtime with an error naming the agent. Every step is
//! reported to the host as a [`FaultEvent`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How an agent is restarted after a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestartPolicy {
    /// The pause before the first restart; it doubles with each further panic before the
    /// agent handles a frame successfully again.
    pub base_backoff: Duration,
    /// The longest pause before a restart.
    pub max_backoff: Duration,
    /// Restarts allowed within `window`; one more stops the runtime.
    pub max_restarts: u32,
    /// The sliding window restarts are counted in.
    pub window: Duration,
}

impl Default for RestartPolicy {
    /// 1 ms doubling up to 1 s, at most 100 restarts in 10 s.
    fn default() -> Self {
        Self {
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_secs(1),
            max_restarts: 100,
            window: Duration::from_secs(10),
        }
    }
}

impl RestartPolicy {
    /// Sets the number of restarts allowed within `window`.
    pub fn max_restarts(mut self, restarts: u32, window: Duration) -> Self {
        self.max_restarts = restarts;
        self.window = window;
        self
    }

    /// Sets the first and the longest backoff.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base_backoff = base;
        self.max_backoff = max;
        self
    }
}

/// Something that went wrong in an agent, reported to the host through
/// `Runtime::faults`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultEvent {
    /// An agent panicked; it will be rebuilt after `backoff`.
    Restarted {
        /// The agent.
        agent: String,
        /// The panic message.
        message: String,
        /// The frame in hand, if the panic came from `on_frame`: (partition, offset).
        frame: Option<(u32, u64)>,
        /// Restarts of this agent within the policy window, this one included.
        restarts: u32,
        /// The pause before the agent runs again.
        backoff: Duration,
    },
    /// An agent panicked too often; the runtime is stopping.
    GaveUp {
        /// The agent.
        agent: String,
        /// The restarts counted in the window.
        restarts: u32,
        /// The window.
        window: Duration,
    },
}

/// Why a running runtime stopped on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// An agent panicked more often than its restart policy allows.
    #[error("agent {agent:?} panicked {restarts} times within {window:?}; runtime stopped")]
    TooManyRestarts {
        /// The agent.
        agent: String,
        /// Restarts counted.
        restarts: u32,
        /// The window.
        window: Duration,
    },
}

/// What to do after a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Rebuild the agent and let it run again after this pause.
    Restart { restarts: u32, backoff: Duration },
    /// Stop the runtime.
    GiveUp { restarts: u32 },
}

/// The restart history of one agent.
#[derive(Debug)]
pub(crate) struct Supervisor {
    pub(crate) policy: RestartPolicy,
    recent: VecDeque<Instant>,
    /// Panics since the agent last handled a frame without one: the backoff doubles with
    /// each, and starts over once the agent works again.
    consecutive: u32,
}

impl Supervisor {
    pub(crate) fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            recent: VecDeque::new(),
            consecutive: 0,
        }
    }

    /// The agent handled a frame without panicking.
    pub(crate) fn on_success(&mut self) {
        self.consecutive = 0;
    }

    /// Counts a panic at `now` and decides.
    pub(crate) fn on_panic(&mut self, now: Instant) -> Verdict {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.policy.window)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        let restarts = self.recent.len() as u32;
        if restarts > self.policy.max_restarts {
            return Verdict::GiveUp { restarts };
        }
        self.consecutive = self.consecutive.saturating_add(1);
        let doublings = (self.consecutive - 1).min(20);
        let backoff = self
            .policy
            .base_backoff
            .saturating_mul(1 << doublings)
            .min(self.policy.max_backoff);
        Verdict::Restart { restarts, backoff }
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_gives_up_past_the_limit() {
        let policy = RestartPolicy::default()
            .backoff(Duration::from_millis(10), Duration::from_millis(50))
            .max_restarts(4, Duration::from_secs(60));
        let mut supervisor = Supervisor::new(policy);
        let now = Instant::now();
        let backoffs: Vec<_> = (0..4)
            .map(|_| match supervisor.on_panic(now) {
                Verdict::Restart { backoff, .. } => backoff.as_millis(),
                Verdict::GiveUp { .. } => 0,
            })
            .collect();
        assert_eq!(backoffs, vec![10, 20, 40, 50]);
        assert_eq!(supervisor.on_panic(now), Verdict::GiveUp { restarts: 5 });
    }

    #[test]
    fn a_success_starts_the_backoff_over() {
        let policy =
            RestartPolicy::default().backoff(Duration::from_millis(10), Duration::from_secs(1));
        let mut supervisor = Supervisor::new(policy);
        let now = Instant::now();
        supervisor.on_panic(now);
        assert!(
            matches!(supervisor.on_panic(now), Verdict::Restart { backoff, .. } if backoff.as_millis() == 20)
        );
        supervisor.on_success();
        assert!(
            matches!(supervisor.on_panic(now), Verdict::Restart { restarts: 3, backoff } if backoff.as_millis() == 10)
        );
    }

    #[test]
    fn restarts_outside_the_window_are_forgotten() {
        let policy = RestartPolicy::default().max_restarts(1, Duration::from_millis(100));
        let mut supervisor = Supervisor::new(policy);
        let start = Instant::now();
        assert!(matches!(
            supervisor.on_panic(start),
            Verdict::Restart { restarts: 1, .. }
        ));
        let later = start + Duration::from_millis(500);
        assert!(matches!(
            supervisor.on_panic(later),
            Verdict::Restart { restarts: 1, .. }
        ));
    }
}
