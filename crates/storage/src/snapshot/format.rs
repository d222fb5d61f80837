//! The snapshot file format, byte by byte.
//!
//! ```text
//! header: magic "OKSN" | version u8 | 3 zero bytes | group u64 | index u64
//!         | meta_len u32 | meta | crc32c u32 (of everything before it)
//! blocks: crc32c u32 | size u32 | flags u8 | decompressed_size u32 | data[size]
//!         (crc over size..data; flags: 1 = lz4 block, 2 = end block)
//! end:    one block with flags = 2 and 20 bytes of data:
//!         block_count u64 | total_decompressed u64 | crc32c of all decompressed data
//! ```
//! All integers little-endian. A block stores its data raw when lz4 does not shrink
//! it. The end block has a fixed size, so a reader checks it (and thus that the file
//! is complete) before reading any data.

use okapi_types::GroupId;

/// Magic at the start of every snapshot file.
pub(crate) const MAGIC: [u8; 4] = *b"OKSN";
/// Version of the snapshot format. Version 2 metadata starts with the caller's format
/// byte; version 1 files are read with [`crate::LEGACY_PAYLOAD`] put in front of theirs.
pub(crate) const VERSION: u8 = 2;
/// The version before metadata carried a format byte.
pub(crate) const VERSION_1: u8 = 1;
/// Header bytes before the metadata.
pub(crate) const HEADER_FIXED: usize = 28;
/// Size of a block header.
pub(crate) const BLOCK_HEADER: usize = 13;
/// Largest block data (raw or decompressed); bigger chunks are split.
pub(crate) const MAX_BLOCK: usize = 1 << 20;
/// Largest metadata accepted.
pub(crate) const MAX_META: usize = 64 << 20;
/// Flag: data is an lz4 block.
pub(crate) const FLAG_LZ4: u8 = 1;
/// Flag: the end block with totals.
pub(crate) const FLAG_END: u8 = 2;
/// Data size of the end block.
pub(crate) const END_DATA: usize = 20;
/// Whole end block.
pub(crate) const END_BLOCK: usize = BLOCK_HEADER + END_DATA;

/// Encodes the header for a snapshot of `group` at `index`.
pub(crate) fn encode_header(group: GroupId, index: u64, meta: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_FIXED + meta.len() + 4);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&group.0.to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    let meta_len = u32::try_from(meta.len()).expect("meta is checked against MAX_META");
    out.extend_from_slice(&meta_len.to_le_bytes());
    out.extend_from_slice(meta);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The fixed part of a header: group, index, metadata length, and the file's version.
pub(crate) fn parse_fixed_header(
    h: &[u8; HEADER_FIXED],
) -> Result<(GroupId, u64, usize, u8), String> {
    if h[..4] != MAGIC {
        return Err("not a snapshot file (bad magic)".to_string());
    }
    if h[4] != VERSION && h[4] != VERSION_1 {
        return Err(format!("unsupported snapshot version {}", h[4]));
    }
    let meta_len = u32_at(h, 24) as usize;
    if meta_len > MAX_META {
        return Err(format!("impossible metadata length {meta_len}"));
    }
    Ok((GroupId(u64_at(h, 8)), u64_at(h, 16), meta_len, h[4]))
}

/// Appends one block holding `raw` (at most [`MAX_BLOCK`] bytes).
pub(crate) fn encode_block(raw: &[u8], out: &mut Vec<u8>) {
    let compressed = lz4_flex::block::compress(raw);
    let (flags, data) = if compressed.len() < raw.len() {
        (FLAG_LZ4, compressed.as_slice())
    } else {
        (0, raw)
    };
    push_block(flags, data, raw.len(), out);
}

/// Appends the end block with the totals.
pub(crate) fn encode_end(blocks: u64, bytes: u64, crc: u32, out: &mut Vec<u8>) {
    let mut data = [0u8; END_DATA];
    data[..8].copy_from_slice(&blocks.to_le_bytes());
    data[8..16].copy_from_slice(&bytes.to_le_bytes());
    data[16..].copy_from_slice(&crc.to_le_bytes());
    push_block(FLAG_END, &data, END_DATA, out);
}

