//! Zsets commands.

use crate::spec::CommandSpec;

/// Zsets commands.
pub const COMMANDS: &[CommandSpec] = &[];
