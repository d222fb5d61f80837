//! What Redis 7.0 says about each command it shares with okapi — ACL categories, command
//! tips, key specs, and each subcommand's arity, flags and key positions — generated
//! into [`table`] from Redis's own COMMAND INFO by `tools/redis_command_meta.py`.
//! COMMAND INFO shows it, and COMMAND GETKEYSANDFLAGS evaluates the key specs as Redis
//! does (`getKeysUsingKeySpecs`), with Redis's own rules for the four commands whose
//! specs cannot say it alone (SET, BITFIELD, SORT, SORT_RO).

mod table;

use bytes::Bytes;
use okapi_engine::Reply;

use crate::args::is;

/// One command or subcommand, as Redis describes it.
#[derive(Debug)]
pub struct Meta {
    /// Lower-case name (`container|sub` for a subcommand).
    pub name: &'static str,
    /// Arity (negative: at least that many arguments).
    pub arity: i64,
    /// Command flags.
    pub flags: &'static [&'static str],
    /// First key, last key, step (the legacy key positions).
    pub keys: (i64, i64, i64),
    /// ACL categories.
    pub acl: &'static [&'static str],
    /// Command tips.
    pub tips: &'static [&'static str],
    /// Key specs.
    pub specs: &'static [Spec],
}

/// A key spec: where a command's keys begin and how many follow.
#[derive(Debug)]
pub struct Spec {
    /// Redis's note, if any.
    pub notes: &'static str,
    /// Key flags (`RW`, `access` ...).
    pub flags: &'static [&'static str],
    /// How the first key is found.
    pub begin: Begin,
    /// How the keys after it are found.
    pub find: Find,
}

/// A key spec's begin search.
#[derive(Debug)]
pub enum Begin {
    /// At this argument index.
    Index(i64),
    /// After this keyword, searched from `startfrom` (negative: from the end, backwards).
    Keyword {
        /// The keyword.
        keyword: &'static str,
        /// Where the search starts.
        startfrom: i64,
    },
    /// Not describable by a spec.
    Unknown,
}

/// A key spec's find keys.
#[derive(Debug)]
pub enum Find {
    /// Keys up to `lastkey` (negative: from the end), every `keystep`; with `limit`,
    /// 1/limit of the remaining arguments.
    Range {
        /// Last key, relative.
        lastkey: i64,
        /// Step.
        keystep: i64,
        /// Divisor of the remaining arguments.
        limit: i64,
    },
    /// A count at `keynumidx`, the keys from `firstkey` after it.
    KeyNum {
        /// Where the count is, relative to the begin.
        keynumidx: i64,
        /// Where the first key is, relative to the begin.
        firstkey: i64,
        /// Step.
        keystep: i64,
    },
    /// Not describable by a spec.
    Unknown,
}

/// Redis's description of `name` (lower case), if Redis has the command.
pub fn lookup(name: &str) -> Option<&'static Meta> {
    table::META
        .binary_search_by(|m| m.name.cmp(name))
        .ok()
        .map(|i| &table::META[i])
}

/// The subcommands of `container` Redis and okapi share, sorted by name.
pub fn subcommands(container: &str) -> impl Iterator<Item = &'static Meta> {
    let prefix_len = container.len();
    table::META.iter().filter(move |m| {
        m.name.len() > prefix_len
            && m.name.as_bytes()[prefix_len] == b'|'
            && m.name.starts_with(container)
    })
}

/// The subcommands element of `container`'s COMMAND INFO entry: an array of their
/// entries, or an empty set for a command without any (as Redis writes it).
pub fn subcommands_reply(container: &str) -> Reply {
    let subs: Vec<Reply> = subcommands(container).map(Meta::info_entry).collect();
    if subs.is_empty() {
        Reply::Set(subs)
    } else {
        Reply::Array(subs)
    }
}

fn statuses(items: &'static [&'static str]) -> Vec<Reply> {
    items.iter().map(|s| Reply::Status(s)).collect()
}

