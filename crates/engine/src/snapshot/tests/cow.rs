//! Copy-on-write, op by op: one op of every kind (each multi-key and cross-namespace
//! shape included) applied right after the snapshot point, before the walk reached
//! anything, so every key the op changes must have been preserved. A key missing from
//! `touched_keys` shows up as a restored state that differs from the snapshot point.

use bytes::Bytes;
use okapi_types::Namespace;

use super::{ctx, op, restore};
use crate::engine::{Txn, TxnItem};
use crate::hashes::HashOp;
use crate::keys::{ExpireCond, KeyOp};
use crate::lists::{End, ListOp};
use crate::sets::{SetAlgebra, SetOp};
use crate::snapshot::dump::dump;
use crate::strings::{SetCond, SetExpire, StringOp};
use crate::testing::b;
use crate::zsets::{
    AddFlags, Aggregate, Combine, PopEnd, PopShape, RangeBy, RangeSpec, SetOpKind, ZSetOp,
};
use crate::{ApplyCtx, Engine, Op};

fn bs(items: &[&str]) -> Vec<Bytes> {
    items.iter().map(|s| b(s)).collect()
}

/// Values of every type in namespaces 0 and 1, one of them already expired.
fn populated() -> Engine {
    let mut engine = Engine::new(2, 5);
    let setup = [
        op(
            0,
            StringOp::MSet {
                pairs: vec![(b("s0"), b("5")), (b("s1"), b("abc")), (b("e0"), b("old"))],
                nx: false,
            },
        ),
        op(
            0,
            KeyOp::Expire {
                key: b("s1"),
                at: 90_000,
                cond: ExpireCond::default(),
            },
        ),
        op(
            0,
            KeyOp::Expire {
                key: b("e0"),
                at: 5_500,
                cond: ExpireCond::default(),
            },
        ),
        op(
            0,
            HashOp::Set {
                key: b("h0"),
                pairs: vec![(b("f"), b("1"))],
                reply_ok: false,
            },
        ),
        op(
            0,
            ListOp::Push {
                key: b("l0"),
                end: End::Right,
                elements: bs(&["a", "b", "c"]),
                existing_only: false,
            },
        ),
        op(
            0,
            ListOp::Push {
                key: b("l1"),
                end: End::Right,
                elements: bs(&["x"]),
                existing_only: false,
            },
        ),
        op(
            0,
            SetOp::Add {
                key: b("t0"),
                members: bs(&["m0", "m1", "m2", "m3", "m4", "m5"]),
            },
        ),
        op(
            0,
            SetOp::Add {
                key: b("t1"),
                members: bs(&["m1"]),
            },
        ),
        op(
            0,
            ZSetOp::Add {
                key: b("z0"),
                flags: AddFlags::default(),
                pairs: vec![(1.0, b("a")), (2.0, b("b")), (3.0, b("c"))],
            },
        ),
        op(
            0,
            ZSetOp::Add {
                key: b("z1"),
                flags: AddFlags::default(),
                pairs: vec![(1.0, b("x"))],
            },
        ),
        op(
            1,
            StringOp::MSet {
                pairs: vec![(b("s0"), b("other")), (b("t5"), b("str"))],
                nx: false,
            },
        ),
    ];
    for (i, o) in setup.into_iter().enumerate() {
        engine.apply(o, &ctx(i as u64 + 1));
    }
    engine
}

fn rank(start: i64, stop: i64) -> RangeBy {
    RangeBy::Rank { start, stop }
}

fn combine(kind: SetOpKind, keys: &[&str]) -> Combine {
    Combine {
        kind,
        keys: bs(keys),
        weights: Vec::new(),
        aggregate: Aggregate::Sum,
    }
}

