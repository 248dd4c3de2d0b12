//! flume's bounded channel.

use flume::{Receiver, Sender, TryRecvError, TrySendError};

use super::{Message, Peer, Rx, Stall, Tx, CAPACITY};

/// The flume peer.
pub(crate) const PEER: Peer = Peer {
    name: "flume",
    ping_pong: |pins, config| super::ping_pong(pins, config, PEER.name, pair(), pair()),
    stream: |pins, frames| super::stream(pins, PEER.name, frames, pair()),
};

fn pair() -> (Sender<Message>, Receiver<Message>) {
    flume::bounded(CAPACITY)
}

impl Tx for Sender<Message> {
    fn try_send(&mut self, message: Message) -> Result<(), Stall> {
        Sender::try_send(self, message).map_err(|e| match e {
            TrySendError::Full(_) => Stall::Again,
            TrySendError::Disconnected(_) => Stall::Closed,
        })
    }
}

impl Rx for Receiver<Message> {
    fn try_recv(&mut self) -> Result<Message, Stall> {
        Receiver::try_recv(self).map_err(|e| match e {
            TryRecvError::Empty => Stall::Again,
            TryRecvError::Disconnected => Stall::Closed,
        })
    }
}
