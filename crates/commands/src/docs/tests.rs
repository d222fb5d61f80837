//! The docs table against the command table, and whole entries against Redis's own
//! `COMMAND DOCS` structure and redis-cli's rendering of it.

use std::collections::HashSet;

use bytes::Bytes;
use okapi_engine::Reply;
use okapi_types::Namespace;

use super::{Arg, ArgType, entry, parse, rows, subcommands};
use crate::action::Action;
use crate::spec::{self, Ctx};

/// One line per argument tree: `name:type=TOKEN#key?*+(children)` with `?` optional,
/// `*` multiple and `+` multiple_token.
fn describe(args: &[Arg], sep: &str) -> String {
    let one = |a: &Arg| {
        let mut s = format!("{}:{}", a.name, a.kind.name());
        if let Some(token) = &a.token {
            s += &format!("={token}");
        }
        if let Some(index) = a.key_spec_index {
            s += &format!("#{index}");
        }
        for (set, mark) in [
            (a.optional, '?'),
            (a.multiple, '*'),
            (a.multiple_token, '+'),
        ] {
            if set {
                s.push(mark);
            }
        }
        if !a.args.is_empty() {
            s += &format!("({})", describe(&a.args, ", "));
        }
        s
    };
    args.iter().map(one).collect::<Vec<_>>().join(sep)
}

/// The argument synopsis redis-cli 7.0 prints for `HELP <command>` and as a hint,
/// built the way its `cliAddArgument` builds it.
fn synopsis(args: &[Arg], sep: &str) -> String {
    let one = |a: &Arg| {
        let repeat = match a.kind {
            ArgType::OneOf => synopsis(&a.args, "|"),
            ArgType::Block => synopsis(&a.args, " "),
            ArgType::PureToken => String::new(),
            _ => a.name.clone(),
        };
        let token = match (&a.token, a.kind) {
            (Some(token), ArgType::PureToken) => token.clone(),
            (Some(token), _) => format!("{token} "),
            (None, _) => String::new(),
        };
        let mut s = format!("{token}{repeat}");
        if a.multiple {
            let again = if a.multiple_token { &token } else { "" };
            s += &format!(" [{again}{repeat} ...]");
        }
        if a.optional {
            s = format!("[{s}]");
        }
        s
    };
    args.iter().map(one).collect::<Vec<_>>().join(sep)
}

fn args_of(name: &str) -> &'static [Arg] {
    &entry(name)
        .unwrap_or_else(|| panic!("no docs for {name}"))
        .args
}

#[test]
fn every_command_has_a_row_and_every_row_a_command() {
    for spec in spec::all() {
        assert!(entry(spec.name).is_some(), "{} has no docs row", spec.name);
    }
    let mut seen = HashSet::new();
    for doc in rows() {
        assert!(seen.insert(doc.name), "{} has two rows", doc.name);
        let container = doc.name.split('|').next().unwrap_or_default();
        assert!(
            spec::lookup(container.as_bytes()).is_some(),
            "{} documents no command",
            doc.name
        );
        // Top-level rows take their summary from the command table, subcommand rows
        // must bring one.
        assert_eq!(
            doc.summary.is_some(),
            doc.name.contains('|'),
            "{}",
            doc.name
        );
        assert!(
            !doc.since.is_empty() && !doc.complexity.is_empty(),
            "{}",
            doc.name
        );
    }
}

#[test]
fn every_row_parses() {
    for doc in rows() {
        if let Err(e) = parse(doc.syntax) {
            panic!("{}: {e}", doc.name);
        }
    }
}

#[test]
fn documented_arguments_agree_with_arity() {
    for spec in spec::all() {
        let args = args_of(spec.name);
        let required = args.iter().filter(|a| !a.optional).count();
        // Arity counts the name: 1 takes nothing, -1 takes anything, and beyond that
        // something is required. Containers document arguments per subcommand.
        match spec.arity {
            1 => assert!(args.is_empty(), "{} takes no arguments", spec.name),
            -1 => {}
            _ if !subcommands(spec.name).is_empty() => assert!(args.is_empty(), "{}", spec.name),
            _ => assert!(required > 0, "{} has required arguments", spec.name),
        }
    }
}

