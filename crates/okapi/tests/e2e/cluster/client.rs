//! A cluster client for fault tests that keeps score: it follows `-MOVED` and
//! retries `-CLUSTERDOWN` and refused connections (nothing was applied then), and
//! records every operation with its invocation and completion times, or as of unknown
//! outcome (timeout, broken connection, "outcome is unknown"), for the
//! linearizability checker.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use okapi_testkit::linearizability::{Kind, Op};

/// What one attempt gave.
enum Attempt<T> {
    Done(T),
    /// Not applied anywhere: try again (at `Some(addr)` for MOVED).
    Retry(Option<String>),
    /// May or may not have been applied.
    Unknown,
}

/// A client over direct connections to the nodes at `addrs`.
pub struct Scored {
    addrs: Vec<String>,
    conns: HashMap<String, redis::Connection>,
    /// Where each slot was last redirected to.
    slots: HashMap<u16, String>,
    started: Instant,
    /// The operations done so far.
    pub history: Vec<Op>,
    next: usize,
}

fn slot(key: &str) -> u16 {
    okapi_types::key_slot(key.as_bytes()).0
}

impl Scored {
    /// A client of the nodes at `addrs` (`host:port`), timing against `started`.
    pub fn new(addrs: Vec<String>, started: Instant) -> Self {
        Self {
            addrs,
            conns: HashMap::new(),
            slots: HashMap::new(),
            started,
            history: Vec::new(),
            next: 0,
        }
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    fn connection(&mut self, addr: &str) -> Option<&mut redis::Connection> {
        if !self.conns.contains_key(addr) {
            let client = redis::Client::open(format!("redis://{addr}/")).ok()?;
            let conn = client
                .get_connection_with_timeout(Duration::from_millis(500))
                .ok()?;
            conn.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
            conn.set_write_timeout(Some(Duration::from_secs(3))).ok()?;
            self.conns.insert(addr.to_owned(), conn);
        }
        self.conns.get_mut(addr)
    }

    fn target(&mut self, key: &str) -> String {
        match self.slots.get(&slot(key)) {
            Some(addr) => addr.clone(),
            None => {
                self.next = (self.next + 1) % self.addrs.len();
                self.addrs[self.next].clone()
            }
        }
    }

    /// Classifies a reply error: a redirect or "not applied" is retried, anything
    /// else is of unknown outcome.
    fn classify<T>(&mut self, key: &str, addr: &str, e: &redis::RedisError) -> Attempt<T> {
        if let Some(code) = e.code() {
            if code == "MOVED" {
                let to = e
                    .detail()
                    .and_then(|d| d.split(' ').nth(1))
                    .map(str::to_owned);
                if let Some(to) = &to {
                    self.slots.insert(slot(key), to.clone());
                }
                return Attempt::Retry(to);
            }
            // EXECABORT: a queued command was redirected, so nothing ran.
            if code == "CLUSTERDOWN" || code == "LOADING" || code == "EXECABORT" {
                self.slots.remove(&slot(key));
                return Attempt::Retry(None);
            }
            return Attempt::Unknown;
        }
        // I/O: the request may have reached the node.
        self.conns.remove(addr);
        self.slots.remove(&slot(key));
        Attempt::Unknown
    }

    /// Runs `run` against the node serving `key` until it is done, of unknown
    /// outcome, or `deadline` passes (unknown too).
    fn attempt<T>(
        &mut self,
        key: &str,
        deadline: Duration,
        mut run: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        let until = Instant::now() + deadline;
        let mut at: Option<String> = None;
        while Instant::now() < until {
            let addr = at.take().unwrap_or_else(|| self.target(key));
            let Some(conn) = self.connection(&addr) else {
                // Refused: nothing was sent; another node may serve it.
                self.slots.remove(&slot(key));
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let result = match run(conn) {
                Ok(v) => Attempt::Done(v),
                Err(e) => self.classify(key, &addr, &e),
            };
            match result {
                Attempt::Done(v) => {
                    self.slots.insert(slot(key), addr);
                    return Some(v);
                }
                Attempt::Retry(to) => {
                    if to.is_none() {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    at = to;
                }
                Attempt::Unknown => return None,
            }
        }
        None
    }

    /// SET key value; true when acknowledged.
    pub fn write(&mut self, key: &str, value: &str) -> bool {
        let invoke = self.now();
        let done = self
            .attempt(key, Duration::from_secs(10), |c| {
                redis::cmd("SET").arg(key).arg(value).query::<()>(c)
            })
            .is_some();
        let complete = done.then(|| self.now());
        self.history.push(Op {
            key: key.to_owned(),
            kind: Kind::Write(value.to_owned()),
            invoke,
            complete,
        });
        done
    }

    /// GET key; `None` when it got no answer.
    pub fn read(&mut self, key: &str) -> Option<Option<String>> {
        let invoke = self.now();
        let seen = self.attempt(key, Duration::from_secs(10), |c| {
            redis::cmd("GET").arg(key).query::<Option<String>>(c)
        });
        let complete = seen.is_some().then(|| self.now());
        self.history.push(Op {
            key: key.to_owned(),
            kind: Kind::Read(seen.clone().flatten()),
            invoke,
            complete,
        });
        seen
    }

    /// WATCH key, GET, MULTI, SET key new, EXEC — applied only if the value is still
    /// what GET saw. Returns whether it applied (`None`: unknown).
    pub fn cas(&mut self, key: &str, new: &str) -> Option<bool> {
        let invoke = self.now();
        let mut seen: Option<Option<String>> = None;
        let result = self.attempt(key, Duration::from_secs(10), |c| {
            // A failed attempt may have left other keys watched on this connection.
            redis::cmd("UNWATCH").query::<()>(c)?;
            redis::cmd("WATCH").arg(key).query::<()>(c)?;
            let current: Option<String> = redis::cmd("GET").arg(key).query(c)?;
            seen = Some(current);
            redis::cmd("MULTI").query::<()>(c)?;
            if let Err(e) = redis::cmd("SET").arg(key).arg(new).query::<()>(c) {
                // Leave the connection out of MULTI for the next command.
                let _ = redis::cmd("DISCARD").query::<()>(c);
                return Err(e);
            }
            let exec: redis::Value = redis::cmd("EXEC").query(c)?;
            Ok(!matches!(exec, redis::Value::Nil))
        });
        let complete = result.is_some().then(|| self.now());
        if let Some(expect) = seen {
            self.history.push(Op {
                key: key.to_owned(),
                kind: Kind::Cas {
                    expect,
                    new: new.to_owned(),
                    ok: result.unwrap_or(false),
                },
                invoke,
                complete,
            });
        }
        result
    }
}
