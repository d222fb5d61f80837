//! BLOCK.* end to end: documented replies, bad input, a 1 GiB block written sparsely
//! at random offsets and read back against a model, clones sharing pages (BLOCK.INFO
//! and INFO memory) and staying shared across SIGKILL and snapshot restarts, and a
//! write larger than a log entry.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::Value;

use crate::common::{Rng, err, info_field, node, raw, start};

const PAGE: u64 = 64 * 1024;

fn bulk(s: &[u8]) -> Value {
    Value::BulkString(s.to_vec())
}

fn ok(con: &mut redis::Connection, args: &[&str]) -> Value {
    raw(con, args).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn write(con: &mut redis::Connection, key: &str, offset: u64, data: &[u8]) -> i64 {
    redis::cmd("BLOCK.WRITE")
        .arg(key)
        .arg(offset)
        .arg(data)
        .query(con)
        .unwrap_or_else(|e| panic!("BLOCK.WRITE {key} {offset}: {e}"))
}

fn read(con: &mut redis::Connection, key: &str, offset: u64, len: u64) -> Vec<u8> {
    redis::cmd("BLOCK.READ")
        .arg(key)
        .arg(offset)
        .arg(len)
        .query(con)
        .unwrap_or_else(|e| panic!("BLOCK.READ {key} {offset} {len}: {e}"))
}

/// BLOCK.INFO as a map of field to value.
fn info(con: &mut redis::Connection, key: &str) -> BTreeMap<String, Value> {
    let Value::Array(items) = ok(con, &["BLOCK.INFO", key]) else {
        panic!("BLOCK.INFO {key} is not a flat map");
    };
    items
        .chunks_exact(2)
        .map(|p| match &p[0] {
            Value::SimpleString(k) => (k.clone(), p[1].clone()),
            other => panic!("field name {other:?}"),
        })
        .collect()
}

fn info_int(con: &mut redis::Connection, key: &str, field: &str) -> i64 {
    match info(con, key).get(field) {
        Some(Value::Int(n)) => *n,
        other => panic!("{field} of {key}: {other:?}"),
    }
}

fn used_memory(con: &mut redis::Connection) -> i64 {
    info_field(con, "memory", "used_memory")
        .parse()
        .expect("used_memory is a number")
}

#[test]
fn commands_reply_as_documented() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(ok(&mut c, &["BLOCK.CREATE", "b", "10", "abc"]), Value::Okay);
    assert_eq!(
        ok(&mut c, &["TYPE", "b"]),
        Value::SimpleString("block".into())
    );
    assert_eq!(ok(&mut c, &["OBJECT", "ENCODING", "b"]), bulk(b"pages"));
    assert_eq!(
        read(&mut c, "b", 0, 100),
        b"abc\0\0\0\0\0\0\0",
        "zero-padded, short at the end"
    );
    assert_eq!(write(&mut c, "b", 8, b"XYZ"), 2, "cut at the end");
    assert_eq!(write(&mut c, "b", 10, b"Q"), 0, "at the end: nothing lands");
    assert_eq!(read(&mut c, "b", 7, 5), b"\0XY");
    assert_eq!(read(&mut c, "b", 50, 5), b"", "past the end: empty");
    assert_eq!(ok(&mut c, &["BLOCK.READ", "nosuch", "0", "5"]), Value::Nil);
    // PUT: a payload writes, no payload clears (to the end, or a length).
    assert_eq!(ok(&mut c, &["BLOCK.PUT", "b", "0", "hello"]), Value::Int(5));
    assert_eq!(ok(&mut c, &["BLOCK.PUT", "b", "1", "", "2"]), Value::Int(2));
    assert_eq!(read(&mut c, "b", 0, 10), b"h\0\0lo\0\0\0XY");
    assert_eq!(ok(&mut c, &["BLOCK.PUT", "b", "4"]), Value::Int(6));
    assert_eq!(read(&mut c, "b", 0, 10), b"h\0\0l\0\0\0\0\0\0");
    // NX: nil when the key exists; plain CREATE replaces.
    assert_eq!(ok(&mut c, &["BLOCK.CREATE", "b", "5", "NX"]), Value::Nil);
    assert_eq!(info_int(&mut c, "b", "length"), 10);
    // TRUNCATE: shrink drops bytes, grow reads zeros there.
    assert_eq!(ok(&mut c, &["BLOCK.TRUNCATE", "b", "2"]), Value::Okay);
    assert_eq!(ok(&mut c, &["BLOCK.TRUNCATE", "b", "6"]), Value::Okay);
    assert_eq!(read(&mut c, "b", 0, 10), b"h\0\0\0\0\0");
    // INFO: fields, and a CRC-32C of the whole content.
    let fields = info(&mut c, "b");
    assert_eq!(
        fields.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "crc32c",
            "length",
            "memory",
            "page_size",
            "pages",
            "shared_pages"
        ]
    );
    assert_eq!(fields["page_size"], Value::Int(PAGE as i64));
    assert_eq!(fields["pages"], Value::Int(1));
    assert_eq!(
        fields["crc32c"],
        bulk(format!("{:08x}", crc32c::crc32c(b"h\0\0\0\0\0")).as_bytes())
    );
    assert_eq!(ok(&mut c, &["BLOCK.INFO", "nosuch"]), Value::Nil);
    // CLONE: 1, 0 when the destination exists, REPLACE overwrites.
    assert_eq!(ok(&mut c, &["BLOCK.CLONE", "b", "c"]), Value::Int(1));
    assert_eq!(ok(&mut c, &["BLOCK.CLONE", "b", "c"]), Value::Int(0));
    assert_eq!(
        ok(&mut c, &["BLOCK.CLONE", "b", "c", "REPLACE"]),
        Value::Int(1)
    );
    assert_eq!(info_int(&mut c, "c", "shared_pages"), 1);
    // SCATTER and GATHER across keys: bytes landed per piece; length and bytes per piece.
    assert_eq!(
        ok(&mut c, &["BLOCK.SCATTER", "b", "1", "ab", "c", "4", "xyz"]),
        Value::Array(vec![Value::Int(2), Value::Int(2)])
    );
    assert_eq!(
        ok(
            &mut c,
            &[
                "BLOCK.GATHER",
                "b",
                "0",
                "4",
                "c",
                "3",
                "10",
                "nosuch",
                "0",
                "1"
            ]
        ),
        Value::Array(vec![
            Value::Array(vec![Value::Int(4), bulk(b"hab\0")]),
            Value::Array(vec![Value::Int(3), bulk(b"\0xy")]),
            Value::Array(vec![Value::Int(0), Value::Nil]),
        ])
    );
    assert_eq!(
        info_int(&mut c, "c", "shared_pages"),
        0,
        "both wrote the page"
    );
    // RESP3: INFO is a map.
    let mut c3 = n.client_resp3().expect("connect resp3");
    match raw(&mut c3, &["BLOCK.INFO", "b"]).expect("info") {
        Value::Map(pairs) => assert_eq!(pairs.len(), 6),
        other => panic!("RESP3 BLOCK.INFO is not a map: {other:?}"),
    }
    assert_eq!(ok(&mut c, &["DEL", "b", "c"]), Value::Int(2));
}

