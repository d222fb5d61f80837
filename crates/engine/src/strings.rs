//! String ops and reads: SET and friends, counters, ranges.

use bytes::{Bytes, BytesMut};
use okapi_types::limits::MAX_STRING_LEN;
use okapi_types::long_double::LongDouble;
use okapi_types::num::{format_f64_human, parse_f64, parse_i64};

use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::value::{StrValue, Value, detach};
use crate::{ApplyCtx, ReadCtx};

/// When SET may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SetCond {
    /// Always.
    Always,
    /// Only if the key does not exist (NX).
    IfAbsent,
    /// Only if the key exists (XX).
    IfPresent,
}

/// What SET does with the key's TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SetExpire {
    /// Clear it (plain SET).
    Clear,
    /// Expire at this Unix time in ms (EX/PX/EXAT/PXAT, made absolute by the leader).
    At(u64),
    /// Keep the current TTL (KEEPTTL).
    Keep,
}

/// String writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum StringOp {
    /// SET / SETEX / PSETEX / GETSET / SET ... GET.
    Set {
        /// Key.
        key: Bytes,
        /// New value.
        value: Bytes,
        /// NX / XX.
        cond: SetCond,
        /// Reply with the old value (GET option, GETSET).
        get: bool,
        /// TTL handling.
        expire: SetExpire,
    },
    /// SETNX: replies 1 if set, 0 if the key existed.
    SetNx {
        /// Key.
        key: Bytes,
        /// Value.
        value: Bytes,
    },
    /// MSET (`nx == false`, replies OK) or MSETNX (all or nothing, replies 1/0).
    MSet {
        /// Key/value pairs, in order (a later duplicate wins).
        pairs: Vec<(Bytes, Bytes)>,
        /// MSETNX semantics.
        nx: bool,
    },
    /// GETDEL.
    GetDel {
        /// Key.
        key: Bytes,
    },
    /// GETEX with an option (without one it is a read).
    GetEx {
        /// Key.
        key: Bytes,
        /// New TTL: `Some(at)` sets, `None` persists.
        expire_at: Option<u64>,
    },
    /// APPEND.
    Append {
        /// Key.
        key: Bytes,
        /// Bytes appended.
        value: Bytes,
    },
    /// SETRANGE.
    SetRange {
        /// Key.
        key: Bytes,
        /// Byte offset.
        offset: usize,
        /// Bytes written.
        value: Bytes,
    },
    /// INCR / DECR / INCRBY / DECRBY.
    IncrBy {
        /// Key.
        key: Bytes,
        /// Increment.
        delta: i64,
    },
    /// INCRBYFLOAT as okapi wrote it before 2026-12 (`f64` arithmetic); kept so
    /// older logs replay as they first applied. New commands use `IncrByFloatText`.
    IncrByFloat {
        /// Key.
        key: Bytes,
        /// Increment.
        delta: f64,
    },
    /// INCRBYFLOAT: `long double` arithmetic as Redis (see
    /// [`okapi_types::long_double`]). The increment travels as text because Redis
    /// checks the stored value before the increment, so a bad increment is an apply
    /// error like a bad stored value.
    IncrByFloatText {
        /// Key.
        key: Bytes,
        /// Increment, as the client sent it.
        increment: Bytes,
    },
}

mod lcs;

pub use lcs::LcsOptions;

/// String reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum StringQuery {
    /// GET.
    Get {
        /// Key.
        key: Bytes,
    },
    /// MGET: non-strings and missing keys read as nil.
    MGet {
        /// Keys.
        keys: Vec<Bytes>,
    },
    /// STRLEN.
    StrLen {
        /// Key.
        key: Bytes,
    },
    /// GETRANGE / SUBSTR.
    GetRange {
        /// Key.
        key: Bytes,
        /// First byte (negative counts from the end).
        start: i64,
        /// Last byte, inclusive.
        end: i64,
    },
    /// LCS.
    Lcs {
        /// First key.
        a: Bytes,
        /// Second key.
        b: Bytes,
        /// Options.
        options: LcsOptions,
    },
}

