//! [`Service`]: the node's data operations for front ends other than RESP (NBD, HTTP).
//! Reads run against the engine under its lock and writes go through the same
//! replicated log, exactly as RESP commands do, so every front end sees one dataset
//! with one set of rules.

use std::sync::Arc;

use okapi_engine::{Op, Query, ReadCtx, Reply};

use crate::clock::now_ms;
use crate::log::LogError;
use crate::shared::{Shared, random_u64};

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

    /// Answers a read from memory, as a RESP read would be.
    pub fn query(&self, query: &Query) -> Reply {
        let ctx = ReadCtx {
            now_ms: now_ms(),
            random: random_u64(),
        };
        self.shared.lock().engine.query(query, &ctx)
    }

    /// Submits a write and returns its reply once committed and applied. A block
    /// write too large for one log entry is split and its replies merged, as for RESP.
    /// The append happens before this returns its future, so writes keep the order in
    /// which they were submitted.
    pub fn write(
        &self,
        op: Op,
    ) -> impl std::future::Future<Output = Result<Reply, LogError>> + Send + 'static {
        let (ops, merge) = match okapi_engine::blocks::split_op(&op) {
            Some((ops, merge)) => (ops, Some(merge)),
            None => (vec![op], None),
        };
        let rx = {
            // Under the engine lock, as RESP appends: ordered with the reads around it.
            let _core = self.shared.lock();
            self.shared.log.append(ops, now_ms())
        };
        async move {
            let replies = rx
                .await
                .map_err(|_| LogError::Dropped("the log went away".into()))??;
            Ok(match merge {
                Some(merge) => merge.merge(replies),
                None => replies.into_iter().next().unwrap_or(Reply::Nil),
            })
        }
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
