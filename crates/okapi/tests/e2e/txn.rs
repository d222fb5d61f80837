//! MULTI / EXEC / DISCARD / WATCH end to end.

use redis::{Commands, Value};

use okapi_resp::Frame;

use crate::common::{Raw, err, error, node, raw, simple};

#[test]
fn exec_runs_queued_commands_atomically() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(raw(&mut c, &["MULTI"]).expect("multi"), Value::Okay);
    assert_eq!(
        raw(&mut c, &["SET", "a", "1"]).expect("queued"),
        Value::SimpleString("QUEUED".into())
    );
    assert_eq!(
        raw(&mut c, &["INCR", "a"]).expect("queued"),
        Value::SimpleString("QUEUED".into())
    );
    assert_eq!(
        raw(&mut c, &["GET", "a"]).expect("queued"),
        Value::SimpleString("QUEUED".into())
    );
    assert_eq!(
        raw(&mut c, &["PING"]).expect("queued"),
        Value::SimpleString("QUEUED".into())
    );
    assert_eq!(
        raw(&mut c, &["EXEC"]).expect("exec"),
        Value::Array(vec![
            Value::Okay,
            Value::Int(2),
            Value::BulkString(b"2".to_vec()),
            Value::SimpleString("PONG".into())
        ])
    );
    // Errors at run time (WRONGTYPE, syntax) are replies inside EXEC; the rest still runs.
    let mut r = Raw::connect(&n);
    assert_eq!(r.call(&["MULTI"]), simple("OK"));
    for args in [
        &["SET", "s", "x"][..],
        &["INCR", "s"],
        &["SET", "k", "v", "NX", "XX"],
        &["SET", "after", "yes"],
    ] {
        assert_eq!(r.call(args), simple("QUEUED"));
    }
    assert_eq!(
        r.call(&["EXEC"]),
        Frame::Array(vec![
            simple("OK"),
            error("ERR value is not an integer or out of range"),
            error("ERR syntax error"),
            simple("OK"),
        ])
    );
    assert_eq!(c.get::<_, String>("after").expect("get"), "yes");
}