impl StringOp {
    pub(crate) fn apply(self, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {
            StringOp::Set {
                key,
                value,
                cond,
                get,
                expire,
            } => set(ks, ctx, key, value, cond, get, expire),
            StringOp::SetNx { key, value } => {
                let reply = set(
                    ks,
                    ctx,
                    key,
                    value,
                    SetCond::IfAbsent,
                    false,
                    SetExpire::Clear,
                )?;
                Ok(Reply::flag(reply == Reply::Ok))
            }
            StringOp::MSet { pairs, nx } => {
                if nx && pairs.iter().any(|(k, _)| ks.peek(k, ctx.now_ms).is_some()) {
                    return Ok(Reply::Int(0));
                }
                for (key, value) in pairs {
                    ks.insert(&key, Value::Str(StrValue::from_bytes(value)), ctx);
                    ks.notify(EventClass::STRING, "set", &key);
                }
                Ok(if nx { Reply::Int(1) } else { Reply::Ok })
            }
            StringOp::GetDel { key } => {
                let old = read_string(ks.write_as::<StrValue>(&key, ctx)?.map(|s| &*s));
                if old.is_some() {
                    ks.delete(&key, ctx);
                }
                Ok(Reply::opt_bulk(old))
            }
            StringOp::GetEx { key, expire_at } => {
                let Some(value) = ks.write_as::<StrValue>(&key, ctx)? else {
                    return Ok(Reply::Nil);
                };
                let value = value.to_bytes();
                match expire_at {
                    Some(at) if at <= ctx.now_ms => {
                        ks.delete(&key, ctx);
                    }
                    Some(at) => {
                        ks.set_expire(&key, at, ctx);
                        ks.notify(EventClass::GENERIC, "expire", &key);
                    }
                    None => {
                        if ks.peek(&key, ctx.now_ms).is_some_and(|e| e.expire_at != 0) {
                            ks.set_expire(&key, 0, ctx);
                            ks.notify(EventClass::GENERIC, "persist", &key);
                        }
                    }
                }
                Ok(Reply::Bulk(value))
            }
            StringOp::Append { key, value } => {
                let current = ks.write_or_create::<StrValue>(&key, ctx)?;
                let new_len = current.len() + value.len();
                if new_len > MAX_STRING_LEN {
                    ks.finish_write::<StrValue>(&key, ctx, false);
                    return Err(EngineError::StringTooLong);
                }
                if !value.is_empty() {
                    let mut buf = take_mut(current);
                    buf.extend_from_slice(&value);
                    *current = StrValue::from_mut(buf);
                }
                ks.notify(EventClass::STRING, "append", &key);
                ks.finish_write::<StrValue>(&key, ctx, !value.is_empty());
                Ok(Reply::Int(new_len as i64))
            }
            StringOp::SetRange { key, offset, value } => {
                // Redis's order: the type, then an empty value (a no-op at any
                // offset), then the length limit.
                let end = offset.saturating_add(value.len());
                let Some(current) = ks.write_as::<StrValue>(&key, ctx)? else {
                    if value.is_empty() {
                        return Ok(Reply::Int(0));
                    }
                    if end > MAX_STRING_LEN {
                        return Err(EngineError::StringTooLong);
                    }
                    let mut buf = BytesMut::zeroed(end);
                    buf[offset..].copy_from_slice(&value);
                    ks.insert(&key, Value::Str(StrValue::from_mut(buf)), ctx);
                    ks.notify(EventClass::STRING, "setrange", &key);
                    return Ok(Reply::Int(end as i64));
                };
                if value.is_empty() {
                    return Ok(Reply::Int(current.len() as i64));
                }
                if end > MAX_STRING_LEN {
                    return Err(EngineError::StringTooLong);
                }
                let mut buf = take_mut(current);
                if buf.len() < end {
                    buf.resize(end, 0);
                }
                buf[offset..end].copy_from_slice(&value);
                let len = buf.len();
                *current = StrValue::from_mut(buf);
                ks.notify(EventClass::STRING, "setrange", &key);
                ks.finish_write::<StrValue>(&key, ctx, true);
                Ok(Reply::Int(len as i64))
            }
            StringOp::IncrBy { key, delta } => {
                let base = match ks.write_as::<StrValue>(&key, ctx)? {
                    None => 0,
                    Some(value) => string_as_i64(value).ok_or(EngineError::NotInteger)?,
                };
                let next = base.checked_add(delta).ok_or(EngineError::Overflow)?;
                store_string(ks, ctx, &key, StrValue::int(next), true);
                ks.notify(EventClass::STRING, "incrby", &key);
                Ok(Reply::Int(next))
            }
            StringOp::IncrByFloat { key, delta } => {
                let base = match ks.write_as::<StrValue>(&key, ctx)? {
                    None => 0.0,
                    Some(value) => match value.as_int() {
                        Some(n) => n as f64,
                        None => value.with_bytes(parse_f64).ok_or(EngineError::NotFloat)?,
                    },
                };
                let next = base + delta;
                if !next.is_finite() {
                    return Err(EngineError::NanOrInfinity);
                }
                let text = Bytes::from(format_f64_human(next));
                store_string(ks, ctx, &key, StrValue::from_bytes(text.clone()), true);
                ks.notify(EventClass::STRING, "incrbyfloat", &key);
                Ok(Reply::Bulk(text))
            }
            StringOp::IncrByFloatText { key, increment } => {
                let base = match ks.write_as::<StrValue>(&key, ctx)? {
                    None => LongDouble::from_i64(0),
                    Some(value) => match value.as_int() {
                        Some(n) => LongDouble::from_i64(n),
                        None => value
                            .with_bytes(LongDouble::parse)
                            .ok_or(EngineError::NotFloat)?,
                    },
                };
                let increment = LongDouble::parse(&increment).ok_or(EngineError::NotFloat)?;
                let next = base
                    .checked_add(increment)
                    .ok_or(EngineError::NanOrInfinity)?;
                let text = Bytes::from(next.to_human());
                store_string(ks, ctx, &key, StrValue::from_bytes(text.clone()), true);
                ks.notify(EventClass::STRING, "incrbyfloat", &key);
                Ok(Reply::Bulk(text))
            }
        }
    }
}

