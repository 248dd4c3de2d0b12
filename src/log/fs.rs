//! The file-system seam: every byte the log reads or writes goes through [`LogFs`].
//!
//! Two backends implement it:
//!
//! - [`RealFs`]: the operating system's files (`std::fs`), with `fdatasync` for file syncs,
//!   `fsync` of the directory for name changes, and `mmap` (memmap2) for reads.
//! - [`MemFs`]: files in memory, for tests. It keeps apart the bytes **written** (what reads
//!   see) and the bytes **durable** (what a sync made permanent), so that
//!   [`MemFs::crash_image`] can build the file system a crash would leave: every synced byte
//!   plus any prefix of the unsynced ones, and for each file name either its last synced
//!   binding or its current one. It injects faults on demand ([`Fault`]): a failed write, a
//!   short write, a full disk, a failed sync.
//!
//! Reads return [`FileBytes`]: a view of a file prefix that starts on an 8-byte boundary,
//! mapped or copied, so that frames can be read in place either way.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{Mmap, MmapOptions};
use parking_lot::Mutex;

/// A file system as the log uses it: a handful of whole-file and directory operations.
///
/// Implementations must be safe to share between the writer and any number of readers.
pub trait LogFs: fmt::Debug + Send + Sync {
    /// Creates a directory and its parents; succeeds when it exists.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// Names (not paths) of the plain files in a directory, in any order.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;

    /// Creates a file, emptying it when it exists, open for reads and appends.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn LogFile>>;

    /// Opens an existing file for reads and appends.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn LogFile>>;

    /// Renames a file, replacing any file at `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;

    /// Makes the directory's entries (created, renamed, removed names) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// An open file: appended to at its end, read anywhere.
#[allow(clippy::len_without_is_empty)]
pub trait LogFile: fmt::Debug + Send + Sync {
    /// The file's length in bytes.
    fn len(&self) -> io::Result<u64>;

    /// Reads at a byte position; returns how many bytes were read (0 at the end).
    fn read_at(&self, position: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// Appends bytes at the end; may write fewer than given and says how many.
    fn append(&self, buf: &[u8]) -> io::Result<usize>;

    /// Makes the file's bytes durable (`fdatasync`).
    fn sync(&self) -> io::Result<()>;

    /// Cuts (or extends with zeros) the file to `len` bytes.
    fn truncate(&self, len: u64) -> io::Result<()>;

    /// The first `len` bytes of the file, 8-byte aligned, mapped or copied.
    ///
    /// `len` must not exceed the file's length.
    fn map(&self, len: u64) -> io::Result<FileBytes>;
}

/// An 8-byte-aligned view of the start of a file: a memory map or an aligned copy.
pub struct FileBytes {
    repr: Repr,
}

enum Repr {
    Mapped(Mmap),
    Words { words: Box<[u64]>, len: usize },
}

impl FileBytes {
    /// Copies bytes into an aligned buffer.
    pub fn copy_from(bytes: &[u8]) -> FileBytes {
        let mut words = vec![0u64; bytes.len().div_ceil(8)].into_boxed_slice();
        for (word, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut le = [0u8; 8];
            le[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_ne_bytes(le);
        }
        FileBytes {
            repr: Repr::Words {
                words,
                len: bytes.len(),
            },
        }
    }

    /// The bytes; the first one is on an 8-byte boundary.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.repr {
            Repr::Mapped(map) => map,
            Repr::Words { words, len } => {
                debug_assert!(*len <= words.len() * 8);
                // SAFETY: `words` owns `words.len() * 8 >= len` initialized bytes, u8 has no
                // alignment or validity requirement, and the borrow is tied to `self`.
                unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), *len) }
            }
        }
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.repr {
            Repr::Mapped(_) => "mapped",
            Repr::Words { .. } => "copied",
        };
        f.debug_struct("FileBytes")
            .field("kind", &kind)
            .field("len", &self.len())
            .finish()
    }
}

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl RealFs {
    /// The real file system as a shared seam.
    pub fn shared() -> Arc<dyn LogFs> {
        Arc::new(RealFs)
    }
}

impl LogFs for RealFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.extend(entry.file_name().to_str().map(str::to_owned));
            }
        }
        Ok(names)
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        file.set_len(0)?;
        Ok(Arc::new(RealFile { file }))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        Ok(Arc::new(RealFile { file }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// A file of [`RealFs`], opened in append mode.
#[derive(Debug)]
struct RealFile {
    file: File,
}

impl LogFile for RealFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read_at(&self, position: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read_at(buf, position)
    }

    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        (&self.file).write(buf)
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn map(&self, len: u64) -> io::Result<FileBytes> {
        if len == 0 {
            return Ok(FileBytes::copy_from(&[]));
        }
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;

        debug_assert!(self.file.metadata().map_or(true, |m| m.len() >= len as u64));
        // SAFETY: the map is read-only and the log never shrinks a file it has mapped; other
        // processes must not truncate segments (the disk contract in `docs/format.md`).
        let map = unsafe { MmapOptions::new().len(len).map(&self.file)? };
        Ok(FileBytes {
            repr: Repr::Mapped(map),
        })
    }
}

/// A fault that [`MemFs`] injects into a later operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The write fails with an I/O error and writes nothing.
    WriteError,
    /// The write stores only the first half of its bytes and reports that (a legal short
    /// write); the next write goes on normally.
    ShortWrite,
    /// The write stores the first half of its bytes, then fails (a torn write).
    TornWrite,
    /// The write fails with "no space left on device" and writes nothing.
    NoSpace,
    /// The sync fails with an I/O error; nothing becomes durable.
    SyncError,
}

