//! The `cjson` library Redis bundles (lua-cjson 2.1): `cjson.encode`, `cjson.decode`
//! and `cjson.null`, with lua-cjson's defaults — numbers printed with 14 significant
//! digits, `/` escaped, tables with only positive integer keys written as arrays
//! (refused when excessively sparse), an empty table written as `{}`, nesting limited
//! to 1000, object members decoded in document order.

use mlua::{LightUserData, Lua, Result, Table, Value};

const MAX_DEPTH: usize = 1000;

fn error(text: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(text.into())
}

/// `cjson.null`: a light userdata holding NULL, as lua-cjson's.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// Builds the `cjson` table.
pub fn create(lua: &Lua) -> Result<Table> {
    let table = lua.create_table()?;
    table.raw_set(
        "encode",
        lua.create_function(|lua, value: Value| {
            let mut out = Vec::new();
            encode(&mut out, &value, 0)?;
            lua.create_string(out)
        })?,
    )?;
    table.raw_set(
        "decode",
        lua.create_function(|lua, text: mlua::LuaString| {
            let bytes = text.as_bytes();
            let mut parser = Parser {
                lua,
                input: &bytes,
                at: 0,
            };
            parser.skip_space();
            let value = parser.value(0)?;
            parser.skip_space();
            if parser.at < parser.input.len() {
                return Err(parser.unexpected("the end"));
            }
            Ok(value)
        })?,
    )?;
    table.raw_set("null", null())?;
    Ok(table)
}

/// `%.14g`, as lua-cjson prints numbers.
fn number(out: &mut Vec<u8>, n: f64) -> Result<()> {
    if !n.is_finite() {
        return Err(error("Cannot serialise number: must not be NaN or Inf"));
    }
    out.extend_from_slice(okapi_types::num::format_g(n, 14).as_bytes());
    Ok(())
}

fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        Value::UserData(_) => "userdata",
        _ => "value",
    }
}

/// lua-cjson's array test: the largest key when every key is a positive integer,
/// `None` for an object; excessively sparse arrays are refused.
fn array_length(table: &Table) -> Result<Option<usize>> {
    let mut max = 0usize;
    let mut items = 0usize;
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let index = match key {
            Value::Integer(n) if n >= 1 => n as usize,
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
            _ => return Ok(None),
        };
        max = max.max(index);
        items += 1;
    }
    if max > 10 && max > items * 2 {
        return Err(error("Cannot serialise table: excessively sparse array"));
    }
    Ok(Some(max))
}

fn encode(out: &mut Vec<u8>, value: &Value, depth: usize) -> Result<()> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(ud) if ud.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => number(out, *n as f64)?,
        Value::Number(n) => number(out, *n)?,
        Value::String(s) => string(out, &s.as_bytes()),
        Value::Table(table) => {
            if depth >= MAX_DEPTH {
                return Err(error(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                )));
            }
            match array_length(table)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        encode(out, &table.raw_get::<Value>(i)?, depth + 1)?;
                    }
                    out.push(b']');
                }
                _ if table.raw_len() == 0 && table.pairs::<Value, Value>().next().is_none() => {
                    out.extend_from_slice(b"{}")
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in table.pairs::<Value, Value>() {
                        let (key, item) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &key {
                            Value::String(s) => string(out, &s.as_bytes()),
                            Value::Integer(n) => {
                                out.push(b'"');
                                number(out, *n as f64)?;
                                out.push(b'"');
                            }
                            Value::Number(n) => {
                                out.push(b'"');
                                number(out, *n)?;
                                out.push(b'"');
                            }
                            _ => {
                                return Err(error(
                                    "Cannot serialise table: table key must be a number or string",
                                ));
                            }
                        }
                        out.push(b':');
                        encode(out, &item, depth + 1)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => {
            return Err(error(format!(
                "Cannot serialise {}: type not supported",
                type_name(other)
            )));
        }
    }
    Ok(())
}

