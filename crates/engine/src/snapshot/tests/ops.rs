//! Random ops of every family over a few keys in three namespaces, for the snapshot
//! property test. Expiry times are absolute around the test clock (which starts at
//! [`START_MS`] and only moves forward), so some keys expire while a snapshot runs.

use bytes::Bytes;
use proptest::prelude::*;

use crate::bitmaps::{BitOp, BitOperation};
use crate::geo::hash::Shape;
use crate::geo::{GeoCenter, GeoOp, GeoSearch, GeoSort};
use crate::hashes::{HashOp, HashQuery};
use crate::keys::{ExpireCond, KeyOp, KeyQuery};
use crate::lists::{End, ListOp, ListQuery};
use crate::sets::{SetAlgebra, SetOp, SetQuery};
use crate::sort::{SortBy, SortSpec};
use crate::stream::{StreamId, TrimBound};
use crate::streams::{Claim, ClaimTime, GroupFrom, GroupStart, IdSpec, ReadGroup, StreamOp, Trim};
use crate::strings::{SetCond, SetExpire, StringOp, StringQuery};
use crate::zsets::{
    AddFlags, Aggregate, Combine, PopEnd, PopShape, RangeBy, RangeSpec, SetOpKind, ZSetOp,
    ZSetQuery,
};
use crate::{OpKind, QueryKind};

/// The test clock's start, Unix ms.
pub(super) const START_MS: u64 = 1_000_000;
/// Namespaces of the engine under test.
pub(super) const SPACES: u32 = 3;

/// One step of a test run.
#[derive(Debug, Clone)]
pub(super) enum Step {
    /// An op in a namespace.
    Op(u32, OpKind),
    /// A transaction: optionally WATCH a key (with its real stamp, or a stale one so
    /// it aborts), then the items.
    Txn {
        watch: Option<(u32, Bytes, bool)>,
        items: Vec<TxnStep>,
    },
    /// MSET of `count` keys, so tables grow (and resize) while the walk runs.
    Fill { db: u32, tag: u8, count: u16 },
    /// DEL of the keys of a fill, so tables shrink.
    Drain { db: u32, tag: u8, count: u16 },
    /// A set of many members, then some removed: the set's table resizes.
    BigSet { db: u32, key: Bytes, count: u16 },
    /// Active expiry as the leader would submit it.
    ActiveExpire,
    /// The clock moves forward.
    Advance(u16),
    /// Pull a chunk of about this many bytes (only while a snapshot runs).
    Pull(u16),
}

/// One item of a generated transaction.
#[derive(Debug, Clone)]
pub(super) enum TxnStep {
    Write(u32, OpKind),
    Read(u32, QueryKind),
}

fn db() -> impl Strategy<Value = u32> {
    0..SPACES
}

/// Keys mostly of one family's own few (so ops find values of their type), sometimes
/// shared ones (WRONGTYPE), and one too long to be stored inline.
fn key_of(prefix: &'static str) -> BoxedStrategy<Bytes> {
    prop_oneof![
        6 => (0u8..3).prop_map(move |k| Bytes::from(format!("{prefix}{k}"))),
        1 => (0u8..2).prop_map(|k| Bytes::from(format!("k{k}"))),
        1 => Just(Bytes::from_static(b"a-key-name-longer-than-22-bytes")),
    ]
    .boxed()
}

/// A key of any family.
pub(super) fn key() -> BoxedStrategy<Bytes> {
    prop_oneof![
        key_of("s"),
        key_of("h"),
        key_of("l"),
        key_of("t"),
        key_of("z")
    ]
    .boxed()
}

fn keys_of(prefix: &'static str) -> BoxedStrategy<Vec<Bytes>> {
    proptest::collection::vec(key_of(prefix), 1..4).boxed()
}

fn keys() -> BoxedStrategy<Vec<Bytes>> {
    proptest::collection::vec(key(), 1..4).boxed()
}

