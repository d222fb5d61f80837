//! The HTTP API end to end with real clients (reqwest and curl): ranges (single,
//! suffix, open, several, unsatisfiable), HEAD, ETags with If-None-Match and If-Match
//! (compare-and-set), partial PUT into blocks and strings, creating a block by PUT,
//! DELETE, bad requests, and a 64 MiB block streamed up and down with curl.

use std::process::Command;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{IF_MATCH, IF_NONE_MATCH, IF_RANGE, RANGE};

use crate::common::{Rng, node, raw};

fn url(n: &okapi_testkit::TestNode, path: &str) -> String {
    format!(
        "http://127.0.0.1:{}/v1/0/{path}",
        n.http_port.expect("HTTP port")
    )
}

fn header(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("text header")
        .to_owned()
}

#[test]
fn gets_serve_ranges_etags_and_conditions() {
    let n = node();
    let mut c = n.client().expect("connect");
    raw(&mut c, &["SET", "s", "hello world"]).expect("set");
    raw(&mut c, &["BLOCK.CREATE", "b", "100"]).expect("create");
    raw(&mut c, &["BLOCK.WRITE", "b", "10", "0123456789"]).expect("write");
    raw(&mut c, &["HSET", "h", "f", "v"]).expect("hset");
    let http = Client::new();
    let r = http.get(url(&n, "s")).send().expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "accept-ranges"), "bytes");
    assert_eq!(header(&r, "x-okapi-type"), "string");
    assert_eq!(header(&r, "content-length"), "11");
    let tag = header(&r, "etag");
    assert_eq!(r.text().expect("body"), "hello world");

    let r = http.head(url(&n, "s")).send().expect("head");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-length"), "11");
    assert_eq!(r.bytes().expect("body").len(), 0);

    let range = |spec: &str| {
        http.get(url(&n, "s"))
            .header(RANGE, spec)
            .send()
            .expect("ranged get")
    };
    for (spec, body, content_range) in [
        ("bytes=0-4", "hello", "bytes 0-4/11"),
        ("bytes=-5", "world", "bytes 6-10/11"),
        ("bytes=6-", "world", "bytes 6-10/11"),
        ("bytes=6-1000", "world", "bytes 6-10/11"),
    ] {
        let r = range(spec);
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{spec}");
        assert_eq!(header(&r, "content-range"), content_range, "{spec}");
        assert_eq!(r.text().expect("body"), body, "{spec}");
    }
    let r = range("bytes=50-60");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&r, "content-range"), "bytes */11");
    // A malformed header is ignored: the whole value.
    assert_eq!(range("bytes=9-2").status(), StatusCode::OK);
    // Several ranges: multipart/byteranges with one part per range.
    let r = range("bytes=0-1, 6-7");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let content_type = header(&r, "content-type");
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart")
        .to_owned();
    let length: usize = header(&r, "content-length").parse().expect("length");
    let body = r.text().expect("body");
    assert_eq!(body.len(), length);
    let expected = format!(
        "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-1/11\r\n\r\nhe\r\n\
         --{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 6-7/11\r\n\r\nwo\r\n\
         --{boundary}--\r\n"
    );
    assert_eq!(body, expected);

    // ETags: 304 while unchanged, a new tag after a write.
    let r = http
        .get(url(&n, "s"))
        .header(IF_NONE_MATCH, &tag)
        .send()
        .expect("conditional get");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    raw(&mut c, &["APPEND", "s", "!"]).expect("append");
    let r = http
        .get(url(&n, "s"))
        .header(IF_NONE_MATCH, &tag)
        .send()
        .expect("conditional get");
    assert_eq!(r.status(), StatusCode::OK);
    let new_tag = header(&r, "etag");
    assert_ne!(new_tag, tag);
    let r = http
        .get(url(&n, "s"))
        .header(IF_MATCH, &tag)
        .send()
        .expect("get if-match");
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // If-Range: the range while the tag is current, the whole value once it is stale.
    let if_range = |tag: &str| {
        http.get(url(&n, "s"))
            .header(RANGE, "bytes=0-4")
            .header(IF_RANGE, tag)
            .send()
            .expect("if-range")
    };
    let r = if_range(&new_tag);
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.text().expect("body"), "hello");
    let r = if_range(&tag);
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().expect("body"), "hello world!");

    // Blocks: zeros where nothing was written.
    let r = http.get(url(&n, "b")).send().expect("block");
    assert_eq!(header(&r, "x-okapi-type"), "block");
    let bytes = r.bytes().expect("body");
    assert_eq!(bytes.len(), 100);
    assert_eq!(&bytes[10..20], b"0123456789");
    assert!(bytes[..10].iter().chain(&bytes[20..]).all(|&b| b == 0));
    let r = http
        .get(url(&n, "b"))
        .header(RANGE, "bytes=12-14")
        .send()
        .expect("block range");
    assert_eq!(r.text().expect("body"), "234");

    assert_eq!(
        http.get(url(&n, "nosuch")).send().expect("404").status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        http.get(url(&n, "h")).send().expect("409").status(),
        StatusCode::CONFLICT
    );
    let other_ns = format!("http://127.0.0.1:{}/v1/99/s", n.http_port.expect("port"));
    assert_eq!(
        http.get(other_ns).send().expect("ns").status(),
        StatusCode::NOT_FOUND
    );
    let health = format!("http://127.0.0.1:{}/health", n.http_port.expect("port"));
    assert_eq!(
        http.get(health).send().expect("health").status(),
        StatusCode::OK
    );
}

