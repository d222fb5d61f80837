//! The log store and state machine against openraft's storage conformance suite, plus
//! the round trips the suite does not cover: a restart that rebuilds both from disk,
//! and a snapshot of real engine data installed on another node.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use okapi_engine::strings::{StringOp, StringQuery};
use okapi_engine::{ApplyCtx, Engine, Op, Query, QueryKind, ReadCtx, Reply, SnapshotHeader};
use okapi_raft::log_store::LogStore;
use okapi_raft::state_machine::{SnapshotStats, StateMachine};
use okapi_raft::types::{Entry, LogId, TypeConfig};
use okapi_raft::{LogBatch, Machine, MachineError, Part};
use okapi_storage::{OsFs, SnapshotStore, Wal, WalOptions};
use okapi_types::{GroupId, Namespace};
use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{EntryPayload, StorageError};
use tempfile::TempDir;

const GROUP: GroupId = GroupId(7);

/// The engine behind a mutex, as the node wires it (minus blocked clients).
struct EngineMachine(Mutex<Engine>);

impl EngineMachine {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Engine::new(1, 42))))
    }

    fn get(&self, key: &str) -> Reply {
        let query = Query {
            db: Namespace(0),
            kind: QueryKind::Str(StringQuery::Get {
                key: Bytes::copy_from_slice(key.as_bytes()),
            }),
        };
        self.0.lock().expect("engine lock").query(
            &query,
            &ReadCtx {
                now_ms: 1_000,
                random: 0,
            },
        )
    }
}

fn machine_error(e: impl std::fmt::Display) -> MachineError {
    MachineError(e.to_string())
}

impl Machine for EngineMachine {
    fn apply(&self, index: u64, batch: LogBatch) -> Vec<Reply> {
        let mut engine = self.0.lock().expect("engine lock");
        let mut replies = Vec::new();
        for part in batch.parts {
            let ctx = ApplyCtx {
                now_ms: part.now_ms,
                index,
            };
            for op in part.ops {
                replies.push(engine.apply(op, &ctx));
            }
        }
        replies
    }

    fn snapshot_begin(&self) -> Result<Vec<u8>, MachineError> {
        let header = self
            .0
            .lock()
            .expect("engine lock")
            .snapshot_begin()
            .map_err(machine_error)?;
        Ok(header.to_bytes())
    }

    fn snapshot_next(&self, max_bytes: usize) -> Option<Vec<u8>> {
        self.0.lock().expect("engine lock").snapshot_next(max_bytes)
    }

    fn snapshot_abort(&self) {
        self.0.lock().expect("engine lock").snapshot_abort();
    }

    fn restore(
        &self,
        header: &[u8],
        chunks: &mut dyn Iterator<Item = Result<Bytes, MachineError>>,
    ) -> Result<(), MachineError> {
        let header = SnapshotHeader::from_bytes(header).map_err(machine_error)?;
        let mut restore = Engine::restore_begin(&header).map_err(machine_error)?;
        for chunk in chunks {
            restore.restore_chunk(&chunk?).map_err(machine_error)?;
        }
        *self.0.lock().expect("engine lock") = restore.finish().map_err(machine_error)?;
        Ok(())
    }
}

/// Opens the WAL and snapshots of `dir` and rebuilds both stores from them.
fn open_stores(dir: &std::path::Path, machine: Arc<EngineMachine>) -> (LogStore, StateMachine) {
    open_stores_with(dir, machine, WalOptions::default()).0
}

/// [`open_stores`] with chosen WAL options; also returns the WAL handle.
fn open_stores_with(
    dir: &std::path::Path,
    machine: Arc<EngineMachine>,
    options: WalOptions,
) -> ((LogStore, StateMachine), Wal) {
    let fs = Arc::new(OsFs);
    let (wal, mut recovered) = Wal::open(fs.clone(), dir, options).expect("open the WAL");
    let handle = wal.clone();
    let group = recovered.groups.remove(&GROUP).unwrap_or_default();
    let log = LogStore::recover(GROUP, wal, group).expect("recover the log");
    let snapshots = Arc::new(SnapshotStore::open(fs, dir).expect("open the snapshot store"));
    let stats = Arc::new(Mutex::new(SnapshotStats::default()));
    let sm =
        StateMachine::recover(GROUP, machine, snapshots, stats).expect("recover the state machine");
    ((log, sm), handle)
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, sm) = open_stores(dir.path(), EngineMachine::new());
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite() {
    Suite::test_all(Builder)
        .await
        .expect("openraft storage suite");
}

fn log_id(term: u64, index: u64) -> LogId {
    use openraft::vote::RaftLeaderIdExt;
    LogId::new(
        openraft::impls::leader_id_adv::LeaderId::<u64, u64>::new_committed(term, 1),
        index,
    )
}

fn set_entry(term: u64, index: u64, key: &str, value: &str) -> Entry {
    let op = Op {
        db: Namespace(0),
        kind: StringOp::MSet {
            pairs: vec![(
                Bytes::copy_from_slice(key.as_bytes()),
                Bytes::copy_from_slice(value.as_bytes()),
            )],
            nx: false,
        }
        .into(),
    };
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(LogBatch {
            parts: vec![Part {
                now_ms: 1_000,
                ops: vec![op],
                writer: Default::default(),
            }],
        }),
    }
}

