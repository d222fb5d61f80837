//! Key-level ops and reads: DEL, EXPIRE family, RENAME, COPY, MOVE, FLUSH, and the
//! keyspace reads (EXISTS, TTL, TYPE, KEYS, SCAN, RANDOMKEY, OBJECT, META).

use bytes::Bytes;
use okapi_types::Namespace;

use crate::error::EngineError;
use crate::glob::glob_match;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::sort::SortSpec;
use crate::value::Value;
use crate::{ApplyCtx, Engine, ReadCtx};

/// Conditions of an EXPIRE-family command (Redis 7); all given ones must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ExpireCond {
    /// Only if the key has no TTL.
    pub nx: bool,
    /// Only if the key has a TTL.
    pub xx: bool,
    /// Only if the new expiry is later (no TTL counts as infinite).
    pub gt: bool,
    /// Only if the new expiry is earlier (no TTL counts as infinite).
    pub lt: bool,
}

/// Key-level writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum KeyOp {
    /// DEL / UNLINK: replies the number removed.
    Del {
        /// Keys.
        keys: Vec<Bytes>,
    },
    /// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT, with the time made absolute.
    Expire {
        /// Key.
        key: Bytes,
        /// Unix ms.
        at: u64,
        /// NX / XX / GT / LT.
        cond: ExpireCond,
    },
    /// PERSIST.
    Persist {
        /// Key.
        key: Bytes,
    },
    /// RENAME (`nx == false`) / RENAMENX.
    Rename {
        /// Source.
        src: Bytes,
        /// Destination.
        dst: Bytes,
        /// RENAMENX semantics.
        nx: bool,
    },
    /// COPY, possibly into another namespace.
    Copy {
        /// Source.
        src: Bytes,
        /// Destination.
        dst: Bytes,
        /// Destination namespace.
        dst_db: Namespace,
        /// Overwrite an existing destination.
        replace: bool,
    },
    /// MOVE to another namespace.
    Move {
        /// Key.
        key: Bytes,
        /// Destination namespace.
        dst_db: Namespace,
    },
    /// SORT … STORE dst: the sorted elements of `key` as a list under `dst`.
    SortStore {
        /// Key sorted.
        key: Bytes,
        /// Options.
        spec: SortSpec,
        /// Destination.
        dst: Bytes,
    },
    /// FLUSHDB.
    FlushDb,
    /// FLUSHALL.
    FlushAll,
    /// Removes these keys if their TTL passed at the op's time (active expiry).
    ExpireDue {
        /// Candidate keys.
        keys: Vec<Bytes>,
    },
    /// RESTORE.
    Restore {
        /// Key.
        key: Bytes,
        /// The DUMP payload.
        payload: Bytes,
        /// TTL in ms (relative, or a Unix time with `absttl`; 0: none).
        ttl: i64,
        /// ABSTTL.
        absttl: bool,
        /// REPLACE.
        replace: bool,
        /// IDLETIME seconds.
        idle_secs: Option<u64>,
        /// A TTL error, reported after the BUSYKEY check (as Redis).
        error: Option<EngineError>,
    },
    /// SWAPDB: the op's namespace and `other` exchange their keys.
    SwapDb {
        /// The other namespace.
        other: Namespace,
    },
}

/// Which clock TTL-style reads report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TtlForm {
    /// TTL: remaining seconds.
    Seconds,
    /// PTTL: remaining milliseconds.
    Millis,
    /// EXPIRETIME: absolute Unix seconds.
    AtSeconds,
    /// PEXPIRETIME: absolute Unix milliseconds.
    AtMillis,
}

/// Key-level reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum KeyQuery {
    /// EXISTS: counts keys, duplicates included.
    Exists {
        /// Keys.
        keys: Vec<Bytes>,
    },
    /// TOUCH: counts existing keys and marks them read.
    Touch {
        /// Keys.
        keys: Vec<Bytes>,
    },
    /// TYPE.
    Type {
        /// Key.
        key: Bytes,
    },
    /// TTL / PTTL / EXPIRETIME / PEXPIRETIME.
    Ttl {
        /// Key.
        key: Bytes,
        /// Reply form.
        form: TtlForm,
    },
    /// KEYS pattern.
    Keys {
        /// Glob pattern.
        pattern: Bytes,
    },
    /// SCAN cursor [MATCH] [COUNT] [TYPE].
    Scan {
        /// Cursor from the previous call (0 to start).
        cursor: u64,
        /// Glob filter.
        pattern: Option<Bytes>,
        /// Work hint.
        count: usize,
        /// Type filter (`string`, `hash` ...).
        type_name: Option<Bytes>,
    },
    /// RANDOMKEY.
    RandomKey,
    /// DBSIZE.
    DbSize,
    /// OBJECT ENCODING.
    ObjectEncoding {
        /// Key.
        key: Bytes,
    },
    /// OBJECT IDLETIME: seconds since the last read or write.
    ObjectIdleTime {
        /// Key.
        key: Bytes,
    },
    /// OBJECT REFCOUNT (always 1: values are never shared between keys).
    ObjectRefCount {
        /// Key.
        key: Bytes,
    },
    /// OBJECT FREQ: okapi keeps no LFU counter.
    ObjectFreq {
        /// Key.
        key: Bytes,
    },
    /// MEMORY USAGE: an estimate of the bytes the key and its value take.
    MemoryUsage {
        /// Key.
        key: Bytes,
        /// Elements of a collection to measure (0: all); the rest are assumed alike.
        samples: u64,
    },
    /// SORT / SORT_RO without STORE.
    Sort {
        /// Key sorted.
        key: Bytes,
        /// Options.
        spec: SortSpec,
    },
    /// META: per-key metadata (okapi).
    Meta {
        /// Key.
        key: Bytes,
    },
    /// DUMP.
    Dump {
        /// Key.
        key: Bytes,
    },
}

