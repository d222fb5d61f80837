//! The `cmsgpack` library Redis bundles (lua-cmsgpack 0.4): `pack` (of one or more
//! values, concatenated), `unpack`, `unpack_one` and `unpack_limit`, with its choices
//! — integers in the smallest encoding, floats as float32 when exact, strings as
//! str8/16/32, tables with keys 1..n as arrays and others as maps, nesting beyond 16
//! and unsupported types as nil — and its error texts.

use mlua::{Lua, MultiValue, Result, Table, Value};

const MAX_NESTING: usize = 16;

fn error(text: &str) -> mlua::Error {
    mlua::Error::RuntimeError(text.to_owned())
}

/// Builds the `cmsgpack` table.
pub fn create(lua: &Lua) -> Result<Table> {
    let table = lua.create_table()?;
    table.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(error(
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                ));
            }
            let mut out = Vec::new();
            for value in args.iter() {
                encode(&mut out, value, 0)?;
            }
            lua.create_string(out)
        })?,
    )?;
    table.raw_set(
        "unpack",
        lua.create_function(|lua, data: mlua::LuaString| {
            let bytes = data.as_bytes();
            let mut decoder = Decoder {
                lua,
                input: &bytes,
                at: 0,
            };
            let mut values = Vec::new();
            while decoder.at < decoder.input.len() {
                values.push(decoder.value()?);
            }
            Ok(MultiValue::from_vec(values))
        })?,
    )?;
    table.raw_set(
        "unpack_one",
        lua.create_function(|lua, (data, offset): (mlua::LuaString, Option<f64>)| {
            unpack_limited(lua, &data.as_bytes(), 1, c_int(offset.unwrap_or(0.0)))
        })?,
    )?;
    table.raw_set(
        "unpack_limit",
        lua.create_function(
            |lua, (data, limit, offset): (mlua::LuaString, f64, Option<f64>)| {
                unpack_limited(
                    lua,
                    &data.as_bytes(),
                    c_int(limit),
                    c_int(offset.unwrap_or(0.0)),
                )
            },
        )?,
    )?;
    Ok(table)
}

/// A Lua number as `luaL_checkinteger` gives it in Lua 5.1: truncated, and out of
/// range (or NaN) as x86's "integer indefinite", the smallest integer.
fn c_int(n: f64) -> i64 {
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

/// `mp_unpack_full`: up to `limit` values from `offset`, after the offset where
/// decoding would go on (-1 at the end of the input); with neither a limit nor an
/// offset, every value and no offset, as `unpack`.
fn unpack_limited(lua: &Lua, input: &[u8], limit: i64, offset: i64) -> Result<MultiValue> {
    if offset < 0 || limit < 0 {
        // lua-cmsgpack names the input's length where it says "limit".
        return Err(error(&format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            input.len()
        )));
    }
    let start = usize::try_from(offset)
        .ok()
        .filter(|&o| o <= input.len())
        .ok_or_else(|| {
            error(&format!(
                "Start offset {offset} greater than input length {}.",
                input.len()
            ))
        })?;
    let mut decoder = Decoder {
        lua,
        input,
        at: start,
    };
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i64::MAX } else { limit };
    let mut values = Vec::new();
    while decoder.at < input.len() && (values.len() as i64) < limit {
        values.push(decoder.value()?);
    }
    if decode_all {
        return Ok(MultiValue::from_vec(values));
    }
    let next = if decoder.at >= input.len() {
        -1
    } else {
        decoder.at as i64
    };
    let mut out = vec![Value::Integer(next)];
    out.extend(values);
    Ok(MultiValue::from_vec(out))
}

