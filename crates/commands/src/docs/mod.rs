//! Command documentation for `COMMAND DOCS`: per command and subcommand the version
//! that introduced it, its complexity and its arguments, parsed once from the
//! one-line syntax in [`table`].
//!
//! redis-cli builds its `HELP <command>` text and its as-you-type hints from these
//! arguments, so they follow Redis's structure field for field.

mod grammar;
mod syntax;
mod table;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::LazyLock;

pub use grammar::SyntaxError;
pub use syntax::{Arg, ArgType, parse};

/// One row of the docs table.
#[derive(Debug)]
pub struct Doc {
    /// Command name, or `container|subcommand` for a subcommand.
    pub name: &'static str,
    /// Redis version that introduced it (okapi's version for okapi's own commands).
    pub since: &'static str,
    /// Time complexity.
    pub complexity: &'static str,
    /// Summary of a subcommand; top-level commands keep theirs in the command table.
    pub summary: Option<&'static str>,
    /// Argument syntax (grammar in [`grammar`]).
    pub syntax: &'static str,
}

/// A top-level command's row.
const fn cmd(
    name: &'static str,
    since: &'static str,
    complexity: &'static str,
    syntax: &'static str,
) -> Doc {
    Doc {
        name,
        since,
        complexity,
        summary: None,
        syntax,
    }
}

/// A subcommand's row.
const fn sub(
    name: &'static str,
    since: &'static str,
    complexity: &'static str,
    summary: &'static str,
    syntax: &'static str,
) -> Doc {
    Doc {
        name,
        since,
        complexity,
        summary: Some(summary),
        syntax,
    }
}

/// A row with its arguments parsed and its documentation flags found.
#[derive(Debug)]
pub struct Entry {
    /// The row.
    pub doc: &'static Doc,
    /// Parsed arguments.
    pub args: Vec<Arg>,
    /// `doc_flags` (`deprecated`, `syscmd`).
    pub doc_flags: Vec<&'static str>,
    /// Version that deprecated the command and what replaces it.
    pub deprecated: Option<(&'static str, &'static str)>,
}

impl Entry {
    fn new(doc: &'static Doc) -> Entry {
        let deprecated = table::DEPRECATED
            .iter()
            .find(|(name, ..)| *name == doc.name)
            .map(|&(_, since, by)| (since, by));
        let mut doc_flags = Vec::new();
        if deprecated.is_some() {
            doc_flags.push("deprecated");
        }
        if table::SYSCMD.contains(&doc.name) {
            doc_flags.push("syscmd");
        }
        Entry {
            doc,
            // A line that does not parse shows no arguments rather than failing the
            // reply; `every_row_parses` keeps that from happening.
            args: parse(doc.syntax).unwrap_or_default(),
            doc_flags,
            deprecated,
        }
    }
}

static ENTRIES: LazyLock<HashMap<&'static str, Entry>> = LazyLock::new(|| {
    table::COMMANDS
        .iter()
        .chain(table::SUBCOMMANDS)
        .map(|doc| (doc.name, Entry::new(doc)))
        .collect()
});

/// The docs of `name` (lower case; `container|sub` for a subcommand).
pub fn entry(name: &str) -> Option<&'static Entry> {
    ENTRIES.get(name)
}

/// The subcommands of `container`, sorted by name.
pub fn subcommands(container: &str) -> Vec<&'static Entry> {
    let mut subs: Vec<_> = table::SUBCOMMANDS
        .iter()
        .filter(|doc| {
            doc.name
                .split_once('|')
                .is_some_and(|(parent, _)| parent == container)
        })
        .filter_map(|doc| entry(doc.name))
        .collect();
    subs.sort_by_key(|e| e.doc.name);
    subs
}

/// Every row of the table, commands first.
pub fn rows() -> impl Iterator<Item = &'static Doc> {
    table::COMMANDS.iter().chain(table::SUBCOMMANDS)
}
