//! Pub/sub: channel and pattern subscriptions, and message fan-out to subscriber
//! connections through per-client queues.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use okapi_engine::glob::glob_match;
use tokio::sync::mpsc;

use crate::clients::ClientInfo;

/// A message delivered to a subscriber.
#[derive(Debug, Clone)]
pub enum Message {
    /// Published to a channel the client subscribed to.
    Message {
        /// Channel.
        channel: Bytes,
        /// Payload.
        payload: Bytes,
    },
    /// Published to a channel matching a pattern the client subscribed to.
    PMessage {
        /// The matching pattern.
        pattern: Bytes,
        /// Channel.
        channel: Bytes,
        /// Payload.
        payload: Bytes,
    },
    /// A line for a MONITOR client: one command another client ran.
    Monitor(Bytes),
    /// Client-side caching: these keys changed (`None`: every key, after a flush).
    /// RESP3 connections get an `invalidate` push, RESP2 ones in pub/sub mode a
    /// message on `__redis__:invalidate`, others nothing (as Redis).
    Invalidate(Option<Vec<Bytes>>),
    /// Client-side caching: the client invalidations were redirected to is gone
    /// (RESP3 only).
    TrackingRedirBroken(u64),
}

impl Message {
    /// Bytes the message holds, for the slow-subscriber limit.
    pub fn size(&self) -> usize {
        match self {
            Message::Message { channel, payload } => channel.len() + payload.len() + 32,
            Message::PMessage {
                pattern,
                channel,
                payload,
            } => pattern.len() + channel.len() + payload.len() + 32,
            Message::Monitor(line) => line.len() + 16,
            Message::Invalidate(keys) => {
                keys.iter().flatten().map(|k| k.len() + 16).sum::<usize>() + 32
            }
            Message::TrackingRedirBroken(_) => 48,
        }
    }
}

/// A subscriber's queue.
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// Queue of messages for the connection.
    pub tx: mpsc::UnboundedSender<Message>,
    /// The subscribed client (its queued-bytes counter, and kill switch).
    pub client: Arc<ClientInfo>,
    /// Most bytes that may wait in the queue before the client is disconnected.
    pub limit: usize,
}

impl Subscriber {
    /// Queues `message`; false if the connection is gone (or was just disconnected for
    /// being too far behind).
    pub(crate) fn deliver(&self, message: Message) -> bool {
        let size = message.size();
        let queued = self.client.pubsub_queued.fetch_add(size, Ordering::Relaxed) + size;
        if queued > self.limit {
            // A subscriber that cannot keep up would grow without bound; Redis's
            // client-output-buffer-limit for pub/sub disconnects it too.
            self.client.kill();
            return false;
        }
        self.tx.send(message).is_ok()
    }
}

#[derive(Debug, Default)]
struct Inner {
    channels: HashMap<Bytes, HashMap<u64, Subscriber>>,
    patterns: HashMap<Bytes, HashMap<u64, Subscriber>>,
    monitors: HashMap<u64, Subscriber>,
}

/// The pub/sub hub of a node (MONITOR clients too: they are fed the same way).
#[derive(Debug, Default)]
pub struct PubSub {
    inner: Mutex<Inner>,
    /// MONITOR clients, for the executor's fast path.
    monitor_count: std::sync::atomic::AtomicUsize,
}

impl PubSub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Subscribes client `id` to `channel`; false if it already was.
    pub fn subscribe(&self, id: u64, channel: Bytes, sub: &Subscriber) -> bool {
        self.lock()
            .channels
            .entry(channel)
            .or_default()
            .insert(id, sub.clone())
            .is_none()
    }

    /// Unsubscribes client `id` from `channel`; false if it was not subscribed.
    pub fn unsubscribe(&self, id: u64, channel: &[u8]) -> bool {
        let mut inner = self.lock();
        let Some(subs) = inner.channels.get_mut(channel) else {
            return false;
        };
        let removed = subs.remove(&id).is_some();
        if subs.is_empty() {
            inner.channels.remove(channel);
        }
        removed
    }

    /// Subscribes client `id` to `pattern`; false if it already was.
    pub fn psubscribe(&self, id: u64, pattern: Bytes, sub: &Subscriber) -> bool {
        self.lock()
            .patterns
            .entry(pattern)
            .or_default()
            .insert(id, sub.clone())
            .is_none()
    }

    /// Unsubscribes client `id` from `pattern`.
    pub fn punsubscribe(&self, id: u64, pattern: &[u8]) -> bool {
        let mut inner = self.lock();
        let Some(subs) = inner.patterns.get_mut(pattern) else {
            return false;
        };
        let removed = subs.remove(&id).is_some();
        if subs.is_empty() {
            inner.patterns.remove(pattern);
        }
        removed
    }

    /// Makes client `id` a MONITOR client.
    pub fn monitor(&self, id: u64, sub: &Subscriber) {
        let mut inner = self.lock();
        inner.monitors.insert(id, sub.clone());
        self.monitor_count
            .store(inner.monitors.len(), Ordering::Relaxed);
    }

    /// Drops client `id` from the MONITOR clients.
    pub fn unmonitor(&self, id: u64) {
        let mut inner = self.lock();
        if inner.monitors.remove(&id).is_some() {
            self.monitor_count
                .store(inner.monitors.len(), Ordering::Relaxed);
        }
    }

    /// True when some client runs MONITOR.
    pub fn monitored(&self) -> bool {
        self.monitor_count.load(Ordering::Relaxed) > 0
    }

    /// Sends `line` to every MONITOR client but `from` (Redis does not echo a
    /// monitor's own commands back to it).
    pub fn feed_monitors(&self, from: u64, line: &Bytes) {
        let inner = self.lock();
        for (id, sub) in &inner.monitors {
            if *id != from {
                sub.deliver(Message::Monitor(line.clone()));
            }
        }
    }

    /// Delivers `payload` to every subscriber of `channel` and of matching patterns;
    /// returns how many received it.
    pub fn publish(&self, channel: &Bytes, payload: &Bytes) -> usize {
        let inner = self.lock();
        let mut receivers = 0;
        if let Some(subs) = inner.channels.get(channel) {
            for sub in subs.values() {
                receivers += usize::from(sub.deliver(Message::Message {
                    channel: channel.clone(),
                    payload: payload.clone(),
                }));
            }
        }
        for (pattern, subs) in &inner.patterns {
            if glob_match(pattern, channel, false) {
                for sub in subs.values() {
                    let message = Message::PMessage {
                        pattern: pattern.clone(),
                        channel: channel.clone(),
                        payload: payload.clone(),
                    };
                    receivers += usize::from(sub.deliver(message));
                }
            }
        }
        receivers
    }

    /// Active channels, optionally filtered by a glob.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.lock()
            .channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscriber count of each channel.
    pub fn numsub(&self, channels: &[Bytes]) -> Vec<(Bytes, usize)> {
        let inner = self.lock();
        channels
            .iter()
            .map(|c| (c.clone(), inner.channels.get(c).map_or(0, HashMap::len)))
            .collect()
    }

    /// Number of distinct patterns subscribed.
    pub fn numpat(&self) -> usize {
        self.lock().patterns.len()
    }

    /// Number of channels with subscribers.
    pub fn channel_count(&self) -> usize {
        self.lock().channels.len()
    }
}
