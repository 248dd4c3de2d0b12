//! How a log is configured: segment size and age, index density, retention, sync policy,
//! recovery mode and the record size limit.

use std::time::Duration;

use super::error::LogError;
use super::record::{MAX_RECORD_LIMIT, SEGMENT_HEADER_LEN};

/// When appended records are forced to disk.
///
/// # Durability
///
/// A record counts as durable only after a sync that covered it returned; see
/// [`PartitionLog::durable_offset`](super::PartitionLog::durable_offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Only [`sync`](super::PartitionLog::sync), [`close`](super::PartitionLog::close) and
    /// segment rolls sync; records live in the page cache until then.
    #[default]
    Never,
    /// Group commit: the first append (or [`maybe_sync`](super::PartitionLog::maybe_sync))
    /// at least this long after the last sync syncs everything appended since.
    Interval(Duration),
    /// Every append and every batch syncs before it returns.
    Always,
}

/// What opening a log does with damage at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Cut an incomplete or bad last record (and what follows it in the last segment),
    /// with a warning and a report of the bytes dropped. Damage with good records after it
    /// still refuses to open.
    #[default]
    TolerateTornTail,
    /// Refuse to open on any damage, torn tails included.
    Strict,
}

/// The configuration of one partition log.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use agentlane::log::{LogConfig, SyncPolicy};
///
/// let config = LogConfig::default()
///     .segment_bytes(64 << 10)
///     .sync(SyncPolicy::Interval(Duration::from_millis(2)));
/// assert_eq!(config.segment_bytes, 64 << 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Most bytes in one segment, header included (default 64 MiB); see the oversized-record
    /// rule in `docs/format.md`.
    pub segment_bytes: u64,
    /// Roll the active segment when a record's timestamp is this much later than the
    /// segment's first record (default: none).
    pub segment_age: Option<Duration>,
    /// Records between two sparse index entries (default 64).
    pub index_interval: u32,
    /// Keep at most about this many bytes, removing whole sealed segments (default: none).
    pub retention_bytes: Option<u64>,
    /// Remove sealed segments whose newest record is older than this (default: none).
    pub retention_age: Option<Duration>,
    /// When appends are forced to disk (default [`SyncPolicy::Never`]).
    pub sync: SyncPolicy,
    /// What opening does with a torn tail (default [`RecoveryMode::TolerateTornTail`]).
    pub recovery: RecoveryMode,
    /// Largest frame an append accepts, in bytes (default 1 MiB, at most 1 GiB).
    pub max_record_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 64 << 20,
            segment_age: None,
            index_interval: 64,
            retention_bytes: None,
            retention_age: None,
            sync: SyncPolicy::Never,
            recovery: RecoveryMode::TolerateTornTail,
            max_record_bytes: 1 << 20,
        }
    }
}

impl LogConfig {
    /// Sets [`segment_bytes`](Self::segment_bytes).
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Sets [`segment_age`](Self::segment_age).
    pub fn segment_age(mut self, age: Option<Duration>) -> Self {
        self.segment_age = age;
        self
    }

    /// Sets [`index_interval`](Self::index_interval).
    pub fn index_interval(mut self, records: u32) -> Self {
        self.index_interval = records;
        self
    }

    /// Sets [`retention_bytes`](Self::retention_bytes).
    pub fn retention_bytes(mut self, bytes: Option<u64>) -> Self {
        self.retention_bytes = bytes;
        self
    }

    /// Sets [`retention_age`](Self::retention_age).
    pub fn retention_age(mut self, age: Option<Duration>) -> Self {
        self.retention_age = age;
        self
    }

    /// Sets [`sync`](Self::sync).
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// Sets [`recovery`](Self::recovery).
    pub fn recovery(mut self, mode: RecoveryMode) -> Self {
        self.recovery = mode;
        self
    }

    /// Sets [`max_record_bytes`](Self::max_record_bytes).
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// Checks that the values are usable.
    ///
    /// # Errors
    ///
    /// [`LogError::Config`] naming the first bad value.
    pub fn validate(&self) -> Result<(), LogError> {
        let reason = if self.segment_bytes <= SEGMENT_HEADER_LEN {
            "segment_bytes must exceed the 32-byte segment header"
        } else if self.index_interval == 0 {
            "index_interval must be at least 1"
        } else if self.max_record_bytes > MAX_RECORD_LIMIT {
            "max_record_bytes is over the format limit of 1 GiB"
        } else if self.sync == SyncPolicy::Interval(Duration::ZERO) {
            "a sync interval must be longer than zero (use SyncPolicy::Always)"
        } else {
            return Ok(());
        };
        Err(LogError::Config { reason })
    }
}
