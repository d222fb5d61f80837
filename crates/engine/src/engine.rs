//! The engine: all namespaces of a node (or of a shard group), the one place where
//! state changes (`apply`) and the read entry point (`query`).

use crate::geo::{GeoOp, GeoQuery};
use crate::streams::{StreamOp, StreamQuery};
use bytes::Bytes;
use okapi_types::{LogIndex, Namespace};

use crate::bitmaps::{BitOp, BitQuery};
use crate::blocks::{BlockOp, BlockQuery};
use crate::error::EngineError;
use crate::hashes::{HashOp, HashQuery};
use crate::hyperloglog::{HllOp, HllQuery};
use crate::keys::{KeyOp, KeyQuery};
use crate::keyspace::{Keyspace, KeyspaceStats, WatchStamp};
use crate::lists::{ListOp, ListQuery};
use crate::reply::Reply;
use crate::sets::{SetOp, SetQuery};
use crate::snapshot::{Guard, SnapshotStats};
use crate::strings::{StringOp, StringQuery};
use crate::tables::{TableOp, TableQuery};
use crate::zsets::{ZSetOp, ZSetQuery};

/// What the log stamps on every op before it is applied. Everything `apply` may depend
/// on besides the op and the state is here, so replay is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApplyCtx {
    /// Leader wall-clock time when the op was accepted, Unix ms.
    pub now_ms: u64,
    /// Log index of the op (strictly increasing).
    pub index: u64,
}

impl ApplyCtx {
    /// A context at `now_ms` for the op at `index`.
    pub fn new(now_ms: u64, index: LogIndex) -> Self {
        Self {
            now_ms,
            index: index.0,
        }
    }
}

/// What a read needs: the reader's clock, and randomness for RANDOMKEY and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadCtx {
    /// Current time, Unix ms.
    pub now_ms: u64,
    /// Random bits for reads that pick elements.
    pub random: u64,
}

/// A deterministic state change, as it travels through the log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Op {
    /// Namespace the op addresses.
    pub db: Namespace,
    /// The change.
    pub kind: OpKind,
}

impl Op {
    /// Payload bytes the op carries beyond its keys (block data): what bounds the size
    /// of a log entry. Other ops count as 0; their size is bounded by their arguments.
    pub fn payload_len(&self) -> usize {
        match &self.kind {
            OpKind::Block(op) => crate::blocks::payload_len(op),
            OpKind::Txn(txn) => txn
                .items
                .iter()
                .map(|item| match item {
                    TxnItem::Write(op) => op.payload_len(),
                    TxnItem::Read(_) => 0,
                })
                .sum(),
            _ => 0,
        }
    }
}

/// Every kind of state change.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum OpKind {
    /// Strings.
    Str(StringOp),
    /// Keys.
    Key(KeyOp),
    /// Hashes.
    Hash(HashOp),
    /// Lists.
    List(ListOp),
    /// Sets.
    Set(SetOp),
    /// Sorted sets.
    ZSet(ZSetOp),
    /// Tables.
    Table(TableOp),
    /// Blocks.
    Block(BlockOp),
    /// MULTI/EXEC: checked and applied as one unit.
    Txn(Txn),
    /// Bitmaps (bit operations on strings).
    Bit(BitOp),
    /// HyperLogLogs.
    Hll(HllOp),
    /// Geo searches that store their result.
    Geo(GeoOp),
    /// Streams.
    Stream(StreamOp),
    /// A script, run at apply time by the installed [`crate::script::ScriptHost`].
    Script(Box<crate::script::ScriptOp>),
    /// Function libraries (FUNCTION LOAD, DELETE, FLUSH).
    Function(crate::functions::FunctionOp),
}

macro_rules! family_from {
    ($($family:ident($op:ty, $query:ty)),* $(,)?) => {
        $(
            impl From<$op> for OpKind {
                fn from(op: $op) -> Self {
                    OpKind::$family(op)
                }
            }
            impl From<$query> for QueryKind {
                fn from(query: $query) -> Self {
                    QueryKind::$family(query)
                }
            }
        )*
    };
}

