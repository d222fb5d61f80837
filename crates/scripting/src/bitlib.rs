//! The `bit` library Redis bundles (LuaBitOp 1.0): 32-bit operations on Lua numbers,
//! results as signed 32-bit numbers.

use mlua::{Lua, MultiValue, Result, Table, Value};

/// LuaBitOp's `tobit`: the number rounded to an integer, its low 32 bits, signed.
fn tobit(value: f64) -> i32 {
    if !value.is_finite() {
        return 0;
    }
    let rounded = value.round_ties_even();
    (rounded.rem_euclid(4_294_967_296.0) as u64) as u32 as i32
}

fn number(value: &Value, position: usize, name: &str) -> Result<f64> {
    match value {
        Value::Integer(n) => Ok(*n as f64),
        Value::Number(n) => Ok(*n),
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| bad_argument(position, name)),
        _ => Err(bad_argument(position, name)),
    }
}

fn bad_argument(position: usize, name: &str) -> mlua::Error {
    mlua::Error::RuntimeError(format!(
        "bad argument #{position} to '{name}' (number expected)"
    ))
}

fn bits(args: &MultiValue, name: &str) -> Result<Vec<i32>> {
    if args.is_empty() {
        return Err(bad_argument(1, name));
    }
    args.iter()
        .enumerate()
        .map(|(i, v)| number(v, i + 1, name).map(tobit))
        .collect()
}

fn fold(lua: &Lua, table: &Table, name: &'static str, op: fn(i32, i32) -> i32) -> Result<()> {
    table.raw_set(
        name,
        lua.create_function(move |_, args: MultiValue| {
            let values = bits(&args, name)?;
            Ok(f64::from(
                values[1..].iter().fold(values[0], |a, &b| op(a, b)),
            ))
        })?,
    )
}

fn shift(lua: &Lua, table: &Table, name: &'static str, op: fn(i32, u32) -> i32) -> Result<()> {
    table.raw_set(
        name,
        lua.create_function(move |_, args: MultiValue| {
            let values = bits(&args, name)?;
            let by = values
                .get(1)
                .copied()
                .ok_or_else(|| bad_argument(2, name))? as u32
                & 31;
            Ok(f64::from(op(values[0], by)))
        })?,
    )
}

/// Builds the `bit` table.
pub fn create(lua: &Lua) -> Result<Table> {
    let table = lua.create_table()?;
    table.raw_set(
        "tobit",
        lua.create_function(|_, args: MultiValue| Ok(f64::from(bits(&args, "tobit")?[0])))?,
    )?;
    table.raw_set(
        "bnot",
        lua.create_function(|_, args: MultiValue| Ok(f64::from(!bits(&args, "bnot")?[0])))?,
    )?;
    table.raw_set(
        "bswap",
        lua.create_function(|_, args: MultiValue| {
            Ok(f64::from(bits(&args, "bswap")?[0].swap_bytes()))
        })?,
    )?;
    table.raw_set(
        "tohex",
        lua.create_function(|_, args: MultiValue| {
            let values = bits(&args, "tohex")?;
            let digits = values.get(1).copied().unwrap_or(8);
            let upper = digits < 0;
            let count = digits.unsigned_abs().min(8) as usize;
            let hex = if upper {
                format!("{:08X}", values[0] as u32)
            } else {
                format!("{:08x}", values[0] as u32)
            };
            Ok(hex[8 - count..].to_owned())
        })?,
    )?;
    fold(lua, &table, "band", |a, b| a & b)?;
    fold(lua, &table, "bor", |a, b| a | b)?;
    fold(lua, &table, "bxor", |a, b| a ^ b)?;
    shift(lua, &table, "lshift", |a, n| ((a as u32) << n) as i32)?;
    shift(lua, &table, "rshift", |a, n| ((a as u32) >> n) as i32)?;
    shift(lua, &table, "arshift", |a, n| a >> n)?;
    shift(lua, &table, "rol", |a, n| (a as u32).rotate_left(n) as i32)?;
    shift(lua, &table, "ror", |a, n| (a as u32).rotate_right(n) as i32)?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::tobit;

    #[test]
    fn tobit_wraps_to_signed_32_bits() {
        assert_eq!(tobit(0xffff_ffff_u32 as f64), -1);
        assert_eq!(tobit(4_294_967_296.0 + 5.0), 5);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(2.5), 2);
        assert_eq!(tobit(3.5), 4);
    }
}
