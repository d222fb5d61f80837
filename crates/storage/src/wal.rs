//! `Wal`: the handle to a node's write-ahead log. Opening it recovers every group's
//! state (cutting a torn tail, refusing corruption) and starts the writer thread;
//! the handle queues appends to that thread and reads its status.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SendError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use crate::error::{IoContext, StorageError};
use crate::fs::Fs;
use crate::group_state::Tracker;
use crate::options::{FsyncPolicy, WalOptions};
use crate::record::{self, WalRecord};
use crate::recovery::{self, Recovered, TornTail};
use crate::segment::{self, Stop, WAL_DIR};
use crate::writer::{Active, Request, Writer};

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
    /// `write(2)` batches since open: one per group commit.
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
    /// Bytes queued for the writer or written but not yet fsynced.
    pub pending_bytes: u64,
}

/// State shared by the handles and the writer thread.
pub(crate) struct Shared {
    /// Published by the writer after every batch.
    pub status: Mutex<WalStatus>,
    /// Bytes of appends sent but not yet taken by the writer.
    pub queued_bytes: AtomicU64,
    /// The policy of the last `set_fsync`: it governs every append queued after it,
    /// so status reports it at once rather than when the writer reaches it.
    pub fsync: Mutex<FsyncPolicy>,
}

struct Inner {
    tx: Sender<Request>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    /// Stops the writer (flushing and fsyncing) and waits for it.
    fn stop(&self) -> Result<(), StorageError> {
        let on_writer = {
            let guard = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
            guard
                .as_ref()
                .is_some_and(|h| h.thread().id() == thread::current().id())
        };
        if on_writer {
            // Called from an append callback: waiting for our own reply would
            // deadlock. The writer closes once that callback returns.
            let _ = self.tx.send(Request::Close(None));
            return Ok(());
        }
        let (reply, rx) = mpsc::channel();
        let result = match self.tx.send(Request::Close(Some(reply))) {
            Ok(()) => rx.recv().unwrap_or(Err(StorageError::Closed)),
            Err(_) => Err(StorageError::Closed),
        };
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle
            && h.join().is_err()
        {
            tracing::error!("write-ahead log writer thread panicked");
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let running = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if running && let Err(e) = self.stop() {
            tracing::error!(error = %e, "closing the write-ahead log failed");
        }
    }
}

/// The write-ahead log shared by every Raft group of a node. Cheap to clone; all
/// clones feed one writer thread. Dropping the last clone closes it.
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
    /// and starts the writer thread.
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
        let shared = Arc::new(Shared {
            status: Mutex::new(WalStatus::default()),
            queued_bytes: AtomicU64::new(0),
            fsync: Mutex::new(options.fsync),
        });
        let mut writer = Writer::new(
            fs,
            dir.clone(),
            options,
            active,
            older,
            trackers,
            Arc::clone(&shared),
        );
        if recovered.cut_tail.is_some() {
            // The cut may have hit the checkpoint a crash interrupted at rotation;
            // older segments are only deletable behind a complete one, so write it anew.
            writer.start_new_segment()?;
        }
        // Before the thread starts, so `status()` right after `open` is accurate.
        writer.publish();
        let (tx, rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("okapi-wal".to_string())
            .spawn(move || writer.run(rx))
            .map_err(|e| StorageError::io(&dir, e))?;
        let wal = Wal {
            inner: Arc::new(Inner {
                tx,
                shared,
                thread: Mutex::new(Some(thread)),
            }),
        };
        Ok((wal, recovered))
    }

    /// Queues records; `done` runs on the writer thread once they are written and,
    /// under [`FsyncPolicy::Always`], fsynced. Group commit: everything queued while
    /// the previous batch was written goes out in one write and one fsync.
    ///
    /// A request is all or nothing: if one record breaks the log's rules (e.g. an
    /// entry index that does not follow), `done` gets [`StorageError::Invalid`] and
    /// nothing of it is written. After a failed write or fsync every request gets
    /// [`StorageError::Poisoned`].
    pub fn append(
        &self,
        records: Vec<WalRecord>,
        done: Box<dyn FnOnce(Result<(), StorageError>) + Send>,
    ) {
        let bytes: u64 = records.iter().map(|r| record::encoded_len(r) as u64).sum();
        let queued = &self.inner.shared.queued_bytes;
        queued.fetch_add(bytes, Ordering::Relaxed);
        let req = Request::Append {
            records,
            bytes,
            done,
        };
        if let Err(SendError(Request::Append { done, bytes, .. })) = self.inner.tx.send(req) {
            queued.fetch_sub(bytes, Ordering::Relaxed);
            done(Err(StorageError::Closed));
        }
    }

    /// [`Wal::append`] and wait for the result.
    pub fn append_blocking(&self, records: Vec<WalRecord>) -> Result<(), StorageError> {
        let (tx, rx) = mpsc::channel();
        self.append(
            records,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().unwrap_or(Err(StorageError::Closed))
    }

    /// Writes and fsyncs everything queued so far (for `SAVE` and shutdown).
    pub fn sync(&self) -> Result<(), StorageError> {
        let (tx, rx) = mpsc::channel();
        self.inner
            .tx
            .send(Request::Sync(tx))
            .map_err(|_| StorageError::Closed)?;
        rx.recv().unwrap_or(Err(StorageError::Closed))
    }

    /// Changes the fsync policy (`CONFIG SET appendfsync`); takes effect in order
    /// with the appends queued before it.
    pub fn set_fsync(&self, policy: FsyncPolicy) {
        let mut current = self
            .inner
            .shared
            .fsync
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Sent under the lock: concurrent calls reach the writer in the order they
        // leave their mark here.
        *current = policy;
        let _ = self.inner.tx.send(Request::SetFsync(policy));
    }

    /// Current counters, policy and poison reason.
    pub fn status(&self) -> WalStatus {
        let mut s = self
            .inner
            .shared
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        s.pending_bytes += self.inner.shared.queued_bytes.load(Ordering::Relaxed);
        s.fsync = *self
            .inner
            .shared
            .fsync
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s
    }

    /// Writes and fsyncs everything queued, then stops the writer thread. Other
    /// clones get [`StorageError::Closed`] afterwards.
    pub fn close(self) -> Result<(), StorageError> {
        self.inner.stop()
    }
}
