//! The standard library's `std::sync::mpsc::sync_channel`.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};

use super::{Message, Peer, Rx, Stall, Tx, CAPACITY};

/// The std peer.
pub(crate) const PEER: Peer = Peer {
    name: "std sync_channel",
    ping_pong: |pins, config| super::ping_pong(pins, config, PEER.name, pair(), pair()),
    stream: |pins, frames| super::stream(pins, PEER.name, frames, pair()),
};

fn pair() -> (SyncSender<Message>, Receiver<Message>) {
    std::sync::mpsc::sync_channel(CAPACITY)
}

impl Tx for SyncSender<Message> {
    fn try_send(&mut self, message: Message) -> Result<(), Stall> {
        SyncSender::try_send(self, message).map_err(|e| match e {
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