#[test]
fn set_matches_redis() {
    assert_eq!(
        describe(args_of("set"), " "),
        "key:key#0 value:string condition:oneof?(nx:pure-token=NX, xx:pure-token=XX) \
         get:pure-token=GET? expiration:oneof?(seconds:integer=EX, milliseconds:integer=PX, \
         unix-time-seconds:unix-time=EXAT, unix-time-milliseconds:unix-time=PXAT, \
         keepttl:pure-token=KEEPTTL)"
    );
    // What redis-cli 7.0.15 prints for Redis 7.0.15's own SET.
    assert_eq!(
        synopsis(args_of("set"), " "),
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds\
         |PXAT unix-time-milliseconds|KEEPTTL]"
    );
}

#[test]
fn zadd_matches_redis() {
    // Redis 7.2+ names the pairs `data` (7.0 said `score_member`).
    assert_eq!(
        describe(args_of("zadd"), " "),
        "key:key#0 condition:oneof?(nx:pure-token=NX, xx:pure-token=XX) \
         comparison:oneof?(gt:pure-token=GT, lt:pure-token=LT) change:pure-token=CH? \
         increment:pure-token=INCR? data:block*(score:double, member:string)"
    );
    assert_eq!(
        synopsis(args_of("zadd"), " "),
        "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]"
    );
}

#[test]
fn lpos_matches_redis() {
    assert_eq!(
        describe(args_of("lpos"), " "),
        "key:key#0 element:string rank:integer=RANK? num-matches:integer=COUNT? \
         len:integer=MAXLEN?"
    );
    assert_eq!(
        synopsis(args_of("lpos"), " "),
        "key element [RANK rank] [COUNT num-matches] [MAXLEN len]"
    );
}

#[test]
fn blmpop_matches_redis() {
    assert_eq!(
        describe(args_of("blmpop"), " "),
        "timeout:double numkeys:integer key:key#0* \
         where:oneof(left:pure-token=LEFT, right:pure-token=RIGHT) count:integer=COUNT?"
    );
    assert_eq!(
        synopsis(args_of("blmpop"), " "),
        "timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]"
    );
}

#[test]
fn client_kill_matches_redis() {
    // Redis 7.0's shape with the later names for TYPE and SKIPME (a YES/NO choice
    // since 7.2); okapi has no MAXAGE filter, so it is not offered.
    let types = "normal:pure-token=NORMAL, master:pure-token=MASTER, slave:pure-token=SLAVE, \
                 replica:pure-token=REPLICA, pubsub:pure-token=PUBSUB";
    assert_eq!(
        describe(args_of("client|kill"), " "),
        format!(
            "filter:oneof(ip:port:string, new-format:oneof*(client-id:integer=ID?, \
             client-type:oneof=TYPE?({types}), username:string=USER?, ip:port:string=ADDR?, \
             ip:port:string=LADDR?, skipme:oneof=SKIPME?(yes:pure-token=YES, no:pure-token=NO)))"
        )
    );
    let filters = "[ID client-id]|[TYPE NORMAL|MASTER|SLAVE|REPLICA|PUBSUB]|[USER username]\
                   |[ADDR ip:port]|[LADDR ip:port]|[SKIPME YES|NO]";
    assert_eq!(
        synopsis(args_of("client|kill"), " "),
        format!("ip:port|{filters} [{filters} ...]")
    );
}

#[test]
fn repeated_options_render_as_redis_cli_shows_them() {
    for (name, expected) in [
        (
            "zinterstore",
            "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] \
             [AGGREGATE SUM|MIN|MAX]",
        ),
        (
            "hello",
            "[protover [AUTH username password] [SETNAME clientname]]",
        ),
        ("hrandfield", "key [count [WITHVALUES]]"),
        (
            "client|list",
            "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]",
        ),
        ("config|set", "parameter value [parameter value ...]"),
        ("mset", "key value [key value ...]"),
    ] {
        assert_eq!(synopsis(args_of(name), " "), expected, "{name}");
    }
}

#[test]
fn containers_list_their_subcommands_by_full_name() {
    let names: Vec<_> = subcommands("object").iter().map(|e| e.doc.name).collect();
    assert_eq!(
        names,
        [
            "object|encoding",
            "object|freq",
            "object|help",
            "object|idletime",
            "object|refcount"
        ]
    );
    for container in ["client", "config", "command", "pubsub"] {
        assert!(!subcommands(container).is_empty(), "{container}");
    }
    assert!(subcommands("set").is_empty());
}

