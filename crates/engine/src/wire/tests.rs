//! Golden bytes: one op of every variant (and queries of every variant, as transaction
//! reads) encoded into `tests/fixtures/ops-v1.bin`, committed. The test decodes the
//! fixture and re-encodes the samples: a renumbered tag, a reordered field or a changed
//! primitive encoding fails it. `OKAPI_BLESS=1` rewrites the fixture — only for a
//! deliberate format change, which also needs a new format version.

use bytes::Bytes;
use okapi_types::Namespace;
use okapi_types::wire::Wire;

use crate::bitmaps::{
    BitOp, BitOperation, BitQuery, BitRange, BitUnit, FieldKind, FieldOp, Overflow,
};
use crate::blocks::{BlockOp, BlockQuery, ReadPiece, WritePiece};
use crate::engine::{Op, OpKind, Query, QueryKind, Txn, TxnItem, WatchCheck};
use crate::error::EngineError;
use crate::geo::hash::Shape;
use crate::geo::{GeoCenter, GeoOp, GeoQuery, GeoSearch, GeoSort};
use crate::hashes::{HashOp, HashQuery};
use crate::keys::{ExpireCond, KeyOp, KeyQuery, TtlForm};
use crate::keyspace::WatchStamp;
use crate::lists::{End, ListOp, ListQuery};
use crate::sets::{SetAlgebra, SetOp, SetQuery};
use crate::sort::{SortBy, SortSpec};
use crate::stream::{StreamId, TrimBound};
use crate::streams::{
    Claim, ClaimTime, GroupFrom, GroupStart, IdSpec, PendingRange, ReadFrom, ReadGroup, StreamOp,
    StreamQuery, Trim,
};
use crate::strings::{LcsOptions, SetCond, SetExpire, StringOp, StringQuery};
use crate::tables::{FieldRange, RangeEnd, TableOp, TableQuery};
use crate::zsets::{
    AddFlags, Aggregate, Combine, LexBound, LexRange, PopEnd, PopShape, RangeBy, RangeSpec,
    ScoreRange, SetOpKind, ZSetOp, ZSetQuery,
};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn bs(items: &[&str]) -> Vec<Bytes> {
    items.iter().map(|s| b(s)).collect()
}

fn combine() -> Combine {
    Combine {
        kind: SetOpKind::Inter,
        keys: bs(&["z1", "z2"]),
        weights: vec![1.0, -2.5],
        aggregate: Aggregate::Max,
    }
}

fn spec() -> RangeSpec {
    RangeSpec {
        by: RangeBy::Lex(LexRange {
            min: LexBound::Incl(b("a")),
            max: LexBound::Max,
        }),
        rev: true,
        limit: Some((1, -1)),
    }
}

