//! Per-command and per-error counters for INFO `commandstats` and `errorstats`, in
//! Redis's shapes: calls, time, rejected and failed calls of every command and
//! subcommand, and error replies counted by their code (the error's first word).
//!
//! Commands count in atomics indexed by name (the names are fixed at start: the
//! command table and its subcommands), so the hot path takes no lock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};

/// Redis stops counting new error codes past this many (`ERROR_STATS_NUMBER`), so a
/// client sending junk cannot grow the table without bound.
const MAX_ERROR_CODES: usize = 128;

/// Every command and subcommand name (`container|sub`) with its slot, and the names
/// of the commands that have subcommands.
struct Names {
    names: Vec<&'static str>,
    slots: HashMap<&'static str, usize, foldhash::fast::FixedState>,
    containers: HashSet<&'static str, foldhash::fast::FixedState>,
}

static NAMES: LazyLock<Names> = LazyLock::new(|| {
    let mut names: Vec<&'static str> = okapi_commands::spec::all().map(|s| s.name).collect();
    let subs: Vec<&'static str> = okapi_commands::docs::rows()
        .map(|d| d.name)
        .filter(|n| n.contains('|'))
        .collect();
    let containers = subs
        .iter()
        .filter_map(|n| n.split_once('|').map(|(container, _)| container))
        .collect();
    names.extend(subs);
    names.sort_unstable();
    names.dedup();
    let slots = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    Names {
        names,
        slots,
        containers,
    }
});

/// Where the counters of the request `argv` (its command resolved as `command`) are:
/// `container|sub` when the command has subcommands and `argv[1]` is one, else the
/// command's own. Called once per request, so the common case is one hash lookup.
pub fn slot_for(command: &'static str, argv: &[bytes::Bytes]) -> Option<usize> {
    let names = &*NAMES;
    if let Some(sub) = argv.get(1)
        && names.containers.contains(command)
    {
        // `container|sub` lower-cased on the stack: every name is short, and a longer
        // word is no subcommand.
        let mut full = [0u8; 64];
        let len = command.len() + 1 + sub.len();
        if len <= full.len() {
            full[..command.len()].copy_from_slice(command.as_bytes());
            full[command.len()] = b'|';
            full[command.len() + 1..len].copy_from_slice(sub);
            full[..len].make_ascii_lowercase();
            if let Some(&slot) = std::str::from_utf8(&full[..len])
                .ok()
                .and_then(|name| names.slots.get(name))
            {
                return Some(slot);
            }
        }
    }
    names.slots.get(command).copied()
}

/// [`slot_for`] from the request alone (resolving its command).
pub fn slot_of(argv: &[bytes::Bytes]) -> Option<usize> {
    let spec = okapi_commands::spec::lookup(argv.first()?)?;
    slot_for(spec.name, argv)
}

#[derive(Debug)]
struct Counters {
    calls: AtomicU64,
    usec: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    /// Calls by duration, powers of two µs (LATENCY HISTOGRAM).
    histogram: [AtomicU64; crate::latency::BUCKETS],
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            calls: AtomicU64::new(0),
            usec: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            histogram: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// One command's line of INFO commandstats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandStat {
    /// `get`, `client|id` ...
    pub name: &'static str,
    /// Calls that ran.
    pub calls: u64,
    /// Their total time, µs.
    pub usec: u64,
    /// Calls refused before they ran (arity, authentication, routing, OOM ...).
    pub rejected: u64,
    /// Calls that ran and answered an error.
    pub failed: u64,
}

/// One command's LATENCY HISTOGRAM entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    /// The command.
    pub name: &'static str,
    /// Its calls.
    pub calls: u64,
    /// `(bucket upper bound µs, calls at most that long)`, where the count grows.
    pub buckets: Vec<(u64, u64)>,
}

impl Histogram {
    /// The value at percentile `p` (0-100): the upper bound, in µs, of the bucket the
    /// `p`th percentile call falls in.
    pub fn percentile(&self, p: f64) -> u64 {
        let rank = ((p / 100.0) * self.calls as f64).ceil().max(1.0) as u64;
        self.buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= rank)
            .or(self.buckets.last())
            .map_or(0, |(bound, _)| *bound)
    }
}

