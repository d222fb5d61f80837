//! WAL settings: the `appendfsync` policy and segment size.

use std::fmt;
use std::str::FromStr;

/// When the WAL calls `fsync`, as Redis's `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FsyncPolicy {
    /// Appends are acknowledged once an fsync covers them (one fsync serves all the
    /// appends written before it started: group commit).
    Always,
    /// Appends are acknowledged after `write(2)`; a background thread fsyncs once a
    /// second.
    #[default]
    EverySec,
    /// The operating system decides when data reaches the disk (the WAL still syncs
    /// at segment rotation, `sync()` and `close()`).
    No,
}

impl FsyncPolicy {
    /// The configuration spelling (`always`, `everysec`, `no`).
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::No => "no",
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value given is not `always`, `everysec` or `no`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid appendfsync value {0:?}: expected always, everysec or no")]
pub struct ParseFsyncPolicyError(pub String);

impl FromStr for FsyncPolicy {
    type Err = ParseFsyncPolicyError;

    /// Case-insensitive, as Redis's `CONFIG SET appendfsync`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Ok(FsyncPolicy::Always),
            "everysec" => Ok(FsyncPolicy::EverySec),
            "no" => Ok(FsyncPolicy::No),
            _ => Err(ParseFsyncPolicyError(s.to_string())),
        }
    }
}

/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// Settings of a [`crate::Wal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// When to fsync (default `everysec`).
    pub fsync: FsyncPolicy,
    /// A segment is rotated once it reaches this size (default 64 MiB). A single
    /// append is never split, so a segment may exceed it by one append.
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            fsync: FsyncPolicy::EverySec,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_policy_parses_redis_spellings() {
        assert_eq!("always".parse(), Ok(FsyncPolicy::Always));
        assert_eq!("EverySec".parse(), Ok(FsyncPolicy::EverySec));
        assert_eq!("no".parse(), Ok(FsyncPolicy::No));
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
        assert_eq!(FsyncPolicy::default().to_string(), "everysec");
    }
}
