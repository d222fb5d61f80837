//! WAL behaviour without faults: groups, truncation, purge, validation, reopen.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use okapi_storage::{FsyncPolicy, GroupId, OsFs, StorageError, Wal, WalOptions, WalRecord, check};

use crate::common::*;

#[test]
fn interleaved_groups_recover_independently() {
    let (_, fs) = faulty();
    let (wal, rec) = open(&fs, WalOptions::default());
    assert!(rec.groups.is_empty() && rec.cut_tail.is_none());
    for i in 1..=20 {
        let mut batch = vec![entry(1, i), entry(2, i + 100)];
        if i % 2 == 0 {
            batch.push(entry(3, i / 2));
        }
        batch.push(hard_state(1, &format!("term {i}")));
        wal.append(batch).expect("append");
    }
    wal.close().expect("close");
    let (_wal, rec) = open(&fs, WalOptions::default());
    assert_eq!(entries_of(&rec, 1), expected(1, 1..=20));
    assert_eq!(entries_of(&rec, 2), expected(2, 101..=120));
    assert_eq!(entries_of(&rec, 3), expected(3, 1..=10));
    let g1 = &rec.groups[&GroupId(1)];
    assert_eq!(
        g1.hard_state.as_deref(),
        Some(&b"term 20"[..]),
        "latest hard state wins"
    );
    assert_eq!(rec.groups[&GroupId(2)].hard_state, None);
    assert_eq!(g1.purged, None);
}

#[test]
fn truncate_after_drops_the_tail_and_allows_rewrites() {
    let (_, fs) = faulty();
    let (wal, _) = open(&fs, WalOptions::default());
    wal.append((1..=10).map(|i| entry(1, i)).collect())
        .expect("append");
    wal.append((1..=5).map(|i| entry(2, i)).collect())
        .expect("append");
    let rewritten = WalRecord::Entry {
        group: GroupId(1),
        index: 7,
        payload: Bytes::from("new 7"),
    };
    wal.append(vec![
        WalRecord::TruncateAfter {
            group: GroupId(1),
            after: Some(6),
        },
        rewritten,
        WalRecord::TruncateAfter {
            group: GroupId(2),
            after: None,
        },
    ])
    .expect("truncate and rewrite");
    wal.close().expect("close");
    let (_wal, rec) = open(&fs, WalOptions::default());
    let mut want = expected(1, 1..=6);
    want.push((7, Bytes::from("new 7")));
    assert_eq!(entries_of(&rec, 1), want);
    assert!(
        entries_of(&rec, 2).is_empty(),
        "TruncateAfter(None) drops every entry"
    );
}

#[test]
fn purge_drops_the_head_and_keeps_its_payload() {
    let (_, fs) = faulty();
    let (wal, _) = open(&fs, WalOptions::default());
    wal.append((1..=10).map(|i| entry(1, i)).collect())
        .expect("append");
    wal.append(vec![purge(1, 4)]).expect("purge");
    wal.append(vec![entry(2, 1), purge(2, 50)])
        .expect("purge past the end");
    let err = wal
        .append(vec![entry(2, 2)])
        .expect_err("must follow the purge point");
    assert!(matches!(err, StorageError::Invalid(_)), "{err}");
    wal.append(vec![entry(2, 51)])
        .expect("follows the purge point");
    wal.close().expect("close");
    let (_wal, rec) = open(&fs, WalOptions::default());
    assert_eq!(entries_of(&rec, 1), expected(1, 5..=10));
    let g1 = &rec.groups[&GroupId(1)];
    assert_eq!(g1.purged, Some((4, Bytes::from("purged 4"))));
    assert_eq!(entries_of(&rec, 2), expected(2, 51..=51));
}

#[test]
fn an_invalid_request_writes_nothing_and_does_not_poison() {
    let (_, fs) = faulty();
    let (wal, _) = open(&fs, WalOptions::default());
    wal.append(vec![entry(1, 1)]).expect("append");
    let before = wal.status().bytes;
    let err = wal.append(vec![entry(1, 2), entry(1, 4)]).expect_err("gap");
    match &err {
        StorageError::Invalid(msg) => {
            assert!(msg.contains("group 1") && msg.contains("4"), "{msg}")
        }
        other => panic!("expected Invalid, got {other}"),
    }
    assert_eq!(
        wal.status().bytes,
        before,
        "a refused request writes nothing"
    );
    assert_eq!(wal.status().poisoned, None);
    wal.append(vec![entry(1, 2)]).expect("the log still works");
    wal.close().expect("close");
    let (_wal, rec) = open(&fs, WalOptions::default());
    assert_eq!(entries_of(&rec, 1), expected(1, 1..=2));
}

#[test]
fn reopen_after_clean_close_continues_the_same_log() {
    let (fs_impl, fs) = faulty();
    for round in 0..3u64 {
        let (wal, rec) = open(&fs, WalOptions::default());
        assert_eq!(entries_of(&rec, 1), expected(1, 1..=round * 5));
        assert!(rec.cut_tail.is_none());
        wal.append(
            (round * 5 + 1..=round * 5 + 5)
                .map(|i| entry(1, i))
                .collect(),
        )
        .expect("append");
        wal.close().expect("close");
    }
    assert_eq!(
        segments(&fs_impl).len(),
        1,
        "reopening appends to the last segment"
    );
}

