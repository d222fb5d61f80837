//! The wire: pipelining, inline commands, and hostile or broken input. A bad client
//! gets an error or a closed connection; the server stays up and nobody else notices.

use std::io::{Read, Write};
use std::time::Duration;

use okapi_resp::Frame;
use redis::Commands;

use crate::common::{Raw, bulk, error, info_field, node, simple, start};

/// Asserts the server still serves another client normally.
fn still_serving(n: &okapi_testkit::TestNode) {
    let mut c = n.client().expect("server still accepts clients");
    let _: () = c.set("alive", "yes").expect("set");
    assert_eq!(c.get::<_, String>("alive").expect("get"), "yes");
}

#[test]
fn pipeline_of_ten_thousand_commands_replies_in_order() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut pipe = redis::pipe();
    for i in 0..10_000 {
        pipe.set(format!("key:{i}"), i).ignore();
    }
    for i in 0..10_000 {
        pipe.get(format!("key:{i}"));
    }
    let values: Vec<i64> = pipe.query(&mut c).expect("pipeline");
    assert_eq!(values, (0..10_000).collect::<Vec<i64>>());

    // The same as one raw write: every reply arrives, in order.
    let mut raw = Raw::connect(&n);
    let mut wire = Vec::new();
    for i in 0..10_000 {
        wire.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n");
        if i % 1000 == 0 {
            wire.extend_from_slice(b"PING\r\n");
        }
    }
    raw.send(&wire);
    for (i, expected) in (1..=10_000).enumerate() {
        assert_eq!(raw.read(), Some(Frame::Integer(expected)));
        if i % 1000 == 0 {
            assert_eq!(raw.read(), Some(simple("PONG")));
        }
    }
}

#[test]
fn inline_commands_work_like_telnet() {
    let n = node();
    let mut c = Raw::connect(&n);
    c.send(b"PING\r\n");
    assert_eq!(c.read(), Some(simple("PONG")));
    c.send(b"set greeting \"hello world\"\n");
    assert_eq!(c.read(), Some(simple("OK")));
    c.send(b"\r\n");
    c.send(b"get greeting\r\n");
    assert_eq!(c.read(), Some(bulk("hello world")));
    c.send(b"set x \"unclosed\r\n");
    assert_eq!(
        c.read(),
        Some(error("ERR Protocol error: unbalanced quotes in request"))
    );
    assert!(c.closed());
    still_serving(&n);
}

#[test]
fn malformed_frames_get_an_error_and_only_that_connection_closes() {
    let n = node();
    let mut bystander = n.client().expect("connect");
    let _: () = bystander.set("b", "1").expect("set");
    let cases: &[(&[u8], &str)] = &[
        (b"*1\r\n:5\r\n", "ERR Protocol error: expected '$', got ':'"),
        (b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*x\r\n", "ERR Protocol error: invalid multibulk length"),
        (
            b"*2147483648\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*1\r\n$3\r\nabcXY",
            "ERR Protocol error: bulk string not terminated by CRLF",
        ),
        (
            b"*1\r\n$999999999999999999999999999999999\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$9999999999999999999999999999999999999999999",
            "ERR Protocol error: too big mbulk count string",
        ),
    ];
    for (input, expected) in cases {
        let mut c = Raw::connect(&n);
        c.send(input);
        assert_eq!(
            c.read(),
            Some(error(expected)),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
        assert!(
            c.closed(),
            "connection closed after {:?}",
            String::from_utf8_lossy(input)
        );
    }
    assert_eq!(
        bystander
            .get::<_, String>("b")
            .expect("bystander unaffected"),
        "1"
    );
    still_serving(&n);
}

#[test]
fn oversized_bulk_is_refused_before_any_allocation() {
    let n = start(&["--proto-max-bulk-len", "1mb"]);
    let mut c = Raw::connect(&n);
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n");
    assert_eq!(
        c.read(),
        Some(error("ERR Protocol error: invalid bulk length"))
    );
    assert!(c.closed());
    // At the limit it is fine.
    let mut ok = n.client().expect("connect");
    let _: () = ok
        .set("k", vec![7u8; 1024 * 1024])
        .expect("1 MiB value at the limit");
    still_serving(&n);
}

#[test]
fn declared_sizes_are_not_allocated_up_front() {
    let n = node();
    let mut probe = n.client().expect("connect");
    let before: u64 = info_field(&mut probe, "memory", "used_memory")
        .parse()
        .expect("number");
    // Half frames that declare huge sizes, then silence.
    let mut liars = Vec::new();
    for input in [
        &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870000\r\nabc"[..],
        &b"*1073741000\r\n$3\r\nSET\r\n"[..],
        &b"*2\r\n$3\r\nGET\r\n$100"[..],
    ] {
        let mut c = Raw::connect(&n);
        c.send(input);
        liars.push(c);
    }
    std::thread::sleep(Duration::from_millis(200));
    let after: u64 = info_field(&mut probe, "memory", "used_memory")
        .parse()
        .expect("number");
    assert!(
        after < before + 16 * 1024 * 1024,
        "declared sizes were not allocated: {before} -> {after}"
    );
    still_serving(&n);
    // The half-sent bulk completes normally when the rest arrives.
    let mut c = Raw::connect(&n);
    c.send(b"*3\r\n$3\r\nSET\r\n$4\r\nslow\r\n$10\r\n01234");
    std::thread::sleep(Duration::from_millis(50));
    c.send(b"56789\r\n");
    assert_eq!(c.read(), Some(simple("OK")));
    assert_eq!(c.call(&["GET", "slow"]), bulk("0123456789"));
}

#[test]
fn binary_garbage_never_takes_the_server_down() {
    let n = node();
    // A fixed-seed stream of random bytes, in many connections and chunk sizes.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..40 {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", n.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let len = 1 + (next() % 4096) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 3 == 0 {
            bytes.insert(0, b'*');
        }
        let _ = stream.write_all(&bytes);
        let mut sink = [0u8; 8192];
        let _ = stream.read(&mut sink);
    }
    let long_line = vec![b'a'; 70 * 1024];
    let mut c = Raw::connect(&n);
    c.send(&long_line);
    assert_eq!(
        c.read(),
        Some(error("ERR Protocol error: too big inline request"))
    );
    still_serving(&n);
}

#[test]
fn nesting_in_requests_is_rejected() {
    let n = node();
    let mut c = Raw::connect(&n);
    c.send(b"*1\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(
        c.read(),
        Some(error("ERR Protocol error: expected '$', got '*'"))
    );
    assert!(c.closed());
    still_serving(&n);
}

#[test]
fn keys_over_64_kib_are_refused() {
    let n = node();
    let mut c = n.client().expect("connect");
    let key = "k".repeat(64 * 1024 + 1);
    let e = c.set::<_, _, ()>(&key, "v").expect_err("too long");
    assert_eq!(e.detail(), Some("key is too long (at most 65536 bytes)"));
    let ok = "k".repeat(64 * 1024);
    let _: () = c.set(&ok, "v").expect("64 KiB key is fine");
}
