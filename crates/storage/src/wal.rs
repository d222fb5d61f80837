//! `Wal`: the handle to a node's write-ahead log. Opening it recovers every group's
//! state (cutting a torn tail, refusing corruption) and starts the syncer thread
//! (the `everysec` fsync); appends are written, and under `always` fsynced, on the
//! caller's thread.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{IoContext, StorageError};
use crate::fs::Fs;
use crate::group_state::Tracker;
use crate::options::{FsyncPolicy, WalOptions};
use crate::record::WalRecord;
use crate::recovery::{self, Recovered, TornTail};
use crate::segment::{self, Stop, WAL_DIR};
use crate::writer::{Active, Writer};

/// A snapshot of the WAL's state, for `INFO persistence` and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalStatus {
    /// Current `appendfsync` policy.
    pub fsync: FsyncPolicy,
    /// Segment files on disk.
    pub segments: usize,
    /// Total size of the segment files.
    pub bytes: u64,
    /// Sequence number of the segment being appended to.
    pub active_segment: u64,
    /// Append requests written since open.
    pub appends: u64,
    /// Records written since open.
    pub records: u64,
    /// `write(2)` calls since open: one per append (deferred records ride along).
    pub writes: u64,
    /// Successful fsyncs of segments since open.
    pub fsyncs: u64,
    /// When the last fsync finished.
    pub last_fsync: Option<SystemTime>,
    /// How long the last fsync took.
    pub last_fsync_duration: Option<Duration>,
    /// Segments deleted since open because every group's purge covers them.
    pub segments_deleted: u64,
    /// Why the log refuses writes, if it does (a failed write or fsync).
    pub poisoned: Option<String>,
    /// Bytes accepted but not yet fsynced.
    pub pending_bytes: u64,
}

