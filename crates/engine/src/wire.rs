//! The wire encoding of ops and queries (as log entries and, later, between nodes):
//! every enum with explicit, append-only tags (see [`okapi_types::wire`]). A tag, once
//! written to a log, keeps its meaning forever: add variants with new numbers, never
//! renumber, never reuse a retired one. `ops_have_a_stable_encoding` pins the bytes.

use okapi_types::{wire_enum, wire_struct};

use crate::bitmaps::{
    BitOp, BitOperation, BitQuery, BitRange, BitUnit, FieldKind, FieldOp, Overflow,
};
use crate::blocks::{BlockOp, BlockQuery, ReadPiece, WritePiece};
use crate::engine::{Op, OpKind, Query, QueryKind, Txn, TxnItem, WatchCheck};
use crate::error::EngineError;
use crate::functions::{FunctionOp, FunctionQuery, RestorePolicy};
use crate::geo::hash::Shape;
use crate::geo::{GeoCenter, GeoOp, GeoQuery, GeoSearch, GeoSort};
use crate::hashes::{HashOp, HashQuery};
use crate::hyperloglog::{HllOp, HllQuery};
use crate::keys::{ExpireCond, KeyOp, KeyQuery, TtlForm};
use crate::keyspace::WatchStamp;
use crate::lists::{End, ListOp, ListQuery};
use crate::script::ScriptOp;
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

wire_struct!(Op { db, kind });
wire_enum!(OpKind {
    1 => Str(op),
    2 => Key(op),
    3 => Hash(op),
    4 => List(op),
    5 => Set(op),
    6 => ZSet(op),
    7 => Table(op),
    8 => Block(op),
    9 => Txn(txn),
    10 => Bit(op),
    11 => Hll(op),
    12 => Geo(op),
    13 => Stream(op),
    14 => Script(op),
    15 => Function(op),
});
wire_struct!(Query { db, kind });
wire_enum!(QueryKind {
    1 => Str(q),
    2 => Key(q),
    3 => Hash(q),
    4 => List(q),
    5 => Set(q),
    6 => ZSet(q),
    7 => Table(q),
    8 => Block(q),
    9 => Bit(q),
    10 => Hll(q),
    11 => Geo(q),
    12 => Stream(q),
    13 => Function(q),
});
wire_struct!(Txn { checks, items });
wire_enum!(FunctionOp {
    1 => Load { code, replace },
    2 => Delete { name },
    3 => Flush,
    4 => Restore { payload, policy },
});
wire_enum!(RestorePolicy {
    1 => Append,
    2 => Replace,
    3 => Flush,
});
wire_enum!(FunctionQuery {
    1 => List { pattern, with_code },
    2 => Stats,
    3 => Dump,
});
wire_struct!(ScriptOp {
    sha,
    source,
    keys,
    args,
    seed,
    now_us,
    sharded,
    slot,
    max_instructions,
    read_only,
    function
});
wire_struct!(WatchCheck { db, key, stamp });
wire_enum!(WatchStamp {
    1 => Present(version),
    2 => Absent(version),
});
wire_enum!(TxnItem {
    1 => Read(query),
    2 => Write(op),
});

wire_enum!(SetCond {
    1 => Always,
    2 => IfAbsent,
    3 => IfPresent,
});
wire_enum!(SetExpire {
    1 => Clear,
    2 => At(ms),
    3 => Keep,
});
wire_enum!(StringOp {
    1 => Set { key, value, cond, get, expire },
    2 => SetNx { key, value },
    3 => MSet { pairs, nx },
    4 => GetDel { key },
    5 => GetEx { key, expire_at },
    6 => Append { key, value },
    7 => SetRange { key, offset, value },
    8 => IncrBy { key, delta },
    9 => IncrByFloat { key, delta },
    10 => IncrByFloatText { key, increment },
});
wire_enum!(StringQuery {
    1 => Get { key },
    2 => MGet { keys },
    3 => StrLen { key },
    4 => GetRange { key, start, end },
    5 => Lcs { a, b, options },
});
wire_enum!(LcsOptions {
    1 => Valid { len, idx, min_match_len, with_match_len },
    2 => Invalid(error),
});

