//! TABLE.* end to end: replies in RESP2 and RESP3, a random workload against a
//! `BTreeMap` model (binary fields, DELRANGE, REV ranges, LIMIT, SCAN paging), bad
//! input, and tables surviving restarts.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use redis::Value;

use crate::common::{Rng, err, node, raw, start};

fn bulk(s: &[u8]) -> Value {
    Value::BulkString(s.to_vec())
}

fn ok(con: &mut redis::Connection, args: &[&str]) -> Value {
    raw(con, args).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs a command with binary arguments.
fn call(con: &mut redis::Connection, args: &[&[u8]]) -> Value {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("command name"));
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{:?} failed: {e}", args[0]))
}

/// A flat RESP2 pair list as `(field, value)` pairs.
fn pairs(value: Value) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Value::Array(items) = value else {
        panic!("not an array: {value:?}")
    };
    assert!(items.len().is_multiple_of(2), "odd pair list");
    items
        .chunks_exact(2)
        .map(|p| match p {
            [Value::BulkString(f), Value::BulkString(v)] => (f.clone(), v.clone()),
            other => panic!("not a pair of bulks: {other:?}"),
        })
        .collect()
}

#[test]
fn commands_reply_as_documented() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(
        ok(
            &mut c,
            &["TABLE.SET", "t", "b", "2", "a", "1", "c", "3", "a", "10"]
        ),
        Value::Int(3),
        "a repeated field counts once and keeps the last value"
    );
    assert_eq!(
        ok(&mut c, &["TABLE.SET", "t", "c", "30", "d", "4"]),
        Value::Int(1)
    );
    assert_eq!(ok(&mut c, &["TABLE.GET", "t", "a"]), bulk(b"10"));
    assert_eq!(ok(&mut c, &["TABLE.GET", "t", "zz"]), Value::Nil);
    assert_eq!(ok(&mut c, &["TABLE.GET", "nosuch", "a"]), Value::Nil);
    assert_eq!(
        ok(&mut c, &["TABLE.MGET", "t", "d", "zz", "a"]),
        Value::Array(vec![bulk(b"4"), Value::Nil, bulk(b"10")])
    );
    let all = vec![
        (b"a".to_vec(), b"10".to_vec()),
        (b"b".to_vec(), b"2".to_vec()),
        (b"c".to_vec(), b"30".to_vec()),
        (b"d".to_vec(), b"4".to_vec()),
    ];
    assert_eq!(pairs(ok(&mut c, &["TABLE.RANGE", "t", "-", "+"])), all);
    assert_eq!(
        pairs(ok(&mut c, &["TABLE.RANGE", "t", "b", "d"])),
        all[1..3]
    );
    assert_eq!(
        pairs(ok(
            &mut c,
            &["TABLE.RANGE", "t", "-", "+", "REV", "LIMIT", "2"]
        )),
        vec![all[3].clone(), all[2].clone()]
    );
    assert_eq!(
        pairs(ok(&mut c, &["TABLE.RANGE", "t", "b", "+", "LIMIT", "0"])),
        vec![]
    );
    assert_eq!(pairs(ok(&mut c, &["TABLE.RANGE", "t", "d", "b"])), vec![]);
    assert_eq!(
        pairs(ok(&mut c, &["TABLE.RANGE", "nosuch", "-", "+"])),
        vec![]
    );
    assert_eq!(ok(&mut c, &["TABLE.COUNT", "t"]), Value::Int(4));
    assert_eq!(ok(&mut c, &["TABLE.COUNT", "t", "b", "+"]), Value::Int(3));
    assert_eq!(ok(&mut c, &["TABLE.COUNT", "nosuch"]), Value::Int(0));
    assert_eq!(
        ok(&mut c, &["TYPE", "t"]),
        Value::SimpleString("table".into())
    );
    assert_eq!(ok(&mut c, &["OBJECT", "ENCODING", "t"]), bulk(b"btree"));
    assert_eq!(
        ok(&mut c, &["TABLE.DEL", "t", "a", "zz", "a"]),
        Value::Int(1)
    );
    assert_eq!(
        ok(&mut c, &["TABLE.DELRANGE", "t", "c", "+"]),
        Value::Int(2)
    );
    assert_eq!(
        ok(&mut c, &["TABLE.DELRANGE", "t", "c", "+"]),
        Value::Int(0)
    );
    assert_eq!(
        ok(&mut c, &["TABLE.DELRANGE", "nosuch", "-", "+"]),
        Value::Int(0)
    );
    // The last field gone, the key goes too, as with every container.
    assert_eq!(ok(&mut c, &["TABLE.DEL", "t", "b"]), Value::Int(1));
    assert_eq!(ok(&mut c, &["EXISTS", "t"]), Value::Int(0));

    // Other types are refused, and tables refuse other types' commands.
    assert_eq!(ok(&mut c, &["SET", "s", "x"]), Value::Okay);
    assert!(err(&mut c, &["TABLE.SET", "s", "a", "1"]).starts_with("WRONGTYPE"));
    assert!(err(&mut c, &["TABLE.RANGE", "s", "-", "+"]).starts_with("WRONGTYPE"));
    assert_eq!(ok(&mut c, &["TABLE.SET", "t2", "f", "v"]), Value::Int(1));
    assert!(err(&mut c, &["GET", "t2"]).starts_with("WRONGTYPE"));
    assert!(err(&mut c, &["HGET", "t2", "f"]).starts_with("WRONGTYPE"));
    // TTLs and META work on tables as on any key.
    assert_eq!(ok(&mut c, &["EXPIRE", "t2", "100"]), Value::Int(1));
    assert!(matches!(ok(&mut c, &["TTL", "t2"]), Value::Int(t) if t > 0));

    // RESP3: pairs as two-element arrays.
    let mut c3 = n.client_resp3().expect("connect resp3");
    assert_eq!(
        ok(&mut c3, &["TABLE.RANGE", "t2", "-", "+"]),
        Value::Array(vec![Value::Array(vec![bulk(b"f"), bulk(b"v")])])
    );
}