/// Stores a string's new value, keeping the key's TTL when it exists (counters,
/// bitmaps, HyperLogLogs); `changed` says whether a version bump is due.
pub(crate) fn store_string(
    ks: &mut Keyspace,
    ctx: &ApplyCtx,
    key: &[u8],
    value: StrValue,
    changed: bool,
) {
    if let Ok(Some(current)) = ks.write_as::<StrValue>(key, ctx) {
        *current = value;
        ks.finish_write::<StrValue>(key, ctx, changed);
    } else {
        ks.insert(key, Value::Str(value), ctx);
    }
}

/// Takes the string out as a mutable buffer, without copying when it is not shared.
fn take_mut(value: &mut StrValue) -> BytesMut {
    value.take_mut()
}

fn read_string(value: Option<&StrValue>) -> Option<Bytes> {
    value.map(StrValue::to_bytes)
}

fn set(
    ks: &mut Keyspace,
    ctx: &ApplyCtx,
    key: Bytes,
    value: Bytes,
    cond: SetCond,
    get: bool,
    expire: SetExpire,
) -> Result<Reply, EngineError> {
    // KEEPTTL keeps the key's TTL whatever type it held; GET needs the old string.
    let (exists, old, keep_at) = match ks.write(&key, ctx) {
        None => (false, None, 0),
        Some(entry) => match &entry.value {
            Value::Str(s) if get => (true, Some(s.to_bytes()), entry.expire_at),
            _ if get => return Err(EngineError::WrongType),
            _ => (true, None, entry.expire_at),
        },
    };
    let old_reply = || {
        if get {
            Reply::opt_bulk(old.clone())
        } else {
            Reply::Nil
        }
    };
    let allowed = match cond {
        SetCond::Always => true,
        SetCond::IfAbsent => !exists,
        SetCond::IfPresent => exists,
    };
    if !allowed {
        return Ok(old_reply());
    }
    let expire_at = match expire {
        SetExpire::Clear => 0,
        SetExpire::At(at) => at,
        SetExpire::Keep => keep_at,
    };
    if expire_at != 0 && expire_at <= ctx.now_ms {
        // Redis stores a key set with an expiry already in the past, and it expires
        // when next looked at; here it goes at once, announced as Redis would.
        ks.remove(&key, ctx);
        if !exists {
            ks.notify(EventClass::NEW, "new", &key);
        }
        ks.notify(EventClass::STRING, "set", &key);
        ks.notify(EventClass::GENERIC, "expire", &key);
        ks.notify(EventClass::EXPIRED, "expired", &key);
        return Ok(if get { old_reply() } else { Reply::Ok });
    }
    let reply = if get { old_reply() } else { Reply::Ok };
    ks.insert(&key, Value::Str(StrValue::from_bytes(value)), ctx);
    ks.notify(EventClass::STRING, "set", &key);
    if expire_at != 0 {
        ks.set_expire(&key, expire_at, ctx);
        // KEEPTTL keeps a TTL without setting one: no `expire`, as in Redis.
        if matches!(expire, SetExpire::At(_)) {
            ks.notify(EventClass::GENERIC, "expire", &key);
        }
    }
    Ok(reply)
}

