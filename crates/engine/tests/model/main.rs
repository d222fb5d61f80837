//! The engine against a simple model (a `HashMap` of strings and `VecDeque` lists with
//! explicit expiry times): random op sequences mixing types, including clock advances
//! and WRONGTYPE cases, must give the same replies and state.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use okapi_engine::keys::{ExpireCond, KeyOp, KeyQuery, TtlForm};
use okapi_engine::lists::{End, ListOp, ListQuery};
use okapi_engine::strings::{SetCond, SetExpire, StringOp, StringQuery};
use okapi_engine::{ApplyCtx, Engine, Op, OpKind, Query, QueryKind, ReadCtx, Reply};
use okapi_types::Namespace;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Set {
        key: u8,
        value: u8,
        cond: u8,
        get: bool,
        ttl: Option<u16>,
        keep: bool,
    },
    Get(u8),
    Del(Vec<u8>),
    Append(u8, u8),
    IncrBy(u8, i8),
    Exists(Vec<u8>),
    Rename(u8, u8),
    Expire(u8, i16),
    Persist(u8),
    Pttl(u8),
    GetDel(u8),
    Push {
        key: u8,
        values: Vec<u8>,
        left: bool,
    },
    Pop {
        key: u8,
        left: bool,
        count: Option<u8>,
    },
    LRange(u8, i8, i8),
    LLen(u8),
    LMove {
        src: u8,
        dst: u8,
        from_left: bool,
        to_left: bool,
    },
    Advance(u16),
}

fn step() -> impl Strategy<Value = Step> {
    let key = 0u8..6;
    prop_oneof![
        (
            key.clone(),
            0u8..8,
            0u8..3,
            any::<bool>(),
            proptest::option::of(1u16..500),
            any::<bool>()
        )
            .prop_map(|(key, value, cond, get, ttl, keep)| Step::Set {
                key,
                value,
                cond,
                get,
                ttl,
                keep
            }),
        key.clone().prop_map(Step::Get),
        proptest::collection::vec(key.clone(), 1..4).prop_map(Step::Del),
        (key.clone(), 0u8..8).prop_map(|(k, v)| Step::Append(k, v)),
        (key.clone(), any::<i8>()).prop_map(|(k, d)| Step::IncrBy(k, d)),
        proptest::collection::vec(key.clone(), 1..4).prop_map(Step::Exists),
        (key.clone(), key.clone()).prop_map(|(a, b)| Step::Rename(a, b)),
        (key.clone(), -50i16..500).prop_map(|(k, t)| Step::Expire(k, t)),
        key.clone().prop_map(Step::Persist),
        key.clone().prop_map(Step::Pttl),
        key.clone().prop_map(Step::GetDel),
        (
            key.clone(),
            proptest::collection::vec(0u8..8, 1..4),
            any::<bool>()
        )
            .prop_map(|(key, values, left)| Step::Push { key, values, left }),
        (key.clone(), any::<bool>(), proptest::option::of(1u8..4))
            .prop_map(|(key, left, count)| Step::Pop { key, left, count }),
        (key.clone(), -6i8..6, -6i8..6).prop_map(|(k, a, b)| Step::LRange(k, a, b)),
        key.clone().prop_map(Step::LLen),
        (key.clone(), key, any::<bool>(), any::<bool>()).prop_map(
            |(src, dst, from_left, to_left)| Step::LMove {
                src,
                dst,
                from_left,
                to_left
            }
        ),
        (1u16..300).prop_map(Step::Advance),
    ]
}

fn key(k: u8) -> Bytes {
    Bytes::from(format!("key{k}"))
}

