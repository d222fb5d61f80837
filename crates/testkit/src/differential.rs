//! A differential tester: the same generated command streams go to a real
//! `redis-server` and to okapi, and the replies are compared exactly (after the few
//! documented normalisations in [`normalise`]), in RESP2 and in RESP3.
//!
//! Streams come from a seeded generator per command family ([`Family`]): valid and
//! invalid arguments, wrong types (keys of every type share one small pool), edge
//! values (empty strings, integer limits, floats, junk). Replies are parsed into
//! [`Value`]s, so two servers that frame the same reply the same way compare equal.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// One parsed reply.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    /// `+text`.
    Simple(Vec<u8>),
    /// `-text` (or a RESP3 blob error).
    Error(Vec<u8>),
    /// `:n`.
    Int(i64),
    /// `$n` bulk string, or a RESP3 verbatim string (its format prefix kept).
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or RESP3 `_`.
    Nil,
    /// `*n` (or a RESP3 push `>n`).
    Array(Vec<Value>),
    /// RESP3 `,` double, as sent.
    Double(Vec<u8>),
    /// RESP3 `#t` / `#f`.
    Bool(bool),
    /// RESP3 `(` big number.
    BigNumber(Vec<u8>),
    /// RESP3 `%n` map.
    Map(Vec<(Value, Value)>),
    /// RESP3 `~n` set.
    Set(Vec<Value>),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Simple(s) => write!(f, "+{}", String::from_utf8_lossy(s)),
            Value::Error(s) => write!(f, "-{}", String::from_utf8_lossy(s)),
            Value::Int(n) => write!(f, ":{n}"),
            Value::Bulk(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Value::Nil => write!(f, "nil"),
            Value::Double(d) => write!(f, ",{}", String::from_utf8_lossy(d)),
            Value::Bool(b) => write!(f, "#{b}"),
            Value::BigNumber(n) => write!(f, "({}", String::from_utf8_lossy(n)),
            Value::Array(items) | Value::Set(items) => {
                let open = if matches!(self, Value::Set(_)) {
                    "~["
                } else {
                    "["
                };
                write!(f, "{open}")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
            Value::Map(pairs) => {
                write!(f, "{{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// A connection that sends commands and reads one whole reply each.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    /// Connects to `addr` (host:port).
    pub fn connect(addr: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let writer = stream.try_clone()?;
        Ok(Self {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Sends `argv` and returns its reply.
    pub fn call(&mut self, argv: &[Vec<u8>]) -> anyhow::Result<Value> {
        let mut out = format!("*{}\r\n", argv.len()).into_bytes();
        for arg in argv {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out)?;
        self.read_value()
    }

    fn line(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\r\n") {
            bail!("connection closed mid-reply");
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }

    fn number(text: &[u8]) -> anyhow::Result<i64> {
        std::str::from_utf8(text)?
            .parse()
            .with_context(|| format!("bad length {:?}", String::from_utf8_lossy(text)))
    }

    fn blob(&mut self, len: i64) -> anyhow::Result<Vec<u8>> {
        let mut body = vec![0u8; usize::try_from(len)? + 2];
        self.reader.read_exact(&mut body)?;
        body.truncate(body.len() - 2);
        Ok(body)
    }

    fn items(&mut self, n: i64) -> anyhow::Result<Vec<Value>> {
        (0..n).map(|_| self.read_value()).collect()
    }

    /// Reads one reply.
    pub fn read_value(&mut self) -> anyhow::Result<Value> {
        let line = self.line()?;
        let Some((&kind, rest)) = line.split_first() else {
            bail!("empty reply line");
        };
        Ok(match kind {
            b'+' => Value::Simple(rest.to_vec()),
            b'-' => Value::Error(rest.to_vec()),
            b':' => Value::Int(Self::number(rest)?),
            b'$' | b'=' | b'!' => match Self::number(rest)? {
                -1 => Value::Nil,
                n if kind == b'!' => Value::Error(self.blob(n)?),
                n => Value::Bulk(self.blob(n)?),
            },
            b'*' | b'>' => match Self::number(rest)? {
                -1 => Value::Nil,
                n => Value::Array(self.items(n)?),
            },
            b'~' => Value::Set(self.items(Self::number(rest)?)?),
            b'%' => {
                let n = Self::number(rest)?;
                let mut pairs = Vec::new();
                for _ in 0..n {
                    pairs.push((self.read_value()?, self.read_value()?));
                }
                Value::Map(pairs)
            }
            b'_' => Value::Nil,
            b',' => Value::Double(rest.to_vec()),
            b'#' => Value::Bool(rest == b"t"),
            b'(' => Value::BigNumber(rest.to_vec()),
            other => bail!("unknown reply type {:?}", other as char),
        })
    }
}

/// A `redis-server` on a free loopback port, without persistence; killed on drop.
pub struct RedisServer {
    child: Child,
    /// Its address.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts `redis-server` (from the PATH), or fails saying it is missing.
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--daemonize", "no", "--dir"])
            // SORT … ALPHA compares with strcoll: the C locale makes that byte order,
            // which okapi uses.
            .env("LC_ALL", "C")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start redis-server (Debian: apt-get install redis-server)")?;
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&addr).is_err() {
            if Instant::now() > deadline {
                bail!("redis-server did not listen on {addr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            child,
            addr,
            _dir: dir,
        })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small deterministic generator (xorshift64*), so a failing stream can be replayed
/// from its seed.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Keys every family draws from: one pool, so commands meet keys of other types.
const KEYS: &[&str] = &["k1", "k2", "k3", "{t}a", "{t}b", "h1", "l1", "s1", "z1"];
/// Values: small and empty strings, integer limits and overflow, floats, junk.
const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "7",
    "42",
    "3.5",
    "-2.25",
    "abc",
    "hello world",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1e3",
    "inf",
    "-inf",
    "+5",
    " 5",
    "0x10",
    "10abc",
];
/// Integer arguments (counts, offsets, increments), valid and not.
const INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-1",
    "-2",
    "5",
    "100",
    "-100",
    "x",
    "1.5",
    "9223372036854775807",
    "-9223372036854775808",
];
/// Bit offsets (and BITFIELD's `#n` field offsets), valid and not. The largest valid
/// offset (2^32 - 1) is left out: a 512 MB string per command makes a stream slow, not
/// more telling (unit tests cover it).
const BIT_OFFSETS: &[&str] = &[
    "0",
    "1",
    "7",
    "8",
    "9",
    "15",
    "16",
    "31",
    "63",
    "100",
    "-1",
    "#1",
    "#3",
    "x",
    "1.5",
    "100000",
    "4294967296",
];
/// BITFIELD types, valid and not.
const FIELD_TYPES: &[&str] = &[
    "u8", "i8", "u1", "i1", "u4", "i5", "i16", "u16", "i64", "u63", "u64", "i65", "i0", "x",
];
/// Float arguments.
const FLOATS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2.5",
    "-0.5",
    "1e2",
    "inf",
    "-inf",
    "nan",
    "x",
    "3",
    "0.1",
    "0.2",
    "1.1",
    "1e-5",
    "0x10",
    ".5",
    "5.",
    "-0",
    "3.0e3",
    "1e17",
    "1e400",
    "1e-400",
    "0.3333333333333333",
    "123456789012345678",
    "-9223372036854775806",
];

/// A command family the tester generates streams for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Strings and counters.
    Strings,
    /// Generic key commands (DEL, EXISTS, TYPE, RENAME, COPY ...).
    Keys,
    /// Hashes.
    Hashes,
    /// Lists (non-blocking).
    Lists,
    /// Sets.
    Sets,
    /// Sorted sets.
    ZSets,
    /// Bitmaps (bit operations on strings).
    Bitmaps,
    /// HyperLogLogs (values compared byte for byte with GET).
    HyperLogLogs,
    /// SORT and SORT_RO over lists, sets and sorted sets, with BY/GET patterns.
    Sort,
    /// Geo indexes: GEOADD, positions, distances and area searches.
    Geo,
    /// Streams with explicit IDs (`*` IDs come from each server's clock).
    Streams,
    /// Lua scripts (EVAL, EVALSHA, EVAL_RO, SCRIPT) that call deterministic commands.
    Scripting,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 12] = [
        Family::Strings,
        Family::Keys,
        Family::Hashes,
        Family::Lists,
        Family::Sets,
        Family::ZSets,
        Family::Bitmaps,
        Family::HyperLogLogs,
        Family::Sort,
        Family::Geo,
        Family::Streams,
        Family::Scripting,
    ];

    /// The family's name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Family::Strings => "strings",
            Family::Keys => "keys",
            Family::Hashes => "hashes",
            Family::Lists => "lists",
            Family::Sets => "sets",
            Family::ZSets => "zsets",
            Family::Bitmaps => "bitmaps",
            Family::HyperLogLogs => "hll",
            Family::Sort => "sort",
            Family::Geo => "geo",
            Family::Streams => "streams",
            Family::Scripting => "scripting",
        }
    }

    /// Commands (name, then argument kinds) the family draws from. Kinds: `k` a key,
    /// `v` a value, `i` an integer, `f` a float, `m` a member/field (a value), `q` a
    /// key to SORT, `W`/`H` the string/hash key a SORT pattern forms from a value,
    /// `X` a stream ID (mostly growing, some junk), `L`/`A` a longitude/latitude (mostly random in one region, sometimes an edge or
    /// junk), `R` a radius, `U` a unit, a literal otherwise; a trailing `*` repeats the
    /// kind before it 0–3 times.
    fn templates(self) -> &'static [&'static str] {
        match self {
            Family::Strings => &[
                "SET k v",
                "SET k v NX",
                "SET k v XX",
                "SET k v GET",
                "SET k v KEEPTTL",
                "SET k v EX i",
                "SET k v NX XX",
                "GET k",
                "GETSET k v",
                "GETDEL k",
                "APPEND k v",
                "STRLEN k",
                "INCR k",
                "DECR k",
                "INCRBY k i",
                "DECRBY k i",
                "INCRBYFLOAT k f",
                "SETRANGE k i v",
                "GETRANGE k i i",
                "SUBSTR k i i",
                "MSET k v k v",
                "MGET k k*",
                "SETNX k v",
                "MSETNX k v k v",
                "GETEX k PERSIST",
                "STRLEN k v",
                "INCR",
                "LCS k k",
                "LCS k k LEN",
                "LCS k k IDX",
                "LCS k k IDX MINMATCHLEN i WITHMATCHLEN",
                "LCS k k IDX WITHMATCHLEN",
                "LCS k k LEN IDX",
                "LCS k k MINMATCHLEN",
                "LCS k k v",
            ],
            Family::Keys => &[
                "DEL k k*",
                "UNLINK k k*",
                "EXISTS k k*",
                "TYPE k",
                "RENAME k k",
                "RENAMENX k k",
                "COPY k k",
                "COPY k k REPLACE",
                "PERSIST k",
                "TTL k",
                // TTLs stay far from expiring and from a second's boundary, so both
                // servers read the same TTL; PTTL would differ by the milliseconds
                // between the two servers' writes.
                "EXPIRE k 1000",
                "EXPIRE k 1000 NX",
                "EXPIRE k 2000 XX",
                "EXPIRE k 500 GT",
                "EXPIRE k 3000 LT",
                "PEXPIRE k 5000000",
                "EXPIRE k 0",
                "EXPIRE k -1",
                "EXPIRE k 10 NX XX",
                "EXPIRE k x",
                "TOUCH k k*",
                "DBSIZE",
                "SET k v",
                "RPUSH k v",
                "SADD k m",
                "HSET k m v",
                "ZADD k f m",
                "OBJECT REFCOUNT k",
                "DEL",
                // Key extraction as Redis's key specs do it (and COMMAND INFO's specs).
                "COMMAND GETKEYS SET k v",
                "COMMAND GETKEYSANDFLAGS SET k v GET",
                "COMMAND GETKEYSANDFLAGS SET k v EX i",
                "COMMAND GETKEYSANDFLAGS ZUNIONSTORE k i k k*",
                "COMMAND GETKEYSANDFLAGS LMPOP i k k* LEFT",
                "COMMAND GETKEYSANDFLAGS EVAL v i k k*",
                "COMMAND GETKEYSANDFLAGS XREAD STREAMS k k* v v*",
                "COMMAND GETKEYSANDFLAGS BITFIELD k GET u8 i",
                "COMMAND GETKEYSANDFLAGS BITFIELD k INCRBY u8 i i",
                "COMMAND GETKEYSANDFLAGS SORT k BY v STORE k",
                "COMMAND GETKEYSANDFLAGS MSET k v k v",
                "COMMAND GETKEYSANDFLAGS GET k*",
                "COMMAND GETKEYSANDFLAGS PING v",
                "COMMAND GETKEYSANDFLAGS",
                "COMMAND INFO GET SET XREAD EVAL ZUNIONSTORE GEORADIUS BITFIELD SORT",
            ],
            Family::Hashes => &[
                "HSET k m v",
                "HSET k m v m v",
                "HSET k m",
                "HSETNX k m v",
                "HGET k m",
                "HMGET k m m*",
                "HDEL k m m*",
                "HLEN k",
                "HSTRLEN k m",
                "HEXISTS k m",
                "HINCRBY k m i",
                "HINCRBYFLOAT k m f",
                "HGETALL k",
                "HKEYS k",
                "HVALS k",
                "HMSET k m v",
                "SET k v",
            ],
            Family::Lists => &[
                "LPUSH k v v*",
                "RPUSH k v v*",
                "LPUSHX k v",
                "RPUSHX k v",
                "LPOP k",
                "RPOP k",
                "LPOP k i",
                "RPOP k i",
                "LLEN k",
                "LRANGE k i i",
                "LINDEX k i",
                "LSET k i v",
                "LREM k i v",
                "LTRIM k i i",
                "LINSERT k BEFORE v v",
                "LINSERT k AFTER v v",
                "LINSERT k MIDDLE v v",
                "LPOS k v",
                "LPOS k v RANK i",
                "LPOS k v COUNT i",
                "LMOVE k k LEFT RIGHT",
                "LMOVE k k RIGHT RIGHT",
                "RPOPLPUSH k k",
                "LMPOP i k LEFT",
                "LMPOP 1 k RIGHT COUNT i",
                "SET k v",
            ],
            Family::Sets => &[
                "SADD k m m*",
                "SREM k m m*",
                "SCARD k",
                "SISMEMBER k m",
                "SMISMEMBER k m m*",
                "SMEMBERS k",
                "SINTER k k*",
                "SUNION k k*",
                "SDIFF k k*",
                "SINTERCARD i k k*",
                "SINTERSTORE k k k*",
                "SUNIONSTORE k k k*",
                "SDIFFSTORE k k k*",
                "SMOVE k k m",
                "SET k v",
            ],
            Family::Bitmaps => &[
                "SETBIT k o 1",
                "SETBIT k o 0",
                "SETBIT k o i",
                "SETBIT k o",
                "GETBIT k o",
                "GETBIT k",
                "BITCOUNT k",
                "BITCOUNT k i i",
                "BITCOUNT k i i BIT",
                "BITCOUNT k i i BYTE",
                "BITCOUNT k i i v",
                "BITCOUNT k i",
                "BITCOUNT k i i BIT x",
                "BITPOS k 1",
                "BITPOS k 0",
                "BITPOS k i",
                "BITPOS k 1 i",
                "BITPOS k 0 i i",
                "BITPOS k 0 i i BIT",
                "BITPOS k 1 i i BYTE",
                "BITPOS k 1 i i v",
                "BITOP AND k k k*",
                "BITOP OR k k k*",
                "BITOP XOR k k k*",
                "BITOP NOT k k",
                "BITOP NOT k k k",
                "BITOP v k k",
                "BITFIELD k GET t o",
                "BITFIELD k SET t o i",
                "BITFIELD k INCRBY t o i",
                "BITFIELD k OVERFLOW SAT INCRBY t o i GET t o",
                "BITFIELD k OVERFLOW FAIL INCRBY t o i SET t o i",
                "BITFIELD k OVERFLOW WRAP SET t o i INCRBY t o i",
                "BITFIELD k OVERFLOW v GET t o",
                "BITFIELD k GET t",
                "BITFIELD k",
                "BITFIELD_RO k GET t o GET t o",
                "BITFIELD_RO k SET t o i",
                "COMMAND LIST FILTERBY ACLCAT bitmap",
                "COMMAND LIST FILTERBY PATTERN bit*",
                "COMMAND LIST FILTERBY PATTERN object|*",
                "COMMAND LIST FILTERBY MODULE v",
                "COMMAND LIST FILTERBY v v",
                "ROLE",
                "SET k v",
                "GET k",
                "APPEND k v",
                "STRLEN k",
                "RPUSH k v",
                "DEL k",
            ],
            Family::HyperLogLogs => &[
                "PFADD k v v v v*",
                "PFADD k v",
                "PFADD k",
                "PFADD k n n n n n n n n n n n n n n n n n n n n n n n n n n n n n n n n n n n n n n n n",
                "PFCOUNT k",
                "PFCOUNT k k k*",
                "PFMERGE k k k*",
                "PFMERGE k",
                "GET k",
                "STRLEN k",
                "SET k v",
                "APPEND k v",
                "RPUSH k v",
                "DEL k",
                "PFCOUNT",
            ],
            // Redis leaves some SORT orders unspecified, so they are not generated: a
            // set's elements under `BY nosort` (hash order) and ties under `BY … ALPHA`
            // of a set or sorted set (its input order is hash order; a list's is kept).
            Family::Sort => &[
                "RPUSH l1 v v v*",
                "SADD s1 m m m*",
                // Scores that parse (`F`): Redis 7.0's SORT reads `errno` without
                // clearing it, so a ZADD that failed with ERANGE (1e400) makes its next
                // numeric SORTs fail too. okapi does not copy that bug.
                "ZADD z1 F m F m F m",
                "SET W v",
                "SET W v",
                "HSET H fa v fb v",
                "SET k1 v",
                "DEL l1 s1 z1",
                "SORT q",
                "SORT q DESC",
                "SORT q ALPHA",
                "SORT q ALPHA DESC",
                "SORT q LIMIT i i",
                "SORT q ALPHA LIMIT i i DESC",
                "SORT q BY w_*",
                "SORT q BY w_* DESC LIMIT i i",
                "SORT q BY h_*->fa",
                "SORT q BY w_* GET # GET h_*->fb GET w_* GET nostar GET h_*->",
                "SORT q ALPHA GET h_*->fa GET #",
                "SORT l1 BY w_* ALPHA",
                "SORT l1 BY h_*->fa ALPHA DESC",
                "SORT l1 BY nosort",
                "SORT l1 BY nosort DESC LIMIT i i",
                "SORT z1 BY nosort LIMIT i i",
                "SORT z1 BY nosort DESC GET w_*",
                "SORT q STORE dst",
                "SORT q ALPHA STORE dst",
                "SORT s1 BY nosort STORE dst",
                "SORT q BY w_* GET # GET h_*->fa STORE dst LIMIT i i",
                "LRANGE dst 0 -1",
                "TYPE dst",
                "SORT_RO q ALPHA",
                "SORT_RO q BY w_* LIMIT i i",
                "SORT_RO q STORE dst",
                "SORT q LIMIT i",
                "SORT q v",
                "SORT q BY",
                "SORT q GET",
                "SORT q STORE",
                "SORT",
            ],
            Family::Geo => &[
                "GEOADD g1 L A m",
                "GEOADD g1 L A m L A m L A m",
                "GEOADD g1 NX CH L A m",
                "GEOADD g1 XX L A m",
                "GEOADD g1 CH XX L A m L A m",
                "GEOADD g1 NX XX L A m",
                "GEOADD g1 L A",
                "GEOADD g1 GT L A m",
                "GEOADD g2 L A m",
                "GEOPOS g1 m m*",
                "GEOPOS g1",
                "GEOHASH g1 m m*",
                "GEODIST g1 m m",
                "GEODIST g1 m m U",
                "GEODIST g1 m m U v",
                "GEORADIUS g1 L A R U",
                "GEORADIUS g1 L A R U WITHDIST WITHCOORD WITHHASH ASC",
                "GEORADIUS g1 L A R U WITHDIST COUNT i",
                "GEORADIUS g1 L A R U COUNT i ANY",
                "GEORADIUS g1 L A R U ANY",
                "GEORADIUS g1 L A R U DESC COUNT i WITHCOORD",
                "GEORADIUS g1 L A R U STORE g3",
                "GEORADIUS g1 L A R U STOREDIST g3 DESC",
                "GEORADIUS g1 L A R U STORE g3 WITHDIST",
                "GEORADIUS g1 L A R U v",
                "GEORADIUS_RO g1 L A R U WITHHASH",
                "GEORADIUS_RO g1 L A R U STORE g3",
                "GEORADIUSBYMEMBER g1 m R U WITHDIST",
                "GEORADIUSBYMEMBER g1 m R U COUNT i DESC",
                "GEORADIUSBYMEMBER g1 m R U STORE g3",
                "GEORADIUSBYMEMBER_RO g1 m R U WITHCOORD ASC",
                "GEOSEARCH g1 FROMMEMBER m BYRADIUS R U",
                "GEOSEARCH g1 FROMMEMBER m BYRADIUS R U WITHDIST ASC",
                "GEOSEARCH g1 FROMLONLAT L A BYRADIUS R U WITHCOORD WITHHASH",
                "GEOSEARCH g1 FROMLONLAT L A BYBOX R R U",
                "GEOSEARCH g1 FROMLONLAT L A BYBOX R R U WITHDIST DESC COUNT i",
                "GEOSEARCH g1 FROMMEMBER m BYBOX R R U COUNT i ANY",
                "GEOSEARCH g1 BYRADIUS R U FROMLONLAT L A ASC",
                "GEOSEARCH g1 FROMLONLAT L A FROMMEMBER m BYRADIUS R U",
                "GEOSEARCH g1 FROMLONLAT L A BYRADIUS R U BYBOX R R U",
                "GEOSEARCH g1 FROMLONLAT L A COUNT i ASC",
                "GEOSEARCH g1 BYRADIUS R U WITHDIST v",
                "GEOSEARCH g1 FROMLONLAT L A BYRADIUS R U STORE g3",
                "GEOSEARCHSTORE g3 g1 FROMLONLAT L A BYRADIUS R U",
                "GEOSEARCHSTORE g3 g1 FROMMEMBER m BYBOX R R U STOREDIST COUNT i",
                "GEOSEARCHSTORE g3 g1 FROMLONLAT L A BYRADIUS R U WITHDIST",
                "ZRANGE g3 0 -1 WITHSCORES",
                "ZADD g1 f m",
                "ZREM g1 m",
                "SET g2 v",
                "DEL g1 g3",
            ],
            Family::Streams => &[
                "XADD x1 X f v",
                "XADD x1 X f v f v",
                "XADD x1 X f v",
                "XADD x1 MAXLEN i X f v",
                "XADD x1 MAXLEN ~ i X f v",
                "XADD x1 MINID = X X f v",
                "XADD x1 MAXLEN ~ i LIMIT i X f v",
                "XADD x1 NOMKSTREAM X f v",
                "XADD x2 NOMKSTREAM X f v",
                "XADD x2 X f v",
                "XADD x1 X f",
                "XADD x1 LIMIT i X f v",
                "XLEN x1",
                "XRANGE x1 - +",
                "XRANGE x1 X X",
                "XRANGE x1 X + COUNT i",
                "XRANGE x1 (X +",
                "XREVRANGE x1 + - COUNT i",
                "XREVRANGE x1 X (X",
                "XRANGE x1 - + v",
                "XDEL x1 X X*",
                "XTRIM x1 MAXLEN i",
                "XTRIM x1 MAXLEN ~ i",
                "XTRIM x1 MINID X",
                "XTRIM x1 MINID ~ X LIMIT i",
                "XTRIM x1 v i",
                "XTRIM x1 LIMIT i MAXLEN i",
                "XSETID x1 X",
                "XSETID x1 X ENTRIESADDED i MAXDELETEDID X",
                "XSETID x3 X",
                "XREAD STREAMS x1 X",
                "XREAD COUNT i STREAMS x1 x2 X X",
                "XREAD STREAMS x1 x2 $ X",
                "XREAD STREAMS x1 x2 X",
                "XREAD GROUP g c STREAMS x1 X",
                "XREAD BLOCK x STREAMS x1 X",
                "XREAD BLOCK -5 STREAMS x1 X",
                "XREAD BLOCK 1 STREAMS x1 X",
                // Consumer groups: replies that carry no times (XINFO CONSUMERS and
                // FULL report idle and delivery times), or whose times are blanked
                // (XPENDING's extended form, see `normalise`).
                "XGROUP CREATE x1 g1 X",
                "XGROUP CREATE x1 g1 $",
                "XGROUP CREATE x1 g2 X MKSTREAM",
                "XGROUP CREATE x2 g1 $ MKSTREAM ENTRIESREAD i",
                "XGROUP CREATE x1 g2 X v",
                "XGROUP SETID x1 g1 X",
                "XGROUP SETID x1 g2 $ ENTRIESREAD i",
                "XGROUP DESTROY x1 g2",
                "XGROUP CREATECONSUMER x1 g1 c1",
                "XGROUP DELCONSUMER x1 g1 c2",
                "XGROUP v x1 g1",
                "XREADGROUP GROUP g1 c1 STREAMS x1 >",
                "XREADGROUP GROUP g1 c2 COUNT i STREAMS x1 >",
                "XREADGROUP GROUP g1 c1 STREAMS x1 X",
                "XREADGROUP GROUP g1 c2 NOACK STREAMS x1 x2 > >",
                "XREADGROUP GROUP g2 c1 STREAMS x1 x2 > X",
                "XREADGROUP GROUP g1 c1 STREAMS x1 $",
                "XREADGROUP GROUP g1 c1 BLOCK 1 STREAMS x1 >",
                "XREADGROUP STREAMS x1 >",
                "XACK x1 g1 X X*",
                "XACK x1 g2 X",
                "XPENDING x1 g1",
                "XPENDING x2 g1",
                "XPENDING x1 g1 X X i c1",
                "XCLAIM x1 g1 c2 0 X X*",
                "XCLAIM x1 g1 c3 0 X JUSTID",
                "XCLAIM x1 g1 c1 0 X FORCE RETRYCOUNT i",
                "XCLAIM x1 g2 c1 i X v",
                "XCLAIM x1 g1 c1 0 X LASTID X JUSTID",
                "XAUTOCLAIM x1 g1 c3 0 X COUNT i",
                "XAUTOCLAIM x1 g1 c1 0 X JUSTID",
                "XAUTOCLAIM x1 g2 c2 0 X COUNT i JUSTID",
                "XINFO GROUPS x1",
                "XINFO GROUPS x2",
                "XINFO STREAM x1",
                "XINFO STREAM x2",
                "XINFO STREAM x1 v",
                "TYPE x1",
                "SET x2 v",
                "DEL x1 x2",
            ],
            Family::Scripting => &[
                "EVAL S 0",
                "EVAL S 1 k",
                "EVAL S 1 k v",
                "EVAL S 2 k k v v",
                "EVAL S i k* v*",
                "EVAL_RO S 1 k v",
                "EVALSHA Z 1 k v",
                "EVALSHA Z 0",
                "EVALSHA_RO Z 1 k",
                "SCRIPT LOAD S",
                "SCRIPT EXISTS Z Z*",
                "SCRIPT FLUSH",
                "SCRIPT FLUSH SYNC",
                "SCRIPT FLUSH v",
                "SCRIPT KILL",
                "SCRIPT v",
                "SCRIPT HELP",
                "FUNCTION LOAD Y",
                "FUNCTION LOAD REPLACE Y",
                "FUNCTION LOAD v Y",
                "FCALL N 1 k v*",
                "FCALL N i k* v*",
                "FCALL_RO N 1 k",
                "FUNCTION DELETE lib1",
                "FUNCTION DELETE v",
                "FUNCTION LIST",
                "FUNCTION LIST WITHCODE",
                "FUNCTION LIST LIBRARYNAME lib*",
                "FUNCTION LIST v",
                "FUNCTION STATS",
                "FUNCTION FLUSH",
                "FUNCTION HELP",
                "FUNCTION v",
                "SET k v",
                "INCR k",
                "RPUSH k v v*",
                "HSET k m v",
                "ZADD k f m",
                "SADD k m",
                "SADD s1 m m*",
                "DEL k",
            ],
            Family::ZSets => &[
                "ZADD k f m",
                "ZADD k f m f m",
                "ZADD k NX f m",
                "ZADD k XX CH f m",
                "ZADD k INCR f m",
                "ZADD k GT LT f m",
                "ZINCRBY k f m",
                "ZSCORE k m",
                "ZMSCORE k m m*",
                "ZCARD k",
                "ZCOUNT k f f",
                "ZRANK k m",
                "ZREVRANK k m",
                "ZREM k m m*",
                "ZRANGE k i i",
                "ZRANGE k i i WITHSCORES",
                "ZRANGE k i i REV",
                "ZRANGE k f f BYSCORE",
                "ZRANGEBYSCORE k f f WITHSCORES",
                "ZREVRANGEBYSCORE k f f",
                "ZRANGEBYLEX k - +",
                "ZLEXCOUNT k - +",
                "ZPOPMIN k",
                "ZPOPMAX k i",
                "ZMPOP 1 k MIN",
                "ZMPOP 2 k k MAX COUNT i",
                "ZUNIONSTORE k 2 k k",
                "ZINTERSTORE k 2 k k WEIGHTS f f",
                "ZDIFF 2 k k WITHSCORES",
                "ZUNION 2 k k WITHSCORES",
                "ZINTER 2 k k",
                "ZREMRANGEBYRANK k i i",
                "ZREMRANGEBYSCORE k f f",
                "SET k v",
            ],
        }
    }
}