/// Integers (so INCR works), short text, text over the inline size, and rarely a
/// value big enough to be stored shared.
fn val() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        4 => (-3i64..20).prop_map(|n| Bytes::from(n.to_string())),
        4 => (0u8..6).prop_map(|v| Bytes::from(format!("v{v}"))),
        1 => (0u8..3).prop_map(|v| Bytes::from(format!("{v}-{}", "x".repeat(45)))),
        1 => Just(Bytes::from(vec![b'z'; 1100])),
    ]
    .boxed()
}

fn member() -> impl Strategy<Value = Bytes> {
    (0u8..8).prop_map(|m| Bytes::from(format!("m{m}")))
}

fn members() -> impl Strategy<Value = Vec<Bytes>> {
    proptest::collection::vec(member(), 1..4)
}

/// An absolute time around the clock: some already past, most ahead.
fn at() -> impl Strategy<Value = u64> {
    (START_MS - 100)..(START_MS + 8_000)
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![Just(End::Left), Just(End::Right)]
}

fn string_op() -> BoxedStrategy<OpKind> {
    let expire = prop_oneof![
        Just(SetExpire::Clear),
        Just(SetExpire::Keep),
        at().prop_map(SetExpire::At)
    ];
    let cond = prop_oneof![
        Just(SetCond::Always),
        Just(SetCond::IfAbsent),
        Just(SetCond::IfPresent)
    ];
    prop_oneof![
        4 => (key_of("s"), val(), cond, any::<bool>(), expire).prop_map(|(key, value, cond, get, expire)| {
            StringOp::Set { key, value, cond, get, expire }.into()
        }),
        1 => (key_of("s"), val()).prop_map(|(key, value)| StringOp::SetNx { key, value }.into()),
        1 => (proptest::collection::vec((key_of("s"), val()), 1..4), any::<bool>())
            .prop_map(|(pairs, nx)| StringOp::MSet { pairs, nx }.into()),
        1 => key_of("s").prop_map(|key| StringOp::GetDel { key }.into()),
        1 => (key_of("s"), proptest::option::of(at()))
            .prop_map(|(key, expire_at)| StringOp::GetEx { key, expire_at }.into()),
        2 => (key_of("s"), val()).prop_map(|(key, value)| StringOp::Append { key, value }.into()),
        1 => (key_of("s"), 0usize..12, val())
            .prop_map(|(key, offset, value)| StringOp::SetRange { key, offset, value }.into()),
        2 => (key_of("s"), -5i64..5).prop_map(|(key, delta)| StringOp::IncrBy { key, delta }.into()),
        1 => (key_of("s"), prop_oneof![Just(1.5), Just(-0.25), Just(3.0)])
            .prop_map(|(key, delta)| StringOp::IncrByFloatText { key, increment: Bytes::from(format!("{delta}")) }.into()),
        1 => (key_of("s"), 0u64..100, any::<bool>())
            .prop_map(|(key, offset, on)| BitOp::SetBit { key, offset, on }.into()),
        1 => (key_of("s"), proptest::collection::vec(key_of("s"), 1..3))
            .prop_map(|(dst, keys)| BitOp::Combine { op: BitOperation::Or, dst, keys }.into()),
    ]
    .boxed()
}

fn expire_cond() -> impl Strategy<Value = ExpireCond> {
    prop_oneof![
        3 => Just(ExpireCond::default()),
        1 => Just(ExpireCond { nx: true, ..ExpireCond::default() }),
        1 => Just(ExpireCond { xx: true, ..ExpireCond::default() }),
        1 => Just(ExpireCond { gt: true, ..ExpireCond::default() }),
        1 => Just(ExpireCond { lt: true, ..ExpireCond::default() }),
    ]
    .boxed()
}

