//! One script run: a *probe* on the leader before the log (reads only; stops at the
//! first write) or the run of a log entry on every replica.

use bytes::Bytes;
use mlua::{Lua, MultiValue, Table, Value};
use okapi_engine::script::{ScriptHost, ScriptOp};
use okapi_engine::{ApplyCtx, Engine, EngineError, Reply};
use okapi_types::Namespace;

use crate::busy::Registration;
use crate::call::{self, CallState};
use crate::convert;
use crate::vm::{self, RandomState};

/// Instructions between two checks for SCRIPT KILL and the busy threshold.
pub(crate) const HOOK_EVERY: u32 = 10_000;

/// How a script runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// On the leader before the log, at `now_ms`: reads only, stopping at the first
    /// write.
    Probe {
        /// Current time, Unix ms.
        now_ms: u64,
        /// Running on an event loop: past [`INLINE_LIMIT`] the probe gives up with
        /// [`Outcome::Detach`], to be run again off the loop, where SCRIPT KILL can
        /// reach it.
        inline: bool,
    },
    /// Applying a log entry.
    Apply(ApplyCtx),
}

/// What a run gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The script's reply.
    Done(Reply),
    /// A probe met a write, or saw the data change under it: the script must go
    /// through the log.
    NeedsLog,
    /// An inline probe ran past [`INLINE_LIMIT`]; it changed nothing and must be run
    /// again off the event loop.
    Detach,
}

/// How long a probe runs on an event loop before it moves off it.
pub const INLINE_LIMIT: std::time::Duration = std::time::Duration::from_millis(2);

/// Everything a run depends on besides the data.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// Namespace the script starts in.
    pub db: Namespace,
    /// SHA1 of the body, lower-case hex.
    pub sha: &'a Bytes,
    /// The body.
    pub source: &'a Bytes,
    /// `KEYS`.
    pub keys: &'a [Bytes],
    /// `ARGV`.
    pub args: &'a [Bytes],
    /// Writes are refused (EVAL_RO).
    pub read_only: bool,
    /// Seeds `math.random` and the picks of called commands.
    pub seed: u64,
    /// TIME inside the script, Unix µs.
    pub now_us: u64,
    /// The keyspace is split by slot (see [`ScriptOp::sharded`]).
    pub sharded: bool,
    /// The declared keys' slot when sharded.
    pub slot: Option<u16>,
    /// Instructions a run from the log may execute (0: no limit; probes have none).
    pub max_instructions: u64,
    /// FCALL: the function to call, `source` being its library's code and `sha` the
    /// function's name (what errors name it by).
    pub function: Option<FunctionRef<'a>>,
}

/// FCALL's function: its name and its library's SHA1 ([`Library::sha`]).
///
/// [`Library::sha`]: okapi_engine::functions::Library::sha
#[derive(Debug, Clone, Copy)]
pub struct FunctionRef<'a> {
    /// The function's name.
    pub name: &'a Bytes,
    /// Its library's SHA1.
    pub library: &'a Bytes,
}

/// The engine's host for script ops.
pub(crate) struct Host;

impl ScriptHost for Host {
    fn load_library(&self, code: &[u8]) -> Result<okapi_engine::functions::Library, String> {
        crate::library::load(code)
    }

    fn run(&self, engine: &mut Engine, db: Namespace, op: ScriptOp, ctx: &ApplyCtx) -> Reply {
        // FCALL: the function as this replica's libraries hold it when the op applies.
        let (sha, source, library, read_only) = match &op.function {
            None => (op.sha.clone(), op.source.clone(), None, op.read_only),
            Some(name) => match engine.libraries().find(name) {
                Some((lib, meta)) => (
                    name.clone(),
                    lib.code.clone(),
                    Some(lib.sha.clone()),
                    op.read_only || meta.has("no-writes"),
                ),
                None => {
                    return Reply::Error(EngineError::Other("ERR Function not found".into()));
                }
            },
        };
        let invocation = Invocation {
            db,
            sha: &sha,
            source: &source,
            keys: &op.keys,
            args: &op.args,
            read_only,
            seed: op.seed,
            // The apply clock never goes back; TIME must not either.
            now_us: op.now_us.max(ctx.now_ms.saturating_mul(1000)),
            sharded: op.sharded,
            slot: op.slot,
            max_instructions: op.max_instructions,
            function: op
                .function
                .as_ref()
                .zip(library.as_ref())
                .map(|(name, library)| FunctionRef { name, library }),
        };
        // The run owns the engine while it lasts (the Lua functions that reach it live
        // as long as the interpreter) and hands it back, also if the run panics.
        let owned = std::mem::replace(engine, Engine::placeholder());
        let (outcome, data) = run(
            Box::new(call::OwnedEngine(owned)),
            &invocation,
            Mode::Apply(*ctx),
        );
        *engine = data
            .into_engine()
            .expect("a run hands back the data it was given, and this was an engine");
        match outcome {
            Outcome::Done(reply) => reply,
            Outcome::NeedsLog | Outcome::Detach => Reply::Error(EngineError::Other(
                "ERR a script applied from the log asked for the log".into(),
            )),
        }
    }
}