#[test]
fn bad_input_gets_clear_errors() {
    let n = node();
    let mut c = n.client().expect("connect");
    for (args, expected) in [
        (&["TABLE.SET", "t", "a"][..], "wrong number of arguments"),
        (
            &["TABLE.SET", "t", "a", "1", "b"],
            "wrong number of arguments",
        ),
        (&["TABLE.GET", "t"], "wrong number of arguments"),
        (&["TABLE.RANGE", "t", "-"], "wrong number of arguments"),
        (&["TABLE.RANGE", "t", "-", "+", "LIMIT"], "syntax error"),
        (
            &["TABLE.RANGE", "t", "-", "+", "LIMIT", "x"],
            "not an integer",
        ),
        (
            &["TABLE.RANGE", "t", "-", "+", "LIMIT", "-1"],
            "must not be negative",
        ),
        (&["TABLE.RANGE", "t", "-", "+", "SIDEWAYS"], "syntax error"),
        (&["TABLE.DELRANGE", "t", "-"], "wrong number of arguments"),
        (&["TABLE.COUNT", "t", "a"], "syntax error"),
        (&["TABLE.SCAN", "t", "banana"], "invalid cursor"),
        (&["TABLE.SCAN", "t", "n0g"], "invalid cursor"),
        (&["TABLE.SCAN", "t", "0", "COUNT", "0"], "syntax error"),
        (&["TABLE.SCAN", "t", "0", "MATCH", "*"], "syntax error"),
    ] {
        let e = err(&mut c, args);
        assert!(e.contains(expected), "{args:?}: {e}");
    }
    // The connection goes on.
    assert_eq!(ok(&mut c, &["PING"]), Value::SimpleString("PONG".into()));
}

