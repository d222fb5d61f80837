//! `COMMAND`, `COMMAND COUNT|INFO|DOCS|LIST|GETKEYS`, built from the command table.

use bytes::Bytes;
use okapi_engine::Reply;

use crate::action::Action;
use crate::args::is;
use crate::error::CommandError;
use crate::spec::{self, CommandSpec, Ctx, Keys, flags};

fn status(text: &str) -> Reply {
    Reply::bulk(text.as_bytes())
}

/// The `COMMAND INFO` entry of one command.
pub fn info_entry(spec: &CommandSpec) -> Reply {
    let flag_names = flags::NAMES
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0)
        .map(|(_, name)| Reply::Status(name))
        .collect();
    let (first, last, step) = match spec.keys {
        Keys::None => (0, 0, 0),
        Keys::Range { first, last, step } => (first, last, step),
        Keys::Custom(_) => (0, 0, 0),
    };
    let acl = spec.acl.iter().map(|c| Reply::Status(c)).collect();
    Reply::Array(vec![
        status(spec.name),
        Reply::Int(i64::from(spec.arity)),
        Reply::Set(flag_names),
        Reply::Int(i64::from(first)),
        Reply::Int(i64::from(last)),
        Reply::Int(i64::from(step)),
        Reply::Set(acl),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

fn docs_entry(spec: &CommandSpec) -> Reply {
    Reply::Map(vec![
        (status("summary"), status(spec.summary)),
        (status("since"), status("1.0.0")),
        (status("group"), status(spec.group)),
        (status("arguments"), Reply::Array(Vec::new())),
    ])
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
        Reply::Array(sorted().into_iter().map(|s| status(s.name)).collect())
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
        let specs: Vec<_> = if rest.is_empty() {
            sorted()
        } else {
            rest.iter().filter_map(|n| spec::lookup(n)).collect()
        };
        Reply::Map(
            specs
                .into_iter()
                .map(|s| (status(s.name), docs_entry(s)))
                .collect(),
        )
    } else if is(sub, "GETKEYS") && !rest.is_empty() {
        let spec = spec::resolve(rest).map_err(|e| match e {
            CommandError::WrongArity(_) => {
                CommandError::other("ERR Invalid number of arguments specified for command")
            }
            CommandError::UnknownCommand { .. } => {
                CommandError::other("ERR Invalid command specified")
            }
            other => other,
        })?;
        let positions = spec.key_positions(rest);
        if positions.is_empty() {
            return Err(CommandError::other("ERR The command has no key arguments"));
        }
        Reply::Array(
            positions
                .into_iter()
                .map(|i| Reply::Bulk(rest[i].clone()))
                .collect(),
        )
    } else if is(sub, "HELP") {
        Reply::Array(
            [
                "COMMAND [<subcommand>]",
                "COUNT",
                "DOCS [<command-name> ...]",
                "GETKEYS <full-command>",
                "INFO [<command-name> ...]",
                "LIST",
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
