//! Arguments as `COMMAND DOCS` describes them, built from the tree of a syntax line
//! (grammar in [`super::grammar`]): tokens attach to the value or group after them,
//! repeats fold into one argument, groups get names and keys get key-spec indexes.

use super::grammar::{Node, SyntaxError, error, tree};

/// An argument's type, as `COMMAND DOCS` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    /// A key name.
    Key,
    /// Any string.
    String,
    /// An integer.
    Integer,
    /// A floating-point number.
    Double,
    /// A glob-style pattern.
    Pattern,
    /// A Unix time.
    UnixTime,
    /// A literal token without a value (`NX`).
    PureToken,
    /// Exactly one of the nested arguments.
    OneOf,
    /// All of the nested arguments, in order.
    Block,
}

impl ArgType {
    /// The name `COMMAND DOCS` uses.
    pub fn name(self) -> &'static str {
        match self {
            ArgType::Key => "key",
            ArgType::String => "string",
            ArgType::Integer => "integer",
            ArgType::Double => "double",
            ArgType::Pattern => "pattern",
            ArgType::UnixTime => "unix-time",
            ArgType::PureToken => "pure-token",
            ArgType::OneOf => "oneof",
            ArgType::Block => "block",
        }
    }

    /// The value type spelled `name` after a `:` in the grammar.
    pub(super) fn from_annotation(name: &str) -> Option<ArgType> {
        Some(match name {
            "key" => ArgType::Key,
            "string" => ArgType::String,
            "integer" => ArgType::Integer,
            "double" => ArgType::Double,
            "pattern" => ArgType::Pattern,
            "unix-time" => ArgType::UnixTime,
            _ => return None,
        })
    }
}

/// One argument of a command: a value, a token, or a choice or block of arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// Name (a value's placeholder, a token's lower-case text, a group's label).
    pub name: String,
    /// Type.
    pub kind: ArgType,
    /// Literal token that introduces the argument.
    pub token: Option<String>,
    /// Position among the command's key arguments (Redis's key-spec index).
    pub key_spec_index: Option<usize>,
    /// May be left out.
    pub optional: bool,
    /// May repeat.
    pub multiple: bool,
    /// Repeats with its token each time (`GET p [GET p ...]`).
    pub multiple_token: bool,
    /// Nested arguments of a choice or block.
    pub args: Vec<Arg>,
}

impl Arg {
    fn new(name: &str, kind: ArgType) -> Arg {
        Arg {
            name: name.to_owned(),
            kind,
            token: None,
            key_spec_index: None,
            optional: false,
            multiple: false,
            multiple_token: false,
            args: Vec::new(),
        }
    }

    fn pure_token(token: &str) -> Arg {
        Arg {
            token: Some(token.to_owned()),
            ..Arg::new(&token.to_ascii_lowercase(), ArgType::PureToken)
        }
    }

    fn group(kind: ArgType, args: Vec<Arg>) -> Arg {
        // The name stays empty until a token or label names the group; `finish`
        // gives the rest their default names.
        Arg {
            args,
            ..Arg::new("", kind)
        }
    }

    fn with_token(mut self, token: &str) -> Arg {
        if self.name.is_empty() {
            self.name = token.to_ascii_lowercase();
        }
        self.token = Some(token.to_owned());
        self
    }
}

/// Parses a syntax line into the command's argument list, key arguments numbered.
pub fn parse(line: &str) -> Result<Vec<Arg>, SyntaxError> {
    let items = tree(line)?;
    let mut args = list(&items)?;
    let mut next_key = 0;
    finish(&mut args, &mut next_key);
    Ok(args)
}

/// A sequence item on its way to becoming an argument: tokens wait to see whether
/// a value follows them.
enum Unit<'a> {
    Token(&'a str),
    Arg(Arg),
}