impl Spec {
    /// The spec as COMMAND INFO shows it.
    pub fn reply(&self) -> Reply {
        let bulk = |s: &str| Reply::bulk(s.as_bytes());
        // `{type: kind, spec: {name: value ...}}`, the shape of both searches.
        let search = |kind: &str, spec: Vec<(&str, Reply)>| {
            Reply::Map(vec![
                (bulk("type"), bulk(kind)),
                (
                    bulk("spec"),
                    Reply::Map(spec.into_iter().map(|(k, v)| (bulk(k), v)).collect()),
                ),
            ])
        };
        let mut fields = Vec::new();
        if !self.notes.is_empty() {
            fields.push((bulk("notes"), bulk(self.notes)));
        }
        fields.push((bulk("flags"), Reply::Set(statuses(self.flags))));
        let begin = match &self.begin {
            Begin::Index(i) => search("index", vec![("index", Reply::Int(*i))]),
            Begin::Keyword { keyword, startfrom } => search(
                "keyword",
                vec![
                    ("keyword", bulk(keyword)),
                    ("startfrom", Reply::Int(*startfrom)),
                ],
            ),
            Begin::Unknown => search("unknown", Vec::new()),
        };
        fields.push((bulk("begin_search"), begin));
        let find = match &self.find {
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => search(
                "range",
                vec![
                    ("lastkey", Reply::Int(*lastkey)),
                    ("keystep", Reply::Int(*keystep)),
                    ("limit", Reply::Int(*limit)),
                ],
            ),
            Find::KeyNum {
                keynumidx,
                firstkey,
                keystep,
            } => search(
                "keynum",
                vec![
                    ("keynumidx", Reply::Int(*keynumidx)),
                    ("firstkey", Reply::Int(*firstkey)),
                    ("keystep", Reply::Int(*keystep)),
                ],
            ),
            Find::Unknown => search("unknown", Vec::new()),
        };
        fields.push((bulk("find_keys"), find));
        Reply::Map(fields)
    }
}

impl Meta {
    /// The subcommand's COMMAND INFO entry (top-level commands use their own spec).
    pub fn info_entry(&self) -> Reply {
        Reply::Array(vec![
            Reply::bulk(self.name.as_bytes()),
            Reply::Int(self.arity),
            Reply::Set(statuses(self.flags)),
            Reply::Int(self.keys.0),
            Reply::Int(self.keys.1),
            Reply::Int(self.keys.2),
            Reply::Set(statuses(self.acl)),
            self.tips_reply(),
            self.specs_reply(),
            Reply::Set(Vec::new()),
        ])
    }

    /// The command tips as COMMAND INFO shows them (bulk strings, unlike the flags).
    pub fn tips_reply(&self) -> Reply {
        Reply::Set(
            self.tips
                .iter()
                .map(|t| Reply::bulk(t.as_bytes()))
                .collect(),
        )
    }

    /// The key specs as COMMAND INFO shows them.
    pub fn specs_reply(&self) -> Reply {
        Reply::Set(self.specs.iter().map(Spec::reply).collect())
    }

    fn has_spec_flag(&self, flag: &str) -> bool {
        self.specs.iter().any(|s| s.flags.contains(&flag))
    }

    /// COMMAND GETKEYSANDFLAGS: the positions of `argv`'s keys (`argv[0]` the command
    /// name) with their flags, as Redis's `getKeysFromCommandWithSpecs` finds them;
    /// `None` when the arguments do not fit the specs.
    pub fn keys_and_flags(&self, argv: &[Bytes]) -> Option<Vec<(usize, &'static [&'static str])>> {
        let has_keyspec = self.specs.iter().any(|s| !s.flags.contains(&"not_key"));
        if has_keyspec
            && !self.has_spec_flag("variable_flags")
            && let Some(found) = self.keys_using_specs(argv)
        {
            return Some(found);
        }
        native_keys(self.name, argv)
    }

    /// `getKeysUsingKeySpecs`: `None` for an invalid or incomplete spec.
    fn keys_using_specs(&self, argv: &[Bytes]) -> Option<Vec<(usize, &'static [&'static str])>> {
        let argc = argv.len() as i64;
        let mut out = Vec::new();
        for spec in self.specs {
            if spec.flags.contains(&"not_key") {
                continue;
            }
            let first = match &spec.begin {
                Begin::Index(i) => *i,
                Begin::Keyword { keyword, startfrom } => {
                    let (start, end) = if *startfrom > 0 {
                        (*startfrom, argc - 1)
                    } else {
                        (argc + startfrom, 1)
                    };
                    let mut found = 0;
                    let mut i = start;
                    while i != end {
                        if i >= argc || i < 1 {
                            break;
                        }
                        if is(&argv[i as usize], keyword) {
                            found = i + 1;
                            break;
                        }
                        i = if start <= end { i + 1 } else { i - 1 };
                    }
                    if found == 0 {
                        continue;
                    }
                    found
                }
                Begin::Unknown => return None,
            };
            let (first, last, step) = match &spec.find {
                Find::Range {
                    lastkey,
                    keystep,
                    limit,
                } => {
                    let last = if *lastkey >= 0 {
                        first + lastkey
                    } else if *limit == 0 {
                        argc + lastkey
                    } else {
                        first + ((argc - first) / limit.max(&1) + lastkey)
                    };
                    (first, last, *keystep)
                }
                Find::KeyNum {
                    keynumidx,
                    firstkey,
                    keystep,
                } => {
                    if *keynumidx >= argc {
                        return None;
                    }
                    let at = usize::try_from(first + keynumidx).ok()?;
                    let numkeys = okapi_types::num::parse_i64(argv.get(at)?)?;
                    if numkeys < 0 {
                        return None;
                    }
                    let first = first + firstkey;
                    // A count past the arguments is invalid, however large.
                    (first, first.checked_add(numkeys - 1)?, *keystep)
                }
                Find::Unknown => return None,
            };
            if last >= argc || last < first || first >= argc || step <= 0 {
                return None;
            }
            let mut i = first;
            while i <= last {
                out.push((i as usize, spec.flags));
                i += step;
            }
            if spec.flags.contains(&"incomplete") {
                return None;
            }
        }
        Some(out)
    }
}

