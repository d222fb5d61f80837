//! Throughput of `appendfsync always` on the real disk, 1 and 8 appending threads.
//! Ignored by default (timing never runs inside normal tests):
//! `cargo test -p okapi-storage --release --test storage -- --ignored --nocapture bench`

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use okapi_storage::{Fs, FsyncPolicy, OsFs, Wal, WalOptions};

use crate::common::*;

fn run(threads: u64, for_how_long: Duration) {
    let dir =
        tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir on the target disk");
    let fs: Arc<dyn Fs> = Arc::new(OsFs);
    let options = WalOptions {
        fsync: FsyncPolicy::Always,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(fs, dir.path(), options).expect("open");
    let start = Instant::now();
    thread::scope(|s| {
        for g in 1..=threads {
            let wal = wal.clone();
            s.spawn(move || {
                let mut i = 0;
                while start.elapsed() < for_how_long {
                    i += 1;
                    wal.append(vec![entry(g, i)]).expect("append");
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let st = wal.status();
    println!(
        "always, {threads} thread(s): {:.0} appends/s, {:.0} fsyncs/s, {:.1} appends per fsync, last fsync {:?}",
        st.appends as f64 / secs,
        st.fsyncs as f64 / secs,
        st.appends as f64 / st.fsyncs.max(1) as f64,
        st.last_fsync_duration.unwrap_or_default(),
    );
    wal.close().expect("close");
}

#[test]
#[ignore = "a benchmark: run explicitly with --ignored"]
fn bench_always_fsync_throughput() {
    run(1, Duration::from_secs(3));
    run(8, Duration::from_secs(3));
}