wire_struct!(ExpireCond { nx, xx, gt, lt });
wire_enum!(KeyOp {
    1 => Del { keys },
    2 => Expire { key, at, cond },
    3 => Persist { key },
    4 => Rename { src, dst, nx },
    5 => Copy { src, dst, dst_db, replace },
    6 => Move { key, dst_db },
    7 => FlushDb,
    8 => FlushAll,
    9 => ExpireDue { keys },
    10 => SortStore { key, spec, dst },
    11 => Restore { key, payload, ttl, absttl, replace, idle_secs, error },
    12 => SwapDb { other },
});
wire_enum!(TtlForm {
    1 => Seconds,
    2 => Millis,
    3 => AtSeconds,
    4 => AtMillis,
});
wire_enum!(KeyQuery {
    1 => Exists { keys },
    2 => Touch { keys },
    3 => Type { key },
    4 => Ttl { key, form },
    5 => Keys { pattern },
    6 => Scan { cursor, pattern, count, type_name },
    7 => RandomKey,
    8 => DbSize,
    9 => ObjectEncoding { key },
    10 => ObjectIdleTime { key },
    11 => ObjectRefCount { key },
    12 => ObjectFreq { key },
    13 => Meta { key },
    14 => MemoryUsage { key, samples },
    15 => Sort { key, spec },
    16 => Dump { key },
});
wire_enum!(SortBy {
    1 => Element,
    2 => Pattern(pattern),
    3 => NoSort,
    4 => NoSortFromScript,
});
wire_struct!(SortSpec {
    by,
    limit,
    get,
    desc,
    alpha
});

wire_enum!(HashOp {
    1 => Set { key, pairs, reply_ok },
    2 => SetNx { key, field, value },
    3 => Del { key, fields },
    4 => IncrBy { key, field, delta },
    5 => IncrByFloat { key, field, delta },
    6 => IncrByFloatText { key, field, increment },
});
wire_enum!(HashQuery {
    1 => Get { key, field },
    2 => MGet { key, fields },
    3 => GetAll { key },
    4 => Keys { key },
    5 => Vals { key },
    6 => Len { key },
    7 => Exists { key, field },
    8 => StrLen { key, field },
    9 => RandField { key, count, with_values },
    10 => Scan { key, cursor, pattern, count, no_values, error },
});

wire_enum!(End {
    1 => Left,
    2 => Right,
});
wire_enum!(ListOp {
    1 => Push { key, end, elements, existing_only },
    2 => Pop { key, end, count },
    3 => Set { key, index, element },
    4 => Insert { key, after, pivot, element },
    5 => Rem { key, count, element },
    6 => Trim { key, start, stop },
    7 => Move { src, dst, from, to },
    8 => MPop { keys, end, count },
    9 => PopFirst { keys, end },
});
wire_enum!(ListQuery {
    1 => Len { key },
    2 => Index { key, index },
    3 => Range { key, start, stop },
    4 => Pos { key, element, rank, count, maxlen },
});

wire_enum!(SetAlgebra {
    1 => Inter,
    2 => Union,
    3 => Diff,
});
wire_enum!(SetOp {
    1 => Add { key, members },
    2 => Rem { key, members },
    3 => Pop { key, count, seed },
    4 => Move { src, dst, member },
    5 => Store { dst, keys, algebra },
});
wire_enum!(SetQuery {
    1 => Members { key },
    2 => IsMember { key, member },
    3 => MIsMember { key, members },
    4 => Card { key },
    5 => RandMember { key, count },
    6 => Combine { keys, algebra },
    7 => InterCard { keys, limit },
    8 => Scan { key, cursor, pattern, count, error },
});

