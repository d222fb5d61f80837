//! The command table: one `CommandSpec` per command, declared by each family module.
//! The table drives arity checks, key extraction (slots, key limits), `COMMAND`
//! output and the read/write split.

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;
use okapi_types::Namespace;
use okapi_types::limits::MAX_KEY_LEN;

use crate::action::Action;
use crate::error::CommandError;

/// Command flags, as `COMMAND INFO` reports them.
pub mod flags {
    /// Changes data.
    pub const WRITE: u32 = 1 << 0;
    /// Only reads data.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory use (refused when out of memory).
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 3;
    /// Pub/sub.
    pub const PUBSUB: u32 = 1 << 4;
    /// Not allowed from scripts.
    pub const NOSCRIPT: u32 = 1 << 5;
    /// May block the client.
    pub const BLOCKING: u32 = 1 << 6;
    /// Allowed while loading data.
    pub const LOADING: u32 = 1 << 7;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 8;
    /// O(1) or O(log n).
    pub const FAST: u32 = 1 << 9;
    /// Allowed before authentication.
    pub const NO_AUTH: u32 = 1 << 10;
    /// Not allowed inside MULTI.
    pub const NO_MULTI: u32 = 1 << 11;
    /// Key positions depend on arguments.
    pub const MOVABLE_KEYS: u32 = 1 << 12;
    /// Allowed in a RESP2 subscribed context.
    pub const SUBSCRIBED_OK: u32 = 1 << 13;

    /// Names in `COMMAND INFO` order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
    ];
}

/// Parsing context: what a command needs besides its arguments.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Selected namespace.
    pub db: Namespace,
    /// Current time, Unix ms (turns relative TTLs into absolute ones).
    pub now_ms: u64,
    /// Random bits for ops that pick elements (SPOP seeds).
    pub random: u64,
    /// Number of namespaces.
    pub databases: u32,
    /// The node's keyspace is split over several shards (cluster mode, or shard
    /// groups): commands that reach keys not named in their arguments must keep them
    /// in their key's slot.
    pub sharded: bool,
}

/// Turns arguments (command name excluded) into an action.
pub type ParseFn = fn(&Ctx, &[Bytes]) -> Result<Action, CommandError>;

/// Where a command's keys are.
#[derive(Debug, Clone, Copy)]
pub enum Keys {
    /// No keys.
    None,
    /// Arguments `first..=last` (negative `last` counts from the end) every `step`;
    /// positions count the command name as 0, as Redis.
    Range {
        /// First key position.
        first: i32,
        /// Last key position.
        last: i32,
        /// Step.
        step: i32,
    },
    /// Positions found by a function of the arguments (name included).
    Custom(fn(&[Bytes]) -> Vec<usize>),
    /// Positions found by `find`, while `COMMAND` reports the fixed part as a range
    /// (SORT: key 1 always, a STORE destination anywhere).
    Movable {
        /// `COMMAND`'s first key position.
        first: i32,
        /// `COMMAND`'s last key position.
        last: i32,
        /// `COMMAND`'s step.
        step: i32,
        /// The real positions.
        find: fn(&[Bytes]) -> Vec<usize>,
    },
}

/// One command.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: exact argument count including the name, or `-n` for at least `n`.
    pub arity: i32,
    /// [`flags`] bits.
    pub flags: u32,
    /// Key positions.
    pub keys: Keys,
    /// ACL categories, with their `@`.
    pub acl: &'static [&'static str],
    /// `COMMAND DOCS` group.
    pub group: &'static str,
    /// One-line summary for `COMMAND DOCS`.
    pub summary: &'static str,
    /// Parser.
    pub parse: ParseFn,
}

impl CommandSpec {
    /// True if the command changes data.
    pub fn is_write(&self) -> bool {
        self.flags & flags::WRITE != 0
    }

    /// True if `flag` is set.
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// True when `argc` (name included) fits the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Positions of key arguments in `argv` (name at 0).
    pub fn key_positions(&self, argv: &[Bytes]) -> Vec<usize> {
        self.key_indexes(argv).collect()
    }

    /// The same positions without collecting them: a key range (most commands)
    /// allocates nothing, so routing every request by its keys stays cheap.
    pub fn key_indexes(&self, argv: &[Bytes]) -> KeyIndexes {
        match self.keys {
            Keys::None => KeyIndexes::Listed(Vec::new().into_iter()),
            Keys::Range { first, last, step } => {
                let len = argv.len() as i32;
                let last = if last < 0 {
                    len + last
                } else {
                    last.min(len - 1)
                };
                KeyIndexes::Range {
                    next: first,
                    last: last.min(len - 1),
                    step: step.max(1),
                }
            }
            Keys::Custom(find) | Keys::Movable { find, .. } => {
                KeyIndexes::Listed(find(argv).into_iter())
            }
        }
    }
}

