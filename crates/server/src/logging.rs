//! The server's view of the process's log: its level, which `CONFIG SET loglevel`
//! changes at once, and how many lines the sink had to drop. The binary owns the
//! log sink and implements [`Logging`]; the server only needs these two handles.

use std::fmt;
use std::str::FromStr;

/// Redis's log levels, from most to least verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    /// Everything okapi logs, its traces included.
    Debug,
    /// okapi's debug detail.
    Verbose,
    /// okapi's information and every warning (the default).
    #[default]
    Notice,
    /// Warnings and errors only.
    Warning,
    /// Nothing.
    Nothing,
}

impl LogLevel {
    /// The level's Redis name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Verbose => "verbose",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Nothing => "nothing",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A log level name that is not one of Redis's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("argument(s) must be one of the following: debug, verbose, notice, warning, nothing")]
pub struct BadLogLevel;

impl FromStr for LogLevel {
    type Err = BadLogLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "debug" => LogLevel::Debug,
            "verbose" => LogLevel::Verbose,
            "notice" => LogLevel::Notice,
            "warning" => LogLevel::Warning,
            "nothing" => LogLevel::Nothing,
            _ => return Err(BadLogLevel),
        })
    }
}

/// The process's log, as the server controls it.
pub trait Logging: Send + Sync + 'static {
    /// Applies `level` to every later line.
    fn set_level(&self, level: LogLevel);
    /// Lines dropped so far because the sink could not take them (a closed pipe, a
    /// full disk, a reader too slow to keep up).
    fn dropped_lines(&self) -> u64;
}