#[test]
fn bad_input_gets_clear_errors() {
    let n = node();
    let mut c = n.client().expect("connect");
    ok(&mut c, &["BLOCK.CREATE", "b", "100"]);
    ok(&mut c, &["SET", "s", "v"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["BLOCK.CREATE", "x", "-1"],
            "ERR length must not be negative",
        ),
        (&["BLOCK.CREATE", "x", "abc"], "ERR value is not an integer"),
        (
            &["BLOCK.CREATE", "x", "99999999999999999"],
            "ERR block length exceeds the maximum",
        ),
        (
            &["BLOCK.CREATE", "x", "2", "abc"],
            "ERR initial bytes are longer than the block",
        ),
        (&["BLOCK.CREATE", "x", "2", "ab", "XX"], "ERR syntax error"),
        (&["BLOCK.WRITE", "nosuch", "0", "a"], "ERR no such key"),
        (&["BLOCK.WRITE", "s", "0", "a"], "WRONGTYPE"),
        (
            &["BLOCK.WRITE", "b", "-5", "a"],
            "ERR offset must not be negative",
        ),
        (&["BLOCK.READ", "s", "0", "1"], "WRONGTYPE"),
        (
            &["BLOCK.READ", "b", "0", "-1"],
            "ERR length must not be negative",
        ),
        (
            &["BLOCK.READ", "b", "0", "2000000000"],
            "ERR a read returns at most",
        ),
        (
            &["BLOCK.PUT", "b", "0", "abc", "5"],
            "ERR a length goes only with an empty payload",
        ),
        (
            &["BLOCK.SCATTER", "b", "0", "a", "b"],
            "ERR wrong number of arguments",
        ),
        (
            &["BLOCK.SCATTER", "b", "0", "a", "nosuch", "0", "b"],
            "ERR no such key",
        ),
        (&["BLOCK.GATHER", "b", "0"], "ERR wrong number of arguments"),
        (&["BLOCK.GATHER", "b", "0", "1", "s", "0", "1"], "WRONGTYPE"),
        (
            &["BLOCK.CLONE", "b", "b"],
            "ERR source and destination objects are the same",
        ),
        (&["BLOCK.CLONE", "nosuch", "x"], "ERR no such key"),
        (&["BLOCK.CLONE", "b", "x", "NOW"], "ERR syntax error"),
        (&["BLOCK.TRUNCATE", "nosuch", "5"], "ERR no such key"),
        (
            &["BLOCK.TRUNCATE", "b", "-5"],
            "ERR length must not be negative",
        ),
        (&["BLOCK.INFO", "s"], "WRONGTYPE"),
        (&["GET", "b"], "WRONGTYPE"),
    ];
    for (args, expected) in cases {
        let text = err(&mut c, args);
        assert!(text.starts_with(expected), "{args:?}: {text}");
    }
    // A failed scatter wrote nothing.
    assert_eq!(read(&mut c, "b", 0, 1), b"\0");
    // NX with more initial bytes than one log entry holds is refused, not half done.
    let big = vec![1u8; 2 << 20];
    let e = redis::cmd("BLOCK.CREATE")
        .arg("x")
        .arg(4 << 20)
        .arg(&big[..])
        .arg("NX")
        .query::<Value>(&mut c)
        .expect_err("refused");
    assert!(e.to_string().contains("NX takes at most"), "{e}");
    assert_eq!(ok(&mut c, &["PING"]), Value::SimpleString("PONG".into()));
}

