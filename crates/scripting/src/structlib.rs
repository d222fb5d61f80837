//! The `struct` library Redis bundles (Roberto Ierusalimschy's lua-struct): `pack`,
//! `unpack` and `size` of binary records described by a format string, with the
//! library's options (`>` `<` `!n` endianness and alignment, `b B h H l L T i[n] I[n]`
//! integers, `f d` floats, `c[n]` fixed strings, `s` zero-terminated strings, `x`
//! padding) and its error texts. Sizes are those of x86-64 Linux, where Redis runs.

use mlua::{Lua, LuaString, MultiValue, Result, Table, Value};

/// Largest integral size (`MAXINTSIZE`).
const MAX_INT_SIZE: usize = 32;
/// Default `!` alignment: the platform's maximum (`MAXALIGN`).
const MAX_ALIGN: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endian {
    Big,
    Little,
}

struct Header {
    endian: Endian,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Self {
            endian: Endian::Little,
            align: 1,
        }
    }
}

fn error(message: String) -> mlua::Error {
    mlua::Error::RuntimeError(message)
}

fn arg_error(position: usize, function: &str, message: &str) -> mlua::Error {
    error(format!(
        "bad argument #{position} to '{function}' ({message})"
    ))
}

/// Lua 5.1's type name of a value, for "expected, got" errors.
fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(Value::UserData(_) | Value::LightUserData(_)) => "userdata",
        Some(_) => "userdata",
    }
}

/// `luaL_checknumber`: a number, or a string that converts to one.
fn check_number(args: &MultiValue, position: usize, function: &str) -> Result<f64> {
    let value = args.get(position - 1);
    let found = match value {
        Some(Value::Integer(n)) => Some(*n as f64),
        Some(Value::Number(n)) => Some(*n),
        Some(Value::String(s)) => s.to_str().ok().and_then(|s| lua_number(&s)),
        _ => None,
    };
    found.ok_or_else(|| {
        arg_error(
            position,
            function,
            &format!("number expected, got {}", type_name(value)),
        )
    })
}

/// Lua 5.1's string-to-number conversion (`lua_str2number` then trailing spaces).
fn lua_number(text: &str) -> Option<f64> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|n| n as f64);
    }
    t.parse::<f64>().ok()
}

/// `luaL_checklstring`: a string, or a number converted to one.
fn check_bytes(lua: &Lua, args: &MultiValue, position: usize, function: &str) -> Result<Vec<u8>> {
    let value = args.get(position - 1);
    match value {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        // Lua's own number formatting (`%.14g`).
        Some(v @ (Value::Integer(_) | Value::Number(_))) => match lua.coerce_string(v.clone())? {
            Some(s) => Ok(s.as_bytes().to_vec()),
            None => Err(arg_error(position, function, "string expected, got number")),
        },
        _ => Err(arg_error(
            position,
            function,
            &format!("string expected, got {}", type_name(value)),
        )),
    }
}

/// `getnum`: digits at `fmt[*at..]`, or `default` when there are none.
fn get_number(fmt: &[u8], at: &mut usize, default: usize) -> Result<usize> {
    if !fmt.get(*at).is_some_and(u8::is_ascii_digit) {
        return Ok(default);
    }
    let mut n: usize = 0;
    while let Some(&d) = fmt.get(*at).filter(|d| d.is_ascii_digit()) {
        let digit = usize::from(d - b'0');
        if n > (i32::MAX as usize) / 10 || n * 10 > (i32::MAX as usize) - digit {
            return Err(error("integral size overflow".into()));
        }
        n = n * 10 + digit;
        *at += 1;
    }
    Ok(n)
}

