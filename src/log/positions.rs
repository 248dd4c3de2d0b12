//! Durable consumer positions: where each subscription resumes on each partition.
//!
//! A **position** is the next offset to deliver: the last acknowledged offset plus one
//! (0 when nothing was acknowledged). Resuming from a stored position redelivers nothing
//! that was acknowledged before the store and skips nothing that was not (at-least-once:
//! frames acknowledged after the last store are delivered again).
//!
//! The whole table is one small file, replaced atomically on every store: written to
//! `positions.tmp`, synced, renamed over `positions`, and the directory synced. A reader
//! sees the old table or the new one, never a mix; a CRC-32C guards against damage. The
//! byte layout is in `docs/format.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::debug;

use super::error::{IoOp, LogError};
use super::fs::{LogFs, RealFs};
use super::segment::write_all;

/// The magic number that opens a positions file.
pub const POSITIONS_MAGIC: [u8; 8] = *b"AGLNPOS\0";

/// The file name of the positions table.
pub const POSITIONS_FILE: &str = "positions";

const TEMP_FILE: &str = "positions.tmp";
const VERSION: u16 = 1;
const MAX_NAME: usize = 1024;

/// The durable positions of every (subscription, partition) kept in one directory.
///
/// # Examples
///
/// ```
/// use agentlane::log::Positions;
///
/// let dir = tempfile::tempdir()?;
/// let mut positions = Positions::open(dir.path())?;
/// positions.store("scorers", 0, 42)?; // offsets 0..=41 were acknowledged
/// drop(positions);
///
/// let positions = Positions::open(dir.path())?;
/// assert_eq!(positions.get("scorers", 0), Some(42));
/// assert_eq!(positions.get("scorers", 1), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Positions {
    fs: Arc<dyn LogFs>,
    dir: PathBuf,
    table: BTreeMap<(String, u32), u64>,
}

impl Positions {
    /// Opens the positions kept in `dir` on the real file system (none yet is fine).
    ///
    /// # Errors
    ///
    /// See [`open_with`](Self::open_with).
    pub fn open(dir: impl AsRef<Path>) -> Result<Positions, LogError> {
        Positions::open_with(RealFs::shared(), dir)
    }

