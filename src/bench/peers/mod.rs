//! The peers: other crates' bounded single-producer queues, measured the same way.
//!
//! Each peer is a pair of endpoints behind [`Tx`] and [`Rx`]. Both sides spin on the
//! non-blocking calls (`try_send`, `try_recv`, or the crate's own), with the same spin hint
//! agentlane's `BusySpin` uses, so every contender waits the same way. Every peer carries a
//! [`Message`] as large as agentlane's benchmark frame, and holds 1,024 messages, as the
//! agentlane lanes hold 1,024 credits.

mod crossbeam;
mod disruptor;
mod flume;
mod rtrb;
mod std;
mod tokio;

use ::std::time::Instant;

use super::measure::{LatencySeries, Recorder, StreamMeasure, Window};
use super::{pin, BenchConfig, BenchError, Pins};

/// Bytes in one message: the length of agentlane's benchmark frame (checked there).
pub(crate) const MESSAGE_BYTES: usize = 120;

/// Messages a peer's queue holds.
pub(crate) const CAPACITY: usize = 1024;

/// One message: a sequence number and filler up to [`MESSAGE_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(8))]
pub(crate) struct Message {
    pub(crate) seq: u64,
    body: [u64; MESSAGE_BYTES / 8 - 1],
}

impl Message {
    /// Message number `seq`.
    pub(crate) fn new(seq: u64) -> Self {
        Self {
            seq,
            body: [seq; MESSAGE_BYTES / 8 - 1],
        }
    }
}

/// Why a non-blocking call did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stall {
    /// Full (sending) or empty (receiving): try again.
    Again,
    /// The other side is gone.
    Closed,
}

/// The sending end of a peer.
pub(crate) trait Tx: Send {
    /// Sends without waiting.
    fn try_send(&mut self, message: Message) -> Result<(), Stall>;
}

/// The receiving end of a peer.
pub(crate) trait Rx: Send {
    /// Receives without waiting.
    fn try_recv(&mut self) -> Result<Message, Stall>;

    /// Hands every message waiting now to `each`; returns how many. A queue that reads in
    /// batches overrides it.
    fn recv_batch(&mut self, each: &mut dyn FnMut(&Message)) -> Result<u64, Stall> {
        let mut n = 0;
        loop {
            match self.try_recv() {
                Ok(message) => {
                    each(&message);
                    n += 1;
                }
                Err(_) if n > 0 => return Ok(n),
                Err(stall) => return Err(stall),
            }
        }
    }
}

/// A peer: its name and its two measurements.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) name: &'static str,
    pub(crate) ping_pong: fn(Pins, &BenchConfig) -> Result<LatencySeries, BenchError>,
    pub(crate) stream: fn(Pins, u64) -> Result<StreamMeasure, BenchError>,
}

/// Every peer, in report order.
pub(crate) const ALL: &[Peer] = &[
    crossbeam::PEER,
    flume::PEER,
    tokio::PEER,
    std::PEER,
    rtrb::PEER,
    disruptor::PEER,
];

/// Ping-pong over two queues: `ping` carries messages out, `pong` carries them back.
pub(crate) fn ping_pong<T1: Tx, R1: Rx, T2: Tx, R2: Rx>(
    pins: Pins,
    config: &BenchConfig,
    name: &'static str,
    ping: (T1, R1),
    pong: (T2, R2),
) -> Result<LatencySeries, BenchError> {
    let total = config.warmup + config.round_trips;
    let ((mut ping_tx, mut ping_rx), (mut pong_tx, mut pong_rx)) = (ping, pong);

    let (pinged, answered) = pin::pair(
        pins,
        name,
        move || pinger(name, &mut ping_tx, &mut pong_rx, total, config.warmup),
        move || answerer(name, &mut ping_rx, &mut pong_tx, total),
    )?;

    answered?;
    Ok(pinged?.finish(name))
}

/// Sends message `i`, waits for it to come back, records the round trip.
fn pinger(
    name: &'static str,
    tx: &mut impl Tx,
    rx: &mut impl Rx,
    total: u64,
    warmup: u64,
) -> Result<Recorder, BenchError> {
    let mut recorder = Recorder::new(warmup);
    for i in 0..total {
        let sent = Instant::now();
        send(name, tx, Message::new(i))?;
        let back = recv(name, rx)?;
        check(name, back.seq, i)?;
        recorder.record(sent);
    }
    Ok(recorder)
}

/// Answers each message with itself.
fn answerer(
    name: &'static str,
    rx: &mut impl Rx,
    tx: &mut impl Tx,
    total: u64,
) -> Result<(), BenchError> {
    for i in 0..total {
        let message = recv(name, rx)?;
        check(name, message.seq, i)?;
        send(name, tx, message)?;
    }
    Ok(())
}

/// Streams `frames` messages from a producer to a consumer that checks each one.
pub(crate) fn stream<T: Tx, R: Rx>(
    pins: Pins,
    name: &'static str,
    frames: u64,
    (mut tx, mut rx): (T, R),
) -> Result<StreamMeasure, BenchError> {
    let (window, end) = pin::pair(
        pins,
        name,
        move || produce(name, &mut tx, frames),
        move || consume(name, &mut rx, frames),
    )?;
    Ok(window?.measure(end?, name, frames))
}

fn produce(name: &'static str, tx: &mut impl Tx, frames: u64) -> Result<Window, BenchError> {
    let window = Window::open();
    for i in 0..frames {
        send(name, tx, Message::new(i))?;
    }
    Ok(window)
}

fn consume(
    name: &'static str,
    rx: &mut impl Rx,
    frames: u64,
) -> Result<super::measure::WindowEnd, BenchError> {
    let mut next = 0;
    let mut wrong = None;
    while next < frames {
        let mut each = |message: &Message| {
            if message.seq != next && wrong.is_none() {
                wrong = Some((message.seq, next));
            }
            next += 1;
        };
        match rx.recv_batch(&mut each) {
            Ok(_) => {}
            Err(Stall::Again) => ::std::hint::spin_loop(),
            Err(Stall::Closed) => return Err(closed(name)),
        }
        if let Some((seen, expected)) = wrong {
            return Err(wrong_seq(name, seen, expected));
        }
    }
    Ok(Window::close())
}

/// Sends, spinning while the queue is full.
#[inline]
fn send(name: &'static str, tx: &mut impl Tx, message: Message) -> Result<(), BenchError> {
    loop {
        match tx.try_send(message) {
            Ok(()) => return Ok(()),
            Err(Stall::Again) => ::std::hint::spin_loop(),
            Err(Stall::Closed) => return Err(closed(name)),
        }
    }
}

/// Receives, spinning while the queue is empty.
#[inline]
fn recv(name: &'static str, rx: &mut impl Rx) -> Result<Message, BenchError> {
    loop {
        match rx.try_recv() {
            Ok(message) => return Ok(message),
            Err(Stall::Again) => ::std::hint::spin_loop(),
            Err(Stall::Closed) => return Err(closed(name)),
        }
    }
}

fn check(name: &'static str, seen: u64, expected: u64) -> Result<(), BenchError> {
    if seen == expected {
        Ok(())
    } else {
        Err(wrong_seq(name, seen, expected))
    }
}

fn wrong_seq(name: &'static str, seen: u64, expected: u64) -> BenchError {
    let detail = format!("received message {seen}, expected {expected}");
    BenchError::WrongResult {
        contender: name,
        detail,
    }
}

fn closed(name: &'static str) -> BenchError {
    let detail = "the other side closed mid-run".to_owned();
    BenchError::Failed {
        contender: name,
        detail,
    }
}