#[test]
fn puts_and_deletes_write_through_the_log_with_compare_and_set() {
    let n = node();
    let mut c = n.client().expect("connect");
    let http = Client::new();
    let put = |path: &str, body: &'static [u8], headers: &[(&str, &str)]| {
        let mut req = http.put(url(&n, path)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().expect("put").status()
    };
    // A PUT that creates a string: 204 with no body and no body headers.
    let created = http.put(url(&n, "p")).body("abc").send().expect("put");
    assert_eq!(created.status(), StatusCode::NO_CONTENT);
    for name in ["content-type", "content-length", "content-range"] {
        assert!(
            created.headers().get(name).is_none(),
            "204 carries {name}: {:?}",
            created.headers()
        );
    }
    assert_eq!(created.bytes().expect("body").len(), 0);
    assert_eq!(
        raw(&mut c, &["GET", "p"]).expect("get"),
        redis::Value::BulkString(b"abc".to_vec())
    );
    assert_eq!(
        put("p", b"x", &[("if-none-match", "*")]),
        StatusCode::PRECONDITION_FAILED
    );
    // Compare-and-set: the current tag wins once, the old tag fails after.
    let tag = header(&http.head(url(&n, "p")).send().expect("head"), "etag");
    assert_eq!(
        put("p", b"new", &[("if-match", "\"1\"")]),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        put("p", b"new", &[("if-match", &tag)]),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put("p", b"newer", &[("if-match", &tag)]),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        raw(&mut c, &["GET", "p"]).expect("get"),
        redis::Value::BulkString(b"new".to_vec())
    );

    // Content-Range on a missing key creates a block of the total length.
    assert_eq!(
        put("blk", b"HELLO", &[("content-range", "bytes 0-4/1000")]),
        StatusCode::CREATED
    );
    assert_eq!(
        put("blk", b"world", &[("content-range", "bytes 995-999/1000")]),
        StatusCode::NO_CONTENT
    );
    let r = http.get(url(&n, "blk")).send().expect("get");
    let bytes = r.bytes().expect("body");
    assert_eq!(
        (bytes.len(), &bytes[..5], &bytes[995..]),
        (1000, &b"HELLO"[..], &b"world"[..])
    );
    // Past the end, a wrong total, malformed, or a body of the wrong length.
    assert_eq!(
        put("blk", b"abcd", &[("content-range", "bytes 998-1001/*")]),
        StatusCode::RANGE_NOT_SATISFIABLE
    );
    assert_eq!(
        put("blk", b"ab", &[("content-range", "bytes 0-1/2000")]),
        StatusCode::RANGE_NOT_SATISFIABLE
    );
    assert_eq!(
        put("blk", b"ab", &[("content-range", "bytes 5-1/*")]),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        put("blk", b"abc", &[("content-range", "bytes 0-1/*")]),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        put("nosuch", b"ab", &[("content-range", "bytes 0-1/*")]),
        StatusCode::NOT_FOUND
    );
    // Content-Range into a string: SETRANGE.
    assert_eq!(
        put("p", b"X", &[("content-range", "bytes 1-1/*")]),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        raw(&mut c, &["GET", "p"]).expect("get"),
        redis::Value::BulkString(b"nXw".to_vec())
    );
    raw(&mut c, &["HSET", "h", "f", "v"]).expect("hset");
    assert_eq!(
        put("h", b"x", &[("content-range", "bytes 0-0/*")]),
        StatusCode::CONFLICT
    );

    let delete = |path: &str, if_match: Option<&str>| {
        let mut req = http.delete(url(&n, path));
        if let Some(tag) = if_match {
            req = req.header(IF_MATCH, tag);
        }
        req.send().expect("delete").status()
    };
    assert_eq!(
        delete("p", Some("\"7777\"")),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(delete("p", None), StatusCode::NO_CONTENT);
    assert_eq!(delete("p", None), StatusCode::NOT_FOUND);
    assert_eq!(
        raw(&mut c, &["EXISTS", "p"]).expect("exists"),
        redis::Value::Int(0)
    );
}

#[test]
fn curl_streams_a_64_mib_block_up_and_down() {
    let n = node();
    let mut c = n.client().expect("connect");
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let data = Rng::new(99).bytes(64 << 20);
    std::fs::write(&src, &data).expect("write source");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body"])
            .args(args)
            .output()
            .expect("curl runs (apt-get install curl)");
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let total = data.len();
    curl(&[
        "-T",
        src.to_str().expect("path"),
        "-H",
        &format!("Content-Range: bytes 0-{}/{total}", total - 1),
        &url(&n, "big"),
    ]);
    let info = raw(&mut c, &["BLOCK.INFO", "big"]).expect("info");
    let redis::Value::Array(items) = info else {
        panic!("info")
    };
    assert!(items.contains(&redis::Value::BulkString(
        format!("{:08x}", crc32c::crc32c(&data)).into_bytes()
    )));
    let out = dir.path().join("out");
    curl(&["-o", out.to_str().expect("path"), &url(&n, "big")]);
    assert!(
        std::fs::read(&out).expect("read") == data,
        "downloaded bytes differ"
    );
    let slice = curl(&["-r", "1000000-1999999", &url(&n, "big")]);
    assert!(
        slice == data[1_000_000..2_000_000],
        "ranged download differs"
    );
    // HTTP/2 (cleartext, prior knowledge) serves the same bytes.
    let h2 = curl(&[
        "--http2-prior-knowledge",
        "-w",
        "%{http_version}",
        "-o",
        "/dev/null",
        &url(&n, "big"),
    ]);
    assert_eq!(String::from_utf8_lossy(&h2), "2");
    let slice = curl(&["--http2-prior-knowledge", "-r", "5-9", &url(&n, "big")]);
    assert!(slice == data[5..10], "HTTP/2 ranged download differs");
}
