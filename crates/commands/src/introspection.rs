//! `COMMAND`, `COMMAND COUNT|INFO|DOCS|LIST|GETKEYS`, built from the command table
//! and, for `DOCS`, the docs table in [`crate::docs`].

use bytes::Bytes;
use okapi_engine::Reply;

use crate::action::Action;
use crate::args::is;
use crate::docs::{self, Arg, ArgType};
use crate::error::CommandError;
use crate::redis_meta;
use crate::spec::{self, CommandSpec, Ctx, Keys, flags};

fn status(text: &str) -> Reply {
    Reply::bulk(text.as_bytes())
}

/// The `COMMAND INFO` entry of one command: for the commands Redis has, Redis's flags,
/// key positions, ACL categories, tips, key specs and subcommands, except that okapi's
/// arity stands and a command okapi runs as a write says `write` (PFCOUNT); okapi's own
/// description for the rest.
pub fn info_entry(spec: &CommandSpec) -> Reply {
    let redis = redis_meta::lookup(spec.name);
    let flag_names = match redis {
        Some(meta) => {
            let okapi_writes = spec.has(flags::WRITE);
            let mut names: Vec<Reply> = meta
                .flags
                .iter()
                .filter(|f| !(okapi_writes && **f == "readonly"))
                .map(|f| Reply::Status(f))
                .collect();
            if okapi_writes && !meta.flags.contains(&"write") {
                names.insert(0, Reply::Status("write"));
            }
            names
        }
        None => flags::NAMES
            .iter()
            .filter(|(bit, _)| spec.flags & bit != 0)
            .map(|(_, name)| Reply::Status(name))
            .collect(),
    };
    let (first, last, step) = match (redis, spec.keys) {
        (Some(meta), _) => meta.keys,
        (None, Keys::None | Keys::Custom(_)) => (0, 0, 0),
        (
            None,
            Keys::Range { first, last, step }
            | Keys::Movable {
                first, last, step, ..
            },
        ) => (i64::from(first), i64::from(last), i64::from(step)),
    };
    let acl = match redis {
        Some(meta) => meta.acl.iter().map(|c| Reply::Status(c)).collect(),
        None => spec.acl.iter().map(|c| Reply::Status(c)).collect(),
    };
    Reply::Array(vec![
        status(spec.name),
        Reply::Int(i64::from(spec.arity)),
        Reply::Set(flag_names),
        Reply::Int(first),
        Reply::Int(last),
        Reply::Int(step),
        Reply::Set(acl),
        redis.map_or_else(|| Reply::Set(Vec::new()), redis_meta::Meta::tips_reply),
        redis.map_or_else(|| Reply::Set(Vec::new()), redis_meta::Meta::specs_reply),
        redis_meta::subcommands_reply(spec.name),
    ])
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS (`sub`): the keys of the command `argv` names, with
/// their flags, checked in Redis's order (`getKeysSubcommandImpl`): the command, whether
/// it takes keys at all, its arity, then its keys as Redis's key specs find them (okapi's
/// own positions for the commands Redis does not have).
fn keys_of(sub: &str, argv: &[Bytes]) -> Result<Vec<(usize, Vec<&'static str>)>, CommandError> {
    if argv.len() < 2 {
        return Err(CommandError::WrongArity(format!("command|{sub}")));
    }
    let spec = spec::lookup(&argv[0])
        .ok_or_else(|| CommandError::other("ERR Invalid command specified"))?;
    let name = match argv.get(1) {
        Some(sub) if !docs::subcommands(spec.name).is_empty() => {
            format!(
                "{}|{}",
                spec.name,
                String::from_utf8_lossy(sub).to_ascii_lowercase()
            )
        }
        _ => spec.name.to_owned(),
    };
    let redis = redis_meta::lookup(&name).or_else(|| redis_meta::lookup(spec.name));
    let has_keys = match redis {
        Some(meta) => meta.specs.iter().any(|s| !s.flags.contains(&"not_key")),
        None => !matches!(spec.keys, Keys::None),
    };
    if !has_keys {
        return Err(CommandError::other("ERR The command has no key arguments"));
    }
    spec::resolve(argv).map_err(|e| match e {
        CommandError::WrongArity(_) => {
            CommandError::other("ERR Invalid number of arguments specified for command")
        }
        other => other,
    })?;
    let found: Vec<(usize, Vec<&'static str>)> = match redis {
        Some(meta) => meta
            .keys_and_flags(argv)
            .unwrap_or_default()
            .into_iter()
            .map(|(at, flags)| (at, flags.to_vec()))
            .collect(),
        None => {
            let flags: Vec<&'static str> = if spec.has(flags::WRITE) {
                vec!["RW", "access", "update"]
            } else {
                vec!["RO", "access"]
            };
            spec.key_positions(argv)
                .into_iter()
                .map(|at| (at, flags.clone()))
                .collect()
        }
    };
    if found.is_empty() && !redis.is_some_and(|m| m.flags.contains(&"no_mandatory_keys")) {
        return Err(CommandError::other(
            "ERR Invalid arguments specified for command",
        ));
    }
    Ok(found)
}

