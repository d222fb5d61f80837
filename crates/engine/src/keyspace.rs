//! One namespace: its keys, their TTL index, and the typed accessors every command
//! family uses so expiry, WRONGTYPE and version stamps are handled in one place.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use foldhash::fast::FixedState;

use crate::ApplyCtx;
use crate::blocks::BlockValue;
use crate::dict::Dict;
use crate::error::EngineError;
use crate::key::Key;
use crate::notify::{EventClass, Notices};
use crate::value::{Entry, HashValue, ListValue, SetValue, StrValue, TableValue, Value};
use crate::zset::ZSetValue;

/// What WATCH remembers about a key; EXEC aborts when it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum WatchStamp {
    /// The key existed, last changed at this log index.
    Present(u64),
    /// The key did not exist; this was the keyspace's last removal index.
    Absent(u64),
}

/// Counters a keyspace keeps for INFO.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyspaceStats {
    /// Reads that found their key.
    pub hits: u64,
    /// Reads that did not.
    pub misses: u64,
    /// Keys removed because their TTL passed.
    pub expired: u64,
}

/// A value type that typed accessors can hand out.
pub trait Kind: Sized {
    /// Borrows the value if it is of this kind.
    fn of(value: &Value) -> Option<&Self>;
    /// Mutably borrows the value if it is of this kind.
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
    /// A new empty value of this kind.
    fn empty(seed: u64) -> Value;
    /// True when the container is empty and its key must go (strings never are).
    fn is_drained(&self) -> bool;
    /// True when clients may block waiting for this kind (lists, sorted sets).
    const WAKES_BLOCKED: bool = false;
}

macro_rules! kind {
    ($ty:ty, $variant:ident, $empty:expr, $drained:expr, $wakes:expr) => {
        impl Kind for $ty {
            fn of(value: &Value) -> Option<&Self> {
                match value {
                    Value::$variant(v) => Some(std::borrow::Borrow::borrow(v)),
                    _ => None,
                }
            }
            fn of_mut(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$variant(v) => Some(std::borrow::BorrowMut::borrow_mut(v)),
                    _ => None,
                }
            }
            fn empty(seed: u64) -> Value {
                #[allow(clippy::redundant_closure_call)]
                Value::$variant(($empty)(seed))
            }
            fn is_drained(&self) -> bool {
                #[allow(clippy::redundant_closure_call)]
                ($drained)(self)
            }
            const WAKES_BLOCKED: bool = $wakes;
        }
    };
}

kind!(
    StrValue,
    Str,
    |_| StrValue::empty(),
    |_: &StrValue| false,
    false
);
kind!(
    HashValue,
    Hash,
    |seed| Box::new(Dict::with_seed(seed)),
    |v: &HashValue| v.is_empty(),
    false
);
kind!(
    ListValue,
    List,
    |_| ListValue::new(),
    |v: &ListValue| v.is_empty(),
    true
);
kind!(
    SetValue,
    Set,
    |seed| Box::new(Dict::with_seed(seed)),
    |v: &SetValue| v.is_empty(),
    false
);
kind!(
    TableValue,
    Table,
    |_| Box::new(TableValue::new()),
    |v: &TableValue| v.is_empty(),
    false
);
kind!(
    BlockValue,
    Block,
    |_| BlockValue::new(0),
    |_: &BlockValue| false,
    false
);
// A stream stays when its last entry goes (its last ID must survive), as in Redis.
kind!(
    Box<crate::stream::StreamValue>,
    Stream,
    |_| Box::default(),
    |_: &Self| false,
    true
);
kind!(
    Box<ZSetValue>,
    ZSet,
    |seed| Box::new(ZSetValue::new(seed)),
    |v: &Self| v.is_empty(),
    true
);

/// One namespace of keys.
pub struct Keyspace {
    dict: Dict<Key, Entry>,
    /// `(expire_at, key hash)` of every key with a TTL, oldest first.
    expires: BTreeSet<(u64, u64)>,
    /// Log index of the last explicit removal (DEL, overwrite by RENAME, FLUSH ...).
    last_removal: u64,
    seed: u64,
    /// Keys some client is blocked on, with the number of waiters.
    blocked: HashMap<Bytes, usize, FixedState>,
    /// Blocked-on keys that received data since the last `take_ready`.
    ready: Vec<Bytes>,
    /// Read statistics.
    pub stats: KeyspaceStats,
    /// Keyspace events raised and not yet collected by the engine.
    notices: Notices,
}