fn key_op() -> BoxedStrategy<OpKind> {
    prop_oneof![
        3 => keys().prop_map(|keys| KeyOp::Del { keys }.into()),
        3 => (key(), at(), expire_cond()).prop_map(|(key, at, cond)| KeyOp::Expire { key, at, cond }.into()),
        1 => key().prop_map(|key| KeyOp::Persist { key }.into()),
        2 => (key(), key(), any::<bool>()).prop_map(|(src, dst, nx)| KeyOp::Rename { src, dst, nx }.into()),
        2 => (key(), key(), db(), any::<bool>()).prop_map(|(src, dst, dst_db, replace)| {
            KeyOp::Copy { src, dst, dst_db: okapi_types::Namespace(dst_db), replace }.into()
        }),
        2 => (key(), db()).prop_map(|(key, dst_db)| {
            KeyOp::Move { key, dst_db: okapi_types::Namespace(dst_db) }.into()
        }),
        1 => keys().prop_map(|keys| KeyOp::ExpireDue { keys }.into()),
        1 => db().prop_map(|other| KeyOp::SwapDb { other: okapi_types::Namespace(other) }.into()),
        // A set restored from a payload: each replica decodes it into its own seed.
        1 => (key(), any::<bool>(), 0i64..3).prop_map(|(key, replace, ttl)| {
            let mut set = crate::dict::Dict::with_seed(1);
            for m in ["a", "b", "c"] {
                set.insert(Bytes::from_static(m.as_bytes()), ());
            }
            let value = crate::value::Value::Set(Box::new(set));
            let payload = crate::dump::dump(&value, 1).expect("a set dumps");
            KeyOp::Restore { key, payload, ttl: ttl * 100_000, absttl: false, replace, idle_secs: None, error: None }.into()
        }),
        1 => (key(), key(), any::<bool>()).prop_map(|(key, dst, alpha)| {
            let spec = SortSpec {
                by: if alpha { SortBy::NoSort } else { SortBy::Pattern(Bytes::from_static(b"s*")) },
                limit: None,
                get: vec![Bytes::from_static(b"#")],
                desc: false,
                alpha,
            };
            KeyOp::SortStore { key, spec, dst }.into()
        }),
    ]
    .boxed()
}

fn hash_op() -> BoxedStrategy<OpKind> {
    prop_oneof![
        3 => (key_of("h"), proptest::collection::vec((member(), val()), 1..4), any::<bool>())
            .prop_map(|(key, pairs, reply_ok)| HashOp::Set { key, pairs, reply_ok }.into()),
        1 => (key_of("h"), member(), val()).prop_map(|(key, field, value)| HashOp::SetNx { key, field, value }.into()),
        2 => (key_of("h"), members()).prop_map(|(key, fields)| HashOp::Del { key, fields }.into()),
        1 => (key_of("h"), member(), -3i64..3).prop_map(|(key, field, delta)| HashOp::IncrBy { key, field, delta }.into()),
        1 => (key_of("h"), member()).prop_map(|(key, field)| HashOp::IncrByFloatText { key, field, increment: Bytes::from_static(b"0.5") }.into()),
    ]
    .boxed()
}

fn list_op() -> BoxedStrategy<OpKind> {
    prop_oneof![
        4 => (key_of("l"), end(), proptest::collection::vec(val(), 1..4), any::<bool>()).prop_map(
            |(key, end, elements, existing_only)| ListOp::Push { key, end, elements, existing_only }.into()
        ),
        2 => (key_of("l"), end(), proptest::option::of(0u64..4))
            .prop_map(|(key, end, count)| ListOp::Pop { key, end, count }.into()),
        1 => (key_of("l"), -3i64..3, val())
            .prop_map(|(key, index, element)| ListOp::Set { key, index: Some(index), element }.into()),
        1 => (key_of("l"), any::<bool>(), val(), val()).prop_map(|(key, after, pivot, element)| {
            ListOp::Insert { key, after, pivot, element }.into()
        }),
        1 => (key_of("l"), -2i64..3, val()).prop_map(|(key, count, element)| ListOp::Rem { key, count, element }.into()),
        1 => (key_of("l"), -3i64..3, -3i64..3).prop_map(|(key, start, stop)| ListOp::Trim { key, start, stop }.into()),
        2 => (key_of("l"), key_of("l"), end(), end()).prop_map(|(src, dst, from, to)| ListOp::Move { src, dst, from, to }.into()),
        1 => (keys_of("l"), end(), 1u64..4).prop_map(|(keys, end, count)| ListOp::MPop { keys, end, count }.into()),
        1 => (keys_of("l"), end()).prop_map(|(keys, end)| ListOp::PopFirst { keys, end }.into()),
    ]
    .boxed()
}

