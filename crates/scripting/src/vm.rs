//! Each thread's Lua state. Scripts run on the thread that serves them (a connection's
//! event loop for a probe, the group's apply task for a log entry), so every thread
//! that runs scripts builds one state the first time and keeps it, with the scripts
//! it compiled.
//!
//! The sandbox is Redis 7.0's: the base, table, string and math libraries plus `bit`,
//! `cjson`, `cmsgpack`, `struct` and `redis`; no `print`, file, module or environment functions; the globals table
//! and the library tables are read-only ("Attempt to modify a readonly table"), and
//! reading a global that does not exist is an error. Lua 5.1 has no read-only tables,
//! so the globals live in a hidden table behind the real one, which stays empty and
//! answers through metamethods, and the libraries are proxies.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use mlua::{Function, Lua, LuaOptions, StdLib, Table};

use crate::error::ScriptError;

/// Compiled scripts a thread keeps before it starts over (EVAL of ever new scripts
/// must not grow memory without bound).
const MAX_COMPILED: usize = 10_000;

/// Bumped by SCRIPT FLUSH: every thread drops its compiled scripts when it sees a new
/// value.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Makes every thread forget its compiled scripts.
pub fn forget_compiled() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Redis's version, as `redis.REDIS_VERSION` reports it.
const REDIS_VERSION: &str = "7.0.15";

/// Sets up the sandbox; runs once per state as the chunk `=okapi`, so error positions
/// can tell okapi's frames from the script's.
const PRELUDE: &str = r#"
local I, G = ...
local error, type, tostring, setmetatable, rawset, pairs, ipairs, xpcall =
    error, type, tostring, setmetatable, rawset, pairs, ipairs, xpcall
local redis = G.redis
redis.error_reply = function(msg)
    if type(msg) ~= 'string' then error('wrong number or type of arguments', 2) end
    return {err = msg}
end
redis.status_reply = function(msg)
    if type(msg) ~= 'string' then error('wrong number or type of arguments', 2) end
    return {ok = msg}
end
I.run = function(f) return xpcall(f, I.handler) end
local readonly_tables = setmetatable({}, {__mode = 'k'})
local function refuse() error('Attempt to modify a readonly table', 2) end
local function readonly(t)
    local proxy = setmetatable({}, {__index = t, __newindex = refuse, __metatable = false})
    readonly_tables[proxy] = true
    return proxy
end
-- Binary chunks are refused, as Redis refuses them: crafted Lua 5.1 bytecode is not
-- verified and can break out of the sandbox.
local loadstring0, concat = loadstring, table.concat
G.loadstring = function(s, name)
    if type(s) == 'string' and s:byte(1) == 27 then
        return nil, 'attempt to load a binary chunk'
    end
    return loadstring0(s, name)
