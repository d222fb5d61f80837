//! NBD end to end with the real `qemu-img` and `qemu-io`: a 64 MiB raw image with
//! random data (and holes) converted into an okapi block over
//! `nbd://127.0.0.1:PORT/KEY` and back, checksums compared; `qemu-img info`, `check`
//! and `compare` on a qcow2 image living in a block; TRIM and WRITE_ZEROES through
//! `qemu-io`; unknown exports and malformed handshakes refused; data kept across a
//! SIGKILL restart.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use redis::Value;

use crate::common::{Rng, raw, start};

const MIB: usize = 1 << 20;

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} could not start (apt-get install qemu-utils): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn crc_of(con: &mut redis::Connection, key: &str) -> String {
    let Value::Array(items) = raw(con, &["BLOCK.INFO", key]).expect("info") else {
        panic!("BLOCK.INFO {key}");
    };
    let at = items
        .iter()
        .position(|v| *v == Value::SimpleString("crc32c".into()))
        .expect("crc32c field");
    match &items[at + 1] {
        Value::BulkString(hex) => String::from_utf8(hex.clone()).expect("hex"),
        other => panic!("crc32c {other:?}"),
    }
}

/// 64 MiB of random data with a few zero holes (which must not cost pages).
fn make_image(path: &Path) -> Vec<u8> {
    let mut data = Rng::new(0x1234_5678_9abc_def0).bytes(64 * MIB);
    data[3 * MIB..9 * MIB].fill(0);
    data[40 * MIB..41 * MIB + 4096].fill(0);
    std::fs::write(path, &data).expect("write image");
    data
}

#[test]
fn qemu_img_copies_an_image_in_and_out_and_reads_qcow2_inside_a_block() {
    let mut n = start(&["--nbd-port", "0"]);
    let mut c = n.client().expect("connect");
    let port = n.nbd_port.expect("ready file has the NBD port");
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.raw");
    let image = make_image(&src);
    let url = |key: &str| format!("nbd://127.0.0.1:{port}/{key}");
    assert_eq!(
        raw(&mut c, &["BLOCK.CREATE", "disk", &(64 * MIB).to_string()]).expect("create"),
        Value::Okay
    );
    // Raw in: qemu writes (and zeroes or trims the holes), then flushes.
    run(
        "qemu-img",
        &[
            "convert",
            "-n",
            "-f",
            "raw",
            "-O",
            "raw",
            src.to_str().expect("path"),
            &url("disk"),
        ],
    );
    assert_eq!(
        crc_of(&mut c, "disk"),
        format!("{:08x}", crc32c::crc32c(&image))
    );
    // Raw out, byte for byte.
    let back = dir.path().join("back.raw");
    run(
        "qemu-img",
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "raw",
            &url("disk"),
            back.to_str().expect("path"),
        ],
    );
    assert!(
        std::fs::read(&back).expect("read back") == image,
        "image differs after the round trip"
    );
    let info = run("qemu-img", &["info", "-f", "raw", &url("disk")]);
    assert!(info.contains("virtual size: 64 MiB"), "{info}");

    // A qcow2 image stored in a block: qemu's own format checks pass over NBD.
    let qcow = dir.path().join("img.qcow2");
    run(
        "qemu-img",
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "qcow2",
            src.to_str().expect("path"),
            qcow.to_str().expect("path"),
        ],
    );
    let qcow_len = std::fs::metadata(&qcow).expect("qcow2 size").len();
    let block_len = qcow_len.div_ceil(MIB as u64) * MIB as u64;
    raw(&mut c, &["BLOCK.CREATE", "vm", &block_len.to_string()]).expect("create vm");
    run(
        "qemu-img",
        &[
            "convert",
            "-n",
            "-f",
            "raw",
            "-O",
            "raw",
            qcow.to_str().expect("path"),
            &url("vm"),
        ],
    );
    let check = run("qemu-img", &["check", "-f", "qcow2", &url("vm")]);
    assert!(check.contains("No errors were found"), "{check}");
    let info = run("qemu-img", &["info", "-f", "qcow2", &url("vm")]);
    assert!(info.contains("virtual size: 64 MiB"), "{info}");
    let compare = run(
        "qemu-img",
        &[
            "compare",
            "-f",
            "qcow2",
            "-F",
            "raw",
            &url("vm"),
            src.to_str().expect("path"),
        ],
    );
    assert!(compare.contains("Images are identical"), "{compare}");

    // TRIM and WRITE_ZEROES (qemu-io), and a FUA write.
    run(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-c",
            "write -P 0x5a 1M 64k",
            "-c",
            "write -z 2M 1M",
            "-c",
            "discard 10M 2M",
            "-c",
            "write -f -P 0x33 20M 4k",
            "-c",
            "flush",
            &url("disk"),
        ],
    );
    let mut expected = image.clone();
    expected[MIB..MIB + 65536].fill(0x5a);
    expected[2 * MIB..3 * MIB].fill(0);
    expected[10 * MIB..12 * MIB].fill(0);
    expected[20 * MIB..20 * MIB + 4096].fill(0x33);
    assert_eq!(
        crc_of(&mut c, "disk"),
        format!("{:08x}", crc32c::crc32c(&expected))
    );

    // SIGKILL: everything qemu wrote is in the log.
    drop(c);
    n.restart().expect("restart");
    let mut c = n.client().expect("connect");
    assert_eq!(
        crc_of(&mut c, "disk"),
        format!("{:08x}", crc32c::crc32c(&expected))
    );
}