/// What a crash image keeps of the bytes written since each file's last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// Only synced bytes and synced directory entries survive.
    SyncedOnly,
    /// Every written byte and every name survives (a clean shutdown of the machine).
    Everything,
    /// A random prefix of each file's unsynced bytes, and a random choice between the last
    /// synced and the current binding of each name, drawn from the seed.
    Random(u64),
}

/// A file system in memory, for tests: fault injection and crash images.
///
/// Clones share the same files.
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    state: Arc<Mutex<MemState>>,
}

#[derive(Debug, Default)]
struct MemState {
    nodes: Vec<Node>,
    names: BTreeMap<PathBuf, usize>,
    durable_names: BTreeMap<PathBuf, usize>,
    dirs: BTreeSet<PathBuf>,
    pending: Vec<(u64, Fault)>,
    writes: u64,
    syncs: u64,
    space_left: Option<u64>,
}

#[derive(Debug, Default, Clone)]
struct Node {
    data: Vec<u8>,
    durable: Vec<u8>,
    cut_since_sync: bool,
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> MemFs {
        MemFs::default()
    }

    /// This file system as a shared seam for the log.
    pub fn shared(&self) -> Arc<dyn LogFs> {
        Arc::new(self.clone())
    }

    /// Makes the `after`-th next write (0 = the very next one) fail with `fault`; for
    /// [`Fault::SyncError`], the `after`-th next file sync.
    pub fn inject(&self, fault: Fault, after: u64) {
        let mut state = self.state.lock();
        let base = if fault == Fault::SyncError {
            state.syncs
        } else {
            state.writes
        };
        state.pending.push((base + after, fault));
    }

    /// Limits the bytes that writes may still add in total; `None` removes the limit. A
    /// write that does not fit stores what fits, and the next fails with "no space".
    pub fn set_space_left(&self, bytes: Option<u64>) {
        self.state.lock().space_left = bytes;
    }

    /// The written bytes of a file, if it exists.
    pub fn read(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.state.lock();
        state
            .names
            .get(path)
            .map(|&id| state.nodes[id].data.clone())
    }

    /// Replaces the content of a file (written and durable), creating it if needed.
    pub fn write(&self, path: &Path, bytes: &[u8]) {
        let mut state = self.state.lock();
        let id = state.bind(path);
        let node = &mut state.nodes[id];
        node.data = bytes.to_vec();
        node.durable = bytes.to_vec();
        state.durable_names.insert(path.to_owned(), id);
    }

    /// The file system a crash now would leave, as a new, independent `MemFs`.
    pub fn crash_image(&self, crash: Crash) -> MemFs {
        let state = self.state.lock();
        let mut rng = Rng(match crash {
            Crash::Random(seed) => seed | 1,
            _ => 1,
        });
        let mut image = MemState {
            dirs: state.dirs.clone(),
            ..MemState::default()
        };

        // Each name keeps its durable binding or, if different, maybe its current one.
        let paths: BTreeSet<&PathBuf> = state
            .names
            .keys()
            .chain(state.durable_names.keys())
            .collect();
        for path in paths {
            let durable = state.durable_names.get(path).copied();
            let current = state.names.get(path).copied();
            let chosen = match crash {
                Crash::SyncedOnly => durable,
                Crash::Everything => current,
                Crash::Random(_) if durable == current => durable,
                Crash::Random(_) => {
                    if rng.coin() {
                        current
                    } else {
                        durable
                    }
                }
            };
            if let Some(id) = chosen {
                let node = state.nodes[id].crashed(crash, &mut rng);
                let new_id = image.nodes.len();
                image.nodes.push(node);
                image.names.insert(path.clone(), new_id);
                image.durable_names.insert(path.clone(), new_id);
            }
        }
        MemFs {
            state: Arc::new(Mutex::new(image)),
        }
    }
}

impl Node {
    /// The bytes this file keeps after a crash.
    fn crashed(&self, crash: Crash, rng: &mut Rng) -> Node {
        let extends = !self.cut_since_sync && self.data.starts_with(&self.durable);
        let kept = match crash {
            Crash::Everything => self.data.clone(),
            Crash::SyncedOnly => self.durable.clone(),
            Crash::Random(_) if !extends => self.durable.clone(),
            Crash::Random(_) => {
                let extra = self.data.len() - self.durable.len();
                let keep = rng.below(extra as u64 + 1) as usize;
                self.data[..self.durable.len() + keep].to_vec()
            }
        };
        Node {
            data: kept.clone(),
            durable: kept,
            cut_since_sync: false,
        }
    }
}

