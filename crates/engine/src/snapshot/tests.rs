//! Unit tests of snapshots: `touched_keys` of the tricky ops, empty and flushed
//! engines, string forms and seeds surviving, and corrupt input refused cleanly.

mod blocks;
mod cow;
mod ops;
mod prop;

use bytes::Bytes;
use okapi_types::Namespace;

use super::dump::dump;
use super::{SnapshotHeader, Touched};
use crate::engine::{Txn, TxnItem, WatchCheck};
use crate::keys::{KeyOp, KeyQuery};
use crate::lists::{End, ListOp};
use crate::sets::{SetAlgebra, SetOp};
use crate::stream::StreamId;
use crate::streams::{GroupFrom, GroupStart, IdSpec, ReadGroup, StreamOp};
use crate::strings::{StringOp, StringQuery};
use crate::testing::b;
use crate::zsets::{Aggregate, Combine, SetOpKind, ZSetOp};
use crate::{ApplyCtx, Engine, EngineError, Op, OpKind, Query, Reply, WatchStamp};

fn op(db: u32, kind: impl Into<OpKind>) -> Op {
    Op {
        db: Namespace(db),
        kind: kind.into(),
    }
}

fn key(db: u32, k: &str) -> Touched<'_> {
    Touched::Key(Namespace(db), k.as_bytes())
}

fn ctx(index: u64) -> ApplyCtx {
    ApplyCtx {
        now_ms: 5_000,
        index,
    }
}

/// Takes a whole snapshot of `engine` in chunks of `max_bytes`.
fn snapshot(engine: &mut Engine, max_bytes: usize) -> (SnapshotHeader, Vec<Vec<u8>>) {
    let header = engine.snapshot_begin().expect("no snapshot under way");
    let chunks = std::iter::from_fn(|| engine.snapshot_next(max_bytes)).collect();
    (header, chunks)
}

fn restore(header: &SnapshotHeader, chunks: &[Vec<u8>]) -> Result<Engine, EngineError> {
    let mut restore = Engine::restore_begin(header)?;
    for chunk in chunks {
        restore.restore_chunk(chunk)?;
    }
    restore.finish()
}

#[test]
fn touched_keys_cover_cross_namespace_and_multi_key_ops() {
    let copy = op(
        1,
        KeyOp::Copy {
            src: b("s"),
            dst: b("d"),
            dst_db: Namespace(2),
            replace: true,
        },
    );
    assert_eq!(copy.touched_keys(), vec![key(1, "s"), key(2, "d")]);
    let moved = op(
        0,
        KeyOp::Move {
            key: b("k"),
            dst_db: Namespace(3),
        },
    );
    assert_eq!(moved.touched_keys(), vec![key(0, "k"), key(3, "k")]);
    let store = op(
        0,
        ZSetOp::CombineStore {
            dst: b("d"),
            combine: Combine {
                kind: SetOpKind::Union,
                keys: vec![b("a"), b("b")],
                weights: Vec::new(),
                aggregate: Aggregate::Sum,
            },
        },
    );
    assert_eq!(
        store.touched_keys(),
        vec![key(0, "d"), key(0, "a"), key(0, "b")]
    );
    let sstore = op(
        0,
        SetOp::Store {
            dst: b("d"),
            keys: vec![b("x")],
            algebra: SetAlgebra::Diff,
        },
    );
    assert_eq!(sstore.touched_keys(), vec![key(0, "d"), key(0, "x")]);
    let mpop = op(
        0,
        ListOp::MPop {
            keys: vec![b("l1"), b("l2")],
            end: End::Left,
            count: 2,
        },
    );
    assert_eq!(mpop.touched_keys(), vec![key(0, "l1"), key(0, "l2")]);
    let mset = op(
        0,
        StringOp::MSet {
            pairs: vec![(b("a"), b("1")), (b("b"), b("2"))],
            nx: true,
        },
    );
    assert_eq!(mset.touched_keys(), vec![key(0, "a"), key(0, "b")]);
    let due = op(2, KeyOp::ExpireDue { keys: vec![b("e")] });
    assert_eq!(due.touched_keys(), vec![key(2, "e")]);
    assert_eq!(
        op(4, KeyOp::FlushDb).touched_keys(),
        vec![Touched::All(Namespace(4))]
    );
    assert_eq!(
        op(0, KeyOp::FlushAll).touched_keys(),
        vec![Touched::Everything]
    );
}

