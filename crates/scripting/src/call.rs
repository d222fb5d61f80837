//! `redis.call` and `redis.pcall`: a command from a script, checked as Redis checks
//! it (known, allowed in scripts, arity, read-only scripts, keys in the script's slot),
//! parsed by the command table and run against the engine. A read is answered from
//! memory; a write is applied when the script runs from the log, and stops a probe.

use bytes::Bytes;
use mlua::{Lua, MultiValue, Value};
use okapi_commands::spec::{Ctx, flags};
use okapi_commands::{Action, Attempt, CommandError, ConnCmd};
use okapi_engine::rng::Rng;
use okapi_engine::{Engine, Op, ReadCtx, Reply};
use okapi_types::Namespace;

use crate::convert;
use crate::run::{Invocation, Mode};

/// Where a run finds the data: an engine it owns while it runs (a log entry applied
/// under the shard lock), or a shard locked for each call (a probe).
pub trait Dataset {
    /// Runs `f` on the engine, or `None` when the data changed since the run began: a
    /// probe's reads would no longer be one consistent view, so it must go through
    /// the log instead.
    fn with_engine(&mut self, f: &mut dyn FnMut(&mut Engine) -> Reply) -> Option<Reply>;
    /// Number of namespaces.
    fn databases(&self) -> u32;
    /// The engine, when the run owned one.
    fn into_engine(self: Box<Self>) -> Option<Engine> {
        None
    }
}

/// An engine a run owns while it lasts.
pub struct OwnedEngine(pub Engine);

impl Dataset for OwnedEngine {
    fn with_engine(&mut self, f: &mut dyn FnMut(&mut Engine) -> Reply) -> Option<Reply> {
        Some(f(&mut self.0))
    }

    fn databases(&self) -> u32 {
        self.0.databases()
    }

    fn into_engine(self: Box<Self>) -> Option<Engine> {
        Some(self.0)
    }
}

/// What the calls of one run share (app data of the interpreter while it runs).
pub struct CallState {
    data: Box<dyn Dataset>,
    db: Namespace,
    mode: Mode,
    read_only: bool,
    rng: Rng,
    now_us: u64,
    sharded: bool,
    slot: Option<u16>,
    /// A probe met a write: the run is over and the script goes to the log.
    pub needs_log: bool,
}

impl CallState {
    /// The state of a run of `invocation`.
    pub fn new(data: Box<dyn Dataset>, invocation: &Invocation<'_>, mode: Mode) -> Self {
        Self {
            data,
            db: invocation.db,
            mode,
            read_only: invocation.read_only,
            // Apart from math.random's stream, so adding a call does not shift it.
            rng: Rng::new(invocation.seed ^ 0x5EED_CA11_0000_0001),
            now_us: invocation.now_us,
            sharded: invocation.sharded,
            slot: invocation.slot,
            needs_log: false,
        }
    }

    /// The data, once the run is over.
    pub fn into_data(self) -> Box<dyn Dataset> {
        self.data
    }

    fn now_ms(&self) -> u64 {
        match self.mode {
            Mode::Probe { now_ms, .. } => now_ms,
            Mode::Apply(ctx) => ctx.now_ms,
        }
    }
}

/// Why a call failed: the error reply it raises (or `redis.pcall` returns).
type CallResult = Result<Reply, String>;

const LIB_ARGS: &str = "ERR Lua redis lib command arguments must be strings or integers";

fn argument(value: &Value) -> Option<Bytes> {
    match value {
        Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(n) => Some(Bytes::from(n.to_string())),
        Value::Number(n) => Some(Bytes::from(number_text(*n))),
        _ => None,
    }
}

/// A Lua number as an argument: integers in full, others in their shortest form.
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e17 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// The error a failed `redis.call` raises; the error handler turns it into Redis's
/// `{err = ...}` table.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CallFailed(pub String);

/// `redis.call(...)` (raises the command's error) and `redis.pcall(...)` (returns it
/// as `{err = ...}`).
pub fn redis_call(lua: &Lua, protected: bool, args: MultiValue) -> mlua::Result<Value> {
    let Some(mut state) = lua.app_data_mut::<CallState>() else {
        return Err(mlua::Error::RuntimeError(
            "redis.call is only available while a script runs".into(),
        ));
    };
    let state = &mut *state;
    if state.needs_log {
        return Err(mlua::Error::RuntimeError("the script needs the log".into()));
    }
    let argv: Option<Vec<Bytes>> = args.iter().map(argument).collect();
    let outcome = match argv {
        None => Err(LIB_ARGS.to_owned()),
        Some(argv) if argv.is_empty() => {
            Err("ERR Please specify at least one argument for this redis lib call".to_owned())
        }
        Some(argv) => dispatch(state, &argv),
    };
    if state.needs_log {
        if let Some(mut control) = lua.app_data_mut::<crate::run::RunControl>() {
            control.stop = true;
        }
        return Err(mlua::Error::RuntimeError("the script needs the log".into()));
    }
    let resp3 = lua
        .app_data_ref::<crate::run::Resp3Flag>()
        .is_some_and(|flag| flag.get());
    let failure = match outcome {
        Ok(Reply::Error(e)) => e.to_string(),
        Ok(reply) => return convert::to_lua(lua, &reply, resp3),
        Err(text) => text,
    };
    if protected {
        Ok(Value::Table(convert::error_table(lua, &failure)?))
    } else {
        Err(mlua::Error::external(CallFailed(failure)))
    }
}

