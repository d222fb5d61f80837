//! Segment rotation with checkpoints and automatic deletion of covered segments.

use okapi_storage::{FsyncPolicy, GroupId, WalRecord};

use crate::common::*;

const SEG: u64 = 2048;

#[test]
fn rotation_keeps_every_entry_and_hard_state() {
    let (fs_impl, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::EverySec, SEG));
    wal.append(vec![hard_state(2, "vote for 3")])
        .expect("append");
    for i in 1..=300 {
        wal.append(vec![entry(1, i)]).expect("append");
    }
    let status = wal.status();
    assert!(status.segments >= 5, "{status:?}");
    assert_eq!(status.segments, segments(&fs_impl).len());
    assert_eq!(
        status.segments_deleted, 0,
        "nothing is purged, nothing deleted"
    );
    wal.close().expect("close");
    let (_wal, rec) = open(&fs, opts(FsyncPolicy::EverySec, SEG));
    assert_eq!(entries_of(&rec, 1), expected(1, 1..=300));
    assert_eq!(
        rec.groups[&GroupId(2)].hard_state.as_deref(),
        Some(&b"vote for 3"[..])
    );
}

#[test]
fn segments_are_deleted_once_every_group_purged_them() {
    let (fs_impl, fs) = faulty();
    let options = opts(FsyncPolicy::EverySec, SEG);
    let (wal, _) = open(&fs, options);
    wal.append(vec![entry(2, 1), hard_state(2, "hs2")])
        .expect("append");
    for i in 1..=300 {
        wal.append(vec![entry(1, i), hard_state(1, &format!("hs1 {i}"))])
            .expect("append");
    }
    let before = segments(&fs_impl).len();
    assert!(before >= 10, "{before} segments");
    wal.append(vec![purge(1, 290)]).expect("purge group 1");
    assert_eq!(
        segments(&fs_impl).len(),
        before,
        "group 2's entry pins the first segment"
    );
    wal.append(vec![purge(2, 1)]).expect("purge group 2");
    let after = segments(&fs_impl).len();
    assert!(after <= 2, "{after} segments left of {before}");
    assert_eq!(wal.status().segments_deleted, (before - after) as u64);
    wal.close().expect("close");

    let (wal, rec) = open(&fs, options);
    assert_eq!(entries_of(&rec, 1), expected(1, 291..=300));
    let g1 = &rec.groups[&GroupId(1)];
    assert_eq!(g1.purged.as_ref().map(|p| p.0), Some(290));
    assert_eq!(g1.hard_state.as_deref(), Some(&b"hs1 300"[..]));
    let g2 = &rec.groups[&GroupId(2)];
    assert!(g2.entries.is_empty());
    assert_eq!(g2.purged.as_ref().map(|p| p.0), Some(1));
    assert_eq!(
        g2.hard_state.as_deref(),
        Some(&b"hs2"[..]),
        "kept by the checkpoints"
    );
    wal.append(vec![entry(2, 2)])
        .expect("group 2 goes on after its purge point");
}

#[test]
fn a_group_truncated_to_nothing_does_not_pin_old_segments() {
    let (fs_impl, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::No, SEG));
    wal.append((1..=3).map(|i| entry(2, i)).collect())
        .expect("append");
    for i in 1..=200 {
        wal.append(vec![entry(1, i)]).expect("append");
    }
    wal.append(vec![purge(1, 200)]).expect("purge");
    let pinned = segments(&fs_impl).len();
    assert!(pinned > 3);
    wal.append(vec![WalRecord::TruncateAfter {
        group: GroupId(2),
        after: None,
    }])
    .expect("truncate");
    assert_eq!(
        segments(&fs_impl).len(),
        1,
        "only the active segment is left"
    );
    wal.close().expect("close");
    let (_wal, rec) = open(&fs, opts(FsyncPolicy::No, SEG));
    assert!(entries_of(&rec, 1).is_empty() && entries_of(&rec, 2).is_empty());
    assert_eq!(
        rec.groups[&GroupId(1)].purged.as_ref().map(|p| p.0),
        Some(200)
    );
}

#[test]
fn a_reset_group_starts_over_keeping_its_hard_state_and_frees_its_segments() {
    let (fs_impl, fs) = faulty();
    let options = opts(FsyncPolicy::No, SEG);
    let (wal, _) = open(&fs, options);
    for i in 1..=200 {
        wal.append(vec![entry(2, i), hard_state(2, &format!("vote {i}"))])
            .expect("append");
    }
    wal.append(vec![purge(2, 50)]).expect("purge");
    let pinned = segments(&fs_impl).len();
    assert!(pinned > 3, "{pinned} segments");
    wal.append(vec![WalRecord::Reset { group: GroupId(2) }])
        .expect("reset");
    assert_eq!(segments(&fs_impl).len(), 1, "the reset group pins nothing");
    wal.append(vec![entry(2, 1)])
        .expect("a reset group starts again at index 1");
    wal.close().expect("close");
    let (_wal, rec) = open(&fs, options);
    let g2 = &rec.groups[&GroupId(2)];
    assert_eq!(entries_of(&rec, 2), expected(2, 1..=1));
    assert_eq!(g2.purged, None);
    assert_eq!(
        g2.hard_state.as_deref(),
        Some(&b"vote 200"[..]),
        "the vote outlives the reset"
    );
}

#[test]
fn a_record_bigger_than_a_segment_gets_a_segment_of_its_own() {
    let (_, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::No, SEG));
    let big = bytes::Bytes::from(vec![b'x'; 3 * SEG as usize]);
    for i in 1..=3 {
        let rec = WalRecord::Entry {
            group: GroupId(1),
            index: i,
            payload: big.clone(),
        };
        wal.append(vec![rec]).expect("append");
    }
    assert!(wal.status().segments >= 3);
    wal.close().expect("close");
    let (_wal, rec) = open(&fs, opts(FsyncPolicy::No, SEG));
    assert_eq!(rec.groups[&GroupId(1)].entries.len(), 3);
}

#[test]
fn a_checkpoint_torn_by_a_crash_is_rewritten_before_old_segments_go() {
    let (fs_impl, fs) = faulty();
    let options = opts(FsyncPolicy::No, SEG);
    let (wal, _) = open(&fs, options);
    wal.append(vec![hard_state(1, "only copy before the checkpoint")])
        .expect("append");
    for i in 1..=100 {
        wal.append(vec![entry(2, i)]).expect("append");
    }
    wal.close().expect("close");
    let last = last_segment(&fs_impl);
    assert!(segments(&fs_impl).len() > 2);
    // A crash while the last rotation wrote its checkpoint: 5 bytes into its first
    // record (group 1's hard state) made it to disk.
    fs.truncate(&last, 20 + 5).expect("tear the checkpoint");
    let (wal, rec) = open(&fs, options);
    assert_eq!(
        rec.cut_tail.as_ref().map(|t| (&t.file, t.offset)),
        Some((&last, 20))
    );
    let kept = entries_of(&rec, 2).len() as u64;
    wal.append(vec![purge(2, kept)])
        .expect("purge everything of group 2");
    assert_eq!(
        segments(&fs_impl).len(),
        1,
        "every older segment is deleted"
    );
    wal.close().expect("close");
    let (_wal, rec) = open(&fs, options);
    let hs = rec.groups[&GroupId(1)].hard_state.clone();
    assert_eq!(hs.as_deref(), Some(&b"only copy before the checkpoint"[..]));
}
