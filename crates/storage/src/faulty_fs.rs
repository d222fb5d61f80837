//! `FaultyFs`: an in-memory [`Fs`] that models what survives a crash and can be told
//! to fail. It keeps, per file, the bytes written and the bytes last synced, and per
//! directory the entries as of the last directory sync, so `power_loss()` can drop
//! exactly what a real disk may drop. Faults: fail every mutating call after N more,
//! fail every fsync, tear the last write, flip a byte.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::fs::{Fs, FsFile, FsReader};

/// An in-memory file system with fault injection, for tests (also usable by the
/// end-to-end test kit). Cheap to share: wrap it in an `Arc` and hand a clone to the
/// code under test as `Arc<dyn Fs>`.
#[derive(Default)]
pub struct FaultyFs {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct Inode {
    data: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Clone, Copy)]
struct LastWrite {
    inode: u64,
    start: usize,
    len: usize,
}

#[derive(Default)]
struct State {
    inodes: HashMap<u64, Inode>,
    names: BTreeMap<PathBuf, u64>,
    /// Directory entries as a power loss would leave them (updated by `sync_dir`).
    durable: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    next_inode: u64,
    /// Bumped by `crash`/`power_loss`: handles opened before then stop working, as
    /// the process that held them is gone.
    generation: u64,
    /// Set by `crash`/`power_loss`, cleared by `restart`: the machine is down, so
    /// the dead process's threads cannot keep writing.
    down: bool,
    mutations: u64,
    fail_at: Option<u64>,
    fail_syncs: bool,
    sync_delay: Duration,
    injected: u64,
    last_write: Option<LastWrite>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves plain data behind, still usable.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("FaultyFs: no such file {}", path.display()),
    )
}

impl State {
    /// Counts one mutating call and fails it if the machine is down or the
    /// configured budget is spent.
    fn mutate(&mut self, op: &str, path: &Path) -> io::Result<()> {
        if self.down {
            return Err(io::Error::other(format!(
                "FaultyFs: {op} on {} while the machine is down (call restart)",
                path.display()
            )));
        }
        self.mutations += 1;
        if self.fail_at.is_some_and(|at| self.mutations > at) {
            self.injected += 1;
            return Err(io::Error::other(format!(
                "FaultyFs: injected failure of {op} on {}",
                path.display()
            )));
        }
        Ok(())
    }

    fn inode_of(&self, path: &Path) -> io::Result<u64> {
        self.names.get(path).copied().ok_or_else(|| not_found(path))
    }

    fn inode_mut(&mut self, ino: u64, path: &Path) -> io::Result<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or_else(|| not_found(path))
    }

    fn check_generation(&self, generation: u64, path: &Path) -> io::Result<()> {
        if generation != self.generation {
            return Err(io::Error::other(format!(
                "FaultyFs: handle of {} is from before a simulated crash",
                path.display()
            )));
        }
        Ok(())
    }
}

impl FaultyFs {
    /// An empty file system with no faults armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `n` more mutating calls (create, write, sync, truncate, rename, remove,
    /// directory sync) succeed, then fails every later one until [`FaultyFs::heal`].
    pub fn fail_after(&self, n: u64) {
        let mut s = lock(&self.state);
        s.fail_at = Some(s.mutations + n);
    }

    /// Makes every file and directory sync fail (writes still succeed) until `heal`.
    pub fn fail_syncs(&self, on: bool) {
        lock(&self.state).fail_syncs = on;
    }

    /// Makes every file fsync take `delay` (slept before the flush, without holding
    /// any lock), as a real disk does.
    pub fn set_sync_delay(&self, delay: Duration) {
        lock(&self.state).sync_delay = delay;
    }

    /// Disarms `fail_after` and `fail_syncs`.
    pub fn heal(&self) {
        let mut s = lock(&self.state);
        s.fail_at = None;
        s.fail_syncs = false;
    }

    /// How many calls failed on purpose so far.
    pub fn injected_failures(&self) -> u64 {
        lock(&self.state).injected
    }

    /// Simulates a process crash: written bytes stay (they are in the page cache).
    /// Every mutating call fails until [`FaultyFs::restart`], and handles opened
    /// before never work again.
    pub fn crash(&self) {
        let mut s = lock(&self.state);
        s.generation += 1;
        s.down = true;
        s.last_write = None;
    }

    /// Simulates power loss: every file keeps only its synced bytes, directory
    /// entries revert to their last directory sync. Every mutating call fails until
    /// [`FaultyFs::restart`], and handles opened before never work again.
    pub fn power_loss(&self) {
        let mut s = lock(&self.state);
        s.generation += 1;
        s.down = true;
        s.last_write = None;
        s.names = s.durable.clone();
        let live: BTreeSet<u64> = s.names.values().copied().collect();
        s.inodes.retain(|ino, _| live.contains(ino));
        for inode in s.inodes.values_mut() {
            inode.data = inode.synced.clone();
        }
    }

    /// Brings the machine back after `crash` or `power_loss`: calls work again
    /// (through new handles). Stop the old process's users (drop the `Wal`) first.
    pub fn restart(&self) {
        lock(&self.state).down = false;
    }

    /// Tears the most recent write: only its first `keep` bytes stay (in memory and
    /// on "disk"), as if the machine died in the middle of it. Returns the file and
    /// how many bytes were cut, or `None` if there was no write since the last crash.
    pub fn tear_last_write(&self, keep: usize) -> Option<(PathBuf, usize)> {
        let mut s = lock(&self.state);
        let w = s.last_write.take()?;
        let path = s
            .names
            .iter()
            .find(|(_, ino)| **ino == w.inode)
            .map(|(p, _)| p.clone())?;
        let inode = s.inodes.get_mut(&w.inode)?;
        let new_len = (w.start + keep.min(w.len)).min(inode.data.len());
        let cut = inode.data.len() - new_len;
        inode.data.truncate(new_len);
        let synced = inode.synced.len().min(new_len);
        inode.synced.truncate(synced);
        Some((path, cut))
    }

