//! Shared helpers for the end-to-end tests.

use okapi_testkit::TestNode;

/// Starts the binary under test with `extra` flags.
pub fn start(extra: &[&str]) -> TestNode {
    TestNode::start(env!("CARGO_BIN_EXE_okapi"), extra).expect("okapi starts")
}

/// Starts a default node.
pub fn node() -> TestNode {
    start(&[])
}

/// Runs a command and returns its reply as a `redis::Value`.
pub fn raw(con: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
}

/// Runs a command expected to fail and returns the error text (code and message).
pub fn err(con: &mut redis::Connection, args: &[&str]) -> String {
    match raw(con, args) {
        Ok(v) => panic!("{args:?} succeeded with {v:?}"),
        Err(e) => {
            let code = e.code().unwrap_or("").to_owned();
            let detail = e.detail().unwrap_or("").to_owned();
            if code.is_empty() {
                e.to_string()
            } else {
                format!("{code} {detail}")
            }
        }
    }
}

/// Waits until the server reports `count` blocked clients.
pub fn wait_blocked(con: &mut redis::Connection, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let wanted = format!("blocked_clients:{count}\r\n");
    loop {
        let info: String = redis::cmd("INFO")
            .arg("clients")
            .query(con)
            .expect("info clients");
        if info.contains(&wanted) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never saw {count} blocked clients: {info}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Runs `args` on a new connection in a thread; the handle yields the reply.
pub fn spawn(
    n: &TestNode,
    args: &[&str],
) -> std::thread::JoinHandle<redis::RedisResult<redis::Value>> {
    let mut con = n.client().expect("connect");
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        raw(&mut con, &args)
    })
}

/// The reply of a command run by [`spawn`].
pub fn joined(handle: std::thread::JoinHandle<redis::RedisResult<redis::Value>>) -> redis::Value {
    handle
        .join()
        .expect("blocked thread")
        .expect("blocked command")
}

/// A raw RESP connection for protocol-level tests: sends bytes, decodes frames with
/// okapi's own decoder.
pub struct Raw {
    /// The socket.
    pub stream: std::net::TcpStream,
    buf: bytes::BytesMut,
    decoder: okapi_resp::Decoder,
}

impl Raw {
    /// Connects to the node's RESP port.
    pub fn connect(node: &TestNode) -> Raw {
        let stream =
            std::net::TcpStream::connect((node.host.as_str(), node.port)).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        Raw {
            stream,
            buf: bytes::BytesMut::new(),
            decoder: okapi_resp::Decoder::default(),
        }
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a command as an array of bulk strings.
    pub fn command(&mut self, args: &[&str]) {
        let mut out = bytes::BytesMut::new();
        let frame = okapi_resp::Frame::command(
            args.iter()
                .map(|a| bytes::Bytes::copy_from_slice(a.as_bytes())),
        );
        okapi_resp::encoder::frame(&mut out, &frame, okapi_resp::Protocol::Resp2);
        self.send(&out);
    }

    /// Reads one frame; `None` when the server closed the connection.
    pub fn read(&mut self) -> Option<okapi_resp::Frame> {
        use std::io::Read;
        loop {
            if let Some(frame) = self
                .decoder
                .decode(&mut self.buf)
                .expect("server sent valid RESP")
            {
                return Some(frame);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// Sends a command and reads its reply.
    pub fn call(&mut self, args: &[&str]) -> okapi_resp::Frame {
        self.command(args);
        self.read().expect("a reply")
    }

    /// True once the server has closed the connection (reads EOF).
    pub fn closed(&mut self) -> bool {
        self.read().is_none()
    }
}

/// A bulk-string frame.
pub fn bulk(s: &str) -> okapi_resp::Frame {
    okapi_resp::Frame::Bulk(bytes::Bytes::copy_from_slice(s.as_bytes()))
}

/// A simple-string frame.
pub fn simple(s: &str) -> okapi_resp::Frame {
    okapi_resp::Frame::Simple(bytes::Bytes::copy_from_slice(s.as_bytes()))
}

/// An error frame.
pub fn error(s: &str) -> okapi_resp::Frame {
    okapi_resp::Frame::Error(bytes::Bytes::copy_from_slice(s.as_bytes()))
}

/// Reads a field of `INFO` as text.
pub fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(con).expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_owned))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}: {info}"))
}

/// A deterministic pseudo-random sequence (splitmix64, any seed works), so a failing
/// run replays exactly.
pub struct Rng(u64);

impl Rng {
    /// The sequence starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `n` random bytes (no run of zeros worth a page).
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

/// DEBUG DIGEST of the node's dataset (groups it leads).
pub fn digest(con: &mut redis::Connection) -> String {
    redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(con)
        .expect("DEBUG DIGEST")
}
