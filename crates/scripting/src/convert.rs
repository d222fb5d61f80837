//! Replies to Lua values (what `redis.call` returns) and Lua values to replies (what a
//! script returns), following Redis 7.0's conversion tables for RESP2 and, after
//! `redis.setresp(3)`, RESP3.

use bytes::Bytes;
use mlua::{Lua, Result, Table, Value};
use okapi_engine::{EngineError, Reply};

/// `{err = text}`.
pub fn error_table(lua: &Lua, text: &str) -> Result<Table> {
    let table = lua.create_table()?;
    table.raw_set("err", text)?;
    Ok(table)
}

fn single(lua: &Lua, key: &str, value: impl mlua::IntoLua) -> Result<Value> {
    let table = lua.create_table()?;
    table.raw_set(key, value)?;
    Ok(Value::Table(table))
}

fn sequence<'r>(lua: &Lua, items: impl Iterator<Item = &'r Reply>, resp3: bool) -> Result<Value> {
    let table = lua.create_table()?;
    for (i, item) in items.enumerate() {
        table.raw_set(i + 1, to_lua(lua, item, resp3)?)?;
    }
    Ok(Value::Table(table))
}

fn pairs_flat(lua: &Lua, pairs: &[(Reply, Reply)], resp3: bool) -> Result<Value> {
    sequence(lua, pairs.iter().flat_map(|(k, v)| [k, v]), resp3)
}

fn pairs_nested(lua: &Lua, pairs: &[(Reply, Reply)], resp3: bool) -> Result<Value> {
    let table = lua.create_table()?;
    for (i, (k, v)) in pairs.iter().enumerate() {
        let pair = lua.create_table()?;
        pair.raw_set(1, to_lua(lua, k, resp3)?)?;
        pair.raw_set(2, to_lua(lua, v, resp3)?)?;
        table.raw_set(i + 1, pair)?;
    }
    Ok(Value::Table(table))
}

fn map(lua: &Lua, pairs: &[(Reply, Reply)], resp3: bool) -> Result<Value> {
    let inner = lua.create_table()?;
    for (k, v) in pairs {
        inner.raw_set(to_lua(lua, k, resp3)?, to_lua(lua, v, resp3)?)?;
    }
    single(lua, "map", inner)
}

fn double_text(value: f64) -> String {
    okapi_types::num::format_f64(value)
}

/// A reply as the Lua value `redis.call` returns for it. An error inside an array
/// becomes `{err = ...}`; the caller handles a top-level error.
pub fn to_lua(lua: &Lua, reply: &Reply, resp3: bool) -> Result<Value> {
    Ok(match reply {
        Reply::Ok => single(lua, "ok", "OK")?,
        Reply::Status(text) => single(lua, "ok", *text)?,
        Reply::StatusText(text) => single(lua, "ok", text.as_str())?,
        Reply::Int(n) => Value::Number(*n as f64),
        Reply::Bulk(bytes) => Value::String(lua.create_string(bytes)?),
        Reply::Pieces(pieces) => Value::String(lua.create_string(pieces.concat())?),
        Reply::Nil | Reply::NilArray if resp3 => Value::Nil,
        Reply::Nil | Reply::NilArray => Value::Boolean(false),
        Reply::Array(items) => sequence(lua, items.iter(), resp3)?,
        Reply::Set(items) if resp3 => {
            let inner = lua.create_table()?;
            for item in items {
                inner.raw_set(to_lua(lua, item, resp3)?, true)?;
            }
            single(lua, "set", inner)?
        }
        Reply::Set(items) => sequence(lua, items.iter(), resp3)?,
        Reply::Map(pairs) if resp3 => map(lua, pairs, resp3)?,
        Reply::Map(pairs) => pairs_flat(lua, pairs, resp3)?,
        Reply::Pairs(pairs) if resp3 => pairs_nested(lua, pairs, resp3)?,
        Reply::Pairs(pairs) => pairs_flat(lua, pairs, resp3)?,
        Reply::Keyed(pairs) if resp3 => map(lua, pairs, resp3)?,
        Reply::Keyed(pairs) => pairs_nested(lua, pairs, resp3)?,
        Reply::Double(value) if resp3 => single(lua, "double", *value)?,
        Reply::Double(value) => Value::String(lua.create_string(double_text(*value))?),
        Reply::HumanDouble(value) => {
            let text = okapi_types::long_double::LongDouble::from_f64(*value).to_human();
            if resp3 {
                single(lua, "double", *value)?
            } else {
                Value::String(lua.create_string(text)?)
            }
        }
        Reply::Text(text) if resp3 => {
            let inner = lua.create_table()?;
            inner.raw_set("format", "txt")?;
            inner.raw_set("string", text.as_str())?;
            single(lua, "verbatim_string", inner)?
        }
        Reply::Text(text) => Value::String(lua.create_string(text)?),
        Reply::Bool(value) if resp3 => Value::Boolean(*value),
        Reply::Bool(value) => Value::Number(if *value { 1.0 } else { 0.0 }),
        Reply::Error(e) => Value::Table(error_table(lua, &e.to_string())?),
    })
}