/// State shared by the handles and the syncer thread.
pub(crate) struct Shared {
    writer: Mutex<Writer>,
    /// Signalled whenever an fsync that ran outside the lock ends.
    fsync_done: Condvar,
    /// Wakes the syncer: the log became dirty, the policy changed, or it closed.
    wake_syncer: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Makes the log durable up to position `upto`: group commit. If no fsync is
/// running, this caller takes a second handle of the active segment, fsyncs it with
/// the lock released (appends keep landing meanwhile), and the one fsync covers
/// everything written before it started. If one is running, the caller waits for it
/// and starts the next one only if its bytes are still not covered.
fn sync_to<'a>(
    shared: &'a Shared,
    mut w: MutexGuard<'a, Writer>,
    upto: u64,
) -> (MutexGuard<'a, Writer>, Result<(), StorageError>) {
    loop {
        if w.synced >= upto {
            return (w, Ok(()));
        }
        if let Some(e) = w.poisoned_error() {
            return (w, Err(e));
        }
        if w.syncing {
            w = shared
                .fsync_done
                .wait(w)
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        let target = w.written;
        let path = w.active.path.clone();
        let mut handle = match w.active.file.try_clone() {
            Ok(h) => h,
            Err(e) => {
                let reason = format!("fsync of {} failed: {e}", path.display());
                let err = w.poison(reason, StorageError::io(&path, e));
                return (w, Err(err));
            }
        };
        w.syncing = true;
        drop(w);
        let started = Instant::now();
        let result = handle.sync();
        w = shared.lock();
        w.syncing = false;
        shared.fsync_done.notify_all();
        match result {
            Ok(()) => w.fsynced(target, started),
            Err(e) => {
                // This caller ran the failed fsync and gets its error; the others
                // learn that the log is poisoned.
                let reason = format!("fsync of {} failed: {e}", path.display());
                let err = w.poison(reason, StorageError::io(&path, e));
                return (w, Err(err));
            }
        }
    }
}

/// The syncer thread: the once-a-second fsync under `everysec`, and writing out
/// deferred records that no append has carried along within a second.
fn run_syncer(shared: Arc<Shared>) {
    let mut w = shared.lock();
    loop {
        if w.closed {
            return;
        }
        w = match w.syncer_due_in() {
            None => {
                w.syncer_idle = true;
                let mut w = shared
                    .wake_syncer
                    .wait(w)
                    .unwrap_or_else(PoisonError::into_inner);
                w.syncer_idle = false;
                w
            }
            Some(wait) if !wait.is_zero() => {
                shared
                    .wake_syncer
                    .wait_timeout(w, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            Some(_) => {
                // Failures poison the log and are reported to the next appender.
                match w.write() {
                    Ok(upto) if w.policy != FsyncPolicy::No => sync_to(&shared, w, upto).0,
                    // Deferred records written under `no`, or a failure: nothing is due.
                    _ => w,
                }
            }
        };
    }
}

struct Inner {
    shared: Arc<Shared>,
    syncer: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    /// Writes and fsyncs everything accepted, refuses later appends and stops the
    /// syncer. Idempotent: only the first call reports the final fsync's result.
    fn close(&self) -> Result<(), StorageError> {
        let result = {
            let mut w = self.shared.lock();
            if w.closed {
                Err(StorageError::Closed)
            } else {
                let written = w.write().map(|_| ());
                let result = written.and_then(|()| w.fsync_locked());
                w.closed = true;
                result
            }
        };
        self.shared.wake_syncer.notify_all();
        let handle = self
            .syncer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle
            && h.join().is_err()
        {
            tracing::error!("write-ahead log syncer thread panicked");
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        match self.close() {
            Ok(()) | Err(StorageError::Closed) => {}
            Err(e) => tracing::error!(error = %e, "closing the write-ahead log failed"),
        }
    }
}

/// The write-ahead log shared by every Raft group of a node. Cheap to clone; all
/// clones share one log. Dropping the last clone closes it.
#[derive(Clone)]
pub struct Wal {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("status", &self.status())
            .finish()
    }
}

impl Wal {
    /// Opens (or creates) the log in `data_dir/wal/`, recovers every group from it
    /// and starts the syncer thread.
    ///
    /// A torn tail of the last segment is cut and reported in `Recovered::cut_tail`;
    /// any other damage is [`StorageError::Corrupt`] naming the file and offset (run
    /// [`crate::check()`] with `repair` to drop it).
    pub fn open(
        fs: Arc<dyn Fs>,
        data_dir: &Path,
        options: WalOptions,
    ) -> Result<(Wal, Recovered), StorageError> {
        let dir = data_dir.join(WAL_DIR);
        fs.create_dir_all(&dir).at(&dir)?;
        let mut replay = recovery::replay(&fs, &dir)?;
        for stray in &replay.strays {
            tracing::warn!(file = %dir.join(stray).display(), "ignoring a file that is not a WAL segment");
        }
        let mut cut_tail = None;
        if let Some(stop) = replay.stop.take() {
            let seg = &replay.segments[stop.segment];
            let path = seg.file.path.clone();
            match stop.stop {
                Stop::Corrupt { offset, reason } => {
                    tracing::error!(file = %path.display(), offset, %reason, "corrupt write-ahead log");
                    return Err(StorageError::Corrupt {
                        file: path,
                        offset,
                        reason,
                    });
                }
                Stop::Torn { offset, reason } => {
                    let bytes = seg.len - offset;
                    if offset == 0 {
                        // Not even a whole header: the crash hit segment creation.
                        fs.remove_file(&path).at(&path)?;
                        fs.sync_dir(&dir).at(&dir)?;
                        replay.segments.pop();
                    } else {
                        fs.truncate(&path, offset).at(&path)?;
                        if let Some(last) = replay.segments.last_mut() {
                            last.len = offset;
                        }
                    }
                    tracing::warn!(file = %path.display(), offset, bytes, %reason, "cut a torn write at the end of the write-ahead log");
                    cut_tail = Some(TornTail {
                        file: path,
                        offset,
                        bytes,
                        reason,
                    });
                }
            }
        }
        let active = match replay.segments.pop() {
            Some(last) => {
                let file = fs.open_append(&last.file.path).at(&last.file.path)?;
                Active {
                    seq: last.file.seq,
                    path: last.file.path,
                    file,
                    len: last.len,
                    checkpoint_end: segment::HEADER_LEN as u64,
                }
            }
            None => {
                let path = dir.join(segment::segment_name(1));
                let mut header = Vec::new();
                segment::encode_header(1, &mut header);
                let mut file = fs.create(&path).at(&path)?;
                file.write_all(&header).at(&path)?;
                file.sync().at(&path)?;
                fs.sync_dir(&dir).at(&dir)?;
                let len = header.len() as u64;
                Active {
                    seq: 1,
                    path,
                    file,
                    len,
                    checkpoint_end: len,
                }
            }
        };
        let older: VecDeque<_> = replay
            .segments
            .into_iter()
            .map(|s| (s.file.seq, s.file.path, s.len))
            .collect();
        let trackers: BTreeMap<_, _> = replay
            .groups
            .iter()
            .map(|(g, s)| (*g, Tracker::from_state(s)))
            .collect();
        let recovered = Recovered {
            groups: recovery::recovered_groups(&replay.groups),
            cut_tail,
        };
        let mut writer = Writer::new(fs, dir.clone(), options, active, older, trackers);
        if recovered.cut_tail.is_some() {
            // The cut may have hit the checkpoint a crash interrupted at rotation;
            // older segments are only deletable behind a complete one, so write it anew.
            writer.start_new_segment()?;
        }
        let shared = Arc::new(Shared {
            writer: Mutex::new(writer),
            fsync_done: Condvar::new(),
            wake_syncer: Condvar::new(),
        });
        let for_thread = Arc::clone(&shared);
        let syncer = thread::Builder::new()
            .name("okapi-wal-sync".to_string())
            .spawn(move || run_syncer(for_thread))
            .map_err(|e| StorageError::io(&dir, e))?;
        let wal = Wal {
            inner: Arc::new(Inner {
                shared,
                syncer: Mutex::new(Some(syncer)),
            }),
        };
        Ok((wal, recovered))
    }

    /// Writes `records` on the calling thread and returns once they are acknowledged:
    /// after `write(2)` under `everysec` and `no`, after an fsync that covers them
    /// under `always` (group commit: appenders on other threads that wrote meanwhile
    /// share that fsync).
    ///
    /// A request is all or nothing: if one record breaks the log's rules (e.g. an
    /// entry index that does not follow), it fails with [`StorageError::Invalid`] and
    /// nothing of it is written. After a failed write or fsync every request gets
    /// [`StorageError::Poisoned`]; after `close`, [`StorageError::Closed`].
    pub fn append(&self, records: Vec<WalRecord>) -> Result<(), StorageError> {
        match self.append_unsynced(records)? {
            Some(upto) => self.sync_to(upto),
            None => Ok(()),
        }
    }

    /// Writes `records` on the calling thread like [`Wal::append`], but leaves the
    /// fsync that `always` owes them to the caller: `Some(position)` means they may
    /// be acknowledged only after [`Wal::sync_to`] that position, `None` that the
    /// policy acknowledges them now. A caller that runs an event loop uses this to
    /// fsync once per loop iteration, for everything written in it, as Redis does.
    pub fn append_unsynced(&self, records: Vec<WalRecord>) -> Result<Option<u64>, StorageError> {
        let shared = &self.inner.shared;
        let mut w = shared.lock();
        let was_dirty = w.dirty();
        w.accept(&records)?;
        let upto = w.write()?;
        if w.policy == FsyncPolicy::Always {
            return Ok(Some(upto));
        }
        let wake = w.policy == FsyncPolicy::EverySec
            && ((!was_dirty && w.syncer_idle) || w.backlog_is_large());
        drop(w);
        if wake {
            shared.wake_syncer.notify_one();
        }
        Ok(None)
    }

    /// Returns once everything written up to `position` (as returned by
    /// [`Wal::append_unsynced`]) is durable, fsyncing if need be. Group commit: one
    /// fsync covers every append written before it started, from any thread.
    pub fn sync_to(&self, position: u64) -> Result<(), StorageError> {
        let shared = &self.inner.shared;
        sync_to(shared, shared.lock(), position).1
    }

    /// Accepts `records` (validated, all or nothing, ordered with every other append)
    /// without writing them now: they leave with the next append's write, or within
    /// a second. For records nothing waits on, such as a commit-index hint, so they
    /// cost no `write(2)` of their own.
    pub fn append_deferred(&self, records: Vec<WalRecord>) -> Result<(), StorageError> {
        let shared = &self.inner.shared;
        let mut w = shared.lock();
        let wake = !w.dirty() && w.syncer_idle;
        w.accept(&records)?;
        drop(w);
        if wake {
            shared.wake_syncer.notify_one();
        }
        Ok(())
    }

    /// Writes and fsyncs everything accepted so far (for votes, `SAVE` and shutdown).
    pub fn sync(&self) -> Result<(), StorageError> {
        let shared = &self.inner.shared;
        let mut w = shared.lock();
        if let Some(e) = w.refusal() {
            return Err(e);
        }
        let upto = w.write()?;
        sync_to(shared, w, upto).1
    }

    /// Changes the fsync policy (`CONFIG SET appendfsync`) for every later append.
    pub fn set_fsync(&self, policy: FsyncPolicy) {
        self.inner.shared.lock().policy = policy;
        self.inner.shared.wake_syncer.notify_all();
    }

    /// Current counters, policy and poison reason.
    pub fn status(&self) -> WalStatus {
        self.inner.shared.lock().status()
    }

    /// Writes and fsyncs everything accepted, then stops the syncer thread. Every
    /// handle gets [`StorageError::Closed`] afterwards.
    pub fn close(self) -> Result<(), StorageError> {
        self.inner.close()
    }
}
