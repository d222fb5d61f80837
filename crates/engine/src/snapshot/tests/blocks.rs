//! Blocks in snapshots: pages travel in their own records after the key record,
//! shared pages travel once and are shared again after the restore, and a block
//! written while the walk runs is restored as of the snapshot point.

use std::sync::Arc;

use bytes::Bytes;
use okapi_types::Namespace;

use super::{ctx, op, restore, snapshot};
use crate::blocks::{BlockOp, BlockValue, PAGE_SIZE};
use crate::snapshot::dump::dump;
use crate::testing::b;
use crate::value::Value;
use crate::{Engine, EngineError};

const PAGE: u64 = PAGE_SIZE as u64;

/// A 64-page block `base` with 40 pages written, its clone `vm1` with one page
/// rewritten, and a string.
fn engine_with_clones() -> Engine {
    let mut engine = Engine::new(1, 3);
    let ops = [
        BlockOp::Create {
            key: b("base"),
            len: 64 * PAGE,
            init: Bytes::new(),
            nx: false,
        },
        BlockOp::Write {
            key: b("base"),
            offset: 0,
            data: Bytes::from(
                (0..40 * PAGE)
                    .map(|i| (i % 251) as u8 | 1)
                    .collect::<Vec<_>>(),
            ),
        },
        BlockOp::Clone {
            src: b("base"),
            dst: b("vm1"),
            replace: false,
        },
        BlockOp::Write {
            key: b("vm1"),
            offset: 3 * PAGE + 1,
            data: b("diverged"),
        },
    ];
    for (i, kind) in ops.into_iter().enumerate() {
        assert!(!engine.apply(op(0, kind), &ctx(i as u64 + 1)).is_error());
    }
    engine.apply(
        op(
            0,
            crate::strings::StringOp::Set {
                key: b("s"),
                value: b("v"),
                cond: crate::strings::SetCond::Always,
                expire: crate::strings::SetExpire::Clear,
                get: false,
            },
        ),
        &ctx(10),
    );
    engine
}

fn block<'e>(engine: &'e Engine, key: &str) -> &'e BlockValue {
    match engine
        .space(Namespace(0))
        .and_then(|ks| ks.peek(key.as_bytes(), 0))
        .map(|e| &e.value)
    {
        Some(Value::Block(block)) => block,
        other => panic!("{key} is not a block: {other:?}"),
    }
}

#[test]
fn shared_pages_travel_once_and_stay_shared_after_restore() {
    let mut engine = engine_with_clones();
    let before = dump(&engine);
    // Small chunks: a block's pages spread over many records and chunks.
    let (header, chunks) = snapshot(&mut engine, 3 * PAGE_SIZE);
    assert!(
        chunks.len() > 10,
        "pages split over chunks: {}",
        chunks.len()
    );
    let total: usize = chunks.iter().map(Vec::len).sum();
    assert!(
        total < 42 * PAGE_SIZE,
        "39 shared pages sent once: {total} bytes for 80 pages in use"
    );
    let restored = restore(&header, &chunks).expect("restores");
    assert_eq!(dump(&restored), before);
    let (base, vm1) = (block(&restored, "base"), block(&restored, "vm1"));
    assert_eq!((base.shared_pages(), vm1.shared_pages()), (39, 39));
    let shared = base
        .pages_from(0)
        .zip(vm1.pages_from(0))
        .filter(|((_, a), (_, b))| Arc::ptr_eq(a, b))
        .count();
    assert_eq!(shared, 39, "the same page objects, not equal copies");
    assert_eq!(base.checksum(), block(&engine, "base").checksum());
}

#[test]
fn a_block_written_during_the_walk_is_restored_as_of_the_point() {
    let mut engine = engine_with_clones();
    let before = dump(&engine);
    let header = engine.snapshot_begin().expect("starts");
    let mut chunks = vec![engine.snapshot_next(2 * PAGE_SIZE).expect("first chunk")];
    // Whether or not the walk reached them, these must not leak into the snapshot.
    let changes = [
        BlockOp::Write {
            key: b("base"),
            offset: 5 * PAGE,
            data: b("after the point"),
        },
        BlockOp::Zero {
            key: b("vm1"),
            offset: 0,
            len: 64 * PAGE,
        },
        BlockOp::Truncate {
            key: b("base"),
            len: PAGE,
        },
    ];
    for (i, kind) in changes.into_iter().enumerate() {
        assert!(!engine.apply(op(0, kind), &ctx(20 + i as u64)).is_error());
        chunks.push(engine.snapshot_next(2 * PAGE_SIZE).expect("more chunks"));
    }
    chunks.extend(std::iter::from_fn(|| engine.snapshot_next(2 * PAGE_SIZE)));
    assert_eq!(dump(&restore(&header, &chunks).expect("restores")), before);
}

#[test]
fn missing_or_damaged_pages_are_refused() {
    let mut engine = engine_with_clones();
    let (header, chunks) = snapshot(&mut engine, 3 * PAGE_SIZE);
    for skipped in 1..chunks.len() - 1 {
        let mut rest = chunks.clone();
        rest.remove(skipped);
        assert!(
            matches!(
                restore(&header, &rest),
                Err(EngineError::CorruptSnapshot(_))
            ),
            "chunk {skipped} missing"
        );
    }
    // Cut inside a page: truncated, refused.
    let longest = chunks
        .iter()
        .enumerate()
        .max_by_key(|(_, c)| c.len())
        .map(|(i, _)| i)
        .expect("chunks");
    let mut cut = chunks.clone();
    let keep = cut[longest].len() - 1000;
    cut[longest].truncate(keep);
    assert!(restore(&header, &cut).is_err());
}
