//! [`Service`]: the node's data operations for front ends other than RESP (NBD, HTTP).
//! Reads run against the engine under its lock and writes go through the same
//! replicated log, exactly as RESP commands do, so every front end sees one dataset
//! with one set of rules.

use std::sync::Arc;

use bytes::Bytes;
use okapi_engine::blocks::{BlockOp, BlockValue};
use okapi_engine::value::Value;
use okapi_engine::{EngineError, Op, OpKind, Query, ReadCtx, Reply, TxnItem};
use okapi_types::Namespace;

use crate::clock::now_ms;
use crate::log::LogError;
use crate::shared::{Shared, random_u64};

/// A value as of one moment, readable without the engine lock: a string's bytes
/// (shared when large) or a block's pages (shared copy-on-write, so later writes do not
/// change it). Streaming a body from it never mixes two versions.
#[derive(Debug, Clone)]
pub enum ValueView {
    /// A string.
    Str(Bytes),
    /// A block.
    Block(BlockValue),
    /// Another type, by its TYPE name (not served as bytes).
    Other(&'static str),
}

/// A key's value and the log index of its last change (an ETag).
#[derive(Debug, Clone)]
pub struct Viewed {
    /// The value.
    pub value: ValueView,
    /// Log index of the last change; changes with every write.
    pub version: u64,
}

/// What a key holds, without its bytes: enough to check a precondition or choose
/// how to write, without copying or cloning the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A string of this many bytes.
    Str(u64),
    /// A block of this many bytes.
    Block(u64),
    /// Another type, by its TYPE name.
    Other(&'static str),
}

/// A key's kind and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// What the key holds.
    pub kind: ValueKind,
    /// Log index of the last change.
    pub version: u64,
}

impl Viewed {
    /// The bytes of `[offset, offset + len)` (cut at the end), as shared pieces.
    pub fn read(&self, offset: u64, len: u64) -> Vec<Bytes> {
        match &self.value {
            ValueView::Str(b) => {
                let start = offset.min(b.len() as u64) as usize;
                let end = offset.saturating_add(len).min(b.len() as u64) as usize;
                vec![b.slice(start..end)]
            }
            ValueView::Block(block) => block.read(offset, len),
            ValueView::Other(_) => Vec::new(),
        }
    }
}

/// A handle on the node's data, cheap to clone.
#[derive(Clone)]
pub struct Service {
    shared: Arc<Shared>,
}

impl Service {
    /// The service of the node behind `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Answers a read of `key` from memory, as a RESP read would be: on the shard
    /// that holds `key`.
    pub fn query(&self, key: &[u8], query: &Query) -> Reply {
        let ctx = ReadCtx {
            now_ms: now_ms(),
            random: random_u64(),
        };
        match self.shard_for(key, true) {
            Ok(shard) => shard.lock().engine.query(query, &ctx),
            Err(e) => Reply::Error(EngineError::Other(e.to_string())),
        }
    }

    /// The value of `key` in namespace `db` as of now, with its version; `None` when
    /// absent (or expired). Counts as a read for hit/miss statistics.
    pub fn view(&self, db: Namespace, key: &[u8]) -> Result<Option<Viewed>, EngineError> {
        let now = now_ms();
        let shard = self
            .shard_for(key, true)
            .map_err(|e| EngineError::Other(e.to_string()))?;
        let mut core = shard.lock();
        let ks = core
            .engine
            .space_mut_for_read(db)
            .ok_or(EngineError::DbIndexOutOfRange)?;
        Ok(ks.read(key, now).map(|entry| Viewed {
            value: match &entry.value {
                Value::Str(s) => ValueView::Str(s.to_bytes()),
                Value::Block(b) => ValueView::Block(b.clone()),
                other => ValueView::Other(other.type_name()),
            },
            version: entry.version,
        }))
    }

    /// What `key` in namespace `db` holds and its version, without reading the value
    /// (no statistics, no copy); `None` when absent (or expired).
    pub fn stat(&self, db: Namespace, key: &[u8]) -> Result<Option<Stat>, EngineError> {
        let now = now_ms();
        let shard = self
            .shard_for(key, true)
            .map_err(|e| EngineError::Other(e.to_string()))?;
        let core = shard.lock();
        let ks = core
            .engine
            .space(db)
            .ok_or(EngineError::DbIndexOutOfRange)?;
        Ok(ks.peek(key, now).map(|entry| Stat {
            kind: match &entry.value {
                Value::Str(s) => ValueKind::Str(s.len() as u64),
                Value::Block(b) => ValueKind::Block(b.len()),
                other => ValueKind::Other(other.type_name()),
            },
            version: entry.version,
        }))
    }

