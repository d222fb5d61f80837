//! Lua scripting through the real binary: EVAL/EVALSHA/EVAL_RO and SCRIPT with
//! Redis's replies and errors, the `redis` crate's `Script` (EVALSHA falling back to
//! EVAL), `redis-cli --eval`, scripts that write going through the log (atomic under
//! concurrent clients, replayed after kill -9, waking blocked clients) and inside
//! MULTI.

use std::process::Command;

use redis::Value;

use crate::common::{digest, err, joined, node, raw, spawn, wait_blocked};

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

#[test]
fn scripts_answer_with_redis_s_conversions_and_errors() {
    let n = node();
    let mut c = n.client().expect("connect");
    let reply = raw(
        &mut c,
        &[
            "EVAL",
            "return {1, 'x', {ok='fine'}, 3.99, true, false, nil, 4}",
            "0",
        ],
    )
    .expect("EVAL");
    assert_eq!(
        reply,
        Value::Array(vec![
            Value::Int(1),
            bulk("x"),
            Value::SimpleString("fine".into()),
            Value::Int(3),
            Value::Int(1),
            Value::Nil,
        ])
    );
    assert_eq!(
        raw(
            &mut c,
            &[
                "EVAL",
                "return {KEYS[1], ARGV[1], #KEYS, #ARGV}",
                "1",
                "k",
                "a1",
                "a2"
            ]
        )
        .expect("KEYS/ARGV"),
        Value::Array(vec![bulk("k"), bulk("a1"), Value::Int(1), Value::Int(2)])
    );
    let _: () = redis::cmd("SET")
        .arg("a")
        .arg("foo")
        .query(&mut c)
        .expect("SET");
    let cases: &[(&[&str], &str)] = &[
        (
            &["EVAL", "return redis.call('incr','a')", "0"],
            "ERR value is not an integer or out of range script: c9f3dee5d73c1008119b4067129338abc98620f3, on @user_script:1.",
        ),
        (
            &["EVAL", "x = 1", "0"],
            "ERR user_script:1: Attempt to modify a readonly table script: 34bce5f775de97f557a34088509c8bfe1ea17e52, on @user_script:1.",
        ),
        (
            &["EVAL", "return y", "0"],
            "ERR user_script:1: Script attempted to access nonexistent global variable 'y' script: e278681ed961e2fb52881313e5c90fdd93749940, on @user_script:1.",
        ),
        (
            &["EVAL", "return redis.call('nosuch','a')", "0"],
            "ERR Unknown Redis command called from script script: 541bc59d91fb4547dc0276161da86658398b68e1, on @user_script:1.",
        ),
        (
            &["EVAL", "return redis.call('subscribe','x')", "0"],
            "ERR This Redis command is not allowed from script script: 2f334966be3d5602175118691c9d198b0a695e53, on @user_script:1.",
        ),
        (
            &["EVAL", "syntax error here", "0"],
            "ERR Error compiling script (new function): user_script:1: '=' expected near 'error'",
        ),
        (
            &["EVAL", "return 1", "-1"],
            "ERR Number of keys can't be negative",
        ),
        (
            &["EVAL", "return 1", "2", "a"],
            "ERR Number of keys can't be greater than number of args",
        ),
        (
            &["EVALSHA", "abc", "0"],
            "NOSCRIPT No matching script. Please use EVAL.",
        ),
        (
            &["EVAL_RO", "return redis.call('set','k','v')", "1", "k"],
            "ERR Write commands are not allowed from read-only scripts. script: d223ed8c7345b684e8ed044ed472601f536fa58b, on @user_script:1.",
        ),
        (
            &["SCRIPT", "KILL"],
            "NOTBUSY No scripts in execution right now.",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(&err(&mut c, args), want, "{args:?}");
    }
    // An error reply returned (not raised) is the reply itself.
    assert_eq!(
        err(
            &mut c,
            &["EVAL", "return redis.error_reply('MY code')", "0"]
        ),
        "MY code"
    );
    let pcall = "local r = redis.pcall('incr', 'a') return r.err";
    assert_eq!(
        raw(&mut c, &["EVAL", pcall, "0"]).expect("pcall"),
        bulk("ERR value is not an integer or out of range")
    );
    // The syntax error was not cached; `return 1` was.
    let exists: Vec<i64> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
        .arg("da39a3ee5e6b4b0d3255bfef95601890afd80709")
        .query(&mut c)
        .expect("SCRIPT EXISTS");
    assert_eq!(exists, vec![0, 0]);
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg("return 1")
        .query(&mut c)
        .expect("SCRIPT LOAD");
    assert_eq!(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    let one: i64 = redis::cmd("EVALSHA")
        .arg(sha.to_uppercase())
        .arg(0)
        .query(&mut c)
        .expect("EVALSHA in capitals");
    assert_eq!(one, 1);
    assert!(err(&mut c, &["SCRIPT", "LOAD", "return ("]).starts_with(
        "ERR Error compiling script (new function): user_script:1: unexpected symbol"
    ));
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut c)
        .expect("FLUSH");
    assert_eq!(
        err(&mut c, &["EVALSHA", &sha, "0"]),
        "NOSCRIPT No matching script. Please use EVAL."
    );
}

#[test]
fn the_redis_crate_s_script_and_redis_cli_eval_work() {
    let n = node();
    let mut c = n.client().expect("connect");
    // `Script` sends EVALSHA and falls back to EVAL on NOSCRIPT.
    let script = redis::Script::new("return redis.call('incrby', KEYS[1], ARGV[1])");
    for i in 1..=3 {
        let total: i64 = script
            .key("counter")
            .arg(10)
            .invoke(&mut c)
            .expect("invoke");
        assert_eq!(total, 10 * i);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("push.lua");
    std::fs::write(
        &file,
        "redis.call('rpush', KEYS[1], ARGV[1], ARGV[2]) return redis.call('llen', KEYS[1])",
    )
    .expect("write script");
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(n.port.to_string())
        .arg("--eval")
        .arg(&file)
        .args(["list", ",", "x", "y"])
        .output()
        .expect("redis-cli runs (install redis-tools)");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    let items: Vec<String> = redis::cmd("LRANGE")
        .arg("list")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .expect("LRANGE");
    assert_eq!(items, vec!["x", "y"]);
}

#[test]
fn writing_scripts_are_atomic_replayed_and_wake_blocked_clients() {
    let mut n = node();
    let mut c = n.client().expect("connect");
    // Read, then write what was read plus one: lost updates would show if another
    // client's script ran in between.
    let script = "local v = tonumber(redis.call('get', KEYS[1]) or '0') \
                  redis.call('set', KEYS[1], v + 1) return v + 1";
    let clients = 4;
    let rounds = 100;
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let mut con = n.client().expect("connect");
            std::thread::spawn(move || {
                for _ in 0..rounds {
                    let _: i64 = redis::cmd("EVAL")
                        .arg(script)
                        .arg(1)
                        .arg("shared")
                        .query(&mut con)
                        .expect("EVAL");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("client thread");
    }
    let total: i64 = redis::cmd("GET").arg("shared").query(&mut c).expect("GET");
    assert_eq!(total, clients * rounds);

    // A script's push serves a client blocked on the list.
    let blocked = spawn(&n, &["BLPOP", "jobs", "0"]);
    wait_blocked(&mut c, 1);
    let _: i64 = redis::cmd("EVAL")
        .arg("return redis.call('rpush', KEYS[1], ARGV[1])")
        .arg(1)
        .arg("jobs")
        .arg("job-1")
        .query(&mut c)
        .expect("EVAL RPUSH");
    assert_eq!(
        joined(blocked),
        Value::Array(vec![bulk("jobs"), bulk("job-1")])
    );

    // Inside MULTI a script is one of the transaction's steps.
    let (first, second): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("EVAL")
        .arg("return redis.call('incr', KEYS[1])")
        .arg(1)
        .arg("in-multi")
        .cmd("INCR")
        .arg("in-multi")
        .query(&mut c)
        .expect("MULTI with EVAL");
    assert_eq!((first, second), (1, 2));

    // kill -9 and restart: the scripts replay from the log to the same state.
    let before = digest(&mut c);
    drop(c);
    n.kill();
    n.restart().expect("restart");
    let mut c = n.client().expect("connect");
    let total: i64 = redis::cmd("GET").arg("shared").query(&mut c).expect("GET");
    assert_eq!(total, clients * rounds);
    let after = digest(&mut c);
    assert_eq!(after, before);
}

#[test]
fn a_busy_script_gets_busy_replies_and_script_kill_and_a_writing_one_its_limit() {
    let mut n = node();
    let mut c = n.client().expect("connect");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("busy-reply-threshold")
        .arg("50")
        .query(&mut c)
        .expect("CONFIG SET busy-reply-threshold");
    let looping = spawn(&n, &["EVAL", "while true do end", "0"]);
    // Other clients see BUSY once it passes the threshold (on the same event loop too:
    // a long probe leaves it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match raw(&mut c, &["GET", "x"]) {
            Err(e) if e.code() == Some("BUSY") => break,
            Ok(_) => {}
            Err(e) => panic!("unexpected {e}"),
        }
        assert!(std::time::Instant::now() < deadline, "never saw BUSY");
    }
    let _: () = redis::cmd("SCRIPT")
        .arg("KILL")
        .query(&mut c)
        .expect("SCRIPT KILL");
    let killed = looping
        .join()
        .expect("thread")
        .expect_err("the script was killed");
    assert!(
        killed
            .to_string()
            .contains("Script killed by user with SCRIPT KILL..."),
        "{killed}"
    );
    let pong: String = redis::cmd("PING").query(&mut c).expect("PING");
    assert_eq!(pong, "PONG");

    // A script that wrote cannot be killed; it stops at the instruction limit on every
    // replica alike, its earlier writes kept, and a restart replays it to the same end.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("script-instruction-limit")
        .arg("5000000")
        .query(&mut c)
        .expect("CONFIG SET script-instruction-limit");
    let e = err(
        &mut c,
        &[
            "EVAL",
            "redis.call('set', KEYS[1], 'kept') while true do end",
            "1",
            "w",
        ],
    );
    assert!(
        e.starts_with("ERR Script ran past script-instruction-limit (5000000 instructions)"),
        "{e}"
    );
    let kept: String = redis::cmd("GET").arg("w").query(&mut c).expect("GET");
    assert_eq!(kept, "kept");
    drop(c);
    n.kill();
    n.restart().expect("restart replays the script");
    let mut c = n.client().expect("connect");
    let kept: String = redis::cmd("GET").arg("w").query(&mut c).expect("GET");
    assert_eq!(kept, "kept");
}

#[test]
fn shebang_flags_and_cjson_work_as_in_redis() {
    let n = node();
    let mut c = n.client().expect("connect");
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "EVAL",
                "#!lua flags=no-writes\nreturn redis.call('set','k','v')",
                "0",
            ],
            "ERR Write commands are not allowed from read-only scripts. script: 34c8c9d31128963989284e33e9f94720fd85832d, on @user_script:2.",
        ),
        (
            &["EVAL", "#!lua\nreturn y", "0"],
            "ERR user_script:2: Script attempted to access nonexistent global variable 'y' script: 80b870281dfdaf57d0f0f2c30e34dbb7de3a3705, on @user_script:2.",
        ),
        (
            &["EVAL", "#!lua flags=bogus\nreturn 1", "0"],
            "ERR Unexpected flag in script shebang: bogus",
        ),
        (
            &["EVAL", "#!python\nreturn 1", "0"],
            "ERR Unexpected engine in script shebang: #!python",
        ),
        (&["EVAL", "#!lua", "0"], "ERR Invalid script shebang"),
        (
            &["EVAL_RO", "#!lua\nreturn 1", "0"],
            "ERR Can not execute a script with write flag using *_ro command.",
        ),
        (
            &["EVAL", "return cjson.decode('[1,')", "0"],
            "ERR user_script:1: Expected value but found T_END at character 4 script: ad8248c68c719abd59f0dd09dea378bb946e7d3f, on @user_script:1.",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(&err(&mut c, args), want, "{args:?}");
    }
    let one: i64 = redis::cmd("EVAL_RO")
        .arg("#!lua flags=no-writes\nreturn 1")
        .arg(0)
        .query(&mut c)
        .expect("EVAL_RO of a no-writes script");
    assert_eq!(one, 1);
    let json: String = redis::cmd("EVAL")
        .arg("return cjson.encode(cjson.decode(ARGV[1]))")
        .arg(0)
        .arg(r#"{"list":[1,2.5,"a/b",null]}"#)
        .query(&mut c)
        .expect("cjson round trip");
    assert_eq!(json, r#"{"list":[1,2.5,"a\/b",null]}"#);

    // EVAL_RO refuses writes inside MULTI too, where the script goes through the log.
    let mut raw_con = crate::common::Raw::connect(&n);
    raw_con.call(&["MULTI"]);
    raw_con.call(&[
        "EVAL_RO",
        "return redis.call('set', KEYS[1], 'v')",
        "1",
        "ro",
    ]);
    raw_con.call(&["EXISTS", "ro"]);
    let okapi_resp::Frame::Array(replies) = raw_con.call(&["EXEC"]) else {
        panic!("EXEC is an array");
    };
    assert!(
        matches!(&replies[0], okapi_resp::Frame::Error(e)
            if e.starts_with(b"ERR Write commands are not allowed from read-only scripts.")),
        "{replies:?}"
    );
    assert_eq!(replies[1], okapi_resp::Frame::Integer(0));
}

const LIBRARY: &str = "#!lua name=counters
redis.register_function('bump', function(keys, args)
    return redis.call('incrby', keys[1], args[1] or 1)
end)
redis.register_function{function_name='peek', flags={'no-writes'}, description='reads a counter',
    callback=function(keys) return redis.call('get', keys[1]) end}";

#[test]
fn functions_load_replicate_through_the_log_and_survive_snapshot_and_replay() {
    let mut n = node();
    let mut c = n.client().expect("connect");
    let name: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(LIBRARY)
        .query(&mut c)
        .expect("FUNCTION LOAD");
    assert_eq!(name, "counters");
    for i in 1..=3 {
        let total: i64 = redis::cmd("FCALL")
            .arg("bump")
            .arg(1)
            .arg("hits")
            .arg(5)
            .query(&mut c)
            .expect("FCALL");
        assert_eq!(total, 5 * i);
    }
    let peek: String = redis::cmd("FCALL_RO")
        .arg("peek")
        .arg(1)
        .arg("hits")
        .query(&mut c)
        .expect("FCALL_RO of a no-writes function");
    assert_eq!(peek, "15");
    let cases: &[(&[&str], &str)] = &[
        (
            &["FCALL_RO", "bump", "1", "hits"],
            "ERR Can not execute a script with write flag using *_ro command.",
        ),
        (&["FCALL", "nosuch", "0"], "ERR Function not found"),
        (
            &["FCALL", "bump", "-1"],
            "ERR Number of keys can't be negative",
        ),
        (
            &["FUNCTION", "LOAD", LIBRARY],
            "ERR Library 'counters' already exists",
        ),
        (
            &["FUNCTION", "LOAD", "return 1"],
            "ERR Missing library metadata",
        ),
        (
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=other\nredis.register_function('bump', function() end)",
            ],
            "ERR Function bump already exists",
        ),
        (
            &["FUNCTION", "LOAD", "#!lua name=e\nredis.call('ping')"],
            "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'",
        ),
        (&["FUNCTION", "DELETE", "nolib"], "ERR Library not found"),
    ];
    for (args, want) in cases {
        assert_eq!(&err(&mut c, args), want, "{args:?}");
    }
    let list = raw(&mut c, &["FUNCTION", "LIST", "WITHCODE"]).expect("FUNCTION LIST");
    let Value::Array(libs) = list else {
        panic!("FUNCTION LIST: {list:?}")
    };
    assert_eq!(libs.len(), 1);
    let Value::Array(fields) = &libs[0] else {
        panic!("a library is a map: {libs:?}")
    };
    assert_eq!(fields[0], bulk("library_name"));
    assert_eq!(fields[1], bulk("counters"));
    assert_eq!(fields[7], bulk(LIBRARY));
    // REPLACE swaps the code; the functions go with it.
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg("#!lua name=counters\nredis.register_function('bump', function(keys) return redis.call('incrby', keys[1], 100) end)")
        .query(&mut c)
        .expect("REPLACE");
    assert_eq!(
        err(&mut c, &["FCALL", "peek", "1", "hits"]),
        "ERR Function not found"
    );
    let total: i64 = redis::cmd("FCALL")
        .arg("bump")
        .arg(1)
        .arg("hits")
        .query(&mut c)
        .expect("FCALL");
    assert_eq!(total, 115);

    // A snapshot keeps the libraries (SAVE), the log after it replays (kill -9).
    let _: () = redis::cmd("SAVE").query(&mut c).expect("SAVE");
    let total: i64 = redis::cmd("FCALL")
        .arg("bump")
        .arg(1)
        .arg("hits")
        .query(&mut c)
        .expect("FCALL");
    assert_eq!(total, 215);
    let before = digest(&mut c);
    drop(c);
    n.kill();
    n.restart().expect("restart");
    let mut c = n.client().expect("connect");
    let after = digest(&mut c);
    assert_eq!(after, before);
    let total: i64 = redis::cmd("FCALL")
        .arg("bump")
        .arg(1)
        .arg("hits")
        .query(&mut c)
        .expect("FCALL after restart");
    assert_eq!(total, 315);
    let _: () = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query(&mut c)
        .expect("FLUSH");
    assert_eq!(
        err(&mut c, &["FCALL", "bump", "1", "hits"]),
        "ERR Function not found"
    );
}

#[test]
fn function_dump_and_restore_follow_their_policies() {
    let n = node();
    let mut c = n.client().expect("connect");
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(LIBRARY)
        .query(&mut c)
        .expect("LOAD");
    let payload: Vec<u8> = redis::cmd("FUNCTION")
        .arg("DUMP")
        .query(&mut c)
        .expect("DUMP");
    assert_eq!(
        err(&mut c, &["FUNCTION", "RESTORE", "junk"]),
        "ERR DUMP payload version or checksum are wrong"
    );
    assert_eq!(
        err(&mut c, &["FUNCTION", "RESTORE", "junk", "bogus"]),
        "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
    );
    let restore = |c: &mut redis::Connection, policy: Option<&str>| {
        let mut cmd = redis::cmd("FUNCTION");
        cmd.arg("RESTORE").arg(&payload);
        if let Some(policy) = policy {
            cmd.arg(policy);
        }
        cmd.query::<()>(c)
    };
    let e = restore(&mut c, None).expect_err("APPEND of an existing library");
    assert_eq!(e.detail(), Some("Library counters already exists"));
    restore(&mut c, Some("REPLACE")).expect("REPLACE");
    let _: () = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query(&mut c)
        .expect("FLUSH");
    restore(&mut c, None).expect("APPEND into nothing");
    restore(&mut c, Some("FLUSH")).expect("FLUSH policy");
    let total: i64 = redis::cmd("FCALL")
        .arg("bump")
        .arg(1)
        .arg("n")
        .arg(2)
        .query(&mut c)
        .expect("FCALL");
    assert_eq!(total, 2);
    // redis-server's own payloads are refused, with Redis's error.
    let redis = okapi_testkit::differential::RedisServer::start().expect("redis-server");
    let mut r = redis::Client::open(format!("redis://{}/", redis.addr))
        .and_then(|client| client.get_connection())
        .expect("redis-server connection");
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(LIBRARY)
        .query(&mut r)
        .expect("LOAD on redis");
    let theirs: Vec<u8> = redis::cmd("FUNCTION")
        .arg("DUMP")
        .query(&mut r)
        .expect("DUMP on redis");
    let e = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&theirs)
        .arg("REPLACE")
        .query::<()>(&mut c)
        .expect_err("a Redis payload");
    assert_eq!(
        e.detail(),
        Some("DUMP payload version or checksum are wrong")
    );
}