/// The protocol of the running script's calls (`redis.setresp`).
pub(crate) fn set_resp3(lua: &Lua, resp3: bool) {
    if let Some(flag) = lua.app_data_ref::<Resp3Flag>() {
        flag.0.set(resp3);
    }
}

fn resp3(lua: &Lua) -> bool {
    lua.app_data_ref::<Resp3Flag>()
        .is_some_and(|flag| flag.get())
}

/// Whether the running script asked for RESP3 replies (`redis.setresp(3)`).
#[derive(Debug, Default)]
pub(crate) struct Resp3Flag(std::cell::Cell<bool>);

impl Resp3Flag {
    /// True after `redis.setresp(3)`.
    pub(crate) fn get(&self) -> bool {
        self.0.get()
    }
}

/// What the instruction hook checks during a run (app data of the interpreter).
#[derive(Debug, Default)]
pub(crate) struct RunControl {
    running: Option<std::sync::Arc<crate::busy::Running>>,
    /// An inline probe gives up here.
    inline_deadline: Option<std::time::Instant>,
    /// Hook calls so far, and the count that stops a run from the log.
    steps: u64,
    step_limit: u64,
    max_instructions: u64,
    /// A probe met a write: unwind, even through the script's pcalls.
    pub(crate) stop: bool,
    detached: bool,
}

/// The instruction hook, installed once per interpreter: SCRIPT KILL, the inline
/// probe's deadline, a stopped probe and the instruction limit.
pub(crate) fn hook(lua: &Lua, _: &mlua::debug::Debug) -> mlua::Result<mlua::VmState> {
    let Some(mut control) = lua.app_data_mut::<RunControl>() else {
        return Ok(mlua::VmState::Continue);
    };
    if control.running.as_ref().is_some_and(|r| r.killed()) {
        return Err(mlua::Error::external(call::CallFailed(
            "ERR Script killed by user with SCRIPT KILL...".into(),
        )));
    }
    if control.stop {
        return Err(mlua::Error::RuntimeError("the script needs the log".into()));
    }
    if control
        .inline_deadline
        .is_some_and(|deadline| std::time::Instant::now() >= deadline)
    {
        control.detached = true;
        return Err(mlua::Error::RuntimeError(
            "the probe moves off the loop".into(),
        ));
    }
    // Counted in instructions, never in time: every replica stops at the same point.
    control.steps += 1;
    if control.steps >= control.step_limit {
        return Err(mlua::Error::external(call::CallFailed(format!(
            "ERR Script ran past script-instruction-limit ({} instructions) and was stopped; the writes it made before stay",
            control.max_instructions
        ))));
    }
    Ok(mlua::VmState::Continue)
}

/// Runs a script against `data`, which comes back with the outcome.
pub fn run(
    data: Box<dyn call::Dataset>,
    invocation: &Invocation<'_>,
    mode: Mode,
) -> (Outcome, Box<dyn call::Dataset>) {
    let mut data = Some(data);
    let result = vm::with_vm(|vm| {
        let function = match invocation.function {
            Some(f) => match crate::library::function(vm, invocation.source, f.library, f.name) {
                Ok(function) => function,
                Err(e) => return Outcome::Done(Reply::Error(EngineError::Other(e))),
            },
            None => match vm.function(invocation.sha, invocation.source) {
                Ok(function) => function,
                Err(e) => return Outcome::Done(Reply::Error(EngineError::Other(e.to_string()))),
            },
        };
        let (outcome, back) = run_in(
            vm,
            data.take().expect("taken only here"),
            invocation,
            mode,
            function,
        );
        data = Some(back);
        outcome
    });
    let data = data.expect("run_in hands the data back");
    match result {
        Ok(outcome) => (outcome, data),
        Err(e) => (
            Outcome::Done(Reply::Error(EngineError::Other(e.to_string()))),
            data,
        ),
    }
}