fn push_block(flags: u8, data: &[u8], decompressed: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let size = u32::try_from(data.len()).expect("blocks are at most MAX_BLOCK");
    out.extend_from_slice(&size.to_le_bytes());
    out.push(flags);
    let dsize = u32::try_from(decompressed).expect("blocks are at most MAX_BLOCK");
    out.extend_from_slice(&dsize.to_le_bytes());
    out.extend_from_slice(data);
    let crc = crc32c::crc32c(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// A parsed block header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockHeader {
    pub crc: u32,
    pub size: usize,
    pub flags: u8,
    pub decompressed: usize,
}

/// Parses and sanity-checks a block header.
pub(crate) fn parse_block_header(h: &[u8; BLOCK_HEADER]) -> Result<BlockHeader, String> {
    let b = BlockHeader {
        crc: u32_at(h, 0),
        size: u32_at(h, 4) as usize,
        flags: h[8],
        decompressed: u32_at(h, 9) as usize,
    };
    if b.flags & !(FLAG_LZ4 | FLAG_END) != 0 || b.flags == FLAG_LZ4 | FLAG_END {
        return Err(format!("unknown block flags {:#04x}", b.flags));
    }
    if b.size > MAX_BLOCK || b.decompressed > MAX_BLOCK {
        return Err(format!(
            "impossible block size {} ({} decompressed)",
            b.size, b.decompressed
        ));
    }
    if b.flags & FLAG_LZ4 == 0 && b.size != b.decompressed {
        return Err(format!(
            "raw block of {} bytes claims {} decompressed",
            b.size, b.decompressed
        ));
    }
    Ok(b)
}

/// Checks a block's CRC and returns its decompressed data.
pub(crate) fn open_block(
    h: &[u8; BLOCK_HEADER],
    b: &BlockHeader,
    data: &[u8],
) -> Result<Vec<u8>, String> {
    let actual = crc32c::crc32c_append(crc32c::crc32c(&h[4..]), data);
    if actual != b.crc {
        return Err(format!(
            "block checksum mismatch (stored {:#010x}, computed {actual:#010x})",
            b.crc
        ));
    }
    if b.flags & FLAG_LZ4 == 0 {
        return Ok(data.to_vec());
    }
    let mut out = vec![0u8; b.decompressed];
    match lz4_flex::block::decompress_into(data, &mut out) {
        Ok(n) if n == b.decompressed => Ok(out),
        Ok(n) => Err(format!(
            "block decompressed to {n} bytes, header says {}",
            b.decompressed
        )),
        Err(e) => Err(format!("block does not decompress: {e}")),
    }
}

/// Totals stored in an end block: `(blocks, bytes, crc)`.
pub(crate) fn parse_end(data: &[u8]) -> (u64, u64, u32) {
    (u64_at(data, 0), u64_at(data, 8), u32_at(data, 16))
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_parts(buf: &[u8]) -> ([u8; BLOCK_HEADER], &[u8]) {
        let mut h = [0u8; BLOCK_HEADER];
        h.copy_from_slice(&buf[..BLOCK_HEADER]);
        (h, &buf[BLOCK_HEADER..])
    }

    #[test]
    fn compressible_blocks_shrink_and_round_trip() {
        let raw = vec![7u8; 10_000];
        let mut buf = Vec::new();
        encode_block(&raw, &mut buf);
        assert!(buf.len() < 1_000, "lz4 should shrink a run of one byte");
        let (h, data) = block_parts(&buf);
        let b = parse_block_header(&h).expect("header");
        assert_eq!(b.flags, FLAG_LZ4);
        assert_eq!(open_block(&h, &b, data).expect("open"), raw);
    }

    #[test]
    fn incompressible_blocks_are_stored_raw() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let raw: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let mut buf = Vec::new();
        encode_block(&raw, &mut buf);
        let (h, data) = block_parts(&buf);
        let b = parse_block_header(&h).expect("header");
        assert_eq!(b.flags, 0);
        assert_eq!(open_block(&h, &b, data).expect("open"), raw);
    }

    #[test]
    fn a_flipped_data_byte_fails_the_checksum() {
        let mut buf = Vec::new();
        encode_block(b"hello hello hello hello", &mut buf);
        let last = buf.len() - 1;
        buf[last] ^= 1;
        let (h, data) = block_parts(&buf);
        let b = parse_block_header(&h).expect("header");
        assert!(
            open_block(&h, &b, data)
                .expect_err("damaged")
                .contains("checksum")
        );
    }

    #[test]
    fn header_round_trips() {
        let h = encode_header(GroupId(3), 99, b"meta");
        let mut fixed = [0u8; HEADER_FIXED];
        fixed.copy_from_slice(&h[..HEADER_FIXED]);
        assert_eq!(parse_fixed_header(&fixed), Ok((GroupId(3), 99, 4, VERSION)));
        assert_eq!(h.len(), HEADER_FIXED + 4 + 4);
    }
}