#[test]
fn scripts_get_redis_s_script_rules_for_sort_blocking_reads_and_bytecode() {
    let n = node();
    let mut c = n.client().expect("connect");
    let _: i64 = redis::cmd("SADD")
        .arg("set")
        .arg(&["c", "a", "b", "aa"])
        .query(&mut c)
        .expect("SADD");
    // SORT BY nosort of a set: sorted by the elements when a script calls it.
    let sorted: Vec<String> = redis::cmd("EVAL")
        .arg("return redis.call('sort', KEYS[1], 'by', 'nosort')")
        .arg(1)
        .arg("set")
        .query(&mut c)
        .expect("SORT from a script");
    assert_eq!(sorted, vec!["a", "aa", "b", "c"]);
    assert_eq!(
        err(
            &mut c,
            &[
                "EVAL",
                "return redis.call('xread', 'block', 0, 'streams', 'x', '$')",
                "0"
            ]
        ),
        "ERR xread command is not allowed with BLOCK option from scripts script: 61c8b7a1da5a24fddb71c4b16cb3f92720d7175b, on @user_script:1."
    );
    // Blocking pops are not for scripts at all (Redis 7 flags them noscript).
    assert_eq!(
        err(
            &mut c,
            &["EVAL", "return redis.call('blpop', 'nothing', 0)", "0"]
        ),
        "ERR This Redis command is not allowed from script script: bbae03f1c683ace681993979fbebb3c54bf68a75, on @user_script:1."
    );
    let refused: i64 = redis::cmd("EVAL")
        .arg("return loadstring(string.dump(function() return 1 end)) == nil")
        .arg(0)
        .query(&mut c)
        .expect("bytecode refused");
    assert_eq!(refused, 1);
}
