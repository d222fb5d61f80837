//! Wires the server to a Raft group: the log writes go through, the engine the group
//! applies to, and the persistence controls (SAVE, BGSAVE, INFO persistence).

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use okapi_engine::{ApplyCtx, Engine, Op, Reply};
use okapi_raft::{Group, LogBatch, Machine, MachineError, ProposeError};
use okapi_server::log::{LogError, Pending, ReplicatedLog};
use okapi_server::{BoxFuture, Durability, Shard, Shared};
use okapi_storage::{FsyncPolicy, Wal};
use tokio::sync::oneshot;

/// The server's log: proposals to the node's Raft group.
#[derive(Default)]
pub struct RaftLog {
    group: OnceLock<Arc<Group>>,
}

impl RaftLog {
    /// A log whose group is attached once it has started.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches the started group; writes before this are refused as loading.
    pub fn attach(&self, group: Arc<Group>) {
        let _ = self.group.set(group);
    }
}

fn log_error(e: ProposeError) -> LogError {
    match e {
        ProposeError::NotLeader(leader) => LogError::NotLeader(leader),
        ProposeError::Unknown(reason) => LogError::Unknown(reason),
        ProposeError::Stopped(reason) => {
            LogError::Refused(format!("ERR writes are refused: {reason}"))
        }
    }
}

impl ReplicatedLog for RaftLog {
    fn append(&self, ops: Vec<Op>, now_ms: u64) -> Pending {
        self.append_from(ops, now_ms, okapi_types::Writer::NONE)
    }

    fn append_from(&self, ops: Vec<Op>, now_ms: u64, writer: okapi_types::Writer) -> Pending {
        let (tx, rx) = oneshot::channel();
        match self.group.get() {
            Some(group) => group.propose(
                now_ms,
                ops,
                writer,
                Box::new(move |result| {
                    let _ = tx.send(result.map_err(log_error));
                }),
            ),
            None => {
                let _ = tx.send(Err(LogError::Refused(
                    "LOADING okapi is loading the dataset in memory".into(),
                )));
            }
        }
        rx
    }

    fn last_index(&self) -> u64 {
        self.group.get().map_or(0, |g| g.status().last_log_index)
    }

    fn leads(&self) -> bool {
        self.group.get().is_some_and(|g| g.is_leader())
    }

    fn replicas_with(&self, index: u64) -> u64 {
        self.group.get().map_or(0, |g| g.replicas_with(index))
    }

    fn replication(&self) -> Vec<(u64, u64)> {
        self.group.get().map_or_else(Vec::new, |g| g.replication())
    }
}

/// A shard's engine, as its group's state machine.
pub struct EngineMachine {
    shared: Arc<Shared>,
    shard: Arc<Shard>,
    meter: Arc<crate::load::LoadMeter>,
    /// Publishes keyspace notifications (not the control group's: its one key is the
    /// cluster map, not user data).
    announces: bool,
}

impl EngineMachine {
    /// The machine over `shard`'s engine; while the node loads, restores and applies
    /// report their progress through `meter`.
    pub fn new(
        shared: Arc<Shared>,
        shard: Arc<Shard>,
        meter: Arc<crate::load::LoadMeter>,
        announces: bool,
    ) -> Self {
        Self {
            shared,
            shard,
            meter,
            announces,
        }
    }
}

fn machine_error(e: impl std::fmt::Display) -> MachineError {
    MachineError(e.to_string())
}

impl Machine for EngineMachine {
    fn apply(&self, index: u64, batch: LogBatch) -> Vec<Reply> {
        let mut replies = Vec::with_capacity(batch.op_count());
        let mut guard = self.shard.lock();
        let core = &mut *guard;
        if self.announces {
            // The setting is read on every entry, so a CONFIG SET, a new shard and an
            // engine replaced by a restore all follow it without being told.
            let raised = self.shared.raised_events();
            if core.engine.notify() != raised {
                core.engine.set_notify(raised);
            }
        }
        core.engine.warm(batch.parts.iter().flat_map(|p| &p.ops));
        let mut changes = Vec::new();
        for part in batch.parts {
            let ctx = ApplyCtx {
                now_ms: core.engine.apply_clock(part.now_ms),
                index,
            };
            for op in part.ops {
                replies.push(core.engine.apply(op, &ctx));
            }
            if core.engine.has_events() {
                changes.push((part.writer, core.engine.take_events()));
            }
        }
        if self.shared.loading.is_loading() {
            self.shared
                .loading
                .set_progress(self.meter.replay_done(index), core.engine.key_count());
        }
        // Clients blocked on keys this entry fed are served by the leader's serving
        // task (it appends their pops): never an append from inside apply.
        if !core.blocked.is_empty() && core.engine.has_ready() {
            self.shard.notify_blocked();
        }
        let flushed = core.engine.take_flushed();
        if !changes.is_empty() || flushed {
            drop(guard);
            // Published before the replies go back, so a client that reads its reply
            // and then a subscriber's queue finds the events there (as in Redis), and a
            // caching client is told of a change before the writer hears it is done.
            if self.announces {
                self.shared.announce(&changes, flushed);
            }
        }
        replies
    }

