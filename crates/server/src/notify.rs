//! Keyspace notifications on this node: the `notify-keyspace-events` setting that the
//! shards' engines raise events by, and the publication of the events they raised as
//! pub/sub messages on `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>`.

use std::sync::atomic::{AtomicU32, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use okapi_engine::notify::{EventClass, KeyEvent, NotifyConfig};

use crate::pubsub::PubSub;

const KEYSPACE_BIT: u32 = 1 << 16;
const KEYEVENT_BIT: u32 = 1 << 17;

/// The node's `notify-keyspace-events`, readable on every apply without a lock.
#[derive(Debug, Default)]
pub struct KeyspaceNotify {
    bits: AtomicU32,
}

impl KeyspaceNotify {
    /// The setting `config`.
    pub fn new(config: NotifyConfig) -> Self {
        let notify = Self::default();
        notify.set(config);
        notify
    }

    /// Changes the setting; applies from the next entry applied.
    pub fn set(&self, config: NotifyConfig) {
        let mut bits = u32::from(config.classes.bits());
        if config.keyspace {
            bits |= KEYSPACE_BIT;
        }
        if config.keyevent {
            bits |= KEYEVENT_BIT;
        }
        self.bits.store(bits, Ordering::Relaxed);
    }

    /// The setting.
    pub fn config(&self) -> NotifyConfig {
        let bits = self.bits.load(Ordering::Relaxed);
        NotifyConfig {
            classes: EventClass::from_bits(bits as u16),
            keyspace: bits & KEYSPACE_BIT != 0,
            keyevent: bits & KEYEVENT_BIT != 0,
        }
    }

    /// The classes engines must raise (none unless a channel is on).
    pub fn raised(&self) -> EventClass {
        self.config().raised()
    }

    /// Publishes `events` in order, each on the channels the setting turns on (the
    /// keyspace channel first, as Redis).
    pub fn publish(&self, pubsub: &PubSub, events: &[KeyEvent]) {
        let config = self.config();
        let mut db_text = itoa::Buffer::new();
        for event in events {
            // Client-side caching may have raised more classes than announced.
            if !config.classes.intersects(event.class) {
                continue;
            }
            let db = db_text.format(event.db.0).as_bytes();
            let name = Bytes::from_static(event.event.as_bytes());
            if config.keyspace {
                let channel = channel(b"__keyspace@", db, &event.key);
                pubsub.publish(&channel, &name);
            }
            if config.keyevent {
                let channel = channel(b"__keyevent@", db, &name);
                pubsub.publish(&channel, &event.key);
            }
        }
    }
}

fn channel(prefix: &[u8], db: &[u8], tail: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(prefix.len() + db.len() + 3 + tail.len());
    out.put_slice(prefix);
    out.put_slice(db);
    out.put_slice(b"__:");
    out.put_slice(tail);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_round_trips_through_the_atomic() {
        for text in ["", "KEA", "Kl", "Exn", "AKEnm", "Kd"] {
            let config = NotifyConfig::parse(text).expect(text);
            assert_eq!(KeyspaceNotify::new(config).config(), config, "{text}");
        }
        let notify = KeyspaceNotify::new(NotifyConfig::parse("A").expect("valid"));
        assert!(notify.raised().is_empty(), "no channel, nothing raised");
    }

    #[test]
    fn channels_name_the_namespace_and_the_key_or_event() {
        assert_eq!(
            channel(b"__keyspace@", b"12", b"foo"),
            Bytes::from_static(b"__keyspace@12__:foo")
        );
    }
}
