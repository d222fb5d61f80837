//! One Raft group: its log store, state machine, openraft instance and proposer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use okapi_engine::Op;
use okapi_storage::{RecoveredGroup, SnapshotStore, Wal};
use okapi_types::{GroupId, NodeId};
use openraft::async_runtime::WatchReceiver;
use openraft::{Config, SnapshotPolicy};

use crate::error::RaftError;
use crate::log_store::LogStore;
use crate::machine::Machine;
use crate::network::NoNetwork;
use crate::proposer::Proposer;
use crate::state_machine::{SnapshotStats, StateMachine};
use crate::types::Raft;

/// Settings of a group.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// Take a snapshot after this many entries since the last one.
    pub snapshot_entries: u64,
    /// Entries kept in the log after a snapshot (for followers catching up).
    pub keep_after_snapshot: u64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            snapshot_entries: 100_000,
            keep_after_snapshot: 1_000,
        }
    }
}

/// What INFO persistence reports about a group.
#[derive(Debug, Clone, Default)]
pub struct GroupStatus {
    /// Index of the last log entry.
    pub last_log_index: u64,
    /// Index of the last applied entry.
    pub last_applied: u64,
    /// Entries held in the log since the last purge.
    pub log_entries: usize,
    /// Encoded bytes of those entries.
    pub log_bytes: u64,
    /// The newest snapshot.
    pub snapshot: SnapshotStats,
    /// Current leader, if known.
    pub leader: Option<u64>,
}

/// A one-member group whose log and snapshot are recovered, not yet started.
pub struct RecoveredSingle {
    id: GroupId,
    node: NodeId,
    fresh: bool,
    log: LogStore,
    sm: StateMachine,
    snapshot_stats: Arc<Mutex<SnapshotStats>>,
    raft_config: Config,
}

impl RecoveredSingle {
    /// Index of the snapshot the state was restored from (0: none).
    pub fn snapshot_index(&self) -> u64 {
        self.sm.applied().map_or(0, |l| l.index)
    }

    /// Index of the last entry the log holds: replay goes up to here.
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }

    /// Starts the openraft instance on the current runtime and replays the committed
    /// entries after the snapshot. Returns once the group leads and has applied
    /// everything committed before the restart.
    pub async fn start(self) -> Result<Group, RaftError> {
        let Self {
            id,
            node,
            fresh,
            log,
            sm,
            snapshot_stats,
            raft_config,
        } = self;
        let applied_before = sm.applied().map_or(0, |l| l.index);
        let committed = log
            .recovered_committed()
            .map_or(0, |l| l.index)
            .max(log.last_index());
        let raft = Raft::new(node.0, Arc::new(raft_config), NoNetwork, log.clone(), sm)
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))?;
        if fresh {
            let mut members = BTreeMap::new();
            members.insert(node.0, openraft::impls::BasicNode::default());
            raft.initialize(members)
                .await
                .map_err(|e| RaftError::Fatal(e.to_string()))?;
        } else {
            let _ = raft.trigger().elect(false).await;
        }
        let group = Group {
            id,
            raft: raft.clone(),
            log,
            proposer: Proposer::spawn(raft),
            snapshot_stats,
        };
        group.wait_ready(committed).await?;
        let applied = group.status().last_applied;
        tracing::info!(group = %id, snapshot_index = applied_before, replayed = applied.saturating_sub(applied_before), "group ready");
        Ok(group)
    }
}

/// A running group.
pub struct Group {
    id: GroupId,
    raft: Raft,
    log: LogStore,
    proposer: Proposer,
    snapshot_stats: Arc<Mutex<SnapshotStats>>,
}

impl Group {
    /// Starts group `id` on this node as its only member: loads the newest snapshot into
    /// `machine`, rebuilds the log from `recovered`, then replays committed entries.
    /// Returns once the group leads and has applied everything committed before.
    pub async fn start_single(
        id: GroupId,
        node: NodeId,
        wal: Wal,
        recovered: RecoveredGroup,
        snapshots: Arc<SnapshotStore>,
        machine: Arc<dyn Machine>,
        config: &GroupConfig,
    ) -> Result<Self, RaftError> {
        Self::recover_single(id, node, wal, recovered, snapshots, machine, config)?
            .start()
            .await
    }

