//! Periodic work: active expiry (expired keys are removed through the log, so every
//! replica removes the same keys) and the ops-per-second sampler.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ms;
use crate::log::Appended;
use crate::shared::Shared;

/// Keys examined per namespace per round.
const EXPIRE_BATCH: usize = 200;
/// Rounds per tick when many keys are due, before yielding to clients.
const MAX_ROUNDS: usize = 16;

/// Runs until shutdown.
pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let hz = shared.settings().hz.max(1);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(1000 / u64::from(hz))) => {}
            _ = shutdown.changed() => return,
        }
        let now = now_ms();
        shared.stats.sample(now);
        shared.used_memory();
        expire_round(&shared, now);
    }
}

/// Removes keys whose TTL passed, a bounded amount per call.
pub fn expire_round(shared: &Shared, now: u64) {
    for _ in 0..MAX_ROUNDS {
        let mut core = shared.lock();
        let core = &mut *core;
        let ops = core.engine.expiry_ops(now, EXPIRE_BATCH);
        if ops.is_empty() {
            return;
        }
        let mut full = false;
        for op in ops {
            if let okapi_engine::OpKind::Key(okapi_engine::keys::KeyOp::ExpireDue { keys }) =
                &op.kind
            {
                full |= keys.len() >= EXPIRE_BATCH;
            }
            match shared.log.append(&mut core.engine, vec![op], now) {
                Appended::Applied(_) => {}
                // A replicated log applies later; the next tick sees the result.
                Appended::Pending(_) => return,
            }
        }
        if !full {
            return;
        }
    }
}
