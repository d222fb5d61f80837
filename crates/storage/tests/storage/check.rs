//! The offline checker on healthy and unhealthy data directories.

use okapi_storage::{FsyncPolicy, GroupId, SnapshotStore, check};

use crate::common::*;

#[test]
fn a_healthy_directory_checks_clean_with_a_summary() {
    let (_, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::No, 512));
    for i in 1..=30 {
        wal.append(vec![entry(1, i), hard_state(1, "hs")])
            .expect("append");
    }
    let store = SnapshotStore::open(fs.clone(), &data_dir()).expect("store");
    let mut w = store.create(GroupId(1), 20, b"m").expect("create");
    w.write_chunk(b"state").expect("write");
    w.finish().expect("finish");
    wal.append(vec![purge(1, 20)]).expect("purge");
    wal.close().expect("close");
    let report = check(fs, &data_dir(), false).expect("check");
    assert!(report.is_ok(), "{report}");
    assert!(report.would_drop.is_empty());
    let g = &report.groups[&GroupId(1)];
    assert_eq!(
        (g.entries, g.purged, g.snapshot, g.hard_state),
        (Some((21, 30)), Some(20), Some(20), true)
    );
    let text = report.to_string();
    assert!(
        text.contains("result: OK") && text.contains("group 1: entries 21..=30"),
        "{text}"
    );
}

#[test]
fn a_purged_log_without_a_covering_snapshot_is_a_problem() {
    let (_, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::No, 1 << 20));
    wal.append((1..=10).map(|i| entry(1, i)).collect())
        .expect("append");
    wal.append(vec![purge(1, 8)]).expect("purge");
    wal.close().expect("close");
    let report = check(fs.clone(), &data_dir(), false).expect("check");
    assert!(!report.is_ok());
    assert!(report.problems[0].contains("no valid snapshot"), "{report}");

    let store = SnapshotStore::open(fs.clone(), &data_dir()).expect("store");
    let mut w = store.create(GroupId(1), 5, b"m").expect("create");
    w.write_chunk(b"s").expect("write");
    w.finish().expect("finish");
    let report = check(fs.clone(), &data_dir(), true).expect("check");
    assert!(
        report.problems[0].contains("entries 6..=8 are lost"),
        "{report}"
    );
    assert!(!report.is_ok(), "repair cannot invent data");
}

#[test]
fn a_torn_tail_is_a_note_and_repair_cuts_it() {
    let (fs_impl, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::Always, 1 << 20));
    wal.append(vec![entry(1, 1)]).expect("append");
    wal.append(vec![entry(1, 2), entry(1, 3)]).expect("append");
    fs_impl.tear_last_write(50).expect("tear");
    fs_impl.crash();
    drop(wal);
    fs_impl.restart();
    let report = check(fs.clone(), &data_dir(), false).expect("check");
    assert!(
        report.is_ok(),
        "a torn tail is expected after a crash: {report}"
    );
    assert!(report.notes[0].contains("torn write"), "{report}");
    // Entry 2 survived whole; the cut holds the first bytes of entry 3 only.
    let entry_len = 8 + 10 + 8 + payload(1, 2).len() as u64;
    assert_eq!(report.would_drop.len(), 1);
    let d = &report.would_drop[0];
    assert_eq!(
        (d.bytes, d.records, d.unreadable_bytes),
        (50 - entry_len, 0, 50 - entry_len)
    );
    let repaired = check(fs.clone(), &data_dir(), true).expect("repair");
    assert_eq!(repaired.dropped, report.would_drop);
    let (_wal, rec) = open(&fs, opts(FsyncPolicy::Always, 1 << 20));
    assert!(rec.cut_tail.is_none());
    assert_eq!(entries_of(&rec, 1), expected(1, 1..=2));
}

#[test]
fn an_empty_directory_is_fine() {
    let (_, fs) = faulty();
    let report = check(fs, &data_dir(), true).expect("check");
    assert!(report.is_ok() && report.segments.is_empty(), "{report}");
}