#[test]
fn unknown_exports_and_bad_handshakes_are_refused_cleanly() {
    let n = start(&["--nbd-port", "0"]);
    let port = n.nbd_port.expect("NBD port");
    let out = Command::new("qemu-img")
        .args([
            "info",
            "-f",
            "raw",
            &format!("nbd://127.0.0.1:{port}/nosuch"),
        ])
        .output()
        .expect("qemu-img runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no block named 'nosuch'"), "{stderr}");
    // A client speaking nonsense is dropped; the server goes on.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let mut greeting = [0u8; 18];
    s.read_exact(&mut greeting).expect("greeting");
    assert_eq!(&greeting[..8], b"NBDMAGIC");
    assert_eq!(&greeting[8..16], b"IHAVEOPT");
    s.write_all(b"\0\0\0\x01garbage-garbage-garbage")
        .expect("write");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "no reply to a bad option header");
    let mut c = n.client().expect("RESP still serves");
    assert_eq!(
        raw(&mut c, &["PING"]).expect("ping"),
        Value::SimpleString("PONG".into())
    );
}

#[test]
fn writes_past_maxmemory_fail_with_enospc_over_nbd_and_507_over_http() {
    let n = start(&["--nbd-port", "0", "--maxmemory", "48mb"]);
    let mut c = n.client().expect("connect");
    let port = n.nbd_port.expect("NBD port");
    raw(&mut c, &["BLOCK.CREATE", "disk", &(256 * MIB).to_string()]).expect("create");
    // Fill until RESP refuses: memory is then past the limit.
    let data: Vec<u8> = (0..16 * MIB).map(|i| (i % 251) as u8 | 1).collect();
    let mut refused = false;
    for i in 0..12 {
        let result: redis::RedisResult<i64> = redis::cmd("BLOCK.WRITE")
            .arg("disk")
            .arg(i * 16 * MIB)
            .arg(&data[..])
            .query(&mut c);
        match result {
            Ok(n) => assert_eq!(n as usize, data.len()),
            Err(e) => {
                assert!(e.to_string().contains("OOM"), "{e}");
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "192 MiB of writes never reached a 48 MB maxmemory");
    let qemu_io = |command: &str| {
        let out = Command::new("qemu-io")
            .args([
                "-f",
                "raw",
                "-c",
                command,
                &format!("nbd://127.0.0.1:{port}/disk"),
            ])
            .output()
            .expect("qemu-io runs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let text = qemu_io("write -P 0x11 100M 1M");
    assert!(text.contains("No space left on device"), "{text}");
    let http = format!(
        "http://127.0.0.1:{}/v1/0/disk",
        n.http_port.expect("HTTP port")
    );
    let status = reqwest::blocking::Client::new()
        .put(http)
        .header("content-range", "bytes 0-3/*")
        .body("abcd")
        .send()
        .expect("put")
        .status();
    assert_eq!(status, reqwest::StatusCode::INSUFFICIENT_STORAGE);
    // Reads go on, and TRIM is allowed: it frees memory.
    let text = qemu_io("read -P 0x01 0 1");
    assert!(
        text.contains("read 1/1 bytes at offset 0")
            && !text.contains("Pattern verification failed"),
        "{text}"
    );
    let text = qemu_io("discard 0 64M");
    assert!(
        text.contains("discard 67108864/67108864 bytes at offset 0"),
        "{text}"
    );
    let info = raw(&mut c, &["BLOCK.INFO", "disk"]).expect("info");
    let Value::Array(items) = info else {
        panic!("BLOCK.INFO: {info:?}")
    };
    let pages = items
        .chunks_exact(2)
        .find(|p| p[0] == Value::SimpleString("pages".into()))
        .map(|p| p[1].clone());
    assert_eq!(
        pages,
        Some(Value::Int(0)),
        "the trim freed the first 64 MiB"
    );
}
