//! Client-side caching (CLIENT TRACKING): which clients may hold which keys, and the
//! invalidation messages they get when those keys change.
//!
//! As in Redis, keys are tracked by name whatever their namespace. In the default mode
//! a client is remembered for each key its read-only commands read, and forgotten for
//! that key once told it changed; in BCAST mode it hears of every change to a key
//! under one of its prefixes, and nothing is remembered. Changes are the keys of the
//! events each applied entry raised (the node raises every class while a client
//! tracks), so every replica tells its own clients about the writes it applies.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use okapi_engine::notify::KeyEvent;
use okapi_types::Writer;

use crate::pubsub::{Message, Subscriber};

/// How a client tracks (the options of CLIENT TRACKING ON).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingOptions {
    /// Client that receives the invalidations (0: the client itself).
    pub redirect: u64,
    /// BCAST: every change under a prefix, nothing remembered.
    pub bcast: bool,
    /// OPTIN: only reads right after CLIENT CACHING YES are remembered.
    pub optin: bool,
    /// OPTOUT: reads right after CLIENT CACHING NO are not remembered.
    pub optout: bool,
    /// BCAST prefixes (none: every key).
    pub prefixes: Vec<Bytes>,
    /// NOLOOP: not told of changes this client made itself.
    pub noloop: bool,
}

/// A tracking client as CLIENT TRACKINGINFO shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackerView {
    /// Its options.
    pub options: TrackingOptions,
    /// Its redirect target has disconnected.
    pub broken_redirect: bool,
}

#[derive(Debug)]
struct Tracker {
    options: TrackingOptions,
    broken: bool,
}

#[derive(Debug, Default)]
struct Inner {
    trackers: HashMap<u64, Tracker>,
    /// Message queues of connections that have one (subscribers and trackers): where
    /// invalidations for a client, or for those redirecting to it, are delivered.
    endpoints: HashMap<u64, Subscriber>,
    /// Default mode: the clients that read each key since it last changed.
    table: HashMap<Bytes, HashSet<u64>>,
    /// Entries of `table`, all keys together.
    items: usize,
    /// BCAST: the clients of each prefix.
    prefixes: BTreeMap<Bytes, BTreeSet<u64>>,
}

/// The node's tracking state.
#[derive(Debug, Default)]
pub struct Tracking {
    inner: Mutex<Inner>,
    /// Clients with tracking on: the node raises events for every change while any.
    clients: AtomicUsize,
}

/// Why CLIENT TRACKING ON was refused (Redis's texts).
fn overlap(new: &[u8], old: &[u8], existing: bool) -> String {
    format!(
        "ERR Prefix '{}' overlaps with {} prefix '{}'. Prefixes for a single client must not overlap.",
        String::from_utf8_lossy(new),
        if existing {
            "an existing"
        } else {
            "another provided"
        },
        String::from_utf8_lossy(old)
    )
}

