//! Group commit: appends written while an fsync runs share the next fsync.

use std::thread;
use std::time::Duration;

use okapi_storage::{FsyncPolicy, WalOptions};

use crate::common::*;

#[test]
fn concurrent_appends_share_fsyncs() {
    let (fs_impl, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::Always, 1 << 20));
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 200;
    // A slow disk, so appenders pile up behind each fsync as they do in production.
    fs_impl.set_sync_delay(Duration::from_millis(2));
    thread::scope(|s| {
        for g in 1..=THREADS {
            let wal = wal.clone();
            s.spawn(move || {
                for i in 1..=PER_THREAD {
                    wal.append(vec![entry(g, i)]).expect("append");
                }
            });
        }
    });
    let s = wal.status();
    assert_eq!(s.appends, THREADS * PER_THREAD);
    assert_eq!(s.writes, s.appends, "each append is its own write");
    assert!(
        s.fsyncs * 2 < s.appends,
        "group commit: {} fsyncs for {} appends",
        s.fsyncs,
        s.appends
    );
    wal.close().expect("close");
    let (_wal, rec) = open(&fs, WalOptions::default());
    for g in 1..=THREADS {
        assert_eq!(
            entries_of(&rec, g),
            expected(g, 1..=PER_THREAD),
            "group {g}"
        );
    }
}

#[test]
fn blocking_appends_from_many_threads_all_land() {
    let (_, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::Always, 4096));
    thread::scope(|s| {
        for g in 1..=4u64 {
            let wal = wal.clone();
            s.spawn(move || {
                for i in 1..=100 {
                    wal.append(vec![entry(g, i), hard_state(g, "hs")])
                        .expect("append");
                }
            });
        }
    });
    let s = wal.status();
    assert!(s.fsyncs <= s.appends, "{s:?}");
    wal.close().expect("close");
    let (_wal, rec) = open(&fs, WalOptions::default());
    for g in 1..=4 {
        assert_eq!(entries_of(&rec, g), expected(g, 1..=100));
    }
}