/// Table fields and range ends drawn from the shared sequence.
impl Rng {
    /// A short binary field: few distinct ones, so ops collide; any byte may appear.
    fn field(&mut self) -> Vec<u8> {
        let len = self.below(3) as usize + 1;
        (0..len)
            .map(|_| [0u8, b'a', b'b', b'c', 0x7f, 0xff][self.below(6) as usize])
            .collect()
    }

    /// A range end as sent (`-`, `+` or a field) and as the model bound.
    fn end(&mut self) -> (Vec<u8>, Option<Vec<u8>>, bool) {
        match self.below(8) {
            0 => (b"-".to_vec(), None, false),
            1 => (b"+".to_vec(), None, true),
            _ => {
                let f = self.field();
                (f.clone(), Some(f), false)
            }
        }
    }
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// The model's fields in `[start, end)` with `-`/`+` open ends.
fn model_range(
    model: &Model,
    start: &(Vec<u8>, Option<Vec<u8>>, bool),
    end: &(Vec<u8>, Option<Vec<u8>>, bool),
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let lower = match start {
        (_, Some(f), _) => Bound::Included(f.clone()),
        (_, None, false) => Bound::Unbounded,
        (_, None, true) => return Vec::new(),
    };
    let upper = match end {
        (_, Some(f), _) => Bound::Excluded(f.clone()),
        (_, None, true) => Bound::Unbounded,
        (_, None, false) => return Vec::new(),
    };
    if let (Bound::Included(s), Bound::Excluded(e)) = (&lower, &upper)
        && s >= e
    {
        return Vec::new();
    }
    model
        .range((lower, upper))
        .map(|(f, v)| (f.clone(), v.clone()))
        .collect()
}

#[test]
fn random_workload_matches_a_btreemap_model() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut rng = Rng::new(0x5eed_7ab1e);
    let mut model = Model::new();
    for step in 0..3000u64 {
        let what = rng.below(10);
        match what {
            0..=2 => {
                let count = rng.below(4) + 1;
                let mut args: Vec<Vec<u8>> = vec![b"TABLE.SET".to_vec(), b"t".to_vec()];
                let mut fresh = 0;
                let mut seen = std::collections::BTreeSet::new();
                for _ in 0..count {
                    let f = rng.field();
                    let v = step.to_string().into_bytes();
                    if !model.contains_key(&f) && seen.insert(f.clone()) {
                        fresh += 1;
                    }
                    model.insert(f.clone(), v.clone());
                    args.push(f);
                    args.push(v);
                }
                let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                assert_eq!(call(&mut c, &refs), Value::Int(fresh), "step {step}");
            }
            3 => {
                let f = rng.field();
                let expected = i64::from(model.remove(&f).is_some());
                assert_eq!(
                    call(&mut c, &[b"TABLE.DEL", b"t", &f]),
                    Value::Int(expected),
                    "step {step}"
                );
            }
            4 => {
                let (start, end) = (rng.end(), rng.end());
                let gone = model_range(&model, &start, &end);
                for (f, _) in &gone {
                    model.remove(f);
                }
                assert_eq!(
                    call(&mut c, &[b"TABLE.DELRANGE", b"t", &start.0, &end.0]),
                    Value::Int(gone.len() as i64),
                    "step {step}"
                );
            }
            5 | 6 => {
                let (start, end) = (rng.end(), rng.end());
                let mut expected = model_range(&model, &start, &end);
                let rev = rng.below(2) == 0;
                let limit = (rng.below(3) == 0).then(|| rng.below(5));
                let mut args: Vec<Vec<u8>> = vec![
                    b"TABLE.RANGE".to_vec(),
                    b"t".to_vec(),
                    start.0.clone(),
                    end.0.clone(),
                ];
                if rev {
                    expected.reverse();
                    args.push(b"REV".to_vec());
                }
                if let Some(l) = limit {
                    expected.truncate(l as usize);
                    args.push(b"LIMIT".to_vec());
                    args.push(l.to_string().into_bytes());
                }
                let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                assert_eq!(
                    pairs(call(&mut c, &refs)),
                    expected,
                    "step {step}: {args:?}"
                );
            }
            7 => {
                let (start, end) = (rng.end(), rng.end());
                let expected = model_range(&model, &start, &end).len();
                assert_eq!(
                    call(&mut c, &[b"TABLE.COUNT", b"t", &start.0, &end.0]),
                    Value::Int(expected as i64),
                    "step {step}"
                );
            }
            8 => {
                let fields: Vec<Vec<u8>> = (0..3).map(|_| rng.field()).collect();
                let expected = Value::Array(
                    fields
                        .iter()
                        .map(|f| model.get(f).map_or(Value::Nil, |v| bulk(v)))
                        .collect(),
                );
                let mut args: Vec<&[u8]> = vec![b"TABLE.MGET", b"t"];
                args.extend(fields.iter().map(Vec::as_slice));
                assert_eq!(call(&mut c, &args), expected, "step {step}");
            }
            _ => {
                // A full SCAN in pages returns exactly the table, in order.
                let page = (rng.below(4) + 1).to_string();
                let mut cursor = b"0".to_vec();
                let mut got = Vec::new();
                loop {
                    let reply = call(
                        &mut c,
                        &[b"TABLE.SCAN", b"t", &cursor, b"COUNT", page.as_bytes()],
                    );
                    let Value::Array(mut parts) = reply else {
                        panic!("scan reply: {reply:?}")
                    };
                    let items = parts.pop().expect("pairs");
                    let Some(Value::BulkString(next)) = parts.pop() else {
                        panic!("scan cursor")
                    };
                    got.extend(pairs(items));
                    if next == b"0" {
                        break;
                    }
                    cursor = next;
                }
                let expected: Vec<_> = model.iter().map(|(f, v)| (f.clone(), v.clone())).collect();
                assert_eq!(got, expected, "step {step}");
            }
        }
        let exists = call(&mut c, &[b"EXISTS", b"t"]);
        assert_eq!(
            exists,
            Value::Int(i64::from(!model.is_empty())),
            "step {step}"
        );
    }
}