/// Redis's `getkeys_proc` of the commands whose specs cannot give their keys' flags.
fn native_keys(name: &str, argv: &[Bytes]) -> Option<Vec<(usize, &'static [&'static str])>> {
    const RW: &[&str] = &["RW", "access", "update"];
    const OW: &[&str] = &["OW", "update"];
    const RO: &[&str] = &["RO", "access"];
    match name {
        // setGetKeys: GET makes it read the old value.
        "set" => {
            let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            Some(vec![(1, if get { RW } else { OW })])
        }
        // bitfieldGetKeys: read-only unless a SET or INCRBY (or a syntax error).
        "bitfield" => {
            let mut readonly = true;
            let mut i = 2;
            while i < argv.len() {
                let remaining = argv.len() - i - 1;
                let arg = &argv[i];
                if is(arg, "GET") && remaining >= 2 {
                    i += 2;
                } else if (is(arg, "SET") || is(arg, "INCRBY")) && remaining >= 3 {
                    readonly = false;
                    break;
                } else if is(arg, "OVERFLOW") && remaining >= 1 {
                    i += 1;
                } else {
                    readonly = false;
                    break;
                }
                i += 1;
            }
            Some(vec![(1, if readonly { RO } else { RW })])
        }
        // sortGetKeys: the sorted key, and the last STORE's destination.
        "sort" => {
            let mut keys = vec![(1, RO)];
            let mut store = None;
            let mut i = 2;
            while i < argv.len() {
                let arg = &argv[i];
                if is(arg, "LIMIT") {
                    i += 2;
                } else if is(arg, "GET") || is(arg, "BY") {
                    i += 1;
                } else if is(arg, "STORE") && i + 1 < argv.len() {
                    store = Some(i + 1);
                }
                i += 1;
            }
            keys.extend(store.map(|at| (at, OW)));
            Some(keys)
        }
        "sort_ro" => Some(vec![(1, RO)]),
        // genericGetKeys(store, count, first): a C `atoi` count, keys without flags.
        "sintercard" | "zinter" | "zunion" | "zdiff" | "zintercard" | "lmpop" | "zmpop" => {
            Some(counted_keys(argv, 0, 1, 2))
        }
        "zunionstore" | "zinterstore" | "zdiffstore" => Some(counted_keys(argv, 1, 2, 3)),
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" | "blmpop"
        | "bzmpop" => Some(counted_keys(argv, 0, 2, 3)),
        // georadiusGetKeys: the key and the last STORE/STOREDIST destination.
        "georadius" | "georadius_ro" | "georadiusbymember" | "georadiusbymember_ro" => Some(
            crate::geo::radius_keys(argv)
                .into_iter()
                .map(|at| (at, NONE))
                .collect(),
        ),
        // xreadGetKeys: the keys between STREAMS and their IDs.
        "xread" | "xreadgroup" => {
            let mut streams = None;
            let mut i = 1;
            while i < argv.len() {
                let arg = &argv[i];
                if is(arg, "BLOCK") || is(arg, "COUNT") {
                    i += 1;
                } else if is(arg, "GROUP") {
                    i += 2;
                } else if is(arg, "NOACK") {
                } else if is(arg, "STREAMS") {
                    streams = Some(i);
                    break;
                } else {
                    break;
                }
                i += 1;
            }
            let at = streams?;
            let n = argv.len() - at - 1;
            if n == 0 || !n.is_multiple_of(2) {
                return Some(Vec::new());
            }
            Some((at + 1..at + 1 + n / 2).map(|i| (i, NONE)).collect())
        }
        _ => None,
    }
}

/// No flags (Redis's generic key procs give none).
const NONE: &[&str] = &[];