family_from!(
    Str(StringOp, StringQuery),
    Key(KeyOp, KeyQuery),
    Hash(HashOp, HashQuery),
    List(ListOp, ListQuery),
    Set(SetOp, SetQuery),
    ZSet(ZSetOp, ZSetQuery),
    Table(TableOp, TableQuery),
    Block(BlockOp, BlockQuery),
    Bit(BitOp, BitQuery),
    Hll(HllOp, HllQuery),
    Geo(GeoOp, GeoQuery),
    Stream(StreamOp, StreamQuery),
);

/// A read, served from memory without the log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Query {
    /// Namespace the read addresses.
    pub db: Namespace,
    /// The read.
    pub kind: QueryKind,
}

/// Every kind of read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum QueryKind {
    /// Strings.
    Str(StringQuery),
    /// Keys.
    Key(KeyQuery),
    /// Hashes.
    Hash(HashQuery),
    /// Lists.
    List(ListQuery),
    /// Sets.
    Set(SetQuery),
    /// Sorted sets.
    ZSet(ZSetQuery),
    /// Tables.
    Table(TableQuery),
    /// Blocks.
    Block(BlockQuery),
    /// Bitmaps (bit reads of strings).
    Bit(BitQuery),
    /// HyperLogLogs.
    Hll(HllQuery),
    /// Geo reads.
    Geo(GeoQuery),
    /// Stream reads.
    Stream(StreamQuery),
    /// Function libraries (FUNCTION LIST, STATS).
    Function(crate::functions::FunctionQuery),
}

/// A transaction: WATCH checks, then every queued command in order, atomically.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Txn {
    /// Keys whose stamps must be unchanged, or the transaction aborts (nil reply).
    pub checks: Vec<WatchCheck>,
    /// Queued commands.
    pub items: Vec<TxnItem>,
}

/// One WATCHed key and what it looked like when watched.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WatchCheck {
    /// Namespace.
    pub db: Namespace,
    /// Key.
    pub key: Bytes,
    /// Stamp at WATCH time.
    pub stamp: WatchStamp,
}

/// A queued command inside a transaction.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TxnItem {
    /// A read, answered at the transaction's point in the log.
    Read(Query),
    /// A write.
    Write(Op),
}

/// All namespaces and their data.
pub struct Engine {
    pub(crate) spaces: Vec<Keyspace>,
    seed: u64,
    /// The snapshot under way, if any (see [`crate::snapshot`]).
    pub(crate) snapshot: Option<Box<Guard>>,
    /// Counters of the last snapshot, for INFO once it is over.
    pub(crate) last_snapshot: SnapshotStats,
    /// The latest leader time applied, Unix ms: apply time never goes backwards, even
    /// when a new leader's clock is behind the old one's.
    pub(crate) clock_ms: u64,
    /// Bumped by every applied op; starts at a value no other engine of the process
    /// started at, so a reader can tell "unchanged" from "replaced by a restore".
    changes: u64,
    /// Keyspace event classes raised (the node's `notify-keyspace-events`).
    notify: crate::notify::EventClass,
    /// Events raised by applied ops, not yet taken by the node.
    events: Vec<crate::notify::KeyEvent>,
    /// A FLUSHDB or FLUSHALL applied since the last [`Engine::take_flushed`].
    pub(crate) flushed: bool,
    /// Function libraries (FUNCTION LOAD).
    pub(crate) libraries: crate::functions::Libraries,
}

