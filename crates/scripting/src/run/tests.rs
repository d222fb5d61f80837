//! Runs of scripts against an engine: probes, conversions, errors, kills, limits.

use super::*;

fn eval(engine: &mut Engine, source: &str, keys: &[&str], args: &[&str], mode: Mode) -> Outcome {
    let source = Bytes::from(source.to_owned());
    let sha = crate::sha1_hex(&source);
    let keys: Vec<Bytes> = keys.iter().map(|k| Bytes::from(k.to_string())).collect();
    let args: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
    let invocation = Invocation {
        db: Namespace(0),
        sha: &sha,
        source: &source,
        keys: &keys,
        args: &args,
        read_only: false,
        seed: 7,
        now_us: 1_700_000_000_000_000,
        sharded: false,
        slot: None,
        max_instructions: 50_000_000,
        function: None,
    };
    let owned = std::mem::replace(engine, Engine::placeholder());
    let (outcome, data) = run(Box::new(call::OwnedEngine(owned)), &invocation, mode);
    *engine = data.into_engine().expect("the engine comes back");
    outcome
}

fn apply() -> Mode {
    Mode::Apply(ApplyCtx {
        now_ms: 1_700_000_000_000,
        index: 5,
    })
}

fn error_text(outcome: Outcome) -> String {
    match outcome {
        Outcome::Done(Reply::Error(e)) => e.to_string(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_probe_answers_reads_and_stops_at_the_first_write() {
    let mut engine = Engine::new(16, 1);
    let probe = Mode::Probe {
        now_ms: 1_700_000_000_000,
        inline: true,
    };
    assert_eq!(
        eval(
            &mut engine,
            "return redis.call('get', KEYS[1])",
            &["k"],
            &[],
            probe
        ),
        Outcome::Done(Reply::Nil)
    );
    assert_eq!(
        eval(
            &mut engine,
            "pcall(redis.call, 'set', KEYS[1], 'v') while true do end",
            &["k"],
            &[],
            probe
        ),
        Outcome::NeedsLog
    );
    let set = "redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1])";
    assert_eq!(
        eval(&mut engine, set, &["k"], &["v"], apply()),
        Outcome::Done(Reply::Bulk(Bytes::from_static(b"v")))
    );
}

#[test]
fn conversions_follow_redis() {
    let mut engine = Engine::new(16, 1);
    let reply = eval(
        &mut engine,
        "return {1, 'x', {ok='fine'}, {err='bad'}, 3.99, true, false, nil, 4}",
        &[],
        &[],
        apply(),
    );
    let Outcome::Done(Reply::Array(items)) = reply else {
        panic!("{reply:?}");
    };
    assert_eq!(items.len(), 7);
    assert_eq!(items[0], Reply::Int(1));
    assert_eq!(items[2], Reply::StatusText("fine".into()));
    assert!(items[3].is_error());
    assert_eq!(items[4], Reply::Int(3));
    assert_eq!(items[5], Reply::Int(1));
    assert_eq!(items[6], Reply::Nil);
}

#[test]
fn errors_read_as_redis_s() {
    let mut engine = Engine::new(16, 1);
    let e = error_text(eval(&mut engine, "x = 1", &[], &[], apply()));
    assert!(
        e.starts_with("ERR user_script:1: Attempt to modify a readonly table script: "),
        "{e}"
    );
    assert!(e.ends_with(", on @user_script:1."), "{e}");
    let e = error_text(eval(&mut engine, "return y", &[], &[], apply()));
    assert!(
        e.starts_with(
            "ERR user_script:1: Script attempted to access nonexistent global variable 'y'"
        ),
        "{e}"
    );
    let e = error_text(eval(
        &mut engine,
        "\n\nreturn redis.call('nosuch')",
        &[],
        &[],
        apply(),
    ));
    assert!(
        e.starts_with("ERR Unknown Redis command called from script script: "),
        "{e}"
    );
    assert!(e.ends_with(", on @user_script:3."), "{e}");
    let e = error_text(eval(
        &mut engine,
        "error({err='MY custom'})",
        &[],
        &[],
        apply(),
    ));
    assert!(e.starts_with("MY custom script: "), "{e}");
    let e = error_text(eval(&mut engine, "syntax error here", &[], &[], apply()));
    assert_eq!(
        e,
        "ERR Error compiling script (new function): user_script:1: '=' expected near 'error'"
    );
    let e = error_text(eval(&mut engine, "rawset(_G, 'x', 1)", &[], &[], apply()));
    assert!(
        e.starts_with("ERR Attempt to modify a readonly table script:"),
        "{e}"
    );
    let e = error_text(eval(&mut engine, "string.foo = 1", &[], &[], apply()));
    assert!(
        e.starts_with("ERR user_script:1: Attempt to modify a readonly table"),
        "{e}"
    );
    assert_eq!(
        eval(
            &mut engine,
            "local t = {} t.x = 1 KEYS[1] = 'y' return KEYS[1] .. t.x",
            &["k"],
            &[],
            apply()
        ),
        Outcome::Done(Reply::Bulk(Bytes::from_static(b"y1")))
    );
}

#[test]
fn pcall_returns_the_error_table() {
    let mut engine = Engine::new(16, 1);
    eval(
        &mut engine,
        "redis.call('set', 'a', 'foo')",
        &[],
        &[],
        apply(),
    );
    assert_eq!(
        eval(
            &mut engine,
            "local r = redis.pcall('incr', 'a') return type(r) .. ' ' .. r.err",
            &[],
            &[],
            apply()
        ),
        Outcome::Done(Reply::Bulk(Bytes::from_static(
            b"table ERR value is not an integer or out of range"
        )))
    );
}

#[test]
fn randomness_and_time_come_from_the_entry() {
    let mut a = Engine::new(16, 1);
    let mut b = Engine::new(16, 2);
    let script = "return {tostring(math.random()), math.random(10), redis.call('time')[1]}";
    assert_eq!(
        eval(&mut a, script, &[], &[], apply()),
        eval(&mut b, script, &[], &[], apply())
    );
    let Outcome::Done(Reply::Array(items)) = eval(&mut a, script, &[], &[], apply()) else {
        panic!()
    };
    assert_eq!(items[2], Reply::bulk_int(1_700_000_000));
}

#[test]
fn script_kill_stops_a_busy_probe_and_not_an_applied_script() {
    use crate::busy::{self, Kill};
    busy::set_threshold_ms(0);
    assert_eq!(busy::kill(), Kill::NotBusy);
    let probe = std::thread::spawn(|| {
        let mut engine = Engine::new(16, 1);
        let probe = Mode::Probe {
            now_ms: 0,
            inline: false,
        };
        eval(&mut engine, "while true do end", &[], &[], probe)
    });
    while !busy::busy() {
        std::thread::yield_now();
    }
    assert_eq!(busy::kill(), Kill::Killed);
    let e = error_text(probe.join().expect("probe thread"));
    assert!(
        e.starts_with("ERR Script killed by user with SCRIPT KILL... script: "),
        "{e}"
    );
    assert!(!busy::busy());

    // An applied script runs on every replica: SCRIPT KILL refuses.
    let applied = std::thread::spawn(|| {
        let mut engine = Engine::new(16, 1);
        eval(
            &mut engine,
            "local n = 0 for i = 1, 1e7 do n = n + i end return 1",
            &[],
            &[],
            apply(),
        )
    });
    while !busy::busy() {
        assert!(
            !applied.is_finished(),
            "the script ended before it was seen"
        );
        std::thread::yield_now();
    }
    assert_eq!(busy::kill(), Kill::Unkillable);
    assert_eq!(
        applied.join().expect("applied thread"),
        Outcome::Done(Reply::Int(1))
    );
}

#[test]
fn a_script_from_the_log_stops_at_its_instruction_limit_having_written() {
    let mut engine = Engine::new(16, 1);
    let e = error_text(eval(
        &mut engine,
        "redis.call('set', 'before', '1') while true do end",
        &[],
        &[],
        apply(),
    ));
    assert!(
        e.starts_with("ERR Script ran past script-instruction-limit (50000000 instructions)"),
        "{e}"
    );
    assert_eq!(
        eval(
            &mut engine,
            "return redis.call('get', 'before')",
            &[],
            &[],
            apply()
        ),
        Outcome::Done(Reply::Bulk(Bytes::from_static(b"1")))
    );
}

#[test]
fn cjson_encodes_and_decodes_as_lua_cjson() {
    let mut engine = Engine::new(16, 1);
    let cases: &[(&str, &[u8])] = &[
        (
            "return cjson.encode({1,2,3,'a/b',{x=1}})",
            b"[1,2,3,\"a\\/b\",{\"x\":1}]",
        ),
        ("return cjson.encode({})", b"{}"),
        ("return cjson.encode(0.1)", b"0.1"),
        ("return cjson.encode(1e20)", b"1e+20"),
        ("return cjson.encode({1,nil,3})", b"[1,null,3]"),
        (
            "local t = cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":\"\\\\u00e9\"}') \
             return t.a[2] .. type(t.a[3].b) .. t.c",
            "2userdata\u{e9}".as_bytes(),
        ),
    ];
    for (script, want) in cases {
        assert_eq!(
            eval(&mut engine, script, &[], &[], apply()),
            Outcome::Done(Reply::Bulk(Bytes::copy_from_slice(want))),
            "{script}"
        );
    }
    let e = error_text(eval(
        &mut engine,
        "return cjson.encode({[1]=1,[20]=2})",
        &[],
        &[],
        apply(),
    ));
    assert!(
        e.starts_with(
            "ERR user_script:1: Cannot serialise table: excessively sparse array script: "
        ),
        "{e}"
    );
    let e = error_text(eval(
        &mut engine,
        "return cjson.decode('x')",
        &[],
        &[],
        apply(),
    ));
    assert!(
        e.starts_with("ERR user_script:1: Expected value but found invalid token at character 1"),
        "{e}"
    );
}

#[test]
fn cmsgpack_packs_and_unpacks_as_lua_cmsgpack() {
    let mut engine = Engine::new(16, 1);
    let cases: &[(&str, &[u8])] = &[
        (
            "return cmsgpack.pack(-1, 127, 128, 255, 256, 65535, 65536, 4294967296, -33, -129)",
            b"\xff\x7f\xcc\x80\xcc\xff\xcd\x01\x00\xcd\xff\xff\xce\x00\x01\x00\x00\
              \xcf\x00\x00\x00\x01\x00\x00\x00\x00\xd0\xdf\xd1\xff\x7f",
        ),
        (
            "return cmsgpack.pack(1.5, 0.1, -0.0, true, nil)",
            b"\xca\x3f\xc0\x00\x00\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\x00\xc3\xc0",
        ),
        (
            "return cmsgpack.pack({1,2,3}, {a=1}, {}, {1,nil,3})",
            b"\x93\x01\x02\x03\x81\xa1a\x01\x90\x82\x01\x01\x03\x03",
        ),
    ];
    for (script, want) in cases {
        assert_eq!(
            eval(&mut engine, script, &[], &[], apply()),
            Outcome::Done(Reply::Bulk(Bytes::copy_from_slice(want))),
            "{script}"
        );
    }
    assert_eq!(
        eval(
            &mut engine,
            "return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 2, 2)}",
            &[],
            &[],
            apply()
        ),
        Outcome::Done(Reply::Array(vec![Reply::Int(-1), Reply::Int(3)]))
    );
    let e = error_text(eval(
        &mut engine,
        "return cmsgpack.unpack('\\205\\1')",
        &[],
        &[],
        apply(),
    ));
    assert!(
        e.starts_with("ERR user_script:1: Missing bytes in input."),
        "{e}"
    );
}

#[test]
fn binary_chunks_are_refused() {
    let mut engine = Engine::new(16, 1);
    assert_eq!(
        eval(
            &mut engine,
            "return loadstring(string.dump(function() return 1 end)) == nil",
            &[],
            &[],
            apply()
        ),
        Outcome::Done(Reply::Int(1))
    );
    assert_eq!(
        eval(
            &mut engine,
            "return loadstring('return 7')()",
            &[],
            &[],
            apply()
        ),
        Outcome::Done(Reply::Int(7))
    );
    let e = error_text(eval(&mut engine, "\u{1b}Lua", &[], &[], apply()));
    assert!(e.starts_with("ERR Error compiling script"), "{e}");
}

#[test]
fn no_script_can_change_what_the_next_one_finds() {
    let mut engine = Engine::new(16, 1);
    for poison in [
        "getmetatable('').__index = {}",
        "getmetatable('').__index.upper = nil",
        "setmetatable(_G, {})",
        "local g = getmetatable(_G); g.__index = {}",
    ] {
        let e = error_text(eval(&mut engine, poison, &[], &[], apply()));
        assert!(
            e.contains("Attempt to modify a readonly table"),
            "{poison}: {e}"
        );
    }
    assert_eq!(
        eval(&mut engine, "return ('abc'):upper()", &[], &[], apply()),
        Outcome::Done(Reply::Bulk(Bytes::from_static(b"ABC")))
    );
}
