//! Client-side caching (CLIENT TRACKING) end to end: RESP3 invalidation pushes in the
//! default, BCAST, OPTIN and OPTOUT modes, RESP2 redirection to a subscriber of
//! `__redis__:invalidate`, flushes, broken redirections, the introspection commands,
//! and the errors of Redis's checks.

use okapi_resp::Frame;

use crate::common::{Raw, bulk, node, raw, simple};

fn resp3(n: &okapi_testkit::TestNode) -> Raw {
    let mut c = Raw::connect(n);
    let hello = c.call(&["HELLO", "3"]);
    assert!(matches!(hello, Frame::Map(_)), "{hello:?}");
    c
}

fn invalidate(keys: &[&str]) -> Frame {
    Frame::Push(vec![
        bulk("invalidate"),
        Frame::Array(keys.iter().map(|k| bulk(k)).collect()),
    ])
}

/// Reads until the reply to a PING sent now: everything pushed before it.
fn pushed_before_ping(c: &mut Raw) -> Vec<Frame> {
    c.command(&["PING"]);
    let mut seen = Vec::new();
    loop {
        let frame = c.read().expect("a frame");
        if frame == simple("PONG") {
            return seen;
        }
        seen.push(frame);
    }
}

#[test]
fn default_mode_invalidates_each_key_read_once() {
    let n = node();
    let mut c = resp3(&n);
    let mut writer = n.client().expect("connect");
    assert_eq!(c.call(&["CLIENT", "TRACKING", "ON"]), simple("OK"));
    raw(&mut writer, &["SET", "a", "1"]).expect("set");
    // Not read yet: nothing to invalidate.
    assert_eq!(pushed_before_ping(&mut c), Vec::<Frame>::new());
    assert_eq!(c.call(&["GET", "a"]), bulk("1"));
    assert_eq!(
        c.call(&["MGET", "b", "c"]),
        Frame::Array(vec![Frame::Null, Frame::Null])
    );
    raw(&mut writer, &["SET", "a", "2"]).expect("set");
    raw(&mut writer, &["SET", "a", "3"]).expect("set");
    raw(&mut writer, &["LPUSH", "c", "x"]).expect("lpush");
    // One message per key, once: the second SET of `a` finds it forgotten.
    assert_eq!(
        pushed_before_ping(&mut c),
        vec![invalidate(&["a"]), invalidate(&["c"])]
    );
    // A write of its own is announced after its reply, as in Redis.
    c.call(&["HSET", "h", "f", "1"]);
    assert_eq!(c.call(&["HGET", "h", "f"]), bulk("1"));
    assert_eq!(c.call(&["HDEL", "h", "f"]), Frame::Integer(1));
    assert_eq!(c.read(), Some(invalidate(&["h"])));
    // Reads inside MULTI are tracked; the invalidation follows EXEC's reply.
    c.call(&["MULTI"]);
    c.call(&["GET", "m"]);
    c.call(&["EXEC"]);
    raw(&mut writer, &["SET", "m", "1"]).expect("set");
    assert_eq!(pushed_before_ping(&mut c), vec![invalidate(&["m"])]);
    // Expiry is a change too.
    assert_eq!(c.call(&["GET", "e"]), Frame::Null);
    raw(&mut writer, &["SET", "e", "1", "PX", "1500"]).expect("set");
    assert_eq!(c.read(), Some(invalidate(&["e"])), "the SET");
    assert_eq!(c.call(&["GET", "e"]), bulk("1"));
    assert_eq!(c.read(), Some(invalidate(&["e"])), "its expiry");
    // Off: nothing more.
    assert_eq!(c.call(&["CLIENT", "TRACKING", "OFF"]), simple("OK"));
    raw(&mut writer, &["SET", "a", "4"]).expect("set");
    assert_eq!(pushed_before_ping(&mut c), Vec::<Frame>::new());
}