fn ops() -> Vec<OpKind> {
    let range = FieldRange {
        start: RangeEnd::Field(b("f")),
        end: RangeEnd::Max,
    };
    vec![
        StringOp::Set {
            key: b("k"),
            value: b("v"),
            cond: SetCond::IfAbsent,
            get: true,
            expire: SetExpire::At(1_700_000_000_000),
        }
        .into(),
        StringOp::Set {
            key: b("k"),
            value: b(""),
            cond: SetCond::IfPresent,
            get: false,
            expire: SetExpire::Keep,
        }
        .into(),
        StringOp::Set {
            key: b("k"),
            value: b("x"),
            cond: SetCond::Always,
            get: false,
            expire: SetExpire::Clear,
        }
        .into(),
        StringOp::SetNx {
            key: b("k"),
            value: b("v"),
        }
        .into(),
        StringOp::MSet {
            pairs: vec![(b("a"), b("1")), (b("b"), b("2"))],
            nx: true,
        }
        .into(),
        StringOp::GetDel { key: b("k") }.into(),
        StringOp::GetEx {
            key: b("k"),
            expire_at: Some(5),
        }
        .into(),
        StringOp::Append {
            key: b("k"),
            value: b("tail"),
        }
        .into(),
        StringOp::SetRange {
            key: b("k"),
            offset: 300,
            value: b("r"),
        }
        .into(),
        StringOp::IncrBy {
            key: b("n"),
            delta: -42,
        }
        .into(),
        StringOp::IncrByFloat {
            key: b("n"),
            delta: 0.25,
        }
        .into(),
        KeyOp::Del {
            keys: bs(&["a", "b"]),
        }
        .into(),
        KeyOp::Expire {
            key: b("k"),
            at: 99,
            cond: ExpireCond {
                nx: false,
                xx: true,
                gt: false,
                lt: true,
            },
        }
        .into(),
        KeyOp::Persist { key: b("k") }.into(),
        KeyOp::Rename {
            src: b("a"),
            dst: b("b"),
            nx: true,
        }
        .into(),
        KeyOp::Copy {
            src: b("a"),
            dst: b("b"),
            dst_db: Namespace(3),
            replace: true,
        }
        .into(),
        KeyOp::Move {
            key: b("k"),
            dst_db: Namespace(15),
        }
        .into(),
        KeyOp::FlushDb.into(),
        KeyOp::FlushAll.into(),
        KeyOp::ExpireDue { keys: bs(&["old"]) }.into(),
        HashOp::Set {
            key: b("h"),
            pairs: vec![(b("f"), b("v"))],
            reply_ok: true,
        }
        .into(),
        HashOp::SetNx {
            key: b("h"),
            field: b("f"),
            value: b("v"),
        }
        .into(),
        HashOp::Del {
            key: b("h"),
            fields: bs(&["f", "g"]),
        }
        .into(),
        HashOp::IncrBy {
            key: b("h"),
            field: b("f"),
            delta: 7,
        }
        .into(),
        HashOp::IncrByFloat {
            key: b("h"),
            field: b("f"),
            delta: -1.5,
        }
        .into(),
        ListOp::Push {
            key: b("l"),
            end: End::Left,
            elements: bs(&["x", "y"]),
            existing_only: true,
        }
        .into(),
        ListOp::Pop {
            key: b("l"),
            end: End::Right,
            count: Some(2),
        }
        .into(),
        ListOp::Set {
            key: b("l"),
            index: Some(-1),
            element: b("e"),
        }
        .into(),
        ListOp::Insert {
            key: b("l"),
            after: true,
            pivot: b("p"),
            element: b("e"),
        }
        .into(),
        ListOp::Rem {
            key: b("l"),
            count: -2,
            element: b("e"),
        }
        .into(),
        ListOp::Trim {
            key: b("l"),
            start: 1,
            stop: -1,
        }
        .into(),
        ListOp::Move {
            src: b("a"),
            dst: b("b"),
            from: End::Left,
            to: End::Right,
        }
        .into(),
        ListOp::MPop {
            keys: bs(&["a", "b"]),
            end: End::Left,
            count: 3,
        }
        .into(),
        ListOp::PopFirst {
            keys: bs(&["a"]),
            end: End::Right,
        }
        .into(),
        SetOp::Add {
            key: b("s"),
            members: bs(&["m"]),
        }
        .into(),
        SetOp::Rem {
            key: b("s"),
            members: bs(&["m", "n"]),
        }
        .into(),
        SetOp::Pop {
            key: b("s"),
            count: None,
            seed: u64::MAX,
        }
        .into(),
        SetOp::Move {
            src: b("a"),
            dst: b("b"),
            member: b("m"),
        }
        .into(),
        SetOp::Store {
            dst: b("d"),
            keys: bs(&["a", "b"]),
            algebra: SetAlgebra::Diff,
        }
        .into(),
        SetOp::Store {
            dst: b("d"),
            keys: bs(&["a"]),
            algebra: SetAlgebra::Inter,
        }
        .into(),
        SetOp::Store {
            dst: b("d"),
            keys: bs(&["a"]),
            algebra: SetAlgebra::Union,
        }
        .into(),
        ZSetOp::Add {
            key: b("z"),
            flags: AddFlags {
                nx: true,
                xx: false,
                gt: true,
                lt: false,
                ch: true,
                incr: false,
            },
            pairs: vec![(1.5, b("a")), (f64::NEG_INFINITY, b("b"))],
        }
        .into(),
        ZSetOp::Rem {
            key: b("z"),
            members: bs(&["a"]),
        }
        .into(),
        ZSetOp::RemRange {
            key: b("z"),
            by: RangeBy::Rank { start: 0, stop: -1 },
        }
        .into(),
        ZSetOp::RemRange {
            key: b("z"),
            by: RangeBy::Score(ScoreRange {
                min: 1.0,
                min_ex: true,
                max: 9.0,
                max_ex: false,
            }),
        }
        .into(),
        ZSetOp::Pop {
            keys: bs(&["z"]),
            end: PopEnd::Min,
            count: Some(2),
            shape: PopShape::Keyed,
        }
        .into(),
        ZSetOp::Pop {
            keys: bs(&["z"]),
            end: PopEnd::Max,
            count: None,
            shape: PopShape::Multi,
        }
        .into(),
        ZSetOp::Pop {
            keys: bs(&["z"]),
            end: PopEnd::Max,
            count: None,
            shape: PopShape::Plain,
        }
        .into(),
        ZSetOp::RangeStore {
            dst: b("d"),
            src: b("z"),
            spec: Box::new(spec()),
        }
        .into(),
        ZSetOp::CombineStore {
            dst: b("d"),
            combine: combine(),
        }
        .into(),
        ZSetOp::CombineStore {
            dst: b("d"),
            combine: Combine {
                kind: SetOpKind::Union,
                aggregate: Aggregate::Sum,
                ..combine()
            },
        }
        .into(),
        ZSetOp::CombineStore {
            dst: b("d"),
            combine: Combine {
                kind: SetOpKind::Diff,
                aggregate: Aggregate::Min,
                ..combine()
            },
        }
        .into(),
        TableOp::Set {
            key: b("t"),
            pairs: vec![(b("f"), b("v"))],
        }
        .into(),
        TableOp::Del {
            key: b("t"),
            fields: bs(&["f"]),
        }
        .into(),
        TableOp::DelRange {
            key: b("t"),
            range: range.clone(),
        }
        .into(),
        TableOp::DelRange {
            key: b("t"),
            range: FieldRange {
                start: RangeEnd::Min,
                end: RangeEnd::Field(b("z")),
            },
        }
        .into(),
        BlockOp::Create {
            key: b("blk"),
            len: 1 << 30,
            init: b("head"),
            nx: true,
        }
        .into(),
        BlockOp::Write {
            key: b("blk"),
            offset: 4096,
            data: b("data"),
        }
        .into(),
        BlockOp::Zero {
            key: b("blk"),
            offset: 0,
            len: 65536,
        }
        .into(),
        BlockOp::Truncate {
            key: b("blk"),
            len: 10,
        }
        .into(),
        BlockOp::Clone {
            src: b("blk"),
            dst: b("vm"),
            replace: false,
        }
        .into(),
        BlockOp::Scatter {
            pieces: vec![WritePiece {
                key: b("blk"),
                offset: 1,
                data: b("p"),
            }],
        }
        .into(),
    ]
}