#[rustfmt::skip]
fn catalogue() -> Vec<Op> {
    let set = |key: &str, value: &str| StringOp::Set {
        key: b(key), value: b(value), cond: SetCond::Always, get: true, expire: SetExpire::Keep,
    };
    let pop = |keys: &[&str], shape| ZSetOp::Pop { keys: bs(keys), end: PopEnd::Max, count: Some(2), shape };
    vec![
        op(0, set("s9", "new")), op(0, set("s0", "x")), op(0, set("e0", "lazy-expiry")),
        op(0, StringOp::SetNx { key: b("s8"), value: b("1") }),
        op(0, StringOp::MSet { pairs: vec![(b("s0"), b("1")), (b("s8"), b("2"))], nx: false }),
        op(0, StringOp::GetDel { key: b("s0") }),
        op(0, StringOp::GetEx { key: b("s1"), expire_at: Some(70_000) }),
        op(0, StringOp::GetEx { key: b("s1"), expire_at: None }),
        op(0, StringOp::Append { key: b("s1"), value: b("d") }),
        op(0, StringOp::SetRange { key: b("s1"), offset: 1, value: b("Z") }),
        op(0, StringOp::IncrBy { key: b("s0"), delta: 2 }),
        op(0, StringOp::IncrByFloat { key: b("s0"), delta: 0.5 }),
        op(0, KeyOp::Del { keys: bs(&["nope", "s0", "l0"]) }),
        op(0, KeyOp::Expire { key: b("s0"), at: 60_000, cond: ExpireCond::default() }),
        op(0, KeyOp::Expire { key: b("s0"), at: 1, cond: ExpireCond::default() }),
        op(0, KeyOp::Persist { key: b("s1") }),
        op(0, KeyOp::Rename { src: b("s0"), dst: b("s7"), nx: false }),
        op(0, KeyOp::Rename { src: b("s0"), dst: b("s1"), nx: false }),
        op(0, KeyOp::Rename { src: b("z0"), dst: b("z9"), nx: true }),
        op(0, KeyOp::Copy { src: b("s1"), dst: b("s0"), dst_db: Namespace(1), replace: true }),
        op(0, KeyOp::Copy { src: b("t0"), dst: b("t6"), dst_db: Namespace(1), replace: false }),
        op(0, KeyOp::Copy { src: b("e0"), dst: b("x"), dst_db: Namespace(0), replace: false }),
        op(0, KeyOp::Move { key: b("s1"), dst_db: Namespace(1) }),
        op(1, KeyOp::Move { key: b("t5"), dst_db: Namespace(0) }),
        op(0, KeyOp::FlushDb), op(1, KeyOp::FlushDb), op(0, KeyOp::FlushAll),
        op(0, KeyOp::ExpireDue { keys: bs(&["e0", "s0"]) }),
        op(0, HashOp::Set { key: b("h0"), pairs: vec![(b("g"), b("2"))], reply_ok: true }),
        op(0, HashOp::Set { key: b("h9"), pairs: vec![(b("g"), b("2"))], reply_ok: false }),
        op(0, HashOp::SetNx { key: b("h0"), field: b("n"), value: b("v") }),
        op(0, HashOp::Del { key: b("h0"), fields: bs(&["f"]) }),
        op(0, HashOp::IncrBy { key: b("h0"), field: b("f"), delta: 3 }),
        op(0, HashOp::IncrByFloat { key: b("h0"), field: b("f"), delta: 0.5 }),
        op(0, ListOp::Push { key: b("l0"), end: End::Left, elements: bs(&["n"]), existing_only: true }),
        op(0, ListOp::Push { key: b("l9"), end: End::Left, elements: bs(&["n"]), existing_only: false }),
        op(0, ListOp::Pop { key: b("l1"), end: End::Left, count: None }),
        op(0, ListOp::Set { key: b("l0"), index: Some(-1), element: b("z") }),
        op(0, ListOp::Insert { key: b("l0"), after: true, pivot: b("a"), element: b("i") }),
        op(0, ListOp::Rem { key: b("l0"), count: 0, element: b("b") }),
        op(0, ListOp::Trim { key: b("l0"), start: 1, stop: 1 }),
        op(0, ListOp::Move { src: b("l0"), dst: b("l5"), from: End::Left, to: End::Right }),
        op(0, ListOp::Move { src: b("l1"), dst: b("l0"), from: End::Left, to: End::Right }),
        op(0, ListOp::MPop { keys: bs(&["l9", "l0"]), end: End::Right, count: 2 }),
        op(0, ListOp::PopFirst { keys: bs(&["l9", "l1"]), end: End::Left }),
        op(0, SetOp::Add { key: b("t0"), members: bs(&["new"]) }),
        op(0, SetOp::Rem { key: b("t1"), members: bs(&["m1"]) }),
        op(0, SetOp::Pop { key: b("t0"), count: Some(3), seed: 9 }),
        op(0, SetOp::Pop { key: b("t0"), count: None, seed: 9 }),
        op(0, SetOp::Pop { key: b("t1"), count: Some(9), seed: 9 }),
        op(0, SetOp::Move { src: b("t0"), dst: b("t5"), member: b("m2") }),
        op(0, SetOp::Store { dst: b("t6"), keys: bs(&["t0", "t1"]), algebra: SetAlgebra::Union }),
        op(0, SetOp::Store { dst: b("t0"), keys: bs(&["t1"]), algebra: SetAlgebra::Inter }),
        op(0, SetOp::Store { dst: b("s0"), keys: bs(&["t1", "t1"]), algebra: SetAlgebra::Diff }),
        op(0, ZSetOp::Add { key: b("z0"), flags: AddFlags::default(), pairs: vec![(9.0, b("a"))] }),
        op(0, ZSetOp::Add {
            key: b("z8"), flags: AddFlags { incr: true, ..AddFlags::default() }, pairs: vec![(1.0, b("q"))],
        }),
        op(0, ZSetOp::Rem { key: b("z1"), members: bs(&["x"]) }),
        op(0, ZSetOp::RemRange { key: b("z0"), by: rank(0, 1) }),
        op(0, pop(&["z9", "z0"], PopShape::Multi)), op(0, pop(&["z9", "z1"], PopShape::Keyed)),
        op(0, ZSetOp::RangeStore {
            dst: b("z5"), src: b("z0"), spec: Box::new(RangeSpec { by: rank(0, 1), rev: true, limit: None }),
        }),
        op(0, ZSetOp::CombineStore { dst: b("z6"), combine: combine(SetOpKind::Union, &["z0", "t0"]) }),
        op(0, ZSetOp::CombineStore { dst: b("z0"), combine: combine(SetOpKind::Inter, &["z0", "z1"]) }),
        op(0, crate::OpKind::Txn(Txn {
            checks: Vec::new(),
            items: vec![
                TxnItem::Write(op(1, StringOp::Append { key: b("s0"), value: b("!") })),
                TxnItem::Write(op(0, KeyOp::Rename { src: b("l0"), dst: b("l7"), nx: false })),
                TxnItem::Write(op(1, KeyOp::FlushDb)),
                TxnItem::Write(op(1, set("after-flush", "1"))),
            ],
        })),
    ]
}

#[test]
fn every_key_an_op_changes_ahead_of_the_walk_is_preserved() {
    for (i, o) in catalogue().into_iter().enumerate() {
        let mut engine = populated();
        let at_point = dump(&engine);
        let header = engine.snapshot_begin().expect("starts");
        let later = ApplyCtx {
            now_ms: 6_000,
            index: 100,
        };
        engine.apply(o.clone(), &later);
        assert_ne!(dump(&engine), at_point, "op {i} changes something: {o:?}");
        let chunks: Vec<_> = std::iter::from_fn(|| engine.snapshot_next(1)).collect();
        let restored = restore(&header, &chunks).expect("restores");
        assert_eq!(dump(&restored), at_point, "op {i}: {o:?}");
    }
}
