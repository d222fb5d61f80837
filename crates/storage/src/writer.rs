//! The WAL's mutable state, behind one mutex shared by every appender and the
//! background syncer thread.
//!
//! Appends are written on the caller's thread, one `write(2)` each, as Redis writes
//! its AOF from the event loop: acknowledging an append never waits for a thread to
//! wake up. Fsyncs run outside the lock on a second handle of the active segment
//! (see `wal::sync_to`), so appends keep landing while the disk flushes. This module
//! holds what must happen under the lock: validation against each group's rules,
//! encoding, rotation with a checkpoint, deletion of segments no group needs, and
//! poisoning on the first failed write or fsync.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use okapi_types::GroupId;

use crate::error::StorageError;
use crate::fs::{Fs, FsFile};
use crate::group_state::{Probe, Tracker};
use crate::options::{FsyncPolicy, WalOptions};
use crate::record::{self, FRAME_HEADER, MAX_BODY, WalRecord};
use crate::segment;
use crate::wal::WalStatus;

/// Unsynced bytes at which the `everysec` syncer fsyncs at once rather than at the
/// next second (Redis fsyncs its AOF rewrite every 4 MiB for the same reason).
const EAGER_SYNC_BYTES: u64 = 4 << 20;

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

/// State of the log, guarded by the WAL's mutex.
pub(crate) struct Writer {
    pub fs: Arc<dyn Fs>,
    pub dir: PathBuf,
    pub segment_bytes: u64,
    pub policy: FsyncPolicy,
    pub active: Active,
    /// Full segments, oldest first: `(seq, path, len)`.
    pub older: VecDeque<(u64, PathBuf, u64)>,
    pub groups: BTreeMap<GroupId, Tracker>,
    /// Records accepted but not written yet: deferred appends wait here and leave
    /// with the next write.
    buf: Vec<u8>,
    /// Bytes written since open, over all segments: a position in the log.
    pub written: u64,
    /// Position up to which everything written is known durable.
    pub synced: u64,
    /// An fsync is running outside the lock.
    pub syncing: bool,
    pub closed: bool,
    /// The syncer waits with no deadline, so only a notification wakes it. When it
    /// waits with one (at most a second), a new deferred record needs no wake-up:
    /// under `always` that was a futex wake of the syncer thread per fsync, a
    /// thread competing for the cores with the event loop for nothing.
    pub syncer_idle: bool,
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
    ) -> Self {
        Writer {
            fs,
            dir,
            segment_bytes: options.segment_bytes,
            policy: options.fsync,
            active,
            older,
            groups,
            buf: Vec::new(),
            written: 0,
            synced: 0,
            syncing: false,
            closed: false,
            syncer_idle: false,
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

    /// Why appends are refused, if they are.
    pub fn refusal(&self) -> Option<StorageError> {
        if self.closed {
            return Some(StorageError::Closed);
        }
        self.poisoned_error()
    }

    pub fn poisoned_error(&self) -> Option<StorageError> {
        self.poisoned.clone().map(StorageError::Poisoned)
    }

    /// Whether anything accepted is not yet durable.
    pub fn dirty(&self) -> bool {
        !self.buf.is_empty() || self.written > self.synced
    }

    /// How long until the background syncer has work: the once-a-second fsync under
    /// `everysec`, or writing out deferred records under any policy. `None` when
    /// there is nothing to do until the next append.
    pub fn syncer_due_in(&self) -> Option<Duration> {
        if self.poisoned.is_some() || self.closed {
            return None;
        }
        let everysec_due = self.policy == FsyncPolicy::EverySec && self.dirty();
        if !everysec_due && self.buf.is_empty() {
            return None;
        }
        if self.policy != FsyncPolicy::No && self.backlog_is_large() {
            return Some(Duration::ZERO);
        }
        Some((self.last_sync + Duration::from_secs(1)).saturating_duration_since(Instant::now()))
    }

    /// Whether so much is written but not fsynced that the syncer should not wait
    /// for its second: rotation and segment deletion fsync under the lock, on the
    /// appender's thread, and must find little left to flush.
    pub fn backlog_is_large(&self) -> bool {
        self.written - self.synced >= EAGER_SYNC_BYTES && !self.syncing
    }

    /// Validates `records` against the log's rules and encodes them for the next
    /// write; all or nothing. May rotate first, which writes and fsyncs what is
    /// buffered.
    pub fn accept(&mut self, records: &[WalRecord]) -> Result<(), StorageError> {
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        let mut total = 0u64;
        for rec in records {
            let len = record::encoded_len(rec);
            if len - FRAME_HEADER > MAX_BODY {
                return Err(StorageError::Invalid(format!(
                    "record of {len} bytes exceeds 1 GiB"
                )));
            }
            total += len as u64;
        }
        // Validate on probes first so a bad request changes nothing.
        let mut probes: BTreeMap<GroupId, Probe> = BTreeMap::new();
        for rec in records {
            let g = rec.group();
            let probe = probes
                .entry(g)
                .or_insert_with(|| self.groups.get(&g).map(Tracker::probe).unwrap_or_default());
            if let Err(reason) = probe.apply(rec) {
                return Err(StorageError::Invalid(format!("group {g}: {reason}")));
            }
        }
        let end = self.active.len + self.buf.len() as u64;
        if end + total > self.segment_bytes && end > self.active.checkpoint_end {
            self.rotate()?;
        }
        let seq = self.active.seq;
        for rec in records {
            let tracker = self.groups.entry(rec.group()).or_default();
            if let Err(reason) = tracker.apply(rec, seq) {
                // Cannot happen: the probe applies the same rules.
                debug_assert!(false, "probe and tracker disagree: {reason}");
                tracing::error!(%reason, "write-ahead log tracker refused a validated record");
            }
            if matches!(
                rec,
                WalRecord::Purge { .. } | WalRecord::TruncateAfter { .. } | WalRecord::Reset { .. }
            ) {
                self.need_gc = true;
            }
            record::encode(rec, &mut self.buf);
        }
        self.appends += 1;
        self.records += records.len() as u64;
        Ok(())
    }

    /// Writes everything accepted so far and returns the log position that covers
    /// it (what an fsync must reach for it to be durable).
    pub fn write(&mut self) -> Result<u64, StorageError> {
        if let Some(e) = self.poisoned_error() {
            return Err(e);
        }
        if !self.buf.is_empty() {
            if let Err(e) = self.active.file.write_all(&self.buf) {
                let reason = format!("write to {} failed: {e}", self.active.path.display());
                let err = StorageError::io(&self.active.path, e);
                return Err(self.poison(reason, err));
            }
            let len = self.buf.len() as u64;
            self.active.len += len;
            self.written += len;
            self.writes += 1;
            self.buf.clear();
        }
        if self.need_gc {
            self.gc();
        }
        Ok(self.written)
    }

    /// Marks the log poisoned (first reason wins) and returns the error to report.
    pub fn poison(&mut self, reason: String, err: StorageError) -> StorageError {
        tracing::error!(wal = %self.dir.display(), %reason, "write-ahead log poisoned: refusing all further writes");
        if self.poisoned.is_none() {
            self.poisoned = Some(reason);
        }
        err
    }

    /// Records a finished fsync that covered the log up to `upto`.
    pub fn fsynced(&mut self, upto: u64, started: Instant) {
        self.synced = self.synced.max(upto);
        self.fsyncs += 1;
        self.last_sync = Instant::now();
        self.last_fsync = Some(SystemTime::now());
        self.last_fsync_duration = Some(started.elapsed());
    }

    /// Fsyncs the active segment while holding the lock (rotation, deletion, close).
    pub fn fsync_locked(&mut self) -> Result<(), StorageError> {
        if let Some(e) = self.poisoned_error() {
            return Err(e);
        }
        if self.written == self.synced {
            return Ok(());
        }
        let start = Instant::now();
        let upto = self.written;
        match self.active.file.sync() {
            Ok(()) => {
                self.fsynced(upto, start);
                Ok(())
            }
            Err(e) => {
                let reason = format!("fsync of {} failed: {e}", self.active.path.display());
                let err = StorageError::io(&self.active.path, e);
                Err(self.poison(reason, err))
            }
        }
    }

    /// Rotates now (used at open after a torn tail was cut); an error leaves the
    /// log poisoned.
    pub fn start_new_segment(&mut self) -> Result<(), StorageError> {
        self.rotate()
    }

    /// Starts segment `seq + 1` with a checkpoint of every group's hard state and
    /// purge point, so older segments stop mattering once their entries are purged.
    fn rotate(&mut self) -> Result<(), StorageError> {
        self.write()?;
        // Only the last segment may ever hold unsynced (tearable) bytes.
        self.fsync_locked()?;
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
                // The new segment was created durable.
                self.written += len;
                self.synced = self.written;
                self.need_gc = true;
                tracing::debug!(segment = seq, "write-ahead log rotated");
                Ok(())
            }
            Err(e) => {
                let reason = format!("creating segment {} failed: {e}", path.display());
                let err = StorageError::io(&path, e);
                Err(self.poison(reason, err))
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
        if self.fsync_locked().is_err() {
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

    /// Counters, policy and poison reason.
    pub fn status(&self) -> WalStatus {
        WalStatus {
            fsync: self.policy,
            segments: self.older.len() + 1,
            bytes: self.older.iter().map(|o| o.2).sum::<u64>() + self.active.len,
            active_segment: self.active.seq,
            appends: self.appends,
            records: self.records,
            writes: self.writes,
            fsyncs: self.fsyncs,
            last_fsync: self.last_fsync,
            last_fsync_duration: self.last_fsync_duration,
            segments_deleted: self.deleted,
            poisoned: self.poisoned.clone(),
            pending_bytes: self.buf.len() as u64 + (self.written - self.synced),
        }
    }
}