/// The `COMMAND DOCS` entry of a top-level command, its subcommands nested.
fn docs_entry(spec: &CommandSpec) -> Reply {
    let subcommands = docs::subcommands(spec.name)
        .into_iter()
        .map(|sub| (status(sub.doc.name), sub_docs_entry(spec, sub)))
        .collect();
    doc_map(
        spec.summary,
        spec.group,
        docs::entry(spec.name),
        subcommands,
    )
}

/// The `COMMAND DOCS` entry of a subcommand; it shares its container's group.
fn sub_docs_entry(container: &CommandSpec, sub: &docs::Entry) -> Reply {
    doc_map(
        sub.doc.summary.unwrap_or_default(),
        container.group,
        Some(sub),
        Vec::new(),
    )
}

/// Looks up `COMMAND DOCS` names: a command, or `container|sub` as Redis allows.
fn docs_by_name(name: &[u8]) -> Option<(&'static str, Reply)> {
    let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    match name.split_once('|') {
        None => spec::lookup(name.as_bytes()).map(|spec| (spec.name, docs_entry(spec))),
        Some((container, _)) => {
            let container = spec::lookup(container.as_bytes())?;
            let sub = docs::entry(&name)?;
            Some((sub.doc.name, sub_docs_entry(container, sub)))
        }
    }
}

/// Builds the map in Redis's field order; fields Redis leaves out when empty
/// (`arguments`, `subcommands`, `doc_flags`) are left out here too.
fn doc_map(
    summary: &str,
    group: &str,
    entry: Option<&docs::Entry>,
    subcommands: Vec<(Reply, Reply)>,
) -> Reply {
    let mut map = vec![(status("summary"), status(summary))];
    if let Some(entry) = entry {
        map.push((status("since"), status(entry.doc.since)));
    }
    map.push((status("group"), status(group)));
    if let Some(entry) = entry {
        map.push((status("complexity"), status(entry.doc.complexity)));
        if !entry.doc_flags.is_empty() {
            let flags = entry.doc_flags.iter().map(|f| Reply::Status(f)).collect();
            map.push((status("doc_flags"), Reply::Set(flags)));
        }
        if let Some((since, replaced_by)) = entry.deprecated {
            map.push((status("deprecated_since"), status(since)));
            map.push((status("replaced_by"), status(replaced_by)));
        }
        if !entry.args.is_empty() {
            map.push((status("arguments"), args_reply(&entry.args)));
        }
    }
    if !subcommands.is_empty() {
        map.push((status("subcommands"), Reply::Map(subcommands)));
    }
    Reply::Map(map)
}

/// One argument map per argument. Strings are bulk and flags are simple strings:
/// redis-cli asserts exactly those reply types.
fn args_reply(args: &[Arg]) -> Reply {
    Reply::Array(args.iter().map(arg_reply).collect())
}