#[test]
fn touched_keys_of_a_transaction_are_its_writes_in_their_own_namespaces() {
    let txn = op(
        0,
        OpKind::Txn(Txn {
            checks: vec![WatchCheck {
                db: Namespace(0),
                key: b("watched"),
                stamp: WatchStamp::Absent(0),
            }],
            items: vec![
                TxnItem::Read(Query {
                    db: Namespace(0),
                    kind: StringQuery::Get { key: b("read") }.into(),
                }),
                TxnItem::Write(op(
                    1,
                    KeyOp::Rename {
                        src: b("a"),
                        dst: b("b"),
                        nx: false,
                    },
                )),
                TxnItem::Write(op(2, KeyOp::FlushDb)),
            ],
        }),
    );
    assert_eq!(
        txn.touched_keys(),
        vec![key(1, "a"), key(1, "b"), Touched::All(Namespace(2))]
    );
}

#[test]
fn empty_engine_snapshot_is_one_end_chunk_and_restores() {
    let mut engine = Engine::new(4, 9);
    let (header, chunks) = snapshot(&mut engine, 10);
    assert_eq!(chunks.len(), 1);
    assert!(!engine.snapshot_in_progress());
    assert_eq!(engine.snapshot_next(10), None);
    let restored = restore(&header, &chunks).expect("restores");
    assert_eq!(restored.databases(), 4);
    assert_eq!(dump(&restored), dump(&engine));
    let stats = engine.snapshot_stats();
    assert_eq!(
        (stats.in_progress, stats.keys_emitted, stats.chunks_emitted),
        (false, 0, 1)
    );
}

/// An engine with every value type, a TTL, and a string that looks like a number.
fn sample_engine() -> Engine {
    let mut engine = Engine::new(2, 77);
    let ops = [
        op(
            0,
            StringOp::Append {
                key: b("text"),
                value: b("12"),
            },
        ),
        op(
            0,
            StringOp::Append {
                key: b("text"),
                value: b("3"),
            },
        ),
        op(
            0,
            StringOp::IncrBy {
                key: b("int"),
                delta: 5,
            },
        ),
        op(
            0,
            ListOp::Push {
                key: b("list"),
                end: End::Right,
                elements: vec![b("x"), b("y")],
                existing_only: false,
            },
        ),
        op(
            0,
            SetOp::Add {
                key: b("set"),
                members: (0..40).map(|i| Bytes::from(format!("m{i}"))).collect(),
            },
        ),
        op(
            0,
            KeyOp::Expire {
                key: b("list"),
                at: 9_000,
                cond: Default::default(),
            },
        ),
        op(
            0,
            KeyOp::Move {
                key: b("set"),
                dst_db: Namespace(1),
            },
        ),
        op(
            1,
            crate::hashes::HashOp::Set {
                key: b("hash"),
                pairs: vec![(b("f"), b("v"))],
                reply_ok: false,
            },
        ),
        op(
            1,
            ZSetOp::Add {
                key: b("z"),
                flags: Default::default(),
                pairs: vec![(-0.0, b("neg-zero")), (2.5, b("b"))],
            },
        ),
        op(
            1,
            crate::tables::TableOp::Set {
                key: b("table"),
                pairs: vec![
                    (Bytes::from_static(b"\xff"), b("last")),
                    (Bytes::from_static(b"\x00"), b("first")),
                    (b("m"), b("middle")),
                ],
            },
        ),
        op(
            0,
            KeyOp::Del {
                keys: vec![b("int"), b("missing")],
            },
        ),
        op(
            0,
            StringOp::IncrBy {
                key: b("int"),
                delta: 5,
            },
        ),
    ];
    // A stream with a deleted entry, a group, two consumers and a pending entry, so
    // the corruption tests below reach the stream and group decoders too.
    let stream = [
        StreamOp::Add {
            key: b("s"),
            id: IdSpec::Explicit(StreamId { ms: 1, seq: 1 }),
            fields: vec![b("f"), b("v")],
            nomkstream: false,
            trim: None,
        },
        StreamOp::Add {
            key: b("s"),
            id: IdSpec::Explicit(StreamId { ms: 2, seq: 1 }),
            fields: vec![b("f"), b("w")],
            nomkstream: false,
            trim: None,
        },
        StreamOp::GroupCreate {
            key: b("s"),
            group: b("g"),
            start: GroupStart::Id(StreamId::MIN),
            mkstream: false,
            entries_read: -1,
        },
        StreamOp::ReadGroup(Box::new(ReadGroup {
            group: b("g"),
            consumer: b("c1"),
            streams: vec![(b("s"), GroupFrom::New)],
            count: 1,
            noack: false,
            woken: false,
        })),
        StreamOp::ConsumerCreate {
            key: b("s"),
            group: b("g"),
            consumer: b("c2"),
        },
        StreamOp::Del {
            key: b("s"),
            ids: vec![StreamId { ms: 2, seq: 1 }],
        },
    ];
    let ops = ops
        .into_iter()
        .chain(stream.into_iter().map(|s| op(0, OpKind::Stream(s))));
    for (i, o) in ops.enumerate() {
        engine.apply(o, &ctx(i as u64 + 1));
    }
    engine
}

