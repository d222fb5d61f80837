//! SORT and SORT_RO. Options are read left to right and the first bad one answers, as
//! Redis reads them; the sorting itself happens in the engine (`engine::sort`), as a
//! read, or as a log op when the result is STOREd.
//!
//! On a sharded node a `BY`/`GET` pattern must name keys in the sorted key's slot (a
//! hash tag such as `{user}:*`), or those keys could live on another shard: the rule of
//! Redis 7.4 and later. Redis 7.0 refuses every `BY` pattern and `GET` in cluster mode;
//! okapi accepts the patterns it can answer correctly.

use bytes::Bytes;
use okapi_engine::keys::{KeyOp, KeyQuery};
use okapi_engine::sort::{SortBy, SortSpec, c_str};
use okapi_engine::{OpKind, QueryKind};
use okapi_types::key_slot;

use crate::action::Action;
use crate::args::{Args, int};
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, Keys, command, keys};
use crate::{read, write};

const G: &str = "generic";

/// SORT commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "sort",
        -2,
        WRITE | DENYOOM | MOVABLE_KEYS,
        Keys::Movable {
            first: 1,
            last: 1,
            step: 1,
            find: sort_keys,
        },
        &[
            "@write",
            "@set",
            "@sortedset",
            "@list",
            "@slow",
            "@dangerous",
        ],
        G,
        "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
        sort,
    ),
    command(
        "sort_ro",
        -2,
        READONLY | MOVABLE_KEYS,
        keys(1, 1, 1),
        &[
            "@read",
            "@set",
            "@sortedset",
            "@list",
            "@slow",
            "@dangerous",
        ],
        G,
        "Returns the sorted elements of a list, a set, or a sorted set.",
        sort_ro,
    ),
];

/// The sorted key and, with `STORE`, the destination (`sortGetKeys`: options are
/// skipped with their arguments so a `GET store` pattern is not taken for the option).
fn sort_keys(argv: &[Bytes]) -> Vec<usize> {
    let mut positions = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let word = &argv[i];
        let skip = if word.eq_ignore_ascii_case(b"limit") {
            2
        } else if word.eq_ignore_ascii_case(b"get") || word.eq_ignore_ascii_case(b"by") {
            1
        } else if word.eq_ignore_ascii_case(b"store") {
            // The last STORE wins, as in the parser.
            if i + 1 < argv.len() {
                store = Some(i + 1);
            }
            1
        } else {
            0
        };
        i += skip + 1;
    }
    positions.extend(store);
    positions
}

fn sort(ctx: &Ctx, args: &[Bytes]) -> Result<Action, CommandError> {
    parse(ctx, args, false)
}

fn sort_ro(ctx: &Ctx, args: &[Bytes]) -> Result<Action, CommandError> {
    parse(ctx, args, true)
}

fn parse(ctx: &Ctx, args: &[Bytes], readonly: bool) -> Result<Action, CommandError> {
    let key = args[0].clone();
    let mut spec = SortSpec {
        by: SortBy::Element,
        limit: None,
        get: Vec::new(),
        desc: false,
        alpha: false,
    };
    let mut store = None;
    let mut a = Args::new(&args[1..]);
    while let Some(word) = a.peek() {
        let left = a.remaining() - 1;
        let word = word.to_ascii_lowercase();
        a.next_arg()?;
        match word.as_slice() {
            b"asc" => spec.desc = false,
            b"desc" => spec.desc = true,
            b"alpha" => spec.alpha = true,
            b"limit" if left >= 2 => {
                let start = int(a.next_arg()?)?;
                let count = int(a.next_arg()?)?;
                spec.limit = Some((start, count));
            }
            b"store" if !readonly && left >= 1 => store = Some(a.bytes()?),
            b"by" if left >= 1 => {
                let pattern = a.bytes()?;
                if !c_str(&pattern).contains(&b'*') {
                    spec.by = SortBy::NoSort;
                } else {
                    if ctx.sharded && !same_slot(&pattern, &key) {
                        return Err(CommandError::Other(
                            "ERR BY option of SORT denied in Cluster mode when keys formed by \
                             the pattern may be in different slots."
                                .to_owned(),
                        ));
                    }
                    spec.by = SortBy::Pattern(pattern);
                }
            }
            b"get" if left >= 1 => {
                let pattern = a.bytes()?;
                if ctx.sharded && c_str(&pattern) != b"#" && !same_slot(&pattern, &key) {
                    return Err(CommandError::Other(
                        "ERR GET option of SORT denied in Cluster mode when keys formed by the \
                         pattern may be in different slots."
                            .to_owned(),
                    ));
                }
                spec.get.push(pattern);
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(match store {
        Some(dst) => write(ctx, OpKind::Key(KeyOp::SortStore { key, spec, dst })),
        None => read(ctx, QueryKind::Key(KeyQuery::Sort { key, spec })),
    })
}

/// True when every key `pattern` can form hashes to `key`'s slot (`patternHashSlot`):
/// a hash tag before any wildcard fixes the slot; a wildcard or escape before it, or
/// no tag at all around the `*`, leaves it open.
fn same_slot(pattern: &[u8], key: &[u8]) -> bool {
    let mut open = None;
    for (i, &c) in pattern.iter().enumerate() {
        match c {
            b'*' | b'?' | b'[' | b'\\' => return false,
            b'{' if open.is_none() => open = Some(i),
            b'}' => match open {
                Some(o) if i == o + 1 => {
                    // `{}`: no tag, the whole key hashes — and it holds the `*`.
                    return false;
                }
                Some(o) => return key_slot(&pattern[o + 1..i]) == key_slot(key),
                None => {}
            },
            _ => {}
        }
    }
    // No tag and no wildcard: a single key, which cannot happen for a `*` pattern.
    key_slot(pattern) == key_slot(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn sort_keys_finds_the_last_store_and_skips_option_arguments() {
        assert_eq!(sort_keys(&argv(&["sort", "k"])), vec![1]);
        assert_eq!(sort_keys(&argv(&["sort", "k", "store", "d"])), vec![1, 3]);
        assert_eq!(
            sort_keys(&argv(&[
                "sort", "k", "get", "store", "limit", "0", "1", "store", "e"
            ])),
            vec![1, 8]
        );
        assert_eq!(sort_keys(&argv(&["sort", "k", "by", "store"])), vec![1]);
    }

    #[test]
    fn patterns_share_a_slot_only_through_a_hash_tag_before_any_wildcard() {
        assert!(same_slot(b"{user}:*", b"{user}:list"));
        assert!(same_slot(b"w_{user}*", b"user"));
        assert!(!same_slot(b"{user}:*", b"other"));
        assert!(!same_slot(b"w_*", b"w_list"));
        assert!(!same_slot(b"{*}", b"x"));
        assert!(!same_slot(b"{}*", b"x"));
    }
}