fn run_in(
    vm: &mut vm::Vm,
    data: Box<dyn call::Dataset>,
    invocation: &Invocation<'_>,
    mode: Mode,
    function: mlua::Function,
) -> (Outcome, Box<dyn call::Dataset>) {
    let lua = vm.lua.clone();
    if let Some(random) = lua.app_data_ref::<RandomState>() {
        random.state.set(invocation.seed);
    }
    set_resp3(&lua, false);
    let probe = matches!(mode, Mode::Probe { .. });
    let registration = Registration::start(probe);
    let step_limit = match mode {
        Mode::Apply(_) if invocation.max_instructions > 0 => {
            invocation.max_instructions.div_ceil(u64::from(HOOK_EVERY))
        }
        _ => u64::MAX,
    };
    lua.set_app_data(RunControl {
        running: Some(registration.running().clone()),
        inline_deadline: matches!(mode, Mode::Probe { inline: true, .. })
            .then(|| registration.started() + INLINE_LIMIT),
        steps: 0,
        step_limit,
        max_instructions: invocation.max_instructions,
        stop: false,
        detached: false,
    });
    lua.set_app_data(CallState::new(data, invocation, mode));
    let run = || -> mlua::Result<MultiValue> {
        let keys = strings(&lua, invocation.keys)?;
        let args = strings(&lua, invocation.args)?;
        if invocation.function.is_some() {
            // A function gets its keys and arguments as parameters, not as globals.
            return vm
                .function_runner
                .call::<MultiValue>((function, keys, args));
        }
        vm.hidden.raw_set(&vm.names.keys, keys)?;
        vm.hidden.raw_set(&vm.names.argv, args)?;
        vm.runner.call::<MultiValue>(function)
    };
    // A panic inside (a bug of okapi's, the same on every replica) must not lose the
    // data the run holds (for a log entry: the engine): it ends the script with an
    // error, as a Lua error would, keeping the writes made before it.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    let control = lua.remove_app_data::<RunControl>().unwrap_or_default();
    let state = lua
        .remove_app_data::<CallState>()
        .expect("set above and removed only here");
    drop(registration);
    let needs_log = state.needs_log;
    let data = state.into_data();
    let Ok(result) = result else {
        tracing::error!(script = %String::from_utf8_lossy(invocation.sha), "a script's run panicked");
        return (
            Outcome::Done(Reply::Error(EngineError::Other(
                "ERR the script's run failed inside okapi".into(),
            ))),
            data,
        );
    };
    if control.detached {
        return (Outcome::Detach, data);
    }
    if needs_log {
        return (Outcome::NeedsLog, data);
    }
    let resp3 = resp3(&lua);
    let outcome = Outcome::Done(match result {
        Err(e) => Reply::Error(EngineError::Other(format!("ERR {e}"))),
        Ok(values) => {
            let mut values = values.into_iter();
            let ok = matches!(values.next(), Some(Value::Boolean(true)));
            let value = values.next().unwrap_or(Value::Nil);
            if ok {
                convert::from_lua(&value, resp3)
            } else {
                failure(invocation.sha, &value)
            }
        }
    });
    (outcome, data)
}

fn strings(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        table.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(table)
}

/// The error reply of a script that raised: the error's text, then where it was
/// raised, as Redis 7.0 writes it.
fn failure(sha: &Bytes, error: &Value) -> Reply {
    let Value::Table(table) = error else {
        return Reply::Error(EngineError::Other(format!(
            "ERR Error running script {}, execution failure",
            String::from_utf8_lossy(sha)
        )));
    };
    let text = |name: &str| match table.raw_get::<Value>(name) {
        Ok(Value::String(s)) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        Ok(Value::Number(n)) => Some(format!("{}", n as i64)),
        Ok(Value::Integer(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut message = text("err").unwrap_or_else(|| "ERR unknown error".to_owned());
    if let (Some(source), Some(line)) = (text("source"), text("line")) {
        message.push_str(&format!(
            " script: {}, on {source}:{line}.",
            String::from_utf8_lossy(sha)
        ));
    }
    Reply::Error(EngineError::Other(message.replace(['\r', '\n'], " ")))
}

/// `xpcall`'s handler: turns what was raised into `{err, source, line}`, the position
/// being the script's innermost frame (okapi's own and C frames skipped), as Redis's
/// `__redis__err__handler` does.
pub(crate) fn error_handler(lua: &Lua, error: Value) -> mlua::Result<Table> {
    let mut place = None;
    for level in 1..64 {
        let Some((what, source, line)) = lua.inspect_stack(level, |debug| {
            let source = debug.source();
            let name = source.source.map(|s| s.into_owned());
            (source.what, name, debug.current_line())
        }) else {
            break;
        };
        if what == "C" || source.as_deref() == Some("=okapi") {
            continue;
        }
        place = source.zip(line);
        break;
    }
    let table = match error {
        Value::Table(table) => table,
        Value::Error(e) => match e.downcast_ref::<call::CallFailed>() {
            Some(failed) => convert::error_table(lua, &failed.0)?,
            // A library function's error names the script's line first, as
            // `luaL_error` does.
            None => {
                let at = place.as_ref().map_or_else(String::new, |(source, line)| {
                    format!("{}:{line}: ", source.trim_start_matches(['@', '=']))
                });
                convert::error_table(lua, &format!("ERR {at}{}", lua_error_text(&e)))?
            }
        },
        other => {
            let text = match &other {
                Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                other => other.to_string().unwrap_or_default(),
            };
            convert::error_table(lua, &format!("ERR {text}"))?
        }
    };
    if let Some((source, line)) = place {
        table.raw_set("source", source)?;
        table.raw_set("line", line)?;
    }
    Ok(table)
}

/// The text of an error raised from Rust (a callback's message, without mlua's
/// traceback).
fn lua_error_text(error: &mlua::Error) -> String {
    match error {
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        mlua::Error::RuntimeError(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