#[test]
fn bcast_mode_announces_every_key_under_its_prefixes() {
    let n = node();
    let mut c = resp3(&n);
    let mut writer = n.client().expect("connect");
    assert_eq!(
        c.call(&[
            "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "cfg"
        ]),
        simple("OK")
    );
    raw(&mut writer, &["MSET", "user:1", "a", "other", "b"]).expect("mset");
    raw(&mut writer, &["SET", "cfg", "x"]).expect("set");
    assert_eq!(
        pushed_before_ping(&mut c),
        vec![invalidate(&["user:1"]), invalidate(&["cfg"])]
    );
    // A transaction's keys under one prefix come in one message, sorted.
    let _: redis::Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("user:9")
        .arg(1)
        .cmd("SET")
        .arg("user:2")
        .arg(1)
        .query(&mut writer)
        .expect("exec");
    assert_eq!(
        pushed_before_ping(&mut c),
        vec![invalidate(&["user:2", "user:9"])]
    );
    // Without prefixes: every key.
    let mut all = resp3(&n);
    assert_eq!(
        all.call(&["CLIENT", "TRACKING", "ON", "BCAST"]),
        simple("OK")
    );
    raw(&mut writer, &["DEL", "other"]).expect("del");
    assert_eq!(pushed_before_ping(&mut all), vec![invalidate(&["other"])]);
    let e = all.call(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "x"]);
    assert_eq!(
        e,
        Frame::Error(bytes::Bytes::from_static(
            b"ERR Prefix 'x' overlaps with an existing prefix ''. Prefixes for a single client must not overlap."
        ))
    );
}

#[test]
fn optin_and_optout_follow_client_caching() {
    let n = node();
    let mut writer = n.client().expect("connect");
    let mut optin = resp3(&n);
    assert_eq!(
        optin.call(&["CLIENT", "TRACKING", "ON", "OPTIN"]),
        simple("OK")
    );
    optin.call(&["GET", "a"]);
    assert_eq!(optin.call(&["CLIENT", "CACHING", "YES"]), simple("OK"));
    optin.call(&["GET", "b"]);
    // The flag held for one command only.
    optin.call(&["GET", "c"]);
    raw(&mut writer, &["MSET", "a", "1", "b", "1", "c", "1"]).expect("mset");
    assert_eq!(pushed_before_ping(&mut optin), vec![invalidate(&["b"])]);

    let mut optout = resp3(&n);
    assert_eq!(
        optout.call(&["CLIENT", "TRACKING", "ON", "OPTOUT"]),
        simple("OK")
    );
    optout.call(&["GET", "a"]);
    assert_eq!(optout.call(&["CLIENT", "CACHING", "NO"]), simple("OK"));
    optout.call(&["GET", "b"]);
    raw(&mut writer, &["MSET", "a", "2", "b", "2"]).expect("mset");
    assert_eq!(pushed_before_ping(&mut optout), vec![invalidate(&["a"])]);
    assert_eq!(
        optout.call(&["CLIENT", "CACHING", "YES"]),
        Frame::Error(bytes::Bytes::from_static(
            b"ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."
        ))
    );
}

