//! One Raft group: its log store, state machine, openraft instance and proposer.

use std::collections::{BTreeMap, BTreeSet};
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
        // Two thirds of the shortest election timeout (see `Role`).
        let read_lease = Duration::from_millis(raft_config.election_timeout_min * 2 / 3);
        let committed = log
            .recovered_committed()
            .map_or(0, |l| l.index)
            .max(log.last_index());
        let raft = Raft::new(node.0, Arc::new(raft_config), network, log.clone(), sm)
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))?;
        match membership {
            Membership::Bootstrap(members) if fresh => initialize(&raft, members).await?,
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
            raft_id: node.0,
            read_lease,
        })
    }
}

/// A group's leadership as one replica sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Role {
    /// The leader's node id, if known.
    pub leader: Option<u64>,
    /// On the leader: until when it may serve linearizable reads from its own state
    /// without asking the others. A quorum acknowledged it at some moment `t` (when
    /// the acknowledged request was sent); no other leader can be elected before
    /// `t + election_timeout_min` on any node's clock, so the lease ends earlier, at
    /// `t + read_lease`. Monotonic clocks only; assumes they run at about the same
    /// rate on every node (less than a third apart over one election timeout).
    pub read_lease_until: Option<tokio::time::Instant>,
}

/// Founds group `raft` with `members` (node id → cluster address).
async fn initialize(raft: &Raft, members: BTreeMap<u64, String>) -> Result<(), RaftError> {
    let members: BTreeMap<u64, openraft::impls::BasicNode> = members
        .into_iter()
        .map(|(id, addr)| (id, openraft::impls::BasicNode { addr }))
        .collect();
    raft.initialize(members)
        .await
        .map_err(|e| RaftError::Fatal(e.to_string()))
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
    /// This node's id in the group.
    raft_id: u64,
    /// How long a quorum acknowledgement lets the leader serve reads alone.
    read_lease: Duration,
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
            // A node cut off from the others, or a stale replica restarted after its
            // group moved on, asks before it bumps its term: without this its
            // elections would depose healthy leaders it cannot replace.
            enable_pre_vote: Some(true),
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
                if reported_leader(&m) == Some(m.id) && applied >= index {
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

    /// Proposes `ops` (leader time `now_ms`) from `writer`; `done` gets the replies
    /// once applied.
    pub fn propose(
        &self,
        now_ms: u64,
        ops: Vec<Op>,
        writer: crate::batch::Writer,
        done: crate::proposer::Done,
    ) {
        self.proposer.propose(now_ms, ops, writer, done);
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

    /// Calls `report` with the group's [`Role`] now and whenever it changes, until the
    /// group stops.
    pub fn watch_role(&self, report: impl Fn(Role) + Send + 'static) {
        let mut metrics = self.raft.metrics();
        let lease = self.read_lease;
        let me = self.raft_id;
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let role = {
                    let m = metrics.borrow_watched();
                    let leads = reported_leader(&m) == Some(me);
                    // Reads are served only once the leader has applied an entry of its
                    // own term (its first, a no-op): by then it has applied everything
                    // earlier leaders committed.
                    let caught_up = m
                        .last_applied
                        .is_some_and(|l| l.leader_id.term == m.current_term);
                    let lone = m.membership_config.membership().voter_ids().count() == 1;
                    let read_lease_until = match (leads && caught_up, lone) {
                        (false, _) => None,
                        (true, true) => {
                            Some(tokio::time::Instant::now() + Duration::from_secs(3600))
                        }
                        (true, false) => m.last_quorum_acked.as_ref().map(|acked| {
                            // openraft's instant is tokio's, behind a newtype.
                            let age = openraft::Instant::elapsed(&**acked);
                            (tokio::time::Instant::now() + lease)
                                .checked_sub(age)
                                .unwrap_or_else(tokio::time::Instant::now)
                        }),
                    };
                    Role {
                        leader: reported_leader(&m),
                        read_lease_until,
                    }
                };
                if last.as_ref() != Some(&role) {
                    report(role.clone());
                    last = Some(role);
                }
                if metrics.changed().await.is_err() {
                    report(Role::default());
                    return;
                }
            }
        });
    }

    /// The group's Raft instance (for the transport's dispatcher).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Founds a new group with `members` (node id → cluster address) on this node,
    /// which must have no state for it yet.
    pub async fn initialize(&self, members: BTreeMap<u64, String>) -> Result<(), RaftError> {
        initialize(&self.raft, members).await
    }

    /// The voters and all members (voters and learners) of the current membership.
    pub fn membership(&self) -> (Vec<u64>, Vec<u64>) {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let membership = m.membership_config.membership();
        (
            membership.voter_ids().collect(),
            membership.nodes().map(|(id, _)| *id).collect(),
        )
    }

    /// On the leader: adds node `id` (at cluster address `addr`) as a learner, which
    /// receives the log without voting. Returns once the change is committed.
    pub async fn add_learner(&self, id: u64, addr: String) -> Result<(), RaftError> {
        self.raft
            .add_learner(id, openraft::impls::BasicNode { addr }, false)
            .await
            .map(drop)
            .map_err(|e| RaftError::Fatal(e.to_string()))
    }

    /// On the leader: makes exactly `voters` the group's voters (each already a
    /// member, as a learner or a voter) through joint consensus; replaced voters stay
    /// as learners when `retain`, else they leave. Returns once the final
    /// configuration is committed.
    pub async fn replace_voters(
        &self,
        voters: BTreeSet<u64>,
        retain: bool,
    ) -> Result<(), RaftError> {
        self.change_membership(openraft::ChangeMembers::ReplaceAllVoters(voters), retain)
            .await
    }

    /// On the leader: removes `members` (learners; a voter must be replaced first).
    pub async fn remove_members(&self, members: BTreeSet<u64>) -> Result<(), RaftError> {
        self.change_membership(openraft::ChangeMembers::RemoveNodes(members), false)
            .await
    }

    /// On the leader: records `addr` as member `id`'s cluster address (a standalone
    /// node's group has none, as it had no peer to tell). Returns once committed.
    pub async fn set_address(&self, id: u64, addr: String) -> Result<(), RaftError> {
        let nodes = [(id, openraft::impls::BasicNode { addr })]
            .into_iter()
            .collect();
        self.change_membership(openraft::ChangeMembers::SetNodes(nodes), true)
            .await
    }

    /// One membership change, returning once committed.
    async fn change_membership(
        &self,
        change: openraft::ChangeMembers<u64, openraft::impls::BasicNode>,
        retain: bool,
    ) -> Result<(), RaftError> {
        self.raft
            .change_membership(change, retain)
            .await
            .map(drop)
            .map_err(|e| RaftError::Fatal(e.to_string()))
    }

    /// On the leader: hands leadership to voter `to`, which takes over once its log
    /// holds everything this leader's does (nothing happens elsewhere). Returns at
    /// once; the group's metrics show when `to` leads.
    pub async fn transfer_leader(&self, to: u64) -> Result<(), RaftError> {
        self.raft
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))
    }

    /// On the leader: how long since each other member last acknowledged a heartbeat
    /// or an append (`None`: never, since this node became leader). Empty elsewhere.
    pub fn peer_silence(&self) -> Vec<(u64, Option<Duration>)> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        m.heartbeat.as_ref().map_or_else(Vec::new, |beats| {
            beats
                .iter()
                .filter(|(id, _)| **id != m.id)
                .map(|(id, at)| (*id, at.as_ref().map(|at| openraft::Instant::elapsed(&**at))))
                .collect()
        })
    }

    /// Whether the group's latest membership is committed (no change under way).
    pub fn membership_settled(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        m.membership_config.log_id() == m.committed_membership_config.log_id()
    }

    /// On the leader, each other member's matched log index (empty elsewhere).
    pub fn replication(&self) -> Vec<(u64, u64)> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        m.replication.as_ref().map_or_else(Vec::new, |replication| {
            replication
                .iter()
                .filter(|(id, _)| **id != m.id)
                .map(|(id, matched)| (*id, matched.as_ref().map_or(0, |l| l.index)))
                .collect()
        })
    }

    /// On the leader: how many entries member `id`'s log is behind this leader's
    /// (`None`: not a member being replicated to, or not the leader).
    pub fn lag_of(&self, id: u64) -> Option<u64> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let matched = m.replication.as_ref()?.get(&id)?;
        let last = m.last_log_index.unwrap_or(0);
        Some(last.saturating_sub(matched.as_ref().map_or(0, |l| l.index)))
    }

    /// On the leader, how many other members' logs hold `index` (0 elsewhere).
    pub fn replicas_with(&self, index: u64) -> u64 {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        m.replication.as_ref().map_or(0, |replication| {
            replication
                .iter()
                .filter(|(id, matched)| **id != m.id && matched.is_some_and(|l| l.index >= index))
                .count() as u64
        })
    }

    /// Whether this node leads the group now.
    pub fn is_leader(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        reported_leader(&m) == Some(m.id)
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
            leader: reported_leader(&m),
        }
    }

    /// Stops the group and drops this node's replica of it (it left the group): the
    /// log and the group's files in `snapshots` go, the vote stays. Returns what a
    /// later [`Group::recover`] of the same group in this process starts from.
    pub async fn discard(&self, snapshots: &SnapshotStore) -> Result<RecoveredGroup, RaftError> {
        self.shutdown().await?;
        let recovered = self.log.reset()?;
        snapshots.remove_older(self.id, u64::MAX)?;
        Ok(recovered)
    }

    /// Stops the group.
    pub async fn shutdown(&self) -> Result<(), RaftError> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))
    }
}

/// The group's leader as this replica knows it. openraft keeps naming this node the
/// leader after it stepped down as a leader removed from the group (its vote stays
/// the committed one of its own term, and no newer leader contacts it): it leads
/// only while it is in the leader state.
fn reported_leader(m: &openraft::RaftMetrics<crate::types::TypeConfig>) -> Option<u64> {
    match m.current_leader {
        Some(id) if id == m.id && m.state != openraft::ServerState::Leader => None,
        other => other,
    }
}
