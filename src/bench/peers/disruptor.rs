//! The disruptor crate: a single-producer ring read through its event poller, so the
//! consumer runs on our pinned thread rather than one the disruptor manages.

use disruptor::{
    BusySpin, EventPoller, Polling, Producer, RingBufferFull, SingleConsumerBarrier,
    SingleProducer, SingleProducerBarrier,
};

use super::{Message, Peer, Rx, Stall, Tx, CAPACITY};

/// The disruptor peer.
pub(crate) const PEER: Peer = Peer {
    name: "disruptor",
    ping_pong: |pins, config| super::ping_pong(pins, config, PEER.name, pair(), pair()),
    stream: |pins, frames| super::stream(pins, PEER.name, frames, pair()),
};

/// The producer and the poller of one ring.
type Ends = (
    SingleProducer<Message, SingleConsumerBarrier>,
    EventPoller<Message, SingleProducerBarrier>,
);

fn pair() -> Ends {
    let (poller, builder) =
        disruptor::build_single_producer(CAPACITY, || Message::new(0), BusySpin).new_event_poller();
    (builder.build(), poller)
}

impl Tx for SingleProducer<Message, SingleConsumerBarrier> {
    fn try_send(&mut self, message: Message) -> Result<(), Stall> {
        match Producer::try_publish(self, |slot| *slot = message) {
            Ok(_) => Ok(()),
            Err(RingBufferFull) => Err(Stall::Again),
        }
    }
}

impl Rx for EventPoller<Message, SingleProducerBarrier> {
    fn try_recv(&mut self) -> Result<Message, Stall> {
        match self.take(1) {
            Ok(mut events) => (&mut events).next().copied().ok_or(Stall::Again),
            Err(Polling::NoEvents) => Err(Stall::Again),
            Err(Polling::Shutdown) => Err(Stall::Closed),
        }
    }

    fn recv_batch(&mut self, each: &mut dyn FnMut(&Message)) -> Result<u64, Stall> {
        match self.poll() {
            Ok(mut events) => Ok((&mut events).map(each).count() as u64),
            Err(Polling::NoEvents) => Err(Stall::Again),
            Err(Polling::Shutdown) => Err(Stall::Closed),
        }
    }
}
