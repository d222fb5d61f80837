//! Faults injected with `FaultyFs`: failed calls poison the WAL, power loss keeps
//! what the policy promises, torn writes are cut, corruption is named precisely.

use std::time::{Duration, Instant};

use okapi_storage::{FsyncPolicy, StorageError, Wal, WalOptions, check};

use crate::common::*;

#[test]
fn failing_after_n_ops_poisons_the_wal_for_good() {
    let (fs_impl, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::Always, 1 << 20));
    wal.append(vec![entry(1, 1)])
        .expect("append before the fault");
    fs_impl.fail_after(1); // the next write succeeds, its fsync fails
    let err = wal.append(vec![entry(1, 2)]).expect_err("the fsync fails");
    match &err {
        StorageError::Io { path, source } => {
            assert_eq!(path, &last_segment(&fs_impl));
            assert!(
                source.to_string().contains("injected failure of fsync"),
                "{source}"
            );
        }
        other => panic!("expected an I/O error, got {other}"),
    }
    fs_impl.heal();
    let later = wal.append(vec![entry(1, 3)]).expect_err("poisoned");
    let StorageError::Poisoned(reason) = &later else {
        panic!("expected Poisoned, got {later}")
    };
    assert!(
        reason.contains("fsync of") && reason.contains("injected"),
        "{reason}"
    );
    assert_eq!(wal.status().poisoned.as_deref(), Some(reason.as_str()));
    assert!(matches!(wal.sync(), Err(StorageError::Poisoned(_))));
    assert!(later.to_string().contains("refuses writes"), "{later}");
    drop(wal);
    let (_wal, rec) = open(&fs, WalOptions::default());
    assert_eq!(
        entries_of(&rec, 1)[0],
        (1, payload(1, 1)),
        "acknowledged data survives"
    );
}

#[test]
fn a_failed_write_poisons_too() {
    let (fs_impl, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::No, 1 << 20));
    fs_impl.fail_after(0);
    let err = wal.append(vec![entry(1, 1)]).expect_err("the write fails");
    assert!(
        err.to_string().contains("injected failure of write"),
        "{err}"
    );
    let reason = wal.status().poisoned.expect("poisoned");
    assert!(reason.starts_with("write to "), "{reason}");
}

