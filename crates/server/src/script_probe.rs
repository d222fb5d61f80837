//! A probe (see `okapi_scripting`) that ran too long for an event loop, moved to a
//! blocking thread. It locks the shard for each call, not for the whole run, so the
//! loop it came from goes on serving (SCRIPT KILL among the rest); if the shard
//! applies anything while it runs, its reads are no longer one view and the script
//! goes through the log, where it runs atomically.

use std::sync::Arc;

use okapi_engine::script::ScriptOp;
use okapi_engine::{Engine, Op, OpKind, Reply};
use okapi_scripting::call::Dataset;

use crate::shard::Shard;

/// A shard seen through its lock, one call at a time.
struct LockedShard {
    shard: Arc<Shard>,
    /// The engine's change counter at the first call.
    changes: Option<u64>,
    databases: u32,
}

impl Dataset for LockedShard {
    fn with_engine(&mut self, f: &mut dyn FnMut(&mut Engine) -> Reply) -> Option<Reply> {
        let mut core = self.shard.lock();
        let now = core.engine.changes();
        if *self.changes.get_or_insert(now) != now {
            return None;
        }
        Some(f(&mut core.engine))
    }

    fn databases(&self) -> u32 {
        self.databases
    }
}

/// The data of a probe on `shard`: locked for each call, not for the run.
pub(crate) fn locked(shard: Arc<Shard>, databases: u32) -> Box<dyn Dataset> {
    Box::new(LockedShard {
        shard,
        changes: None,
        databases,
    })
}

/// Runs the probe of `op` (a script op) off the event loop; the reply, once the
/// probe (and, if it writes, its log entry) is done.
pub(crate) fn detached(
    shard: Arc<Shard>,
    op: Op,
    read_only: bool,
    now_ms: u64,
    databases: u32,
) -> crate::durability::BoxFuture<Reply> {
    Box::pin(async move {
        let probe_shard = shard.clone();
        let probe_op = op.clone();
        let probed = tokio::task::spawn_blocking(move || {
            let OpKind::Script(script) = &probe_op.kind else {
                return okapi_scripting::Outcome::Done(crate::execute::error_reply(
                    &"ERR not a script",
                ));
            };
            okapi_scripting::run::run(
                locked(probe_shard, databases),
                &invocation(probe_op.db, script, read_only),
                okapi_scripting::Mode::Probe {
                    now_ms,
                    inline: false,
                },
            )
            .0
        })
        .await;
        match probed {
            Ok(okapi_scripting::Outcome::Done(reply)) => reply,
            Ok(okapi_scripting::Outcome::NeedsLog | okapi_scripting::Outcome::Detach) => {
                let pending = {
                    let _core = shard.lock();
                    shard.log().append(vec![op], now_ms)
                };
                match pending.await {
                    Ok(Ok(replies)) => replies.into_iter().next().unwrap_or(Reply::Nil),
                    Ok(Err(e)) => crate::connection::log_error(&e),
                    Err(_) => crate::connection::log_closed(),
                }
            }
            Err(e) => crate::execute::error_reply(&format!("ERR the script's thread failed: {e}")),
        }
    })
}

/// The run of `script` in namespace `db`.
pub(crate) fn invocation(
    db: okapi_types::Namespace,
    script: &ScriptOp,
    read_only: bool,
) -> okapi_scripting::Invocation<'_> {
    okapi_scripting::Invocation {
        db,
        sha: &script.sha,
        source: &script.source,
        keys: &script.keys,
        args: &script.args,
        read_only,
        seed: script.seed,
        now_us: script.now_us,
        sharded: script.sharded,
        slot: script.slot,
        max_instructions: script.max_instructions,
    }
}
