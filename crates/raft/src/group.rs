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
use crate::network::GroupNetwork;
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
    /// A follower that hears no leader for a random time in this range (ms) starts
    /// an election.
    pub election_timeout_ms: (u64, u64),
    /// How often a leader sends heartbeats, ms.
    pub heartbeat_ms: u64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            snapshot_entries: 100_000,
            keep_after_snapshot: 1_000,
            election_timeout_ms: (150, 300),
            heartbeat_ms: 50,
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

/// A group whose log and snapshot are recovered, not yet started.
pub struct Recovered {
    id: GroupId,
    node: NodeId,
    fresh: bool,
    log: LogStore,
    sm: StateMachine,
    snapshots: Arc<SnapshotStore>,
    snapshot_stats: Arc<Mutex<SnapshotStats>>,
    raft_config: Config,
}

/// How a group starts on this node.
#[derive(Debug, Clone)]
pub enum Membership {
    /// A new group with these members (node id → cluster address); this node founds
    /// it. Ignored when the group has state already (a restart).
    Bootstrap(BTreeMap<u64, String>),
    /// Whatever the group's own log and snapshot say: a restart, or a new replica
    /// that waits to be added by the group's leader (it then catches up by log or
    /// snapshot).
    Existing,
}

impl Recovered {
    /// Index of the snapshot the state was restored from (0: none).
    pub fn snapshot_index(&self) -> u64 {
        self.sm.applied().map_or(0, |l| l.index)
    }

    /// Index of the last entry the log holds: replay goes up to here.
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }

    /// True when the group had no state on this node.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// The group's snapshot store.
    pub fn snapshots(&self) -> &Arc<SnapshotStore> {
        &self.snapshots
    }

    /// Starts the openraft instance on the current runtime, reaching peers through
    /// `network`. Returns at once: the group elects a leader, replays and catches up
    /// in the background ([`Group::wait_leader`] waits for that).
    pub async fn start(
        self,
        network: GroupNetwork,
        membership: Membership,
    ) -> Result<Group, RaftError> {
        let Self {
            id,
            node,
            fresh,
            log,
            sm,
            snapshots: _,
            snapshot_stats,
            raft_config,
        } = self;
        let applied_before = sm.applied().map_or(0, |l| l.index);
        let committed = log
            .recovered_committed()
            .map_or(0, |l| l.index)
            .max(log.last_index());
        let raft = Raft::new(node.0, Arc::new(raft_config), network, log.clone(), sm)
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))?;
        match membership {
            Membership::Bootstrap(members) if fresh => {
                let members: BTreeMap<u64, openraft::impls::BasicNode> = members
                    .into_iter()
                    .map(|(id, addr)| (id, openraft::impls::BasicNode { addr }))
                    .collect();
                raft.initialize(members)
                    .await
                    .map_err(|e| RaftError::Fatal(e.to_string()))?;
            }
            _ if !fresh => {
                // A lone member has nobody to wait for: elect at once after a restart.
                // With peers, this only starts the first election early.
                let lone = {
                    let metrics = raft.metrics();
                    let m = metrics.borrow_watched();
                    m.membership_config.membership().voter_ids().eq([node.0])
                };
                if lone {
                    let _ = raft.trigger().elect(false).await;
                }
            }
            _ => {}
        }
        tracing::info!(group = %id, snapshot_index = applied_before, committed, "group started");
        Ok(Group {
            id,
            raft: raft.clone(),
            log,
            proposer: Proposer::spawn(raft),
            snapshot_stats,
            recovered_committed: committed,
        })
    }
}

/// A running group.
pub struct Group {
    id: GroupId,
    raft: Raft,
    log: LogStore,
    proposer: Proposer,
    snapshot_stats: Arc<Mutex<SnapshotStats>>,
    /// The last index this node's log held when it started.
    recovered_committed: u64,
}

impl Group {
    /// The blocking half of starting a group: rebuilds the log store and restores
    /// the newest snapshot into `machine`. It reads files and may take long on a big
    /// dataset, so callers run it off their event loop, then [`Recovered::start`]
    /// the group.
    pub fn recover(
        id: GroupId,
        node: NodeId,
        wal: Wal,
        recovered: RecoveredGroup,
        snapshots: Arc<SnapshotStore>,
        machine: Arc<dyn Machine>,
        config: &GroupConfig,
    ) -> Result<Recovered, RaftError> {
        let fresh = recovered.hard_state.is_none()
            && recovered.entries.is_empty()
            && recovered.purged.is_none();
        let log = LogStore::recover(id, wal, recovered)?;
        let snapshot_stats = Arc::new(Mutex::new(SnapshotStats::default()));
        let sm = StateMachine::recover(id, machine, snapshots.clone(), snapshot_stats.clone())?;
        let fresh = fresh && sm.applied().is_none();
        let raft_config = Config {
            cluster_name: "okapi".to_owned(),
            election_timeout_min: config.election_timeout_ms.0,
            election_timeout_max: config.election_timeout_ms.1,
            heartbeat_interval: config.heartbeat_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_entries),
            max_in_snapshot_log_to_keep: config.keep_after_snapshot,
            // Bounded AppendEntries: the transport also cuts them by bytes.
            max_payload_entries: 256,
            ..Config::default()
        }
        .validate()
        .map_err(|e| RaftError::Config(e.to_string()))?;
        Ok(Recovered {
            id,
            node,
            fresh,
            log,
            sm,
            snapshots,
            snapshot_stats,
            raft_config,
        })
    }

    /// Waits until this node leads and has applied everything its log held when it
    /// started (a standalone node is ready then).
    pub async fn wait_leader(&self) -> Result<(), RaftError> {
        self.wait_ready(self.recovered_committed).await
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

    /// Calls `report` with the group's leader (node id) now and whenever it changes,
    /// until the group stops.
    pub fn watch_leader(&self, report: impl Fn(Option<u64>) + Send + 'static) {
        let mut metrics = self.raft.metrics();
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let leader = metrics.borrow_watched().current_leader;
                if last != Some(leader) {
                    report(leader);
                    last = Some(leader);
                }
                if metrics.changed().await.is_err() {
                    report(None);
                    return;
                }
            }
        });
    }

    /// The group's Raft instance (for the transport's dispatcher).
    pub fn raft(&self) -> &Raft {
        &self.raft
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