/// Turns a sequence into arguments, folding repeats, then giving each token to the
/// argument after it (or making it a pure token).
fn list(items: &[Node<'_>]) -> Result<Vec<Arg>, SyntaxError> {
    let units = fold_repeats(items)?;
    Ok(attach_tokens(units))
}

/// Turns one group alternative into a single argument.
fn single(items: &[Node<'_>]) -> Result<Arg, SyntaxError> {
    let mut units = fold_repeats(items)?;
    Ok(match units.as_mut_slice() {
        [Unit::Token(token)] => Arg::pure_token(token),
        [Unit::Token(_), Unit::Arg(_)] | [Unit::Arg(_)] => attach_tokens(units)
            .pop()
            .expect("one unit makes one argument"),
        [Unit::Token(token), ..] => {
            let token = *token;
            Arg::group(ArgType::Block, attach_tokens(units.split_off(1))).with_token(token)
        }
        _ => Arg::group(ArgType::Block, attach_tokens(units)),
    })
}

fn attach_tokens(units: Vec<Unit<'_>>) -> Vec<Arg> {
    let mut out = Vec::with_capacity(units.len());
    let mut units = units.into_iter().peekable();
    while let Some(unit) = units.next() {
        out.push(match unit {
            Unit::Arg(arg) => arg,
            Unit::Token(token) => match units.next_if(|u| matches!(u, Unit::Arg(_))) {
                Some(Unit::Arg(arg)) => arg.with_token(token),
                _ => Arg::pure_token(token),
            },
        });
    }
    out
}

/// Builds units from a sequence; `x [x ...]` and `x...` become one repeatable unit.
fn fold_repeats<'a>(items: &[Node<'a>]) -> Result<Vec<Unit<'a>>, SyntaxError> {
    let mut units: Vec<Unit<'a>> = Vec::new();
    // The node each unit came from, `None` for folded repeats: only plain nodes can
    // be what a later `[... ...]` repeats.
    let mut sources: Vec<Option<&Node<'a>>> = Vec::new();
    for item in items {
        match item {
            Node::Ellipsis => match units.last_mut() {
                Some(Unit::Arg(arg)) => {
                    arg.multiple = true;
                    sources.pop();
                    sources.push(None);
                }
                _ => return error("`...` after nothing repeatable", &format!("{items:?}")),
            },
            Node::Group {
                optional: true,
                alts,
                ..
            } if alts.len() == 1
                && alts[0].len() > 1
                && alts[0].last() == Some(&Node::Ellipsis) =>
            {
                let repeated = &alts[0][..alts[0].len() - 1];
                let n = repeated.len();
                let start = sources.len().checked_sub(n);
                let same = start.is_some_and(|start| {
                    sources[start..]
                        .iter()
                        .zip(repeated)
                        .all(|(source, node)| *source == Some(node))
                });
                let Some(start) = start.filter(|_| same) else {
                    return error(
                        "a repeat of something not just before it",
                        &format!("{item:?}"),
                    );
                };
                units.truncate(start);
                sources.truncate(start);
                let mut arg = single(repeated)?;
                arg.multiple = true;
                arg.multiple_token = arg.token.is_some();
                units.push(Unit::Arg(arg));
                sources.push(None);
            }
            Node::Token(token) => {
                units.push(Unit::Token(token));
                sources.push(Some(item));
            }
            Node::Value(name, kind) => {
                units.push(Unit::Arg(Arg::new(name, *kind)));
                sources.push(Some(item));
            }
            Node::Group {
                label,
                optional,
                alts,
            } => {
                let mut arg = match alts.as_slice() {
                    [alt] => single(alt)?,
                    _ => Arg::group(
                        ArgType::OneOf,
                        alts.iter()
                            .map(|alt| single(alt))
                            .collect::<Result<_, _>>()?,
                    ),
                };
                arg.optional |= *optional;
                if let Some(label) = label {
                    arg.name = (*label).to_owned();
                }
                units.push(Unit::Arg(arg));
                sources.push(Some(item));
            }
        }
    }
    Ok(units)
}

