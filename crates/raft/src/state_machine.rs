//! openraft state machine over a [`Machine`], with snapshots in snapshot files.
//!
//! A snapshot begins in the apply task, between two applies, so it captures exactly
//! the state at its last applied id; the [`Machine`] keeps that view while later
//! entries apply, and the builder streams it to a file from a blocking thread.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use okapi_storage::{SnapshotReader, SnapshotStore};
use okapi_types::GroupId;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};

use crate::codec::{self, FileMeta};
use crate::error::{RaftError, io_error};
use crate::machine::{Machine, MachineError};
use crate::types::{LogId, SnapshotMeta, StoredMembership, TypeConfig};

/// Bytes pulled from the machine per snapshot chunk.
const SNAPSHOT_CHUNK: usize = 1 << 20;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Where a snapshot is: the file of `group` at `index`. A snapshot received from a
/// leader arrives as a file too, possibly outside this node's snapshot directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHandle {
    /// Group.
    pub group: GroupId,
    /// Last log index the snapshot covers.
    pub index: u64,
    /// The file.
    pub path: std::path::PathBuf,
}

impl SnapshotHandle {
    /// The snapshot store's view of the file (its size unknown, 0).
    pub(crate) fn info(&self) -> okapi_storage::SnapshotInfo {
        okapi_storage::SnapshotInfo {
            group: self.group,
            index: self.index,
            path: self.path.clone(),
            size: 0,
        }
    }
}

/// Snapshot progress for INFO persistence.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnapshotStats {
    /// Index of the newest snapshot on disk.
    pub index: u64,
    /// When it finished, Unix seconds.
    pub finished_at: u64,
    /// How long building it took, ms.
    pub duration_ms: u64,
    /// Its size on disk.
    pub bytes: u64,
    /// A snapshot is being built now.
    pub building: bool,
    /// The last attempt failed.
    pub failed: bool,
}

/// The state machine of one group.
pub struct StateMachine {
    group: GroupId,
    machine: Arc<dyn Machine>,
    store: Arc<SnapshotStore>,
    applied: Option<LogId>,
    membership: StoredMembership,
    stats: Arc<std::sync::Mutex<SnapshotStats>>,
}

impl StateMachine {
    /// The state machine of `group`, loading the newest snapshot into `machine` first.
    pub fn recover(
        group: GroupId,
        machine: Arc<dyn Machine>,
        store: Arc<SnapshotStore>,
        stats: Arc<std::sync::Mutex<SnapshotStats>>,
    ) -> Result<Self, RaftError> {
        let mut sm = Self {
            group,
            machine,
            store,
            applied: None,
            membership: StoredMembership::default(),
            stats,
        };
        if let Some(reader) = sm.store.latest(group)? {
            let bytes = std::fs::metadata(reader.path()).map_or(0, |m| m.len());
            let file = sm.restore_from(reader)?;
            *sm.stats
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = SnapshotStats {
                index: file.meta.last_log_id.map_or(0, |id| id.index),
                finished_at: file.taken_at,
                duration_ms: 0,
                bytes,
                building: false,
                failed: false,
            };
            sm.applied = file.meta.last_log_id;
            sm.membership = file.meta.last_membership;
        }
        Ok(sm)
    }

    fn restore_from(&self, reader: SnapshotReader) -> Result<FileMeta, RaftError> {
        let file: FileMeta = codec::decode_file_meta(reader.meta())?;
        let index = reader.index();
        let mut chunks = Frames {
            reader,
            pending: Vec::new(),
            failed: false,
        };
        self.machine.restore(&file.header, &mut chunks)?;
        tracing::info!(group = %self.group, index, "restored state from snapshot");
        Ok(file)
    }

    /// Copies a snapshot file from outside this node's snapshot directory into it.
    fn adopt(
        &self,
        info: &okapi_storage::SnapshotInfo,
    ) -> Result<okapi_storage::SnapshotInfo, RaftError> {
        let mut reader = self.store.open_reader(info)?;
        let mut writer = self.store.create(self.group, info.index, reader.meta())?;
        while let Some(chunk) = reader.next_chunk()? {
            writer.write_chunk(&chunk)?;
        }
        let own = writer.finish()?;
        self.store.remove_older(self.group, info.index)?;
        Ok(own)
    }

