//! The text form of the docs table's syntax lines: lexing and parsing a line into a
//! tree of tokens, values and groups, which [`super::syntax`] turns into arguments.
//!
//! The grammar is the one redis.io prints:
//! - `UPPER` words, `=` and `~` are tokens typed literally (`NX`, `LIB-NAME`); other words name
//!   values (`key`, `unix-time-seconds`, `ip:port`).
//! - `[ ... ]` is optional, `< ... >` only groups; `a | b` inside either is a choice.
//! - `x [x ...]` (any run of items, repeated in a trailing optional group) and `x...`
//!   mark `x` as repeatable.
//! - `TOKEN value` is a value introduced by a token; `TOKEN a b` inside a group is a
//!   block introduced by a token.
//!
//! Two additions carry what the printed form leaves implicit:
//! - `label=[...]` or `label=<...>` names a choice or block (`condition=[NX | XX]`);
//!   unlabelled ones take their token's name, else `data` for a block and the joined
//!   alternatives for a choice.
//! - `name:type` gives a value's type; without it [`value_type`] guesses from the
//!   name (`key` is a key, `count` an integer, anything unknown a string).

use std::fmt;

use super::syntax::ArgType;

/// The type of a value named `name` when the grammar does not say: the names
/// Redis's own docs use with one meaning throughout. Names used with two meanings
/// (`min` is a score in ZCOUNT but a lex bound in ZLEXCOUNT) take the commoner one
/// here and an explicit `:type` where they mean the other.
pub fn value_type(name: &str) -> ArgType {
    match name {
        "key" | "destination" | "source" | "newkey" | "dst" | "src" => ArgType::Key,
        "seconds" | "milliseconds" | "count" | "numkeys" | "index" | "start" | "end" | "stop"
        | "offset" | "db" | "destination-db" | "limit" | "rank" | "num-matches" | "len"
        | "numreplicas" | "cursor" | "decrement" | "increment" | "client-id" | "protover"
        | "weight" => ArgType::Integer,
        "timeout" | "score" | "min" | "max" => ArgType::Double,
        "unix-time-seconds" | "unix-time-milliseconds" => ArgType::UnixTime,
        "pattern" => ArgType::Pattern,
        _ => ArgType::String,
    }
}

/// Why a syntax line does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong.
    pub what: &'static str,
    /// The piece of the line it is about.
    pub near: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} near {:?}", self.what, self.near)
    }
}

impl std::error::Error for SyntaxError {}

pub(super) fn error<T>(what: &'static str, near: &str) -> Result<T, SyntaxError> {
    Err(SyntaxError {
        what,
        near: near.to_owned(),
    })
}

/// Parses a line into its top-level sequence of items.
pub(super) fn tree(line: &str) -> Result<Vec<Node<'_>>, SyntaxError> {
    let lexemes = lex(line)?;
    let mut parser = Parser {
        lexemes: &lexemes,
        at: 0,
    };
    let mut alts = parser.alternatives(None)?;
    match alts.len() {
        1 => Ok(alts.remove(0)),
        _ => error("a choice outside brackets", line),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lexeme<'a> {
    Open(char),
    Close(char),
    Bar,
    Ellipsis,
    Label(&'a str),
    Word(&'a str),
}

fn lex(line: &str) -> Result<Vec<Lexeme<'_>>, SyntaxError> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while let Some(c) = rest.chars().next() {
        let taken = match c {
            '[' | '<' => {
                out.push(Lexeme::Open(c));
                1
            }
            ']' | '>' => {
                out.push(Lexeme::Close(c));
                1
            }
            '|' => {
                out.push(Lexeme::Bar);
                1
            }
            _ if rest.starts_with("...") => {
                out.push(Lexeme::Ellipsis);
                3
            }
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || "[]<>|".contains(c) || c == '.')
                    .unwrap_or(rest.len());
                let word = &rest[..end];
                if word.is_empty() {
                    return error("a stray character", rest);
                }
                match word.strip_suffix('=') {
                    // `=` alone is a token (XADD's `MAXLEN [= | ~] threshold`).
                    Some("") => out.push(Lexeme::Word(word)),
                    Some(label) if !label.is_empty() && rest[end..].starts_with(['[', '<']) => {
                        out.push(Lexeme::Label(label));
                    }
                    _ if word.contains('=') => return error("a label not before a group", word),
                    _ => out.push(Lexeme::Word(word)),
                }
                end
            }
        };
        rest = rest[taken..].trim_start();
    }
    Ok(out)
}

