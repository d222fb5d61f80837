//! Command errors. Each becomes an error reply with Redis's exact text; none closes
//! the connection.

use okapi_engine::EngineError;

/// Why a command could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such command.
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand {
        /// The name as sent.
        name: String,
        /// The first arguments, quoted, as Redis prints them.
        args: String,
    },
    /// No such subcommand.
    #[error("ERR unknown subcommand '{sub}'. Try {command} HELP.")]
    UnknownSubcommand {
        /// Container command, upper case.
        command: String,
        /// The subcommand as sent.
        sub: String,
    },
    /// Argument count outside the command's arity.
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    /// Malformed arguments.
    #[error("ERR syntax error")]
    Syntax,
    /// An argument that must be an integer is not.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// An argument that must be a float is not.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// A timeout argument that is not a non-negative number.
    #[error("ERR timeout is not a float or out of range")]
    InvalidTimeout,
    /// A negative timeout.
    #[error("ERR timeout is negative")]
    NegativeTimeout,
    /// An expire time that is not positive or overflows.
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(String),
    /// A key longer than the limit.
    #[error("ERR key is too long (at most {0} bytes)")]
    KeyTooLong(usize),
    /// An error raised by the engine.
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// Any other error, already formatted with its prefix.
    #[error("{0}")]
    Other(String),
}

impl CommandError {
    /// The same reply as an engine error, for errors an engine read must report after
    /// its own checks (Redis's order of checks).
    pub fn into_engine(self) -> EngineError {
        match self {
            CommandError::Engine(e) => e,
            CommandError::Syntax => EngineError::Syntax,
            CommandError::NotInteger => EngineError::NotInteger,
            CommandError::NotFloat => EngineError::NotFloat,
            other => EngineError::Other(other.to_string()),
        }
    }

    /// An error with a custom message (prefix included, e.g. `ERR ...`).
    pub fn other(message: impl Into<String>) -> Self {
        CommandError::Other(message.into())
    }

    /// The Redis error for a command called with unknown arguments.
    pub fn unknown_command(name: &[u8], args: &[bytes::Bytes]) -> Self {
        let mut quoted = String::new();
        for arg in args.iter().take(20) {
            quoted.push('\'');
            quoted.push_str(&String::from_utf8_lossy(&arg[..arg.len().min(128)]));
            quoted.push_str("' ");
        }
        CommandError::UnknownCommand {
            name: String::from_utf8_lossy(&name[..name.len().min(128)]).into_owned(),
            args: quoted,
        }
    }
}
