//! Sorted-set commands end to end, one module per area; helpers to build expected
//! replies shared here.

mod basics;
mod blocking;
mod pops;
mod ranges;
mod stores;

use redis::Value;

/// A bulk string reply.
pub fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

/// An array of bulk strings.
pub fn bulks(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| bulk(s)).collect())
}

/// An array reply.
pub fn arr(items: Vec<Value>) -> Value {
    Value::Array(items)
}

/// Member/score pairs as RESP2 sends them: one flat array of bulk strings.
pub fn flat_pairs(items: &[(&str, &str)]) -> Value {
    Value::Array(items.iter().flat_map(|(m, s)| [bulk(m), bulk(s)]).collect())
}

/// Member/score pairs as ZMPOP and BZMPOP send them in RESP2: nested two-element
/// arrays of bulk strings.
pub fn nested_bulk_pairs(items: &[(&str, &str)]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|(m, s)| arr(vec![bulk(m), bulk(s)]))
            .collect(),
    )
}

/// Member/score pairs as RESP3 sends them: nested two-element arrays with doubles.
pub fn nested_pairs(items: &[(&str, f64)]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|(m, s)| arr(vec![bulk(m), Value::Double(*s)]))
            .collect(),
    )
}
