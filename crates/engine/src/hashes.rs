//! Hash ops and reads: fields and values, counters, random fields and HSCAN.

use bytes::Bytes;
use okapi_types::long_double::LongDouble;
use okapi_types::num::{parse_f64, parse_i64};

use crate::error::EngineError;
use crate::glob::glob_match;
use crate::keys::scan_reply;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::rng::Rng;
use crate::sets::{check_repeats, pick_one, sample, scan_window};
use crate::value::{HashValue, detach};
use crate::{ApplyCtx, ReadCtx};

/// Hash writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum HashOp {
    /// HSET (replies the number of new fields) / HMSET (replies OK).
    Set {
        /// Key.
        key: Bytes,
        /// Field/value pairs, in order (a later duplicate wins).
        pairs: Vec<(Bytes, Bytes)>,
        /// Reply OK instead of a count (HMSET).
        reply_ok: bool,
    },
    /// HSETNX: replies 1 if the field was set, 0 if it existed.
    SetNx {
        /// Key.
        key: Bytes,
        /// Field.
        field: Bytes,
        /// Value.
        value: Bytes,
    },
    /// HDEL: replies the number of fields removed.
    Del {
        /// Key.
        key: Bytes,
        /// Fields.
        fields: Vec<Bytes>,
    },
    /// HINCRBY.
    IncrBy {
        /// Key.
        key: Bytes,
        /// Field.
        field: Bytes,
        /// Increment.
        delta: i64,
    },
    /// HINCRBYFLOAT as okapi wrote it before 2026-12 (`f64` arithmetic); kept so
    /// older logs replay as they first applied. New commands use `IncrByFloatText`.
    IncrByFloat {
        /// Key.
        key: Bytes,
        /// Field.
        field: Bytes,
        /// Increment.
        delta: f64,
    },
    /// HINCRBYFLOAT in `long double` arithmetic as Redis; the command layer has checked
    /// that the increment is a finite float.
    IncrByFloatText {
        /// Key.
        key: Bytes,
        /// Field.
        field: Bytes,
        /// Increment, as the client sent it.
        increment: Bytes,
    },
}

/// Hash reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum HashQuery {
    /// HGET.
    Get {
        /// Key.
        key: Bytes,
        /// Field.
        field: Bytes,
    },
    /// HMGET: a missing key reads as an empty hash.
    MGet {
        /// Key.
        key: Bytes,
        /// Fields.
        fields: Vec<Bytes>,
    },
    /// HGETALL: a map in RESP3, a flat array in RESP2.
    GetAll {
        /// Key.
        key: Bytes,
    },
    /// HKEYS.
    Keys {
        /// Key.
        key: Bytes,
    },
    /// HVALS.
    Vals {
        /// Key.
        key: Bytes,
    },
    /// HLEN.
    Len {
        /// Key.
        key: Bytes,
    },
    /// HEXISTS.
    Exists {
        /// Key.
        key: Bytes,
        /// Field.
        field: Bytes,
    },
    /// HSTRLEN.
    StrLen {
        /// Key.
        key: Bytes,
        /// Field.
        field: Bytes,
    },
    /// HRANDFIELD.
    RandField {
        /// Key.
        key: Bytes,
        /// `None`: one field as a bulk; `Some(n)`: `n` distinct fields (at most the
        /// hash), or `-n` fields with repeats when negative.
        count: Option<i64>,
        /// Reply field/value pairs (only with a count).
        with_values: bool,
    },
    /// HSCAN.
    Scan {
        /// Key.
        key: Bytes,
        /// Cursor from the previous call (0 to start).
        cursor: u64,
        /// MATCH filter on fields.
        pattern: Option<Bytes>,
        /// COUNT hint.
        count: usize,
        /// Reply fields only (NOVALUES).
        no_values: bool,
        /// An invalid option, reported only once the key turned out to hold a hash:
        /// Redis parses HSCAN's options after the lookup.
        error: Option<EngineError>,
    },
}