impl Keyspace {
    /// An empty keyspace hashing with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            dict: Dict::with_seed(seed),
            expires: BTreeSet::new(),
            last_removal: 0,
            seed,
            blocked: HashMap::with_hasher(FixedState::with_seed(seed)),
            ready: Vec::new(),
            stats: KeyspaceStats::default(),
            notices: Notices::default(),
        }
    }

    /// The hash seed, for values created in this keyspace.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// SWAPDB: exchanges the keys (with their TTLs) of two keyspaces. Each namespace
    /// keeps its hash seed, so the keys are rehashed into it: picks such as RANDOMKEY
    /// and SPOP follow the table's layout, and a replica restored from a snapshot
    /// (which rebuilds every table with its namespace's seed) must pick as one that
    /// swapped. That makes SWAPDB O(N) here where Redis's is O(1). What belongs to the
    /// namespace also stays: its blocked clients (served if their keys now hold data)
    /// and its statistics. Every WATCH on either side sees a change.
    pub fn swap_keys(&mut self, other: &mut Keyspace, ctx: &ApplyCtx) {
        let mine = self.dict.take_entries();
        let theirs = other.dict.take_entries();
        self.expires.clear();
        other.expires.clear();
        self.dict = Dict::with_capacity(self.seed, theirs.len());
        other.dict = Dict::with_capacity(other.seed, mine.len());
        for (ks, entries) in [(&mut *self, theirs), (&mut *other, mine)] {
            for (key, entry) in entries {
                let expire_at = entry.expire_at;
                let hash = ks.dict.hash_of(key.as_ref());
                ks.dict.insert(key, entry);
                if expire_at != 0 {
                    ks.expires.insert((expire_at, hash));
                }
            }
        }
        for ks in [&mut *self, &mut *other] {
            ks.last_removal = ctx.index;
            let now = ctx.now_ms;
            let fed: Vec<Bytes> = ks
                .blocked
                .keys()
                .filter(|k| ks.dict.get(k.as_ref()).is_some_and(|e| !e.is_expired(now)))
                .cloned()
                .collect();
            for key in fed {
                ks.signal(&key);
            }
        }
    }

    /// Looks `key` up and discards the answer, to bring its table slot and node into
    /// the cache ahead of an apply (see [`crate::Engine::warm`]).
    pub fn warm(&self, key: &[u8]) {
        std::hint::black_box(self.dict.get(key).is_some());
    }

    /// Keys stored, including expired keys not yet removed (as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    /// True when no keys are stored.
    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// Keys with a TTL.
    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// The live (unexpired) entry for `key`, without touching read statistics.
    pub fn peek(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.dict.get(key).filter(|e| !e.is_expired(now_ms))
    }

    /// The live entry for `key` as a read: counts a hit or miss and stamps `read_ms`.
    pub fn read(&mut self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.dict.advance_resize();
        match self.dict.get_mut(key) {
            Some(entry) if !entry.is_expired(now_ms) => {
                self.stats.hits += 1;
                entry.read_ms = now_ms;
                Some(entry)
            }
            _ => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Reads a value of kind `T`: `Ok(None)` if absent, `WRONGTYPE` if another kind.
    pub fn read_as<T: Kind>(&mut self, key: &[u8], now_ms: u64) -> Result<Option<&T>, EngineError> {
        match self.read(key, now_ms) {
            None => Ok(None),
            Some(entry) => T::of(&entry.value).map(Some).ok_or(EngineError::WrongType),
        }
    }

    /// Like [`Keyspace::read_as`] without touching statistics (multi-key reads, checks).
    pub fn peek_as<T: Kind>(&self, key: &[u8], now_ms: u64) -> Result<Option<&T>, EngineError> {
        match self.peek(key, now_ms) {
            None => Ok(None),
            Some(entry) => T::of(&entry.value).map(Some).ok_or(EngineError::WrongType),
        }
    }

    /// The entry for `key` for a write: an expired key is removed first, so the write
    /// sees it as absent, deterministically at the op's time.
    pub fn write(&mut self, key: &[u8], ctx: &ApplyCtx) -> Option<&mut Entry> {
        if self.dict.get(key)?.is_expired(ctx.now_ms) {
            self.expire_now(key);
            return None;
        }
        self.dict.get_mut(key)
    }

    /// A value of kind `T` for a write; `Ok(None)` if absent.
    pub fn write_as<T: Kind>(
        &mut self,
        key: &[u8],
        ctx: &ApplyCtx,
    ) -> Result<Option<&mut T>, EngineError> {
        match self.write(key, ctx) {
            None => Ok(None),
            Some(entry) => T::of_mut(&mut entry.value)
                .map(Some)
                .ok_or(EngineError::WrongType),
        }
    }

    /// A value of kind `T` for a write, created empty if absent. The caller must call
    /// [`Keyspace::finish_write`] afterwards so an empty container never stays behind.
    pub fn write_or_create<T: Kind>(
        &mut self,
        key: &[u8],
        ctx: &ApplyCtx,
    ) -> Result<&mut T, EngineError> {
        let exists = match self.write(key, ctx) {
            Some(entry) => {
                if T::of(&entry.value).is_none() {
                    return Err(EngineError::WrongType);
                }
                true
            }
            None => false,
        };
        if !exists {
            self.notices.created(key);
            let entry = new_entry(T::empty(self.seed), ctx);
            let entry = self.dict.upsert(Key::new(key), entry);
            return T::of_mut(&mut entry.value).ok_or(EngineError::WrongType);
        }
        match self.dict.get_mut(key).map(|e| T::of_mut(&mut e.value)) {
            Some(Some(value)) => Ok(value),
            _ => unreachable!("entry of this kind was just ensured"),
        }
    }

    /// Takes elements out of the container of kind `T` at `key` with `remove`, which
    /// returns how many it took, and finishes the write: the shape of HDEL, SREM,
    /// LREM, TABLE.DEL and TABLE.DELRANGE. A missing key removes nothing; a removal
    /// raises `event` of `class`.
    pub fn remove_counted<T: Kind>(
        &mut self,
        key: &[u8],
        ctx: &ApplyCtx,
        (class, event): (EventClass, &'static str),
        remove: impl FnOnce(&mut T) -> usize,
    ) -> Result<i64, EngineError> {
        let Some(container) = self.write_as::<T>(key, ctx)? else {
            return Ok(0);
        };
        let removed = remove(container);
        if removed > 0 {
            self.notify(class, event, key);
        }
        self.finish_write::<T>(key, ctx, removed > 0);
        Ok(removed as i64)
    }

    /// Ends a write to `key`: stamps the version when `changed`, removes a drained
    /// container, and wakes blocked clients when a list or sorted set gained data.
    /// A drained container raises `del` (after the write's own event, as Redis), unless
    /// this write created it: then it never existed for subscribers either.
    pub fn finish_write<T: Kind>(&mut self, key: &[u8], ctx: &ApplyCtx, changed: bool) {
        let fresh = self.notices.take_created(key);
        let Some(entry) = self.dict.get_mut(key) else {
            return;
        };
        let drained = T::of(&entry.value).is_some_and(T::is_drained);
        if drained {
            self.remove_entry(key);
            self.last_removal = ctx.index;
            match fresh {
                Some(new_at) => self.notices.unraise(new_at),
                None => self.notices.raise(EventClass::GENERIC, "del", key),
            }
            return;
        }
        if changed {
            entry.updated_ms = ctx.now_ms;
            entry.version = ctx.index;
            if T::WAKES_BLOCKED {
                self.signal(key);
            }
        }
    }

    /// Stores `value` under `key`, replacing any value and clearing any TTL. A live key
    /// keeps its creation time. Returns the new entry.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: Value, ctx: &ApplyCtx) -> &mut Entry {
        let key = key.as_ref();
        let mut wakes = matches!(value, Value::List(_) | Value::ZSet(_) | Value::Stream(_));
        let created = match self.write(key, ctx) {
            Some(old) => {
                // A stream replaced by anything: its XREADGROUP waiters must hear.
                wakes |= matches!(old.value, Value::Stream(_));
                let created = old.created_ms;
                if old.expire_at != 0 {
                    let at = old.expire_at;
                    let hash = self.dict.hash_of(key);
                    self.expires.remove(&(at, hash));
                }
                created
            }
            None => {
                self.notices.raise(EventClass::NEW, "new", key);
                ctx.now_ms
            }
        };
        let mut entry = new_entry(value, ctx);
        entry.created_ms = created;
        if wakes {
            self.signal(key);
        }
        self.dict.upsert(Key::new(key), entry)
    }

    /// Removes `key` (an explicit removal: WATCH sees it). Expired keys count as absent.
    pub fn remove(&mut self, key: &[u8], ctx: &ApplyCtx) -> Option<Entry> {
        self.write(key, ctx)?;
        self.last_removal = ctx.index;
        self.remove_entry(key)
    }

    /// Deletes `key` as DEL does (and the commands that delete their destination or
    /// their key): removes it and raises `del`; false if it was absent.
    pub fn delete(&mut self, key: &[u8], ctx: &ApplyCtx) -> bool {
        let removed = self.remove(key, ctx).is_some();
        if removed {
            self.notices.raise(EventClass::GENERIC, "del", key);
        }
        removed
    }

    /// Removes `key`, which the write under way created with
    /// [`Keyspace::write_or_create`] and then could not use: for subscribers it never
    /// existed.
    pub fn discard_created(&mut self, key: &[u8], ctx: &ApplyCtx) {
        if let Some(new_at) = self.notices.take_created(key) {
            self.notices.unraise(new_at);
        }
        self.remove(key, ctx);
    }

    fn remove_entry(&mut self, key: &[u8]) -> Option<Entry> {
        let (_, entry) = self.dict.remove(key)?;
        if entry.expire_at != 0 {
            let hash = self.dict.hash_of(key);
            self.expires.remove(&(entry.expire_at, hash));
        }
        if matches!(entry.value, Value::Stream(_)) {
            // XREADGROUP clients blocked on a deleted stream are told it is gone.
            self.signal(key);
        }
        Some(entry)
    }

    fn expire_now(&mut self, key: &[u8]) {
        if self.remove_entry(key).is_some() {
            self.stats.expired += 1;
            self.notices.raise(EventClass::EXPIRED, "expired", key);
        }
    }

    /// Sets (`at > 0`) or clears (`at == 0`) the TTL of a live key; false if absent.
    pub fn set_expire(&mut self, key: &[u8], at: u64, ctx: &ApplyCtx) -> bool {
        let hash = self.dict.hash_of(key);
        let Some(entry) = self.write(key, ctx) else {
            return false;
        };
        let old = std::mem::replace(&mut entry.expire_at, at);
        entry.version = ctx.index;
        entry.updated_ms = ctx.now_ms;
        if old != 0 {
            self.expires.remove(&(old, hash));
        }
        if at != 0 {
            self.expires.insert((at, hash));
        }
        true
    }

    /// Removes `key` if its TTL has passed at `ctx.now_ms`; true if it did.
    pub fn expire_if_due(&mut self, key: &[u8], ctx: &ApplyCtx) -> bool {
        match self.dict.get(key) {
            Some(entry) if entry.is_expired(ctx.now_ms) => {
                self.expire_now(key);
                true
            }
            _ => false,
        }
    }

    /// Up to `limit` keys whose TTL passed at `now_ms`, oldest first.
    pub fn due_keys(&self, now_ms: u64, limit: usize) -> Vec<Bytes> {
        let mut keys = Vec::new();
        for &(at, hash) in &self.expires {
            if at >= now_ms || keys.len() >= limit {
                break;
            }
            for (key, entry) in self.dict.with_hash(hash) {
                if entry.expire_at == at {
                    keys.push(key.to_bytes());
                }
            }
        }
        keys
    }

    /// Removes every key.
    pub fn clear(&mut self, ctx: &ApplyCtx) {
        drop(self.take_all(ctx));
    }

    /// Removes every key and hands over the table that held them, so a snapshot under
    /// way can keep walking it instead of copying it first (FLUSHDB stays O(1) then).
    pub(crate) fn take_all(&mut self, ctx: &ApplyCtx) -> Dict<Key, Entry> {
        if !self.dict.is_empty() {
            self.last_removal = ctx.index;
        }
        self.expires.clear();
        std::mem::replace(&mut self.dict, Dict::with_seed(self.seed))
    }

    /// The table of keys as stored, expired entries included (snapshots copy it as is).
    pub(crate) fn dict(&self) -> &Dict<Key, Entry> {
        &self.dict
    }

    /// Log index of the last explicit removal; WATCH stamps of absent keys carry it.
    pub fn last_removal(&self) -> u64 {
        self.last_removal
    }

    /// An empty keyspace being restored from a snapshot: `capacity` keys will follow.
    pub(crate) fn restoring(seed: u64, last_removal: u64, capacity: usize) -> Self {
        let mut ks = Self::new(seed);
        ks.dict = Dict::with_capacity(seed, capacity);
        ks.last_removal = last_removal;
        ks
    }

    /// Stores a restored entry as is (metadata included); false if `key` was already
    /// there, which only a corrupt snapshot can cause.
    pub(crate) fn restore_entry(&mut self, key: &[u8], entry: Entry) -> bool {
        let expire_at = entry.expire_at;
        let (_, inserted) = self.dict.get_or_insert_with(Key::new(key), || entry);
        if inserted && expire_at != 0 {
            let hash = self.dict.hash_of(key);
            self.expires.insert((expire_at, hash));
        }
        inserted
    }

    /// The block at `key` being restored, to receive its pages.
    pub(crate) fn restoring_block(&mut self, key: &[u8]) -> Option<&mut BlockValue> {
        BlockValue::of_mut(&mut self.dict.get_mut(key)?.value)
    }

    /// What WATCH records for `key` at `now_ms`.
    pub fn watch_stamp(&self, key: &[u8], now_ms: u64) -> WatchStamp {
        match self.peek(key, now_ms) {
            Some(entry) => WatchStamp::Present(entry.version),
            None => WatchStamp::Absent(self.last_removal),
        }
    }

    /// Visits live entries from `cursor` (see [`Dict::scan`]); returns the next cursor.
    pub fn scan(
        &self,
        cursor: u64,
        budget: usize,
        now_ms: u64,
        mut f: impl FnMut(&Key, &Entry),
    ) -> u64 {
        self.dict.scan(cursor, budget, |k, e| {
            if !e.is_expired(now_ms) {
                f(k, e)
            }
        })
    }

    /// Every live entry.
    pub fn iter(&self, now_ms: u64) -> impl Iterator<Item = (&Key, &Entry)> {
        self.dict.iter().filter(move |(_, e)| !e.is_expired(now_ms))
    }

    /// The live key at or after `position` in hash order (see [`Dict::pick`]), trying a
    /// few positions when expired keys are in the way.
    pub fn pick(&self, position: u64, now_ms: u64) -> Option<(&Key, &Entry)> {
        let mut position = position;
        for _ in 0..64 {
            let (key, entry) = self.dict.pick(position)?;
            if !entry.is_expired(now_ms) {
                return Some((key, entry));
            }
            position = self.dict.hash_of(key.as_ref()).wrapping_add(1);
        }
        self.iter(now_ms).next()
    }

    /// Registers one more client blocked on `key`.
    pub fn add_blocked(&mut self, key: Bytes) {
        *self.blocked.entry(key).or_insert(0) += 1;
    }

    /// Unregisters one client blocked on `key`.
    pub fn remove_blocked(&mut self, key: &[u8]) {
        if let Some(count) = self.blocked.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                self.blocked.remove(key);
            }
        }
    }

    /// Notes that `key` gained data, if a client waits for it.
    pub fn signal(&mut self, key: &[u8]) {
        if !self.blocked.is_empty()
            && let Some((key, _)) = self.blocked.get_key_value(key)
            && !self.ready.contains(key)
        {
            self.ready.push(key.clone());
        }
    }

    /// Keys that gained data for blocked clients since the last call.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Keys blocked clients wait on that received data since the last call.
    pub fn take_ready(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.ready)
    }

    /// Raises keyspace event `event` of `class` on `key`, if the class is announced.
    #[inline]
    pub fn notify(&mut self, class: EventClass, event: &'static str, key: &[u8]) {
        self.notices.raise(class, event, key);
    }

    /// Which event classes this keyspace raises.
    pub(crate) fn set_raised(&mut self, classes: EventClass) {
        self.notices.raised = classes;
    }

    /// True when events were raised since the last [`Keyspace::take_notices`].
    pub(crate) fn has_notices(&self) -> bool {
        !self.notices.pending.is_empty()
    }

    /// The events raised since the last call, in order.
    pub(crate) fn take_notices(&mut self) -> Vec<(EventClass, &'static str, Bytes)> {
        self.notices.fresh = None;
        std::mem::take(&mut self.notices.pending)
    }
}

fn new_entry(value: Value, ctx: &ApplyCtx) -> Entry {
    Entry {
        value,
        expire_at: 0,
        created_ms: ctx.now_ms,
        updated_ms: ctx.now_ms,
        read_ms: ctx.now_ms,
        version: ctx.index,
    }
}
