//! Group commit: appends queued while a batch is written share its write and fsync.

use std::sync::mpsc;
use std::thread;

use okapi_storage::{FsyncPolicy, WalOptions};

use crate::common::*;

#[test]
fn concurrent_appends_share_fsyncs() {
    let (_, fs) = faulty();
    let (wal, _) = open(&fs, opts(FsyncPolicy::Always, 1 << 20));
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 200;
    let (tx, rx) = mpsc::channel();
    let handles: Vec<_> = (1..=THREADS)
        .map(|g| {
            let wal = wal.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                // Callbacks, not blocking appends: many requests are in flight at once.
                for i in 1..=PER_THREAD {
                    let tx = tx.clone();
                    wal.append(
                        vec![entry(g, i)],
                        Box::new(move |r| tx.send(r).expect("send")),
                    );
                }
            })
        })
        .collect();
    drop(tx);
    for h in handles {
        h.join().expect("appender");
    }
    let results: Vec<_> = rx.iter().collect();
    assert_eq!(results.len() as u64, THREADS * PER_THREAD);
    assert!(results.iter().all(Result::is_ok));
    let s = wal.status();
    assert_eq!(s.appends, THREADS * PER_THREAD);
    assert!(
        s.fsyncs < s.appends,
        "group commit: {} fsyncs for {} appends",
        s.fsyncs,
        s.appends
    );
    assert_eq!(
        s.fsyncs, s.writes,
        "under `always` every write is fsynced once"
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
                    wal.append_blocking(vec![entry(g, i), hard_state(g, "hs")])
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