/// Where the next engine's change counter starts (see [`Engine::changes`]).
static CHANGES_BASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Engine {
    /// An engine with `databases` namespaces hashing with `seed`. Replicas of one
    /// dataset must share the seed so that ops picking "random" elements agree.
    pub fn new(databases: u32, seed: u64) -> Self {
        let spaces = (0..databases.max(1) as usize)
            .map(|i| Keyspace::new(Self::space_seed(seed, i)))
            .collect();
        Self::from_spaces(spaces, seed)
    }

    /// An engine over namespaces built elsewhere (a snapshot restore).
    pub(crate) fn from_spaces(spaces: Vec<Keyspace>, seed: u64) -> Self {
        Self {
            spaces,
            seed,
            snapshot: None,
            last_snapshot: SnapshotStats::default(),
            clock_ms: 0,
            changes: CHANGES_BASE.fetch_add(1 << 40, std::sync::atomic::Ordering::Relaxed),
            libraries: crate::functions::Libraries::default(),
            notify: crate::notify::EventClass::NONE,
            events: Vec::new(),
            flushed: false,
        }
    }

    /// An engine with no namespace, holding nothing: what stands in for an engine
    /// while a script run owns it.
    pub fn placeholder() -> Self {
        Self {
            spaces: Vec::new(),
            seed: 0,
            snapshot: None,
            last_snapshot: SnapshotStats::default(),
            clock_ms: 0,
            changes: 0,
            libraries: crate::functions::Libraries::default(),
            notify: crate::notify::EventClass::NONE,
            events: Vec::new(),
            flushed: false,
        }
    }

    /// The time ops stamped `leader_ms` apply at: `leader_ms`, or the latest time
    /// applied before when that is later. It depends only on the log (and is kept in
    /// snapshots), so every replica applies each op at the same time.
    pub fn apply_clock(&mut self, leader_ms: u64) -> u64 {
        self.clock_ms = self.clock_ms.max(leader_ms);
        self.clock_ms
    }

    /// The latest time applied (see [`Engine::apply_clock`]).
    pub fn clock_ms(&self) -> u64 {
        self.clock_ms
    }

    /// The hash seed of namespace `index` in a dataset hashing with `seed`.
    pub(crate) fn space_seed(seed: u64, index: usize) -> u64 {
        seed ^ index as u64
    }

    /// The hash seed of this dataset.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Keys in every namespace (expired ones not yet removed included).
    pub fn key_count(&self) -> u64 {
        self.spaces.iter().map(|ks| ks.len() as u64).sum()
    }

    /// Number of namespaces.
    pub fn databases(&self) -> u32 {
        self.spaces.len() as u32
    }

    /// A namespace, if it exists.
    pub fn space(&self, db: Namespace) -> Option<&Keyspace> {
        self.spaces.get(db.index())
    }

    /// A namespace for a read that updates statistics, if it exists.
    pub fn space_mut_for_read(&mut self, db: Namespace) -> Option<&mut Keyspace> {
        self.spaces.get_mut(db.index())
    }

    pub(crate) fn space_mut(&mut self, db: Namespace) -> Result<&mut Keyspace, EngineError> {
        self.spaces
            .get_mut(db.index())
            .ok_or(EngineError::DbIndexOutOfRange)
    }

    /// Every namespace with its number.
    pub fn spaces(&self) -> impl Iterator<Item = (Namespace, &Keyspace)> {
        self.spaces
            .iter()
            .enumerate()
            .map(|(i, ks)| (Namespace(i as u32), ks))
    }

    /// Looks up every key `ops` will touch, without changing anything. Run over a batch
    /// just before applying it: the lookups are independent, so the CPU overlaps their
    /// cache misses instead of taking them one op at a time (a random key costs two
    /// misses, table slot and node, ~100 ns each, most of a SET's apply).
    pub fn warm<'a>(&self, ops: impl IntoIterator<Item = &'a Op>) {
        for op in ops {
            op.for_each_touched(&mut |touched| {
                if let crate::snapshot::Touched::Key(db, key) = touched
                    && let Some(ks) = self.space(db)
                {
                    ks.warm(key);
                }
            });
        }
    }

    /// The function libraries.
    pub fn libraries(&self) -> &crate::functions::Libraries {
        &self.libraries
    }

    /// A counter of the changes applied: equal values mean no op was applied in
    /// between (and the engine was not replaced by a restore).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Applies one committed op. The only way state changes.
    pub fn apply(&mut self, op: Op, ctx: &ApplyCtx) -> Reply {
        self.changes = self.changes.wrapping_add(1);
        // The only cost of snapshots while none runs: this branch.
        if let Some(guard) = self.snapshot.as_deref_mut() {
            guard.preserve(&self.spaces, &op);
        }
        let reply = self.apply_unguarded(op, ctx);
        self.collect_events();
        reply
    }

    /// Which keyspace event classes applied ops raise from now on (the node's
    /// `notify-keyspace-events`; see [`crate::notify`]).
    pub fn set_notify(&mut self, classes: crate::notify::EventClass) {
        self.notify = classes;
        for ks in &mut self.spaces {
            ks.set_raised(classes);
        }
        if classes.is_empty() {
            self.events.clear();
        }
    }

    /// The event classes raised (see [`Engine::set_notify`]).
    pub fn notify(&self) -> crate::notify::EventClass {
        self.notify
    }

    /// True when applied ops raised events not taken yet.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// True once if a FLUSHDB or FLUSHALL applied since the last call: every key may
    /// have changed (client-side caching invalidates everything then).
    pub fn take_flushed(&mut self) -> bool {
        std::mem::take(&mut self.flushed)
    }

    /// The keyspace events raised since the last call, in the order raised.
    pub fn take_events(&mut self) -> Vec<crate::notify::KeyEvent> {
        std::mem::take(&mut self.events)
    }

    /// Moves the events the keyspaces raised into the engine's list, tagged with their
    /// namespace. Called after every op (and mid-op by ops spanning namespaces), so
    /// events stay in the order raised.
    pub(crate) fn collect_events(&mut self) {
        if self.notify.is_empty() {
            return;
        }
        for (i, ks) in self.spaces.iter_mut().enumerate() {
            let db = Namespace(i as u32);
            if ks.has_notices() {
                self.events
                    .extend(ks.take_notices().into_iter().map(|(class, event, key)| {
                        crate::notify::KeyEvent {
                            db,
                            class,
                            event,
                            key,
                        }
                    }));
            } else {
                ks.take_notices();
            }
        }
    }

    /// `apply` without the snapshot guard, for the ops inside a transaction: the guard
    /// already saw all of them.
    fn apply_unguarded(&mut self, op: Op, ctx: &ApplyCtx) -> Reply {
        let db = op.db;
        let result = match op.kind {
            OpKind::Key(op) => op.apply(self, db, ctx),
            OpKind::Txn(txn) => Ok(self.apply_txn(txn, ctx)),
            // Its writes go through `apply`, each seen by the snapshot guard.
            OpKind::Script(script) => Ok(crate::script::apply(self, db, *script, ctx)),
            OpKind::Function(op) => op.apply(self),
            kind => match self.space_mut(db) {
                Err(e) => Err(e),
                Ok(ks) => match kind {
                    OpKind::Str(op) => op.apply(ks, ctx),
                    OpKind::Hash(op) => op.apply(ks, ctx),
                    OpKind::List(op) => op.apply(ks, ctx),
                    OpKind::Set(op) => op.apply(ks, ctx),
                    OpKind::ZSet(op) => op.apply(ks, ctx),
                    OpKind::Table(op) => op.apply(ks, ctx),
                    OpKind::Block(op) => op.apply(ks, ctx),
                    OpKind::Bit(op) => op.apply(ks, ctx),
                    OpKind::Hll(op) => op.apply(ks, ctx),
                    OpKind::Geo(op) => op.apply(ks, ctx),
                    OpKind::Stream(op) => op.apply(ks, ctx),
                    OpKind::Key(_) | OpKind::Txn(_) | OpKind::Script(_) | OpKind::Function(_) => {
                        unreachable!("handled above")
                    }
                },
            },
        };
        result.into()
    }

    /// Answers a read from memory.
    pub fn query(&mut self, query: &Query, ctx: &ReadCtx) -> Reply {
        if let QueryKind::Function(q) = &query.kind {
            return q.run(self);
        }
        let ks = match self.space_mut(query.db) {
            Ok(ks) => ks,
            Err(e) => return Reply::Error(e),
        };
        let result = match &query.kind {
            QueryKind::Str(q) => q.run(ks, ctx),
            QueryKind::Key(q) => q.run(ks, ctx),
            QueryKind::Hash(q) => q.run(ks, ctx),
            QueryKind::List(q) => q.run(ks, ctx),
            QueryKind::Set(q) => q.run(ks, ctx),
            QueryKind::ZSet(q) => q.run(ks, ctx),
            QueryKind::Table(q) => q.run(ks, ctx),
            QueryKind::Block(q) => q.run(ks, ctx),
            QueryKind::Bit(q) => q.run(ks, ctx),
            QueryKind::Hll(q) => q.run(ks, ctx),
            QueryKind::Geo(q) => q.run(ks, ctx.now_ms),
            QueryKind::Stream(q) => q.run(ks, ctx),
            QueryKind::Function(_) => unreachable!("answered above"),
        };
        result.into()
    }

    fn apply_txn(&mut self, txn: Txn, ctx: &ApplyCtx) -> Reply {
        let unchanged = txn.checks.iter().all(|check| {
            self.space(check.db)
                .map(|ks| ks.watch_stamp(&check.key, ctx.now_ms))
                == Some(check.stamp)
        });
        if !unchanged {
            return Reply::NilArray;
        }
        let read_ctx = ReadCtx {
            now_ms: ctx.now_ms,
            random: ctx.index.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        };
        let replies = txn
            .items
            .into_iter()
            .map(|item| match item {
                TxnItem::Read(query) => self.query(&query, &read_ctx),
                TxnItem::Write(op) => {
                    let reply = self.apply_unguarded(op, ctx);
                    self.collect_events();
                    reply
                }
            })
            .collect();
        Reply::Array(replies)
    }

    /// What WATCH records for `key`.
    pub fn watch_stamp(&self, db: Namespace, key: &[u8], now_ms: u64) -> Option<WatchStamp> {
        self.space(db).map(|ks| ks.watch_stamp(key, now_ms))
    }

    /// SWAPDB of namespaces `a` and `b` (see [`Keyspace::swap_keys`]).
    pub(crate) fn swap_keys(
        &mut self,
        a: Namespace,
        b: Namespace,
        ctx: &ApplyCtx,
    ) -> Result<(), EngineError> {
        let (a, b) = (a.0 as usize, b.0 as usize);
        if a >= self.spaces.len() || b >= self.spaces.len() {
            return Err(EngineError::DbIndexOutOfRange);
        }
        if a == b {
            return Ok(());
        }
        let (low, high) = (a.min(b), a.max(b));
        if self.snapshot.is_some() {
            // A snapshot walking either namespace keeps walking what it held when
            // the snapshot began: a copy of each table (blocks share their pages).
            for i in [low, high] {
                let table = self.spaces[i].dict().duplicate();
                self.retire(Namespace(i as u32), table);
            }
        }
        let (left, right) = self.spaces.split_at_mut(high);
        left[low].swap_keys(&mut right[0], ctx);
        Ok(())
    }

    /// Registers a client blocked on `key`, so writes that feed it are reported.
    pub fn add_blocked(&mut self, db: Namespace, key: Bytes) {
        if let Ok(ks) = self.space_mut(db) {
            ks.add_blocked(key);
        }
    }

    /// Unregisters a client blocked on `key`.
    pub fn remove_blocked(&mut self, db: Namespace, key: &[u8]) {
        if let Ok(ks) = self.space_mut(db) {
            ks.remove_blocked(key);
        }
    }

    /// True when a key a client is blocked on received data since the last
    /// [`Engine::take_ready`].
    pub fn has_ready(&self) -> bool {
        self.spaces.iter().any(|ks| ks.has_ready())
    }

    /// Keys blocked clients wait on that received data since the last call.
    pub fn take_ready(&mut self) -> Vec<(Namespace, Bytes)> {
        let mut ready = Vec::new();
        for (i, ks) in self.spaces.iter_mut().enumerate() {
            ready.extend(
                ks.take_ready()
                    .into_iter()
                    .map(|k| (Namespace(i as u32), k)),
            );
        }
        ready
    }

    /// Up to `limit` keys per namespace whose TTL has passed at `now_ms`, as ops that
    /// remove them (the leader submits these through the log).
    pub fn expiry_ops(&self, now_ms: u64, limit: usize) -> Vec<Op> {
        self.spaces()
            .filter(|(_, ks)| ks.expires_len() > 0)
            .filter_map(|(db, ks)| {
                let keys = ks.due_keys(now_ms, limit);
                (!keys.is_empty()).then(|| Op {
                    db,
                    kind: OpKind::Key(KeyOp::ExpireDue { keys }),
                })
            })
            .collect()
    }

    /// Read/expiry statistics summed over namespaces.
    pub fn stats(&self) -> KeyspaceStats {
        self.spaces
            .iter()
            .fold(KeyspaceStats::default(), |acc, ks| KeyspaceStats {
                hits: acc.hits + ks.stats.hits,
                misses: acc.misses + ks.stats.misses,
                expired: acc.expired + ks.stats.expired,
            })
    }

    /// Forgets read statistics (CONFIG RESETSTAT).
    pub fn reset_stats(&mut self) {
        self.spaces
            .iter_mut()
            .for_each(|ks| ks.stats = KeyspaceStats::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strings::{SetCond, SetExpire};
    use crate::zsets::ZSetOp;

    #[test]
    fn apply_time_never_goes_backwards_and_survives_a_snapshot() {
        let mut e = Engine::new(1, 5);
        assert_eq!(e.apply_clock(1_000), 1_000);
        // A new leader whose clock is behind: ops still apply at the later time.
        assert_eq!(e.apply_clock(900), 1_000);
        assert_eq!(e.apply_clock(1_200), 1_200);
        let header = e.snapshot_begin().expect("begin");
        assert_eq!(header.clock_ms, 1_200);
        let mut restore = Engine::restore_begin(&header).expect("restore");
        while let Some(chunk) = e.snapshot_next(1 << 20) {
            restore.restore_chunk(&chunk).expect("chunk");
        }
        assert_eq!(restore.finish().expect("whole").clock_ms(), 1_200);
    }

    #[test]
    fn ops_survive_the_wire_format() {
        let txn = Op {
            db: Namespace(3),
            kind: OpKind::Txn(Txn {
                checks: vec![WatchCheck {
                    db: Namespace(3),
                    key: Bytes::from_static(b"w"),
                    stamp: WatchStamp::Absent(7),
                }],
                items: vec![
                    TxnItem::Write(Op {
                        db: Namespace(3),
                        kind: StringOp::Set {
                            key: Bytes::from_static(b"k"),
                            value: Bytes::from_static(b"\x00binary\xff"),
                            cond: SetCond::IfAbsent,
                            get: true,
                            expire: SetExpire::At(1_700_000_000_000),
                        }
                        .into(),
                    }),
                    TxnItem::Read(Query {
                        db: Namespace(3),
                        kind: StringQuery::Get {
                            key: Bytes::from_static(b"k"),
                        }
                        .into(),
                    }),
                    TxnItem::Write(Op {
                        db: Namespace(3),
                        kind: ZSetOp::Rem {
                            key: Bytes::from_static(b"z"),
                            members: vec![Bytes::from_static(b"m")],
                        }
                        .into(),
                    }),
                ],
            }),
        };
        let wire = postcard::to_allocvec(&txn).expect("encode");
        let back: Op = postcard::from_bytes(&wire).expect("decode");
        assert_eq!(back, txn);
        let reply = Reply::Array(vec![
            Reply::Double(1.5),
            Reply::Error(EngineError::WrongType),
            Reply::Nil,
        ]);
        let back: Reply =
            postcard::from_bytes(&postcard::to_allocvec(&reply).expect("encode")).expect("decode");
        assert_eq!(back, reply);
    }
}