fn overlaps(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

impl Inner {
    fn lock(tracking: &Tracking) -> std::sync::MutexGuard<'_, Inner> {
        tracking
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Delivers `message` for tracker `id`: to its redirect target, or itself.
    fn send(&self, id: u64, message: impl FnOnce() -> Message) {
        let Some(tracker) = self.trackers.get(&id) else {
            return;
        };
        if tracker.broken {
            if let Some(own) = self.endpoints.get(&id) {
                own.deliver(Message::TrackingRedirBroken(tracker.options.redirect));
            }
            return;
        }
        let to = match tracker.options.redirect {
            0 => id,
            target => target,
        };
        if let Some(endpoint) = self.endpoints.get(&to) {
            endpoint.deliver(message());
        }
    }

    fn forget_prefixes(&mut self, id: u64, prefixes: &[Bytes]) {
        for prefix in prefixes {
            if let Some(clients) = self.prefixes.get_mut(prefix) {
                clients.remove(&id);
                if clients.is_empty() {
                    self.prefixes.remove(prefix);
                }
            }
        }
    }
}

impl Tracking {
    /// True while some client tracks.
    pub fn active(&self) -> bool {
        self.clients.load(Ordering::Relaxed) > 0
    }

    /// Registers client `id`'s message queue.
    pub fn register_endpoint(&self, id: u64, endpoint: Subscriber) {
        Inner::lock(self).endpoints.insert(id, endpoint);
    }

    /// Forgets client `id` (it disconnected): its tracking, its queue, and the
    /// redirections to it, which are broken from now on.
    pub fn unregister(&self, id: u64) {
        self.disable(id);
        let mut inner = Inner::lock(self);
        inner.endpoints.remove(&id);
        for tracker in inner.trackers.values_mut() {
            if tracker.options.redirect == id {
                tracker.broken = true;
            }
        }
    }

    /// CLIENT TRACKING ON for client `id`, after Redis's checks against its current
    /// mode. The redirect target was checked to exist by the caller.
    pub fn enable(&self, id: u64, options: TrackingOptions) -> Result<(), String> {
        let mut inner = Inner::lock(self);
        let current = inner.trackers.get(&id);
        if let Some(current) = current
            && current.options.bcast != options.bcast
        {
            return Err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.".into());
        }
        if options.bcast && (options.optin || options.optout) {
            return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".into());
        }
        if options.optin && options.optout {
            return Err("ERR You can't specify both OPTIN mode and OPTOUT mode".into());
        }
        if let Some(current) = current
            && ((options.optin && current.options.optout)
                || (options.optout && current.options.optin))
        {
            return Err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.".into());
        }
        let existing: &[Bytes] = current.map_or(&[], |c| &c.options.prefixes);
        if options.bcast {
            for (i, new) in options.prefixes.iter().enumerate() {
                if let Some(old) = existing.iter().find(|old| overlaps(old, new)) {
                    return Err(overlap(new, old, true));
                }
                if let Some(other) = options.prefixes[i + 1..].iter().find(|o| overlaps(new, o)) {
                    return Err(overlap(new, other, false));
                }
            }
        }
        let mut prefixes: Vec<Bytes> = existing.to_vec();
        if options.bcast {
            let wanted = if options.prefixes.is_empty() {
                vec![Bytes::new()]
            } else {
                options.prefixes.clone()
            };
            for prefix in wanted {
                if !prefixes.contains(&prefix) {
                    prefixes.push(prefix.clone());
                }
                inner.prefixes.entry(prefix).or_default().insert(id);
            }
        }
        let tracker = Tracker {
            options: TrackingOptions {
                prefixes,
                ..options
            },
            broken: false,
        };
        if inner.trackers.insert(id, tracker).is_none() {
            self.clients.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// CLIENT TRACKING OFF for client `id` (the keys it read stay in the table until
    /// they change, as in Redis; nothing is sent for them then).
    pub fn disable(&self, id: u64) {
        let mut inner = Inner::lock(self);
        if let Some(tracker) = inner.trackers.remove(&id) {
            self.clients.fetch_sub(1, Ordering::Relaxed);
            inner.forget_prefixes(id, &tracker.options.prefixes);
        }
    }

    /// Client `id`'s tracking, if on.
    pub fn view(&self, id: u64) -> Option<TrackerView> {
        Inner::lock(self).trackers.get(&id).map(|t| TrackerView {
            options: t.options.clone(),
            broken_redirect: t.broken,
        })
    }

    /// Remembers that client `id` read `keys`; past `max_keys` tracked keys (0: no
    /// limit), keys are dropped from the table and their readers told, as if changed.
    pub fn remember<'a>(&self, id: u64, keys: impl Iterator<Item = &'a Bytes>, max_keys: usize) {
        let mut inner = Inner::lock(self);
        for key in keys {
            let readers = match inner.table.get_mut(key.as_ref()) {
                Some(readers) => readers,
                // Copied: the request's key is a slice of the connection's read buffer.
                None => inner.table.entry(Bytes::copy_from_slice(key)).or_default(),
            };
            if readers.insert(id) {
                inner.items += 1;
            }
        }
        if max_keys > 0 && inner.table.len() > max_keys {
            // Down to 90% of the limit in one pass over the table, so a full table
            // is not walked again on every read that adds a key.
            let keep = max_keys - max_keys / 10;
            let victims: Vec<Bytes> = inner
                .table
                .keys()
                .take(inner.table.len() - keep)
                .cloned()
                .collect();
            for key in victims {
                invalidate_key(&mut inner, &key, None);
            }
        }
    }

    /// Tells the clients concerned that the keys of the events changed: one applied
    /// entry's events, part by part with the part's writer (a writer of this process,
    /// whose token is `process`, is one of its clients: NOLOOP leaves it out).
    pub fn invalidate(&self, changes: &[(Writer, Vec<KeyEvent>)], process: u64) {
        if changes.is_empty() || !self.active() {
            return;
        }
        let mut inner = Inner::lock(self);
        // BCAST: per prefix, the keys changed and the last client that changed each.
        let mut broadcast: BTreeMap<Bytes, BTreeMap<Bytes, Option<u64>>> = BTreeMap::new();
        for (writer, events) in changes {
            let by = (writer.process == process).then_some(writer.client);
            for event in events {
                if !inner.table.is_empty() {
                    invalidate_key(&mut inner, &event.key, by);
                }
                for prefix in inner.prefixes.keys() {
                    if event.key.starts_with(prefix) {
                        broadcast
                            .entry(prefix.clone())
                            .or_default()
                            .insert(event.key.clone(), by);
                    }
                }
            }
        }
        for (prefix, keys) in broadcast {
            let Some(clients) = inner.prefixes.get(&prefix) else {
                continue;
            };
            let all: Vec<Bytes> = keys.keys().cloned().collect();
            for &id in clients {
                let noloop = inner.trackers.get(&id).is_some_and(|t| t.options.noloop);
                let keys: Vec<Bytes> = if noloop {
                    keys.iter()
                        .filter(|(_, by)| **by != Some(id))
                        .map(|(k, _)| k.clone())
                        .collect()
                } else {
                    all.clone()
                };
                if !keys.is_empty() {
                    inner.send(id, || Message::Invalidate(Some(keys)));
                }
            }
        }
    }

    /// Every key may have changed (FLUSHDB, FLUSHALL): every tracking client is told
    /// so with a null, and the table is emptied.
    pub fn flush(&self) {
        if !self.active() {
            return;
        }
        let mut inner = Inner::lock(self);
        inner.table.clear();
        inner.items = 0;
        let ids: Vec<u64> = inner.trackers.keys().copied().collect();
        for id in ids {
            inner.send(id, || Message::Invalidate(None));
        }
    }

    /// Clients tracking.
    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// INFO's `tracking_total_keys`, `tracking_total_items`, `tracking_total_prefixes`.
    pub fn totals(&self) -> (usize, usize, usize) {
        let inner = Inner::lock(self);
        (inner.table.len(), inner.items, inner.prefixes.len())
    }
}

/// Drops `key` from the table and tells its readers (still tracking, not in BCAST
/// mode) that it changed; a NOLOOP reader that changed it itself (`by`) is not told.
fn invalidate_key(inner: &mut Inner, key: &Bytes, by: Option<u64>) {
    let Some(readers) = inner.table.remove(key) else {
        return;
    };
    inner.items -= readers.len();
    for id in readers {
        let told = inner
            .trackers
            .get(&id)
            .is_some_and(|t| !(t.options.bcast || (t.options.noloop && by == Some(id))));
        if told {
            inner.send(id, || Message::Invalidate(Some(vec![key.clone()])));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_of_one_client_must_not_overlap() {
        let t = Tracking::default();
        let bcast = |prefixes: &[&str]| TrackingOptions {
            bcast: true,
            prefixes: prefixes
                .iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect(),
            ..TrackingOptions::default()
        };
        let e = t.enable(1, bcast(&["a", "ab"])).expect_err("overlap");
        assert!(
            e.contains("'a' overlaps with another provided prefix 'ab'"),
            "{e}"
        );
        t.enable(1, bcast(&["a"])).expect("fine");
        let e = t.enable(1, bcast(&["ax"])).expect_err("overlap");
        assert!(
            e.contains("'ax' overlaps with an existing prefix 'a'"),
            "{e}"
        );
        let e = t
            .enable(1, bcast(&["a"]))
            .expect_err("the same prefix again");
        assert!(
            e.contains("'a' overlaps with an existing prefix 'a'"),
            "{e}"
        );
        t.enable(1, bcast(&["b"])).expect("adds a prefix");
        assert_eq!(t.view(1).expect("on").options.prefixes.len(), 2);
        assert_eq!(t.totals().2, 2);
        t.disable(1);
        assert_eq!(t.totals().2, 0);
        assert!(!t.active());
    }

    #[test]
    fn modes_cannot_switch_while_on() {
        let t = Tracking::default();
        t.enable(
            1,
            TrackingOptions {
                optin: true,
                ..TrackingOptions::default()
            },
        )
        .expect("on");
        let e = t
            .enable(
                1,
                TrackingOptions {
                    optout: true,
                    ..TrackingOptions::default()
                },
            )
            .expect_err("switch");
        assert!(e.contains("switch OPTIN/OPTOUT"), "{e}");
        let e = t
            .enable(
                1,
                TrackingOptions {
                    bcast: true,
                    ..TrackingOptions::default()
                },
            )
            .expect_err("switch");
        assert!(e.contains("switch BCAST"), "{e}");
        assert_eq!(t.client_count(), 1);
    }

    #[test]
    fn the_table_stays_under_its_limit() {
        let t = Tracking::default();
        t.enable(7, TrackingOptions::default()).expect("on");
        let keys: Vec<Bytes> = (0..10).map(|i| Bytes::from(format!("k{i}"))).collect();
        t.remember(7, keys.iter(), 4);
        assert_eq!(t.totals(), (4, 4, 0));
        t.remember(7, keys.iter(), 100);
        assert_eq!(t.totals().0, 10);
        t.remember(7, keys[..1].iter(), 5);
        assert_eq!(t.totals().0, 5, "down to 90% of the limit, rounded up");
        t.remember(8, keys[..1].iter(), 0);
        assert!(t.totals().1 >= 4);
    }
}