/// `optsize`: the size of option `opt` (0 for the control options).
fn option_size(opt: u8, fmt: &[u8], at: &mut usize) -> Result<usize> {
    Ok(match opt {
        b'B' | b'b' | b'x' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'c' => get_number(fmt, at, 1)?,
        b'i' | b'I' => {
            let size = get_number(fmt, at, 4)?;
            if size > MAX_INT_SIZE {
                return Err(error(format!(
                    "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                )));
            }
            size
        }
        _ => 0,
    })
}

/// `gettoalign`: padding before an item of `size` at offset `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

/// `controloptions`: endianness, alignment and spaces; anything else is an error.
fn control(opt: u8, fmt: &[u8], at: &mut usize, h: &mut Header, function: &str) -> Result<()> {
    match opt {
        b' ' => Ok(()),
        b'>' => {
            h.endian = Endian::Big;
            Ok(())
        }
        b'<' => {
            h.endian = Endian::Little;
            Ok(())
        }
        b'!' => {
            let a = get_number(fmt, at, MAX_ALIGN)?;
            if a == 0 || !a.is_power_of_two() {
                return Err(error(format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
            Ok(())
        }
        other => Err(arg_error(
            1,
            function,
            &format!("invalid format option '{}'", other as char),
        )),
    }
}

/// A double converted to a C `long` as x86-64 converts it: NaN and values out of range
/// become `LONG_MIN`.
fn c_long(n: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// A non-negative double converted to a C `unsigned long` as gcc does on x86-64:
/// through a signed conversion, offset by 2^63 past it (so infinity, NaN and values
/// past 2^64 become 0).
fn c_ulong(n: f64) -> u64 {
    const HALF: f64 = 9_223_372_036_854_775_808.0;
    if n < HALF {
        c_long(n) as u64
    } else {
        (c_long(n - HALF) as u64) ^ (1 << 63)
    }
}

fn put_integer(out: &mut Vec<u8>, n: f64, endian: Endian, size: usize) {
    let mut value = if n < 0.0 {
        c_long(n) as u64
    } else {
        c_ulong(n)
    };
    let mut bytes = vec![0u8; size];
    for i in 0..size {
        let at = if endian == Endian::Little {
            i
        } else {
            size - 1 - i
        };
        bytes[at] = (value & 0xff) as u8;
        value >>= 8;
    }
    out.extend_from_slice(&bytes);
}

fn get_integer(bytes: &[u8], endian: Endian, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    for i in 0..size {
        let at = if endian == Endian::Big {
            i
        } else {
            size - 1 - i
        };
        l = (l << 8) | u64::from(bytes[at]);
    }
    if !signed {
        return l as f64;
    }
    // As the C library computes it (the shift wraps as x86 does past 63 bits).
    let mask = u64::MAX.wrapping_shl((size * 8).wrapping_sub(1) as u32);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn pack(lua: &Lua, mut args: MultiValue) -> Result<LuaString> {
    // The C library pushes a nil after its arguments (a mark before its buffer), so
    // the first missing argument reads as nil, the ones after it as no value.
    args.push_back(Value::Nil);
    let fmt = check_bytes(lua, &args, 1, "pack")?;
    let mut h = Header::default();
    let mut arg = 2;
    let mut out = Vec::new();
    let mut at = 0;
    while at < fmt.len() {
        let opt = fmt[at];
        at += 1;
        let mut size = option_size(opt, &fmt, &mut at)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(&args, arg, "pack")?;
                arg += 1;
                put_integer(&mut out, n, h.endian, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = check_number(&args, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&match h.endian {
                    Endian::Little => f.to_le_bytes(),
                    Endian::Big => f.to_be_bytes(),
                });
            }
            b'd' => {
                let d = check_number(&args, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&match h.endian {
                    Endian::Little => d.to_le_bytes(),
                    Endian::Big => d.to_be_bytes(),
                });
            }
            b'c' | b's' => {
                let s = check_bytes(lua, &args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(arg_error(arg, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            other => control(other, &fmt, &mut at, &mut h, "pack")?,
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, args: MultiValue) -> Result<MultiValue> {
    let fmt = check_bytes(lua, &args, 1, "unpack")?;
    let data = check_bytes(lua, &args, 2, "unpack")?;
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1,
        Some(_) => c_long(check_number(&args, 3, "unpack")?),
    };
    if start == 0 {
        return Err(arg_error(3, "unpack", "offset must be 1 or greater"));
    }
    let too_short = || arg_error(2, "unpack", "data string too short");
    // A negative offset is a huge one in the C library's size_t.
    let mut pos = usize::try_from(start.saturating_sub(1)).unwrap_or(usize::MAX);
    let mut h = Header::default();
    let mut results: Vec<Value> = Vec::new();
    let mut at = 0;
    while at < fmt.len() {
        let opt = fmt[at];
        at += 1;
        let mut size = option_size(opt, &fmt, &mut at)?;
        pos = pos.saturating_add(to_align(pos, &h, opt, size));
        if size > data.len() || pos > data.len() - size {
            return Err(too_short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                results.push(Value::Number(get_integer(
                    &data[pos..pos + size],
                    h.endian,
                    signed,
                    size,
                )));
            }
            b'x' => {}
            b'f' => {
                let bytes: [u8; 4] = data[pos..pos + 4].try_into().map_err(|_| too_short())?;
                let f = match h.endian {
                    Endian::Little => f32::from_le_bytes(bytes),
                    Endian::Big => f32::from_be_bytes(bytes),
                };
                results.push(Value::Number(f64::from(f)));
            }
            b'd' => {
                let bytes: [u8; 8] = data[pos..pos + 8].try_into().map_err(|_| too_short())?;
                let d = match h.endian {
                    Endian::Little => f64::from_le_bytes(bytes),
                    Endian::Big => f64::from_be_bytes(bytes),
                };
                results.push(Value::Number(d));
            }
            b'c' => {
                if size == 0 {
                    let previous = match results.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(Value::Integer(n)) => Some(*n as f64),
                        Some(Value::String(s)) => s.to_str().ok().and_then(|s| lua_number(&s)),
                        _ => None,
                    };
                    let Some(n) = previous else {
                        return Err(error("format 'c0' needs a previous size".into()));
                    };
                    results.pop();
                    size = if n < 0.0 { usize::MAX } else { n as usize };
                    if size > data.len() || pos > data.len() - size {
                        return Err(too_short());
                    }
                }
                results.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(error("unfinished string in data".into()));
                };
                results.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            other => control(other, &fmt, &mut at, &mut h, "unpack")?,
        }
        pos = pos.saturating_add(size);
    }
    results.push(Value::Number((pos as f64) + 1.0));
    Ok(MultiValue::from_iter(results))
}

fn size(lua: &Lua, args: MultiValue) -> Result<f64> {
    let fmt = check_bytes(lua, &args, 1, "size")?;
    let mut h = Header::default();
    let mut pos = 0usize;
    let mut at = 0;
    while at < fmt.len() {
        let opt = fmt[at];
        at += 1;
        let size = option_size(opt, &fmt, &mut at)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Err(arg_error(1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            control(opt, &fmt, &mut at, &mut h, "size")?;
        }
        pos += size;
    }
    Ok(pos as f64)
}

/// Builds the `struct` table.
pub fn create(lua: &Lua) -> Result<Table> {
    let table = lua.create_table()?;
    table.raw_set("pack", lua.create_function(pack)?)?;
    table.raw_set("unpack", lua.create_function(unpack)?)?;
    table.raw_set("size", lua.create_function(size)?)?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_follow_x86_64_c() {
        assert_eq!(c_long(f64::NAN), i64::MIN);
        assert_eq!(c_long(f64::INFINITY), i64::MIN);
        assert_eq!(c_long(-2.9), -2);
        assert_eq!(c_ulong(f64::INFINITY), 0);
        assert_eq!(c_ulong(f64::NAN), 0);
        assert_eq!(c_ulong(1e30), 0);
        assert_eq!(c_ulong(9_223_372_036_854_775_808.0), 1 << 63);
        assert_eq!(c_ulong(513.7), 513);
    }

    #[test]
    fn integers_round_trip_with_sign_extension() {
        let mut out = Vec::new();
        put_integer(&mut out, -2.0, Endian::Big, 2);
        assert_eq!(out, vec![0xff, 0xfe]);
        assert_eq!(get_integer(&out, Endian::Big, true, 2), -2.0);
        assert_eq!(get_integer(&out, Endian::Big, false, 2), 65534.0);
        let mut little = Vec::new();
        put_integer(&mut little, 513.0, Endian::Little, 4);
        assert_eq!(little, vec![1, 2, 0, 0]);
        assert_eq!(
            to_align(
                1,
                &Header {
                    endian: Endian::Little,
                    align: 4
                },
                b'i',
                4
            ),
            3
        );
        assert_eq!(
            to_align(1, &Header::default(), b'i', 4),
            0,
            "align 1: packed"
        );
    }
}
