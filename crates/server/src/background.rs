//! Periodic work: active expiry (expired keys are removed through the log, so every
//! replica removes the same keys) and the ops-per-second sampler.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ms;
use crate::shared::Shared;

/// Keys examined per namespace per round.
const EXPIRE_BATCH: usize = 200;

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

/// Removes keys whose TTL passed, a bounded amount per call. The removal applies
/// later, through the log; the next tick sees its result.
pub fn expire_round(shared: &Shared, now: u64) {
    let core = shared.lock();
    if let Some(op) = core.engine.expiry_ops(now, EXPIRE_BATCH).into_iter().next() {
        // Fire and forget: nobody waits for the replies of active expiry.
        drop(shared.log.append(vec![op], now));
    }
}
