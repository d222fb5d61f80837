//! The WAL writer thread: owns the active segment, turns queued appends into one
//! write (and, under `always`, one fsync) per batch — group commit — rotates segments
//! with a checkpoint, deletes segments no group needs, fsyncs once a second under
//! `everysec`, and poisons the log on the first failed write or fsync.

use std::collections::{BTreeMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use okapi_types::GroupId;

use crate::error::StorageError;
use crate::fs::{Fs, FsFile};
use crate::group_state::{Probe, Tracker};
use crate::options::{FsyncPolicy, WalOptions};
use crate::record::{self, FRAME_HEADER, MAX_BODY, WalRecord};
use crate::segment;
use crate::wal::Shared;

/// Completion callback of an append.
pub(crate) type Done = Box<dyn FnOnce(Result<(), StorageError>) + Send>;

/// A message to the writer thread.
pub(crate) enum Request {
    /// Write these records, then call `done`. `bytes` is their framed size, counted
    /// in the shared queued-bytes gauge until the writer takes them.
    Append {
        records: Vec<WalRecord>,
        bytes: u64,
        done: Done,
    },
    /// Flush and fsync now.
    Sync(Sender<Result<(), StorageError>>),
    /// Change the fsync policy from the next batch on.
    SetFsync(FsyncPolicy),
    /// Flush, fsync and stop; the reply (if any) gets the result.
    Close(Option<Sender<Result<(), StorageError>>>),
}

/// Most requests folded into one group commit, so callbacks are not held back long.
const MAX_BATCH_REQUESTS: usize = 4096;
/// Most bytes folded into one group commit.
const MAX_BATCH_BYTES: usize = 16 << 20;

/// The segment being appended to.
pub(crate) struct Active {
    pub seq: u64,
    pub path: PathBuf,
    pub file: Box<dyn FsFile>,
    pub len: u64,
    /// End of the header and checkpoint: a segment holding nothing past this is
    /// never rotated (a big record cannot make rotation loop).
    pub checkpoint_end: u64,
}

/// State of the writer thread.
pub(crate) struct Writer {
    pub fs: Arc<dyn Fs>,
    pub dir: PathBuf,
    pub segment_bytes: u64,
    pub policy: FsyncPolicy,
    pub active: Active,
    /// Full segments, oldest first: `(seq, path, len)`.
    pub older: VecDeque<(u64, PathBuf, u64)>,
    pub groups: BTreeMap<GroupId, Tracker>,
    pub shared: Arc<Shared>,
    buf: Vec<u8>,
    /// Callbacks of this batch; a set error overrides the batch result.
    waiting: Vec<(Done, Option<StorageError>)>,
    batch_error: Option<StorageError>,
    unsynced: u64,
    last_sync: Instant,
    poisoned: Option<String>,
    need_gc: bool,
    appends: u64,
    records: u64,
    writes: u64,
    fsyncs: u64,
    last_fsync: Option<SystemTime>,
    last_fsync_duration: Option<Duration>,
    deleted: u64,
}

impl Writer {
    /// A writer appending to `active`, with `older` full segments before it.
    pub fn new(
        fs: Arc<dyn Fs>,
        dir: PathBuf,
        options: WalOptions,
        active: Active,
        older: VecDeque<(u64, PathBuf, u64)>,
        groups: BTreeMap<GroupId, Tracker>,
        shared: Arc<Shared>,
    ) -> Self {
        Writer {
            fs,
            dir,
            segment_bytes: options.segment_bytes,
            policy: options.fsync,
            active,
            older,
            groups,
            shared,
            buf: Vec::new(),
            waiting: Vec::new(),
            batch_error: None,
            unsynced: 0,
            last_sync: Instant::now(),
            poisoned: None,
            need_gc: true,
            appends: 0,
            records: 0,
            writes: 0,
            fsyncs: 0,
            last_fsync: None,
            last_fsync_duration: None,
            deleted: 0,
        }
    }

    /// The thread body: runs until `Close` or until every handle is gone.
    pub fn run(mut self, rx: Receiver<Request>) {
        self.gc();
        loop {
            let first = match self.sync_due_in() {
                Some(wait) => match rx.recv_timeout(wait) {
                    Ok(r) => Some(r),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(r) => Some(r),
                    Err(_) => break,
                },
            };
            if let Some(first) = first {
                if self.handle(first) {
                    return;
                }
                let mut n = 1;
                while self.buf.len() < MAX_BATCH_BYTES && n < MAX_BATCH_REQUESTS {
                    let Ok(req) = rx.try_recv() else { break };
                    if self.handle(req) {
                        return;
                    }
                    n += 1;
                }
                self.flush();
            }
            if self.sync_due_in() == Some(Duration::ZERO) {
                self.fsync_active();
                self.publish();
            }
        }
        // Every handle is gone without `close`: still leave the data durable.
        let _ = self.shutdown();
    }

    /// How long until the `everysec` fsync is due, if one is pending.
    fn sync_due_in(&self) -> Option<Duration> {
        if self.policy != FsyncPolicy::EverySec || self.unsynced == 0 || self.poisoned.is_some() {
            return None;
        }
        Some((self.last_sync + Duration::from_secs(1)).saturating_duration_since(Instant::now()))
    }

    /// Handles one request; true when the thread must stop.
    fn handle(&mut self, req: Request) -> bool {
        match req {
            Request::Append {
                records,
                bytes,
                done,
            } => {
                self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                self.append(records, done);
            }
            Request::SetFsync(policy) => self.policy = policy,
            Request::Sync(reply) => {
                self.flush();
                let r = self.sync_now();
                self.publish();
                let _ = reply.send(r);
            }
            Request::Close(reply) => {
                let r = self.shutdown();
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
                return true;
            }
        }
        false
    }

    fn poisoned_error(&self) -> Option<StorageError> {
        self.poisoned.clone().map(StorageError::Poisoned)
    }

    /// Validates and encodes one append into the batch buffer.
    fn append(&mut self, records: Vec<WalRecord>, done: Done) {
        if let Some(e) = self.poisoned_error() {
            self.waiting.push((done, Some(e)));
            return;
        }
        let mut total = 0u64;
        for rec in &records {
            let len = record::encoded_len(rec);
            if len - FRAME_HEADER > MAX_BODY {
                let e = StorageError::Invalid(format!("record of {len} bytes exceeds 1 GiB"));
                self.waiting.push((done, Some(e)));
                return;
            }
            total += len as u64;
        }
        let end = self.active.len + self.buf.len() as u64;
        if end + total > self.segment_bytes && end > self.active.checkpoint_end {
            self.rotate();
            if let Some(e) = self.poisoned_error() {
                self.waiting.push((done, Some(e)));
                return;
            }
        }
        // Validate on probes first so a bad request changes nothing.
        let mut probes: BTreeMap<GroupId, Probe> = BTreeMap::new();
        for rec in &records {
            let g = rec.group();
            let probe = probes
                .entry(g)
                .or_insert_with(|| self.groups.get(&g).map(Tracker::probe).unwrap_or_default());
            if let Err(reason) = probe.apply(rec) {
                let e = StorageError::Invalid(format!("group {g}: {reason}"));
                self.waiting.push((done, Some(e)));
                return;
            }
        }
        let seq = self.active.seq;
        for rec in &records {
            let tracker = self.groups.entry(rec.group()).or_default();
            if let Err(reason) = tracker.apply(rec, seq) {
                // Cannot happen: the probe applies the same rules.
                debug_assert!(false, "probe and tracker disagree: {reason}");
                tracing::error!(%reason, "write-ahead log tracker refused a validated record");
            }
        }
        for rec in &records {
            if matches!(
                rec,
                WalRecord::Purge { .. } | WalRecord::TruncateAfter { .. }
            ) {
                self.need_gc = true;
            }
            record::encode(rec, &mut self.buf);
        }
        self.appends += 1;
        self.records += records.len() as u64;
        self.waiting.push((done, None));
    }

    fn poison(&mut self, reason: String, err: StorageError) {
        tracing::error!(wal = %self.dir.display(), %reason, "write-ahead log poisoned: refusing all further writes");
        if self.poisoned.is_none() {
            self.poisoned = Some(reason);
        }
        self.batch_error.get_or_insert(err);
    }

    /// Writes the batch buffer to the active segment.
    fn write_buf(&mut self) {
        if self.buf.is_empty() || self.batch_error.is_some() {
            return;
        }
        match self.active.file.write_all(&self.buf) {
            Ok(()) => {
                self.active.len += self.buf.len() as u64;
                self.unsynced += self.buf.len() as u64;
                self.writes += 1;
            }
            Err(e) => {
                let reason = format!("write to {} failed: {e}", self.active.path.display());
                let err = StorageError::io(&self.active.path, e);
                self.poison(reason, err);
            }
        }
        self.buf.clear();
    }

    /// Fsyncs the active segment if it has unsynced bytes.
    fn fsync_active(&mut self) {
        if self.unsynced == 0 || self.poisoned.is_some() {
            return;
        }
        let start = Instant::now();
        match self.active.file.sync() {
            Ok(()) => {
                self.unsynced = 0;
                self.fsyncs += 1;
                self.last_sync = Instant::now();
                self.last_fsync = Some(SystemTime::now());
                self.last_fsync_duration = Some(start.elapsed());
            }
            Err(e) => {
                let reason = format!("fsync of {} failed: {e}", self.active.path.display());
                let err = StorageError::io(&self.active.path, e);
                self.poison(reason, err);
            }
        }
    }

    /// Ends a batch: write, fsync under `always`, delete covered segments, publish
    /// the status, then answer every callback — so a caller woken by its callback
    /// sees the effects of its append in `status()` and on disk.
    fn flush(&mut self) {
        self.write_buf();
        if self.policy == FsyncPolicy::Always {
            self.fsync_active();
        }
        self.buf.clear();
        if self.need_gc {
            self.gc();
        }
        self.publish();
        let result = self.batch_error.take();
        for (done, own) in self.waiting.drain(..) {
            let r = match own.or_else(|| result.clone()) {
                Some(e) => Err(e),
                None => Ok(()),
            };
            if catch_unwind(AssertUnwindSafe(|| done(r))).is_err() {
                tracing::error!("a write-ahead log append callback panicked");
            }
        }
    }

    /// `sync()`: fsync whatever is unsynced, or say why the log is poisoned.
    fn sync_now(&mut self) -> Result<(), StorageError> {
        self.fsync_active();
        if let Some(e) = self.batch_error.take() {
            return Err(e);
        }
        match self.poisoned_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn shutdown(&mut self) -> Result<(), StorageError> {
        self.flush();
        let r = self.sync_now();
        self.publish();
        r
    }

    /// Rotates now (used at open after a torn tail was cut); an error leaves the
    /// log poisoned and is returned.
    pub fn start_new_segment(&mut self) -> Result<(), StorageError> {
        self.rotate();
        match self.batch_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Starts segment `seq + 1` with a checkpoint of every group's hard state and
    /// purge point, so older segments stop mattering once their entries are purged.
    fn rotate(&mut self) {
        self.write_buf();
        // Only the last segment may ever hold unsynced (tearable) bytes.
        self.fsync_active();
        if self.batch_error.is_some() {
            return;
        }
        let seq = self.active.seq + 1;
        let path = self.dir.join(segment::segment_name(seq));
        let mut content = Vec::new();
        segment::encode_header(seq, &mut content);
        for (g, t) in &self.groups {
            if let Some(payload) = &t.hard_state {
                let rec = WalRecord::HardState {
                    group: *g,
                    payload: payload.clone(),
                };
                record::encode(&rec, &mut content);
            }
            if let Some((upto, payload)) = &t.purged {
                let rec = WalRecord::Purge {
                    group: *g,
                    upto: *upto,
                    payload: payload.clone(),
                };
                record::encode(&rec, &mut content);
            }
        }
        let created = self.fs.create(&path).and_then(|mut f| {
            f.write_all(&content)?;
            f.sync()?;
            self.fs.sync_dir(&self.dir)?;
            Ok(f)
        });
        match created {
            Ok(file) => {
                let len = content.len() as u64;
                let new = Active {
                    seq,
                    path,
                    file,
                    len,
                    checkpoint_end: len,
                };
                let old = std::mem::replace(&mut self.active, new);
                self.older.push_back((old.seq, old.path, old.len));
                self.need_gc = true;
                tracing::debug!(segment = seq, "write-ahead log rotated");
            }
            Err(e) => {
                let reason = format!("creating segment {} failed: {e}", path.display());
                let err = StorageError::io(&path, e);
                self.poison(reason, err);
            }
        }
    }

    /// Deletes the oldest segments that hold no live entry of any group.
    fn gc(&mut self) {
        self.need_gc = false;
        if self.poisoned.is_some() {
            return;
        }
        let needed = self
            .groups
            .values()
            .filter_map(Tracker::oldest_segment)
            .min();
        let keep_from = needed.unwrap_or(self.active.seq);
        let deletable = self.older.iter().take_while(|s| s.0 < keep_from).count();
        if deletable == 0 {
            return;
        }
        // The purge records that make these segments useless must be durable first.
        self.fsync_active();
        if self.poisoned.is_some() {
            return;
        }
        for _ in 0..deletable {
            let Some((seq, path, _)) = self.older.front().cloned() else {
                break;
            };
            if let Err(e) = self.fs.remove_file(&path) {
                // Not fatal: the segment stays valid and is retried at the next purge.
                tracing::warn!(path = %path.display(), error = %e, "cannot delete WAL segment");
                break;
            }
            self.older.pop_front();
            self.deleted += 1;
            tracing::debug!(segment = seq, "write-ahead log segment deleted");
        }
        if let Err(e) = self.fs.sync_dir(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot sync WAL directory");
        }
    }

    /// Copies counters into the shared status.
    pub fn publish(&self) {
        let mut s = self
            .shared
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.segments = self.older.len() + 1;
        s.bytes = self.older.iter().map(|o| o.2).sum::<u64>() + self.active.len;
        s.active_segment = self.active.seq;
        s.appends = self.appends;
        s.records = self.records;
        s.writes = self.writes;
        s.fsyncs = self.fsyncs;
        s.last_fsync = self.last_fsync;
        s.last_fsync_duration = self.last_fsync_duration;
        s.segments_deleted = self.deleted;
        s.poisoned = self.poisoned.clone();
        s.pending_bytes = self.unsynced;
    }
}