/// Generates one command of `family`.
pub fn generate(family: Family, rng: &mut Rng) -> Vec<Vec<u8>> {
    let templates = family.templates();
    let template = templates[rng.below(templates.len())];
    let mut argv: Vec<Vec<u8>> = Vec::new();
    let words: Vec<&str> = template.split(' ').collect();
    for (i, word) in words.iter().enumerate() {
        // Only a one-letter kind repeats: `w_*` is a SORT pattern.
        let (kind, repeat) = match word.strip_suffix('*') {
            Some(kind) if i > 0 && kind.len() == 1 => (kind, true),
            _ => (*word, false),
        };
        let times = if repeat { rng.below(4) } else { 1 };
        for _ in 0..times {
            argv.push(match kind {
                "k" if i > 0 => rng.pick(KEYS).into(),
                "v" | "m" if i > 0 => rng.pick(VALUES).into(),
                "i" if i > 0 => rng.pick(INTS).into(),
                "o" if i > 0 => rng.pick(BIT_OFFSETS).into(),
                "n" if i > 0 => rng.below(1_000_000).to_string().into(),
                "t" if i > 0 => rng.pick(FIELD_TYPES).into(),
                "f" if i > 0 => rng.pick(FLOATS).into(),
                "F" if i > 0 => rng
                    .pick(&["0", "1", "-1", "2.5", "-0.5", "1e2", "inf", "-inf"])
                    .into(),
                "X" if i > 0 => stream_id(rng),
                "L" if i > 0 => {
                    coordinate(rng, 12.0, 4.0, &["-180", "180", "181", "x", "0", "-0.5"]).into()
                }
                "A" if i > 0 => coordinate(
                    rng,
                    36.0,
                    4.0,
                    &["85.05112878", "-85.05112878", "86", "y", "0", "89"],
                )
                .into(),
                "R" if i > 0 => rng
                    .pick(&[
                        "0", "1", "50", "100", "200", "500", "5000", "20000", "-1", "x", "2.5",
                    ])
                    .into(),
                "U" if i > 0 => rng.pick(&["m", "km", "mi", "ft", "KM", "parsec"]).into(),
                "q" if i > 0 => rng.pick(&["l1", "s1", "z1", "k1", "nokey"]).into(),
                "W" if i > 0 => format!("w_{}", rng.pick(VALUES)).into(),
                "H" if i > 0 => format!("h_{}", rng.pick(VALUES)).into(),
                "S" if i > 0 => rng.pick(SCRIPTS).into(),
                "Y" if i > 0 => rng.pick(LIBRARIES).into(),
                "N" if i > 0 => rng.pick(&["fget", "fset", "fro", "ferr", "nosuch"]).into(),
                "Z" if i > 0 => script_sha(rng),
                literal => literal.into(),
            });
        }
    }
    argv
}