    /// Opens the positions kept in `dir` on `fs`.
    ///
    /// # Errors
    ///
    /// [`LogError::BadPositions`] when the file is damaged; [`LogError::Io`] when it cannot
    /// be read.
    pub fn open_with(fs: Arc<dyn LogFs>, dir: impl AsRef<Path>) -> Result<Positions, LogError> {
        let dir = dir.as_ref().to_owned();
        fs.create_dir_all(&dir)
            .map_err(|e| LogError::io(IoOp::Create, &dir, e))?;
        let path = dir.join(POSITIONS_FILE);
        let table = match fs.open(&path) {
            Ok(file) => {
                let len = file.len().map_err(|e| LogError::io(IoOp::Read, &path, e))?;
                let bytes = file
                    .map(len)
                    .map_err(|e| LogError::io(IoOp::Read, &path, e))?;
                decode(bytes.as_bytes())
                    .map_err(|reason| LogError::BadPositions { path, reason })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(LogError::io(IoOp::Open, &path, e)),
        };
        Ok(Positions { fs, dir, table })
    }

    /// Reads the positions file at `path` without creating or changing anything, for
    /// inspection tools: every stored `(subscription, partition, position)`, sorted.
    ///
    /// # Errors
    ///
    /// [`LogError::BadPositions`] when the file does not decode (an empty or cut file
    /// included); [`LogError::Io`] when it cannot be read (a missing file included).
    pub fn read_file(path: impl AsRef<Path>) -> Result<Vec<(String, u32, u64)>, LogError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| LogError::io(IoOp::Read, path, e))?;
        let table = decode(&bytes).map_err(|reason| LogError::BadPositions {
            path: path.to_owned(),
            reason,
        })?;
        let entries = table.into_iter();
        Ok(entries
            .map(|((name, partition), at)| (name, partition, at))
            .collect())
    }

    /// The stored position of `subscription` on `partition`: the next offset to deliver.
    pub fn get(&self, subscription: &str, partition: u32) -> Option<u64> {
        self.table
            .get(&(subscription.to_owned(), partition))
            .copied()
    }

    /// Every stored position, sorted by subscription and partition.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32, u64)> + '_ {
        self.table
            .iter()
            .map(|((name, partition), &position)| (name.as_str(), *partition, position))
    }

    /// Stores one position durably.
    ///
    /// # Errors
    ///
    /// As [`store_all`](Self::store_all).
    ///
    /// # Durability
    ///
    /// As [`store_all`](Self::store_all).
    pub fn store(
        &mut self,
        subscription: &str,
        partition: u32,
        position: u64,
    ) -> Result<(), LogError> {
        self.store_all([(subscription, partition, position)])
    }

    /// Stores several positions in one atomic replacement of the file.
    ///
    /// # Errors
    ///
    /// [`LogError::Config`] for a subscription name over 1024 bytes; [`LogError::Io`] when
    /// the write, sync or rename fails (the previous table stays in force on disk, and in
    /// memory).
    ///
    /// # Durability
    ///
    /// On `Ok`, the new table survives a crash; on an error, either table may.
    pub fn store_all<'a>(
        &mut self,
        positions: impl IntoIterator<Item = (&'a str, u32, u64)>,
    ) -> Result<(), LogError> {
        let mut table = self.table.clone();
        for (name, partition, position) in positions {
            if name.len() > MAX_NAME {
                return Err(LogError::Config {
                    reason: "subscription name over 1024 bytes",
                });
            }
            table.insert((name.to_owned(), partition), position);
        }
        self.replace(&encode(&table))?;
        self.table = table;
        Ok(())
    }

    /// Writes the new file beside the old one and swaps them.
    fn replace(&self, bytes: &[u8]) -> Result<(), LogError> {
        let temp = self.dir.join(TEMP_FILE);
        let path = self.dir.join(POSITIONS_FILE);
        let file = self
            .fs
            .create(&temp)
            .map_err(|e| LogError::io(IoOp::Create, &temp, e))?;
        write_all(&*file, bytes).map_err(|e| LogError::io(IoOp::Write, &temp, e))?;
        file.sync()
            .map_err(|e| LogError::io(IoOp::Sync, &temp, e))?;

        // The rename is the commit point; the directory sync makes it durable.
        self.fs
            .rename(&temp, &path)
            .map_err(|e| LogError::io(IoOp::Rename, &path, e))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| LogError::io(IoOp::Sync, &self.dir, e))?;
        debug!(path = %path.display(), entries = self.table.len(), "stored consumer positions");
        Ok(())
    }
}

fn encode(table: &BTreeMap<(String, u32), u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + table.len() * 32);
    out.extend_from_slice(&POSITIONS_MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(table.len() as u32).to_le_bytes());
    for ((name, partition), position) in table {
        out.extend_from_slice(&partition.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&position.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> Result<BTreeMap<(String, u32), u64>, &'static str> {
    if bytes.len() < 20 {
        return Err("shorter than its header");
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err("checksum mismatch");
    }
    if body[0..8] != POSITIONS_MAGIC {
        return Err("bad magic number");
    }
    if body[8..10] != VERSION.to_le_bytes() {
        return Err("unknown version");
    }

    // The entries, each checked against the bytes left.
    let count = u32::from_le_bytes([body[12], body[13], body[14], body[15]]);
    let mut rest = &body[16..];
    let mut table = BTreeMap::new();
    for _ in 0..count {
        if rest.len() < 16 {
            return Err("entry runs past the end");
        }
        let partition = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let name_len = usize::from(u16::from_le_bytes([rest[4], rest[5]]));
        let mut position = [0u8; 8];
        position.copy_from_slice(&rest[8..16]);
        let name = rest
            .get(16..16 + name_len)
            .ok_or("name runs past the end")?;
        let name = std::str::from_utf8(name).map_err(|_| "name is not UTF-8")?;
        table.insert((name.to_owned(), partition), u64::from_le_bytes(position));
        rest = &rest[16 + name_len..];
    }
    if !rest.is_empty() {
        return Err("bytes after the last entry");
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_round_trips_and_damage_is_refused() {
        let mut table = BTreeMap::new();
        table.insert(("b".to_owned(), 3), 7);
        table.insert(("a".to_owned(), 0), 250);
        let bytes = encode(&table);
        assert_eq!(decode(&bytes), Ok(table));
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            assert!(decode(&bad).is_err(), "byte {at}");
        }
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