#[test]
fn resp2_clients_redirect_to_a_subscriber_and_hear_when_it_goes() {
    let n = node();
    let mut writer = n.client().expect("connect");
    let mut target = Raw::connect(&n);
    let Frame::Integer(target_id) = target.call(&["CLIENT", "ID"]) else {
        panic!("an id");
    };
    target.call(&["SUBSCRIBE", "__redis__:invalidate"]);
    let mut reader = n.client().expect("connect");
    raw(
        &mut reader,
        &[
            "CLIENT",
            "TRACKING",
            "ON",
            "REDIRECT",
            &target_id.to_string(),
        ],
    )
    .expect("tracking on");
    let redir: i64 = redis::cmd("CLIENT")
        .arg("GETREDIR")
        .query(&mut reader)
        .expect("getredir");
    assert_eq!(redir, target_id);
    raw(&mut reader, &["GET", "k"]).expect("get");
    raw(&mut writer, &["SET", "k", "v"]).expect("set");
    assert_eq!(
        target.read(),
        Some(Frame::Array(vec![
            bulk("message"),
            bulk("__redis__:invalidate"),
            Frame::Array(vec![bulk("k")]),
        ]))
    );
    // FLUSHALL: every key, as a null.
    raw(&mut reader, &["GET", "k"]).expect("get");
    raw(&mut writer, &["FLUSHALL"]).expect("flushall");
    assert_eq!(
        target.read(),
        Some(Frame::Array(vec![
            bulk("message"),
            bulk("__redis__:invalidate"),
            Frame::Null,
        ]))
    );

    // A RESP3 client whose redirect target disconnects is told so.
    let mut r3 = resp3(&n);
    let mut gone = Raw::connect(&n);
    let Frame::Integer(gone_id) = gone.call(&["CLIENT", "ID"]) else {
        panic!("an id");
    };
    gone.call(&["SUBSCRIBE", "__redis__:invalidate"]);
    assert_eq!(
        r3.call(&["CLIENT", "TRACKING", "ON", "REDIRECT", &gone_id.to_string()]),
        simple("OK")
    );
    r3.call(&["GET", "k"]);
    gone.call(&["QUIT"]);
    assert!(gone.closed());
    // The server drops the client on its own schedule: wait until it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut writer)
            .expect("list");
        if !list.contains(&format!("id={gone_id} ")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{list}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    raw(&mut writer, &["SET", "k", "2"]).expect("set");
    assert_eq!(
        r3.read(),
        Some(Frame::Push(vec![
            bulk("tracking-redir-broken"),
            Frame::Integer(gone_id)
        ]))
    );
    let info = r3.call(&["CLIENT", "TRACKINGINFO"]);
    assert_eq!(
        info,
        Frame::Map(vec![
            (
                bulk("flags"),
                Frame::Set(vec![bulk("on"), bulk("broken_redirect")])
            ),
            (bulk("redirect"), Frame::Integer(gone_id)),
            (bulk("prefixes"), Frame::Array(Vec::new())),
        ])
    );
}

#[test]
fn introspection_and_errors_follow_redis() {
    let n = node();
    let mut c = n.client().expect("connect");
    let e = |c: &mut redis::Connection, args: &[&str]| crate::common::err(c, args);
    let info = |c: &mut redis::Connection| -> redis::Value {
        redis::cmd("CLIENT")
            .arg("TRACKINGINFO")
            .query(c)
            .expect("trackinginfo")
    };
    let off = info(&mut c);
    assert_eq!(
        off,
        redis::Value::Array(vec![
            redis::Value::BulkString(b"flags".to_vec()),
            redis::Value::Array(vec![redis::Value::BulkString(b"off".to_vec())]),
            redis::Value::BulkString(b"redirect".to_vec()),
            redis::Value::Int(-1),
            redis::Value::BulkString(b"prefixes".to_vec()),
            redis::Value::Array(Vec::new()),
        ])
    );
    let getredir: i64 = redis::cmd("CLIENT")
        .arg("GETREDIR")
        .query(&mut c)
        .expect("getredir");
    assert_eq!(getredir, -1);
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "ON", "PREFIX", "a"]),
        "ERR PREFIX option requires BCAST mode to be enabled"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"]),
        "ERR You can't specify both OPTIN mode and OPTOUT mode"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"]),
        "ERR OPTIN and OPTOUT are not compatible with BCAST"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"]),
        "ERR The client ID you want redirect to does not exist"
    );
    assert_eq!(
        e(
            &mut c,
            &["CLIENT", "TRACKING", "ON", "REDIRECT", "1", "REDIRECT", "2"]
        ),
        "ERR A client can only redirect to a single other client"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "MAYBE"]),
        "ERR syntax error"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "ON", "FAST"]),
        "ERR syntax error"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING"]),
        "ERR wrong number of arguments for 'client|tracking' command"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "CACHING", "YES"]),
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"
    );

    raw(
        &mut c,
        &[
            "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "foo", "PREFIX", "bar",
        ],
    )
    .expect("on");
    let on = info(&mut c);
    assert_eq!(
        on,
        redis::Value::Array(vec![
            redis::Value::BulkString(b"flags".to_vec()),
            redis::Value::Array(vec![
                redis::Value::BulkString(b"on".to_vec()),
                redis::Value::BulkString(b"bcast".to_vec())
            ]),
            redis::Value::BulkString(b"redirect".to_vec()),
            redis::Value::Int(0),
            redis::Value::BulkString(b"prefixes".to_vec()),
            redis::Value::Array(vec![
                redis::Value::BulkString(b"bar".to_vec()),
                redis::Value::BulkString(b"foo".to_vec())
            ]),
        ])
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "ON"]),
        "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."
    );
    let list: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query(&mut c)
        .expect("info");
    assert!(
        list.contains("flags=tB ") && list.contains(" redir=0 "),
        "{list}"
    );
    let stats = crate::common::info_field(&mut c, "stats", "tracking_total_prefixes");
    assert_eq!(stats, "2");
    let clients = crate::common::info_field(&mut c, "clients", "tracking_clients");
    assert_eq!(clients, "1");
}