    fn snapshot_begin(&self) -> Result<Vec<u8>, MachineError> {
        Ok(self
            .shard
            .lock()
            .engine
            .snapshot_begin()
            .map_err(machine_error)?
            .to_bytes())
    }

    fn snapshot_next(&self, max_bytes: usize) -> Option<Vec<u8>> {
        self.shard.lock().engine.snapshot_next(max_bytes)
    }

    fn snapshot_abort(&self) {
        self.shard.lock().engine.snapshot_abort();
    }

    fn restore(
        &self,
        header: &[u8],
        chunks: &mut dyn Iterator<Item = Result<Bytes, MachineError>>,
    ) -> Result<(), MachineError> {
        let header = okapi_engine::SnapshotHeader::from_bytes(header).map_err(machine_error)?;
        // Built aside, then swapped in: readers never see half a dataset.
        let mut restore = Engine::restore_begin(&header).map_err(machine_error)?;
        let expected = restore.expected_keys();
        for chunk in chunks {
            let before = restore.records();
            restore.restore_chunk(&chunk?).map_err(machine_error)?;
            let restored = restore.records();
            if self.shared.loading.is_loading() {
                let delay_us = self.shared.settings().key_load_delay_us;
                if delay_us > 0 {
                    // Runs on the loader thread, never on an event loop.
                    std::thread::sleep(std::time::Duration::from_micros(
                        delay_us.saturating_mul(restored - before),
                    ));
                }
                self.shared
                    .loading
                    .set_progress(self.meter.snapshot_done(restored, expected), restored);
            }
        }
        let engine = restore.finish().map_err(machine_error)?;
        self.shard.lock().engine = engine;
        Ok(())
    }
}

/// What restart loaded, for INFO persistence.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadStats {
    /// Keys in memory once ready.
    pub keys: u64,
    /// Log entries replayed after the snapshot.
    pub replayed: u64,
    /// Time from start to ready, ms.
    pub ms: u64,
}

/// Persistence controls over the node's groups and the WAL.
pub struct NodeDurability {
    groups: crate::groups::GroupList,
    wal: Wal,
    loaded: LoadStats,
    /// A BGSAVE was started and has not finished. Set when BGSAVE answers, before
    /// openraft has even begun the snapshot, so a second BGSAVE right behind it is
    /// refused as Redis refuses it.
    bgsave_running: Arc<std::sync::atomic::AtomicBool>,
}

/// Snapshots every group in turn; the first failure is the result.
async fn snapshot_all(groups: Vec<Arc<Group>>) -> Result<(), okapi_raft::RaftError> {
    for group in groups {
        group.snapshot().await?;
    }
    Ok(())
}

impl NodeDurability {
    /// Controls for the node's groups (as they come and go) writing to `wal`.
    pub fn new(groups: crate::groups::GroupList, wal: Wal, loaded: LoadStats) -> Self {
        Self {
            groups,
            wal,
            loaded,
            bgsave_running: Arc::default(),
        }
    }

