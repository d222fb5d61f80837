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

/// What a script call runs: the body and name the probe runs and errors name, and
/// whether it may write.
pub(crate) struct Body {
    /// The script's SHA1, or the function's name.
    pub(crate) sha: bytes::Bytes,
    /// The script, or the function's library code.
    pub(crate) source: bytes::Bytes,
    /// Writes are refused.
    pub(crate) read_only: bool,
    /// FCALL's function, and its library's SHA1.
    pub(crate) function: Option<(bytes::Bytes, bytes::Bytes)>,
}

impl Body {
    /// The log op's script: a function call carries only the function's name (each
    /// replica finds it in its own libraries).
    pub(crate) fn op(
        &self,
        call: &okapi_commands::ScriptCall,
        now_us: u64,
        layout: &crate::shard::Layout,
        max_instructions: u64,
    ) -> ScriptOp {
        let (sha, source) = match self.function {
            Some(_) => (bytes::Bytes::new(), bytes::Bytes::new()),
            None => (self.sha.clone(), self.source.clone()),
        };
        ScriptOp {
            sha,
            source,
            keys: call.keys.clone(),
            args: call.args.clone(),
            seed: call.seed,
            now_us,
            sharded: !layout.is_single(),
            slot: call.keys.first().map(|k| okapi_types::key_slot(k).0),
            max_instructions,
            read_only: self.read_only,
            function: self.function.as_ref().map(|(name, _)| name.clone()),
        }
    }

    /// The probe's run of `script` (made by [`Body::op`]).
    pub(crate) fn invocation<'a>(
        &'a self,
        db: okapi_types::Namespace,
        script: &'a ScriptOp,
    ) -> okapi_scripting::Invocation<'a> {
        okapi_scripting::Invocation {
            db,
            sha: &self.sha,
            source: &self.source,
            keys: &script.keys,
            args: &script.args,
            read_only: self.read_only,
            seed: script.seed,
            now_us: script.now_us,
            sharded: script.sharded,
            slot: script.slot,
            max_instructions: script.max_instructions,
            function: self
                .function
                .as_ref()
                .map(|(name, library)| okapi_scripting::FunctionRef { name, library }),
        }
    }
}

/// Runs the probe of `op` (a script op) off the event loop; the reply, once the
/// probe (and, if it writes, its log entry) is done.
pub(crate) fn detached(
    shard: Arc<Shard>,
    op: Op,
    body: Body,
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
                &body.invocation(probe_op.db, script),
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