impl KeyOp {
    pub(crate) fn apply(
        self,
        engine: &mut Engine,
        db: Namespace,
        ctx: &ApplyCtx,
    ) -> Result<Reply, EngineError> {
        match self {
            KeyOp::Del { keys } => {
                let ks = engine.space_mut(db)?;
                Ok(Reply::Int(
                    keys.iter().filter(|k| ks.delete(k, ctx)).count() as i64,
                ))
            }
            KeyOp::Expire { key, at, cond } => {
                let ks = engine.space_mut(db)?;
                let Some(entry) = ks.write(&key, ctx) else {
                    return Ok(Reply::Int(0));
                };
                let current = entry.expire_at;
                let allowed = (!cond.nx || current == 0)
                    && (!cond.xx || current != 0)
                    && (!cond.gt || (current != 0 && at > current))
                    && (!cond.lt || current == 0 || at < current);
                if !allowed {
                    return Ok(Reply::Int(0));
                }
                if at <= ctx.now_ms {
                    ks.delete(&key, ctx);
                } else {
                    ks.set_expire(&key, at, ctx);
                    ks.notify(EventClass::GENERIC, "expire", &key);
                }
                Ok(Reply::Int(1))
            }
            KeyOp::Persist { key } => {
                let ks = engine.space_mut(db)?;
                match ks.write(&key, ctx) {
                    Some(entry) if entry.expire_at != 0 => {
                        ks.set_expire(&key, 0, ctx);
                        ks.notify(EventClass::GENERIC, "persist", &key);
                        Ok(Reply::Int(1))
                    }
                    _ => Ok(Reply::Int(0)),
                }
            }
            KeyOp::Rename { src, dst, nx } => {
                let ks = engine.space_mut(db)?;
                if ks.write(&src, ctx).is_none() {
                    return Err(EngineError::NoSuchKey);
                }
                if src == dst {
                    return Ok(if nx { Reply::Int(0) } else { Reply::Ok });
                }
                if nx && ks.write(&dst, ctx).is_some() {
                    return Ok(Reply::Int(0));
                }
                let Some(entry) = ks.remove(&src, ctx) else {
                    return Err(EngineError::NoSuchKey);
                };
                if ks.write(&dst, ctx).is_some() {
                    ks.remove(&dst, ctx);
                }
                let expire_at = entry.expire_at;
                let created = entry.created_ms;
                let stored = ks.insert(dst.clone(), entry.value, ctx);
                stored.created_ms = created;
                if expire_at != 0 {
                    ks.set_expire(&dst, expire_at, ctx);
                }
                ks.notify(EventClass::GENERIC, "rename_from", &src);
                ks.notify(EventClass::GENERIC, "rename_to", &dst);
                Ok(if nx { Reply::Int(1) } else { Reply::Ok })
            }
            KeyOp::Copy {
                src,
                dst,
                dst_db,
                replace,
            } => {
                engine.space_mut(dst_db)?;
                if src == dst && db == dst_db {
                    return Err(EngineError::SameObject);
                }
                let Some(source) = engine.space_mut(db)?.write(&src, ctx) else {
                    return Ok(Reply::Int(0));
                };
                let (value, expire_at) = (source.value.clone(), source.expire_at);
                let target = engine.space_mut(dst_db)?;
                if target.write(&dst, ctx).is_some() {
                    if !replace {
                        return Ok(Reply::Int(0));
                    }
                    target.remove(&dst, ctx);
                }
                target.insert(dst.clone(), value, ctx);
                if expire_at != 0 {
                    target.set_expire(&dst, expire_at, ctx);
                }
                target.notify(EventClass::GENERIC, "copy_to", &dst);
                Ok(Reply::Int(1))
            }
            KeyOp::Move { key, dst_db } => {
                engine.space_mut(dst_db)?;
                if db == dst_db {
                    return Err(EngineError::SameObject);
                }
                if engine.space_mut(db)?.write(&key, ctx).is_none()
                    || engine.space_mut(dst_db)?.write(&key, ctx).is_some()
                {
                    return Ok(Reply::Int(0));
                }
                let Some(entry) = engine.space_mut(db)?.remove(&key, ctx) else {
                    return Ok(Reply::Int(0));
                };
                let target = engine.space_mut(dst_db)?;
                let (expire_at, created) = (entry.expire_at, entry.created_ms);
                target.insert(key.clone(), entry.value, ctx).created_ms = created;
                if expire_at != 0 {
                    target.set_expire(&key, expire_at, ctx);
                }
                // Two namespaces: collected between them so they stay in Redis's order
                // (`new` in the target, `move_from`, `move_to`).
                engine.collect_events();
                engine
                    .space_mut(db)?
                    .notify(EventClass::GENERIC, "move_from", &key);
                engine.collect_events();
                engine
                    .space_mut(dst_db)?
                    .notify(EventClass::GENERIC, "move_to", &key);
                Ok(Reply::Int(1))
            }
            KeyOp::Restore {
                key,
                payload,
                ttl,
                absttl,
                replace,
                idle_secs,
                error,
            } => {
                let ks = engine.space_mut(db)?;
                let exists = ks.write(&key, ctx).is_some();
                if exists && !replace {
                    return Err(EngineError::Other(
                        "BUSYKEY Target key name already exists.".into(),
                    ));
                }
                if let Some(e) = error {
                    return Err(e);
                }
                let value = crate::dump::load(&payload, ks.seed())?;
                let at = match ttl {
                    0 => 0,
                    t if absttl => t.max(0) as u64,
                    t => ctx.now_ms.saturating_add(t as u64),
                };
                if at != 0 && at <= ctx.now_ms {
                    // Already expired: nothing is created, a replaced key goes.
                    if exists {
                        ks.delete(&key, ctx);
                    }
                    return Ok(Reply::Ok);
                }
                if exists {
                    ks.remove(&key, ctx);
                }
                ks.insert(key.clone(), value, ctx);
                if at != 0 {
                    ks.set_expire(&key, at, ctx);
                }
                if let Some(idle) = idle_secs {
                    // Last, since every write counts as an access; OBJECT IDLETIME
                    // counts from the later of the last read and the last write.
                    if let Some(entry) = ks.write(&key, ctx) {
                        let at = ctx.now_ms.saturating_sub(idle.saturating_mul(1000));
                        entry.read_ms = at;
                        entry.updated_ms = at;
                    }
                }
                ks.notify(EventClass::GENERIC, "restore", &key);
                Ok(Reply::Ok)
            }
            KeyOp::SwapDb { other } => {
                engine.swap_keys(db, other, ctx)?;
                Ok(Reply::Ok)
            }
            KeyOp::SortStore { key, spec, dst } => {
                crate::sort::store(engine.space_mut(db)?, &key, &spec, dst, ctx)
            }
            KeyOp::FlushDb => {
                let table = engine.space_mut(db)?.take_all(ctx);
                engine.retire(db, table);
                engine.flushed = true;
                Ok(Reply::Ok)
            }
            KeyOp::FlushAll => {
                for i in 0..engine.spaces.len() {
                    let table = engine.spaces[i].take_all(ctx);
                    engine.retire(Namespace(i as u32), table);
                }
                engine.flushed = true;
                Ok(Reply::Ok)
            }
            KeyOp::ExpireDue { keys } => {
                let ks = engine.space_mut(db)?;
                Ok(Reply::Int(
                    keys.iter().filter(|k| ks.expire_if_due(k, ctx)).count() as i64,
                ))
            }
        }
    }
}