/// The grammar's tree before arguments are built from it; kept to compare the
/// repeated part of `x [x ...]` with what it repeats.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node<'a> {
    Token(&'a str),
    Value(&'a str, ArgType),
    Group {
        label: Option<&'a str>,
        optional: bool,
        alts: Vec<Vec<Node<'a>>>,
    },
    Ellipsis,
}

struct Parser<'l, 'a> {
    lexemes: &'l [Lexeme<'a>],
    at: usize,
}

impl<'a> Parser<'_, 'a> {
    fn near(&self) -> String {
        format!("{:?}", self.lexemes.get(self.at.saturating_sub(1)..))
    }

    /// Reads `a | b | ...` up to `close` (or the end of the line when `None`).
    fn alternatives(&mut self, close: Option<char>) -> Result<Vec<Vec<Node<'a>>>, SyntaxError> {
        let mut alts = vec![Vec::new()];
        loop {
            let Some(&lexeme) = self.lexemes.get(self.at) else {
                return match close {
                    None => Ok(alts),
                    Some(_) => error("an unclosed group", &self.near()),
                };
            };
            self.at += 1;
            let current = alts
                .last_mut()
                .expect("alts starts non-empty and only grows");
            match lexeme {
                Lexeme::Close(c) if Some(c) == close => break,
                Lexeme::Close(_) => return error("a mismatched bracket", &self.near()),
                Lexeme::Bar if current.is_empty() => {
                    return error("an empty alternative", &self.near());
                }
                Lexeme::Bar => alts.push(Vec::new()),
                Lexeme::Ellipsis => current.push(Node::Ellipsis),
                Lexeme::Word(word) => current.push(word_node(word)),
                Lexeme::Open(open) => {
                    let group = self.group(None, open)?;
                    current.push(group);
                }
                Lexeme::Label(label) => match self.lexemes.get(self.at) {
                    Some(&Lexeme::Open(open)) => {
                        self.at += 1;
                        let group = self.group(Some(label), open)?;
                        alts.last_mut().expect("non-empty").push(group);
                    }
                    _ => return error("a label not before a group", label),
                },
            }
        }
        if alts.iter().any(Vec::is_empty) {
            return error("an empty group or alternative", &self.near());
        }
        Ok(alts)
    }

    fn group(&mut self, label: Option<&'a str>, open: char) -> Result<Node<'a>, SyntaxError> {
        let close = if open == '[' { ']' } else { '>' };
        let alts = self.alternatives(Some(close))?;
        Ok(Node::Group {
            label,
            optional: open == '[',
            alts,
        })
    }
}

fn word_node(word: &str) -> Node<'_> {
    let is_token = (word.chars().any(|c| c.is_ascii_uppercase())
        && !word.chars().any(|c| c.is_ascii_lowercase()))
        || word == "="
        || word == "~";
    if is_token {
        return Node::Token(word);
    }
    // Only a known type after the last colon is an annotation: `ip:port` is a name.
    match word.rsplit_once(':') {
        Some((name, ty)) if !name.is_empty() => match ArgType::from_annotation(ty) {
            Some(kind) => Node::Value(name, kind),
            None => Node::Value(word, value_type(word)),
        },
        _ => Node::Value(word, value_type(word)),
    }
}