#[test]
fn a_failed_background_fsync_poisons_everysec() {
    let (fs_impl, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::EverySec, 1 << 20));
    fs_impl.fail_syncs(true);
    wal.append(vec![entry(1, 1)])
        .expect("acknowledged after write(2)");
    let deadline = Instant::now() + Duration::from_secs(5);
    while wal.status().poisoned.is_none() {
        assert!(
            Instant::now() < deadline,
            "the once-a-second fsync never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let reason = wal.status().poisoned.expect("poisoned");
    assert!(
        reason.contains("fsync") && reason.contains("injected"),
        "{reason}"
    );
    let err = wal.append(vec![entry(1, 2)]).expect_err("refused");
    assert!(matches!(err, StorageError::Poisoned(_)), "{err}");
}

#[test]
fn power_loss_under_always_keeps_every_acknowledged_record() {
    let (fs_impl, fs) = faulty();
    let options = opts(FsyncPolicy::Always, 1024);
    let (wal, _) = open(&fs, options);
    for i in 1..=100 {
        wal.append(vec![entry(1, i), entry(2, i)]).expect("append");
    }
    assert!(wal.status().segments > 1, "the test crosses rotations");
    fs_impl.power_loss();
    drop(wal);
    fs_impl.restart();
    let (_wal, rec) = open(&fs, options);
    assert_eq!(entries_of(&rec, 1), expected(1, 1..=100));
    assert_eq!(entries_of(&rec, 2), expected(2, 1..=100));
    assert!(rec.cut_tail.is_none());
}

/// Appends entries 1-5, syncs, appends 6-10, pulls the plug under `policy`, and
/// returns what a reopen recovers of group 1.
fn power_loss_after_a_sync(policy: FsyncPolicy) -> Vec<(u64, bytes::Bytes)> {
    let (fs_impl, fs) = faulty();
    let (wal, _) = open(&fs, opts(policy, 1 << 20));
    for i in 1..=5 {
        wal.append(vec![entry(1, i)]).expect("append");
    }
    wal.sync().expect("sync");
    for i in 6..=10 {
        wal.append(vec![entry(1, i)]).expect("append");
    }
    fs_impl.power_loss();
    drop(wal);
    fs_impl.restart();
    let (_wal, rec) = open(&fs, WalOptions::default());
    entries_of(&rec, 1)
}

#[test]
fn power_loss_under_no_keeps_only_the_synced_prefix() {
    assert_eq!(power_loss_after_a_sync(FsyncPolicy::No), expected(1, 1..=5));
}

#[test]
fn power_loss_under_everysec_keeps_a_prefix_including_the_synced_part() {
    let got = power_loss_after_a_sync(FsyncPolicy::EverySec);
    assert!(got.len() >= 5, "the synced part survives: {}", got.len());
    assert_eq!(got, expected(1, 1..=got.len() as u64), "a prefix");
}

#[test]
fn a_torn_last_write_is_cut_and_reported() {
    let (fs_impl, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::Always, 1 << 20));
    wal.append(vec![entry(1, 1), entry(1, 2)]).expect("append");
    let good_len = wal.status().bytes;
    wal.append(vec![entry(1, 3), entry(1, 4)]).expect("append");
    let (file, cut) = fs_impl.tear_last_write(30).expect("a write to tear");
    fs_impl.crash();
    drop(wal);
    fs_impl.restart();
    let (wal, rec) = open(&fs, WalOptions::default());
    assert_eq!(entries_of(&rec, 1), expected(1, 1..=2));
    let tail = rec.cut_tail.expect("the torn tail is reported");
    assert_eq!(tail.file, file);
    assert_eq!(tail.offset, good_len);
    assert_eq!(
        tail.bytes, 30,
        "cut {cut} of the write, 30 bytes of it remained"
    );
    assert_eq!(len(&fs, &file), good_len);
    wal.append(vec![entry(1, 3)])
        .expect("appends go on after the cut");
    wal.close().expect("close");
    let (_wal, rec) = open(&fs, WalOptions::default());
    assert!(rec.cut_tail.is_none());
    assert_eq!(entries_of(&rec, 1), expected(1, 1..=3));
}

/// Writes entries 1..=20 of group 1 one per append; returns each record's offset.
fn twenty_records(fs: &std::sync::Arc<dyn okapi_storage::Fs>, segment_bytes: u64) -> Vec<u64> {
    let (wal, _) = open(fs, opts(FsyncPolicy::No, segment_bytes));
    let mut offsets = Vec::new();
    for i in 1..=20 {
        offsets.push(wal.status().bytes);
        wal.append(vec![entry(1, i)]).expect("append");
    }
    wal.close().expect("close");
    offsets
}

#[test]
fn a_corrupt_byte_mid_segment_names_file_and_offset_and_repair_drops_exactly_the_rest() {
    let (fs_impl, fs) = faulty();
    let offsets = twenty_records(&fs, 1 << 20);
    let seg = last_segment(&fs_impl);
    let seg_len = len(&fs, &seg);
    assert!(
        fs_impl.corrupt(&seg, offsets[9] + 12, 0x40),
        "byte inside record 10"
    );

    let err = Wal::open(fs.clone(), &data_dir(), WalOptions::default()).expect_err("corrupt");
    let (file, offset, reason) = corruption(&err);
    assert_eq!((file, offset), (seg.as_path(), offsets[9]));
    assert!(reason.contains("CRC32C"), "{reason}");
    let text = err.to_string();
    assert!(
        text.contains(&seg.display().to_string())
            && text.contains(&format!("offset {}", offsets[9])),
        "{text}"
    );

    let report = check(fs.clone(), &data_dir(), false).expect("check");
    eprintln!("{report}");
    assert!(!report.is_ok());
    assert_eq!(report.problems.len(), 1, "{report}");
    assert!(
        report.problems[0].contains(&format!("offset {}", offsets[9])),
        "{report}"
    );
    assert_eq!(report.would_drop.len(), 1, "{report}");
    let d = &report.would_drop[0];
    assert_eq!(
        (&d.file, d.offset, d.bytes, d.whole_file),
        (&seg, offsets[9], seg_len - offsets[9], false)
    );
    assert_eq!(
        d.records, 10,
        "records 11..=20 are still readable after the damage"
    );
    assert_eq!(
        d.unreadable_bytes,
        offsets[10] - offsets[9],
        "record 10 itself"
    );
    let r = d.entries[&okapi_storage::GroupId(1)];
    assert_eq!((r.count, r.first, r.last), (10, 11, 20));
    assert!(
        report.to_string().contains("--repair would cut"),
        "{report}"
    );
    assert!(
        Wal::open(fs.clone(), &data_dir(), WalOptions::default()).is_err(),
        "check alone changes nothing"
    );

    let repaired = check(fs.clone(), &data_dir(), true).expect("repair");
    eprintln!("{repaired}");
    assert!(repaired.is_ok(), "{repaired}");
    assert_eq!(
        repaired.dropped, report.would_drop,
        "repair drops exactly what was announced"
    );
    let (_wal, rec) = open(&fs, WalOptions::default());
    assert_eq!(entries_of(&rec, 1), expected(1, 1..=9));
    assert!(rec.cut_tail.is_none());
}

