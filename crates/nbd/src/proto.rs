//! The NBD wire protocol, newstyle fixed negotiation and simple replies: constants
//! and the fixed-size headers (all integers big-endian).
//! Reference: the NBD protocol document (`doc/proto.md` of the nbd project).

/// `NBDMAGIC`: opens the server's greeting.
pub const NBD_MAGIC: u64 = 0x4e42_444d_4147_4943;
/// `IHAVEOPT`: the newstyle magic, also leading every client option.
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
/// Leads every option reply.
pub const OPTION_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
/// Leads every transmission request.
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
/// Leads every simple reply.
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

/// Handshake flags (server): fixed newstyle, and no 124 zero bytes after EXPORT_NAME.
pub const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
/// See [`FLAG_FIXED_NEWSTYLE`].
pub const FLAG_NO_ZEROES: u16 = 1 << 1;
/// Client flag: it speaks fixed newstyle.
pub const CLIENT_FIXED_NEWSTYLE: u32 = 1 << 0;
/// Client flag: no zero padding after EXPORT_NAME.
pub const CLIENT_NO_ZEROES: u32 = 1 << 1;

/// Options.
pub const OPT_EXPORT_NAME: u32 = 1;
/// End negotiation without an export.
pub const OPT_ABORT: u32 = 2;
/// List exports.
pub const OPT_LIST: u32 = 3;
/// Describe an export.
pub const OPT_INFO: u32 = 6;
/// Describe an export and start transmission.
pub const OPT_GO: u32 = 7;

/// Option replies.
pub const REP_ACK: u32 = 1;
/// An export's description.
pub const REP_INFO: u32 = 3;
/// The option is not supported.
pub const REP_ERR_UNSUP: u32 = (1 << 31) | 1;
/// The server's policy forbids the option (here: NBD cannot check a password).
pub const REP_ERR_POLICY: u32 = (1 << 31) | 2;
/// The option is malformed.
pub const REP_ERR_INVALID: u32 = (1 << 31) | 3;
/// No such export.
pub const REP_ERR_UNKNOWN: u32 = (1 << 31) | 6;
/// The option's data is longer than the server accepts.
pub const REP_ERR_TOO_BIG: u32 = (1 << 31) | 9;

/// Info types.
pub const INFO_EXPORT: u16 = 0;
/// Block size constraints.
pub const INFO_BLOCK_SIZE: u16 = 3;

/// Transmission flags.
pub const TFLAG_HAS_FLAGS: u16 = 1 << 0;
/// FLUSH is supported.
pub const TFLAG_SEND_FLUSH: u16 = 1 << 2;
/// FUA is supported.
pub const TFLAG_SEND_FUA: u16 = 1 << 3;
/// TRIM is supported.
pub const TFLAG_SEND_TRIM: u16 = 1 << 5;
/// WRITE_ZEROES is supported.
pub const TFLAG_SEND_WRITE_ZEROES: u16 = 1 << 6;
/// Several connections to one export see one consistent disk, and a FLUSH on one
/// covers writes completed on all.
pub const TFLAG_CAN_MULTI_CONN: u16 = 1 << 8;

/// Commands.
pub const CMD_READ: u16 = 0;
/// Write.
pub const CMD_WRITE: u16 = 1;
/// Disconnect.
pub const CMD_DISC: u16 = 2;
/// Flush.
pub const CMD_FLUSH: u16 = 3;
/// Trim (discard).
pub const CMD_TRIM: u16 = 4;
/// Prefetch hint.
pub const CMD_CACHE: u16 = 5;
/// Write zeros.
pub const CMD_WRITE_ZEROES: u16 = 6;

/// Command flag: force unit access (durable before the reply).
pub const CMD_FLAG_FUA: u16 = 1 << 0;

/// Errors (errno values).
pub const EIO: u32 = 5;
/// Invalid argument.
pub const EINVAL: u32 = 22;
/// No space (a write past the end).
pub const ENOSPC: u32 = 28;

/// Largest read or write payload accepted (also advertised as the maximum block size).
pub const MAX_PAYLOAD: u32 = 32 << 20;
/// Largest option data accepted during negotiation.
pub const MAX_OPTION: u32 = 64 * 1024;

/// A transmission request header (28 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Command flags.
    pub flags: u16,
    /// Command type.
    pub kind: u16,
    /// Client's handle, echoed in the reply.
    pub handle: u64,
    /// Byte offset.
    pub offset: u64,
    /// Byte length.
    pub length: u32,
}

impl Request {
    /// Size of the header on the wire.
    pub const LEN: usize = 28;

    /// Parses a header; `None` when the magic is wrong.
    pub fn parse(b: &[u8; Self::LEN]) -> Option<Self> {
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
        if u32_at(0) != REQUEST_MAGIC {
            return None;
        }
        Some(Self {
            flags: u16_at(4),
            kind: u16_at(6),
            handle: u64_at(8),
            offset: u64_at(16),
            length: u32_at(24),
        })
    }
}

/// A simple reply header (16 bytes).
pub fn simple_reply(error: u32, handle: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
    out[4..8].copy_from_slice(&error.to_be_bytes());
    out[8..].copy_from_slice(&handle.to_be_bytes());
    out
}

/// An option reply: header and data.
pub fn option_reply(option: u32, kind: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + data.len());
    out.extend_from_slice(&OPTION_REPLY_MAGIC.to_be_bytes());
    out.extend_from_slice(&option.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_parse_and_bad_magic_is_refused() {
        let mut b = [0u8; Request::LEN];
        b[..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        b[4..6].copy_from_slice(&CMD_FLAG_FUA.to_be_bytes());
        b[6..8].copy_from_slice(&CMD_WRITE.to_be_bytes());
        b[8..16].copy_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
        b[16..24].copy_from_slice(&(5u64 << 32 | 7).to_be_bytes());
        b[24..].copy_from_slice(&4096u32.to_be_bytes());
        assert_eq!(
            Request::parse(&b),
            Some(Request {
                flags: CMD_FLAG_FUA,
                kind: CMD_WRITE,
                handle: 0x0102_0304_0506_0708,
                offset: 5 << 32 | 7,
                length: 4096,
            })
        );
        b[0] ^= 1;
        assert_eq!(Request::parse(&b), None);
    }
}