    /// Begins a snapshot of the machine as it is now, between two applies.
    fn begin(&self) -> Result<Job, MachineError> {
        let header = self.machine.snapshot_begin()?;
        self.stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .building = true;
        Ok(Job {
            group: self.group,
            machine: self.machine.clone(),
            store: self.store.clone(),
            meta: SnapshotMeta {
                last_log_id: self.applied,
                last_membership: self.membership.clone(),
            },
            header,
        })
    }

    fn builder(&self, job: Result<Job, MachineError>) -> Builder {
        Builder {
            group: self.group,
            stats: self.stats.clone(),
            job: Some(job),
        }
    }

    /// Last applied log id.
    pub fn applied(&self) -> Option<LogId> {
        self.applied
    }
}

/// What one snapshot writes: the machine's view begun at `meta`'s last log id.
struct Job {
    group: GroupId,
    machine: Arc<dyn Machine>,
    store: Arc<SnapshotStore>,
    meta: SnapshotMeta,
    header: Vec<u8>,
}

impl Job {
    fn index(&self) -> u64 {
        self.meta.last_log_id.map_or(0, |id| id.index)
    }

    /// Streams the machine's view into a snapshot file; runs on a blocking thread.
    fn write(self) -> Result<okapi_storage::SnapshotInfo, RaftError> {
        let index = self.index();
        let file = FileMeta {
            meta: self.meta,
            header: self.header,
            taken_at: unix_now(),
        };
        let meta: Result<Vec<u8>, RaftError> = Ok(codec::encode_file_meta(&file));
        let mut writer =
            match meta.and_then(|meta| Ok(self.store.create(self.group, index, &meta)?)) {
                Ok(writer) => writer,
                Err(e) => {
                    self.machine.snapshot_abort();
                    return Err(e);
                }
            };
        while let Some(chunk) = self.machine.snapshot_next(SNAPSHOT_CHUNK) {
            // Framed with its length: the file may split large chunks into blocks, and
            // the machine restores whole chunks only.
            let mut framed = Vec::with_capacity(chunk.len() + 4);
            framed.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
            framed.extend_from_slice(&chunk);
            if let Err(e) = writer.write_chunk(&framed) {
                self.machine.snapshot_abort();
                return Err(e.into());
            }
        }
        let info = writer.finish()?;
        self.store.remove_older(self.group, index)?;
        Ok(info)
    }
}

/// Builds one snapshot: the job begun between two applies, or why it could not begin.
pub struct Builder {
    group: GroupId,
    stats: Arc<std::sync::Mutex<SnapshotStats>>,
    /// Taken by the one build.
    job: Option<Result<Job, MachineError>>,
}

impl Builder {
    fn record(&self, outcome: impl FnOnce(&mut SnapshotStats)) {
        outcome(
            &mut self
                .stats
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }
}

impl RaftSnapshotBuilder<TypeConfig> for Builder {
    type SnapshotData = SnapshotHandle;