fn integer(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        let u = n as u64;
        if u < 128 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn number(out: &mut Vec<u8>, n: f64) {
    // lua-cmsgpack's test: the number converts to an int64 and back unchanged.
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        let i = n as i64;
        if i as f64 == n {
            integer(out, i);
            return;
        }
    }
    let f = n as f32;
    if f64::from(f) == n {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn length(out: &mut Vec<u8>, len: usize, fixed: (u8, usize), tags: [u8; 3]) {
    if len < fixed.1 {
        out.push(fixed.0 | len as u8);
    } else if len <= 0xff && tags[0] != 0 {
        out.extend_from_slice(&[tags[0], len as u8]);
    } else if len <= 0xffff {
        out.push(tags[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(tags[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// lua-cmsgpack's array test: every key a positive integer and no hole below the
/// largest.
fn array_length(table: &Table) -> Result<Option<usize>> {
    let mut count = 0usize;
    let mut max = 0usize;
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let index = match key {
            Value::Integer(n) if n >= 1 => n as usize,
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
            _ => return Ok(None),
        };
        count += 1;
        max = max.max(index);
    }
    Ok((count == max).then_some(max))
}

fn encode(out: &mut Vec<u8>, value: &Value, depth: usize) -> Result<()> {
    match value {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => integer(out, *n),
        Value::Number(n) => number(out, *n),
        Value::String(s) => {
            let bytes = s.as_bytes();
            length(out, bytes.len(), (0xa0, 32), [0xd9, 0xda, 0xdb]);
            out.extend_from_slice(&bytes);
        }
        Value::Table(table) if depth < MAX_NESTING => match array_length(table)? {
            Some(len) => {
                length(out, len, (0x90, 16), [0, 0xdc, 0xdd]);
                for i in 1..=len {
                    encode(out, &table.raw_get::<Value>(i)?, depth + 1)?;
                }
            }
            None => {
                let pairs: Vec<(Value, Value)> =
                    table.pairs::<Value, Value>().collect::<Result<_>>()?;
                length(out, pairs.len(), (0x80, 16), [0, 0xde, 0xdf]);
                for (key, item) in &pairs {
                    encode(out, key, depth + 1)?;
                    encode(out, item, depth + 1)?;
                }
            }
        },
        // Nil, too deep tables and types MessagePack has no place for.
        _ => out.push(0xc0),
    }
    Ok(())
}

struct Decoder<'a> {
    lua: &'a Lua,
    input: &'a [u8],
    at: usize,
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.input.len())
            .ok_or_else(|| error("Missing bytes in input."))?;
        let bytes = &self.input[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn uint(&mut self, n: usize) -> Result<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    }

    fn string(&mut self, len: usize) -> Result<Value> {
        let bytes = self.take(len)?.to_vec();
        Ok(Value::String(self.lua.create_string(bytes)?))
    }

    fn array(&mut self, len: usize) -> Result<Value> {
        let table = self.lua.create_table()?;
        for i in 1..=len {
            let item = self.value()?;
            table.raw_set(i, item)?;
        }
        Ok(Value::Table(table))
    }

    fn map(&mut self, len: usize) -> Result<Value> {
        let table = self.lua.create_table()?;
        for _ in 0..len {
            let key = self.value()?;
            let item = self.value()?;
            if !key.is_nil() {
                table.raw_set(key, item)?;
            }
        }
        Ok(Value::Table(table))
    }

    fn value(&mut self) -> Result<Value> {
        let tag = self.take(1)?[0];
        Ok(match tag {
            0x00..=0x7f => Value::Integer(i64::from(tag)),
            0x80..=0x8f => self.map(usize::from(tag & 0x0f))?,
            0x90..=0x9f => self.array(usize::from(tag & 0x0f))?,
            0xa0..=0xbf => self.string(usize::from(tag & 0x1f))?,
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xc4 | 0xd9 => {
                let n = self.uint(1)? as usize;
                self.string(n)?
            }
            0xc5 | 0xda => {
                let n = self.uint(2)? as usize;
                self.string(n)?
            }
            0xc6 | 0xdb => {
                let n = self.uint(4)? as usize;
                self.string(n)?
            }
            0xca => Value::Number(f64::from(f32::from_bits(self.uint(4)? as u32))),
            0xcb => Value::Number(f64::from_bits(self.uint(8)?)),
            0xcc => Value::Integer(self.uint(1)? as i64),
            0xcd => Value::Integer(self.uint(2)? as i64),
            0xce => Value::Integer(self.uint(4)? as i64),
            // lua-cmsgpack reads it as a signed 64-bit integer, so the top half wraps.
            0xcf => Value::Integer(self.uint(8)? as i64),
            0xd0 => Value::Integer(i64::from(self.uint(1)? as u8 as i8)),
            0xd1 => Value::Integer(i64::from(self.uint(2)? as u16 as i16)),
            0xd2 => Value::Integer(i64::from(self.uint(4)? as u32 as i32)),
            0xd3 => Value::Integer(self.uint(8)? as i64),
            0xdc => {
                let n = self.uint(2)? as usize;
                self.array(n)?
            }
            0xdd => {
                let n = self.uint(4)? as usize;
                self.array(n)?
            }
            0xde => {
                let n = self.uint(2)? as usize;
                self.map(n)?
            }
            0xdf => {
                let n = self.uint(4)? as usize;
                self.map(n)?
            }
            0xe0..=0xff => Value::Integer(i64::from(tag as i8)),
            _ => return Err(error("Bad data format in input.")),
        })
    }
}
