//! Function libraries (FUNCTION LOAD, FCALL): reading a library's code, its
//! `#!lua name=...` line and the functions it registers, and finding a registered
//! function to call. Each thread that runs functions loads every library it meets once
//! into its interpreter (by the code's SHA1), with an environment of its own: while
//! the code loads, `redis` offers `register_function` and `log`; when a function
//! runs, it is the whole runtime API.

use std::collections::HashMap;

use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table, Value};
use okapi_engine::functions::{FunctionMeta, Library};

use crate::call::CallFailed;
use crate::vm::{self, Vm};

/// The flags a function may be registered with.
const FLAGS: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// A library's functions in one interpreter.
pub(crate) type Loaded = HashMap<Bytes, Function>;

/// Functions registered while a library's code runs (app data of the interpreter).
#[derive(Default)]
struct Registering {
    functions: Vec<(FunctionMeta, Function)>,
}

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

const BAD_NAME: &str = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// The library name in the code's first line, with Redis's errors.
fn library_name(code: &[u8]) -> Result<Bytes, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]);
    let mut words = line
        .trim_end_matches('\r')
        .split(' ')
        .filter(|w| !w.is_empty());
    let engine = words.next().unwrap_or_default();
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    let mut name = None;
    for word in words {
        match word.split_once('=') {
            Some(("name", value)) => name = Some(value.to_owned()),
            _ => return Err(format!("ERR Invalid metadata value given: {word}")),
        }
    }
    let name = name.ok_or_else(|| "ERR Library name was not given".to_owned())?;
    if !valid_name(name.as_bytes()) {
        return Err(BAD_NAME.into());
    }
    Ok(Bytes::from(name))
}

/// `redis.register_function(name, callback)` or
/// `redis.register_function{function_name=, callback=, flags=, description=}`.
pub(crate) fn register(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    let fail = |text: &str| Err(mlua::Error::external(CallFailed(text.to_owned())));
    let (name, callback, flags, description) = match args.len() {
        1 => {
            let Some(Value::Table(spec)) = args.front() else {
                return fail(
                    "ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
                );
            };
            let mut name = None;
            let mut callback = None;
            let mut flags = Vec::new();
            let mut description = None;
            for pair in spec.pairs::<Value, Value>() {
                let (key, value) = pair?;
                let key = match &key {
                    Value::String(s) => s.to_str().map(|s| s.to_owned()).unwrap_or_default(),
                    _ => {
                        return fail(
                            "ERR named argument key given to redis.register_function is not a string",
                        );
                    }
                };
                match (key.as_str(), value) {
                    ("function_name", Value::String(s)) => {
                        name = Some(Bytes::copy_from_slice(&s.as_bytes()))
                    }
                    ("function_name", _) => {
                        return fail(
                            "ERR function_name argument given to redis.register_function must be a string",
                        );
                    }
                    ("callback", Value::Function(f)) => callback = Some(f),
                    ("callback", _) => {
                        return fail(
                            "ERR callback argument given to redis.register_function must be a function",
                        );
                    }
                    ("description", Value::String(s)) => {
                        description = Some(Bytes::copy_from_slice(&s.as_bytes()))
                    }
                    ("description", _) => {
                        return fail(
                            "ERR description argument given to redis.register_function must be a string",
                        );
                    }
                    ("flags", Value::Table(t)) => {
                        for flag in t.sequence_values::<Value>() {
                            match flag? {
                                Value::String(s) if FLAGS.contains(&&*s.to_str()?) => {
                                    flags.push(Bytes::copy_from_slice(&s.as_bytes()))
                                }
                                _ => return fail("ERR unknown flag given"),
                            }
                        }
                    }
                    ("flags", _) => {
                        return fail(
                            "ERR flags argument to redis.register_function must be a table representing function flags",
                        );
                    }
                    _ => return fail("ERR unknown argument given to redis.register_function"),
                }
            }
            let Some(name) = name else {
                return fail("ERR redis.register_function must get a function name argument");
            };
            let Some(callback) = callback else {
                return fail("ERR redis.register_function must get a callback argument");
            };
            (name, callback, flags, description)
        }
        2 => {
            let mut args = args.into_iter();
            let (Some(Value::String(name)), Some(value)) = (args.next(), args.next()) else {
                return fail("ERR wrong number or type of arguments to redis.register_function");
            };
            let Value::Function(callback) = value else {
                return fail(
                    "ERR callback argument given to redis.register_function must be a function",
                );
            };
            (
                Bytes::copy_from_slice(&name.as_bytes()),
                callback,
                Vec::new(),
                None,
            )
        }
        _ => return fail("ERR wrong number of arguments to redis.register_function"),
    };
    if !valid_name(&name) {
        // Redis 7.0 names the library rule here too.
        return fail(BAD_NAME);
    }
    let Some(mut registering) = lua.app_data_mut::<Registering>() else {
        return fail("ERR redis.register_function can only be called on FUNCTION LOAD command");
    };
    if registering.functions.iter().any(|(f, _)| f.name == name) {
        return fail("ERR Function already exists in the library");
    }
    registering.functions.push((
        FunctionMeta {
            name,
            description,
            flags,
        },
        callback,
    ));
    Ok(())
}

