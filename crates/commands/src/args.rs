//! Reading command arguments: a cursor with typed accessors that produce Redis's error
//! texts.

use bytes::Bytes;
use okapi_types::num::{parse_f64, parse_i64};

use crate::error::CommandError;

/// A cursor over a command's arguments (the command name excluded).
#[derive(Debug, Clone)]
pub struct Args<'a> {
    args: &'a [Bytes],
    pos: usize,
}

impl<'a> Args<'a> {
    /// A cursor at the first argument.
    pub fn new(args: &'a [Bytes]) -> Self {
        Self { args, pos: 0 }
    }

    /// Arguments not consumed yet.
    pub fn remaining(&self) -> usize {
        self.args.len() - self.pos
    }

    /// True when every argument was consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unconsumed arguments.
    pub fn rest(&self) -> &'a [Bytes] {
        &self.args[self.pos..]
    }

    /// The next argument without consuming it.
    pub fn peek(&self) -> Option<&'a Bytes> {
        self.args.get(self.pos)
    }

    /// The next argument, or a syntax error.
    pub fn next_arg(&mut self) -> Result<&'a Bytes, CommandError> {
        let arg = self.args.get(self.pos).ok_or(CommandError::Syntax)?;
        self.pos += 1;
        Ok(arg)
    }

    /// The next argument as an owned `Bytes` (cheap: reference counted).
    pub fn bytes(&mut self) -> Result<Bytes, CommandError> {
        self.next_arg().cloned()
    }

    /// The next argument as an `i64`.
    pub fn i64(&mut self) -> Result<i64, CommandError> {
        int(self.next_arg()?)
    }

    /// The next argument as an `f64`.
    pub fn f64(&mut self) -> Result<f64, CommandError> {
        float(self.next_arg()?)
    }

    /// Consumes the next argument if it equals `word` (ASCII case-insensitive).
    pub fn eat(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(arg) if arg.eq_ignore_ascii_case(word.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// Fails with a syntax error unless every argument was consumed.
    pub fn finish(&self) -> Result<(), CommandError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(CommandError::Syntax)
        }
    }

    /// Every remaining argument, owned.
    pub fn all(&mut self) -> Vec<Bytes> {
        let rest = self.rest().to_vec();
        self.pos = self.args.len();
        rest
    }
}

/// An argument as an `i64`, with Redis's error.
pub fn int(arg: &[u8]) -> Result<i64, CommandError> {
    parse_i64(arg).ok_or(CommandError::NotInteger)
}

/// An argument as an `f64`, with Redis's error.
pub fn float(arg: &[u8]) -> Result<f64, CommandError> {
    parse_f64(arg).ok_or(CommandError::NotFloat)
}

/// True when `arg` equals `word`, ignoring ASCII case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// A blocking-command timeout in seconds (fractions allowed) as milliseconds, rounded
/// up as Redis does; 0 means forever and is returned as `None`.
pub fn timeout_secs(arg: &[u8]) -> Result<Option<u64>, CommandError> {
    let secs = parse_f64(arg).ok_or(CommandError::InvalidTimeout)?;
    if secs < 0.0 {
        return Err(CommandError::NegativeTimeout);
    }
    let ms = (secs * 1000.0).ceil();
    if !ms.is_finite() || ms > i64::MAX as f64 {
        return Err(CommandError::other("ERR timeout is out of range"));
    }
    Ok(if ms == 0.0 { None } else { Some(ms as u64) })
}