wire_struct!(AddFlags {
    nx,
    xx,
    gt,
    lt,
    ch,
    incr
});
wire_enum!(PopEnd {
    1 => Min,
    2 => Max,
});
wire_enum!(PopShape {
    1 => Plain,
    2 => Keyed,
    3 => Multi,
});
wire_struct!(ScoreRange {
    min,
    min_ex,
    max,
    max_ex
});
wire_enum!(LexBound {
    1 => Min,
    2 => Max,
    3 => Incl(bound),
    4 => Excl(bound),
});
wire_struct!(LexRange { min, max });
wire_enum!(RangeBy {
    1 => Rank { start, stop },
    2 => Score(range),
    3 => Lex(range),
});
wire_struct!(RangeSpec { by, rev, limit });
wire_enum!(SetOpKind {
    1 => Union,
    2 => Inter,
    3 => Diff,
});
wire_enum!(Aggregate {
    1 => Sum,
    2 => Min,
    3 => Max,
});
wire_struct!(Combine {
    kind,
    keys,
    weights,
    aggregate
});
wire_enum!(ZSetOp {
    1 => Add { key, flags, pairs },
    2 => Rem { key, members },
    3 => RemRange { key, by },
    4 => Pop { keys, end, count, shape },
    5 => RangeStore { dst, src, spec },
    6 => CombineStore { dst, combine },
});
wire_enum!(ZSetQuery {
    1 => Card { key },
    2 => Score { key, member },
    3 => MScore { key, members },
    4 => Count { key, by },
    5 => Range { key, spec, withscores },
    6 => Rank { key, member, rev, withscore },
    7 => RandMember { key, count, withscores },
    8 => Scan { key, cursor, pattern, count },
    9 => Combine { combine, withscores },
    10 => InterCard { keys, limit },
    11 => FailAfterInputs { keys, error },
});

wire_enum!(RangeEnd {
    1 => Min,
    2 => Max,
    3 => Field(field),
});
wire_struct!(FieldRange { start, end });
wire_enum!(TableOp {
    1 => Set { key, pairs },
    2 => Del { key, fields },
    3 => DelRange { key, range },
});
wire_enum!(TableQuery {
    1 => Get { key, field },
    2 => MGet { key, fields },
    3 => Range { key, range, limit, rev },
    4 => Count { key, range },
    5 => Scan { key, from, count },
});

wire_struct!(WritePiece { key, offset, data });
wire_struct!(ReadPiece { key, offset, len });
wire_enum!(BlockOp {
    1 => Create { key, len, init, nx },
    2 => Write { key, offset, data },
    3 => Zero { key, offset, len },
    4 => Truncate { key, len },
    5 => Clone { src, dst, replace },
    6 => Scatter { pieces },
});
wire_enum!(BlockQuery {
    1 => Read { key, offset, len },
    2 => Gather { pieces },
    3 => Info { key },
    4 => Len { key },
});

wire_enum!(EngineError {
    1 => WrongType,
    2 => NotInteger,
    3 => NotFloat,
    4 => HashNotInteger,
    5 => HashNotFloat,
    6 => Overflow,
    7 => NanOrInfinity,
    8 => ScoreNan,
    9 => NoSuchKey,
    10 => IndexOutOfRange,
    11 => StringTooLong,
    12 => Syntax,
    13 => DbIndexOutOfRange,
    14 => SameObject,
    15 => Other(text),
    16 => SnapshotInProgress,
    17 => CorruptSnapshot(text),
    18 => SortScore,
    19 => GeoMember,
});

#[cfg(test)]
mod tests;

