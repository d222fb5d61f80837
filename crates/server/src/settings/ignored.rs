//! Redis parameters okapi accepts for compatibility but does not act on, and the
//! values among them okapi refuses because they would switch on a feature it lacks.

/// Redis parameters okapi accepts and echoes but does not act on, with Redis's
/// defaults. Encoding thresholds, RDB/AOF-rewrite and lazy-free knobs have no meaning
/// for okapi's data structures and storage.
pub const IGNORED: &[(&str, &str)] = &[
    ("activedefrag", "no"),
    ("activerehashing", "yes"),
    ("active-defrag-cycle-max", "25"),
    ("active-defrag-cycle-min", "1"),
    ("active-defrag-ignore-bytes", "104857600"),
    ("active-defrag-threshold-lower", "10"),
    ("active-defrag-threshold-upper", "100"),
    ("active-expire-effort", "1"),
    ("aof-rewrite-incremental-fsync", "yes"),
    ("aof-use-rdb-preamble", "yes"),
    ("appendfilename", "appendonly.aof"),
    ("appendonly", "yes"),
    ("auto-aof-rewrite-min-size", "67108864"),
    ("auto-aof-rewrite-percentage", "100"),
    (
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    ("dbfilename", "dump.rdb"),
    ("dynamic-hz", "yes"),
    ("enable-debug-command", "no"),
    ("hash-max-listpack-entries", "128"),
    ("hash-max-listpack-value", "64"),
    ("hash-max-ziplist-entries", "128"),
    ("hash-max-ziplist-value", "64"),
    ("hll-sparse-max-bytes", "3000"),
    ("io-threads", "1"),
    ("jemalloc-bg-thread", "yes"),
    ("lazyfree-lazy-eviction", "no"),
    ("lazyfree-lazy-expire", "no"),
    ("lazyfree-lazy-server-del", "no"),
    ("lazyfree-lazy-user-del", "no"),
    ("lazyfree-lazy-user-flush", "no"),
    ("lfu-decay-time", "1"),
    ("lfu-log-factor", "10"),
    ("list-compress-depth", "0"),
    ("list-max-listpack-size", "-2"),
    ("list-max-ziplist-size", "-2"),
    ("maxmemory-samples", "5"),
    ("min-replicas-max-lag", "10"),
    ("min-replicas-to-write", "0"),
    ("no-appendfsync-on-rewrite", "no"),
    ("rdbchecksum", "yes"),
    ("rdbcompression", "yes"),
    ("repl-backlog-size", "1048576"),
    ("repl-diskless-sync", "yes"),
    ("replica-read-only", "yes"),
    ("save", ""),
    ("set-max-intset-entries", "512"),
    ("set-max-listpack-entries", "128"),
    ("set-max-listpack-value", "64"),
    ("stop-writes-on-bgsave-error", "yes"),
    ("stream-node-max-bytes", "4096"),
    ("stream-node-max-entries", "100"),
    ("tcp-keepalive", "300"),
    ("zset-max-listpack-entries", "128"),
    ("zset-max-listpack-value", "64"),
    ("zset-max-ziplist-entries", "128"),
    ("zset-max-ziplist-value", "64"),
];

/// Why okapi refuses `value` for the accepted-but-ignored parameter `name`, when that
/// value would switch on a Redis feature okapi does not have: accepting it would
/// claim the feature works. `None`: the value is harmless to accept.
pub fn missing_feature(name: &str, value: &str) -> Option<String> {
    let off = |v: &str| v.is_empty() || v == "0" || v.eq_ignore_ascii_case("no");
    let why = match name {
        "appendonly" if value.eq_ignore_ascii_case("no") => {
            "okapi always logs every write (its WAL cannot be turned off)"
        }
        "appendonly" if !value.eq_ignore_ascii_case("yes") => {
            return Some("argument must be 'yes' or 'no'".to_owned());
        }
        "save" if !value.trim().is_empty() => {
            "okapi has no RDB save points: snapshots follow snapshot-log-bytes and snapshot-entries"
        }
        "activedefrag" if !off(value) => "okapi has no active defragmentation",
        "min-replicas-to-write" if !off(value) => {
            "okapi has no asynchronous replicas to count (writes commit through its Raft log)"
        }
        _ => return None,
    };
    Some(format!("{why}; '{value}' is refused rather than ignored"))
}
