//! Hashes commands.

use crate::spec::CommandSpec;

/// Hashes commands.
pub const COMMANDS: &[CommandSpec] = &[];