#[test]
fn damage_at_the_end_of_an_older_segment_is_corruption_not_a_torn_tail() {
    let (fs_impl, fs) = faulty();
    twenty_records(&fs, 256);
    let segs = segments(&fs_impl);
    assert!(segs.len() >= 3, "{segs:?}");
    let first_len = len(&fs, &segs[0]);
    assert!(fs_impl.corrupt(&segs[0], first_len - 1, 0xFF));
    let err = Wal::open(fs.clone(), &data_dir(), WalOptions::default()).expect_err("corrupt");
    assert_eq!(corruption(&err).0, segs[0].as_path());
    let report = check(fs.clone(), &data_dir(), true).expect("repair");
    assert_eq!(report.dropped.len(), segs.len(), "{report}");
    assert!(report.dropped[1..].iter().all(|d| d.whole_file));
    assert!(report.is_ok(), "{report}");
    let (_wal, rec) = open(&fs, WalOptions::default());
    let got = entries_of(&rec, 1);
    assert_eq!(got, expected(1, 1..=got.len() as u64));
}

#[test]
fn a_missing_segment_is_reported() {
    let (fs_impl, fs) = faulty();
    twenty_records(&fs, 256);
    let segs = segments(&fs_impl);
    fs.remove_file(&segs[1]).expect("remove");
    let err = Wal::open(fs.clone(), &data_dir(), WalOptions::default()).expect_err("gap");
    assert!(err.to_string().contains("is missing"), "{err}");
    let report = check(fs.clone(), &data_dir(), false).expect("check");
    assert!(
        report.problems.iter().any(|p| p.contains("is missing")),
        "{report}"
    );
    assert_eq!(report.would_drop.len(), segs.len() - 2, "{report}");
}

#[test]
fn power_loss_during_concurrent_appends_keeps_every_acknowledged_record() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let (fs_impl, fs) = faulty();
    let options = opts(FsyncPolicy::Always, 4096);
    let (wal, _) = open(&fs, options);
    let acked: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
    std::thread::scope(|s| {
        for (g, acked) in acked.iter().enumerate() {
            let wal = wal.clone();
            s.spawn(move || {
                for i in 1.. {
                    if wal.append(vec![entry(g as u64, i)]).is_err() {
                        break;
                    }
                    acked.store(i, Ordering::SeqCst);
                }
            });
        }
        // Let the appenders run (and rotate a few times), then pull the plug.
        while acked.iter().map(|a| a.load(Ordering::SeqCst)).sum::<u64>() < 400 {
            std::thread::yield_now();
        }
        fs_impl.power_loss();
    });
    assert!(
        wal.status().poisoned.is_some(),
        "the writer noticed its files are gone"
    );
    drop(wal);
    fs_impl.restart();
    let (_wal, rec) = open(&fs, options);
    for (g, acked) in acked.iter().enumerate() {
        let got = entries_of(&rec, g as u64);
        let acked = acked.load(Ordering::SeqCst);
        assert!(
            got.len() as u64 >= acked,
            "group {g}: {} recovered, {acked} acknowledged",
            got.len()
        );
        assert_eq!(
            got,
            expected(g as u64, 1..=got.len() as u64),
            "group {g}: a prefix"
        );
    }
}