/// Gives unnamed groups their default names and numbers key arguments in order.
fn finish(args: &mut [Arg], next_key: &mut usize) {
    for arg in args {
        finish(&mut arg.args, next_key);
        if arg.kind == ArgType::Key {
            arg.key_spec_index = Some(*next_key);
            *next_key += 1;
        }
        if arg.name.is_empty() {
            arg.name = match arg.kind {
                ArgType::OneOf => arg
                    .args
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join("-"),
                _ => "data".to_owned(),
            };
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn value(name: &str, kind: ArgType) -> Arg {
        Arg::new(name, kind)
    }

    fn optional(mut arg: Arg) -> Arg {
        arg.optional = true;
        arg
    }

    fn multiple(mut arg: Arg) -> Arg {
        arg.multiple = true;
        arg
    }

    fn key(index: usize) -> Arg {
        Arg {
            key_spec_index: Some(index),
            ..value("key", ArgType::Key)
        }
    }

    fn parsed(line: &str) -> Vec<Arg> {
        parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn words_are_tokens_when_upper_case_and_values_otherwise() {
        assert_eq!(
            parsed("key WITHSCORES"),
            vec![key(0), Arg::pure_token("WITHSCORES")]
        );
        assert_eq!(parsed("LIB-NAME")[0].kind, ArgType::PureToken);
        assert_eq!(parsed("ip:port")[0], value("ip:port", ArgType::String));
    }

    #[test]
    fn types_come_from_the_name_unless_annotated() {
        assert_eq!(
            parsed("count increment:double pattern unix-time-seconds field"),
            vec![
                value("count", ArgType::Integer),
                value("increment", ArgType::Double),
                value("pattern", ArgType::Pattern),
                value("unix-time-seconds", ArgType::UnixTime),
                value("field", ArgType::String),
            ]
        );
    }

    #[test]
    fn a_token_before_a_value_introduces_it() {
        let mut rank = value("rank", ArgType::Integer).with_token("RANK");
        rank.optional = true;
        assert_eq!(parsed("[RANK rank]"), vec![rank]);
    }

    #[test]
    fn a_choice_of_tokens_is_a_oneof_named_by_its_label() {
        let mut condition = Arg::group(
            ArgType::OneOf,
            vec![Arg::pure_token("NX"), Arg::pure_token("XX")],
        );
        condition.name = "condition".into();
        condition.optional = true;
        assert_eq!(parsed("condition=[NX | XX]"), vec![condition]);
    }

    #[test]
    fn unlabelled_groups_take_their_token_or_a_default_name() {
        let args =
            parsed("<LEFT | RIGHT> [LIMIT offset count] <field value> [AGGREGATE <SUM | MAX>]");
        let names: Vec<_> = args.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["left-right", "limit", "data", "aggregate"]);
        assert_eq!(args[1].kind, ArgType::Block);
        assert_eq!(args[1].token.as_deref(), Some("LIMIT"));
        assert_eq!(args[3].kind, ArgType::OneOf);
        assert_eq!(args[3].token.as_deref(), Some("AGGREGATE"));
    }

    #[test]
    fn a_trailing_repeat_group_makes_what_it_repeats_multiple() {
        assert_eq!(parsed("key [key ...]"), vec![multiple(key(0))]);
        assert_eq!(
            parsed("[channel [channel ...]]"),
            vec![optional(multiple(value("channel", ArgType::String)))]
        );
        let pairs = parsed("key score member [score member ...]");
        assert_eq!(pairs.len(), 2);
        assert_eq!(
            pairs[1],
            multiple(Arg::group(
                ArgType::Block,
                vec![
                    value("score", ArgType::Double),
                    value("member", ArgType::String)
                ]
            ))
            .renamed("data")
        );
    }

    #[test]
    fn a_repeated_token_is_multiple_token_but_a_token_before_a_repeat_is_not() {
        let get = &parsed("[GET pattern [GET pattern ...]]")[0];
        assert!(get.optional && get.multiple && get.multiple_token);
        assert_eq!(get.token.as_deref(), Some("GET"));
        let weights = &parsed("[WEIGHTS weight [weight ...]]")[0];
        assert!(weights.optional && weights.multiple && !weights.multiple_token);
        assert_eq!(weights.token.as_deref(), Some("WEIGHTS"));
    }

    #[test]
    fn an_ellipsis_after_a_group_repeats_the_group() {
        let args = parsed("<[ID id] | [USER name]>...");
        assert_eq!(args[0].kind, ArgType::OneOf);
        assert!(args[0].multiple && !args[0].optional);
        assert!(args[0].args.iter().all(|a| a.optional));
    }

    #[test]
    fn key_arguments_are_numbered_in_order() {
        let args = parsed("destination numkeys key [key ...] [WEIGHTS weight]");
        assert_eq!(args[0].key_spec_index, Some(0));
        assert_eq!(args[1].key_spec_index, None);
        assert_eq!(args[2].key_spec_index, Some(1));
    }

    #[test]
    fn malformed_lines_are_errors() {
        for line in [
            "[key",
            "key]",
            "[key>",
            "a | b",
            "[]",
            "[a | ]",
            "x [y ...]",
            "...",
            "label= key",
            "a=b",
        ] {
            assert!(parse(line).is_err(), "{line:?} parsed");
        }
    }

    #[test]
    fn an_empty_line_has_no_arguments() {
        assert_eq!(parsed(""), Vec::new());
    }

    impl Arg {
        fn renamed(mut self, name: &str) -> Arg {
            self.name = name.into();
            self
        }
    }
}