/// Written bytes, page by page: the model of a sparse block.
struct Model {
    len: u64,
    pages: BTreeMap<u64, Vec<u8>>,
}

impl Model {
    fn write(&mut self, offset: u64, data: &[u8]) {
        for (i, &byte) in data.iter().enumerate() {
            let pos = offset + i as u64;
            if pos >= self.len {
                break;
            }
            self.pages
                .entry(pos / PAGE)
                .or_insert_with(|| vec![0; PAGE as usize])[(pos % PAGE) as usize] = byte;
        }
    }

    fn read(&self, offset: u64, len: u64) -> Vec<u8> {
        let end = (offset + len).min(self.len);
        (offset..end)
            .map(|pos| {
                self.pages
                    .get(&(pos / PAGE))
                    .map_or(0, |p| p[(pos % PAGE) as usize])
            })
            .collect()
    }

    /// CRC-32C of the whole content, zero runs included.
    fn crc(&self) -> u32 {
        let zeros = vec![0u8; PAGE as usize];
        let mut crc = 0;
        for index in 0..self.len.div_ceil(PAGE) {
            let len = PAGE.min(self.len - index * PAGE) as usize;
            let page = self.pages.get(&index).map_or(&zeros[..len], |p| &p[..len]);
            crc = crc32c::crc32c_append(crc, page);
        }
        crc
    }
}

#[test]
fn a_1gib_block_written_sparsely_reads_back_like_the_model() {
    let n = node();
    let mut c = n.client().expect("connect");
    let len = 1u64 << 30;
    ok(&mut c, &["BLOCK.CREATE", "disk", &len.to_string()]);
    let empty = used_memory(&mut c);
    let mut model = Model {
        len,
        pages: BTreeMap::new(),
    };
    let mut rng = Rng::new(0x5eed_b10c);
    let mut offsets = Vec::new();
    for step in 0..300 {
        let size = 1 + rng.below(200_000) as usize;
        // Now and then right at the end, so writes get cut.
        let offset = if step % 50 == 0 {
            len - rng.below(1000)
        } else {
            rng.below(len)
        };
        let data = rng.bytes(size);
        let landed = write(&mut c, "disk", offset, &data);
        assert_eq!(
            landed as u64,
            (size as u64).min(len - offset),
            "step {step}"
        );
        model.write(offset, &data);
        offsets.push(offset);
        if step % 10 == 0 {
            let at = offsets[rng.below(offsets.len() as u64) as usize].saturating_sub(1000);
            let want = rng.below(400_000);
            assert_eq!(
                read(&mut c, "disk", at, want),
                model.read(at, want),
                "step {step}"
            );
        }
    }
    // Every written region, with some zeros around it.
    for &offset in &offsets {
        let at = offset.saturating_sub(100);
        assert_eq!(read(&mut c, "disk", at, 250_000), model.read(at, 250_000));
    }
    let pages = info_int(&mut c, "disk", "pages");
    assert_eq!(
        pages as usize,
        model.pages.len(),
        "only written pages are stored"
    );
    let grown = used_memory(&mut c) - empty;
    assert!(
        grown < (pages + 64) * PAGE as i64 * 2,
        "memory follows the pages written ({pages} pages), not the length: {grown} bytes"
    );
    match &info(&mut c, "disk")["crc32c"] {
        Value::BulkString(hex) => assert_eq!(
            std::str::from_utf8(hex).expect("hex"),
            format!("{:08x}", model.crc())
        ),
        other => panic!("crc32c {other:?}"),
    }
}

