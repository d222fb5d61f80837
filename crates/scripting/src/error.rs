//! Errors of the scripting crate.

/// Why a script could not be compiled or run (the text is Redis's reply).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The script does not compile.
    #[error("ERR Error compiling script (new function): {0}")]
    Compile(String),
    /// The script's shebang line is invalid (the text is Redis's error).
    #[error("{0}")]
    Shebang(String),
    /// The Lua state could not be set up.
    #[error("ERR could not set up the Lua interpreter: {0}")]
    Setup(String),
}
