//! Clients blocked in BLPOP-style commands and in XREAD / XREADGROUP BLOCK. Waiters
//! queue per key in arrival order; when an applied write feeds a key, apply wakes
//! [`serve_loop`], which serves the waiters in order under the engine lock: the
//! engine says how ([`Engine::serve_wait`]) — pops and group reads are appended to the
//! log, XREAD is answered from memory. Apply itself never appends: it runs on every
//! replica and on replay, and must depend on nothing but the log.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use okapi_engine::{Engine, Reply, Serve, Wait};
use okapi_types::Namespace;
use tokio::sync::oneshot;

use crate::log::{Pending, ReplicatedLog};

/// How a blocked client is released.
#[derive(Debug)]
pub enum Wake {
    /// Its op was appended; the reply comes when it applies (nil: block again).
    Pending(Pending),
    /// CLIENT UNBLOCK: reply a timeout (`error == false`) or an error.
    Unblocked {
        /// Reply `-UNBLOCKED` instead of a timeout.
        error: bool,
    },
}

struct Waiter {
    db: Namespace,
    keys: Vec<Bytes>,
    wait: Wait,
    wake: oneshot::Sender<Wake>,
}

/// A pending reply that is already known.
pub fn ready_reply(reply: Reply) -> Pending {
    let (tx, rx) = oneshot::channel();
    let _ = tx.send(Ok(vec![reply]));
    rx
}

/// What a client about to block does instead, if one of its keys can serve it now
/// (data may have arrived between its attempt and its registration).
pub fn serve_now(
    engine: &mut Engine,
    log: &dyn ReplicatedLog,
    keys: &[Bytes],
    wait: &Wait,
    now_ms: u64,
) -> Option<Pending> {
    keys.iter()
        .find_map(|key| match engine.serve_wait(wait, key, now_ms) {
            Serve::Append(op) => Some(log.append(vec![op], now_ms)),
            Serve::Reply(reply) => Some(ready_reply(reply)),
            Serve::NotYet => None,
        })
}

/// Blocked clients, by client id and by key.
#[derive(Default)]
pub struct BlockRegistry {
    waiters: HashMap<u64, Waiter>,
    queues: HashMap<(Namespace, Bytes), VecDeque<u64>>,
}

/// True for the replies that mean "nothing to pop yet".
pub fn is_empty_reply(reply: &Reply) -> bool {
    matches!(reply, Reply::Nil | Reply::NilArray)
}

impl BlockRegistry {
    /// Number of blocked clients.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// True when nobody is blocked.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// True if any of `keys` exists (a pop's attempt finds nothing otherwise).
    pub fn any_exists(engine: &Engine, db: Namespace, keys: &[Bytes], now_ms: u64) -> bool {
        engine
            .space(db)
            .is_some_and(|ks| keys.iter().any(|k| ks.peek(k, now_ms).is_some()))
    }

    /// Blocks client `id` on `keys` until `wait` can be served.
    pub fn block(
        &mut self,
        engine: &mut Engine,
        id: u64,
        db: Namespace,
        keys: Vec<Bytes>,
        wait: Wait,
    ) -> oneshot::Receiver<Wake> {
        let (tx, rx) = oneshot::channel();
        for key in &keys {
            engine.add_blocked(db, key.clone());
            self.queues
                .entry((db, key.clone()))
                .or_default()
                .push_back(id);
        }
        self.waiters.insert(
            id,
            Waiter {
                db,
                keys,
                wait,
                wake: tx,
            },
        );
        rx
    }

    /// Removes client `id`; true if it was still blocked.
    pub fn remove(&mut self, engine: &mut Engine, id: u64) -> bool {
        self.take(engine, id).is_some()
    }

    fn take(&mut self, engine: &mut Engine, id: u64) -> Option<Waiter> {
        let waiter = self.waiters.remove(&id)?;
        for key in &waiter.keys {
            engine.remove_blocked(waiter.db, key);
            let slot = (waiter.db, key.clone());
            if let Some(queue) = self.queues.get_mut(&slot) {
                queue.retain(|&w| w != id);
                if queue.is_empty() {
                    self.queues.remove(&slot);
                }
            }
        }
        Some(waiter)
    }

    /// CLIENT UNBLOCK: releases client `id`; true if it was blocked.
    pub fn unblock(&mut self, engine: &mut Engine, id: u64, error: bool) -> bool {
        match self.take(engine, id) {
            Some(waiter) => {
                let _ = waiter.wake.send(Wake::Unblocked { error });
                true
            }
            None => false,
        }
    }

    /// Serves waiters of keys that received data, first come first served, until each
    /// key runs dry. Serving may feed further keys (BLMOVE), which are served too.
    pub fn serve(&mut self, engine: &mut Engine, log: &dyn ReplicatedLog, now_ms: u64) {
        if self.waiters.is_empty() {
            return;
        }
        loop {
            let ready = engine.take_ready();
            if ready.is_empty() {
                return;
            }
            for (db, key) in ready {
                let queued: Vec<u64> = match self.queues.get(&(db, key.clone())) {
                    Some(queue) => queue.iter().copied().collect(),
                    None => continue,
                };
                for id in queued {
                    let Some(waiter) = self.waiters.get(&id) else {
                        continue;
                    };
                    let rx = match engine.serve_wait(&waiter.wait, &key, now_ms) {
                        Serve::Append(op) => log.append(vec![op], now_ms),
                        Serve::Reply(reply) => ready_reply(reply),
                        Serve::NotYet => continue,
                    };
                    if let Some(waiter) = self.take(engine, id) {
                        let _ = waiter.wake.send(Wake::Pending(rx));
                    }
                }
            }
        }
    }
}

/// Serves `shard`'s blocked clients whenever apply reports that their keys received
/// data, until `stop` changes (the group stopped, or shutdown). Runs where the
/// clients are (the leader).
pub async fn serve_loop(
    shard: std::sync::Arc<crate::shard::Shard>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = shard.blocked_ready() => {}
            _ = stop.changed() => return,
        }
        let mut core = shard.lock();
        let core = &mut *core;
        core.blocked
            .serve(&mut core.engine, shard.log(), crate::clock::now_ms());
    }
}
