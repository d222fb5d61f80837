//! Limits and defaults shared by the protocol decoder, the engine and the server.

/// Longest key accepted anywhere (SPEC §3: keys up to 64 KiB).
pub const MAX_KEY_LEN: usize = 64 * 1024;

/// Default for `proto-max-bulk-len`: the largest bulk string a client may send.
pub const DEFAULT_PROTO_MAX_BULK_LEN: usize = 512 * 1024 * 1024;

/// Default for the largest number of elements in one request array.
pub const DEFAULT_MAX_ARRAY_LEN: usize = 1024 * 1024 * 1024;

/// Default for the deepest nesting of aggregate frames a decoder accepts.
pub const DEFAULT_MAX_DEPTH: usize = 32;

/// Longest inline command (a line typed in telnet), as Redis's `PROTO_INLINE_MAX_SIZE`.
pub const MAX_INLINE_LEN: usize = 64 * 1024;

/// Default number of numbered namespaces reachable with `SELECT`.
pub const DEFAULT_DATABASES: u32 = 16;

/// Default RESP port.
pub const DEFAULT_PORT: u16 = 6379;

/// Default HTTP API port.
pub const DEFAULT_HTTP_PORT: u16 = 8379;

/// Largest string value, as Redis (`SETRANGE`/`APPEND` stop here).
pub const MAX_STRING_LEN: usize = 512 * 1024 * 1024;