fn queries() -> Vec<QueryKind> {
    let range = FieldRange {
        start: RangeEnd::Min,
        end: RangeEnd::Max,
    };
    vec![
        StringQuery::Get { key: b("k") }.into(),
        StringQuery::MGet {
            keys: bs(&["a", "b"]),
        }
        .into(),
        StringQuery::StrLen { key: b("k") }.into(),
        StringQuery::GetRange {
            key: b("k"),
            start: -3,
            end: -1,
        }
        .into(),
        KeyQuery::Exists { keys: bs(&["a"]) }.into(),
        KeyQuery::Touch { keys: bs(&["a"]) }.into(),
        KeyQuery::Type { key: b("k") }.into(),
        KeyQuery::Ttl {
            key: b("k"),
            form: TtlForm::Seconds,
        }
        .into(),
        KeyQuery::Ttl {
            key: b("k"),
            form: TtlForm::Millis,
        }
        .into(),
        KeyQuery::Ttl {
            key: b("k"),
            form: TtlForm::AtSeconds,
        }
        .into(),
        KeyQuery::Ttl {
            key: b("k"),
            form: TtlForm::AtMillis,
        }
        .into(),
        KeyQuery::Keys { pattern: b("*") }.into(),
        KeyQuery::Scan {
            cursor: 7,
            pattern: Some(b("a*")),
            count: 10,
            type_name: Some(b("hash")),
        }
        .into(),
        KeyQuery::RandomKey.into(),
        KeyQuery::DbSize.into(),
        KeyQuery::ObjectEncoding { key: b("k") }.into(),
        KeyQuery::ObjectIdleTime { key: b("k") }.into(),
        KeyQuery::ObjectRefCount { key: b("k") }.into(),
        KeyQuery::ObjectFreq { key: b("k") }.into(),
        KeyQuery::Meta { key: b("k") }.into(),
        HashQuery::Get {
            key: b("h"),
            field: b("f"),
        }
        .into(),
        HashQuery::MGet {
            key: b("h"),
            fields: bs(&["f"]),
        }
        .into(),
        HashQuery::GetAll { key: b("h") }.into(),
        HashQuery::Keys { key: b("h") }.into(),
        HashQuery::Vals { key: b("h") }.into(),
        HashQuery::Len { key: b("h") }.into(),
        HashQuery::Exists {
            key: b("h"),
            field: b("f"),
        }
        .into(),
        HashQuery::StrLen {
            key: b("h"),
            field: b("f"),
        }
        .into(),
        HashQuery::RandField {
            key: b("h"),
            count: Some(-5),
            with_values: true,
        }
        .into(),
        HashQuery::Scan {
            key: b("h"),
            cursor: 0,
            pattern: None,
            count: 10,
            no_values: true,
            error: Some(EngineError::Other("ERR bad".into())),
        }
        .into(),
        ListQuery::Len { key: b("l") }.into(),
        ListQuery::Index {
            key: b("l"),
            index: None,
        }
        .into(),
        ListQuery::Range {
            key: b("l"),
            start: 0,
            stop: -1,
        }
        .into(),
        ListQuery::Pos {
            key: b("l"),
            element: b("e"),
            rank: -1,
            count: Some(0),
            maxlen: 100,
        }
        .into(),
        SetQuery::Members { key: b("s") }.into(),
        SetQuery::IsMember {
            key: b("s"),
            member: b("m"),
        }
        .into(),
        SetQuery::MIsMember {
            key: b("s"),
            members: bs(&["m"]),
        }
        .into(),
        SetQuery::Card { key: b("s") }.into(),
        SetQuery::RandMember {
            key: b("s"),
            count: Some(3),
        }
        .into(),
        SetQuery::Combine {
            keys: bs(&["a", "b"]),
            algebra: SetAlgebra::Union,
        }
        .into(),
        SetQuery::InterCard {
            keys: bs(&["a"]),
            limit: 5,
        }
        .into(),
        SetQuery::Scan {
            key: b("s"),
            cursor: 1,
            pattern: Some(b("?")),
            count: 2,
            error: Some(EngineError::Syntax),
        }
        .into(),
        ZSetQuery::Card { key: b("z") }.into(),
        ZSetQuery::Score {
            key: b("z"),
            member: b("m"),
        }
        .into(),
        ZSetQuery::MScore {
            key: b("z"),
            members: bs(&["m"]),
        }
        .into(),
        ZSetQuery::Count {
            key: b("z"),
            by: RangeBy::Lex(LexRange {
                min: LexBound::Min,
                max: LexBound::Excl(b("q")),
            }),
        }
        .into(),
        ZSetQuery::Range {
            key: b("z"),
            spec: spec(),
            withscores: true,
        }
        .into(),
        ZSetQuery::Rank {
            key: b("z"),
            member: b("m"),
            rev: true,
            withscore: false,
        }
        .into(),
        ZSetQuery::RandMember {
            key: b("z"),
            count: None,
            withscores: false,
        }
        .into(),
        ZSetQuery::Scan {
            key: b("z"),
            cursor: 3,
            pattern: None,
            count: 4,
        }
        .into(),
        ZSetQuery::Combine {
            combine: combine(),
            withscores: true,
        }
        .into(),
        ZSetQuery::InterCard {
            keys: bs(&["a"]),
            limit: 0,
        }
        .into(),
        TableQuery::Get {
            key: b("t"),
            field: b("f"),
        }
        .into(),
        TableQuery::MGet {
            key: b("t"),
            fields: bs(&["f"]),
        }
        .into(),
        TableQuery::Range {
            key: b("t"),
            range: range.clone(),
            limit: Some(5),
            rev: true,
        }
        .into(),
        TableQuery::Count { key: b("t"), range }.into(),
        TableQuery::Scan {
            key: b("t"),
            from: Some(b("f")),
            count: 9,
        }
        .into(),
        BlockQuery::Read {
            key: b("blk"),
            offset: 1,
            len: 2,
        }
        .into(),
        BlockQuery::Gather {
            pieces: vec![ReadPiece {
                key: b("blk"),
                offset: 3,
                len: 4,
            }],
        }
        .into(),
        BlockQuery::Info { key: b("blk") }.into(),
        BlockQuery::Len { key: b("blk") }.into(),
    ]
}