#[test]
fn deprecated_and_system_commands_say_so() {
    let getset = entry("getset").expect("getset has docs");
    assert_eq!(getset.doc_flags, ["deprecated"]);
    assert_eq!(getset.deprecated.map(|(since, _)| since), Some("6.2.0"));
    assert_eq!(
        entry("debug").expect("debug has docs").doc_flags,
        ["syscmd"]
    );
    assert!(entry("set").expect("set has docs").doc_flags.is_empty());
    assert_eq!(entry("meta").expect("meta has docs").doc.since, "0.1.0");
}

fn docs_reply(names: &[&str]) -> Reply {
    let ctx = Ctx {
        db: Namespace(0),
        now_ms: 0,
        random: 0,
        databases: 16,
        sharded: false,
    };
    let args: Vec<Bytes> = std::iter::once("DOCS")
        .chain(names.iter().copied())
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect();
    match crate::introspection::command(&ctx, &args) {
        Ok(Action::Reply(reply)) => reply,
        other => panic!("COMMAND DOCS gave {other:?}"),
    }
}

fn field<'r>(map: &'r Reply, name: &str) -> Option<&'r Reply> {
    let Reply::Map(pairs) = map else {
        panic!("not a map: {map:?}");
    };
    pairs
        .iter()
        .find(|(k, _)| *k == Reply::bulk(name.as_bytes()))
        .map(|(_, v)| v)
}

fn only_entry(reply: &Reply) -> (&Reply, &Reply) {
    match reply {
        Reply::Map(pairs) if pairs.len() == 1 => (&pairs[0].0, &pairs[0].1),
        other => panic!("expected one entry: {other:?}"),
    }
}

#[test]
fn command_docs_sends_strings_as_bulk_and_flags_as_simple_strings() {
    let reply = docs_reply(&["SET"]);
    let (name, set) = only_entry(&reply);
    assert_eq!(*name, Reply::bulk(b"set"));
    assert_eq!(field(set, "since"), Some(&Reply::bulk(b"1.0.0")));
    assert_eq!(field(set, "complexity"), Some(&Reply::bulk(b"O(1)")));
    assert_eq!(field(set, "group"), Some(&Reply::bulk(b"string")));
    let Some(Reply::Array(args)) = field(set, "arguments") else {
        panic!("SET has no arguments: {set:?}");
    };
    assert_eq!(
        args[0],
        Reply::Map(vec![
            (Reply::bulk(b"name"), Reply::bulk(b"key")),
            (Reply::bulk(b"type"), Reply::bulk(b"key")),
            (Reply::bulk(b"display_text"), Reply::bulk(b"key")),
            (Reply::bulk(b"key_spec_index"), Reply::Int(0)),
        ])
    );
    // The GET option: a pure token, optional.
    assert_eq!(field(&args[3], "token"), Some(&Reply::bulk(b"GET")));
    assert_eq!(
        field(&args[3], "flags"),
        Some(&Reply::Set(vec![Reply::Status("optional")]))
    );
    let Some(Reply::Array(expiration)) = field(&args[4], "arguments") else {
        panic!("expiration has no nested arguments: {:?}", args[4]);
    };
    assert_eq!(expiration.len(), 5);
    // A choice has no display text, as in Redis.
    assert_eq!(field(&args[4], "display_text"), None);
}

#[test]
fn command_docs_nests_subcommands_and_finds_them_by_full_name() {
    let reply = docs_reply(&["client"]);
    let (_, client) = only_entry(&reply);
    assert_eq!(field(client, "arguments"), None);
    let Some(Reply::Map(subs)) = field(client, "subcommands") else {
        panic!("CLIENT has no subcommands: {client:?}");
    };
    assert!(subs.iter().any(|(k, _)| *k == Reply::bulk(b"client|kill")));
    let reply = docs_reply(&["CLIENT|LIST", "nosuchcommand"]);
    let (name, list) = only_entry(&reply);
    assert_eq!(*name, Reply::bulk(b"client|list"));
    assert_eq!(field(list, "group"), Some(&Reply::bulk(b"connection")));
    assert!(field(list, "arguments").is_some());
}

#[test]
fn command_docs_without_names_covers_every_command() {
    let Reply::Map(all) = docs_reply(&[]) else {
        panic!("not a map");
    };
    assert_eq!(all.len(), spec::all().count());
}