fn dispatch(state: &mut CallState, argv: &[Bytes]) -> CallResult {
    let spec = match okapi_commands::resolve(argv) {
        Ok(spec) => spec,
        Err(CommandError::WrongArity(_)) => {
            return Err("ERR Wrong number of args calling Redis command from script".into());
        }
        Err(CommandError::UnknownCommand { .. } | CommandError::UnknownSubcommand { .. }) => {
            return Err("ERR Unknown Redis command called from script".into());
        }
        Err(e) => return Err(e.to_string()),
    };
    if spec.has(flags::NOSCRIPT) {
        return Err("ERR This Redis command is not allowed from script".into());
    }
    if spec.is_write() && state.read_only {
        return Err("ERR Write commands are not allowed from read-only scripts.".into());
    }
    if state.sharded {
        for position in spec.key_indexes(argv) {
            let slot = okapi_types::key_slot(&argv[position]).0;
            match state.slot {
                None => {
                    return Err(
                        "ERR Script attempted to access a non local key in a cluster node".into(),
                    );
                }
                Some(s) if s != slot => {
                    return Err(
                        "ERR Script attempted to access keys that do not hash to the same slot"
                            .into(),
                    );
                }
                Some(_) => {}
            }
        }
    }
    let ctx = Ctx {
        db: state.db,
        now_ms: state.now_ms(),
        random: state.rng.next_u64(),
        databases: state.data.databases(),
        sharded: state.sharded,
    };
    let mut action = (spec.parse)(&ctx, &argv[1..]).map_err(|e| e.to_string())?;
    script_rules(spec.name, &mut action)?;
    Ok(match action {
        Action::Read(query) => return read(state, &query),
        Action::Write(op) => return write(state, op),
        Action::Block(blocking) => match blocking.attempt {
            // A script never blocks: the attempt is all there is, as in MULTI.
            Attempt::Write(op) => return write(state, op),
            Attempt::Read(query) => return read(state, &query),
        },
        Action::Reply(reply) => reply,
        Action::Conn(cmd) => return connection(state, cmd),
        Action::Script(_) => return Err("ERR This Redis command is not allowed from script".into()),
    })
}

/// What Redis does differently for a command a script calls: SORT of a set without a
/// sort order sorts by the elements (so the reply is the same everywhere), and XREAD
/// and XREADGROUP refuse BLOCK.
fn script_rules(name: &str, action: &mut Action) -> Result<(), String> {
    use okapi_engine::keys::{KeyOp, KeyQuery};
    use okapi_engine::sort::SortBy;
    use okapi_engine::{OpKind, QueryKind};
    match action {
        Action::Read(okapi_engine::Query {
            kind: QueryKind::Key(KeyQuery::Sort { spec, .. }),
            ..
        })
        | Action::Write(okapi_engine::Op {
            kind: OpKind::Key(KeyOp::SortStore { spec, .. }),
            ..
        }) if spec.by == SortBy::NoSort => spec.by = SortBy::NoSortFromScript,
        Action::Block(_) if matches!(name, "xread" | "xreadgroup") => {
            return Err(format!(
                "ERR {name} command is not allowed with BLOCK option from scripts"
            ));
        }
        _ => {}
    }
    Ok(())
}

fn read(state: &mut CallState, query: &okapi_engine::Query) -> CallResult {
    let ctx = ReadCtx {
        now_ms: state.now_ms(),
        random: state.rng.next_u64(),
    };
    match state
        .data
        .with_engine(&mut |engine| engine.query(query, &ctx))
    {
        Some(reply) => Ok(reply),
        None => {
            state.needs_log = true;
            Ok(Reply::Nil)
        }
    }
}

fn write(state: &mut CallState, op: Op) -> CallResult {
    match state.mode {
        Mode::Probe { .. } => {
            state.needs_log = true;
            Ok(Reply::Nil)
        }
        Mode::Apply(ctx) => {
            let mut op = Some(op);
            let reply = state.data.with_engine(&mut |engine| match op.take() {
                Some(op) => engine.apply(op, &ctx),
                None => Reply::Nil,
            });
            Ok(reply.unwrap_or(Reply::Nil))
        }
    }
}

fn connection(state: &mut CallState, cmd: ConnCmd) -> CallResult {
    Ok(match cmd {
        ConnCmd::Ping(None) => Reply::Status("PONG"),
        ConnCmd::Ping(Some(message)) | ConnCmd::Echo(message) => Reply::Bulk(message),
        ConnCmd::Time => {
            let (secs, micros) = (state.now_us / 1_000_000, state.now_us % 1_000_000);
            Reply::Array(vec![
                Reply::bulk_int(secs as i64),
                Reply::bulk_int(micros as i64),
            ])
        }
        ConnCmd::Select(n) => {
            if n < 0 || n >= i64::from(state.data.databases()) {
                return Err("ERR DB index is out of range".into());
            }
            // Only the script's own namespace changes, as in Redis.
            state.db = Namespace(n as u32);
            Reply::Ok
        }
        _ => return Err("ERR This Redis command is not allowed from script".into()),
    })
}