/// The node's command and error counters.
#[derive(Debug)]
pub struct CommandStats {
    counters: Vec<Counters>,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Default for CommandStats {
    fn default() -> Self {
        Self {
            counters: (0..NAMES.names.len())
                .map(|_| Counters::default())
                .collect(),
            errors: Mutex::new(BTreeMap::new()),
        }
    }
}

impl CommandStats {
    /// A call of the command at `slot` (see [`slot_for`]) that ran for `usec` µs and
    /// answered an error if `failed`.
    /// With `histogram` (`latency-tracking`), the call also counts in its command's
    /// latency histogram.
    pub fn ran(&self, slot: usize, usec: u64, failed: bool, histogram: bool) {
        if let Some(c) = self.counters.get(slot) {
            c.calls.fetch_add(1, Ordering::Relaxed);
            c.usec.fetch_add(usec, Ordering::Relaxed);
            if histogram {
                c.histogram[crate::latency::bucket(usec)].fetch_add(1, Ordering::Relaxed);
            }
            if failed {
                c.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A call of the command at `slot` refused before it ran.
    pub fn rejected(&self, slot: usize) {
        if let Some(c) = self.counters.get(slot) {
            c.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An error reply: counted under its code, the first word of `message` when it
    /// has one within 32 bytes (as Redis), `ERR` otherwise.
    pub fn error(&self, message: &str) {
        let code = message
            .get(..message.len().min(32))
            .and_then(|head| head.find(' '))
            .map_or("ERR", |end| &message[..end]);
        let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = errors.get_mut(code) {
            *count += 1;
        } else if errors.len() < MAX_ERROR_CODES {
            errors.insert(code.to_owned(), 1);
        }
    }

    /// Commands called or refused since the last reset, by name.
    pub fn commands(&self) -> Vec<CommandStat> {
        NAMES
            .names
            .iter()
            .zip(&self.counters)
            .filter_map(|(name, c)| {
                let stat = CommandStat {
                    name,
                    calls: c.calls.load(Ordering::Relaxed),
                    usec: c.usec.load(Ordering::Relaxed),
                    rejected: c.rejected.load(Ordering::Relaxed),
                    failed: c.failed.load(Ordering::Relaxed),
                };
                (stat.calls + stat.rejected > 0).then_some(stat)
            })
            .collect()
    }

    /// LATENCY HISTOGRAM: for each command called (of `only`, when given), its calls
    /// and the cumulative count at each power-of-two µs bucket where it grows.
    pub fn histograms(&self, only: &[String]) -> Vec<Histogram> {
        NAMES
            .names
            .iter()
            .zip(&self.counters)
            .filter(|(name, _)| only.is_empty() || only.iter().any(|o| o == *name))
            .filter_map(|(name, c)| {
                let calls: u64 = c.histogram.iter().map(|b| b.load(Ordering::Relaxed)).sum();
                if calls == 0 {
                    return None;
                }
                let mut cumulative = 0;
                let mut buckets = Vec::new();
                for (i, count) in c.histogram.iter().enumerate() {
                    let count = count.load(Ordering::Relaxed);
                    if count > 0 {
                        cumulative += count;
                        buckets.push((1u64 << i, cumulative));
                    }
                }
                Some(Histogram {
                    name,
                    calls,
                    buckets,
                })
            })
            .collect()
    }

    /// Error replies by code since the last reset.
    pub fn errors(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for c in &self.counters {
            c.calls.store(0, Ordering::Relaxed);
            c.usec.store(0, Ordering::Relaxed);
            c.rejected.store(0, Ordering::Relaxed);
            c.failed.store(0, Ordering::Relaxed);
            for bucket in &c.histogram {
                bucket.store(0, Ordering::Relaxed);
            }
        }
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn percentiles_are_the_bounds_of_their_buckets() {
        let h = Histogram {
            name: "get",
            calls: 100,
            buckets: vec![(1, 50), (4, 98), (64, 100)],
        };
        assert_eq!(h.percentile(50.0), 1);
        assert_eq!(h.percentile(50.1), 4);
        assert_eq!(h.percentile(99.0), 64);
        assert_eq!(h.percentile(0.0), 1);
        assert_eq!(h.percentile(100.0), 64);
    }

    #[test]
    fn errors_count_by_code() {
        let s = CommandStats::default();
        s.error("WRONGTYPE Operation against a key holding the wrong kind of value");
        s.error("ERR syntax error");
        s.error("ERR unknown command");
        s.error("NOSPACEHERE");
        assert_eq!(
            s.errors(),
            vec![("ERR".to_owned(), 3), ("WRONGTYPE".to_owned(), 1)]
        );
        for i in 0..200 {
            s.error(&format!("CODE{i} x"));
        }
        assert_eq!(s.errors().len(), MAX_ERROR_CODES);
    }

    #[test]
    fn commands_and_subcommands_have_their_own_lines() {
        let s = CommandStats::default();
        let argv = |words: &[&str]| -> Vec<Bytes> {
            words
                .iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect()
        };
        let name = |words: &[&str]| slot_of(&argv(words)).map(|slot| NAMES.names[slot]);
        assert_eq!(name(&["GET", "k"]), Some("get"));
        assert_eq!(name(&["client", "ID"]), Some("client|id"));
        assert_eq!(name(&["client", "nosuch"]), Some("client"));
        assert_eq!(name(&["nosuch"]), None);
        let get = slot_of(&argv(&["GET"])).expect("get");
        s.ran(get, 5, false, true);
        s.ran(get, 7, true, true);
        s.rejected(slot_of(&argv(&["CLIENT", "ID"])).expect("client|id"));
        let stats = s.commands();
        assert_eq!(
            stats,
            vec![
                CommandStat {
                    name: "client|id",
                    calls: 0,
                    usec: 0,
                    rejected: 1,
                    failed: 0
                },
                CommandStat {
                    name: "get",
                    calls: 2,
                    usec: 12,
                    rejected: 0,
                    failed: 1
                },
            ]
        );
        s.reset();
        assert!(s.commands().is_empty());
    }
}