/// C's `(long long)` of a double as x86-64 computes it: out of range and NaN give
/// the "integer indefinite" value, as Redis's replies show.
fn lua_number_to_int(n: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        _ => None,
    }
}

/// A status or error text as a reply line: CR and LF become spaces, as Redis does.
fn line(text: String) -> String {
    text.replace(['\r', '\n'], " ")
}

/// What a script returns, as a reply. `resp3` is the script's protocol
/// (`redis.setresp`).
pub fn from_lua(value: &Value, resp3: bool) -> Reply {
    from_lua_depth(value, resp3, 0)
}

fn from_lua_depth(value: &Value, resp3: bool, depth: usize) -> Reply {
    if depth > 1000 {
        return Reply::Error(EngineError::Other("ERR reached lua stack limit".to_owned()));
    }
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) if resp3 => Reply::Bool(*b),
        Value::Boolean(true) => Reply::Int(1),
        Value::Boolean(false) => Reply::Nil,
        Value::Integer(n) => Reply::Int(*n),
        Value::Number(n) => Reply::Int(lua_number_to_int(*n)),
        Value::Table(table) => table_reply(table, resp3, depth),
        // `pcall(redis.call, ...)` hands the script the raised error itself.
        Value::Error(e) => match e.downcast_ref::<crate::call::CallFailed>() {
            Some(failed) => Reply::Error(EngineError::Other(line(failed.0.clone()))),
            None => Reply::Error(EngineError::Other(line(format!("ERR {e}")))),
        },
        _ => Reply::Nil,
    }
}

fn table_reply(table: &Table, resp3: bool, depth: usize) -> Reply {
    let field = |name: &str| table.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Some(err) = text_of(&field("err")) {
        return Reply::Error(EngineError::Other(line(err)));
    }
    if let Some(ok) = text_of(&field("ok")) {
        return Reply::StatusText(line(ok));
    }
    if resp3 {
        match field("double") {
            Value::Number(n) => return Reply::Double(n),
            // Lua 5.1 has one number type; an integral one reads back as an integer.
            Value::Integer(n) => return Reply::Double(n as f64),
            _ => {}
        }
        if let Value::Table(inner) = field("map") {
            let pairs = inner
                .pairs::<Value, Value>()
                .filter_map(|pair| pair.ok())
                .map(|(k, v)| {
                    (
                        from_lua_depth(&k, resp3, depth + 1),
                        from_lua_depth(&v, resp3, depth + 1),
                    )
                })
                .collect();
            return Reply::Map(pairs);
        }
        if let Value::Table(inner) = field("set") {
            let members = inner
                .pairs::<Value, Value>()
                .filter_map(|pair| pair.ok())
                .map(|(k, _)| from_lua_depth(&k, resp3, depth + 1))
                .collect();
            return Reply::Set(members);
        }
        if let Some(digits) = text_of(&field("big_number")) {
            return Reply::Bulk(Bytes::from(digits));
        }
    }
    let mut items = Vec::new();
    for i in 1.. {
        match table.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(value) => items.push(from_lua_depth(&value, resp3, depth + 1)),
        }
    }
    Reply::Array(items)
}

#[cfg(test)]
mod tests {
    use super::lua_number_to_int;

    #[test]
    fn numbers_truncate_like_c_casts() {
        assert_eq!(lua_number_to_int(3.99), 3);
        assert_eq!(lua_number_to_int(-3.7), -3);
        assert_eq!(lua_number_to_int(f64::INFINITY), i64::MIN);
        assert_eq!(lua_number_to_int(f64::NAN), i64::MIN);
    }
}