fn set_op() -> BoxedStrategy<OpKind> {
    let algebra = prop_oneof![
        Just(SetAlgebra::Inter),
        Just(SetAlgebra::Union),
        Just(SetAlgebra::Diff)
    ];
    prop_oneof![
        4 => (key_of("t"), members()).prop_map(|(key, members)| SetOp::Add { key, members }.into()),
        2 => (key_of("t"), members()).prop_map(|(key, members)| SetOp::Rem { key, members }.into()),
        2 => (key_of("t"), proptest::option::of(0u64..6), any::<u64>())
            .prop_map(|(key, count, seed)| SetOp::Pop { key, count, seed }.into()),
        1 => (key_of("t"), key_of("t"), member()).prop_map(|(src, dst, member)| SetOp::Move { src, dst, member }.into()),
        2 => (key_of("t"), keys_of("t"), algebra).prop_map(|(dst, keys, algebra)| SetOp::Store { dst, keys, algebra }.into()),
    ]
    .boxed()
}

fn zset_op() -> BoxedStrategy<OpKind> {
    let flags = prop_oneof![
        4 => Just(AddFlags::default()),
        1 => Just(AddFlags { nx: true, ..AddFlags::default() }),
        1 => Just(AddFlags { xx: true, ch: true, ..AddFlags::default() }),
        1 => Just(AddFlags { gt: true, ..AddFlags::default() }),
        1 => Just(AddFlags { lt: true, xx: true, ..AddFlags::default() }),
    ];
    let score = prop_oneof![(-4i32..8).prop_map(f64::from), Just(0.5), Just(-0.0)];
    let kind = prop_oneof![
        Just(SetOpKind::Union),
        Just(SetOpKind::Inter),
        Just(SetOpKind::Diff)
    ];
    let aggregate = prop_oneof![
        Just(Aggregate::Sum),
        Just(Aggregate::Min),
        Just(Aggregate::Max)
    ];
    let shape = prop_oneof![
        Just(PopShape::Plain),
        Just(PopShape::Keyed),
        Just(PopShape::Multi)
    ];
    let pop_end = prop_oneof![Just(PopEnd::Min), Just(PopEnd::Max)];
    prop_oneof![
        4 => (key_of("z"), flags, proptest::collection::vec((score.clone(), member()), 1..4))
            .prop_map(|(key, flags, pairs)| ZSetOp::Add { key, flags, pairs }.into()),
        1 => (key_of("z"), score, member()).prop_map(|(key, s, m)| {
            let flags = AddFlags { incr: true, ..AddFlags::default() };
            ZSetOp::Add { key, flags, pairs: vec![(s, m)] }.into()
        }),
        2 => (key_of("z"), members()).prop_map(|(key, members)| ZSetOp::Rem { key, members }.into()),
        1 => (key_of("z"), -3i64..3, -3i64..3).prop_map(|(key, start, stop)| {
            ZSetOp::RemRange { key, by: RangeBy::Rank { start, stop } }.into()
        }),
        2 => (keys_of("z"), pop_end, proptest::option::of(0usize..4), shape)
            .prop_map(|(keys, end, count, shape)| ZSetOp::Pop { keys, end, count, shape }.into()),
        1 => (key_of("z"), key_of("z"), -3i64..3, -3i64..3, any::<bool>()).prop_map(|(dst, src, start, stop, rev)| {
            let spec = Box::new(RangeSpec { by: RangeBy::Rank { start, stop }, rev, limit: None });
            ZSetOp::RangeStore { dst, src, spec }.into()
        }),
        2 => (key_of("z"), keys_of("z"), kind, aggregate).prop_map(|(dst, keys, kind, aggregate)| {
            let combine = Combine { kind, keys, weights: Vec::new(), aggregate };
            ZSetOp::CombineStore { dst, combine }.into()
        }),
        // Scores are small integers here: every position is near (-180, -85).
        1 => (key_of("z"), key_of("z"), any::<bool>()).prop_map(|(dst, key, store_dist)| {
            let search = GeoSearch {
                center: Some(GeoCenter::LonLat(-179.9, -85.0)),
                shape: Some(Shape::Radius(100.0)),
                unit: 1000.0,
                sort: GeoSort::Unsorted,
                count: 0,
                any: false,
                with_dist: false,
                with_hash: false,
                with_coord: false,
                error_if_found: None,
                error: None,
            };
            GeoOp::SearchStore { dst, key, search: Box::new(search), store_dist }.into()
        }),
    ]
    .boxed()
}