fn errors() -> Vec<EngineError> {
    vec![
        EngineError::WrongType,
        EngineError::NotInteger,
        EngineError::NotFloat,
        EngineError::HashNotInteger,
        EngineError::HashNotFloat,
        EngineError::Overflow,
        EngineError::NanOrInfinity,
        EngineError::ScoreNan,
        EngineError::NoSuchKey,
        EngineError::IndexOutOfRange,
        EngineError::StringTooLong,
        EngineError::Syntax,
        EngineError::DbIndexOutOfRange,
        EngineError::SameObject,
        EngineError::Other("ERR other".into()),
        EngineError::SnapshotInProgress,
        EngineError::CorruptSnapshot("bad".into()),
        EngineError::SortScore,
        EngineError::GeoMember,
    ]
}

/// Every sample: the ops one by one, then one transaction holding every query as a
/// read and every op as a write, with WATCH checks of both kinds.
fn samples() -> Vec<Op> {
    let mut all: Vec<Op> = ops()
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Op {
            db: Namespace(i as u32 % 16),
            kind,
        })
        .collect();
    let mut items: Vec<TxnItem> = queries()
        .into_iter()
        .map(|kind| {
            TxnItem::Read(Query {
                db: Namespace(1),
                kind,
            })
        })
        .collect();
    items.extend(all.iter().cloned().map(TxnItem::Write));
    all.push(Op {
        db: Namespace(2),
        kind: OpKind::Txn(Txn {
            checks: vec![
                WatchCheck {
                    db: Namespace(0),
                    key: b("w"),
                    stamp: WatchStamp::Present(12),
                },
                WatchCheck {
                    db: Namespace(9),
                    key: b("x"),
                    stamp: WatchStamp::Absent(0),
                },
            ],
            items,
        }),
    });
    // Ops added after the fixture was first written go last, so every earlier byte of
    // the fixture stays as it was (only the leading count changes).
    all.extend(appended_ops().into_iter().map(|kind| Op {
        db: Namespace(3),
        kind,
    }));
    all
}