/// Script bodies for the scripting family: deterministic commands only (no
/// math.random, TIME or random picks) and replies in a defined order (a hash's
/// fields come in each server's own order), valid and broken, every conversion.
const SCRIPTS: &[&str] = &[
    "return redis.call('get', KEYS[1])",
    "return redis.call('set', KEYS[1], ARGV[1])",
    "return redis.call('incr', KEYS[1])",
    "return redis.pcall('incr', KEYS[1])",
    "return redis.call('incrbyfloat', KEYS[1], ARGV[1])",
    "return redis.call('lrange', KEYS[1], 0, -1)",
    "return redis.call('hget', KEYS[1], ARGV[1] or 'm')",
    "return redis.call('hlen', KEYS[1])",
    "return redis.call('zadd', KEYS[1], ARGV[1], 'm')",
    "return redis.call('zrange', KEYS[1], 0, -1, 'withscores')",
    "return redis.call('exists', KEYS[1], KEYS[2])",
    "return {KEYS[1], ARGV[1], #KEYS, #ARGV}",
    "return {1, 2.5, 'x', true, false, {ok='o'}, {err='E e'}, 9}",
    "return redis.status_reply('FINE')",
    "return redis.error_reply('MY err')",
    "return nil",
    "return 3.99",
    "return -1e300",
    "x = 1",
    "return y",
    "return redis.call('nosuch')",
    "return redis.call()",
    "return redis.call('get')",
    "return redis.call('set', KEYS[1], {})",
    "return redis.call('subscribe', 'c')",
    "error('boom')",
    "error({err='CODE msg'})",
    "return (",
    "local t = redis.call('type', KEYS[1]) return t.ok",
    "redis.setresp(3) return redis.call('hget', KEYS[1], 'm')",
    "redis.setresp(3) return redis.call('zscore', KEYS[1], 'm')",
    "redis.setresp(4)",
    "redis.setresp(3) return redis.call('get', KEYS[1])",
    "redis.setresp(3) return redis.call('zrange', KEYS[1], 0, -1, 'withscores')",
    "return tostring(redis.call('get', KEYS[1]))",
    "return bit.band(tonumber(ARGV[1]) or 0, 255)",
    "return bit.tohex(65535, -4)",
    "return string.format('%d:%s', #ARGV, ARGV[1] or 'none')",
    "return table.concat(ARGV, ',')",
    "return redis.sha1hex(ARGV[1] or '')",
    "rawset(_G, 'x', 1)",
    "string.foo = 1",
    "redis.call('del', KEYS[1]) return redis.call('rpush', KEYS[1], ARGV[1])",
    "return redis.call('ping')",
    "return redis.call('echo', ARGV[1] or 'none')",
    "return math.floor(tonumber(ARGV[1]) or 0)",
    "local ok, e = pcall(redis.call, 'incr', KEYS[1]) return ok",
    "redis.call('set', KEYS[1], 'x') return redis.call('incr', KEYS[1])",
    "return redis.call('select', 1)",
    "return redis.call('set', KEYS[1], ARGV[1], 'get')",
    "return cjson.encode({KEYS[1], ARGV[1], 1.5, true})",
    "return cjson.encode({k = ARGV[1] or 'none'})",
    "return cjson.encode(tonumber(ARGV[1]) or ARGV[1] or 'none')",
    "return type(cjson.decode(ARGV[1] or 'null'))",
    "return cjson.encode(cjson.decode(ARGV[1] or '[]'))",
    "return cjson.encode(cjson.decode('{\"a\":[1,2.5,\"x\",null,{}]}'))",
    "return cmsgpack.pack(tonumber(ARGV[1]) or ARGV[1] or 'none', {1, 2.5, 'x'}, {k = true})",
    "return {cmsgpack.unpack(cmsgpack.pack(KEYS[1], tonumber(ARGV[1]) or 0, {1, {2}}))}",
    "return {cmsgpack.unpack(ARGV[1] or '')}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), tonumber(ARGV[1]) or 1)}",
    "return struct.pack('>I2ib<hdxc3s', 513, -7, 65, -2, 1.5, 'abcd', ARGV[1] or 'z')",
    "return {struct.unpack('>I2ib<hdxc3s', struct.pack('>I2ib<hdxc3s', 513, -7, 65, -2, 1.5, 'abcd', ARGV[1] or 'z'))}",
    "return struct.pack(ARGV[1] or 'i', 1, 2, 3)",
    "return {struct.unpack(ARGV[1] or 'i', struct.pack('iiii', 1, -2, 3, 4))}",
    "return struct.size(ARGV[1] or '!4bi')",
    "return {struct.unpack('!4bi', struct.pack('!4bi', -1, tonumber(ARGV[1]) or 9))}",
    "return string.format('%.17g', struct.unpack('<f', struct.pack('<f', tonumber(ARGV[1]) or 0.1)))",
    "return {struct.unpack('b', ARGV[1] or '', tonumber(ARGV[1]) or 1)}",
    "return {struct.unpack('B c0', struct.pack('B', 3) .. (ARGV[1] or 'abc'))}",
    "return struct.pack('i' .. (ARGV[1] or '40'), 1)",
    "return struct.pack('d', ARGV[1])",
    "return redis.call('sort', KEYS[1], 'by', 'nosort')",
    "return redis.call('sort', KEYS[1], 'by', 'nosort', 'desc', 'limit', 0, 3)",
    "return redis.call('xread', 'block', 0, 'streams', KEYS[1], '$')",
    "return loadstring(string.dump(function() return 1 end))",
    "return redis.call('blpop', KEYS[1], 0)",
    "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])",
    "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 'v')",
    "#!lua\nreturn redis.call('incr', KEYS[1])",
    "#!lua\nreturn y",
    "#!lua flags=bogus\nreturn 1",
    "#!lua name=x\nreturn 1",
    "#!python\nreturn 1",
    "#!lua",
];