wire_enum!(BitUnit {
    1 => Byte,
    2 => Bit,
});
wire_enum!(BitRange {
    1 => Whole,
    2 => Span { start, end, unit },
    3 => Empty,
    4 => Invalid(error),
});
wire_enum!(BitOperation {
    1 => And,
    2 => Or,
    3 => Xor,
    4 => Not,
});
wire_enum!(Overflow {
    1 => Wrap,
    2 => Sat,
    3 => Fail,
});
wire_enum!(FieldKind {
    1 => Get,
    2 => Set(value),
    3 => IncrBy(by),
});
wire_struct!(FieldOp {
    kind,
    signed,
    bits,
    offset,
    overflow
});
wire_enum!(BitOp {
    1 => SetBit { key, offset, on },
    2 => Combine { op, dst, keys },
    3 => Field { key, ops },
});
wire_enum!(BitQuery {
    1 => GetBit { key, offset },
    2 => Count { key, range },
    3 => Pos { key, bit, range },
    4 => Field { key, ops },
});
wire_enum!(HllOp {
    1 => Add { key, elements },
    2 => Count { key },
    3 => Merge { dst, keys },
});
wire_enum!(HllQuery {
    1 => CountUnion { keys },
});

wire_enum!(GeoCenter {
    1 => LonLat(lon, lat),
    2 => Member(member),
});
wire_enum!(GeoSort {
    1 => Unsorted,
    2 => Asc,
    3 => Desc,
});
wire_enum!(Shape {
    1 => Radius(radius),
    2 => Box { width, height },
});
wire_struct!(GeoSearch {
    center,
    shape,
    unit,
    sort,
    count,
    any,
    with_dist,
    with_hash,
    with_coord,
    error_if_found,
    error
});
wire_enum!(GeoQuery {
    1 => Pos { key, members },
    2 => Hash { key, members },
    3 => Dist { key, a, b, unit },
    4 => Search { key, search },
});
wire_enum!(GeoOp {
    1 => SearchStore { dst, key, search, store_dist },
    2 => RadiusStore { dst, key, search, store_dist },
});

wire_struct!(StreamId { ms, seq });
wire_enum!(TrimBound {
    1 => MaxLen(max),
    2 => MinId(id),
});
wire_struct!(Trim {
    bound,
    approx,
    limit
});
wire_enum!(IdSpec {
    1 => Auto,
    2 => AutoSeq(ms),
    3 => Explicit(id),
});
wire_enum!(ReadFrom {
    1 => After(id),
    2 => Last,
    3 => Invalid(error),
});
wire_enum!(StreamOp {
    1 => Add { key, id, fields, nomkstream, trim },
    2 => Trim { key, trim },
    3 => Del { key, ids },
    4 => SetId { key, id, entries_added, max_deleted },
    5 => GroupCreate { key, group, start, mkstream, entries_read },
    6 => GroupSetId { key, group, start, entries_read },
    7 => GroupDestroy { key, group },
    8 => ConsumerCreate { key, group, consumer },
    9 => ConsumerDelete { key, group, consumer },
    10 => ReadGroup(op),
    11 => Ack { key, group, ids, error },
    12 => Claim(claim),
    13 => AutoClaim { key, group, consumer, min_idle, start, count, justid },
});
wire_enum!(GroupStart {
    1 => Last,
    2 => Id(id),
    3 => Invalid(error),
});
wire_enum!(GroupFrom {
    1 => New,
    2 => History(id),
    3 => Invalid(error),
});
wire_struct!(ReadGroup {
    group,
    consumer,
    streams,
    count,
    noack,
    woken
});
wire_enum!(ClaimTime {
    1 => Now,
    2 => Idle(ms),
    3 => At(ms),
});
wire_struct!(Claim {
    key,
    group,
    consumer,
    min_idle,
    ids,
    time,
    retry_count,
    force,
    justid,
    last_id,
    error
});
wire_struct!(PendingRange {
    min_idle,
    start,
    end,
    count,
    consumer
});
wire_enum!(StreamQuery {
    1 => Range { key, start, end, count, rev },
    2 => Len { key },
    3 => Read { streams, count, wait },
    4 => DelInvalid { key, error },
    5 => Pending { key, group, range },
    6 => InfoStream { key, full, error },
    7 => InfoGroups { key },
    8 => InfoConsumers { key, group },
});
