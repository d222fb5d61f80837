//! Times a snapshot and a restore of 1,000,000 string keys (16-byte keys, 32-byte
//! values), then a snapshot taken while writes keep coming. Prints the times; asserts
//! only that the restored engine holds every key.
//!
//! `cargo run --release -p okapi-engine --example snapshot_million`

use std::time::{Duration, Instant};

use bytes::Bytes;
use okapi_engine::strings::StringOp;
use okapi_engine::{ApplyCtx, Engine, Op, SnapshotHeader};
use okapi_types::Namespace;

const KEYS: u64 = 1_000_000;
const CHUNK: usize = 1 << 20;

fn key(i: u64) -> Bytes {
    Bytes::from(format!("key:{i:012}"))
}

fn mset(pairs: Vec<(Bytes, Bytes)>) -> Op {
    Op {
        db: Namespace(0),
        kind: StringOp::MSet { pairs, nx: false }.into(),
    }
}

fn fill(engine: &mut Engine) {
    for batch in 0..KEYS / 1000 {
        let pairs = (batch * 1000..(batch + 1) * 1000)
            .map(|i| (key(i), Bytes::from(format!("val:{i:028}"))))
            .collect();
        engine.apply(
            mset(pairs),
            &ApplyCtx::new(1_700_000_000_000, (batch + 1).into()),
        );
    }
}

fn restore(header: &SnapshotHeader, chunks: &[Vec<u8>]) -> Engine {
    let mut restore = Engine::restore_begin(header).expect("header");
    for chunk in chunks {
        restore.restore_chunk(chunk).expect("chunk");
    }
    restore.finish().expect("complete")
}

#[expect(
    clippy::disallowed_methods,
    reason = "this example measures; the engine itself stays clock-free"
)]
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

fn main() {
    let mut engine = Engine::new(16, 42);
    let ((), took) = timed(|| fill(&mut engine));
    println!("fill {KEYS} keys:              {took:>10.2?}");

    let ((header, chunks), took) = timed(|| {
        let header = engine.snapshot_begin().expect("no snapshot yet");
        let chunks: Vec<Vec<u8>> = std::iter::from_fn(|| engine.snapshot_next(CHUNK)).collect();
        (header, chunks)
    });
    let bytes: usize = chunks.iter().map(Vec::len).sum();
    println!(
        "snapshot (idle engine):        {took:>10.2?}  {} chunks, {:.1} MiB",
        chunks.len(),
        bytes as f64 / (1 << 20) as f64
    );

    let (restored, took) = timed(|| restore(&header, &chunks));
    println!("restore:                       {took:>10.2?}");
    let len = restored.space(Namespace(0)).map_or(0, |ks| ks.len());
    assert_eq!(len as u64, KEYS, "every key restored");
    drop(restored);

    // Writes interleaved with the walk: 1,000 SETs between 64 KiB chunks.
    let mut index = KEYS;
    let mut writes = 0u64;
    let ((), took) = timed(|| {
        engine.snapshot_begin().expect("the first one finished");
        while engine.snapshot_in_progress() {
            for _ in 0..1000 {
                index += 1;
                let i = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) % KEYS;
                let pairs = vec![(
                    key(i),
                    Bytes::from_static(b"overwritten-while-snapshotting!!"),
                )];
                engine.apply(mset(pairs), &ApplyCtx::new(1_700_000_000_001, index.into()));
                writes += 1;
            }
            let _ = engine.snapshot_next(64 << 10);
        }
    });
    let stats = engine.snapshot_stats();
    println!(
        "snapshot with {writes} writes:  {took:>10.2?}  {} keys copied ahead of the walk",
        stats.keys_preserved
    );
}