    /// Flips the bits of `mask` in the byte at `offset` of `path` (written and synced
    /// copies alike: the damage is on the medium). Returns false if out of range.
    pub fn corrupt(&self, path: &Path, offset: u64, mask: u8) -> bool {
        let mut s = lock(&self.state);
        let Some(ino) = s.names.get(path).copied() else {
            return false;
        };
        let Some(inode) = s.inodes.get_mut(&ino) else {
            return false;
        };
        let Ok(at) = usize::try_from(offset) else {
            return false;
        };
        let mut hit = false;
        for buf in [&mut inode.data, &mut inode.synced] {
            if let Some(b) = buf.get_mut(at) {
                *b ^= mask;
                hit = true;
            }
        }
        hit
    }

    /// Every file path currently visible, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        lock(&self.state).names.keys().cloned().collect()
    }
}

struct FaultyFile {
    state: Arc<Mutex<State>>,
    inode: u64,
    path: PathBuf,
    generation: u64,
}

impl FsFile for FaultyFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut s = lock(&self.state);
        s.check_generation(self.generation, &self.path)?;
        s.mutate("write", &self.path)?;
        let inode = s.inode_mut(self.inode, &self.path)?;
        let start = inode.data.len();
        inode.data.extend_from_slice(buf);
        s.last_write = Some(LastWrite {
            inode: self.inode,
            start,
            len: buf.len(),
        });
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let delay = lock(&self.state).sync_delay;
        if !delay.is_zero() {
            // A slow disk: the flush takes time, and other threads run meanwhile.
            std::thread::sleep(delay);
        }
        let mut s = lock(&self.state);
        s.check_generation(self.generation, &self.path)?;
        s.mutate("fsync", &self.path)?;
        if s.fail_syncs {
            s.injected += 1;
            return Err(io::Error::other(format!(
                "FaultyFs: injected fsync failure on {}",
                self.path.display()
            )));
        }
        let inode = s.inode_mut(self.inode, &self.path)?;
        inode.synced = inode.data.clone();
        Ok(())
    }

    fn try_clone(&self) -> io::Result<Box<dyn FsFile>> {
        let s = lock(&self.state);
        s.check_generation(self.generation, &self.path)?;
        Ok(Box::new(FaultyFile {
            state: Arc::clone(&self.state),
            inode: self.inode,
            path: self.path.clone(),
            generation: self.generation,
        }))
    }
}

struct FaultyReader {
    data: Vec<u8>,
}

impl FsReader for FaultyReader {
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.data.get(start..end))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.data.len() as u64
    }
}

impl Fs for FaultyFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut s = lock(&self.state);
        for d in dir.ancestors() {
            s.dirs.insert(d.to_path_buf());
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = lock(&self.state);
        if !s.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let names = s
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        let s = lock(&self.state);
        s.names.contains_key(path) || s.dirs.contains(path)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let mut s = lock(&self.state);
        s.mutate("create", path)?;
        if s.names.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                path.display().to_string(),
            ));
        }
        if !path.parent().is_some_and(|d| s.dirs.contains(d)) {
            return Err(not_found(path));
        }
        s.next_inode += 1;
        let ino = s.next_inode;
        s.inodes.insert(ino, Inode::default());
        s.names.insert(path.to_path_buf(), ino);
        Ok(Box::new(FaultyFile {
            state: Arc::clone(&self.state),
            inode: ino,
            path: path.to_path_buf(),
            generation: s.generation,
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let mut s = lock(&self.state);
        s.mutate("open for append", path)?;
        let ino = s.inode_of(path)?;
        Ok(Box::new(FaultyFile {
            state: Arc::clone(&self.state),
            inode: ino,
            path: path.to_path_buf(),
            generation: s.generation,
        }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn FsReader>> {
        Ok(Box::new(FaultyReader {
            data: self.read(path)?,
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let s = lock(&self.state);
        let ino = s.inode_of(path)?;
        s.inodes
            .get(&ino)
            .map(|i| i.data.clone())
            .ok_or_else(|| not_found(path))
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        let s = lock(&self.state);
        let ino = s.inode_of(path)?;
        s.inodes
            .get(&ino)
            .map(|i| i.data.len() as u64)
            .ok_or_else(|| not_found(path))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut s = lock(&self.state);
        s.mutate("truncate", path)?;
        let ino = s.inode_of(path)?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        let inode = s.inode_mut(ino, path)?;
        inode.data.resize(len, 0);
        // The trait promises a durable new length.
        inode.synced = inode.data.clone();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = lock(&self.state);
        s.mutate("rename", from)?;
        let ino = s.names.remove(from).ok_or_else(|| not_found(from))?;
        s.names.insert(to.to_path_buf(), ino);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = lock(&self.state);
        s.mutate("remove", path)?;
        // The inode stays until a power loss: the durable entry may still name it.
        s.names
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = lock(&self.state);
        s.mutate("directory fsync", dir)?;
        if s.fail_syncs {
            s.injected += 1;
            return Err(io::Error::other(format!(
                "FaultyFs: injected fsync failure on {}",
                dir.display()
            )));
        }
        s.durable.retain(|p, _| p.parent() != Some(dir));
        let now: Vec<(PathBuf, u64)> = s
            .names
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        s.durable.extend(now);
        Ok(())
    }
}
