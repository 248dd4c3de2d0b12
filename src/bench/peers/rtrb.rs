//! rtrb's wait-free single-producer, single-consumer ring buffer.

use rtrb::{Consumer, Producer, RingBuffer};

use super::{Message, Peer, Rx, Stall, Tx, CAPACITY};

/// The rtrb peer.
pub(crate) const PEER: Peer = Peer {
    name: "rtrb",
    ping_pong: |pins, config| super::ping_pong(pins, config, PEER.name, pair(), pair()),
    stream: |pins, frames| super::stream(pins, PEER.name, frames, pair()),
};

fn pair() -> (Producer<Message>, Consumer<Message>) {
    RingBuffer::new(CAPACITY)
}

impl Tx for Producer<Message> {
    fn try_send(&mut self, message: Message) -> Result<(), Stall> {
        match self.push(message) {
            Ok(()) => Ok(()),
            Err(_) if self.is_abandoned() => Err(Stall::Closed),
            Err(_) => Err(Stall::Again),
        }
    }
}

impl Rx for Consumer<Message> {
    fn try_recv(&mut self) -> Result<Message, Stall> {
        match self.pop() {
            Ok(message) => Ok(message),
            Err(_) if self.is_abandoned() && self.is_empty() => Err(Stall::Closed),
            Err(_) => Err(Stall::Again),
        }
    }
}