fn stream_op() -> BoxedStrategy<OpKind> {
    let id = |ms: u64, seq: u64| StreamId { ms, seq };
    prop_oneof![
        6 => (key_of("x"), proptest::collection::vec(val(), 1..3), any::<bool>())
            .prop_map(|(key, values, auto)| {
                let fields = values.into_iter().flat_map(|v| [Bytes::from_static(b"f"), v]).collect();
                let id = if auto { IdSpec::Auto } else { IdSpec::AutoSeq(5_000) };
                StreamOp::Add { key, id, fields, nomkstream: false, trim: None }.into()
            }),
        1 => (key_of("x"), 0u64..5, any::<bool>()).prop_map(move |(key, n, approx)| {
            let bound = if n == 4 { TrimBound::MinId(id(1_000, 3)) } else { TrimBound::MaxLen(n) };
            StreamOp::Trim { key, trim: Trim { bound, approx, limit: 0 } }.into()
        }),
        1 => (key_of("x"), 0u64..6).prop_map(move |(key, seq)| {
            StreamOp::Del { key, ids: vec![id(1_000, seq), id(5_000, seq)] }.into()
        }),
        // Consumer groups: two groups, three consumers, reads, acks and claims.
        2 => (key_of("x"), group(), any::<bool>()).prop_map(|(key, group, mkstream)| {
            StreamOp::GroupCreate { key, group, start: GroupStart::Id(StreamId::MIN), mkstream, entries_read: -1 }.into()
        }),
        3 => (keys_of("x"), group(), consumer(), 0u64..3, any::<bool>(), any::<bool>())
            .prop_map(|(keys, group, consumer, count, noack, history)| {
                let from = if history { GroupFrom::History(StreamId::MIN) } else { GroupFrom::New };
                let streams = keys.into_iter().map(|k| (k, from.clone())).collect();
                StreamOp::ReadGroup(Box::new(ReadGroup { group, consumer, streams, count, noack, woken: false })).into()
            }),
        1 => (key_of("x"), group(), 0u64..6).prop_map(move |(key, group, seq)| {
            StreamOp::Ack { key, group, ids: vec![id(1_000, seq), id(5_000, seq)], error: None }.into()
        }),
        1 => (key_of("x"), group(), consumer(), 0u64..6, any::<bool>()).prop_map(move |(key, group, consumer, seq, force)| {
            StreamOp::Claim(Box::new(Claim {
                key, group, consumer, min_idle: 0, ids: vec![id(1_000, seq), id(5_000, seq)],
                time: ClaimTime::Idle(5), retry_count: -1, force, justid: false,
                last_id: StreamId::MIN, error: None,
            })).into()
        }),
        1 => (key_of("x"), group(), consumer(), 1u64..4).prop_map(|(key, group, consumer, count)| {
            StreamOp::AutoClaim { key, group, consumer, min_idle: 0, start: StreamId::MIN, count, justid: false }.into()
        }),
        1 => (key_of("x"), group(), consumer()).prop_map(|(key, group, consumer)| {
            StreamOp::ConsumerDelete { key, group, consumer }.into()
        }),
    ]
    .boxed()
}