    fn groups(&self) -> Vec<Arc<Group>> {
        self.groups
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn snapshot_running(&self) -> bool {
        self.groups().iter().any(|g| g.status().snapshot.building)
            || self
                .bgsave_running
                .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The groups' progress summed (indexes of different groups add up to the number
    /// of entries the node holds); the oldest snapshot time, since the node's data is
    /// all on disk only as of then.
    fn status(&self) -> okapi_raft::GroupStatus {
        let mut total = okapi_raft::GroupStatus::default();
        let mut oldest = u64::MAX;
        for group in &self.groups() {
            let s = group.status();
            total.last_log_index += s.last_log_index;
            total.last_applied += s.last_applied;
            total.log_entries += s.log_entries;
            total.log_bytes += s.log_bytes;
            total.snapshot.index += s.snapshot.index;
            total.snapshot.bytes += s.snapshot.bytes;
            total.snapshot.duration_ms += s.snapshot.duration_ms;
            total.snapshot.building |= s.snapshot.building;
            total.snapshot.failed |= s.snapshot.failed;
            oldest = oldest.min(s.snapshot.finished_at);
        }
        total.snapshot.finished_at = if oldest == u64::MAX { 0 } else { oldest };
        total
    }
}

impl Durability for NodeDurability {
    fn save(&self) -> BoxFuture<Result<(), String>> {
        let groups = self.groups();
        Box::pin(async move { snapshot_all(groups).await.map_err(|e| e.to_string()) })
    }

    fn bgsave(&self, schedule: bool) -> Result<&'static str, String> {
        let groups = self.groups();
        if self.snapshot_running() {
            if !schedule {
                return Err("Background save already in progress".into());
            }
            // The snapshot under way does not cover what was applied since it began.
            tokio::spawn(async move {
                if let Err(e) = snapshot_all(groups).await {
                    tracing::warn!(error = %e, "scheduled BGSAVE failed");
                }
            });
            return Ok("Background saving scheduled");
        }
        let running = self.bgsave_running.clone();
        running.store(true, std::sync::atomic::Ordering::Release);
        tokio::spawn(async move {
            // Covers everything applied when BGSAVE was answered.
            if let Err(e) = snapshot_all(groups).await {
                tracing::warn!(error = %e, "BGSAVE failed");
            }
            running.store(false, std::sync::atomic::Ordering::Release);
        });
        Ok("Background saving started")
    }

    fn last_save(&self) -> u64 {
        self.status().snapshot.finished_at
    }

    fn info(&self) -> Vec<(&'static str, String)> {
        let status = self.status();
        let wal = self.wal.status();
        vec![
            (
                "rdb_changes_since_last_save",
                status
                    .last_applied
                    .saturating_sub(status.snapshot.index)
                    .to_string(),
            ),
            (
                "rdb_bgsave_in_progress",
                u8::from(self.snapshot_running()).to_string(),
            ),
            (
                "rdb_last_save_time",
                status.snapshot.finished_at.to_string(),
            ),
            (
                "rdb_last_bgsave_status",
                if status.snapshot.failed {
                    "err".into()
                } else {
                    "ok".into()
                },
            ),
            ("aof_enabled", "1".into()),
            (
                "aof_last_write_status",
                if wal.poisoned.is_some() {
                    "err".into()
                } else {
                    "ok".into()
                },
            ),
            ("okapi_appendfsync", wal.fsync.as_str().into()),
            ("okapi_log_last_index", status.last_log_index.to_string()),
            ("okapi_log_applied", status.last_applied.to_string()),
            ("okapi_log_entries", status.log_entries.to_string()),
            ("okapi_log_bytes", status.log_bytes.to_string()),
            ("okapi_wal_segments", wal.segments.to_string()),
            ("okapi_wal_bytes", wal.bytes.to_string()),
            ("okapi_wal_fsyncs", wal.fsyncs.to_string()),
            (
                "okapi_wal_poisoned",
                wal.poisoned.clone().unwrap_or_else(|| "no".into()),
            ),
            ("okapi_snapshot_index", status.snapshot.index.to_string()),
            ("okapi_snapshot_bytes", status.snapshot.bytes.to_string()),
            (
                "okapi_snapshot_duration_ms",
                status.snapshot.duration_ms.to_string(),
            ),
            ("okapi_loaded_keys", self.loaded.keys.to_string()),
            (
                "okapi_loaded_replayed_entries",
                self.loaded.replayed.to_string(),
            ),
            ("okapi_loaded_ms", self.loaded.ms.to_string()),
            ("okapi_shard_groups", self.groups().len().to_string()),
        ]
    }

    fn set_appendfsync(&self, policy: &str) -> Result<(), String> {
        let policy: FsyncPolicy = policy.parse().map_err(|e| format!("{e}"))?;
        self.wal.set_fsync(policy);
        Ok(())
    }

    fn flush(&self) -> BoxFuture<Result<(), String>> {
        let wal = self.wal.clone();
        Box::pin(async move {
            if wal.status().fsync != FsyncPolicy::EverySec {
                return Ok(());
            }
            // An fsync can take milliseconds: off the event loop.
            tokio::task::spawn_blocking(move || wal.sync())
                .await
                .map_err(|e| format!("ERR flush task failed: {e}"))?
                .map_err(|e| format!("ERR {e}"))
        })
    }
}