#[test]
fn queueing_errors_abort_exec() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(raw(&mut c, &["MULTI"]).expect("multi"), Value::Okay);
    let _ = raw(&mut c, &["SET", "x", "1"]);
    assert_eq!(
        err(&mut c, &["NOSUCHCOMMAND"]),
        "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: "
    );
    assert_eq!(
        err(&mut c, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err(&mut c, &["EXEC"]),
        "EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(c.exists::<_, i64>("x").expect("exists"), 0);
    assert_eq!(err(&mut c, &["EXEC"]), "ERR EXEC without MULTI");
    assert_eq!(err(&mut c, &["DISCARD"]), "ERR DISCARD without MULTI");
    assert_eq!(raw(&mut c, &["MULTI"]).expect("multi"), Value::Okay);
    assert_eq!(err(&mut c, &["MULTI"]), "ERR MULTI calls can not be nested");
    assert_eq!(
        err(&mut c, &["WATCH", "x"]),
        "ERR WATCH inside MULTI is not allowed"
    );
    let _ = raw(&mut c, &["SET", "x", "1"]);
    assert_eq!(raw(&mut c, &["DISCARD"]).expect("discard"), Value::Okay);
    assert_eq!(c.exists::<_, i64>("x").expect("exists"), 0);
}

#[test]
fn watch_aborts_when_another_client_writes() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut other = n.client().expect("connect");
    let _: () = c.set("balance", 100).expect("set");
    assert_eq!(
        raw(&mut c, &["WATCH", "balance"]).expect("watch"),
        Value::Okay
    );
    let _: () = other.set("balance", 50).expect("concurrent write");
    assert_eq!(raw(&mut c, &["MULTI"]).expect("multi"), Value::Okay);
    let _ = raw(&mut c, &["INCRBY", "balance", "10"]);
    assert_eq!(
        raw(&mut c, &["EXEC"]).expect("exec"),
        Value::Nil,
        "EXEC aborts with a nil reply"
    );
    assert_eq!(c.get::<_, i64>("balance").expect("get"), 50);

    // Without a conflicting write, EXEC runs; WATCH is consumed by EXEC.
    assert_eq!(
        raw(&mut c, &["WATCH", "balance"]).expect("watch"),
        Value::Okay
    );
    assert_eq!(raw(&mut c, &["MULTI"]).expect("multi"), Value::Okay);
    let _ = raw(&mut c, &["INCRBY", "balance", "10"]);
    assert_eq!(
        raw(&mut c, &["EXEC"]).expect("exec"),
        Value::Array(vec![Value::Int(60)])
    );

    // Watching a missing key: creating it aborts; UNWATCH forgets.
    assert_eq!(
        raw(&mut c, &["WATCH", "ghost"]).expect("watch"),
        Value::Okay
    );
    let _: () = other.set("ghost", 1).expect("create");
    assert_eq!(raw(&mut c, &["MULTI"]).expect("multi"), Value::Okay);
    let _ = raw(&mut c, &["GET", "ghost"]);
    assert_eq!(raw(&mut c, &["EXEC"]).expect("exec"), Value::Nil);
    assert_eq!(
        raw(&mut c, &["WATCH", "ghost"]).expect("watch"),
        Value::Okay
    );
    assert_eq!(raw(&mut c, &["UNWATCH"]).expect("unwatch"), Value::Okay);
    let _: () = other.set("ghost", 2).expect("write");
    assert_eq!(raw(&mut c, &["MULTI"]).expect("multi"), Value::Okay);
    let _ = raw(&mut c, &["GET", "ghost"]);
    assert_eq!(
        raw(&mut c, &["EXEC"]).expect("exec"),
        Value::Array(vec![Value::BulkString(b"2".to_vec())])
    );

    // A watched key that expires aborts EXEC (it changed from present to absent).
    let _: () = redis::cmd("SET")
        .arg("ttl")
        .arg("v")
        .arg("PX")
        .arg(30)
        .query(&mut c)
        .expect("set");
    assert_eq!(raw(&mut c, &["WATCH", "ttl"]).expect("watch"), Value::Okay);
    std::thread::sleep(std::time::Duration::from_millis(80));
    assert_eq!(raw(&mut c, &["MULTI"]).expect("multi"), Value::Okay);
    let _ = raw(&mut c, &["SET", "ttl", "new"]);
    assert_eq!(raw(&mut c, &["EXEC"]).expect("exec"), Value::Nil);

    // FLUSHALL touches every watched key.
    let _: () = c.set("f", 1).expect("set");
    assert_eq!(raw(&mut c, &["WATCH", "f"]).expect("watch"), Value::Okay);
    let _: () = redis::cmd("FLUSHALL").query(&mut other).expect("flushall");
    assert_eq!(raw(&mut c, &["MULTI"]).expect("multi"), Value::Okay);
    let _ = raw(&mut c, &["SET", "f", "2"]);
    assert_eq!(raw(&mut c, &["EXEC"]).expect("exec"), Value::Nil);
}

#[test]
fn transactions_are_isolated_under_concurrent_increments() {
    // Two clients each run 200 WATCH/GET/MULTI/SET/EXEC increments, retrying on abort:
    // with isolation, no increment is lost.
    let n = node();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let url = n.url();
            std::thread::spawn(move || {
                let mut c = redis::Client::open(url)
                    .expect("client")
                    .get_connection()
                    .expect("connect");
                let mut done = 0;
                while done < 200 {
                    let _: () = redis::cmd("WATCH")
                        .arg("counter")
                        .query(&mut c)
                        .expect("watch");
                    let value: Option<i64> = c.get("counter").expect("get");
                    let result: Option<(String,)> = redis::pipe()
                        .atomic()
                        .set("counter", value.unwrap_or(0) + 1)
                        .query(&mut c)
                        .expect("exec");
                    if result.is_some() {
                        done += 1;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let mut c = n.client().expect("connect");
    assert_eq!(c.get::<_, i64>("counter").expect("get"), 400);
}

#[test]
fn select_inside_multi_applies_to_later_commands() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(raw(&mut c, &["MULTI"]).expect("multi"), Value::Okay);
    let _ = raw(&mut c, &["SELECT", "2"]);
    let _ = raw(&mut c, &["SET", "in2", "yes"]);
    assert_eq!(
        raw(&mut c, &["EXEC"]).expect("exec"),
        Value::Array(vec![Value::Okay, Value::Okay])
    );
    assert_eq!(
        c.get::<_, String>("in2")
            .expect("the connection is now on db 2"),
        "yes"
    );
    assert_eq!(raw(&mut c, &["SELECT", "0"]).expect("select"), Value::Okay);
    assert_eq!(c.exists::<_, i64>("in2").expect("exists"), 0);
}