#[test]
fn the_table_limit_invalidates_the_reads_it_drops() {
    let n = node();
    let mut c = resp3(&n);
    let mut admin = n.client().expect("connect");
    raw(
        &mut admin,
        &["CONFIG", "SET", "tracking-table-max-keys", "2"],
    )
    .expect("config");
    c.call(&["CLIENT", "TRACKING", "ON"]);
    c.call(&["MGET", "a", "b"]);
    // A third key pushes one of the first two out, and its reader is told.
    c.call(&["GET", "z"]);
    let pushed = pushed_before_ping(&mut c);
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    let keys = crate::common::info_field(&mut admin, "stats", "tracking_total_keys");
    assert_eq!(keys, "2");
}

#[test]
fn noloop_leaves_out_the_clients_own_writes() {
    let n = node();
    let mut other = n.client().expect("connect");
    for bcast in [false, true] {
        let mut target = resp3(&n);
        let Frame::Integer(target_id) = target.call(&["CLIENT", "ID"]) else {
            panic!("an id");
        };
        let mut me = resp3(&n);
        let mut on = vec!["CLIENT", "TRACKING", "ON", "NOLOOP"];
        let id = target_id.to_string();
        on.extend(["REDIRECT", &id]);
        if bcast {
            on.push("BCAST");
        }
        assert_eq!(me.call(&on), simple("OK"));
        me.call(&["MGET", "otherkey1", "loopkey", "otherkey2"]);
        raw(&mut other, &["SET", "otherkey1", "1"]).expect("set");
        me.call(&["SET", "loopkey", "1"]);
        raw(&mut other, &["SET", "otherkey2", "1"]).expect("set");
        assert_eq!(
            pushed_before_ping(&mut target),
            vec![invalidate(&["otherkey1"]), invalidate(&["otherkey2"])],
            "bcast: {bcast}"
        );
        let info = me.call(&["CLIENT", "TRACKINGINFO"]);
        let flags = if bcast {
            vec![bulk("on"), bulk("bcast"), bulk("noloop")]
        } else {
            vec![bulk("on"), bulk("noloop")]
        };
        let Frame::Map(fields) = info else {
            panic!("a map: {info:?}");
        };
        assert_eq!(fields[0], (bulk("flags"), Frame::Set(flags)));
        assert_eq!(fields[1], (bulk("redirect"), Frame::Integer(target_id)));
    }
    // Without NOLOOP a client hears of its own writes.
    let mut me = resp3(&n);
    me.call(&["CLIENT", "TRACKING", "ON"]);
    me.call(&["GET", "loopkey"]);
    me.call(&["SET", "loopkey", "2"]);
    assert_eq!(pushed_before_ping(&mut me), vec![invalidate(&["loopkey"])]);
}
