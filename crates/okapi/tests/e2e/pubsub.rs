//! Pub/sub end to end, in RESP2 (redis crate) and RESP3 (push frames).

use std::time::Duration;

use okapi_resp::Frame;
use redis::Value;

use crate::common::{Raw, bulk, err, node, raw};

#[test]
fn subscribe_publish_and_patterns_resp2() {
    let n = node();
    let mut sub_con = n.client().expect("connect");
    let mut publisher = n.client().expect("connect");
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("news").expect("subscribe");
    sub.psubscribe("sport.*").expect("psubscribe");
    sub.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");

    assert_eq!(
        raw(&mut publisher, &["PUBLISH", "news", "hello"]).expect("publish"),
        Value::Int(1)
    );
    assert_eq!(
        raw(&mut publisher, &["PUBLISH", "sport.tennis", "ace"]).expect("publish"),
        Value::Int(1)
    );
    assert_eq!(
        raw(&mut publisher, &["PUBLISH", "nobody", "x"]).expect("publish"),
        Value::Int(0)
    );
    let first = sub.get_message().expect("message");
    assert_eq!(first.get_channel_name(), "news");
    assert_eq!(first.get_payload::<String>().expect("payload"), "hello");
    let second = sub.get_message().expect("pmessage");
    assert_eq!(second.get_channel_name(), "sport.tennis");
    assert_eq!(second.get_pattern::<String>().expect("pattern"), "sport.*");
    assert_eq!(second.get_payload::<String>().expect("payload"), "ace");

    let channels: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .query(&mut publisher)
        .expect("channels");
    assert_eq!(channels, vec!["news".to_owned()]);
    let numsub: Vec<Value> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("news")
        .arg("other")
        .query(&mut publisher)
        .expect("numsub");
    assert_eq!(
        numsub,
        vec![
            Value::BulkString(b"news".to_vec()),
            Value::Int(1),
            Value::BulkString(b"other".to_vec()),
            Value::Int(0)
        ]
    );
    // RESP3 gets the same flat array, not a map, as from Redis.
    let mut resp3 = n.client_resp3().expect("resp3");
    assert_eq!(
        raw(&mut resp3, &["PUBSUB", "NUMSUB", "news"]).expect("numsub"),
        Value::Array(vec![Value::BulkString(b"news".to_vec()), Value::Int(1)])
    );
    assert_eq!(
        raw(&mut publisher, &["PUBSUB", "NUMPAT"]).expect("numpat"),
        Value::Int(1)
    );

    sub.unsubscribe("news").expect("unsubscribe");
    sub.punsubscribe("sport.*").expect("punsubscribe");
    drop(sub);
    assert_eq!(
        raw(&mut publisher, &["PUBLISH", "news", "again"]).expect("publish"),
        Value::Int(0)
    );
}

#[test]
fn subscribed_resp2_connection_only_accepts_pubsub_commands() {
    let n = node();
    let mut c = Raw::connect(&n);
    let reply = c.call(&["SUBSCRIBE", "a", "b"]);
    assert_eq!(
        reply,
        Frame::Array(vec![bulk("subscribe"), bulk("a"), Frame::Integer(1)])
    );
    assert_eq!(
        c.read(),
        Some(Frame::Array(vec![
            bulk("subscribe"),
            bulk("b"),
            Frame::Integer(2)
        ]))
    );
    let Some(Frame::Error(e)) = Some(c.call(&["GET", "x"])) else {
        panic!("GET must fail")
    };
    assert!(e.starts_with(b"ERR Can't execute 'get'"), "{e:?}");
    assert_eq!(
        c.call(&["PING"]),
        Frame::Array(vec![bulk("pong"), bulk("")])
    );
    // Unsubscribing from all reports each channel (in no set order), counting down.
    let first = c.call(&["UNSUBSCRIBE"]);
    let second = c.read().expect("second reply");
    let (Frame::Array(first), Frame::Array(second)) = (first, second) else {
        panic!("arrays")
    };
    assert_eq!(
        (&first[0], &first[2]),
        (&bulk("unsubscribe"), &Frame::Integer(1))
    );
    assert_eq!(
        (&second[0], &second[2]),
        (&bulk("unsubscribe"), &Frame::Integer(0))
    );
    let mut names = vec![first[1].clone(), second[1].clone()];
    names.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(names, vec![bulk("a"), bulk("b")]);
    assert_eq!(
        c.call(&["UNSUBSCRIBE"]),
        Frame::Array(vec![bulk("unsubscribe"), Frame::Null, Frame::Integer(0)])
    );
    // Out of pub/sub mode, normal commands work again.
    assert_eq!(c.call(&["SET", "x", "1"]), crate::common::simple("OK"));
}

#[test]
fn resp3_subscribers_get_push_frames_and_may_run_commands() {
    let n = node();
    let mut c = Raw::connect(&n);
    let Frame::Map(_) = c.call(&["HELLO", "3"]) else {
        panic!("HELLO 3 replies a map")
    };
    assert_eq!(
        c.call(&["SUBSCRIBE", "ch"]),
        Frame::Push(vec![bulk("subscribe"), bulk("ch"), Frame::Integer(1)])
    );
    assert_eq!(c.call(&["SET", "k", "v"]), crate::common::simple("OK"));
    let mut publisher = n.client().expect("connect");
    assert_eq!(
        raw(&mut publisher, &["PUBLISH", "ch", "payload"]).expect("publish"),
        Value::Int(1)
    );
    assert_eq!(
        c.read(),
        Some(Frame::Push(vec![
            bulk("message"),
            bulk("ch"),
            bulk("payload")
        ]))
    );
    assert_eq!(c.call(&["GET", "k"]), bulk("v"));
}

#[test]
fn pubsub_errors() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(
        err(&mut c, &["SUBSCRIBE"]),
        "ERR wrong number of arguments for 'subscribe' command"
    );
    assert_eq!(
        err(&mut c, &["PUBSUB", "NOPE"]),
        "ERR unknown subcommand 'NOPE'. Try PUBSUB HELP."
    );
    assert_eq!(
        err(&mut c, &["PUBLISH", "a"]),
        "ERR wrong number of arguments for 'publish' command"
    );
}
