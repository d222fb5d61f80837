//! SLOWLOG: the commands that took longer than `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them, each as Redis
//! records it (id, Unix time, microseconds, arguments trimmed to 32 and each to 128
//! bytes, client address and name).
//!
//! okapi's duration runs from the moment the command is taken up to the moment its
//! reply exists: for a write that includes committing and applying it through the log
//! (Redis's excludes I/O, which for okapi's writes is part of the work). A blocking
//! command counts its attempts, not its wait; EXEC is not logged, as in Redis, and
//! credentials are redacted (see [`crate::redact`]).

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use okapi_engine::Reply;

const MAX_ARGS: usize = 32;
const MAX_ARG_BYTES: usize = 128;

struct Entry {
    id: u64,
    time_s: u64,
    duration_us: u64,
    argv: Vec<Bytes>,
    addr: String,
    name: Bytes,
}

#[derive(Default)]
struct Inner {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// The node's slow log.
#[derive(Default)]
pub struct SlowLog {
    inner: Mutex<Inner>,
}

/// Whether `command` is logged (EXEC stands for the commands it ran).
pub fn loggable(command: &[u8]) -> bool {
    !command.eq_ignore_ascii_case(b"exec")
}

impl SlowLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `argv` if it took at least `threshold_us` (negative: never).
    pub fn record(
        &self,
        threshold_us: i64,
        max_len: usize,
        duration_us: u64,
        argv: &[Bytes],
        addr: &str,
        name: Bytes,
    ) {
        if threshold_us < 0 || duration_us < threshold_us as u64 || !loggable(&argv[0]) {
            return;
        }
        let shown = argv.len().min(MAX_ARGS);
        let mut args: Vec<Bytes> = argv[..shown]
            .iter()
            .enumerate()
            .map(|(i, arg)| {
                if i == MAX_ARGS - 1 && argv.len() > MAX_ARGS {
                    Bytes::from(format!(
                        "... ({} more arguments)",
                        argv.len() - MAX_ARGS + 1
                    ))
                } else if arg.len() > MAX_ARG_BYTES {
                    let mut cut = arg[..MAX_ARG_BYTES].to_vec();
                    cut.extend_from_slice(
                        format!("... ({} more bytes)", arg.len() - MAX_ARG_BYTES).as_bytes(),
                    );
                    Bytes::from(cut)
                } else {
                    // Owned, so the entry does not keep a request buffer alive.
                    Bytes::copy_from_slice(arg)
                }
            })
            .collect();
        args.shrink_to_fit();
        let time_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.entries.push_front(Entry {
            id,
            time_s,
            duration_us,
            argv: args,
            addr: addr.to_owned(),
            name,
        });
        inner.entries.truncate(max_len);
    }

    /// SLOWLOG GET: the newest `count` entries (`None`: all).
    pub fn get(&self, count: Option<usize>) -> Reply {
        let inner = self.lock();
        let take = count.unwrap_or(usize::MAX);
        Reply::Array(
            inner
                .entries
                .iter()
                .take(take)
                .map(|e| {
                    Reply::Array(vec![
                        Reply::Int(e.id as i64),
                        Reply::Int(e.time_s as i64),
                        Reply::Int(e.duration_us as i64),
                        Reply::Array(e.argv.iter().cloned().map(Reply::Bulk).collect()),
                        Reply::Bulk(Bytes::from(e.addr.clone())),
                        Reply::Bulk(e.name.clone()),
                    ])
                })
                .collect(),
        )
    }

    /// SLOWLOG LEN.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// SLOWLOG RESET (ids keep counting, as Redis's).
    pub fn reset(&self) {
        self.lock().entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&[u8]]) -> Vec<Bytes> {
        args.iter().map(|a| Bytes::copy_from_slice(a)).collect()
    }

    #[test]
    fn entries_are_trimmed_counted_and_capped_as_redis_does() {
        let log = SlowLog::default();
        log.record(-1, 10, 99, &argv(&[b"GET", b"k"]), "a:1", Bytes::new());
        log.record(100, 10, 99, &argv(&[b"GET", b"k"]), "a:1", Bytes::new());
        log.record(0, 10, 5, &argv(&[b"EXEC"]), "a:1", Bytes::new());
        assert_eq!(log.len(), 0, "off, below the threshold, or EXEC");
        let long = vec![b'x'; 130];
        let mut many: Vec<&[u8]> = vec![b"DEL"];
        many.extend(std::iter::repeat_n(&b"k"[..], 40));
        log.record(
            0,
            2,
            7,
            &argv(&[b"SET", b"k", &long]),
            "a:1",
            Bytes::from("me"),
        );
        log.record(0, 2, 8, &argv(&many), "a:2", Bytes::new());
        log.record(0, 2, 9, &argv(&[b"PING"]), "a:3", Bytes::new());
        assert_eq!(log.len(), 2, "capped at max_len");
        let Reply::Array(entries) = log.get(None) else {
            panic!("an array");
        };
        let Reply::Array(newest) = &entries[0] else {
            panic!("an entry");
        };
        assert_eq!(newest[0], Reply::Int(2), "ids count every entry");
        let Reply::Array(second) = &entries[1] else {
            panic!("an entry");
        };
        let Reply::Array(args) = &second[3] else {
            panic!("arguments");
        };
        assert_eq!(args.len(), 32);
        assert_eq!(
            args[31],
            Reply::Bulk(Bytes::from("... (10 more arguments)"))
        );
        log.reset();
        assert!(log.is_empty());
    }
}