fn arg_reply(arg: &Arg) -> Reply {
    let nested = matches!(arg.kind, ArgType::OneOf | ArgType::Block);
    let mut map = vec![
        (status("name"), status(&arg.name)),
        (status("type"), status(arg.kind.name())),
    ];
    // Redis 7.2+ sends display_text for every non-nested argument and redis-cli 7.2+
    // prefers it over the name; redis-cli 7.0 ignores it and shows the name.
    if !nested {
        map.push((status("display_text"), status(&arg.name)));
    }
    if let Some(index) = arg.key_spec_index {
        map.push((status("key_spec_index"), Reply::Int(index as i64)));
    }
    if let Some(token) = &arg.token {
        map.push((status("token"), status(token)));
    }
    let flags: Vec<_> = [
        (arg.optional, "optional"),
        (arg.multiple, "multiple"),
        (arg.multiple_token, "multiple_token"),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .map(|(_, name)| Reply::Status(name))
    .collect();
    if !flags.is_empty() {
        map.push((status("flags"), Reply::Set(flags)));
    }
    if nested {
        map.push((status("arguments"), args_reply(&arg.args)));
    }
    Reply::Map(map)
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: every
/// command and subcommand (`container|sub`), as Redis lists them.
fn list(rest: &[Bytes]) -> Result<Reply, CommandError> {
    let mut names: Vec<String> = spec::all().map(|s| s.name.to_owned()).collect();
    names.extend(
        crate::docs::rows()
            .filter(|d| d.name.contains('|'))
            .map(|d| d.name.to_owned()),
    );
    names.sort();
    let keep: Box<dyn Fn(&str) -> bool> = match rest {
        [] => Box::new(|_| true),
        [filterby, kind, arg] if is(filterby, "FILTERBY") => {
            if is(kind, "MODULE") {
                // okapi loads no modules.
                Box::new(|_| false)
            } else if is(kind, "ACLCAT") {
                let category = format!("@{}", String::from_utf8_lossy(arg).to_ascii_lowercase());
                // The categories COMMAND INFO shows: Redis's, else okapi's own.
                Box::new(move |name: &str| {
                    let acl = match redis_meta::lookup(name) {
                        Some(meta) => meta.acl,
                        None => spec::lookup(name.as_bytes()).map_or(&[][..], |s| s.acl),
                    };
                    acl.iter().any(|c| c.eq_ignore_ascii_case(&category))
                })
            } else if is(kind, "PATTERN") {
                let pattern = arg.clone();
                Box::new(move |name: &str| {
                    okapi_engine::glob::glob_match(&pattern, name.as_bytes(), true)
                })
            } else {
                return Err(CommandError::Syntax);
            }
        }
        _ => return Err(CommandError::Syntax),
    };
    Ok(Reply::Array(
        names
            .into_iter()
            .filter(|n| keep(n))
            .map(|n| Reply::Bulk(n.into()))
            .collect(),
    ))
}

/// COMMAND and its subcommands.
pub fn command(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let sorted = || {
        let mut all: Vec<_> = spec::all().collect();
        all.sort_by_key(|s| s.name);
        all
    };
    let Some(sub) = a.first() else {
        return Ok(Action::Reply(Reply::Array(
            sorted().into_iter().map(info_entry).collect(),
        )));
    };
    let rest = &a[1..];
    let reply = if is(sub, "COUNT") && rest.is_empty() {
        Reply::Int(spec::all().count() as i64)
    } else if is(sub, "LIST") {
        list(rest)?
    } else if is(sub, "INFO") {
        if rest.is_empty() {
            Reply::Array(sorted().into_iter().map(info_entry).collect())
        } else {
            Reply::Array(
                rest.iter()
                    .map(|name| spec::lookup(name).map_or(Reply::NilArray, info_entry))
                    .collect(),
            )
        }
    } else if is(sub, "DOCS") {
        if rest.is_empty() {
            Reply::Map(
                sorted()
                    .into_iter()
                    .map(|s| (status(s.name), docs_entry(s)))
                    .collect(),
            )
        } else {
            // Unknown names are skipped, as Redis does.
            Reply::Map(
                rest.iter()
                    .filter_map(|n| docs_by_name(n))
                    .map(|(name, docs)| (status(name), docs))
                    .collect(),
            )
        }
    } else if is(sub, "GETKEYS") {
        Reply::Array(
            keys_of("getkeys", rest)?
                .into_iter()
                .map(|(at, _)| Reply::Bulk(rest[at].clone()))
                .collect(),
        )
    } else if is(sub, "GETKEYSANDFLAGS") {
        Reply::Array(
            keys_of("getkeysandflags", rest)?
                .into_iter()
                .map(|(at, flags)| {
                    Reply::Array(vec![
                        Reply::Bulk(rest[at].clone()),
                        Reply::Set(flags.into_iter().map(Reply::Status).collect()),
                    ])
                })
                .collect(),
        )
    } else if is(sub, "HELP") {
        Reply::Array(
            [
                "COMMAND [<subcommand>]",
                "COUNT",
                "DOCS [<command-name> ...]",
                "GETKEYS <full-command>",
                "GETKEYSANDFLAGS <full-command>",
                "INFO [<command-name> ...]",
                "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
            ]
            .iter()
            .map(|l| Reply::Status(l))
            .collect(),
        )
    } else {
        return Err(CommandError::UnknownSubcommand {
            command: "COMMAND".into(),
            sub: String::from_utf8_lossy(sub).into_owned(),
        });
    };
    Ok(Action::Reply(reply))
}