/// Function libraries for the scripting family: one function each (a library's
/// functions are listed in each server's own order), valid, clashing and broken.
const LIBRARIES: &[&str] = &[
    "#!lua name=lib1\nredis.register_function('fget', function(keys, args) return redis.call('get', keys[1]) end)",
    "#!lua name=lib2\nredis.register_function('fset', function(keys, args) return redis.call('set', keys[1], args[1] or 'x') end)",
    "#!lua name=lib3\nredis.register_function{function_name='fro', flags={'no-writes'}, description='d', callback=function(keys) return #keys end}",
    "#!lua name=lib4\nredis.register_function('fget', function() return 1 end)",
    "#!lua name=lib5\nredis.register_function('ferr', function(keys) return redis.call('incr', keys[1]) end)",
    "#!lua name=lib6\nreturn 1",
    "#!lua name=lib7\nsyntax error",
    "#!lua name=lib8\nredis.call('ping')",
    "#!lua name=bad-name\nreturn 1",
    "#!lua\nreturn 1",
    "#!js name=lib9\nreturn 1",
    "return 1",
    "#!lua name=lib10\nredis.register_function('bad-fn', function() end)",
    "#!lua name=lib11\nredis.register_function{function_name='x', flags={'bogus'}, callback=function() end}",
];