impl HashOp {
    pub(crate) fn apply(self, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {
            HashOp::Set {
                key,
                pairs,
                reply_ok,
            } => {
                let hash = ks.write_or_create::<HashValue>(&key, ctx)?;
                let mut created = 0;
                for (field, value) in pairs {
                    if let Some(slot) = hash.get_mut(field.as_ref()) {
                        *slot = detach(value);
                    } else {
                        hash.insert(detach(field), detach(value));
                        created += 1;
                    }
                }
                // Redis signals the key as modified even when every value was unchanged.
                ks.notify(EventClass::HASH, "hset", &key);
                ks.finish_write::<HashValue>(&key, ctx, true);
                Ok(if reply_ok {
                    Reply::Ok
                } else {
                    Reply::Int(created)
                })
            }
            HashOp::SetNx { key, field, value } => {
                let hash = ks.write_or_create::<HashValue>(&key, ctx)?;
                let set = !hash.contains_key(field.as_ref());
                if set {
                    hash.insert(detach(field), detach(value));
                    ks.notify(EventClass::HASH, "hset", &key);
                }
                ks.finish_write::<HashValue>(&key, ctx, set);
                Ok(Reply::flag(set))
            }
            HashOp::Del { key, fields } => Ok(Reply::Int(ks.remove_counted(
                &key,
                ctx,
                (EventClass::HASH, "hdel"),
                |hash: &mut HashValue| {
                    fields
                        .iter()
                        .filter(|f| hash.remove(f.as_ref()).is_some())
                        .count()
                },
            )?)),
            HashOp::IncrBy { key, field, delta } => {
                let hash = ks.write_or_create::<HashValue>(&key, ctx)?;
                let next = hash
                    .get(field.as_ref())
                    .map_or(Some(0), |v| parse_i64(v))
                    .ok_or(EngineError::HashNotInteger)
                    .and_then(|base| base.checked_add(delta).ok_or(EngineError::Overflow));
                let result = next.map(|n| {
                    store_field(
                        hash,
                        field,
                        Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes()),
                    );
                    Reply::Int(n)
                });
                if result.is_ok() {
                    ks.notify(EventClass::HASH, "hincrby", &key);
                }
                ks.finish_write::<HashValue>(&key, ctx, result.is_ok());
                result
            }
            HashOp::IncrByFloat { key, field, delta } => {
                let hash = ks.write_or_create::<HashValue>(&key, ctx)?;
                let next = hash
                    .get(field.as_ref())
                    .map_or(Some(0.0), |v| parse_f64(v))
                    .ok_or(EngineError::HashNotFloat)
                    .map(|base| base + delta)
                    .and_then(|n| {
                        if n.is_finite() {
                            Ok(n)
                        } else {
                            Err(EngineError::NanOrInfinity)
                        }
                    });
                let result = next.map(|n| {
                    let text = Bytes::from(okapi_types::num::format_f64_human(n));
                    store_field(hash, field, text.clone());
                    Reply::Bulk(text)
                });
                if result.is_ok() {
                    ks.notify(EventClass::HASH, "hincrbyfloat", &key);
                }
                ks.finish_write::<HashValue>(&key, ctx, result.is_ok());
                result
            }
            HashOp::IncrByFloatText {
                key,
                field,
                increment,
            } => {
                let hash = ks.write_or_create::<HashValue>(&key, ctx)?;
                let base = match hash.get(field.as_ref()) {
                    None => Some(LongDouble::from_i64(0)),
                    Some(v) => LongDouble::parse(v),
                };
                let next = base.ok_or(EngineError::HashNotFloat).and_then(|base| {
                    LongDouble::parse(&increment)
                        .and_then(|inc| base.checked_add(inc))
                        .ok_or(EngineError::NanOrInfinity)
                });
                let result = next.map(|n| {
                    let text = Bytes::from(n.to_human());
                    store_field(hash, field, text.clone());
                    Reply::Bulk(text)
                });
                if result.is_ok() {
                    ks.notify(EventClass::HASH, "hincrbyfloat", &key);
                }
                ks.finish_write::<HashValue>(&key, ctx, result.is_ok());
                result
            }
        }
    }
}