/// Ops added since the first fixture, oldest first.
fn appended_ops() -> Vec<OpKind> {
    vec![
        StringOp::IncrByFloatText {
            key: b("n"),
            increment: b("0.1"),
        }
        .into(),
        HashOp::IncrByFloatText {
            key: b("h"),
            field: b("f"),
            increment: b("-1.5e3"),
        }
        .into(),
        // Queries added since then travel as reads of a transaction.
        OpKind::Txn(Txn {
            checks: Vec::new(),
            items: vec![TxnItem::Read(Query {
                db: Namespace(4),
                kind: ZSetQuery::FailAfterInputs {
                    keys: bs(&["a", "b"]),
                    error: EngineError::Other("ERR weight value is not a float".into()),
                }
                .into(),
            })],
        }),
        // Bitmaps.
        BitOp::SetBit {
            key: b("bm"),
            offset: 4_294_967_295,
            on: true,
        }
        .into(),
        BitOp::Combine {
            op: BitOperation::Xor,
            dst: b("d"),
            keys: bs(&["a", "b"]),
        }
        .into(),
        BitOp::Field {
            key: b("f"),
            ops: vec![
                FieldOp {
                    kind: FieldKind::IncrBy(-3),
                    signed: true,
                    bits: 5,
                    offset: 17,
                    overflow: Overflow::Sat,
                },
                FieldOp {
                    kind: FieldKind::Set(200),
                    signed: false,
                    bits: 8,
                    offset: 0,
                    overflow: Overflow::Fail,
                },
            ],
        }
        .into(),
        OpKind::Txn(Txn {
            checks: Vec::new(),
            items: [
                QueryKind::from(BitQuery::GetBit {
                    key: b("bm"),
                    offset: 7,
                }),
                BitQuery::Count {
                    key: b("bm"),
                    range: BitRange::Span {
                        start: -3,
                        end: Some(9),
                        unit: BitUnit::Bit,
                    },
                }
                .into(),
                BitQuery::Pos {
                    key: b("bm"),
                    bit: false,
                    range: BitRange::Invalid(EngineError::Syntax),
                }
                .into(),
                BitQuery::Count {
                    key: b("bm"),
                    range: BitRange::Empty,
                }
                .into(),
                BitQuery::Field {
                    key: b("f"),
                    ops: vec![FieldOp {
                        kind: FieldKind::Get,
                        signed: false,
                        bits: 63,
                        offset: 1,
                        overflow: Overflow::Wrap,
                    }],
                }
                .into(),
                StringQuery::Lcs {
                    a: b("a"),
                    b: b("b"),
                    options: LcsOptions::Valid {
                        len: false,
                        idx: true,
                        min_match_len: 4,
                        with_match_len: true,
                    },
                }
                .into(),
                KeyQuery::MemoryUsage {
                    key: b("h"),
                    samples: 5,
                }
                .into(),
            ]
            .into_iter()
            .map(|kind| {
                TxnItem::Read(Query {
                    db: Namespace(5),
                    kind,
                })
            })
            .collect(),
        }),
        // SORT.
        KeyOp::SortStore {
            key: b("s"),
            spec: SortSpec {
                by: SortBy::NoSort,
                limit: None,
                get: Vec::new(),
                desc: false,
                alpha: true,
            },
            dst: b("d"),
        }
        .into(),
        KeyOp::SortStore {
            key: b("s"),
            spec: SortSpec {
                by: SortBy::Element,
                limit: Some((0, 10)),
                get: bs(&["x_*"]),
                desc: false,
                alpha: false,
            },
            dst: b("d"),
        }
        .into(),
        OpKind::Txn(Txn {
            checks: Vec::new(),
            items: vec![TxnItem::Read(Query {
                db: Namespace(6),
                kind: KeyQuery::Sort {
                    key: b("l"),
                    spec: SortSpec {
                        by: SortBy::Pattern(b("w_*")),
                        limit: Some((-1, i64::MAX)),
                        get: bs(&["#", "h_*->f"]),
                        desc: true,
                        alpha: false,
                    },
                }
                .into(),
            })],
        }),
        // Geo.
        GeoOp::SearchStore {
            dst: b("d"),
            key: b("g"),
            search: Box::new(geo_search()),
            store_dist: true,
        }
        .into(),
        OpKind::Txn(Txn {
            checks: Vec::new(),
            items: [
                GeoQuery::Pos {
                    key: b("g"),
                    members: bs(&["a", "b"]),
                },
                GeoQuery::Hash {
                    key: b("g"),
                    members: bs(&["a"]),
                },
                GeoQuery::Dist {
                    key: b("g"),
                    a: b("a"),
                    b: b("b"),
                    unit: 1609.34,
                },
                GeoQuery::Search {
                    key: b("g"),
                    search: Box::new(GeoSearch {
                        center: Some(GeoCenter::LonLat(13.5, -37.25)),
                        shape: Some(Shape::Box {
                            width: 10.0,
                            height: 2.5,
                        }),
                        sort: GeoSort::Desc,
                        error_if_found: Some(EngineError::Other("ERR need numeric radius".into())),
                        error: None,
                        ..geo_search()
                    }),
                },
            ]
            .into_iter()
            .map(|q| {
                TxnItem::Read(Query {
                    db: Namespace(7),
                    kind: q.into(),
                })
            })
            .collect(),
        }),
        // Streams.
        StreamOp::Add {
            key: b("x"),
            id: IdSpec::Auto,
            fields: bs(&["f", "v"]),
            nomkstream: false,
            trim: Some(Trim {
                bound: TrimBound::MaxLen(100),
                approx: true,
                limit: 10_000,
            }),
        }
        .into(),
        StreamOp::Add {
            key: b("x"),
            id: IdSpec::AutoSeq(7),
            fields: bs(&["f", "v", "g", "w"]),
            nomkstream: true,
            trim: None,
        }
        .into(),
        StreamOp::Trim {
            key: b("x"),
            trim: Trim {
                bound: TrimBound::MinId(StreamId { ms: 5, seq: 1 }),
                approx: false,
                limit: 0,
            },
        }
        .into(),
        StreamOp::Del {
            key: b("x"),
            ids: vec![StreamId { ms: 1, seq: 2 }, StreamId::MAX],
        }
        .into(),
        StreamOp::SetId {
            key: b("x"),
            id: StreamId { ms: 9, seq: 0 },
            entries_added: Some(3),
            max_deleted: Some(StreamId { ms: 2, seq: 0 }),
        }
        .into(),
        OpKind::Txn(Txn {
            checks: Vec::new(),
            items: [
                StreamQuery::Range {
                    key: b("x"),
                    start: StreamId::MIN,
                    end: StreamId {
                        ms: 3,
                        seq: u64::MAX,
                    },
                    count: Some(2),
                    rev: true,
                },
                StreamQuery::Len { key: b("x") },
                StreamQuery::Read {
                    streams: vec![
                        (b("x"), ReadFrom::After(StreamId { ms: 1, seq: 0 })),
                        (b("y"), ReadFrom::Last),
                        (b("z"), ReadFrom::Invalid(EngineError::NotInteger)),
                    ],
                    count: 10,
                    wait: false,
                },
                StreamQuery::DelInvalid {
                    key: b("x"),
                    error: EngineError::Syntax,
                },
            ]
            .into_iter()
            .map(|q| {
                TxnItem::Read(Query {
                    db: Namespace(8),
                    kind: q.into(),
                })
            })
            .collect(),
        }),
        OpKind::Stream(StreamOp::Add {
            key: b("x"),
            id: IdSpec::Explicit(StreamId { ms: 10, seq: 1 }),
            fields: bs(&["a", "b"]),
            nomkstream: false,
            trim: None,
        }),
        // Consumer groups.
        StreamOp::GroupCreate {
            key: b("x"),
            group: b("g"),
            start: GroupStart::Last,
            mkstream: true,
            entries_read: -1,
        }
        .into(),
        StreamOp::GroupSetId {
            key: b("x"),
            group: b("g"),
            start: GroupStart::Id(StreamId { ms: 4, seq: 2 }),
            entries_read: 12,
        }
        .into(),
        StreamOp::GroupCreate {
            key: b("x"),
            group: b("h"),
            start: GroupStart::Invalid(EngineError::Syntax),
            mkstream: false,
            entries_read: 0,
        }
        .into(),
        StreamOp::GroupDestroy {
            key: b("x"),
            group: b("h"),
        }
        .into(),
        StreamOp::ConsumerCreate {
            key: b("x"),
            group: b("g"),
            consumer: b("c"),
        }
        .into(),
        StreamOp::ConsumerDelete {
            key: b("x"),
            group: b("g"),
            consumer: b("c"),
        }
        .into(),
        StreamOp::ReadGroup(Box::new(ReadGroup {
            group: b("g"),
            consumer: b("c"),
            streams: vec![
                (b("x"), GroupFrom::New),
                (b("y"), GroupFrom::History(StreamId { ms: 1, seq: 1 })),
                (b("z"), GroupFrom::Invalid(EngineError::NotInteger)),
            ],
            count: 5,
            noack: true,
            woken: false,
        }))
        .into(),
        StreamOp::Ack {
            key: b("x"),
            group: b("g"),
            ids: vec![StreamId { ms: 1, seq: 0 }],
            error: Some(EngineError::Syntax),
        }
        .into(),
        StreamOp::Claim(Box::new(Claim {
            key: b("x"),
            group: b("g"),
            consumer: b("d"),
            min_idle: 1000,
            ids: vec![StreamId { ms: 2, seq: 0 }],
            time: ClaimTime::Idle(50),
            retry_count: 3,
            force: true,
            justid: false,
            last_id: StreamId { ms: 9, seq: 9 },
            error: None,
        }))
        .into(),
        StreamOp::AutoClaim {
            key: b("x"),
            group: b("g"),
            consumer: b("d"),
            min_idle: 0,
            start: StreamId::MIN,
            count: 100,
            justid: true,
        }
        .into(),
        OpKind::Txn(Txn {
            checks: Vec::new(),
            items: [
                StreamQuery::Pending {
                    key: b("x"),
                    group: b("g"),
                    range: Some(PendingRange {
                        min_idle: 10,
                        start: StreamId::MIN,
                        end: StreamId::MAX,
                        count: 10,
                        consumer: Some(b("c")),
                    }),
                },
                StreamQuery::InfoStream {
                    key: b("x"),
                    full: Some(10),
                    error: None,
                },
                StreamQuery::InfoGroups { key: b("x") },
                StreamQuery::InfoConsumers {
                    key: b("x"),
                    group: b("g"),
                },
            ]
            .into_iter()
            .map(|q| {
                TxnItem::Read(Query {
                    db: Namespace(9),
                    kind: q.into(),
                })
            })
            .collect(),
        }),
        // DUMP / RESTORE.
        KeyOp::Restore {
            key: b("r"),
            payload: b("payload"),
            ttl: 5000,
            absttl: false,
            replace: true,
            idle_secs: Some(3),
            error: Some(EngineError::NotInteger),
        }
        .into(),
        OpKind::Txn(Txn {
            checks: Vec::new(),
            items: vec![TxnItem::Read(Query {
                db: Namespace(10),
                kind: KeyQuery::Dump { key: b("r") }.into(),
            })],
        }),
        KeyOp::SwapDb {
            other: Namespace(3),
        }
        .into(),
        OpKind::Script(Box::new(crate::script::ScriptOp {
            sha: b("e0e1f9fabfc9d4800c877a703b823ac0578ff8db"),
            source: b("return redis.call('incr', KEYS[1])"),
            keys: vec![b("{t}counter")],
            args: vec![b("1"), b("x")],
            seed: 0x0123_4567_89ab_cdef,
            now_us: 1_700_000_000_123_456,
            sharded: true,
            slot: Some(12_345),
            max_instructions: 1_000_000_000,
            read_only: true,
            function: None,
        })),
        OpKind::Script(Box::new(crate::script::ScriptOp {
            sha: Bytes::new(),
            source: Bytes::new(),
            keys: vec![b("k")],
            args: vec![],
            seed: 9,
            now_us: 1_700_000_000_000_001,
            sharded: false,
            slot: None,
            max_instructions: 0,
            read_only: false,
            function: Some(b("myfunc")),
        })),
        OpKind::Function(crate::functions::FunctionOp::Load {
            code: b("#!lua name=lib\nredis.register_function('f', function() return 1 end)"),
            replace: true,
        }),
        OpKind::Function(crate::functions::FunctionOp::Delete { name: b("lib") }),
        OpKind::Function(crate::functions::FunctionOp::Flush),
        OpKind::Key(KeyOp::SortStore {
            key: b("s"),
            spec: SortSpec {
                by: SortBy::NoSortFromScript,
                limit: None,
                get: vec![],
                desc: false,
                alpha: false,
            },
            dst: b("d"),
        }),
        OpKind::Function(crate::functions::FunctionOp::Restore {
            payload: b("OKFN-payload"),
            policy: crate::functions::RestorePolicy::Replace,
        }),
        OpKind::Txn(Txn {
            checks: Vec::new(),
            items: vec![
                TxnItem::Read(Query {
                    db: Namespace(0),
                    kind: QueryKind::Function(crate::functions::FunctionQuery::List {
                        pattern: Some(b("l*")),
                        with_code: true,
                    }),
                }),
                TxnItem::Read(Query {
                    db: Namespace(0),
                    kind: QueryKind::Function(crate::functions::FunctionQuery::Stats),
                }),
                TxnItem::Read(Query {
                    db: Namespace(0),
                    kind: QueryKind::Function(crate::functions::FunctionQuery::Dump),
                }),
            ],
        }),
        GeoOp::RadiusStore {
            dst: b("d"),
            key: b("g"),
            search: Box::new(geo_search()),
            store_dist: false,
        }
        .into(),
    ]
}