impl StringQuery {
    pub(crate) fn run(&self, ks: &mut Keyspace, ctx: &ReadCtx) -> Result<Reply, EngineError> {
        match self {
            StringQuery::Get { key } => Ok(Reply::opt_bulk(read_string(
                ks.read_as::<StrValue>(key, ctx.now_ms)?,
            ))),
            StringQuery::MGet { keys } => Ok(Reply::Array(
                keys.iter()
                    .map(|k| match ks.read_as::<StrValue>(k, ctx.now_ms) {
                        Ok(v) => Reply::opt_bulk(read_string(v)),
                        Err(_) => Reply::Nil,
                    })
                    .collect(),
            )),
            StringQuery::StrLen { key } => Ok(Reply::Int(
                ks.read_as::<StrValue>(key, ctx.now_ms)?
                    .map_or(0, |s| s.len() as i64),
            )),
            StringQuery::GetRange { key, start, end } => {
                let Some(value) = ks.read_as::<StrValue>(key, ctx.now_ms)? else {
                    return Ok(Reply::bulk(b""));
                };
                let bytes = value.to_bytes();
                Ok(Reply::Bulk(match byte_range(bytes.len(), *start, *end) {
                    Some((from, to)) => bytes.slice(from..=to),
                    None => Bytes::new(),
                }))
            }
            StringQuery::Lcs { a, b, options } => {
                let not_strings = || {
                    EngineError::Other("ERR The specified keys must contain string values".into())
                };
                let a = ks
                    .read_as::<StrValue>(a, ctx.now_ms)
                    .map_err(|_| not_strings())?;
                let a = a.map(StrValue::to_bytes).unwrap_or_default();
                let b = ks
                    .read_as::<StrValue>(b, ctx.now_ms)
                    .map_err(|_| not_strings())?;
                let b = b.map(StrValue::to_bytes).unwrap_or_default();
                lcs::lcs(&a, &b, options)
            }
        }
    }
}

/// GETRANGE's index rules; `None` is the empty range.
pub(crate) fn byte_range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return None;
    }
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 {
        (len + end).max(0)
    } else {
        end.min(len - 1)
    };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end as usize))
}

/// Parses a stored string as an integer the way INCR does.
pub fn string_as_i64(value: &StrValue) -> Option<i64> {
    value.as_int().or_else(|| value.with_bytes(parse_i64))
}

/// Stores a value detached from any network buffer (for ops building strings).
pub fn owned_string(value: Bytes) -> StrValue {
    StrValue::from_bytes(detach(value))
}