/// Sets `field` to `value`, copying the field name only when it is new.
fn store_field(hash: &mut HashValue, field: Bytes, value: Bytes) {
    match hash.get_mut(field.as_ref()) {
        Some(slot) => *slot = value,
        None => {
            hash.insert(detach(field), value);
        }
    }
}

impl HashQuery {
    pub(crate) fn run(&self, ks: &mut Keyspace, ctx: &ReadCtx) -> Result<Reply, EngineError> {
        let now = ctx.now_ms;
        match self {
            HashQuery::Get { key, field } => Ok(Reply::opt_bulk(
                ks.read_as::<HashValue>(key, now)?
                    .and_then(|h| h.get(field.as_ref()).cloned()),
            )),
            HashQuery::MGet { key, fields } => {
                let hash = ks.read_as::<HashValue>(key, now)?;
                Ok(Reply::Array(
                    fields
                        .iter()
                        .map(|f| Reply::opt_bulk(hash.and_then(|h| h.get(f.as_ref()).cloned())))
                        .collect(),
                ))
            }
            HashQuery::GetAll { key } => Ok(Reply::Map(
                ks.read_as::<HashValue>(key, now)?
                    .map(|h| {
                        h.iter()
                            .map(|(f, v)| (Reply::Bulk(f.clone()), Reply::Bulk(v.clone())))
                            .collect()
                    })
                    .unwrap_or_default(),
            )),
            HashQuery::Keys { key } => Ok(Reply::Array(
                ks.read_as::<HashValue>(key, now)?
                    .map(|h| h.keys().cloned().map(Reply::Bulk).collect())
                    .unwrap_or_default(),
            )),
            HashQuery::Vals { key } => Ok(Reply::Array(
                ks.read_as::<HashValue>(key, now)?
                    .map(|h| h.iter().map(|(_, v)| Reply::Bulk(v.clone())).collect())
                    .unwrap_or_default(),
            )),
            HashQuery::Len { key } => Ok(Reply::Int(
                ks.read_as::<HashValue>(key, now)?
                    .map_or(0, |h| h.len() as i64),
            )),
            HashQuery::Exists { key, field } => Ok(Reply::flag(
                ks.read_as::<HashValue>(key, now)?
                    .is_some_and(|h| h.contains_key(field.as_ref())),
            )),
            HashQuery::StrLen { key, field } => Ok(Reply::Int(
                ks.read_as::<HashValue>(key, now)?
                    .and_then(|h| h.get(field.as_ref()))
                    .map_or(0, |v| v.len() as i64),
            )),
            HashQuery::RandField {
                key,
                count,
                with_values,
            } => {
                let hash = ks.read_as::<HashValue>(key, now)?;
                let mut rng = Rng::new(ctx.random);
                Ok(match (hash, *count) {
                    (None, None) => Reply::Nil,
                    (Some(hash), None) => {
                        Reply::opt_bulk(pick_one(hash, &mut rng).map(|(f, _)| f.clone()))
                    }
                    (None, Some(_)) => Reply::Array(Vec::new()),
                    (Some(hash), Some(count)) => {
                        check_repeats(count)?;
                        let picked = sample(hash, count, &mut rng);
                        if *with_values {
                            Reply::Pairs(
                                picked
                                    .into_iter()
                                    .map(|(f, v)| (Reply::Bulk(f.clone()), Reply::Bulk(v.clone())))
                                    .collect(),
                            )
                        } else {
                            Reply::Array(
                                picked
                                    .into_iter()
                                    .map(|(f, _)| Reply::Bulk(f.clone()))
                                    .collect(),
                            )
                        }
                    }
                })
            }
            HashQuery::Scan {
                key,
                cursor,
                pattern,
                count,
                no_values,
                error,
            } => {
                let Some(hash) = ks.read_as::<HashValue>(key, now)? else {
                    return Ok(scan_reply(0, Vec::new()));
                };
                if let Some(error) = error {
                    return Err(error.clone());
                }
                let mut items = Vec::new();
                let (start, budget) = scan_window(hash.len(), *cursor, *count);
                let next = hash.scan(start, budget, |f, v| {
                    if pattern.as_ref().is_none_or(|p| glob_match(p, f, false)) {
                        items.push(f.clone());
                        if !no_values {
                            items.push(v.clone());
                        }
                    }
                });
                Ok(scan_reply(next, items))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use okapi_types::Namespace;

    use super::*;
    use crate::testing::b;

    crate::testing::test_node!(Node, 3, 77);

    impl Node {
        fn hset(&mut self, key: &str, pairs: &[(&str, &str)]) -> Reply {
            self.op(HashOp::Set {
                key: b(key),
                pairs: pairs.iter().map(|(f, v)| (b(f), b(v))).collect(),
                reply_ok: false,
            })
        }

        fn get(&mut self, key: &str, field: &str) -> Reply {
            self.query(HashQuery::Get {
                key: b(key),
                field: b(field),
            })
        }

        fn exists(&self, key: &str) -> bool {
            self.engine
                .space(Namespace(0))
                .expect("namespace 0")
                .peek(key.as_bytes(), 1_000)
                .is_some()
        }
    }

    #[test]
    fn format_human_matches_redis_ld_str_human() {
        for (value, text) in [
            (10.5, "10.5"),
            (5200.0, "5200"),
            (-2.25, "-2.25"),
            (1e21, "1000000000000000000000"),
            (1.5e-7, "0.00000015"),
            (1e-20, "0"),
            (-1e-20, "0"),
            (-0.0, "0"),
            (17179869185.5, "17179869185.5"),
        ] {
            assert_eq!(okapi_types::num::format_f64_human(value), text, "{value:e}");
        }
    }

    #[test]
    fn hset_counts_new_fields_and_hdel_of_the_last_field_deletes_the_key() {
        let mut n = Node::fresh();
        assert_eq!(
            n.hset("h", &[("a", "1"), ("b", "2"), ("a", "3")]),
            Reply::Int(2)
        );
        assert_eq!(n.hset("h", &[("a", "4"), ("c", "5")]), Reply::Int(1));
        assert_eq!(n.get("h", "a"), Reply::bulk(b"4"));
        assert_eq!(
            n.op(HashOp::Del {
                key: b("h"),
                fields: vec![b("a"), b("a"), b("zz"), b("b")],
            }),
            Reply::Int(2)
        );
        assert!(n.exists("h"));
        assert_eq!(
            n.op(HashOp::Del {
                key: b("h"),
                fields: vec![b("c")],
            }),
            Reply::Int(1)
        );
        assert!(!n.exists("h"));
    }

    #[test]
    fn hincrby_checks_the_stored_value_and_overflow() {
        let mut n = Node::fresh();
        let incr = |n: &mut Node, field: &str, delta| {
            n.op(HashOp::IncrBy {
                key: b("h"),
                field: b(field),
                delta,
            })
        };
        assert_eq!(incr(&mut n, "n", 5), Reply::Int(5));
        assert_eq!(incr(&mut n, "n", -7), Reply::Int(-2));
        n.hset("h", &[("s", " 11"), ("max", "9223372036854775807")]);
        assert_eq!(
            incr(&mut n, "s", 1),
            Reply::Error(EngineError::HashNotInteger)
        );
        assert_eq!(incr(&mut n, "max", 1), Reply::Error(EngineError::Overflow));
        assert_eq!(n.get("h", "max"), Reply::bulk(b"9223372036854775807"));
    }

    #[test]
    fn hincrbyfloat_formats_like_redis_and_refuses_non_floats() {
        let mut n = Node::fresh();
        let incr = |n: &mut Node, field: &str, delta| {
            n.op(HashOp::IncrByFloat {
                key: b("h"),
                field: b(field),
                delta,
            })
        };
        assert_eq!(incr(&mut n, "f", 10.5), Reply::bulk(b"10.5"));
        assert_eq!(incr(&mut n, "f", 0.1), Reply::bulk(b"10.6"));
        n.hset(
            "h",
            &[("i", "17179869184"), ("bad", "1 "), ("big", "1.7e308")],
        );
        assert_eq!(incr(&mut n, "i", 1.5), Reply::bulk(b"17179869185.5"));
        assert_eq!(
            incr(&mut n, "bad", 1.0),
            Reply::Error(EngineError::HashNotFloat)
        );
        assert_eq!(
            incr(&mut n, "big", 1.7e308),
            Reply::Error(EngineError::NanOrInfinity)
        );
        assert_eq!(incr(&mut n, "e", 5.0e3), Reply::bulk(b"5000"));
    }

    #[test]
    fn hsetnx_only_sets_missing_fields() {
        let mut n = Node::fresh();
        let setnx = |n: &mut Node, v: &str| {
            n.op(HashOp::SetNx {
                key: b("h"),
                field: b("f"),
                value: b(v),
            })
        };
        assert_eq!(setnx(&mut n, "1"), Reply::Int(1));
        assert_eq!(setnx(&mut n, "2"), Reply::Int(0));
        assert_eq!(n.get("h", "f"), Reply::bulk(b"1"));
    }

    #[test]
    fn hrandfield_counts_and_pairs() {
        let mut n = Node::fresh();
        let pairs: Vec<(String, String)> = (0..300)
            .map(|i| (format!("f{i}"), format!("v{i}")))
            .collect();
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(f, v)| (&f[..], &v[..])).collect();
        n.hset("h", &refs);
        let Reply::Pairs(got) = n.query(HashQuery::RandField {
            key: b("h"),
            count: Some(50),
            with_values: true,
        }) else {
            panic!("pairs");
        };
        assert_eq!(got.len(), 50);
        let fields: BTreeSet<_> = got
            .iter()
            .map(|(f, v)| {
                let (Reply::Bulk(f), Reply::Bulk(v)) = (f, v) else {
                    panic!("bulks");
                };
                assert_eq!(&f[1..], &v[1..], "value belongs to its field");
                f.clone()
            })
            .collect();
        assert_eq!(fields.len(), 50);
        let Reply::Array(repeated) = n.query(HashQuery::RandField {
            key: b("h"),
            count: Some(-1_000),
            with_values: false,
        }) else {
            panic!("array");
        };
        assert_eq!(repeated.len(), 1_000);
        assert!(matches!(
            n.query(HashQuery::RandField {
                key: b("h"),
                count: None,
                with_values: false,
            }),
            Reply::Bulk(_)
        ));
    }

    #[test]
    fn hscan_novalues_returns_fields_only() {
        let mut n = Node::fresh();
        n.hset("h", &[("a", "1"), ("b", "2")]);
        let Reply::Array(parts) = n.query(HashQuery::Scan {
            key: b("h"),
            cursor: 0,
            pattern: None,
            count: 10,
            no_values: true,
            error: None,
        }) else {
            panic!("scan reply");
        };
        let Reply::Array(items) = &parts[1] else {
            panic!("items");
        };
        let fields: BTreeSet<_> = items
            .iter()
            .map(|r| match r {
                Reply::Bulk(f) => f.clone(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect();
        assert_eq!(fields, BTreeSet::from([b("a"), b("b")]));
        assert_eq!(parts[0], Reply::bulk(b"0"));
    }

    #[test]
    fn wrong_type_is_refused_and_never_overwritten() {
        let mut n = Node::fresh();
        n.op(crate::strings::StringOp::Append {
            key: b("s"),
            value: b("x"),
        });
        assert_eq!(
            n.hset("s", &[("a", "1")]),
            Reply::Error(EngineError::WrongType)
        );
        assert_eq!(n.get("s", "a"), Reply::Error(EngineError::WrongType));
        assert_eq!(
            n.query(HashQuery::MGet {
                key: b("s"),
                fields: vec![b("a")],
            }),
            Reply::Error(EngineError::WrongType)
        );
    }
}
