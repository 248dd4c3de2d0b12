//! The `Agent` trait, what it returns for each frame, and the delivery it is handed.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::frame::{FrameError, FrameRef};
use crate::runtime::clock::deadline_in;
use crate::runtime::defer::{AckHandle, DeferTable};
use crate::runtime::Context;

/// User logic with state, run on its own thread (or sharing one, see `Placement`).
///
/// The runtime calls [`on_frame`](Agent::on_frame) once per delivered frame, in offset order
/// within each partition, never concurrently. An agent that produces frames on its own
/// (reading a file, a socket, a sensor) does so from [`on_poll`](Agent::on_poll).
///
/// Agents are built by a factory (`Fn() -> A`) so the runtime can rebuild one on the same
/// placement after a panic.
///
/// # Examples
///
/// ```
/// use agentlane::{Agent, Context, Delivery, Outcome};
///
/// struct Counter(u64);
///
/// impl Agent for Counter {
///     fn on_frame(&mut self, _frame: &Delivery<'_>, _ctx: &mut Context<'_>) -> Outcome {
///         self.0 += 1;
///         Outcome::Ack
///     }
/// }
/// ```
pub trait Agent: Send + 'static {
    /// Handles one frame, read in place, and says what became of it.
    fn on_frame(&mut self, frame: &Delivery<'_>, ctx: &mut Context<'_>) -> Outcome;

    /// Gives a source agent a chance to publish. Called whenever the agent's thread looks
    /// for work, and never once the runtime has started shutting down (intake is stopped).
    fn on_poll(&mut self, _ctx: &mut Context<'_>) -> Work {
        Work::Finished
    }

    /// Called once on the agent's thread before the first frame.
    fn on_start(&mut self, _ctx: &mut Context<'_>) {}

    /// Called once on the agent's thread after the last frame.
    fn on_stop(&mut self, _ctx: &mut Context<'_>) {}
}

/// What a source agent's `on_poll` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// It published something and wants to be polled again soon.
    Busy,
    /// It had nothing to do this time; poll again after the thread idles.
    Idle,
    /// It will never publish again from `on_poll`; stop polling it.
    Finished,
}

/// What an agent decided about one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Done: the frame's credit goes back to the publisher.
    Ack,
    /// Deliver this frame again after `after`, before any later frame of its partition
    /// (head-of-line, so a key is never reordered). After the subscription's `max_deliver`
    /// deliveries the frame is dead-lettered instead.
    Retry {
        /// How long to wait before the next delivery.
        after: Duration,
    },
    /// Send the frame straight to the dead-letter topic with this reason.
    Reject {
        /// Why the frame was rejected, recorded in the dead letter.
        reason: Cow<'static, str>,
    },
    /// Keep the frame in flight and settle it later through the [`AckHandle`] taken with
    /// [`Delivery::ack_handle`]. If no ack comes within the subscription's ack deadline,
    /// the frame is delivered again (its attempt counted), possibly after later frames of
    /// its partition; the late ack is then refused as stale.
    Defer,
}

impl Outcome {
    /// A rejection with a fixed reason.
    pub fn reject(reason: &'static str) -> Self {
        Outcome::Reject {
            reason: Cow::Borrowed(reason),
        }
    }
}

/// One delivery of a frame to an agent: the frame, read in place, and its attempt number.
///
/// The frame's bytes live in the partition ring's slot; nothing was copied to hand them
/// over, and nothing can overwrite them until the agent's outcome releases the credit.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub(crate) frame: FrameRef<'a>,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
    pub(crate) attempt: u32,
    pub(crate) defer: &'a Arc<DeferTable>,
    pub(crate) ack_deadline: Duration,
}

impl<'a> Delivery<'a> {
    /// The frame, read in place.
    pub fn frame(&self) -> &FrameRef<'a> {
        &self.frame
    }

    /// The partition the frame was published to.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// The frame's offset in its partition.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Which delivery of this frame this is, counting from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// A handle that settles this delivery later, from any thread. Return
    /// `Outcome::Defer` after taking it; the ack deadline starts now.
    pub fn ack_handle(&self) -> AckHandle {
        let deadline = deadline_in(self.ack_deadline);
        self.defer.register(self.offset, self.attempt, deadline);
        AckHandle {
            table: self.defer.clone(),
            offset: self.offset,
            attempt: self.attempt,
        }
    }

    /// The frame's key.
    ///
    /// # Errors
    ///
    /// Returns the decode error when the envelope's key pointer is malformed.
    pub fn key(&self) -> Result<&[u8], FrameError> {
        self.frame.key()
    }

    /// The payload read as the Cap'n Proto struct `T`.
    ///
    /// # Errors
    ///
    /// Returns the decode error when the payload is not a valid `T`.
    pub fn payload<T: capnp::traits::Owned>(&self) -> Result<T::Reader<'_>, FrameError> {
        self.frame.payload::<T>()
    }
}
