//! Errors of the scripting crate.

/// Why a script could not be compiled or run (the text is Redis's reply).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The script does not compile.
    #[error("{COMPILE_PREFIX}{0}")]
    Compile(String),
    /// The script's shebang line is invalid (the text is Redis's error).
    #[error("{0}")]
    Shebang(String),
    /// The Lua state could not be set up.
    #[error("ERR could not set up the Lua interpreter: {0}")]
    Setup(String),
}

/// How [`ScriptError::Compile`] replies start.
const COMPILE_PREFIX: &str = "ERR Error compiling script (new function): ";

/// True for the reply of a script that did not compile (EVAL does not cache it).
pub fn is_compile_error(reply: &okapi_engine::Reply) -> bool {
    matches!(reply, okapi_engine::Reply::Error(okapi_engine::EngineError::Other(text))
        if text.starts_with(COMPILE_PREFIX))
}