fn value(v: u8) -> Bytes {
    // Some values are integers so INCRBY sometimes succeeds on them.
    Bytes::from(match v {
        0..=3 => format!("{}", i64::from(v) * 7 - 5),
        _ => format!("val{v}"),
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(Vec<u8>),
    List(VecDeque<Bytes>),
}

/// A string value and its expiry.
type StringEntry = (Vec<u8>, Option<u64>);

#[derive(Default)]
struct Model {
    data: HashMap<Bytes, (Val, Option<u64>)>,
}

fn wrongtype() -> Reply {
    Reply::Error(okapi_engine::EngineError::WrongType)
}

impl Model {
    fn live(&mut self, k: &Bytes, now: u64) -> Option<&mut (Val, Option<u64>)> {
        if self
            .data
            .get(k)
            .is_some_and(|(_, at)| at.is_some_and(|at| now > at))
        {
            self.data.remove(k);
        }
        self.data.get_mut(k)
    }

    /// The string at `k`: `Ok(None)` if absent, `Err` if another type.
    fn string(&mut self, k: &Bytes, now: u64) -> Result<Option<StringEntry>, Reply> {
        match self.live(k, now) {
            None => Ok(None),
            Some((Val::Str(v), at)) => Ok(Some((v.clone(), *at))),
            Some(_) => Err(wrongtype()),
        }
    }

    /// The list at `k`: `Ok(None)` if absent, `Err` if another type.
    fn list(&mut self, k: &Bytes, now: u64) -> Result<Option<&mut VecDeque<Bytes>>, Reply> {
        match self.live(k, now) {
            None => Ok(None),
            Some((Val::List(l), _)) => Ok(Some(l)),
            Some(_) => Err(wrongtype()),
        }
    }

    fn drop_if_empty(&mut self, k: &Bytes) {
        if matches!(self.data.get(k), Some((Val::List(l), _)) if l.is_empty()) {
            self.data.remove(k);
        }
    }

    fn run(&mut self, step: &Step, now: u64) -> Reply {
        match self.try_run(step, now) {
            Ok(reply) | Err(reply) => reply,
        }
    }

    fn try_run(&mut self, step: &Step, now: u64) -> Result<Reply, Reply> {
        Ok(match step {
            Step::Set {
                key: k,
                value: v,
                cond,
                get,
                ttl,
                keep,
            } => {
                let (k, v) = (key(*k), value(*v));
                let exists = self.live(&k, now).is_some();
                let old = if *get {
                    self.string(&k, now)?
                } else {
                    self.string(&k, now).unwrap_or(None)
                };
                let old_at = self.live(&k, now).and_then(|(_, at)| *at);
                let old_reply = || {
                    if *get {
                        old.as_ref().map_or(Reply::Nil, |(v, _)| Reply::bulk(v))
                    } else {
                        Reply::Nil
                    }
                };
                let allowed = match cond {
                    1 => !exists,
                    2 => exists,
                    _ => true,
                };
                if !allowed {
                    return Ok(old_reply());
                }
                let at = match (ttl, keep) {
                    (Some(t), _) => Some(now + u64::from(*t)),
                    (None, true) => old_at,
                    (None, false) => None,
                };
                let reply = if *get { old_reply() } else { Reply::Ok };
                self.data.insert(k, (Val::Str(v.to_vec()), at));
                reply
            }
            Step::Get(k) => self
                .string(&key(*k), now)?
                .map_or(Reply::Nil, |(v, _)| Reply::bulk(&v)),
            Step::GetDel(k) => {
                let k = key(*k);
                match self.string(&k, now)? {
                    Some((v, _)) => {
                        self.data.remove(&k);
                        Reply::bulk(&v)
                    }
                    None => Reply::Nil,
                }
            }
            Step::Del(keys) => Reply::Int(
                keys.iter()
                    .filter(|k| {
                        let k = key(**k);
                        self.live(&k, now).is_some() && self.data.remove(&k).is_some()
                    })
                    .count() as i64,
            ),
            Step::Exists(keys) => Reply::Int(
                keys.iter()
                    .filter(|k| self.live(&key(**k), now).is_some())
                    .count() as i64,
            ),
            Step::Append(k, v) => {
                let (k, v) = (key(*k), value(*v));
                let (mut current, at) = self.string(&k, now)?.unwrap_or_default();
                current.extend_from_slice(&v);
                let len = current.len();
                self.data.insert(k, (Val::Str(current), at));
                Reply::Int(len as i64)
            }
            Step::IncrBy(k, d) => {
                let k = key(*k);
                let (base, at) = match self.string(&k, now)? {
                    None => (0, None),
                    Some((v, at)) => match okapi_types::num::parse_i64(&v) {
                        Some(n) => (n, at),
                        None => return Err(Reply::Error(okapi_engine::EngineError::NotInteger)),
                    },
                };
                let next = base + i64::from(*d);
                self.data
                    .insert(k, (Val::Str(next.to_string().into_bytes()), at));
                Reply::Int(next)
            }
            Step::Rename(a, b) => {
                let (a, b) = (key(*a), key(*b));
                let Some(entry) = self.live(&a, now).cloned() else {
                    return Err(Reply::Error(okapi_engine::EngineError::NoSuchKey));
                };
                if a != b {
                    self.data.remove(&a);
                    self.data.insert(b, entry);
                }
                Reply::Ok
            }
            Step::Expire(k, t) => {
                let k = key(*k);
                let at = (now as i64 + i64::from(*t)).max(0) as u64;
                if self.live(&k, now).is_none() {
                    return Ok(Reply::Int(0));
                }
                if at <= now {
                    self.data.remove(&k);
                } else if let Some(entry) = self.data.get_mut(&k) {
                    entry.1 = Some(at);
                }
                Reply::Int(1)
            }
            Step::Persist(k) => match self.live(&key(*k), now) {
                Some(entry) if entry.1.is_some() => {
                    entry.1 = None;
                    Reply::Int(1)
                }
                _ => Reply::Int(0),
            },
            Step::Pttl(k) => match self.live(&key(*k), now) {
                None => Reply::Int(-2),
                Some((_, None)) => Reply::Int(-1),
                Some((_, Some(at))) => Reply::Int(at.saturating_sub(now) as i64),
            },
            Step::Push {
                key: k,
                values,
                left,
            } => {
                let k = key(*k);
                if self.list(&k, now)?.is_none() {
                    self.data
                        .insert(k.clone(), (Val::List(VecDeque::new()), None));
                }
                let list = self.list(&k, now)?.expect("just ensured");
                for v in values {
                    if *left {
                        list.push_front(value(*v))
                    } else {
                        list.push_back(value(*v))
                    }
                }
                Reply::Int(list.len() as i64)
            }
            Step::Pop {
                key: k,
                left,
                count,
            } => {
                let k = key(*k);
                let Some(list) = self.list(&k, now)? else {
                    return Ok(if count.is_some() {
                        Reply::NilArray
                    } else {
                        Reply::Nil
                    });
                };
                let mut popped = Vec::new();
                for _ in 0..count.unwrap_or(1) {
                    match if *left {
                        list.pop_front()
                    } else {
                        list.pop_back()
                    } {
                        Some(v) => popped.push(v),
                        None => break,
                    }
                }
                self.drop_if_empty(&k);
                match count {
                    None => Reply::opt_bulk(popped.pop()),
                    Some(_) => Reply::bulks(popped),
                }
            }
            Step::LRange(k, start, stop) => {
                let Some(list) = self.list(&key(*k), now)? else {
                    return Ok(Reply::Array(Vec::new()));
                };
                let len = list.len() as i64;
                let start = if *start < 0 {
                    (len + i64::from(*start)).max(0)
                } else {
                    i64::from(*start)
                };
                let stop = if *stop < 0 {
                    len + i64::from(*stop)
                } else {
                    i64::from(*stop).min(len - 1)
                };
                if start > stop || start >= len {
                    return Ok(Reply::Array(Vec::new()));
                }
                Reply::bulks(
                    list.iter()
                        .skip(start as usize)
                        .take((stop - start + 1) as usize)
                        .cloned(),
                )
            }
            Step::LLen(k) => Reply::Int(self.list(&key(*k), now)?.map_or(0, |l| l.len() as i64)),
            Step::LMove {
                src,
                dst,
                from_left,
                to_left,
            } => {
                let (src, dst) = (key(*src), key(*dst));
                if self.list(&src, now)?.is_none() {
                    return Ok(Reply::Nil);
                }
                self.list(&dst, now)?;
                let list = self.list(&src, now)?.expect("checked");
                if src == dst {
                    // A rotation: the list never becomes empty, so the key (and its TTL) stays.
                    let element = if *from_left {
                        list.pop_front()
                    } else {
                        list.pop_back()
                    }
                    .expect("non-empty");
                    if *to_left {
                        list.push_front(element.clone())
                    } else {
                        list.push_back(element.clone())
                    }
                    return Ok(Reply::Bulk(element));
                }
                let element = if *from_left {
                    list.pop_front()
                } else {
                    list.pop_back()
                }
                .expect("lists are never empty");
                self.drop_if_empty(&src);
                if self.list(&dst, now)?.is_none() {
                    self.data
                        .insert(dst.clone(), (Val::List(VecDeque::new()), None));
                }
                let target = self.list(&dst, now)?.expect("just ensured");
                if *to_left {
                    target.push_front(element.clone())
                } else {
                    target.push_back(element.clone())
                }
                Reply::Bulk(element)
            }
            Step::Advance(_) => Reply::Ok,
        })
    }
}

enum Action {
    Write(OpKind),
    Read(QueryKind),
}

fn action(step: &Step, now: u64) -> Option<Action> {
    Some(match step {
        Step::Set {
            key: k,
            value: v,
            cond,
            get,
            ttl,
            keep,
        } => Action::Write(OpKind::Str(StringOp::Set {
            key: key(*k),
            value: value(*v),
            cond: match cond {
                1 => SetCond::IfAbsent,
                2 => SetCond::IfPresent,
                _ => SetCond::Always,
            },
            get: *get,
            expire: match (ttl, keep) {
                (Some(t), _) => SetExpire::At(now + u64::from(*t)),
                (None, true) => SetExpire::Keep,
                (None, false) => SetExpire::Clear,
            },
        })),
        Step::Get(k) => Action::Read(QueryKind::Str(StringQuery::Get { key: key(*k) })),
        Step::GetDel(k) => Action::Write(OpKind::Str(StringOp::GetDel { key: key(*k) })),
        Step::Del(keys) => Action::Write(OpKind::Key(KeyOp::Del {
            keys: keys.iter().map(|k| key(*k)).collect(),
        })),
        Step::Exists(keys) => Action::Read(QueryKind::Key(KeyQuery::Exists {
            keys: keys.iter().map(|k| key(*k)).collect(),
        })),
        Step::Append(k, v) => Action::Write(OpKind::Str(StringOp::Append {
            key: key(*k),
            value: value(*v),
        })),
        Step::IncrBy(k, d) => Action::Write(OpKind::Str(StringOp::IncrBy {
            key: key(*k),
            delta: i64::from(*d),
        })),
        Step::Rename(a, b) => Action::Write(OpKind::Key(KeyOp::Rename {
            src: key(*a),
            dst: key(*b),
            nx: false,
        })),
        Step::Expire(k, t) => Action::Write(OpKind::Key(KeyOp::Expire {
            key: key(*k),
            at: (now as i64 + i64::from(*t)).max(0) as u64,
            cond: ExpireCond::default(),
        })),
        Step::Persist(k) => Action::Write(OpKind::Key(KeyOp::Persist { key: key(*k) })),
        Step::Pttl(k) => Action::Read(QueryKind::Key(KeyQuery::Ttl {
            key: key(*k),
            form: TtlForm::Millis,
        })),
        Step::Push {
            key: k,
            values,
            left,
        } => Action::Write(OpKind::List(ListOp::Push {
            key: key(*k),
            end: if *left { End::Left } else { End::Right },
            elements: values.iter().map(|v| value(*v)).collect(),
            existing_only: false,
        })),
        Step::Pop {
            key: k,
            left,
            count,
        } => Action::Write(OpKind::List(ListOp::Pop {
            key: key(*k),
            end: if *left { End::Left } else { End::Right },
            count: count.map(u64::from),
        })),
        Step::LRange(k, start, stop) => Action::Read(QueryKind::List(ListQuery::Range {
            key: key(*k),
            start: i64::from(*start),
            stop: i64::from(*stop),
        })),
        Step::LLen(k) => Action::Read(QueryKind::List(ListQuery::Len { key: key(*k) })),
        Step::LMove {
            src,
            dst,
            from_left,
            to_left,
        } => Action::Write(OpKind::List(ListOp::Move {
            src: key(*src),
            dst: key(*dst),
            from: if *from_left { End::Left } else { End::Right },
            to: if *to_left { End::Left } else { End::Right },
        })),
        Step::Advance(_) => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn engine_matches_the_model(steps in proptest::collection::vec(step(), 1..120)) {
        let mut engine = Engine::new(1, 42);
        let mut model = Model::default();
        let mut now = 1_000_000u64;
        let mut index = 0;
        for step in &steps {
            if let Step::Advance(ms) = step {
                now += u64::from(*ms);
                continue;
            }
            let expected = model.run(step, now);
            let got = match action(step, now) {
                Some(Action::Write(kind)) => {
                    index += 1;
                    engine.apply(Op { db: Namespace(0), kind }, &ApplyCtx { now_ms: now, index })
                }
                Some(Action::Read(kind)) => engine.query(&Query { db: Namespace(0), kind }, &ReadCtx { now_ms: now, random: 0 }),
                None => continue,
            };
            prop_assert_eq!(got, expected, "step {:?} at {}", step, now);
        }
        // Final state: every model key reads back the same.
        for k in 0..6 {
            let expected = model.run(&Step::LRange(k, 0, -1), now);
            let got = engine.query(
                &Query { db: Namespace(0), kind: QueryKind::List(ListQuery::Range { key: key(k), start: 0, stop: -1 }) },
                &ReadCtx { now_ms: now, random: 0 },
            );
            prop_assert_eq!(got, expected);
            let expected = model.run(&Step::Get(k), now);
            let got = engine.query(&Query { db: Namespace(0), kind: QueryKind::Str(StringQuery::Get { key: key(k) }) }, &ReadCtx { now_ms: now, random: 0 });
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn replaying_the_same_ops_gives_the_same_state(steps in proptest::collection::vec(step(), 1..80)) {
        // Determinism: two engines fed the same stamped ops agree on every reply.
        let (mut a, mut b) = (Engine::new(1, 7), Engine::new(1, 7));
        let mut now = 5_000u64;
        for (index, step) in steps.iter().enumerate() {
            if let Step::Advance(ms) = step {
                now += u64::from(*ms);
            }
            if let Some(Action::Write(kind)) = action(step, now) {
                let ctx = ApplyCtx { now_ms: now, index: index as u64 + 1 };
                let ra = a.apply(Op { db: Namespace(0), kind: kind.clone() }, &ctx);
                let rb = b.apply(Op { db: Namespace(0), kind }, &ctx);
                prop_assert_eq!(ra, rb);
            }
        }
        for k in 0..6 {
            let q = Query { db: Namespace(0), kind: QueryKind::Key(KeyQuery::Ttl { key: key(k), form: TtlForm::Millis }) };
            let ctx = ReadCtx { now_ms: now, random: 0 };
            prop_assert_eq!(a.query(&q, &ctx), b.query(&q, &ctx));
        }
    }
}
