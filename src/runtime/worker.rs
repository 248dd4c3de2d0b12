//! An agent thread: pins itself, runs its members round-robin, idles when none has work,
//! and stops when the runtime says so.
//!
//! Shutdown order, as seen from a thread:
//!
//! 1. `intake_open` turns false: the thread stops polling source agents and says so by
//!    adding one to `threads_draining`. It keeps delivering frames, so whatever is in
//!    flight drains through the graph.
//! 2. `stop` turns true (once every topic is settled, or the deadline passed): the thread
//!    finishes its round, runs each member's `on_stop`, and exits.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::frame::FrameEncoder;
use crate::runtime::idle::Idler;
use crate::runtime::member::Member;
use crate::runtime::placement::IdleStrategy;
use crate::runtime::shared::Shared;

/// Everything one agent thread runs.
#[derive(Debug)]
pub(crate) struct Worker {
    /// A name for the thread (`agentlane:<agent>` or `agentlane:group:<group>`).
    pub(crate) name: String,
    /// The core to pin to, if any.
    pub(crate) core: Option<core_affinity::CoreId>,
    pub(crate) idle: IdleStrategy,
    pub(crate) members: Vec<Member>,
    pub(crate) idler_doorbell: Arc<event_listener::Event>,
}

impl Worker {
    /// Starts the thread.
    pub(crate) fn spawn(self, shared: Arc<Shared>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(self.name.clone())
            .spawn(move || self.run(&shared))
    }

    fn run(mut self, shared: &Shared) {
        // Pin first, so every allocation the agents make at start is on the right node.
        if let Some(core) = self.core {
            if !core_affinity::set_for_current(core) {
                tracing::error!(thread = %self.name, core = core.id, "could not pin thread to core");
            }
        }
        let idler = Idler::new(self.idle, self.idler_doorbell.clone());
        let mut encoder = FrameEncoder::with_max_size(shared.max_frame_size);
        for member in &mut self.members {
            member.start(shared, &mut encoder);
        }
        tracing::debug!(thread = %self.name, agents = self.members.len(), "agent thread started");

        let mut draining = false;
        while !shared.stop.load(Ordering::Acquire) {
            // Notice the start of shutdown once.
            if !draining && !shared.intake_open.load(Ordering::Acquire) {
                draining = true;
                shared.threads_draining.fetch_add(1, Ordering::AcqRel);
            }

            let mut worked = false;
            for member in &mut self.members {
                worked |= member.step(shared, &mut encoder, draining);
            }
            if worked {
                idler.reset();
            } else {
                self.members.iter_mut().for_each(Member::on_idle);
                idler.idle(|| {
                    self.members
                        .iter_mut()
                        .fold(false, |work, m| m.arm() || work)
                });
            }
        }

        for member in &mut self.members {
            member.stop(shared, &mut encoder);
        }

        // Hold the lanes until the final positions are stored (see `Runtime::shutdown`).
        while !shared.positions_saved.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        tracing::debug!(thread = %self.name, "agent thread stopped");
    }
}
