//! The log: a write-ahead segment log per topic partition, with recovery and replay.
//!
//! A durable topic appends every frame to its partition's log before consumers can see it;
//! after a restart the log gives the frames back, from an offset, from a time or from the
//! start. The byte layout is drawn in `docs/format.md` ("Log segments"); this text tells
//! how the pieces work together.
//!
//! # Layout
//!
//! One directory per partition (the runtime and the CLI name them `p0000`, `p0001`, ...
//! under the topic's directory). In it, segment files named by their base offset
//! (`00000000000000000000.seg`, 20 digits). Each segment starts with a 32-byte header
//! (magic number, format version, base offset, CRC); records follow back to back, each a
//! 24-byte header (length, CRC-32C, offset, timestamp in ns), the frame bytes, and zero
//! padding to 8 bytes, little-endian throughout. Since the header is 32 bytes and records
//! are padded, every frame starts on an 8-byte boundary of the file, and so of a map of
//! it: replay hands out frames borrowed from the map, readable in place by
//! [`FrameRef`](crate::frame::FrameRef).
//!
//! The sparse offset index (an entry every `index_interval` records) and the time index
//! live in memory and are rebuilt on open by reading every segment once; opening costs a
//! sequential read of the log, which also checks every record's CRC.
//!
//! # The pieces
//!
//! - [`PartitionLog`] (`partition.rs`): the single writer: append, append_batch, sync,
//!   maybe_sync, rotate, purge_to, apply_retention, close; the failure latch.
//! - [`LogHandle`] (`shared.rs`): the cloneable view for other threads: offsets,
//!   [`wait_durable`](LogHandle::wait_durable), readers.
//! - [`LogReader`] (`replay.rs`): replay and tailing.
//! - `recovery.rs`: the scan on open and the classification of damage.
//! - `record.rs`, `segment.rs`, `index.rs`: the codec, segment files, the indexes.
//! - [`Positions`] (`positions.rs`): durable consumer positions.
//! - [`LogFs`] (`fs.rs`): the file-system seam, with [`RealFs`] and the test backend
//!   [`MemFs`] (fault injection, crash images).
//! - [`LogSnapshot`] (`snapshot.rs`): a read-only view for tools.
//!
//! # Recovery
//!
//! On open every segment header is checked and every record decoded. Damage with a valid
//! record anywhere after it in its segment is corruption: opening fails with
//! [`LogError::Corrupt`] naming segment, offset and byte position, and no file is touched.
//! Damage at the very end of the last segment, with nothing valid after it, is a torn
//! tail, left by a crash during an append: [`RecoveryMode::TolerateTornTail`] cuts it
//! before any append (with a warning naming segment and position, and the bytes dropped in
//! the [`RecoveryReport`]); [`RecoveryMode::Strict`] refuses it. A sealed segment that ends
//! inside a record fails with [`LogError::SegmentCut`] and the lost offset range.
//!
//! # What is assumed about the disk
//!
//! Written bytes survive a crash only after `fdatasync`; new names only after an `fsync`
//! of the directory; a crash keeps a prefix of the unsynced bytes of a file (maybe with
//! garbage after it); a failed `fsync` may have lost dirty pages for good. Nobody else
//! writes to or truncates the segments while a log or reader has them open.
//!
//! # Sync policy and durability
//!
//! [`SyncPolicy`] says when appends are synced: `Never` (only explicit syncs, closes and
//! segment rolls), `Interval` (group commit: one sync for everything appended since the
//! last one, at the first append or [`PartitionLog::maybe_sync`] after the interval; the
//! owning thread wakes at [`PartitionLog::next_sync_at`]), or `Always` (before each
//! append returns). [`PartitionLog::durable_offset`] says how far records are durable,
//! and [`LogHandle::wait_durable`] blocks a publisher until its offset is: appending, then
//! waiting on the handle, is how a durable topic offers a durable publish. Rolling a
//! segment always syncs the sealed one and the directory.
//!
//! # The failure latch
//!
//! After a failed write or sync the log is poisoned: every append, batch, sync and rotate
//! returns [`LogError::Poisoned`] naming the first failure, and durability waiters are
//! woken with it. The log never retries an `fsync`; reopening runs recovery on what the
//! disk kept.
//!
//! # Examples
//!
//! ```
//! use std::time::{Duration, Instant};
//! use agentlane::log::{LogConfig, PartitionLog, SyncPolicy};
//!
//! let dir = tempfile::tempdir()?;
//! let config = LogConfig::default().sync(SyncPolicy::Interval(Duration::from_millis(1)));
//! let (mut log, _report) = PartitionLog::open(dir.path(), config)?;
//! let handle = log.handle();
//!
//! let offset = log.append(1, b"an order")?;
//! log.sync()?; // or: the owner's loop calls `maybe_sync` at `next_sync_at`
//! handle.wait_durable(offset, Instant::now() + Duration::from_secs(1))?;
//!
//! let mut reader = handle.reader_from(0)?;
//! assert_eq!(reader.next().expect("a record")?.frame, b"an order");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod error;
pub mod fs;
mod index;
mod partition;
mod positions;
mod record;
mod recovery;
mod replay;
mod segment;
mod shared;
mod snapshot;

pub use config::{LogConfig, RecoveryMode, SyncPolicy};
pub use error::{Damage, IoOp, LogError, PoisonCause};
pub use fs::{Crash, Fault, FileBytes, LogFile, LogFs, MemFs, RealFs};
pub use partition::{largest_fitting_frame, OffsetRange, PartitionLog};
pub use positions::{Positions, POSITIONS_FILE, POSITIONS_MAGIC};
pub use record::{
    record_size, Record, FORMAT_VERSION, MAX_RECORD_LIMIT, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
    SEGMENT_MAGIC,
};
pub use recovery::{RecoveryReport, TornTail};
pub use replay::LogReader;
pub use segment::{parse_segment_name, segment_file_name, SegmentInfo, SEGMENT_SUFFIX};
pub use shared::LogHandle;
pub use snapshot::LogSnapshot;

/// The directory name of partition `partition` under a topic directory: `p` and 4 digits.
pub fn partition_dir_name(partition: u32) -> String {
    format!("p{partition:04}")
}

/// The partition number a directory name gives (`p0003` is 3), or `None`.
pub fn parse_partition_dir_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix('p')?;
    let ok = digits.len() >= 4 && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| digits.parse().ok()).flatten()
}