fn group() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        Just(Bytes::from_static(b"g1")),
        Just(Bytes::from_static(b"g2"))
    ]
}

fn consumer() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        Just(Bytes::from_static(b"c1")),
        Just(Bytes::from_static(b"c2")),
        Just(Bytes::from_static(b"c3")),
    ]
}

/// Any write, FLUSHDB and FLUSHALL rarely.
pub(super) fn op() -> BoxedStrategy<OpKind> {
    prop_oneof![
        8 => string_op(),
        6 => key_op(),
        4 => hash_op(),
        4 => list_op(),
        4 => set_op(),
        4 => zset_op(),
        2 => stream_op(),
        1 => Just(KeyOp::FlushDb.into()),
        1 => Just(KeyOp::FlushAll.into()),
    ]
    .boxed()
}

/// Reads whose replies list container contents (order included) or pick elements.
fn read() -> BoxedStrategy<QueryKind> {
    prop_oneof![
        key_of("s").prop_map(|key| StringQuery::Get { key }.into()),
        key_of("h").prop_map(|key| HashQuery::GetAll { key }.into()),
        key_of("t").prop_map(|key| SetQuery::Members { key }.into()),
        (key_of("t"), -3i64..4).prop_map(|(key, n)| SetQuery::RandMember {
            key,
            count: Some(n)
        }
        .into()),
        key_of("l").prop_map(|key| ListQuery::Range {
            key,
            start: 0,
            stop: -1
        }
        .into()),
        key_of("z").prop_map(|key| {
            let spec = RangeSpec {
                by: RangeBy::Rank { start: 0, stop: -1 },
                rev: false,
                limit: None,
            };
            ZSetQuery::Range {
                key,
                spec,
                withscores: true,
            }
            .into()
        }),
        Just(KeyQuery::RandomKey.into()),
        Just(KeyQuery::DbSize.into()),
        Just(
            KeyQuery::Keys {
                pattern: Bytes::from_static(b"*")
            }
            .into()
        ),
    ]
    .boxed()
}

fn txn_step() -> BoxedStrategy<TxnStep> {
    prop_oneof![
        3 => (db(), op()).prop_map(|(db, op)| TxnStep::Write(db, op)),
        1 => (db(), read()).prop_map(|(db, q)| TxnStep::Read(db, q)),
    ]
    .boxed()
}

/// Any step.
pub(super) fn step() -> BoxedStrategy<Step> {
    prop_oneof![
        30 => (db(), op()).prop_map(|(db, op)| Step::Op(db, op)),
        3 => (proptest::option::of((db(), key(), any::<bool>())), proptest::collection::vec(txn_step(), 1..5))
            .prop_map(|(watch, items)| Step::Txn { watch, items }),
        2 => (db(), 0u8..3, 10u16..150).prop_map(|(db, tag, count)| Step::Fill { db, tag, count }),
        1 => (db(), 0u8..3, 10u16..150).prop_map(|(db, tag, count)| Step::Drain { db, tag, count }),
        1 => (db(), key_of("t"), 20u16..120).prop_map(|(db, key, count)| Step::BigSet { db, key, count }),
        2 => Just(Step::ActiveExpire),
        3 => (1u16..600).prop_map(Step::Advance),
    ]
    .boxed()
}

/// A step after the snapshot point: also pulls of chunks, mostly small and rare ones,
/// so many ops run while the walk is still under way.
pub(super) fn step_after() -> BoxedStrategy<Step> {
    let size = prop_oneof![12 => 1u16..60, 3 => 60u16..400, 1 => 400u16..4000];
    prop_oneof![
        6 => step(),
        1 => size.prop_map(Step::Pull),
    ]
    .boxed()
}