/// A SHA1 for EVALSHA and SCRIPT EXISTS: mostly one of [`SCRIPTS`]' (loaded or not),
/// sometimes in capitals, sometimes junk.
fn script_sha(rng: &mut Rng) -> Vec<u8> {
    use sha1::Digest;
    if rng.chance(10) {
        return rng
            .pick(&["abc", "", "ffffffffffffffffffffffffffffffffffffffff"])
            .into();
    }
    let digest = sha1::Sha1::digest(rng.pick(SCRIPTS).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if rng.chance(20) {
        hex.to_uppercase().into()
    } else {
        hex.into()
    }
}

/// A stream ID: mostly `ms-seq` or `ms` over a small range (so XADDs often grow the
/// stream and sometimes fall behind it), some edges and junk.
fn stream_id(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(10) {
        return rng
            .pick(&[
                "0-0",
                "0",
                "-",
                "+",
                "18446744073709551615-18446744073709551615",
                "x",
                "5-",
                " 7",
                "3-*",
            ])
            .into();
    }
    let ms = rng.below(400);
    if rng.chance(30) {
        ms.to_string().into()
    } else {
        format!("{ms}-{}", rng.below(3)).into()
    }
}

/// A longitude or latitude: most in `[from, from + span)` with six decimals (so
/// positions are close and distinct), some from `edges`.
fn coordinate(rng: &mut Rng, from: f64, span: f64, edges: &[&str]) -> String {
    if rng.chance(15) {
        return rng.pick(edges).to_owned();
    }
    let micro = rng.below((span * 1e6) as usize) as f64;
    format!("{:.6}", from + micro / 1e6)
}

/// Replies whose element order Redis leaves unspecified (hash-table order): compared
/// as multisets. Everything else is compared exactly.
const UNORDERED: &[&str] = &[
    "SMEMBERS", "SINTER", "SUNION", "SDIFF", "HGETALL", "HKEYS", "HVALS", "KEYS", "COMMAND",
    "FUNCTION",
];

/// A documented, intentional difference from Redis 7.0. Mismatches of the commands it
/// covers are reported apart, with the reason, and do not fail a run.
#[derive(Debug, Clone, Copy)]
pub struct Intentional {
    /// The command name, upper case.
    pub command: &'static str,
    /// An argument the command must carry to be covered (any position, any case).
    pub argument: Option<&'static str>,
    /// Why okapi answers differently.
    pub reason: &'static str,
}

/// Every intentional difference the tester knows of.
pub const INTENTIONAL: &[Intentional] = &[
    Intentional {
        command: "LPOS",
        argument: Some("-9223372036854775808"),
        reason: "RANK -9223372036854775808: Redis 7.0 negates it with a signed overflow \
                 (and checks the key type first); okapi refuses it with Redis 7.2's range \
                 error",
    },
    Intentional {
        command: "OBJECT",
        argument: Some("ENCODING"),
        reason: "okapi's memory layouts are its own: it names the closest Redis encoding \
                 (int, embstr, raw, hashtable, quicklist, skiplist) but has no listpack or \
                 intset and stores any canonical integer text as int",
    },
    Intentional {
        command: "OBJECT",
        argument: Some("REFCOUNT"),
        reason: "okapi shares no objects: it reports Redis's shared refcount (2147483647) \
                 for integer strings 0..9999 and 1 otherwise, where Redis also answers 1 \
                 for the unshared copies COPY and INCRBYFLOAT make",
    },
    Intentional {
        command: "SCRIPT",
        argument: Some("HELP"),
        reason: "okapi has no Lua debugger, so its help leaves out SCRIPT DEBUG (which \
                 answers an error saying so)",
    },
];

/// The intentional difference covering `argv`, if any.
pub fn intentional(argv: &[Vec<u8>]) -> Option<&'static Intentional> {
    let name = String::from_utf8_lossy(argv.first()?).to_ascii_uppercase();
    INTENTIONAL.iter().find(|d| {
        d.command == name
            && d.argument.is_none_or(|arg| {
                argv[1..]
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(arg.as_bytes()))
            })
    })
}

