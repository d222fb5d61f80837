//! Keyspace notifications: the events writes raise for subscribers of
//! `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` (Redis's
//! `notify-keyspace-events`).
//!
//! Events are raised where ops apply, so every replica raises the same ones for the
//! same log and a client subscribed on any node hears the writes that node applies
//! (Redis's replicas notify the commands they replay too). Which classes are raised is
//! the node's own setting, not replicated state: it changes what is announced, never
//! what is stored. With no class enabled raising costs one branch.

use bytes::Bytes;
use okapi_types::Namespace;

/// A set of event classes, one bit per letter of `notify-keyspace-events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventClass(u16);

impl EventClass {
    /// No class.
    pub const NONE: EventClass = EventClass(0);
    /// `g`: commands that work on any type (DEL, EXPIRE, RENAME ...).
    pub const GENERIC: EventClass = EventClass(1 << 0);
    /// `$`: string commands.
    pub const STRING: EventClass = EventClass(1 << 1);
    /// `l`: list commands.
    pub const LIST: EventClass = EventClass(1 << 2);
    /// `s`: set commands.
    pub const SET: EventClass = EventClass(1 << 3);
    /// `h`: hash commands.
    pub const HASH: EventClass = EventClass(1 << 4);
    /// `z`: sorted set commands.
    pub const ZSET: EventClass = EventClass(1 << 5);
    /// `x`: a key removed because its TTL passed.
    pub const EXPIRED: EventClass = EventClass(1 << 6);
    /// `e`: a key removed to free memory.
    pub const EVICTED: EventClass = EventClass(1 << 7);
    /// `t`: stream commands.
    pub const STREAM: EventClass = EventClass(1 << 8);
    /// `m`: a read that did not find its key.
    pub const KEY_MISS: EventClass = EventClass(1 << 9);
    /// `d`: types beyond Redis's (in Redis, module types): okapi's tables and blocks.
    pub const MODULE: EventClass = EventClass(1 << 10);
    /// `n`: a key created.
    pub const NEW: EventClass = EventClass(1 << 11);
    /// `A`: `g$lshzxetd`, every class but `m` and `n` (as Redis).
    pub const ALL: EventClass = EventClass(
        Self::GENERIC.0
            | Self::STRING.0
            | Self::LIST.0
            | Self::SET.0
            | Self::HASH.0
            | Self::ZSET.0
            | Self::EXPIRED.0
            | Self::EVICTED.0
            | Self::STREAM.0
            | Self::MODULE.0,
    );

    /// True when the two sets share a class.
    pub fn intersects(self, other: EventClass) -> bool {
        self.0 & other.0 != 0
    }

    /// True when every class of `other` is in this set.
    pub fn contains(self, other: EventClass) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when no class is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set as bits (for an atomic).
    pub fn bits(self) -> u16 {
        self.0
    }

    /// The set [`EventClass::bits`] gave.
    pub fn from_bits(bits: u16) -> EventClass {
        EventClass(bits)
    }
}

impl std::ops::BitOr for EventClass {
    type Output = EventClass;
    fn bitor(self, other: EventClass) -> EventClass {
        EventClass(self.0 | other.0)
    }
}

impl std::ops::BitOrAssign for EventClass {
    fn bitor_assign(&mut self, other: EventClass) {
        self.0 |= other.0;
    }
}

/// The letters of one-class flags, in the order Redis prints them.
const LETTERS: [(u8, EventClass); 11] = [
    (b'g', EventClass::GENERIC),
    (b'$', EventClass::STRING),
    (b'l', EventClass::LIST),
    (b's', EventClass::SET),
    (b'h', EventClass::HASH),
    (b'z', EventClass::ZSET),
    (b'x', EventClass::EXPIRED),
    (b'e', EventClass::EVICTED),
    (b't', EventClass::STREAM),
    (b'd', EventClass::MODULE),
    (b'n', EventClass::NEW),
];

/// The `notify-keyspace-events` setting: which classes are announced, and on which
/// channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotifyConfig {
    /// Classes announced.
    pub classes: EventClass,
    /// `K`: publish on `__keyspace@<db>__:<key>` (the message is the event).
    pub keyspace: bool,
    /// `E`: publish on `__keyevent@<db>__:<event>` (the message is the key).
    pub keyevent: bool,
}

impl NotifyConfig {
    /// Parses the setting's letters; `None` if one is not a class (Redis refuses the
    /// whole value then).
    pub fn parse(text: &str) -> Option<NotifyConfig> {
        let mut config = NotifyConfig::default();
        for c in text.bytes() {
            match c {
                b'A' => config.classes |= EventClass::ALL,
                b'K' => config.keyspace = true,
                b'E' => config.keyevent = true,
                b'm' => config.classes |= EventClass::KEY_MISS,
                c => {
                    let (_, class) = LETTERS.iter().find(|(letter, _)| *letter == c)?;
                    config.classes |= *class;
                }
            }
        }
        Some(config)
    }