impl KeyQuery {
    pub(crate) fn run(&self, ks: &mut Keyspace, ctx: &ReadCtx) -> Result<Reply, EngineError> {
        let now = ctx.now_ms;
        match self {
            KeyQuery::Exists { keys } => Ok(Reply::Int(
                keys.iter().filter(|k| ks.peek(k, now).is_some()).count() as i64,
            )),
            KeyQuery::Touch { keys } => Ok(Reply::Int(
                keys.iter().filter(|k| ks.read(k, now).is_some()).count() as i64,
            )),
            KeyQuery::Type { key } => Ok(Reply::Status(
                ks.peek(key, now).map_or("none", |e| e.value.type_name()),
            )),
            KeyQuery::Ttl { key, form } => {
                let Some(entry) = ks.peek(key, now) else {
                    return Ok(Reply::Int(-2));
                };
                if entry.expire_at == 0 {
                    return Ok(Reply::Int(-1));
                }
                let at = entry.expire_at;
                let remaining = at.saturating_sub(now);
                Ok(Reply::Int(match form {
                    TtlForm::Seconds => (remaining + 500) / 1000,
                    TtlForm::Millis => remaining,
                    TtlForm::AtSeconds => at / 1000,
                    TtlForm::AtMillis => at,
                } as i64))
            }
            KeyQuery::Keys { pattern } => {
                let all = pattern.as_ref() == b"*";
                Ok(Reply::bulks(
                    ks.iter(now)
                        .filter(|(k, _)| all || glob_match(pattern, k, false))
                        .map(|(k, _)| k.to_bytes()),
                ))
            }
            KeyQuery::Scan {
                cursor,
                pattern,
                count,
                type_name,
            } => {
                let mut keys = Vec::new();
                let next = ks.scan(*cursor, (*count).max(1), now, |k, e| {
                    let pattern_ok = pattern.as_ref().is_none_or(|p| glob_match(p, k, false));
                    let type_ok = type_name
                        .as_ref()
                        .is_none_or(|t| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()));
                    if pattern_ok && type_ok {
                        keys.push(k.to_bytes());
                    }
                });
                Ok(scan_reply(next, keys))
            }
            KeyQuery::RandomKey => Ok(Reply::opt_bulk(
                ks.pick(ctx.random, now).map(|(k, _)| k.to_bytes()),
            )),
            KeyQuery::DbSize => Ok(Reply::Int(ks.len() as i64)),
            KeyQuery::ObjectEncoding { key } => Ok(ks
                .peek(key, now)
                .map_or(Reply::Nil, |e| Reply::bulk(e.value.encoding().as_bytes()))),
            KeyQuery::ObjectIdleTime { key } => Ok(ks.peek(key, now).map_or(Reply::Nil, |e| {
                Reply::Int((now.saturating_sub(e.read_ms.max(e.updated_ms)) / 1000) as i64)
            })),
            KeyQuery::ObjectRefCount { key } => Ok(ks.peek(key, now).map_or(Reply::Nil, |e| {
                // Redis shares the objects of the integers 0..10000 and reports them
                // with its "shared" refcount; okapi has no shared objects, but a client
                // sees the same number. Everything else has one reference.
                match &e.value {
                    Value::Str(s) if s.as_int().is_some_and(|n| (0..10_000).contains(&n)) => {
                        Reply::Int(i64::from(i32::MAX))
                    }
                    _ => Reply::Int(1),
                }
            })),
            KeyQuery::ObjectFreq { key } => match ks.peek(key, now) {
                None => Ok(Reply::Nil),
                Some(_) => Err(EngineError::Other(
                    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
                     Please note that when switching between policies at runtime LRU and LFU data \
                     will take some time to adjust."
                        .to_owned(),
                )),
            },
            KeyQuery::MemoryUsage { key, samples } => {
                Ok(ks.peek(key, now).map_or(Reply::Nil, |e| {
                    Reply::Int(e.memory_usage(key.len(), *samples) as i64)
                }))
            }
            KeyQuery::Sort { key, spec } => crate::sort::query(ks, key, spec, now),
            KeyQuery::Dump { key } => {
                let seed = ks.seed();
                match ks.read(key, now) {
                    Some(entry) => Ok(Reply::Bulk(crate::dump::dump(&entry.value, seed)?)),
                    None => Ok(Reply::Nil),
                }
            }
            KeyQuery::Meta { key } => Ok(ks.peek(key, now).map_or(Reply::Nil, |e| {
                let field = |name: &str, value: Reply| (Reply::bulk(name.as_bytes()), value);
                let ttl = if e.expire_at == 0 {
                    -1
                } else {
                    e.expire_at.saturating_sub(now) as i64
                };
                Reply::Map(vec![
                    field("type", Reply::bulk(e.value.type_name().as_bytes())),
                    field("encoding", Reply::bulk(e.value.encoding().as_bytes())),
                    field("size", Reply::Int(e.value.payload_size() as i64)),
                    field("created-ms", Reply::Int(e.created_ms as i64)),
                    field("updated-ms", Reply::Int(e.updated_ms as i64)),
                    field("last-read-ms", Reply::Int(e.read_ms as i64)),
                    field("ttl-ms", Reply::Int(ttl)),
                    field("version", Reply::Int(e.version as i64)),
                    field("tier", Reply::bulk(b"memory")),
                ])
            })),
        }
    }
}

/// The two-element reply of every SCAN-family command.
pub fn scan_reply(next: u64, items: Vec<Bytes>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::copy_from_slice(
            itoa::Buffer::new().format(next).as_bytes(),
        )),
        Reply::bulks(items),
    ])
}
