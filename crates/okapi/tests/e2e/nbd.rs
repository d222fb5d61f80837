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

/// A bare NBD client speaking the wire format from the protocol document, so bad
/// requests qemu would never send can be tried.
struct RawNbd(std::net::TcpStream);

impl RawNbd {
    fn connect(port: u16) -> RawNbd {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let mut greeting = [0u8; 18];
        s.read_exact(&mut greeting).expect("greeting");
        assert_eq!(&greeting[..16], b"NBDMAGICIHAVEOPT");
        // Fixed newstyle, no zeroes.
        s.write_all(&3u32.to_be_bytes()).expect("client flags");
        RawNbd(s)
    }

    fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.read_exact(&mut b).expect("u32");
        u32::from_be_bytes(b)
    }

    /// Sends an option and returns each reply's type until an ACK or an error.
    fn option(&mut self, option: u32, data: &[u8]) -> Vec<u32> {
        let mut out = b"IHAVEOPT".to_vec();
        out.extend_from_slice(&option.to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(data);
        self.0.write_all(&out).expect("option");
        let mut kinds = Vec::new();
        loop {
            let mut magic = [0u8; 8];
            self.0.read_exact(&mut magic).expect("reply magic");
            assert_eq!(u64::from_be_bytes(magic), 0x0003_e889_0455_65a9);
            assert_eq!(self.u32(), option, "reply names the option");
            let kind = self.u32();
            let len = self.u32() as usize;
            let mut body = vec![0u8; len];
            self.0.read_exact(&mut body).expect("reply data");
            kinds.push(kind);
            if kind == 1 || kind & (1 << 31) != 0 {
                return kinds;
            }
        }
    }

    /// Sends a request and returns the reply's errno and, for a successful read, the
    /// bytes.
    fn request(
        &mut self,
        kind: u16,
        handle: u64,
        offset: u64,
        length: u32,
        payload: &[u8],
    ) -> (u32, Vec<u8>) {
        let mut out = 0x2560_9513u32.to_be_bytes().to_vec();
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&handle.to_be_bytes());
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(payload);
        self.0.write_all(&out).expect("request");
        assert_eq!(self.u32(), 0x6744_6698, "simple reply magic");
        let errno = self.u32();
        let mut h = [0u8; 8];
        self.0.read_exact(&mut h).expect("handle");
        assert_eq!(u64::from_be_bytes(h), handle);
        let mut data = Vec::new();
        if kind == 0 && errno == 0 {
            data = vec![0u8; length as usize];
            self.0.read_exact(&mut data).expect("read data");
        }
        (errno, data)
    }
}

fn go_data(name: &[u8]) -> Vec<u8> {
    let mut data = (name.len() as u32).to_be_bytes().to_vec();
    data.extend_from_slice(name);
    data.extend_from_slice(&0u16.to_be_bytes());
    data
}

#[test]
fn bad_options_and_requests_get_nbd_errors_and_the_connection_goes_on() {
    let n = start(&["--nbd-port", "0"]);
    let mut c = n.client().expect("connect");
    raw(&mut c, &["BLOCK.CREATE", "b", &MIB.to_string()]).expect("create");
    let mut nbd = RawNbd::connect(n.nbd_port.expect("NBD port"));
    const ERR_UNSUP: u32 = (1 << 31) | 1;
    const ERR_INVALID: u32 = (1 << 31) | 3;
    const ERR_UNKNOWN: u32 = (1 << 31) | 6;
    assert_eq!(nbd.option(99, b"whatever"), [ERR_UNSUP]);
    assert_eq!(nbd.option(7, b"\0\0"), [ERR_INVALID], "GO data cut short");
    assert_eq!(nbd.option(7, &go_data(b"nosuch")), [ERR_UNKNOWN]);
    // INFO (3 = REP_INFO) then ACK, and GO starts transmission.
    assert_eq!(nbd.option(7, &go_data(b"b")), [3, 1]);

    const EINVAL: u32 = 22;
    const ENOSPC: u32 = 28;
    let size = MIB as u64;
    assert_eq!(
        nbd.request(0, 1, size - 2, 4, &[]).0,
        EINVAL,
        "read past the end"
    );
    assert_eq!(
        nbd.request(0, 2, 0, 33 << 20, &[]).0,
        EINVAL,
        "read over 32 MiB"
    );
    assert_eq!(
        nbd.request(1, 3, size - 2, 4, b"abcd").0,
        ENOSPC,
        "write past the end"
    );
    assert_eq!(
        nbd.request(4, 4, size, 1, &[]).0,
        EINVAL,
        "trim past the end"
    );
    assert_eq!(nbd.request(42, 5, 0, 0, &[]).0, EINVAL, "unknown command");
    // The payload of the refused write was consumed: requests still line up.
    assert_eq!(nbd.request(1, 6, 100, 4, b"wxyz").0, 0);
    assert_eq!(nbd.request(0, 7, 98, 8, &[]), (0, b"\0\0wxyz\0\0".to_vec()));
    assert_eq!(nbd.request(6, 8, 101, 2, &[]).0, 0, "write zeroes");
    assert_eq!(nbd.request(3, 9, 0, 0, &[]).0, 0, "flush");
    assert_eq!(nbd.request(0, 10, 100, 4, &[]), (0, b"w\0\0z".to_vec()));
    // A request with a bad magic ends the connection; the server goes on.
    nbd.0.write_all(&[0u8; 28]).expect("garbage");
    let mut rest = Vec::new();
    let _ = nbd.0.read_to_end(&mut rest);
    assert!(rest.is_empty(), "no reply to a bad request magic");
    assert_eq!(
        raw(&mut c, &["BLOCK.READ", "b", "100", "4"]).expect("read"),
        Value::BulkString(b"w\0\0z".to_vec())
    );
}