#[test]
fn string_forms_seeds_ttls_and_last_removal_survive() {
    let mut engine = sample_engine();
    let before = dump(&engine);
    let (header, chunks) = snapshot(&mut engine, 1 << 20);
    let mut restored = restore(&header, &chunks).expect("restores");
    assert_eq!(dump(&restored), before);
    let encoding = |e: &mut Engine, k: &str| {
        e.query(
            &Query {
                db: Namespace(0),
                kind: KeyQuery::ObjectEncoding { key: b(k) }.into(),
            },
            &crate::ReadCtx {
                now_ms: 5_000,
                random: 0,
            },
        )
    };
    assert_eq!(encoding(&mut restored, "text"), Reply::bulk(b"embstr"));
    assert_eq!(encoding(&mut restored, "int"), Reply::bulk(b"int"));
    // The set moved to namespace 1 keeps namespace 0's seed: pops must agree.
    let pop = op(
        1,
        SetOp::Pop {
            key: b("set"),
            count: Some(3),
            seed: 11,
        },
    );
    assert_eq!(
        restored.apply(pop.clone(), &ctx(100)),
        engine.apply(pop, &ctx(100))
    );
    assert_eq!(
        restored.space(Namespace(0)).map(|ks| ks.last_removal()),
        Some(11),
        "the DEL is the 11th op"
    );
}

#[test]
fn flush_during_the_walk_hands_the_old_table_to_the_snapshot() {
    let mut engine = Engine::new(2, 3);
    let pairs = (0..300)
        .map(|i| (Bytes::from(format!("key{i}")), Bytes::from(format!("{i}"))))
        .collect();
    engine.apply(op(0, StringOp::MSet { pairs, nx: false }), &ctx(1));
    let before = dump(&engine);
    let header = engine.snapshot_begin().expect("starts");
    let mut chunks = vec![engine.snapshot_next(200).expect("first chunk")];
    engine.apply(op(0, KeyOp::FlushAll), &ctx(2));
    engine.apply(
        op(
            0,
            StringOp::IncrBy {
                key: b("key7"),
                delta: 1,
            },
        ),
        &ctx(3),
    );
    assert_eq!(
        engine.snapshot_stats().keys_preserved,
        0,
        "a frozen table needs no copies"
    );
    chunks.extend(std::iter::from_fn(|| engine.snapshot_next(500)));
    assert_eq!(dump(&restore(&header, &chunks).expect("restores")), before);
}

#[test]
fn swapdb_during_the_walk_keeps_the_state_the_snapshot_began_with() {
    let mut engine = Engine::new(2, 3);
    for (db, prefix) in [(0, "zero"), (1, "one")] {
        let pairs = (0..300)
            .map(|i| {
                (
                    Bytes::from(format!("{prefix}{i}")),
                    Bytes::from(format!("{i}")),
                )
            })
            .collect();
        engine.apply(
            op(db, StringOp::MSet { pairs, nx: false }),
            &ctx(1 + db as u64),
        );
    }
    let before = dump(&engine);
    let header = engine.snapshot_begin().expect("starts");
    let mut chunks = vec![engine.snapshot_next(200).expect("first chunk")];
    engine.apply(
        op(
            0,
            KeyOp::SwapDb {
                other: Namespace(1),
            },
        ),
        &ctx(3),
    );
    engine.apply(
        op(
            0,
            StringOp::IncrBy {
                key: b("one7"),
                delta: 1,
            },
        ),
        &ctx(4),
    );
    chunks.extend(std::iter::from_fn(|| engine.snapshot_next(500)));
    assert_eq!(dump(&restore(&header, &chunks).expect("restores")), before);
    // And the live engine did swap.
    let after = dump(&engine);
    assert_ne!(after, before);
}