impl MemState {
    /// The node bound to `path`, creating an empty one when there is none.
    fn bind(&mut self, path: &Path) -> usize {
        if let Some(&id) = self.names.get(path) {
            return id;
        }
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        self.names.insert(path.to_owned(), id);
        id
    }

    /// The fault planned for this write or sync, if any; counts the operation.
    fn take_fault(&mut self, sync: bool) -> Option<Fault> {
        let count = if sync {
            &mut self.syncs
        } else {
            &mut self.writes
        };
        let now = *count;
        *count += 1;
        let index = self
            .pending
            .iter()
            .position(|&(at, fault)| at == now && (fault == Fault::SyncError) == sync)?;
        Some(self.pending.remove(index).1)
    }
}

/// "No space left on device" (ENOSPC), as the kernel reports it.
fn no_space() -> io::Error {
    io::Error::from_raw_os_error(28)
}

fn injected(kind: io::ErrorKind, what: &str) -> io::Error {
    io::Error::new(kind, format!("injected fault: {what}"))
}

impl LogFs for MemFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.state.lock().dirs.insert(dir.to_owned());
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.state.lock();
        if !state.dirs.contains(dir) && !state.names.keys().any(|p| p.parent() == Some(dir)) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let in_dir = state.names.keys().filter(|p| p.parent() == Some(dir));
        Ok(in_dir
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        let mut state = self.state.lock();
        let id = state.nodes.len();
        state.nodes.push(Node::default());
        state.names.insert(path.to_owned(), id);
        Ok(Arc::new(MemFile {
            fs: self.clone(),
            id,
        }))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        let state = self.state.lock();
        let id = *state
            .names
            .get(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(Arc::new(MemFile {
            fs: self.clone(),
            id,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        let id = state
            .names
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        state.names.insert(to.to_owned(), id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state
            .names
            .remove(path)
            .map(drop)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        let state = &mut *state;
        state.durable_names.retain(|p, _| p.parent() != Some(dir));
        for (path, &id) in state.names.iter().filter(|(p, _)| p.parent() == Some(dir)) {
            state.durable_names.insert(path.clone(), id);
        }
        Ok(())
    }
}

/// A file of [`MemFs`].
#[derive(Debug)]
struct MemFile {
    fs: MemFs,
    id: usize,
}

impl LogFile for MemFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.fs.state.lock().nodes[self.id].data.len() as u64)
    }

    fn read_at(&self, position: u64, buf: &mut [u8]) -> io::Result<usize> {
        let state = self.fs.state.lock();
        let data = &state.nodes[self.id].data;
        let start = usize::try_from(position)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self.fs.state.lock();
        let mut n = buf.len();

        // Planned faults first, then the space limit.
        match state.take_fault(false) {
            Some(Fault::WriteError) => return Err(injected(io::ErrorKind::Other, "write error")),
            Some(Fault::NoSpace) => return Err(no_space()),
            Some(Fault::ShortWrite) => n = buf.len() / 2,
            Some(Fault::TornWrite) => {
                let half = buf.len() / 2;
                state.nodes[self.id].data.extend_from_slice(&buf[..half]);
                return Err(injected(io::ErrorKind::Other, "torn write"));
            }
            Some(Fault::SyncError) | None => {}
        }
        if let Some(left) = state.space_left {
            if left == 0 && n > 0 {
                return Err(no_space());
            }
            n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
            state.space_left = Some(left - n as u64);
        }
        state.nodes[self.id].data.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn sync(&self) -> io::Result<()> {
        let mut state = self.fs.state.lock();
        if state.take_fault(true).is_some() {
            return Err(injected(io::ErrorKind::Other, "sync error"));
        }
        let node = &mut state.nodes[self.id];
        if node.cut_since_sync || !node.data.starts_with(&node.durable) {
            node.durable = node.data.clone();
        } else {
            let tail = node.data[node.durable.len()..].to_vec();
            node.durable.extend_from_slice(&tail);
        }
        node.cut_since_sync = false;
        Ok(())
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        let mut state = self.fs.state.lock();
        let node = &mut state.nodes[self.id];
        node.data
            .resize(usize::try_from(len).unwrap_or(usize::MAX), 0);
        node.cut_since_sync = true;
        Ok(())
    }

    fn map(&self, len: u64) -> io::Result<FileBytes> {
        let state = self.fs.state.lock();
        let data = &state.nodes[self.id].data;
        let len = usize::try_from(len).unwrap_or(usize::MAX).min(data.len());
        Ok(FileBytes::copy_from(&data[..len]))
    }
}

/// A tiny xorshift generator for crash images (deterministic per seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
