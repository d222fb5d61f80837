//! SORT and SORT_RO: the elements of a list, set or sorted set ordered by themselves or
//! by values looked up through `BY` patterns, projected through `GET` patterns, and
//! answered or stored as a list — with Redis 7.0's rules, including its quirks: C
//! strings for pattern syntax and `ALPHA` comparisons, `strtod` for numeric keys, and
//! an unsorted set stored in byte order so every replica stores the same list.

use std::cmp::Ordering;

use bytes::Bytes;
use okapi_types::num::parse_f64_strict;

use crate::engine::ApplyCtx;
use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::value::{ListValue, Value};

/// What the elements are ordered by.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SortBy {
    /// The elements themselves.
    Element,
    /// The value at the key (or hash field, `key->field`) the pattern forms when its
    /// first `*` is replaced by the element.
    Pattern(Bytes),
    /// A `BY` pattern without `*`: no sorting, the key's own order.
    NoSort,
    /// `NoSort` in a SORT a script called: a set is sorted by its bytes, as Redis
    /// sorts it for scripts (a list or sorted set keeps its own order).
    NoSortFromScript,
}

/// SORT's options, parsed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SortSpec {
    /// Order key.
    pub by: SortBy,
    /// `LIMIT offset count`, as given (negative values are clamped as Redis clamps).
    pub limit: Option<(i64, i64)>,
    /// `GET` patterns in order (`#` is the element itself).
    pub get: Vec<Bytes>,
    /// Descending.
    pub desc: bool,
    /// Compare as strings instead of numbers.
    pub alpha: bool,
}

/// One element and what it is ordered by.
struct Item {
    element: Bytes,
    score: f64,
    by: Option<Bytes>,
}

/// SORT without STORE: the result, with nil for a `GET` that found nothing.
pub(crate) fn query(
    ks: &Keyspace,
    key: &[u8],
    spec: &SortSpec,
    now: u64,
) -> Result<Reply, EngineError> {
    let rows = sort(ks, key, spec, now, false)?;
    Ok(Reply::Array(
        rows.into_iter()
            .map(|row| row.map_or(Reply::Nil, Reply::Bulk))
            .collect(),
    ))
}

/// SORT … STORE dst: the result as a list under `dst` (a `GET` that found nothing
/// stores an empty string); an empty result deletes `dst`. Replies with the length.
pub(crate) fn store(
    ks: &mut Keyspace,
    key: &[u8],
    spec: &SortSpec,
    dst: Bytes,
    ctx: &ApplyCtx,
) -> Result<Reply, EngineError> {
    let rows = sort(ks, key, spec, ctx.now_ms, true)?;
    let len = rows.len();
    if rows.is_empty() {
        ks.delete(&dst, ctx);
    } else {
        let list: ListValue = rows.into_iter().map(Option::unwrap_or_default).collect();
        ks.insert(&dst, Value::List(list), ctx);
        ks.notify(EventClass::LIST, "sortstore", &dst);
    }
    Ok(Reply::Int(len as i64))
}