    async fn build_snapshot(
        &mut self,
    ) -> Result<openraft::alias::SnapshotOf<TypeConfig, SnapshotHandle>, io::Error> {
        let started = std::time::Instant::now();
        let job = self
            .job
            .take()
            .ok_or_else(|| io_error("a snapshot builder builds once"))?
            .map_err(|e| io_error(format!("cannot begin a snapshot: {e}")))?;
        let (index, meta) = (job.index(), job.meta.clone());
        // File writes and compression stay off the event loop.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("okapi-snapshot".into())
            .spawn(move || {
                let _ = tx.send(job.write());
            })
            .map_err(io_error)?;
        let info = match rx.await.map_err(io_error).and_then(|r| r.map_err(io_error)) {
            Ok(info) => info,
            Err(e) => {
                self.record(|stats| {
                    stats.building = false;
                    stats.failed = true;
                });
                tracing::error!(group = %self.group, error = %e, "snapshot failed");
                return Err(e);
            }
        };
        let (bytes, ms) = (info.size, started.elapsed().as_millis() as u64);
        self.record(|stats| {
            *stats = SnapshotStats {
                index,
                finished_at: unix_now(),
                duration_ms: ms,
                bytes,
                building: false,
                failed: false,
            }
        });
        tracing::info!(group = %self.group, index, bytes, ms, "snapshot written");
        Ok(openraft::alias::SnapshotOf::<TypeConfig, SnapshotHandle> {
            meta,
            snapshot: SnapshotHandle {
                group: self.group,
                index,
                path: info.path,
            },
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotHandle;
    type SnapshotBuilder = Builder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            self.applied = Some(entry.log_id);
            let replies = match entry.payload {
                EntryPayload::Normal(batch) => self.machine.apply(entry.log_id.index, batch),
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                    Vec::new()
                }
            };
            if let Some(responder) = responder {
                responder.send(replies);
            }
        }
        Ok(())
    }

    async fn try_create_snapshot_builder(&mut self, _force: bool) -> Option<Self::SnapshotBuilder> {
        match self.begin() {
            Ok(job) => Some(self.builder(Ok(job))),
            Err(e) => {
                tracing::warn!(group = %self.group, error = %e, "cannot begin a snapshot");
                None
            }
        }
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // This one cannot decline: a failure to begin is reported by the build.
        let job = self.begin();
        self.builder(job)
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotHandle,
    ) -> Result<(), io::Error> {
        let mut own = snapshot.info();
        if snapshot.path.parent() != Some(self.store.dir()) {
            // Received from elsewhere: keep a copy of our own, so the snapshot is
            // still there after a restart and can be sent on.
            own = self.adopt(&own).map_err(io_error)?;
        }
        let reader = self.store.open_reader(&own).map_err(io_error)?;
        self.restore_from(reader).map_err(io_error)?;
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<openraft::alias::SnapshotOf<TypeConfig, SnapshotHandle>>, io::Error> {
        let Some(reader) = self.store.latest(self.group).map_err(io_error)? else {
            return Ok(None);
        };
        let file: FileMeta = codec::decode_file_meta(reader.meta()).map_err(io_error)?;
        Ok(Some(openraft::alias::SnapshotOf::<
            TypeConfig,
            SnapshotHandle,
        > {
            meta: file.meta,
            snapshot: SnapshotHandle {
                group: self.group,
                index: reader.index(),
                path: reader.path().to_path_buf(),
            },
        }))
    }
}

/// Reassembles the machine's length-framed chunks from a snapshot file's blocks.
struct Frames {
    reader: SnapshotReader,
    pending: Vec<u8>,
    failed: bool,
}

impl Iterator for Frames {
    type Item = Result<Bytes, MachineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if self.pending.len() >= 4 {
                let mut len = [0u8; 4];
                len.copy_from_slice(&self.pending[..4]);
                let len = u32::from_le_bytes(len) as usize;
                if self.pending.len() >= 4 + len {
                    let rest = self.pending.split_off(4 + len);
                    let frame = std::mem::replace(&mut self.pending, rest);
                    return Some(Ok(Bytes::copy_from_slice(&frame[4..])));
                }
            }
            match self.reader.next_chunk() {
                Ok(Some(block)) => self.pending.extend_from_slice(&block),
                Ok(None) if self.pending.is_empty() => return None,
                Ok(None) => {
                    self.failed = true;
                    return Some(Err(MachineError(format!(
                        "snapshot ends inside a chunk ({} bytes left over)",
                        self.pending.len()
                    ))));
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(MachineError(e.to_string())));
                }
            }
        }
    }
}

/// A snapshot's chunks as bytes, for tests and tools.
pub fn read_chunks(mut reader: SnapshotReader) -> Result<Vec<Bytes>, RaftError> {
    let mut chunks = Vec::new();
    while let Some(chunk) = reader.next_chunk()? {
        chunks.push(chunk);
    }
    Ok(chunks)
}