struct Parser<'a> {
    lua: &'a Lua,
    input: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self
            .input
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    fn unexpected(&self, wanted: &str) -> mlua::Error {
        // lua-cjson names the token it found.
        let rest = &self.input[self.at.min(self.input.len())..];
        let found = match rest.first() {
            None => "T_END",
            Some(b'{') => "T_OBJ_BEGIN",
            Some(b'}') => "T_OBJ_END",
            Some(b'[') => "T_ARR_BEGIN",
            Some(b']') => "T_ARR_END",
            Some(b',') => "T_COMMA",
            Some(b':') => "T_COLON",
            Some(b'"') => "T_STRING",
            Some(b'-' | b'+' | b'0'..=b'9') => "T_NUMBER",
            _ if rest.starts_with(b"true") || rest.starts_with(b"false") => "T_BOOLEAN",
            _ if rest.starts_with(b"null") => "T_NULL",
            _ => "invalid token",
        };
        error(format!(
            "Expected {wanted} but found {found} at character {}",
            self.at + 1
        ))
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value> {
        if self.input[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.unexpected("value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth >= MAX_DEPTH {
            return Err(error(format!(
                "Found too many nested data structures ({}) at character {}",
                depth + 1,
                self.at + 1
            )));
        }
        match self.input.get(self.at) {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                let bytes = self.string()?;
                Ok(Value::String(self.lua.create_string(bytes)?))
            }
            Some(b't') => self.literal(b"true", Value::Boolean(true)),
            Some(b'f') => self.literal(b"false", Value::Boolean(false)),
            Some(b'n') if self.input[self.at..].starts_with(b"null") => {
                self.literal(b"null", null())
            }
            // lua-cjson reads numbers with strtod and accepts what it accepts: hex,
            // `inf` and `nan` included.
            Some(b'-' | b'+' | b'0'..=b'9' | b'i' | b'I' | b'n' | b'N') => self.number(),
            _ => Err(self.unexpected("value")),
        }
    }

    /// The longest prefix `strtod` reads, as lua-cjson takes it.
    fn number(&mut self) -> Result<Value> {
        let rest = &self.input[self.at..];
        let longest = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            .count();
        for len in (1..=longest).rev() {
            let text = &rest[..len];
            let unsigned = text
                .strip_prefix(b"-")
                .or(text.strip_prefix(b"+"))
                .unwrap_or(text);
            let value = if unsigned.eq_ignore_ascii_case(b"nan") {
                Some(f64::NAN)
            } else {
                okapi_types::num::parse_f64_bound(text)
            };
            if let Some(value) = value {
                self.at += len;
                return Ok(Value::Number(value));
            }
        }
        let what = if rest.first().is_some_and(u8::is_ascii_alphabetic) {
            "invalid token"
        } else {
            "invalid number"
        };
        Err(error(format!(
            "Expected value but found {what} at character {}",
            self.at + 1
        )))
    }

    /// Four hex digits of a `\\u` escape whose backslash is at `escape_at`.
    fn hex4(&mut self, escape_at: usize) -> Result<u32> {
        let digits = self
            .input
            .get(self.at..self.at + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| {
                error(format!(
                    "Expected value but found invalid unicode escape code at character {}",
                    escape_at + 1
                ))
            })?;
        self.at += 4;
        Ok(digits)
    }

    fn string(&mut self) -> Result<Vec<u8>> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.input.get(self.at) else {
                return Err(error(format!(
                    "Expected value but found unexpected end of string at character {}",
                    self.at + 1
                )));
            };
            self.at += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&escape) = self.input.get(self.at) else {
                        return Err(self.unexpected("escape"));
                    };
                    self.at += 1;
                    match escape {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let escape_at = self.at - 2;
                            let invalid = || {
                                error(format!(
                                    "Expected value but found invalid unicode escape code at character {}",
                                    escape_at + 1
                                ))
                            };
                            let mut code = self.hex4(escape_at)?;
                            if (0xDC00..0xE000).contains(&code) {
                                return Err(invalid());
                            }
                            if (0xD800..0xDC00).contains(&code) {
                                // A high surrogate must be followed by a low one.
                                if !self.input[self.at..].starts_with(b"\\u") {
                                    return Err(invalid());
                                }
                                self.at += 2;
                                let low = self.hex4(escape_at)?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return Err(invalid());
                                }
                                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                            }
                            let c = char::from_u32(code).unwrap_or('\u{FFFD}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            return Err(error(format!(
                                "Expected value but found invalid escape code at character {}",
                                self.at - 1
                            )));
                        }
                    }
                }
                _ => out.push(b),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value> {
        self.at += 1;
        let table = self.lua.create_table()?;
        self.skip_space();
        if self.input.get(self.at) == Some(&b']') {
            self.at += 1;
            return Ok(Value::Table(table));
        }
        let mut index = 1;
        loop {
            self.skip_space();
            let item = self.value(depth + 1)?;
            table.raw_set(index, item)?;
            index += 1;
            self.skip_space();
            match self.input.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Table(table));
                }
                _ => return Err(self.unexpected("comma or array end")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value> {
        self.at += 1;
        let table = self.lua.create_table()?;
        self.skip_space();
        if self.input.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(Value::Table(table));
        }
        loop {
            self.skip_space();
            if self.input.get(self.at) != Some(&b'"') {
                return Err(self.unexpected("object key string"));
            }
            let key = self.string()?;
            self.skip_space();
            if self.input.get(self.at) != Some(&b':') {
                return Err(self.unexpected("colon"));
            }
            self.at += 1;
            self.skip_space();
            let item = self.value(depth + 1)?;
            table.raw_set(self.lua.create_string(key)?, item)?;
            self.skip_space();
            match self.input.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Table(table));
                }
                _ => return Err(self.unexpected("comma or object end")),
            }
        }
    }
}