    /// The classes writes must raise: none unless some channel is on.
    pub fn raised(&self) -> EventClass {
        if self.keyspace || self.keyevent {
            self.classes
        } else {
            EventClass::NONE
        }
    }
}

impl std::fmt::Display for NotifyConfig {
    /// Redis's normal form (CONFIG GET): `A` for all of `g$lshzxetd`, then the other
    /// classes, `K`, `E`, and `m` last.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        let all = self.classes.contains(EventClass::ALL);
        if all {
            out.push('A');
        }
        for (letter, class) in LETTERS {
            let in_all = EventClass::ALL.contains(class);
            if self.classes.contains(class) && !(all && in_all) {
                out.push(letter as char);
            }
        }
        if self.keyspace {
            out.push('K');
        }
        if self.keyevent {
            out.push('E');
        }
        if self.classes.contains(EventClass::KEY_MISS) {
            out.push('m');
        }
        f.write_str(&out)
    }
}

/// One event a write raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    /// The key's namespace (the `<db>` of the channels).
    pub db: Namespace,
    /// The event's class.
    pub class: EventClass,
    /// The event's name (`set`, `lpush`, `expired` ...).
    pub event: &'static str,
    /// The key.
    pub key: Bytes,
}

/// Events raised in one keyspace, not yet collected by the engine.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    /// Classes raised (the node's setting).
    pub(crate) raised: EventClass,
    /// Raised events, in order: `(class, event, key)`.
    pub(crate) pending: Vec<(EventClass, &'static str, Bytes)>,
    /// The key the write under way created, with the position of its `new` event
    /// (if `n` is raised): a write that creates a container and leaves it empty
    /// takes that back instead of raising `del`.
    pub(crate) fresh: Option<(Bytes, Option<usize>)>,
}

impl Notices {
    /// Records `event` on `key` if its class is raised.
    #[inline]
    pub(crate) fn raise(&mut self, class: EventClass, event: &'static str, key: &[u8]) {
        if self.raised.intersects(class) {
            self.pending
                .push((class, event, Bytes::copy_from_slice(key)));
        }
    }

    /// A write created `key`: raises `new` and remembers it until the write ends.
    pub(crate) fn created(&mut self, key: &[u8]) {
        if self.raised.is_empty() {
            return;
        }
        let at = self
            .raised
            .intersects(EventClass::NEW)
            .then_some(self.pending.len());
        self.raise(EventClass::NEW, "new", key);
        self.fresh = Some((Bytes::copy_from_slice(key), at));
    }

    /// If the write under way created `key`: the position of its `new` event.
    pub(crate) fn take_created(&mut self, key: &[u8]) -> Option<Option<usize>> {
        match &self.fresh {
            Some((fresh, _)) if fresh.as_ref() == key => self.fresh.take().map(|(_, at)| at),
            _ => None,
        }
    }

    /// Takes back the `new` event at `at` (if one was raised).
    pub(crate) fn unraise(&mut self, at: Option<usize>) {
        if let Some(at) = at
            && at < self.pending.len()
        {
            self.pending.remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_print_in_redis_normal_form() {
        for (given, shown) in [
            ("gKE", "gKE"),
            ("$lshzxeKE", "$lshzxeKE"),
            ("KA", "AK"),
            ("EA", "AE"),
            ("", ""),
            ("AKEnm", "AnKEm"),
            ("g$lshzxetdKE", "AKE"),
            ("Em", "Em"),
        ] {
            let config = NotifyConfig::parse(given).expect(given);
            assert_eq!(config.to_string(), shown, "{given}");
        }
    }

    #[test]
    fn unknown_letters_are_refused() {
        assert_eq!(NotifyConfig::parse("KEx?"), None);
        assert_eq!(NotifyConfig::parse("a"), None);
    }

    #[test]
    fn nothing_is_raised_without_a_channel() {
        let config = NotifyConfig::parse("A").expect("valid");
        assert!(config.raised().is_empty());
        let config = NotifyConfig::parse("El").expect("valid");
        assert_eq!(config.raised(), EventClass::LIST);
    }

    #[test]
    fn only_raised_classes_are_recorded() {
        let mut notices = Notices {
            raised: EventClass::LIST | EventClass::GENERIC,
            ..Notices::default()
        };
        notices.raise(EventClass::STRING, "set", b"a");
        notices.raise(EventClass::LIST, "lpush", b"b");
        notices.raise(EventClass::GENERIC, "del", b"b");
        assert_eq!(
            notices.pending,
            vec![
                (EventClass::LIST, "lpush", Bytes::from_static(b"b")),
                (EventClass::GENERIC, "del", Bytes::from_static(b"b"))
            ]
        );
    }
}
