//! Scripts as log entries. A script that writes (EVAL, EVALSHA, FCALL) travels through
//! the log with everything it depends on besides the data — its source, keys,
//! arguments, and the randomness and time the leader stamped — and every replica runs
//! it when it applies the entry, so all of them make the same changes in the same
//! order and a script is one atomic step of the log. The engine knows no Lua: the host
//! installs a [`ScriptHost`] once per process, and ops without one are refused.

use std::sync::OnceLock;

use bytes::Bytes;
use okapi_types::Namespace;

use crate::engine::{ApplyCtx, Engine};
use crate::error::EngineError;
use crate::reply::Reply;

/// A script run as a log op.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScriptOp {
    /// The script's SHA1, 40 lower-case hex digits (its name in error messages).
    pub sha: Bytes,
    /// The script's body.
    pub source: Bytes,
    /// `KEYS`.
    pub keys: Vec<Bytes>,
    /// `ARGV`.
    pub args: Vec<Bytes>,
    /// Seeds `math.random` and the picks of the commands the script calls (SPOP ...).
    pub seed: u64,
    /// The leader's time when the script was accepted, Unix microseconds (TIME).
    pub now_us: u64,
    /// The script runs on a node whose keyspace is split by slot: every key it touches
    /// must hash to `slot` (the declared keys' slot; `None`: it declared none and may
    /// touch none).
    pub sharded: bool,
    /// Slot of the declared keys when `sharded`.
    pub slot: Option<u16>,
    /// Lua instructions the script may run before it is stopped with an error (0: no
    /// limit). Stamped by the leader, so every replica stops it at the same
    /// instruction: a script that never ends cannot hang every replica, nor every
    /// restart that replays it.
    pub max_instructions: u64,
    /// EVAL_RO / EVALSHA_RO (or a `no-writes` shebang): write commands are refused
    /// inside, on every replica.
    pub read_only: bool,
    /// FCALL: the function to call, found in the dataset's libraries when the op
    /// applies (`sha` and `source` are then empty).
    pub function: Option<Bytes>,
}

/// What runs scripts for the engine (the scripting crate, installed by the host).
pub trait ScriptHost: Send + Sync {
    /// Runs `script` against `engine`, applying its writes with [`Engine::apply`].
    fn run(&self, engine: &mut Engine, db: Namespace, script: ScriptOp, ctx: &ApplyCtx) -> Reply;
    /// Reads a library's code (FUNCTION LOAD): its name and the functions it registers,
    /// or the error text Redis gives.
    fn load_library(&self, code: &[u8]) -> Result<crate::functions::Library, String>;
}

static HOST: OnceLock<Box<dyn ScriptHost>> = OnceLock::new();

/// Installs the process's script host; false if one was installed already.
pub fn install_script_host(host: Box<dyn ScriptHost>) -> bool {
    HOST.set(host).is_ok()
}

/// Reads a library through the installed host.
pub(crate) fn load_library(code: &[u8]) -> Result<crate::functions::Library, String> {
    match HOST.get() {
        Some(host) => host.load_library(code),
        None => Err("ERR scripting is not available in this process".into()),
    }
}

/// Applies a script op through the installed host.
pub(crate) fn apply(engine: &mut Engine, db: Namespace, script: ScriptOp, ctx: &ApplyCtx) -> Reply {
    match HOST.get() {
        Some(host) => host.run(engine, db, script, ctx),
        None => Reply::Error(EngineError::Other(
            "ERR scripting is not available in this process".into(),
        )),
    }
}