    /// The blocking half of [`Group::start_single`]: rebuilds the log store and restores
    /// the newest snapshot into `machine`. It reads files and may take long on a big
    /// dataset, so callers run it off their event loop, then
    /// [`RecoveredSingle::start`] the group.
    pub fn recover_single(
        id: GroupId,
        node: NodeId,
        wal: Wal,
        recovered: RecoveredGroup,
        snapshots: Arc<SnapshotStore>,
        machine: Arc<dyn Machine>,
        config: &GroupConfig,
    ) -> Result<RecoveredSingle, RaftError> {
        let fresh = recovered.hard_state.is_none()
            && recovered.entries.is_empty()
            && recovered.purged.is_none();
        let log = LogStore::recover(id, wal, recovered)?;
        let snapshot_stats = Arc::new(Mutex::new(SnapshotStats::default()));
        let sm = StateMachine::recover(id, machine, snapshots, snapshot_stats.clone())?;
        let raft_config = Config {
            cluster_name: "okapi".to_owned(),
            // A lone member has nobody to wait for: elect at once after a restart.
            election_timeout_min: 150,
            election_timeout_max: 300,
            heartbeat_interval: 50,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_entries),
            max_in_snapshot_log_to_keep: config.keep_after_snapshot,
            ..Config::default()
        }
        .validate()
        .map_err(|e| RaftError::Config(e.to_string()))?;
        Ok(RecoveredSingle {
            id,
            node,
            fresh,
            log,
            sm,
            snapshot_stats,
            raft_config,
        })
    }

    /// Waits until this node leads and has applied at least `index`.
    async fn wait_ready(&self, index: u64) -> Result<(), RaftError> {
        let mut metrics = self.raft.metrics();
        loop {
            {
                let m = metrics.borrow_watched();
                let applied = m.last_applied.map_or(0, |l| l.index);
                if m.current_leader == Some(m.id) && applied >= index {
                    return Ok(());
                }
            }
            if metrics.changed().await.is_err() {
                return Err(RaftError::Fatal("raft stopped while starting".into()));
            }
        }
    }

    /// The group's id.
    pub fn id(&self) -> GroupId {
        self.id
    }

    /// Proposes `ops` (leader time `now_ms`); `done` gets the replies once applied.
    pub fn propose(&self, now_ms: u64, ops: Vec<Op>, done: crate::proposer::Done) {
        self.proposer.propose(now_ms, ops, done);
    }

    /// Takes a snapshot now and waits until it is on disk (SAVE); returns its index.
    /// A snapshot already being built may end before the current index: the trigger
    /// is repeated (openraft ignores it while one is under way) until one covers it.
    pub async fn snapshot(&self) -> Result<u64, RaftError> {
        let target = self.status().last_applied;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        let mut metrics = self.raft.metrics();
        self.trigger_snapshot().await?;
        loop {
            if metrics.borrow_watched().snapshot.map_or(0, |l| l.index) >= target {
                return Ok(target);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RaftError::Fatal(
                    "snapshot did not finish within 10 minutes".into(),
                ));
            }
            match tokio::time::timeout(Duration::from_millis(100), metrics.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return Err(RaftError::Fatal("raft stopped during a snapshot".into()));
                }
                Err(_) => self.trigger_snapshot().await?,
            }
        }
    }

    /// Starts a snapshot in the background (BGSAVE).
    pub async fn trigger_snapshot(&self) -> Result<(), RaftError> {
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))
    }

    /// Whether this node leads the group now.
    pub fn is_leader(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        m.current_leader == Some(m.id)
    }

    /// Progress counters.
    pub fn status(&self) -> GroupStatus {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let (log_entries, log_bytes) = self.log.usage();
        GroupStatus {
            last_log_index: m.last_log_index.unwrap_or(0),
            last_applied: m.last_applied.map_or(0, |l| l.index),
            log_entries,
            log_bytes,
            snapshot: *self
                .snapshot_stats
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            leader: m.current_leader,
        }
    }

    /// Stops the group.
    pub async fn shutdown(&self) -> Result<(), RaftError> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))
    }
}