end
G.load = function(reader, name)
    local parts = {}
    while true do
        local piece = reader()
        if piece == nil or piece == '' then break end
        if type(piece) ~= 'string' then return nil, 'reader function must return a string' end
        parts[#parts + 1] = piece
    end
    return G.loadstring(concat(parts), name)
end
G.rawset = function(t, k, v)
    if readonly_tables[t] then error('Attempt to modify a readonly table', 0) end
    return rawset(t, k, v)
end
G.setmetatable = function(t, mt)
    if readonly_tables[t] then error('Attempt to modify a readonly table', 0) end
    return setmetatable(t, mt)
end
for _, name in ipairs({'print', 'dofile', 'loadfile', 'setfenv', 'getfenv', 'require',
                       'module', 'newproxy', 'debug', 'io', 'os', 'package'}) do
    G[name] = nil
end
local hidden = {}
for k, v in pairs(G) do hidden[k] = v end
for k in pairs(hidden) do rawset(G, k, nil) end
for _, name in ipairs({'string', 'table', 'math', 'redis', 'bit', 'cjson', 'cmsgpack',
                       'struct', 'coroutine'}) do
    if hidden[name] then hidden[name] = readonly(hidden[name]) end
end
hidden._G = G
readonly_tables[G] = true
local load_api = {register_function = I.register}
for _, k in ipairs({'log', 'LOG_DEBUG', 'LOG_VERBOSE', 'LOG_NOTICE', 'LOG_WARNING',
                    'REDIS_VERSION', 'REDIS_VERSION_NUM'}) do
    load_api[k] = redis[k]
end
local function missing(k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 3)
end
local load_proxy = setmetatable({}, {
    __index = function(_, k)
        local v = load_api[k]
        if v == nil then missing(k) end
        return v
    end,
    __newindex = refuse,
    __metatable = false,
})
readonly_tables[load_proxy] = true
-- A library's environment: while its code loads, `redis` is the load API; when its
-- functions run, the whole runtime API.
I.library_env = function()
    local env = setmetatable({}, {
        __index = function(_, k)
            if k == 'redis' then
                if I.loading then return load_proxy end
                return hidden.redis
            end
            local v = hidden[k]
            if v == nil then missing(k) end
            return v
        end,
        __newindex = refuse,
        __metatable = false,
    })
    readonly_tables[env] = true
    return env
end
I.runf = function(f, keys, args)
    return xpcall(function() return f(keys, args) end, I.handler)
end
local globals_meta = {
    __index = function(_, k)
        local v = hidden[k]
        if v == nil then
            error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
        end
        return v
    end,
    __newindex = refuse,
}
-- getmetatable answers a read-only view, so no script can loosen the protection (or,
-- through strings' metatable, change the string library for the scripts after it).
globals_meta.__metatable = readonly(globals_meta)
setmetatable(G, globals_meta)
local string_meta = getmetatable('')
string_meta.__index = hidden.string
string_meta.__metatable = readonly(string_meta)
return hidden
"#;

/// Interned names set on every run (interning them each time showed in profiles).
pub struct Names {
    /// `KEYS`.
    pub keys: mlua::LuaString,
    /// `ARGV`.
    pub argv: mlua::LuaString,
}

/// One thread's Lua state.
pub struct Vm {
    /// The interpreter.
    pub lua: Lua,
    /// okapi's own functions (`run`, `handler`), out of the script's reach.
    pub internal: Table,
    /// The real globals, behind the read-only globals table (KEYS and ARGV go here).
    pub hidden: Table,
    /// `xpcall` of a script with okapi's error handler.
    pub runner: Function,
    /// Names set on every run.
    pub names: Names,
    /// `xpcall` of a library function with its keys and arguments.
    pub function_runner: Function,
    /// Libraries loaded into this interpreter, by the SHA1 of their code.
    libraries: HashMap<Bytes, crate::library::Loaded>,
    compiled: HashMap<Bytes, Function>,
    generation: u64,
}

thread_local! {
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's Lua state, building it the first time.
pub fn with_vm<R>(f: impl FnOnce(&mut Vm) -> R) -> Result<R, ScriptError> {
    VM.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Vm::new().map_err(|e| ScriptError::Setup(e.to_string()))?);
        }
        let vm = slot.as_mut().expect("just built");
        Ok(f(vm))
    })
}

/// Per-run state the Lua functions that outlive a run read (`math.random`).
#[derive(Debug, Default)]
pub struct RandomState {
    /// splitmix64 state.
    pub state: std::cell::Cell<u64>,
}

