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
    pub function: Option<&'a Bytes>,
}

/// The engine's host for script ops.
pub(crate) struct Host;

impl ScriptHost for Host {
    fn load_library(&self, code: &[u8]) -> Result<okapi_engine::functions::Library, String> {
        crate::library::load(code)
    }

    fn run(&self, engine: &mut Engine, db: Namespace, op: ScriptOp, ctx: &ApplyCtx) -> Reply {
        // FCALL: the function as this replica's libraries hold it when the op applies.
        let (sha, source, read_only) = match &op.function {
            None => (op.sha.clone(), op.source.clone(), op.read_only),
            Some(name) => match engine.libraries().find(name) {
                Some((lib, meta)) => (
                    name.clone(),
                    lib.code.clone(),
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
            function: op.function.as_ref(),
        };
        // The run owns the engine while it lasts (the Lua functions that reach it live
        // as long as the interpreter) and hands it back, also if the run panics.
        let owned = std::mem::replace(engine, Engine::placeholder());
        let (outcome, data) = run(
            Box::new(call::OwnedEngine(owned)),
            &invocation,
            Mode::Apply(*ctx),
        );
        if let Some(owned) = data.into_engine() {
            *engine = owned;
        }
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
            Some(name) => match crate::library::function(vm, invocation.source, name) {
                Ok(function) => function,
                Err(e) => return Outcome::Done(Reply::Error(EngineError::Other(e))),
            },
            None => match vm.function(invocation.sha, invocation.source) {
                Ok(function) => function,
                Err(e) => return Outcome::Done(Reply::Error(EngineError::Other(e.to_string()))),
            },
        };
        run_in(vm, &mut data, invocation, mode, function)
    });
    let data = data.unwrap_or_else(|| Box::new(call::Lost));
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
    data: &mut Option<Box<dyn call::Dataset>>,
    invocation: &Invocation<'_>,
    mode: Mode,
    function: mlua::Function,
) -> Outcome {
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
    let Some(taken) = data.take() else {
        return Outcome::Done(Reply::Error(EngineError::Other(
            "ERR the script has no data to run on".into(),
        )));
    };
    lua.set_app_data(CallState::new(taken, invocation, mode));
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
    // A panic inside must not lose the data the run holds (for a log entry: the engine).
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    let control = lua.remove_app_data::<RunControl>().unwrap_or_default();
    let state = lua.remove_app_data::<CallState>();
    drop(registration);
    let needs_log = state.as_ref().is_some_and(|s| s.needs_log);
    *data = state.map(CallState::into_data);
    let result = match result {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    if control.detached {
        return Outcome::Detach;
    }
    if needs_log {
        return Outcome::NeedsLog;
    }
    let resp3 = resp3(&lua);
    Outcome::Done(match result {
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
    })
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
mod tests {
    use super::*;

    fn eval(
        engine: &mut Engine,
        source: &str,
        keys: &[&str],
        args: &[&str],
        mode: Mode,
    ) -> Outcome {
        let source = Bytes::from(source.to_owned());
        let sha = crate::sha1_hex(&source);
        let keys: Vec<Bytes> = keys.iter().map(|k| Bytes::from(k.to_string())).collect();
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
        let invocation = Invocation {
            db: Namespace(0),
            sha: &sha,
            source: &source,
            keys: &keys,
            args: &args,
            read_only: false,
            seed: 7,
            now_us: 1_700_000_000_000_000,
            sharded: false,
            slot: None,
            max_instructions: 50_000_000,
            function: None,
        };
        let owned = std::mem::replace(engine, Engine::placeholder());
        let (outcome, data) = run(Box::new(call::OwnedEngine(owned)), &invocation, mode);
        *engine = data.into_engine().expect("the engine comes back");
        outcome
    }

    fn apply() -> Mode {
        Mode::Apply(ApplyCtx {
            now_ms: 1_700_000_000_000,
            index: 5,
        })
    }

    fn error_text(outcome: Outcome) -> String {
        match outcome {
            Outcome::Done(Reply::Error(e)) => e.to_string(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn a_probe_answers_reads_and_stops_at_the_first_write() {
        let mut engine = Engine::new(16, 1);
        let probe = Mode::Probe {
            now_ms: 1_700_000_000_000,
            inline: true,
        };
        assert_eq!(
            eval(
                &mut engine,
                "return redis.call('get', KEYS[1])",
                &["k"],
                &[],
                probe
            ),
            Outcome::Done(Reply::Nil)
        );
        assert_eq!(
            eval(
                &mut engine,
                "pcall(redis.call, 'set', KEYS[1], 'v') while true do end",
                &["k"],
                &[],
                probe
            ),
            Outcome::NeedsLog
        );
        let set = "redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1])";
        assert_eq!(
            eval(&mut engine, set, &["k"], &["v"], apply()),
            Outcome::Done(Reply::Bulk(Bytes::from_static(b"v")))
        );
    }

    #[test]
    fn conversions_follow_redis() {
        let mut engine = Engine::new(16, 1);
        let reply = eval(
            &mut engine,
            "return {1, 'x', {ok='fine'}, {err='bad'}, 3.99, true, false, nil, 4}",
            &[],
            &[],
            apply(),
        );
        let Outcome::Done(Reply::Array(items)) = reply else {
            panic!("{reply:?}");
        };
        assert_eq!(items.len(), 7);
        assert_eq!(items[0], Reply::Int(1));
        assert_eq!(items[2], Reply::StatusText("fine".into()));
        assert!(items[3].is_error());
        assert_eq!(items[4], Reply::Int(3));
        assert_eq!(items[5], Reply::Int(1));
        assert_eq!(items[6], Reply::Nil);
    }

    #[test]
    fn errors_read_as_redis_s() {
        let mut engine = Engine::new(16, 1);
        let e = error_text(eval(&mut engine, "x = 1", &[], &[], apply()));
        assert!(
            e.starts_with("ERR user_script:1: Attempt to modify a readonly table script: "),
            "{e}"
        );
        assert!(e.ends_with(", on @user_script:1."), "{e}");
        let e = error_text(eval(&mut engine, "return y", &[], &[], apply()));
        assert!(
            e.starts_with(
                "ERR user_script:1: Script attempted to access nonexistent global variable 'y'"
            ),
            "{e}"
        );
        let e = error_text(eval(
            &mut engine,
            "\n\nreturn redis.call('nosuch')",
            &[],
            &[],
            apply(),
        ));
        assert!(
            e.starts_with("ERR Unknown Redis command called from script script: "),
            "{e}"
        );
        assert!(e.ends_with(", on @user_script:3."), "{e}");
        let e = error_text(eval(
            &mut engine,
            "error({err='MY custom'})",
            &[],
            &[],
            apply(),
        ));
        assert!(e.starts_with("MY custom script: "), "{e}");
        let e = error_text(eval(&mut engine, "syntax error here", &[], &[], apply()));
        assert_eq!(
            e,
            "ERR Error compiling script (new function): user_script:1: '=' expected near 'error'"
        );
        let e = error_text(eval(&mut engine, "rawset(_G, 'x', 1)", &[], &[], apply()));
        assert!(
            e.starts_with("ERR Attempt to modify a readonly table script:"),
            "{e}"
        );
        let e = error_text(eval(&mut engine, "string.foo = 1", &[], &[], apply()));
        assert!(
            e.starts_with("ERR user_script:1: Attempt to modify a readonly table"),
            "{e}"
        );
        assert_eq!(
            eval(
                &mut engine,
                "local t = {} t.x = 1 KEYS[1] = 'y' return KEYS[1] .. t.x",
                &["k"],
                &[],
                apply()
            ),
            Outcome::Done(Reply::Bulk(Bytes::from_static(b"y1")))
        );
    }

    #[test]
    fn pcall_returns_the_error_table() {
        let mut engine = Engine::new(16, 1);
        eval(
            &mut engine,
            "redis.call('set', 'a', 'foo')",
            &[],
            &[],
            apply(),
        );
        assert_eq!(
            eval(
                &mut engine,
                "local r = redis.pcall('incr', 'a') return type(r) .. ' ' .. r.err",
                &[],
                &[],
                apply()
            ),
            Outcome::Done(Reply::Bulk(Bytes::from_static(
                b"table ERR value is not an integer or out of range"
            )))
        );
    }

    #[test]
    fn randomness_and_time_come_from_the_entry() {
        let mut a = Engine::new(16, 1);
        let mut b = Engine::new(16, 2);
        let script = "return {tostring(math.random()), math.random(10), redis.call('time')[1]}";
        assert_eq!(
            eval(&mut a, script, &[], &[], apply()),
            eval(&mut b, script, &[], &[], apply())
        );
        let Outcome::Done(Reply::Array(items)) = eval(&mut a, script, &[], &[], apply()) else {
            panic!()
        };
        assert_eq!(items[2], Reply::bulk_int(1_700_000_000));
    }

    #[test]
    fn script_kill_stops_a_busy_probe_and_not_an_applied_script() {
        use crate::busy::{self, Kill};
        busy::set_threshold_ms(0);
        assert_eq!(busy::kill(), Kill::NotBusy);
        let probe = std::thread::spawn(|| {
            let mut engine = Engine::new(16, 1);
            let probe = Mode::Probe {
                now_ms: 0,
                inline: false,
            };
            eval(&mut engine, "while true do end", &[], &[], probe)
        });
        while !busy::busy() {
            std::thread::yield_now();
        }
        assert_eq!(busy::kill(), Kill::Killed);
        let e = error_text(probe.join().expect("probe thread"));
        assert!(
            e.starts_with("ERR Script killed by user with SCRIPT KILL... script: "),
            "{e}"
        );
        assert!(!busy::busy());

        // An applied script runs on every replica: SCRIPT KILL refuses.
        let applied = std::thread::spawn(|| {
            let mut engine = Engine::new(16, 1);
            eval(
                &mut engine,
                "local n = 0 for i = 1, 1e7 do n = n + i end return 1",
                &[],
                &[],
                apply(),
            )
        });
        while !busy::busy() {
            assert!(
                !applied.is_finished(),
                "the script ended before it was seen"
            );
            std::thread::yield_now();
        }
        assert_eq!(busy::kill(), Kill::Unkillable);
        assert_eq!(
            applied.join().expect("applied thread"),
            Outcome::Done(Reply::Int(1))
        );
    }

    #[test]
    fn a_script_from_the_log_stops_at_its_instruction_limit_having_written() {
        let mut engine = Engine::new(16, 1);
        let e = error_text(eval(
            &mut engine,
            "redis.call('set', 'before', '1') while true do end",
            &[],
            &[],
            apply(),
        ));
        assert!(
            e.starts_with("ERR Script ran past script-instruction-limit (50000000 instructions)"),
            "{e}"
        );
        assert_eq!(
            eval(
                &mut engine,
                "return redis.call('get', 'before')",
                &[],
                &[],
                apply()
            ),
            Outcome::Done(Reply::Bulk(Bytes::from_static(b"1")))
        );
    }

    #[test]
    fn cjson_encodes_and_decodes_as_lua_cjson() {
        let mut engine = Engine::new(16, 1);
        let cases: &[(&str, &[u8])] = &[
            (
                "return cjson.encode({1,2,3,'a/b',{x=1}})",
                b"[1,2,3,\"a\\/b\",{\"x\":1}]",
            ),
            ("return cjson.encode({})", b"{}"),
            ("return cjson.encode(0.1)", b"0.1"),
            ("return cjson.encode(1e20)", b"1e+20"),
            ("return cjson.encode({1,nil,3})", b"[1,null,3]"),
            (
                "local t = cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":\"\\\\u00e9\"}') \
                 return t.a[2] .. type(t.a[3].b) .. t.c",
                "2userdata\u{e9}".as_bytes(),
            ),
        ];
        for (script, want) in cases {
            assert_eq!(
                eval(&mut engine, script, &[], &[], apply()),
                Outcome::Done(Reply::Bulk(Bytes::copy_from_slice(want))),
                "{script}"
            );
        }
        let e = error_text(eval(
            &mut engine,
            "return cjson.encode({[1]=1,[20]=2})",
            &[],
            &[],
            apply(),
        ));
        assert!(
            e.starts_with(
                "ERR user_script:1: Cannot serialise table: excessively sparse array script: "
            ),
            "{e}"
        );
        let e = error_text(eval(
            &mut engine,
            "return cjson.decode('x')",
            &[],
            &[],
            apply(),
        ));
        assert!(
            e.starts_with(
                "ERR user_script:1: Expected value but found invalid token at character 1"
            ),
            "{e}"
        );
    }
}