/// Applies the documented normalisations to `reply` of `argv`: element order of the
/// replies listed in [`UNORDERED`].
pub fn normalise(argv: &[Vec<u8>], reply: Value) -> Value {
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
    if name == "XINFO" {
        return blank_radix_tree_nodes(reply);
    }
    if name == "XPENDING" && argv.len() >= 6 {
        return blank_idle_times(reply);
    }
    if !UNORDERED.contains(&name.as_str()) {
        return reply;
    }
    match reply {
        Value::Array(mut items) if name == "HGETALL" => {
            let mut pairs: Vec<(Value, Value)> = Vec::new();
            while items.len() >= 2 {
                let v = items.pop().expect("two left");
                let k = items.pop().expect("one left");
                pairs.push((k, v));
            }
            pairs.sort();
            Value::Map(pairs)
        }
        Value::Array(mut items) => {
            items.sort();
            Value::Array(items)
        }
        Value::Set(mut items) => {
            items.sort();
            Value::Set(items)
        }
        Value::Map(mut pairs) => {
            pairs.sort();
            Value::Map(pairs)
        }
        other => other,
    }
}

/// XPENDING's extended form reports each entry's idle time, which depends on when
/// each server ran the command: blanked on both sides, the rest compared.
fn blank_idle_times(reply: Value) -> Value {
    match reply {
        Value::Array(entries) => Value::Array(
            entries
                .into_iter()
                .map(|entry| match entry {
                    Value::Array(mut fields) if fields.len() == 4 => {
                        fields[2] = Value::Nil;
                        Value::Array(fields)
                    }
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

/// XINFO STREAM's `radix-tree-nodes` counts the nodes of Redis's radix tree, which
/// okapi does not have (it reports an estimate): the value is blanked on both sides,
/// every other field is compared.
fn blank_radix_tree_nodes(reply: Value) -> Value {
    let name = Value::Bulk(b"radix-tree-nodes".to_vec());
    match reply {
        Value::Map(pairs) => Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| if k == name { (k, Value::Nil) } else { (k, v) })
                .collect(),
        ),
        Value::Array(mut items) => {
            for i in (0..items.len().saturating_sub(1)).step_by(2) {
                if items[i] == name {
                    items[i + 1] = Value::Nil;
                }
            }
            Value::Array(items)
        }
        other => other,
    }
}

/// A command whose replies differed.
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// The command.
    pub argv: Vec<Vec<u8>>,
    /// Redis's reply.
    pub redis: Value,
    /// okapi's reply.
    pub okapi: Value,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let argv: Vec<String> = self
            .argv
            .iter()
            .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
            .collect();
        write!(
            f,
            "{}\n    redis: {}\n    okapi: {}",
            argv.join(" "),
            self.redis,
            self.okapi
        )
    }
}

/// What one family's run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The family.
    pub family: Family,
    /// RESP version used (2 or 3).
    pub protocol: u8,
    /// Commands sent to both.
    pub compared: usize,
    /// Commands whose replies differed.
    pub mismatches: Vec<Mismatch>,
    /// Commands whose replies differed as an [`Intentional`] difference documents.
    pub intentional: Vec<(Mismatch, &'static Intentional)>,
}

/// Sends `count` commands of `family`, generated from `seed`, to both servers (after
/// `FLUSHALL` and, for RESP3, `HELLO 3` on each) and compares the replies.
pub fn run_family(
    redis_addr: &str,
    okapi_addr: &str,
    family: Family,
    protocol: u8,
    count: usize,
    seed: u64,
) -> anyhow::Result<Report> {
    run_family_with(redis_addr, okapi_addr, family, protocol, count, seed, false)
}

/// The keyspace events each server publishes, heard by a subscriber to every event
/// channel and read up to a marker published after each command, so each command's
/// events are compared on their own.
struct EventTap {
    conn: Conn,
    rounds: u64,
}

/// What the tap turns on: every class, `new` keys too, on both channels.
pub const EVENT_FLAGS: &str = "AKEn";

impl EventTap {
    fn open(addr: &str, commands: &mut Conn) -> anyhow::Result<Self> {
        commands.call(&[
            b"CONFIG".to_vec(),
            b"SET".to_vec(),
            b"notify-keyspace-events".to_vec(),
            EVENT_FLAGS.as_bytes().to_vec(),
        ])?;
        let mut conn = Conn::connect(addr)?;
        conn.call(&[b"PSUBSCRIBE".to_vec(), b"__key*__:*".to_vec()])?;
        conn.call(&[b"SUBSCRIBE".to_vec(), b"okapi-diff-sync".to_vec()])?;
        Ok(Self { conn, rounds: 0 })
    }

    /// The events published since the last call, as `channel payload` lines.
    fn take(&mut self, commands: &mut Conn) -> anyhow::Result<Vec<Value>> {
        self.rounds += 1;
        let marker = self.rounds.to_string().into_bytes();
        commands.call(&[
            b"PUBLISH".to_vec(),
            b"okapi-diff-sync".to_vec(),
            marker.clone(),
        ])?;
        let mut events = Vec::new();
        loop {
            let Value::Array(parts) = self.conn.read_value()? else {
                bail!("the event subscriber got a reply that is not a message");
            };
            match parts.as_slice() {
                [Value::Bulk(kind), _, Value::Bulk(payload)]
                    if kind == b"message" && *payload == marker =>
                {
                    return Ok(events);
                }
                [
                    Value::Bulk(kind),
                    _,
                    Value::Bulk(channel),
                    Value::Bulk(payload),
                ] if kind == b"pmessage" => {
                    let mut line = channel.clone();
                    line.push(b' ');
                    line.extend_from_slice(payload);
                    events.push(Value::Bulk(line));
                }
                other => bail!("unexpected message on the event subscriber: {other:?}"),
            }
        }
    }
}

/// [`run_family`], and with `events` the keyspace events each command raised are
/// compared too (a difference is reported as a [`Mismatch`] whose values are the two
/// lists of events, the command prefixed with `events of`).
pub fn run_family_with(
    redis_addr: &str,
    okapi_addr: &str,
    family: Family,
    protocol: u8,
    count: usize,
    seed: u64,
    events: bool,
) -> anyhow::Result<Report> {
    let mut redis = Conn::connect(redis_addr)?;
    let mut okapi = Conn::connect(okapi_addr)?;
    for conn in [&mut redis, &mut okapi] {
        if protocol == 3 {
            conn.call(&[b"HELLO".to_vec(), b"3".to_vec()])?;
        }
        conn.call(&[b"FLUSHALL".to_vec()])?;
    }
    let mut taps = if events {
        Some((
            EventTap::open(redis_addr, &mut redis)?,
            EventTap::open(okapi_addr, &mut okapi)?,
        ))
    } else {
        None
    };
    let mut rng = Rng::new(seed);
    let mut mismatches = Vec::new();
    let mut excused = Vec::new();
    for _ in 0..count {
        let argv = generate(family, &mut rng);
        let shown = || {
            let words: Vec<_> = argv.iter().map(|a| String::from_utf8_lossy(a)).collect();
            words.join(" ")
        };
        let want = normalise(
            &argv,
            redis
                .call(&argv)
                .with_context(|| format!("redis-server on {}", shown()))?,
        );
        let got = normalise(
            &argv,
            okapi
                .call(&argv)
                .with_context(|| format!("okapi on {}", shown()))?,
        );
        if let Some((redis_tap, okapi_tap)) = taps.as_mut() {
            let want_events = redis_tap.take(&mut redis)?;
            let got_events = okapi_tap.take(&mut okapi)?;
            if want_events != got_events {
                let mut labelled = vec![b"events of".to_vec()];
                labelled.extend(argv.iter().cloned());
                let mismatch = Mismatch {
                    redis: Value::Array(want_events),
                    okapi: Value::Array(got_events),
                    argv: labelled,
                };
                match intentional(&argv) {
                    Some(why) => excused.push((mismatch, why)),
                    None => mismatches.push(mismatch),
                }
            }
        }
        if want != got {
            let why = intentional(&argv);
            let mismatch = Mismatch {
                argv,
                redis: want,
                okapi: got,
            };
            match why {
                Some(why) => excused.push((mismatch, why)),
                None => mismatches.push(mismatch),
            }
        }
    }
    Ok(Report {
        family,
        protocol,
        compared: count,
        mismatches,
        intentional: excused,
    })
}

/// Whether `redis-server` can be run here.
pub fn redis_available() -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| Path::new(&dir).join("redis-server").is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_fills_every_kind() {
        let a: Vec<_> = (0..50)
            .map({
                let mut rng = Rng::new(7);
                move |_| generate(Family::ZSets, &mut rng)
            })
            .collect();
        let b: Vec<_> = (0..50)
            .map({
                let mut rng = Rng::new(7);
                move |_| generate(Family::ZSets, &mut rng)
            })
            .collect();
        assert_eq!(a, b);
        assert!(
            a.iter()
                .flatten()
                .all(|arg| !matches!(arg.as_slice(), b"k" | b"v" | b"i" | b"f" | b"m"))
        );
    }

    #[test]
    fn intentional_differences_cover_only_their_commands() {
        let argv = |words: &[&str]| {
            words
                .iter()
                .map(|w| w.as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        assert!(intentional(&argv(&["lpos", "l", "a", "RANK", "-9223372036854775808"])).is_some());
        assert!(intentional(&argv(&["LPOS", "l", "a", "RANK", "-1"])).is_none());
        assert!(intentional(&argv(&["GET", "-9223372036854775808"])).is_none());
    }

    #[test]
    fn unordered_replies_compare_as_multisets_and_others_exactly() {
        let smembers = vec![b"SMEMBERS".to_vec(), b"s".to_vec()];
        let ab = Value::Array(vec![Value::Bulk(b"a".to_vec()), Value::Bulk(b"b".to_vec())]);
        let ba = Value::Array(vec![Value::Bulk(b"b".to_vec()), Value::Bulk(b"a".to_vec())]);
        assert_eq!(
            normalise(&smembers, ab.clone()),
            normalise(&smembers, ba.clone())
        );
        let lrange = vec![b"LRANGE".to_vec(), b"l".to_vec()];
        assert_ne!(normalise(&lrange, ab), normalise(&lrange, ba));
    }
}
