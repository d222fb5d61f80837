//! Sets commands.

use crate::spec::CommandSpec;

/// Sets commands.
pub const COMMANDS: &[CommandSpec] = &[];