/// Runs `code` in `vm`: the library and its functions, or Redis's error text.
fn load_in(vm: &mut Vm, code: &[u8]) -> Result<(Library, Loaded), String> {
    let name = library_name(code)?;
    let chunk = vm
        .lua
        .load(&*crate::shebang::lua_body(code))
        .set_mode(mlua::chunk::ChunkMode::Text)
        .set_name("@user_function")
        .into_function()
        .map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => {
                format!("ERR Error compiling function: {message}")
            }
            other => format!("ERR Error compiling function: {other}"),
        })?;
    let setup = || -> mlua::Result<MultiValue> {
        let env: Table = vm.internal.raw_get::<Function>("library_env")?.call(())?;
        chunk.set_environment(env)?;
        vm.internal.raw_set("loading", true)?;
        vm.lua.set_app_data(Registering::default());
        vm.runner.call::<MultiValue>(chunk.clone())
    };
    let result = setup();
    let registered = vm.lua.remove_app_data::<Registering>().unwrap_or_default();
    // Functions run with the runtime API only once this is off.
    vm.internal
        .raw_set("loading", false)
        .map_err(|e| format!("ERR could not end the library's load: {e}"))?;
    let values = result.map_err(|e| format!("ERR Error registering functions: {e}"))?;
    let mut values = values.into_iter();
    if !matches!(values.next(), Some(Value::Boolean(true))) {
        let text = match values.next() {
            Some(Value::Table(t)) => t.raw_get::<String>("err").unwrap_or_default(),
            _ => String::new(),
        };
        return Err(format!("ERR Error registering functions: {text}"));
    }
    if registered.functions.is_empty() {
        return Err("ERR No functions registered".into());
    }
    let mut loaded = HashMap::new();
    let mut functions = Vec::new();
    for (meta, callback) in registered.functions {
        loaded.insert(meta.name.clone(), callback);
        functions.push(meta);
    }
    Ok((
        Library {
            name,
            code: Bytes::copy_from_slice(code),
            sha: crate::sha1_hex(code),
            functions,
        },
        loaded,
    ))
}

/// Reads a library (FUNCTION LOAD, and restores): its name and functions. The
/// thread's interpreter keeps the loaded functions for FCALL.
pub fn load(code: &[u8]) -> Result<Library, String> {
    vm::with_vm(|vm| {
        let (library, loaded) = load_in(vm, code)?;
        vm.keep_library(library.sha.clone(), loaded);
        Ok(library)
    })
    .map_err(|e| e.to_string())?
}

/// The function `name` of the library with `code` (whose SHA1 is `sha`), loading the
/// library into this thread's interpreter the first time.
pub(crate) fn function(
    vm: &mut Vm,
    code: &[u8],
    sha: &Bytes,
    name: &[u8],
) -> Result<Function, String> {
    if vm.library(sha).is_none() {
        let (_, loaded) = load_in(vm, code)?;
        vm.keep_library(sha.clone(), loaded);
    }
    vm.library(sha)
        .and_then(|loaded| loaded.get(name).cloned())
        .ok_or_else(|| "ERR Function not found".to_owned())
}