async fn apply(sm: &mut StateMachine, entries: Vec<Entry>) {
    let stream = futures_util::stream::iter(entries.into_iter().map(|e| Ok((e, None))));
    sm.apply(stream).await.expect("apply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_engine_data_installs_on_another_node_and_survives_restart() {
    let leader_dir = tempfile::tempdir().expect("temp dir");
    let follower_dir = tempfile::tempdir().expect("temp dir");
    let leader = EngineMachine::new();
    let (_leader_log, mut leader_sm) = open_stores(leader_dir.path(), leader.clone());
    apply(
        &mut leader_sm,
        (1..=100)
            .map(|i| set_entry(1, i, &format!("k{i}"), &format!("v{i}")))
            .collect(),
    )
    .await;
    let snapshot = leader_sm
        .try_create_snapshot_builder(true)
        .await
        .expect("builder")
        .build_snapshot()
        .await
        .expect("build the snapshot");
    assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(100));
    // Writes after the snapshot began are not in it.
    apply(&mut leader_sm, vec![set_entry(1, 101, "k1", "changed")]).await;
    assert_eq!(
        leader.get("k1"),
        Reply::Bulk(Bytes::from_static(b"changed"))
    );

    let follower = EngineMachine::new();
    let (_follower_log, mut follower_sm) = open_stores(follower_dir.path(), follower.clone());
    follower_sm
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .expect("install the snapshot");
    assert_eq!(follower.get("k1"), Reply::Bulk(Bytes::from_static(b"v1")));
    assert_eq!(
        follower.get("k100"),
        Reply::Bulk(Bytes::from_static(b"v100"))
    );
    let current = follower_sm
        .get_current_snapshot()
        .await
        .expect("current snapshot")
        .expect("adopted");
    assert!(
        current.snapshot.path.starts_with(follower_dir.path()),
        "the follower keeps its own copy: {:?}",
        current.snapshot.path
    );
    drop((follower_sm, _follower_log));

    // The follower restarts from its own copy with the leader's directory gone.
    drop(leader_dir);
    let restarted = EngineMachine::new();
    let (_log, sm) = open_stores(follower_dir.path(), restarted.clone());
    assert_eq!(sm.applied().map(|l| l.index), Some(100));
    assert_eq!(
        restarted.get("k42"),
        Reply::Bulk(Bytes::from_static(b"v42"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_entries_and_vote_survive_reopening_the_wal() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let (mut log, _sm) = open_stores(dir.path(), EngineMachine::new());
        let vote = openraft::impls::Vote::new(3, 1);
        log.save_vote(&vote).await.expect("save the vote");
        let entries: Vec<Entry> = (1..=20)
            .map(|i| set_entry(3, i, "k", &i.to_string()))
            .collect();
        let (tx, rx) = <TypeConfig as openraft::type_config::TypeConfigExt>::oneshot();
        log.append(entries, openraft::storage::IOFlushed::signal(tx))
            .await
            .expect("append");
        rx.await.expect("flush signal").expect("append flushed");
        log.truncate_after(Some(log_id(3, 15)))
            .await
            .expect("truncate");
    }
    let (mut log, _sm) = open_stores(dir.path(), EngineMachine::new());
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_log_id.map(|l| l.index), Some(15));
    let mut reader = log.get_log_reader().await;
    use openraft::RaftLogReader;
    assert_eq!(
        reader.read_vote().await.expect("read the vote"),
        Some(openraft::impls::Vote::new(3, 1))
    );
    let entries = reader
        .try_get_log_entries(1..16)
        .await
        .expect("read entries");
    assert_eq!(entries.len(), 15);
    assert_eq!(entries[14].log_id.index, 15);
}

/// Appends `count` entries one at a time from index `from`, each waiting for its
/// flush signal (bounded, so a flush that never comes fails instead of hanging).
async fn append_one_by_one(log: &mut LogStore, from: u64, count: u64) {
    for i in from..from + count {
        let (tx, rx) = <TypeConfig as openraft::type_config::TypeConfigExt>::oneshot();
        log.append(
            vec![set_entry(1, i, "k", &i.to_string())],
            openraft::storage::IOFlushed::signal(tx),
        )
        .await
        .expect("append");
        tokio::time::timeout(std::time::Duration::from_secs(10), rx)
            .await
            .expect("the flush signal came")
            .expect("flush signal")
            .expect("append flushed");
    }
}

fn always() -> WalOptions {
    WalOptions {
        fsync: okapi_storage::FsyncPolicy::Always,
        ..WalOptions::default()
    }
}

#[test]
fn always_appends_are_fsynced_when_the_event_loop_parks() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(okapi_raft::before_park)
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    runtime.block_on(async {
        let ((mut log, _sm), wal) = open_stores_with(dir.path(), EngineMachine::new(), always());
        append_one_by_one(&mut log, 1, 20).await;
        let status = wal.status();
        assert_eq!(status.pending_bytes, 0, "{status:?}");
        assert!(status.fsyncs >= 20, "one fsync per lone append: {status:?}");
    });
}

#[tokio::test(flavor = "current_thread")]
async fn always_appends_are_fsynced_on_a_loop_that_never_calls_the_park_hook() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ((mut log, _sm), wal) = open_stores_with(dir.path(), EngineMachine::new(), always());
    append_one_by_one(&mut log, 1, 20).await;
    let status = wal.status();
    assert_eq!(status.pending_bytes, 0, "{status:?}");
    assert!(status.fsyncs >= 20, "{status:?}");
    // Under everysec the flusher is bypassed: appends are acknowledged at once.
    wal.set_fsync(okapi_storage::FsyncPolicy::EverySec);
    append_one_by_one(&mut log, 21, 5).await;
}