#[test]
fn tables_survive_sigkill_and_snapshot_restarts() {
    let mut n = start(&[]);
    let mut c = n.client().expect("connect");
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.cmd("TABLE.SET")
            .arg("big")
            .arg(format!("f{i:05}"))
            .arg(i)
            .ignore();
    }
    let _: () = pipe.query(&mut c).expect("load");
    assert_eq!(
        ok(&mut c, &["TABLE.DELRANGE", "big", "f01000", "f02000"]),
        Value::Int(1000)
    );
    let check = |c: &mut redis::Connection| {
        assert_eq!(ok(c, &["TABLE.COUNT", "big"]), Value::Int(4000));
        assert_eq!(ok(c, &["TABLE.GET", "big", "f04999"]), bulk(b"4999"));
        assert_eq!(ok(c, &["TABLE.GET", "big", "f01500"]), Value::Nil);
        assert_eq!(
            pairs(ok(c, &["TABLE.RANGE", "big", "f00998", "+", "LIMIT", "3"])),
            vec![
                (b"f00998".to_vec(), b"998".to_vec()),
                (b"f00999".to_vec(), b"999".to_vec()),
                (b"f02000".to_vec(), b"2000".to_vec()),
            ]
        );
    };
    check(&mut c);
    drop(c);
    // SIGKILL: the log is replayed.
    n.restart().expect("restart after SIGKILL");
    let mut c = n.client().expect("connect");
    check(&mut c);
    // A snapshot holds the table; the restart loads it.
    assert_eq!(ok(&mut c, &["SAVE"]), Value::Okay);
    let _ = raw(&mut c, &["SHUTDOWN"]);
    n.wait_exit(Duration::from_secs(30)).expect("exits");
    n.restart().expect("restart after SHUTDOWN");
    let mut c = n.client().expect("connect");
    check(&mut c);
}