/// `genericGetKeys`: `count` keys (C `atoi` of `argv[count_at]`) from `first`, and the
/// destination at `store` (0: none) after them; none when the count does not fit.
fn counted_keys(
    argv: &[Bytes],
    store: usize,
    count_at: usize,
    first: usize,
) -> Vec<(usize, &'static [&'static str])> {
    let Some(count) = argv.get(count_at).map(|a| c_atoi(a)) else {
        return Vec::new();
    };
    let available = argv.len().saturating_sub(first);
    if count < 1 || count as usize > available {
        return Vec::new();
    }
    let mut keys: Vec<_> = (0..count as usize).map(|i| (first + i, NONE)).collect();
    if store != 0 {
        keys.push((store, NONE));
    }
    keys
}

/// C's `atoi` as glibc computes it: leading spaces, a sign, digits up to the first
/// other byte; the `long` it parses (saturated) cut to an `int`.
fn c_atoi(text: &[u8]) -> i32 {
    let mut bytes = text
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .peekable();
    let negative = match bytes.peek() {
        Some(b'-') => {
            bytes.next();
            true
        }
        Some(b'+') => {
            bytes.next();
            false
        }
        _ => false,
    };
    let mut value: i64 = 0;
    for b in bytes.take_while(|b| b.is_ascii_digit()) {
        let digit = i64::from(b - b'0');
        value = if negative {
            value.saturating_mul(10).saturating_sub(digit)
        } else {
            value.saturating_mul(10).saturating_add(digit)
        };
    }
    value as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &str) -> Vec<Bytes> {
        words
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn keys(command: &str) -> Vec<(usize, &'static [&'static str])> {
        let args = argv(command);
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        lookup(&name)
            .expect("known")
            .keys_and_flags(&args)
            .expect("fits")
    }

    #[test]
    fn the_table_is_sorted_and_has_what_clients_ask_for() {
        assert!(table::META.windows(2).all(|w| w[0].name < w[1].name));
        let get = lookup("get").expect("get");
        assert_eq!(get.acl, &["@read", "@string", "@fast"]);
        assert!(subcommands("client").any(|m| m.name == "client|id"));
        assert!(subcommands("xinfo").all(|m| m.name.starts_with("xinfo|")));
    }

    #[test]
    fn specs_find_keys_as_redis_does() {
        assert_eq!(
            keys("MSET a 1 b 2"),
            vec![(1, &["OW", "update"][..]), (3, &["OW", "update"][..])]
        );
        assert_eq!(
            keys("XREAD COUNT 2 STREAMS s1 s2 0 0"),
            vec![(4, &["RO", "access"][..]), (5, &["RO", "access"][..])]
        );
        let lmove = keys("LMOVE src dst LEFT RIGHT");
        assert_eq!(lmove[0].0, 1);
        assert_eq!(lmove[1].0, 2);
        assert_eq!(
            keys("EVAL s 2 k1 k2 a")
                .iter()
                .map(|k| k.0)
                .collect::<Vec<_>>(),
            vec![3, 4]
        );
        // A count that is no number: the spec fails, Redis's own rule finds no key.
        assert_eq!(
            lookup("eval")
                .expect("eval")
                .keys_and_flags(&argv("EVAL s x k")),
            Some(Vec::new())
        );
        let huge = argv("LMPOP 9223372036854775807 a b LEFT");
        assert!(
            lookup("lmpop")
                .expect("lmpop")
                .keys_using_specs(&huge)
                .is_none()
        );
    }

    #[test]
    fn counts_are_read_as_c_atoi_reads_them() {
        for (text, n) in [
            ("1.5", 1),
            (" 5", 5),
            ("+5", 5),
            ("0x10", 0),
            ("10abc", 10),
            ("-2.25", -2),
        ] {
            assert_eq!(c_atoi(text.as_bytes()), n, "{text}");
        }
        assert_eq!(c_atoi(b"9223372036854775807"), -1, "LONG_MAX cut to an int");
        assert_eq!(keys("ZUNIONSTORE d 1.5 a"), vec![(3, NONE), (1, NONE)]);
        assert_eq!(keys("EVAL s 1x k"), vec![(3, NONE)]);
    }

    #[test]
    fn native_rules_decide_the_flags_specs_cannot() {
        assert_eq!(keys("SET k v"), vec![(1, &["OW", "update"][..])]);
        assert_eq!(
            keys("SET k v GET"),
            vec![(1, &["RW", "access", "update"][..])]
        );
        assert_eq!(
            keys("BITFIELD k GET u8 0"),
            vec![(1, &["RO", "access"][..])]
        );
        assert_eq!(
            keys("BITFIELD k SET u8 0 1"),
            vec![(1, &["RW", "access", "update"][..])]
        );
        assert_eq!(
            keys("SORT k BY w_* STORE d1 STORE d2"),
            vec![(1, &["RO", "access"][..]), (7, &["OW", "update"][..])]
        );
    }
}
