//! [`LogSnapshot`]: a read-only view of a log directory, for inspection tools.

use std::path::Path;
use std::sync::Arc;

use super::error::{IoOp, LogError};
use super::fs::{LogFs, RealFs};
use super::recovery::{self, RecoveryReport};
use super::shared::{LogHandle, Shared};

/// A read-only view of a partition directory: the valid records as recovery would keep
/// them, without changing any file (a torn tail is reported, not cut).
///
/// Do not open a snapshot of a directory a [`PartitionLog`](super::PartitionLog) is
/// writing: the snapshot sees the records that were there when it was taken.
#[derive(Debug, Clone)]
pub struct LogSnapshot {
    handle: LogHandle,
}

impl LogSnapshot {
    /// Reads the log in `dir` on the real file system.
    ///
    /// # Errors
    ///
    /// See [`open_with`](Self::open_with).
    pub fn open(dir: impl AsRef<Path>) -> Result<(LogSnapshot, RecoveryReport), LogError> {
        LogSnapshot::open_with(RealFs::shared(), dir, 64)
    }

    /// Reads the log in `dir` on `fs`, with an index entry every `index_interval` records.
    ///
    /// # Errors
    ///
    /// The damage errors of [`PartitionLog::open`](super::PartitionLog::open) (never
    /// [`LogError::TornTail`]: the report names it instead), and [`LogError::Io`].
    pub fn open_with(
        fs: Arc<dyn LogFs>,
        dir: impl AsRef<Path>,
        index_interval: u32,
    ) -> Result<(LogSnapshot, RecoveryReport), LogError> {
        let dir = dir.as_ref();
        fs.list(dir).map_err(|e| LogError::io(IoOp::List, dir, e))?;
        let scan = recovery::scan(&*fs, dir, index_interval.max(1))?;
        let report = scan.report();
        let next = scan.next_offset();
        let shared = Arc::new(Shared::new(dir, scan.segments, next, true));
        Ok((
            LogSnapshot {
                handle: LogHandle { shared },
            },
            report,
        ))
    }

    /// The handle: offsets, segment summaries and readers.
    pub fn handle(&self) -> &LogHandle {
        &self.handle
    }
}
