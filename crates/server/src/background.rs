//! Periodic work: active expiry (expired keys are removed through the log, so every
//! replica removes the same keys) and the ops-per-second sampler.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ms;
use crate::shard::Shard;
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
        // Until the dataset is loaded there is no log to expire through, and the
        // engine may hold half a dataset.
        // Nothing expires while clients are paused (as in Redis): a failover tool
        // pausing writes expects the dataset to hold still.
        if !shared.loading.is_loading() && !shared.pause.active() {
            for shard in shared.shards.all() {
                if shard.log().leads() {
                    expire_round(&shard, now);
                }
            }
        }
    }
}

/// Removes keys of `shard` whose TTL passed, a bounded amount per call. The removal
/// applies later, through the log; the next tick sees its result.
pub fn expire_round(shard: &Shard, now: u64) {
    let core = shard.lock();
    let ops = core.engine.expiry_ops(now, EXPIRE_BATCH);
    if !ops.is_empty() {
        // Fire and forget: nobody waits for the replies of active expiry.
        drop(shard.log().append(ops, now));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;
    use okapi_engine::strings::{SetCond, SetExpire, StringOp};
    use okapi_engine::{ApplyCtx, Engine, Op};
    use okapi_types::Namespace;

    use super::*;
    use crate::log::{Pending, ReplicatedLog};

    /// Records what is appended; never replies.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Op>>);

    impl ReplicatedLog for Recorder {
        fn append(&self, ops: Vec<Op>, _now_ms: u64) -> Pending {
            self.0.lock().expect("recorder lock").extend(ops);
            tokio::sync::oneshot::channel().1
        }

        fn last_index(&self) -> u64 {
            0
        }

        fn leads(&self) -> bool {
            true
        }
    }

    #[test]
    fn one_round_expires_due_keys_of_every_namespace() {
        let mut engine = Engine::new(4, 1);
        for (index, db) in [0u32, 2].into_iter().enumerate() {
            let op = Op {
                db: Namespace(db),
                kind: StringOp::Set {
                    key: Bytes::from_static(b"k"),
                    value: Bytes::from_static(b"v"),
                    cond: SetCond::Always,
                    get: false,
                    expire: SetExpire::At(10),
                }
                .into(),
            };
            engine.apply(
                op,
                &ApplyCtx {
                    now_ms: 1,
                    index: index as u64 + 1,
                },
            );
        }
        let log = Arc::new(Recorder::default());
        let shard = Shard::new(okapi_types::GroupId(0), engine, log.clone());
        expire_round(&shard, 20);
        let mut dbs: Vec<u32> = log
            .0
            .lock()
            .expect("recorder lock")
            .iter()
            .map(|op| op.db.0)
            .collect();
        dbs.sort_unstable();
        assert_eq!(dbs, vec![0, 2]);
    }
}