/// The sorted, limited and projected rows (`sortCommandGeneric`).
fn sort(
    ks: &Keyspace,
    key: &[u8],
    spec: &SortSpec,
    now: u64,
    storing: bool,
) -> Result<Vec<Option<Bytes>>, EngineError> {
    let value = match ks.peek(key, now) {
        None => None,
        Some(entry) => match &entry.value {
            v @ (Value::List(_) | Value::Set(_) | Value::ZSet(_)) => Some(v),
            _ => return Err(EngineError::WrongType),
        },
    };
    let (mut by, mut alpha) = (&spec.by, spec.alpha);
    let from_script = *by == SortBy::NoSortFromScript;
    if from_script {
        by = &SortBy::NoSort;
    }
    // An unsorted set comes out in hash order, which differs between replicas' hash
    // seeds; a stored one, or one a script reads, is sorted by its bytes instead, as
    // Redis does.
    if (storing || from_script) && *by == SortBy::NoSort && matches!(value, Some(Value::Set(_))) {
        by = &SortBy::Element;
        alpha = true;
    }
    let len = value.map_or(0, |v| match v {
        Value::List(l) => l.len(),
        Value::Set(s) => s.len(),
        Value::ZSet(z) => z.len(),
        _ => 0,
    }) as i64;
    let (limit_start, limit_count) = spec.limit.unwrap_or((0, -1));
    // Clamped to the size first, so nothing overflows (Redis 7.0.15 does the same).
    let mut start = limit_start.clamp(0, len);
    let limit_count = limit_count.clamp(-1, len);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start + limit_count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);

    let ordered_natively =
        *by == SortBy::NoSort && matches!(value, Some(Value::List(_) | Value::ZSet(_)));
    let mut items: Vec<Item> = Vec::new();
    let item = |element: Bytes| Item {
        element,
        score: 0.0,
        by: None,
    };
    if ordered_natively {
        // Only the selected range is loaded, in the key's order (reversed for DESC).
        if end >= start {
            let (skip, take) = (start as usize, (end - start + 1) as usize);
            match value {
                Some(Value::List(list)) => {
                    if spec.desc {
                        items.extend(list.iter().rev().skip(skip).take(take).cloned().map(item));
                    } else {
                        items.extend(list.iter().skip(skip).take(take).cloned().map(item));
                    }
                }
                Some(Value::ZSet(zset)) => {
                    let from = if spec.desc {
                        zset.len().saturating_sub(skip + 1)
                    } else {
                        skip
                    };
                    items.extend(
                        zset.iter_from(from, spec.desc)
                            .take(take)
                            .map(|e| item(e.member.clone())),
                    );
                }
                _ => {}
            }
            end -= start;
            start = 0;
        }
    } else {
        match value {
            Some(Value::List(list)) => items.extend(list.iter().cloned().map(item)),
            Some(Value::Set(set)) => items.extend(set.iter().map(|(m, _)| item(m.clone()))),
            Some(Value::ZSet(zset)) => items.extend(zset.iter().map(|e| item(e.member.clone()))),
            _ => {}
        }
    }

    let mut not_double = false;
    if *by != SortBy::NoSort {
        for it in &mut items {
            let key_value = match by {
                SortBy::Pattern(pattern) => match lookup(ks, pattern, &it.element, now) {
                    Some(found) => found,
                    None => continue,
                },
                _ => it.element.clone(),
            };
            if alpha {
                if matches!(by, SortBy::Pattern(_)) {
                    it.by = Some(key_value);
                }
            } else {
                match parse_f64_strict(&key_value) {
                    Some(score) => it.score = score,
                    None => not_double = true,
                }
            }
        }
        let by_pattern = matches!(by, SortBy::Pattern(_));
        // A stable sort: elements that compare equal keep their input order, as glibc's
        // merge sort (behind Redis's qsort) keeps them.
        items.sort_by(|a, b| {
            let order = compare(a, b, alpha, by_pattern, storing);
            if spec.desc { order.reverse() } else { order }
        });
    }
    if not_double {
        return Err(EngineError::SortScore);
    }

    let mut rows = Vec::new();
    if end >= start {
        for it in &items[start as usize..=end as usize] {
            if spec.get.is_empty() {
                rows.push(Some(it.element.clone()));
            }
            for pattern in &spec.get {
                rows.push(lookup(ks, pattern, &it.element, now));
            }
        }
    }
    Ok(rows)
}

/// `sortCompare`: numbers with ties broken by the elements' bytes; strings compared as
/// C strings (up to a NUL, as `strcoll` in the C locale) unless the result is stored,
/// which compares whole byte strings. A missing `BY` value sorts first under `ALPHA`.
fn compare(a: &Item, b: &Item, alpha: bool, by_pattern: bool, storing: bool) -> Ordering {
    let text = |x: &[u8], y: &[u8]| {
        if storing {
            x.cmp(y)
        } else {
            c_str(x).cmp(c_str(y))
        }
    };
    if !alpha {
        return a
            .score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.element.cmp(&b.element));
    }
    if by_pattern {
        return match (&a.by, &b.by) {
            (Some(x), Some(y)) => text(x, y),
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
        };
    }
    text(&a.element, &b.element)
}

/// The bytes a C string function sees: everything before the first NUL.
pub fn c_str(bytes: &[u8]) -> &[u8] {
    bytes.split(|&b| b == 0).next().unwrap_or_default()
}

/// `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*` is replaced
/// by the element and the key (a string) or, with `->field` after the `*`, the hash
/// field is read. A pattern without `*` never finds anything.
pub(crate) fn lookup(ks: &Keyspace, pattern: &[u8], element: &[u8], now: u64) -> Option<Bytes> {
    let syntax = c_str(pattern);
    if syntax == b"#" {
        return Some(Bytes::copy_from_slice(element));
    }
    let star = syntax.iter().position(|&b| b == b'*')?;
    let field = syntax[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|at| star + 1 + at)
        .filter(|&arrow| arrow + 2 < syntax.len());
    let key_end = field.unwrap_or(pattern.len());
    let mut key = Vec::with_capacity(key_end + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let entry = ks.peek(&key, now)?;
    match (&entry.value, field) {
        (Value::Hash(hash), Some(arrow)) => hash.get(&pattern[arrow + 2..]).cloned(),
        (Value::Str(s), None) => Some(s.to_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
