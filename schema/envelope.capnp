# The frame envelope: the root struct of every frame agentlane carries.
#
# The same encoded bytes are the lane payload, the log record body and the NATS message
# body. The fixed-width fields (partition, offset, publishTimeNs, attempt) sit in the data
# section at byte offsets that `frame::patch` edits in place; docs/format.md lists them.
# Only add fields at the end: never renumber, retype or remove one.

@0xbb43d9b26155db39;

struct Envelope {
  topic @0 :Text;
  # Name of the topic the frame was published to.

  partition @1 :UInt32;
  # Partition of the topic: key_hash(key) % partition count, set at publish.

  offset @2 :UInt64;
  # Position of the frame in its partition, dense from 0, assigned at publish.

  key @3 :Data;
  # Partitioning key; frames with equal keys go to the same partition.

  publishTimeNs @4 :UInt64;
  # Publish time in nanoseconds since the Unix epoch (the recorded time during replay).

  attempt @5 :UInt32;
  # Delivery attempt: 0 before the first delivery, raised by one per delivery.

  headers @6 :List(Header);
  # Optional name/value metadata; names are not required to be unique (first one wins).

  payload @7 :AnyPointer;
  # The user message, any Cap'n Proto struct (a sentiment Post, for example).
}

struct Header {
  name @0 :Text;
  # Header name, compared byte for byte.

  value @1 :Data;
  # Header value, opaque bytes.
}

struct DeadLetter {
  # Payload of a frame on a dead-letter topic: what failed, where, and why.

  topic @0 :Text;
  # Topic the failed frame came from.

  partition @1 :UInt32;
  # Partition the failed frame came from.

  offset @2 :UInt64;
  # Offset of the failed frame in its partition.

  key @3 :Data;
  # Key of the failed frame (empty when the frame could not be decoded).

  attempts @4 :UInt32;
  # Deliveries made before the frame was dead-lettered.

  reason @5 :Reason;
  # Why the frame was dead-lettered.

  detail @6 :Text;
  # Human-readable detail: the reject reason or the decode error.

  frame @7 :Data;
  # The failed frame's bytes, unchanged.

  enum Reason {
    rejected @0;
    # The agent returned `Reject`.

    decode @1;
    # The frame could not be decoded.

    maxDeliveries @2;
    # The frame was delivered `max_deliver` times without an ack.
  }
}