#[test]
fn clones_share_pages_in_memory_and_across_restarts() {
    let mut n = start(&[]);
    let mut c = n.client().expect("connect");
    let size = 64u64 << 20;
    ok(&mut c, &["BLOCK.CREATE", "base", &size.to_string()]);
    let mut rng = Rng::new(42);
    let image = rng.bytes(size as usize);
    for (i, chunk) in image.chunks(4 << 20).enumerate() {
        write(&mut c, "base", i as u64 * (4 << 20), chunk);
    }
    let before = used_memory(&mut c);
    for vm in ["vm1", "vm2", "vm3"] {
        assert_eq!(ok(&mut c, &["BLOCK.CLONE", "base", vm]), Value::Int(1));
    }
    let grown = used_memory(&mut c) - before;
    assert!(
        grown < 8 << 20,
        "three clones of 64 MiB share their pages: memory grew {grown} bytes"
    );
    let pages = (size / PAGE) as i64;
    assert_eq!(info_int(&mut c, "vm1", "shared_pages"), pages);
    // Diverge: vm1 rewrites 3 pages, vm2 clears 1 MiB.
    write(&mut c, "vm1", 5 * PAGE + 7, &[0xAA; 2 * PAGE as usize]);
    assert_eq!(
        ok(&mut c, &["BLOCK.PUT", "vm2", "0", "", "1048576"]),
        Value::Int(1 << 20)
    );
    let check = |c: &mut redis::Connection| {
        assert_eq!(info_int(c, "vm1", "shared_pages"), pages - 3);
        assert_eq!(info_int(c, "vm2", "pages"), pages - 16);
        assert_eq!(
            info_int(c, "base", "shared_pages"),
            pages,
            "vm2/vm3 still share all"
        );
        assert_eq!(
            read(c, "base", 5 * PAGE, 3 * PAGE),
            image[5 * PAGE as usize..8 * PAGE as usize]
        );
        let vm1 = read(c, "vm1", 5 * PAGE, 3 * PAGE);
        assert_eq!(vm1[..7], image[5 * PAGE as usize..5 * PAGE as usize + 7]);
        assert!(vm1[7..7 + 2 * PAGE as usize].iter().all(|&b| b == 0xAA));
        assert_eq!(
            read(c, "vm2", (1 << 20) - 2, 4),
            [0, 0, image[1 << 20], image[(1 << 20) + 1]]
        );
        assert_eq!(read(c, "vm3", 12345, 100_000), image[12345..112_345]);
        let crc = |c: &mut redis::Connection, key: &str| info(c, key)["crc32c"].clone();
        assert_eq!(
            crc(c, "base"),
            bulk(format!("{:08x}", crc32c::crc32c(&image)).as_bytes())
        );
        assert_eq!(crc(c, "base"), crc(c, "vm3"));
    };
    check(&mut c);
    drop(c);
    // SIGKILL: the log is replayed, clones included.
    n.restart().expect("restart after SIGKILL");
    let mut c = n.client().expect("connect");
    check(&mut c);
    // A snapshot stores shared pages once; the restart shares them again. (Memory is
    // compared with the same state before the restart: the log's tail is held in
    // memory too, the same bytes on both sides.)
    assert_eq!(ok(&mut c, &["SAVE"]), Value::Okay);
    let saved = used_memory(&mut c);
    let _ = raw(&mut c, &["SHUTDOWN"]);
    n.wait_exit(Duration::from_secs(60)).expect("exits");
    n.restart().expect("restart after SHUTDOWN");
    let mut c = n.client().expect("connect");
    check(&mut c);
    let memory = used_memory(&mut c);
    assert!(
        memory < saved + (16 << 20),
        "four blocks of 64 MiB restored into {memory} bytes ({saved} before): still shared"
    );
}

#[test]
fn a_write_larger_than_a_log_entry_lands_whole_and_survives_replay() {
    let mut n = start(&[]);
    let mut c = n.client().expect("connect");
    let mut rng = Rng::new(7);
    let data = rng.bytes(24 << 20);
    ok(&mut c, &["BLOCK.CREATE", "big", &(32u64 << 20).to_string()]);
    assert_eq!(write(&mut c, "big", 1000, &data), data.len() as i64);
    // Initial bytes larger than an entry, too.
    let init = rng.bytes(3 << 20);
    let reply: Value = redis::cmd("BLOCK.CREATE")
        .arg("init")
        .arg(8 << 20)
        .arg(&init[..])
        .query(&mut c)
        .expect("create");
    assert_eq!(reply, Value::Okay);
    let check = |c: &mut redis::Connection| {
        assert_eq!(read(c, "big", 1000, data.len() as u64), data);
        assert_eq!(read(c, "big", 0, 1000), vec![0; 1000]);
        assert_eq!(read(c, "init", 0, 8 << 20)[..init.len()], init[..]);
    };
    check(&mut c);
    drop(c);
    n.restart().expect("restart after SIGKILL");
    let mut c = n.client().expect("connect");
    check(&mut c);
}