impl RandomState {
    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let mut z = self.state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.state.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Vm {
    fn new() -> mlua::Result<Self> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::new(),
        )?;
        lua.set_app_data(RandomState::default());
        lua.set_app_data(crate::run::Resp3Flag::default());
        let globals = lua.globals();
        let redis = Self::redis_table(&lua)?;
        globals.raw_set("redis", redis)?;
        globals.raw_set("bit", crate::bitlib::create(&lua)?)?;
        globals.raw_set("cjson", crate::cjson::create(&lua)?)?;
        globals.raw_set("cmsgpack", crate::cmsgpack::create(&lua)?)?;
        globals.raw_set("struct", crate::structlib::create(&lua)?)?;
        Self::seeded_random(&lua)?;
        let internal = lua.create_table()?;
        internal.raw_set("handler", lua.create_function(crate::run::error_handler)?)?;
        internal.raw_set("register", lua.create_function(crate::library::register)?)?;
        let hidden: Table = lua
            .load(PRELUDE)
            .set_name("=okapi")
            .call((internal.clone(), globals))?;
        let runner: Function = internal.raw_get("run")?;
        let function_runner: Function = internal.raw_get("runf")?;
        let names = Names {
            keys: lua.create_string("KEYS")?,
            argv: lua.create_string("ARGV")?,
        };
        lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(crate::run::HOOK_EVERY),
            crate::run::hook,
        )?;
        Ok(Self {
            lua,
            internal,
            hidden,
            runner,
            names,
            function_runner,
            libraries: HashMap::new(),
            compiled: HashMap::new(),
            generation: GENERATION.load(Ordering::Relaxed),
        })
    }

    fn redis_table(lua: &Lua) -> mlua::Result<Table> {
        let redis = lua.create_table()?;
        // Rust functions, so an error names the script's line (a Lua wrapper would
        // lose the script's frame to a tail call).
        redis.raw_set(
            "call",
            lua.create_function(|lua, args: mlua::MultiValue| {
                crate::call::redis_call(lua, false, args)
            })?,
        )?;
        redis.raw_set(
            "pcall",
            lua.create_function(|lua, args: mlua::MultiValue| {
                crate::call::redis_call(lua, true, args)
            })?,
        )?;
        redis.raw_set(
            "sha1hex",
            lua.create_function(|lua, args: mlua::MultiValue| {
                let body = match args.front() {
                    Some(mlua::Value::String(s)) if args.len() == 1 => s.as_bytes().to_vec(),
                    Some(v @ (mlua::Value::Integer(_) | mlua::Value::Number(_)))
                        if args.len() == 1 =>
                    {
                        v.to_string()?.into_bytes()
                    }
                    _ => {
                        return Err(mlua::Error::external(crate::call::CallFailed(
                            "ERR wrong number of arguments".into(),
                        )));
                    }
                };
                lua.create_string(crate::sha1_hex(&body))
            })?,
        )?;
        redis.raw_set(
            "log",
            lua.create_function(|_, (level, message): (i64, mlua::MultiValue)| {
                let text: Vec<String> = message
                    .iter()
                    .map(|v| v.to_string().unwrap_or_default())
                    .collect();
                let text = text.join(" ");
                match level {
                    0 => tracing::debug!(target: "okapi::script", "{text}"),
                    1 | 2 => tracing::info!(target: "okapi::script", "{text}"),
                    _ => tracing::warn!(target: "okapi::script", "{text}"),
                }
                Ok(())
            })?,
        )?;
        for (name, value) in [
            ("LOG_DEBUG", 0),
            ("LOG_VERBOSE", 1),
            ("LOG_NOTICE", 2),
            ("LOG_WARNING", 3),
            ("REPL_NONE", 0),
            ("REPL_AOF", 1),
            ("REPL_SLAVE", 2),
            ("REPL_REPLICA", 2),
            ("REPL_ALL", 3),
        ] {
            redis.raw_set(name, value)?;
        }
        redis.raw_set("REDIS_VERSION", REDIS_VERSION)?;
        redis.raw_set("REDIS_VERSION_NUM", 0x07_00_0f)?;
        redis.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
        redis.raw_set(
            "set_repl",
            lua.create_function(|_, mode: i64| {
                if !(0..=3).contains(&mode) {
                    return Err(mlua::Error::external(crate::call::CallFailed(
                        "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."
                            .into(),
                    )));
                }
                if mode != 3 {
                    // A script is replicated whole, so its writes reach every replica.
                    return Err(mlua::Error::external(crate::call::CallFailed(
                        "ERR okapi replicates a script as a whole: redis.set_repl accepts only redis.REPL_ALL"
                            .into(),
                    )));
                }
                Ok(())
            })?,
        )?;
        redis.raw_set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
        redis.raw_set(
            "debug",
            lua.create_function(|_, _: mlua::MultiValue| Ok(()))?,
        )?;
        redis.raw_set(
            "setresp",
            lua.create_function(|lua, version: i64| {
                if version != 2 && version != 3 {
                    return Err(mlua::Error::external(crate::call::CallFailed(
                        "ERR RESP version must be 2 or 3.".into(),
                    )));
                }
                crate::run::set_resp3(lua, version == 3);
                Ok(())
            })?,
        )?;
        Ok(redis)
    }

    /// `math.random` and `math.randomseed` over the run's seeded generator, so every
    /// replica draws the same numbers.
    fn seeded_random(lua: &Lua) -> mlua::Result<()> {
        let math: Table = lua.globals().raw_get("math")?;
        math.raw_set(
            "random",
            lua.create_function(|lua, args: mlua::MultiValue| {
                let state = lua
                    .app_data_ref::<RandomState>()
                    .ok_or_else(|| mlua::Error::RuntimeError("no random state".into()))?;
                let unit = (state.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                let int = |v: &mlua::Value| -> mlua::Result<i64> {
                    match v {
                        mlua::Value::Integer(n) => Ok(*n),
                        mlua::Value::Number(n) => Ok(n.floor() as i64),
                        _ => Err(mlua::Error::RuntimeError(
                            "bad argument to 'random' (number expected)".into(),
                        )),
                    }
                };
                match args.len() {
                    0 => Ok(unit),
                    1 => {
                        let upper = int(&args[0])?;
                        if upper < 1 {
                            return Err(mlua::Error::RuntimeError(
                                "bad argument #1 to 'random' (interval is empty)".into(),
                            ));
                        }
                        Ok((unit * upper as f64).floor() + 1.0)
                    }
                    2 => {
                        let (lower, upper) = (int(&args[0])?, int(&args[1])?);
                        if lower > upper {
                            return Err(mlua::Error::RuntimeError(
                                "bad argument #2 to 'random' (interval is empty)".into(),
                            ));
                        }
                        Ok((unit * (upper - lower + 1) as f64).floor() + lower as f64)
                    }
                    _ => Err(mlua::Error::RuntimeError(
                        "wrong number of arguments".into(),
                    )),
                }
            })?,
        )?;
        math.raw_set(
            "randomseed",
            lua.create_function(|lua, seed: f64| {
                if let Some(state) = lua.app_data_ref::<RandomState>() {
                    state.state.set(seed.to_bits());
                }
                Ok(())
            })?,
        )?;
        Ok(())
    }

    /// Keeps a library's loaded functions under the SHA1 of its code.
    pub(crate) fn keep_library(&mut self, sha: Bytes, loaded: crate::library::Loaded) {
        if self.libraries.len() >= MAX_COMPILED {
            self.libraries.clear();
        }
        self.libraries.insert(sha, loaded);
    }

    /// A library loaded into this interpreter.
    pub(crate) fn library(&self, sha: &[u8]) -> Option<&crate::library::Loaded> {
        self.libraries.get(sha)
    }

    /// The compiled script `sha`, compiling `source` the first time.
    pub fn function(&mut self, sha: &Bytes, source: &[u8]) -> Result<Function, ScriptError> {
        let generation = GENERATION.load(Ordering::Relaxed);
        if generation != self.generation || self.compiled.len() >= MAX_COMPILED {
            self.compiled.clear();
            self.generation = generation;
        }
        if let Some(function) = self.compiled.get(sha) {
            return Ok(function.clone());
        }
        let function = compile(&self.lua, source)?;
        self.compiled.insert(sha.clone(), function.clone());
        Ok(function)
    }
}

/// Compiles `source` as Redis names a script's chunk (`@user_script`).
pub fn compile(lua: &Lua, source: &[u8]) -> Result<Function, ScriptError> {
    lua.load(&*crate::shebang::lua_body(source))
        .set_mode(mlua::chunk::ChunkMode::Text)
        .set_name("@user_script")
        .into_function()
        .map_err(|e| ScriptError::Compile(compile_message(&e)))
}

fn compile_message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Checks that `source` compiles (SCRIPT LOAD).
pub fn check(source: &[u8]) -> Result<(), ScriptError> {
    crate::shebang::parse(source).map_err(ScriptError::Shebang)?;
    with_vm(|vm| compile(&vm.lua, source).map(|_| ()))?
}