#[test]
fn dropping_the_last_handle_flushes_and_syncs() {
    let (fs_impl, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::No, 1 << 20));
    wal.append(vec![entry(1, 1)]).expect("append");
    drop(wal);
    fs_impl.power_loss();
    fs_impl.restart();
    let (_wal, rec) = open(&fs, WalOptions::default());
    assert_eq!(entries_of(&rec, 1), expected(1, 1..=1));
}

#[test]
fn a_closed_wal_refuses_appends_from_other_handles() {
    let (_, fs) = faulty();
    let (wal, _) = open(&fs, WalOptions::default());
    let other = wal.clone();
    wal.close().expect("close");
    assert!(matches!(
        other.append(vec![entry(1, 1)]),
        Err(StorageError::Closed)
    ));
    assert!(matches!(other.sync(), Err(StorageError::Closed)));
}

#[test]
fn set_fsync_switches_policy_in_order() {
    let (_, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::No, 1 << 20));
    wal.append(vec![entry(1, 1)]).expect("append");
    assert_eq!(wal.status().fsyncs, 0, "`no` never fsyncs on its own");
    assert!(wal.status().pending_bytes > 0);
    wal.set_fsync(FsyncPolicy::Always);
    wal.append(vec![entry(1, 2)]).expect("append");
    let s = wal.status();
    assert_eq!((s.fsync, s.pending_bytes), (FsyncPolicy::Always, 0));
    // One fsync for the append, plus one for the earlier unsynced bytes if the policy
    // change ended a batch on its own.
    assert!((1..=2).contains(&s.fsyncs), "{s:?}");
    assert!(s.last_fsync.is_some() && s.last_fsync_duration.is_some());
}

#[test]
fn works_on_the_real_file_system() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fs: Arc<dyn okapi_storage::Fs> = Arc::new(OsFs);
    let options = opts(FsyncPolicy::Always, 4096);
    let (wal, _) = Wal::open(Arc::clone(&fs), tmp.path(), options).expect("open");
    for i in 1..=200 {
        wal.append(vec![entry(1, i), hard_state(1, "hs")])
            .expect("append");
    }
    assert!(wal.status().segments > 1, "4 KiB segments rotate");
    wal.close().expect("close");
    let (_wal, rec) = Wal::open(Arc::clone(&fs), tmp.path(), options).expect("reopen");
    assert_eq!(entries_of(&rec, 1), expected(1, 1..=200));
    let report = check(fs, tmp.path(), false).expect("check");
    assert!(report.is_ok(), "{report}");
}

#[test]
fn deferred_records_leave_with_the_next_write_and_at_close() {
    let (fs_impl, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::Always, 1 << 20));
    wal.append(vec![entry(1, 1)]).expect("append");
    let before = wal.status();
    wal.append_deferred(vec![hard_state(1, "hint")])
        .expect("deferred");
    let s = wal.status();
    assert_eq!(s.writes, before.writes, "a deferred record costs no write");
    assert!(s.pending_bytes > 0, "{s:?}");
    wal.append(vec![entry(1, 2)]).expect("append");
    let s = wal.status();
    assert_eq!(s.writes, before.writes + 1, "one write carried both");
    assert_eq!(s.pending_bytes, 0, "`always` fsynced both");
    wal.append_deferred(vec![hard_state(1, "last")])
        .expect("deferred");
    // A deferred record breaking the rules is refused at once, whole.
    let err = wal
        .append_deferred(vec![entry(1, 9)])
        .expect_err("index 9 does not follow 2");
    assert!(matches!(err, StorageError::Invalid(_)), "{err}");
    wal.close().expect("close");
    fs_impl.power_loss();
    fs_impl.restart();
    let (_wal, rec) = open(&fs, WalOptions::default());
    assert_eq!(entries_of(&rec, 1), expected(1, 1..=2));
    let group = rec.groups.get(&GroupId(1)).expect("group 1");
    assert_eq!(
        group.hard_state.as_deref(),
        Some(&b"last"[..]),
        "close wrote and synced the deferred record"
    );
}

#[test]
fn the_syncer_writes_deferred_records_within_a_second() {
    let (fs_impl, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::No, 1 << 20));
    wal.append_deferred(vec![hard_state(1, "hint")])
        .expect("deferred");
    let deadline = Instant::now() + Duration::from_secs(5);
    while wal.status().writes == 0 {
        assert!(Instant::now() < deadline, "the syncer never wrote it");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Written (in the page cache) though `no` never fsyncs: a crash keeps it.
    fs_impl.crash();
    fs_impl.restart();
    let (_wal, rec) = open(&fs, WalOptions::default());
    let group = rec.groups.get(&GroupId(1)).expect("group 1");
    assert_eq!(group.hard_state.as_deref(), Some(&b"hint"[..]));
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Wal>();
    send_sync::<okapi_storage::SnapshotStore>();
    send_sync::<okapi_storage::FaultyFs>();
    send::<okapi_storage::SnapshotWriter>();
    send::<okapi_storage::SnapshotReader>();
    send_sync::<StorageError>();
}