#[test]
fn abort_drops_the_snapshot_and_allows_a_new_one() {
    let mut engine = sample_engine();
    engine.snapshot_begin().expect("starts");
    assert_eq!(
        engine.snapshot_begin(),
        Err(EngineError::SnapshotInProgress)
    );
    assert!(engine.snapshot_next(1).is_some());
    engine.snapshot_abort();
    assert!(!engine.snapshot_in_progress());
    assert_eq!(engine.snapshot_next(1), None);
    let (header, chunks) = snapshot(&mut engine, 7);
    assert_eq!(
        dump(&restore(&header, &chunks).expect("restores")),
        dump(&engine)
    );
}

#[test]
fn truncated_or_missing_data_is_an_error_not_a_panic() {
    let mut engine = sample_engine();
    let (header, chunks) = snapshot(&mut engine, 1 << 20);
    let [chunk] = &chunks[..] else {
        panic!("one chunk expected, got {}", chunks.len());
    };
    for cut in 0..chunk.len() {
        let result = restore(&header, &[chunk[..cut].to_vec()]);
        assert!(
            matches!(result, Err(EngineError::CorruptSnapshot(_))),
            "cut at {cut} must fail"
        );
    }
    // Chunks of one record each: dropping any one is caught at the end.
    let (header, chunks) = snapshot(&mut engine, 1);
    for skipped in 0..chunks.len() {
        let mut rest = chunks.clone();
        rest.remove(skipped);
        assert!(restore(&header, &rest).is_err(), "chunk {skipped} missing");
    }
    let mut doubled = chunks.clone();
    doubled.insert(0, chunks[0].clone());
    assert!(restore(&header, &doubled).is_err(), "a key twice");
}

#[test]
fn table_fields_out_of_order_are_refused() {
    let mut engine = Engine::new(1, 7);
    engine.apply(
        op(
            0,
            crate::tables::TableOp::Set {
                key: b("t"),
                pairs: vec![(b("a"), b("x")), (b("b"), b("y"))],
            },
        ),
        &ctx(1),
    );
    let (header, chunks) = snapshot(&mut engine, 1 << 20);
    let [chunk] = &chunks[..] else {
        panic!("one chunk expected, got {}", chunks.len());
    };
    assert!(restore(&header, &chunks).is_ok(), "the real chunk restores");
    // Each field and value is a length byte and the byte itself.
    let in_order = [1, b'a', 1, b'x', 1, b'b', 1, b'y'];
    let at = chunk
        .windows(in_order.len())
        .position(|w| w == in_order)
        .expect("the table's fields in the chunk");
    let mut swapped = chunk.clone();
    swapped[at..at + in_order.len()].copy_from_slice(&[1, b'b', 1, b'y', 1, b'a', 1, b'x']);
    match restore(&header, &[swapped]) {
        Err(EngineError::CorruptSnapshot(reason)) => {
            assert!(reason.contains("out of order"), "{reason}")
        }
        Err(other) => panic!("expected a corrupt snapshot, got {other}"),
        Ok(_) => panic!("fields out of order were accepted"),
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let mut engine = sample_engine();
    let (header, chunks) = snapshot(&mut engine, 1 << 20);
    let chunk = &chunks[0];
    for i in 0..chunk.len() {
        for flip in [0x01, 0x80, 0xFF] {
            let mut bad = chunk.clone();
            bad[i] ^= flip;
            // Either refused or a (different) valid dataset; never a panic.
            let _ = restore(&header, &[bad]);
        }
    }
}

#[test]
fn headers_round_trip_and_bad_ones_are_refused() {
    let mut engine = sample_engine();
    let header = engine.snapshot_begin().expect("starts");
    let bytes = header.to_bytes();
    assert_eq!(SnapshotHeader::from_bytes(&bytes), Ok(header.clone()));
    for cut in 0..bytes.len() {
        assert!(SnapshotHeader::from_bytes(&bytes[..cut]).is_err());
    }
    let mut future = header.clone();
    future.format = 99;
    assert!(Engine::restore_begin(&future).is_err());
    assert!(SnapshotHeader::from_bytes(&future.to_bytes()).is_err());
    let mut trailing = bytes;
    trailing.push(0);
    assert!(SnapshotHeader::from_bytes(&trailing).is_err());
}