    /// True while the dataset is loading: front ends refuse data requests meanwhile.
    pub fn loading(&self) -> bool {
        self.shared.loading.is_loading()
    }

    /// Whether protected mode refuses a client from `peer` (see [`crate::access`]).
    pub fn protected_mode_refuses(&self, peer: std::net::IpAddr) -> bool {
        crate::access::protected_mode_refuses(&self.shared.settings(), Some(peer))
    }

    /// True when a password is set: clients must present it.
    pub fn password_required(&self) -> bool {
        self.shared.settings().requirepass.is_some()
    }

    /// Whether `user` (`None`: the default user) and `password` log in.
    pub fn login(&self, user: Option<&[u8]>, password: &[u8]) -> bool {
        crate::access::password_ok(&self.shared.settings(), user, password)
    }

    /// Whether NBD, which has no password mechanism, may open an export now: not while
    /// a password is set, unless the operator started the node with
    /// `nbd-unauthenticated`.
    pub fn unauthenticated_front_ends_allowed(&self) -> bool {
        let settings = self.shared.settings();
        settings.requirepass.is_none() || settings.nbd_unauthenticated
    }

    /// Number of namespaces (fixed for the server's life).
    pub fn databases(&self) -> u32 {
        self.shared.settings().databases
    }

    /// Submits a write of `key` and returns its reply once committed and applied. A block
    /// write too large for one log entry is split and its replies merged, as for RESP.
    /// The append happens before this returns its future, so writes keep the order in
    /// which they were submitted.
    pub fn write(
        &self,
        key: &[u8],
        op: Op,
    ) -> impl std::future::Future<Output = Result<Reply, LogError>> + Send + 'static + use<> {
        let over_memory = self.over_memory(&op);
        let (ops, merge) = match okapi_engine::blocks::split_op(&op) {
            Some((ops, merge)) => (ops, Some(merge)),
            None => (vec![op], None),
        };
        let appended = if over_memory {
            Err(LogError::OverMemory)
        } else {
            // Under the engine lock, as RESP appends: ordered with the reads around it.
            self.shard_for(key, false).map(|shard| {
                let _core = shard.lock();
                shard.log().append(ops, now_ms())
            })
        };
        async move {
            let rx = appended?;
            let replies = rx
                .await
                .map_err(|_| LogError::Unknown("the log stopped before it replied".into()))??;
            Ok(match merge {
                Some(merge) => merge.merge(replies),
                None => replies.into_iter().next().unwrap_or(Reply::Nil),
            })
        }
    }

    /// The local shard that serves `key` and whose group this node leads; on a node
    /// of a cluster that does not, the group's leader (as `NotLeader`).
    fn shard_for(&self, key: &[u8], read: bool) -> Result<Arc<crate::shard::Shard>, LogError> {
        use crate::shard::Serving;
        let layout = self.shared.shards.layout();
        if layout.cluster_view().is_none() {
            return layout
                .for_key(key)
                .cloned()
                .ok_or(LogError::NotLeader(None));
        }
        // The same decision as RESP's routing (no READONLY here).
        match layout.serving(okapi_types::key_slot(key).0, read, false) {
            Serving::Here(index) => Ok(layout.shards()[index].clone()),
            Serving::Elsewhere(node) => Err(LogError::NotLeader(Some(node))),
            Serving::Electing | Serving::Unserved => Err(LogError::NotLeader(None)),
        }
    }

    /// True when `maxmemory` is exceeded and `op` would add data (as RESP refuses
    /// DENYOOM commands); clearing, truncating and deleting stay allowed, they free it.
    fn over_memory(&self, op: &Op) -> bool {
        let adds = match &op.kind {
            OpKind::Block(BlockOp::Zero { .. } | BlockOp::Truncate { .. }) => false,
            OpKind::Key(_) => false,
            OpKind::Txn(txn) => txn.items.iter().any(
                |item| matches!(item, TxnItem::Write(op) if !matches!(op.kind, OpKind::Key(_))),
            ),
            _ => true,
        };
        if !adds {
            return false;
        }
        let maxmemory = self.shared.settings().maxmemory;
        maxmemory > 0 && self.shared.used_memory() > maxmemory
    }

    /// Makes acknowledged writes durable per `appendfsync` (see
    /// [`crate::Durability::flush`]); nothing to do on a node without persistence.
    pub async fn flush(&self) -> Result<(), String> {
        match self.shared.durability.get() {
            Some(durability) => durability.flush().await,
            None => Ok(()),
        }
    }

    /// Resolves when the server begins shutting down.
    pub async fn shutdown(&self) {
        let mut rx = self.shared.shutdown.subscribe();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}