/// Positions of a command's key arguments (see [`CommandSpec::key_indexes`]).
#[derive(Debug)]
pub enum KeyIndexes {
    /// `next`, `next + step`, … up to `last`.
    Range {
        /// The next position.
        next: i32,
        /// The last position that may be a key.
        last: i32,
        /// Distance between keys.
        step: i32,
    },
    /// Found by the command's own key finder.
    Listed(std::vec::IntoIter<usize>),
}

impl Iterator for KeyIndexes {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            KeyIndexes::Range { next, last, step } => loop {
                if *next > *last {
                    return None;
                }
                let at = *next;
                *next += *step;
                // The name (position 0) is never a key.
                if at > 0 {
                    return Some(at as usize);
                }
            },
            KeyIndexes::Listed(positions) => positions.next(),
        }
    }
}

/// Shorthand for a key range in a spec table.
pub const fn keys(first: i32, last: i32, step: i32) -> Keys {
    Keys::Range { first, last, step }
}

static TABLE: LazyLock<HashMap<&'static str, &'static CommandSpec>> = LazyLock::new(|| {
    crate::FAMILIES
        .iter()
        .flat_map(|family| family.iter())
        .map(|spec| (spec.name, spec))
        .collect()
});

/// Looks a command up by name, ignoring ASCII case.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut lower = [0u8; 32];
    let name = lower.get_mut(..name.len()).map(|buf| {
        buf.copy_from_slice(name);
        buf.make_ascii_lowercase();
        &*buf
    })?;
    TABLE.get(std::str::from_utf8(name).ok()?).copied()
}

/// Every command, in no particular order.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> {
    TABLE.values().copied()
}

/// Finds, checks and parses `argv` (name first). Unknown commands, wrong arity and
/// over-long keys are errors here, before any parser runs.
pub fn parse(ctx: &Ctx, argv: &[Bytes]) -> Result<(&'static CommandSpec, Action), CommandError> {
    let spec = resolve(argv)?;
    let action = (spec.parse)(ctx, &argv[1..])?;
    Ok((spec, action))
}

/// Finds `argv[0]` and checks arity and key sizes without parsing.
pub fn resolve(argv: &[Bytes]) -> Result<&'static CommandSpec, CommandError> {
    let Some(name) = argv.first() else {
        return Err(CommandError::Syntax);
    };
    let spec = lookup(name).ok_or_else(|| CommandError::unknown_command(name, &argv[1..]))?;
    if !spec.arity_ok(argv.len()) {
        return Err(CommandError::WrongArity(spec.name.to_owned()));
    }
    if !matches!(spec.keys, Keys::None) && argv.iter().any(|a| a.len() > MAX_KEY_LEN) {
        for position in spec.key_indexes(argv) {
            if argv[position].len() > MAX_KEY_LEN {
                return Err(CommandError::KeyTooLong(MAX_KEY_LEN));
            }
        }
    }
    Ok(spec)
}

/// Builds a table entry; positional to keep family tables one line per command.
#[expect(clippy::too_many_arguments, reason = "a table row lists every column")]
pub const fn command(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: Keys,
    acl: &'static [&'static str],
    group: &'static str,
    summary: &'static str,
    parse: ParseFn,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys,
        acl,
        group,
        summary,
        parse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Key positions as a range spec defines them, written out plainly.
    fn reference(first: i32, last: i32, step: i32, len: i32) -> Vec<usize> {
        let last = if last < 0 {
            len + last
        } else {
            last.min(len - 1)
        };
        (first..=last)
            .step_by(step.max(1) as usize)
            .filter(|&i| i > 0 && i < len)
            .map(|i| i as usize)
            .collect()
    }

    #[test]
    fn key_indexes_match_the_range_of_every_command_for_every_length() {
        let mut checked = 0;
        for spec in all() {
            let Keys::Range { first, last, step } = spec.keys else {
                continue;
            };
            for len in 1..12 {
                let argv: Vec<Bytes> = (0..len).map(|i| Bytes::from(i.to_string())).collect();
                assert_eq!(
                    spec.key_indexes(&argv).collect::<Vec<_>>(),
                    reference(first, last, step, len),
                    "{} with {len} arguments",
                    spec.name
                );
                checked += 1;
            }
        }
        assert!(checked > 500, "only {checked} cases");
        // Ranges a table could hold but none does today.
        for (first, last, step) in [(0, -1, 2), (2, 5, 3), (1, 0, 1), (3, -2, 1)] {
            let spec = command("x", -1, 0, keys(first, last, step), &[], "", "", |_, _| {
                Err(CommandError::Syntax)
            });
            for len in 1..9 {
                let argv: Vec<Bytes> = (0..len).map(|i| Bytes::from(i.to_string())).collect();
                assert_eq!(
                    spec.key_indexes(&argv).collect::<Vec<_>>(),
                    reference(first, last, step, len),
                    "keys({first}, {last}, {step}) with {len}"
                );
            }
        }
    }
}
