//! Lists commands.

use crate::spec::CommandSpec;

/// Lists commands.
pub const COMMANDS: &[CommandSpec] = &[];