fn geo_search() -> GeoSearch {
    GeoSearch {
        center: Some(GeoCenter::Member(b("a"))),
        shape: Some(Shape::Radius(200.0)),
        unit: 1000.0,
        sort: GeoSort::Asc,
        count: 5,
        any: true,
        with_dist: true,
        with_hash: false,
        with_coord: true,
        error_if_found: None,
        error: Some(EngineError::GeoMember),
    }
}

fn fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops-v1.bin")
}

#[test]
fn ops_have_a_stable_encoding() {
    let samples = samples();
    let encoded = samples.to_bytes();
    assert_eq!(encoded.len(), samples.encoded_len());
    if std::env::var_os("OKAPI_BLESS").is_some() {
        std::fs::write(fixture(), &encoded).expect("write fixture");
    }
    let golden = std::fs::read(fixture()).expect("the committed fixture");
    let decoded = Vec::<Op>::from_bytes(Bytes::from(golden.clone())).expect("fixture decodes");
    assert_eq!(decoded, samples, "the fixture decodes to the samples");
    assert!(
        encoded == golden,
        "ops encode to the committed bytes: the format changed"
    );
}

#[test]
fn errors_have_a_stable_encoding() {
    let tags: Vec<u8> = errors().iter().map(|e| e.to_bytes()[0]).collect();
    assert_eq!(tags, (1..=19).collect::<Vec<u8>>());
    for e in errors() {
        assert_eq!(EngineError::from_bytes(e.to_bytes()).expect("decodes"), e);
    }
}

#[test]
fn every_truncation_of_an_encoded_op_is_an_error() {
    for op in samples().into_iter().take(20) {
        let bytes = op.to_bytes();
        for cut in 0..bytes.len() {
            assert!(
                Op::from_bytes(bytes.slice(..cut)).is_err(),
                "{op:?} cut at {cut}"
            );
        }
    }
}
