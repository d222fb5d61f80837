//! Blocks: large fixed-length byte values read and written at offsets (okapi's
//! `BLOCK.*`), for VM images, model weights and datasets kept in RAM.
//!
//! A block is stored sparsely in fixed pages of [`PAGE_SIZE`] bytes: a page that was
//! never written (or was cleared) is absent and reads as zeros, so a 1 GiB block costs
//! nothing until written. Pages are reference counted and shared copy-on-write: a
//! clone shares every page with its source until one of them writes it, and a read
//! hands the pages themselves to the connection (no copy per request), which the
//! copy-on-write keeps stable while the reply is on its way.
//!
//! Invariant: every byte at or beyond the block's length inside a stored page is zero,
//! so growing a block (TRUNCATE to a larger length) never exposes old data.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::value::Value;
use crate::{ApplyCtx, ReadCtx};

/// Bytes per page: the unit of allocation, sharing and copy-on-write.
pub const PAGE_SIZE: usize = 64 * 1024;
const PAGE: u64 = PAGE_SIZE as u64;

/// Longest block (16 TiB): far beyond any RAM, small enough that offsets plus lengths
/// never overflow.
pub const MAX_BLOCK_LEN: u64 = 1 << 44;

/// Most payload bytes one log op carries: larger writes become several ops, so no log
/// entry holds a multi-GiB write (see [`split`]).
pub const MAX_OP_BYTES: usize = 1 << 20;

/// Reads up to this size are copied into one buffer: cheaper than a reference per page.
const COPY_READS_UP_TO: u64 = 16 * 1024;

static ZEROS: [u8; PAGE_SIZE] = [0; PAGE_SIZE];

/// One page of a block, with its checksum once computed (pages shared by clones
/// compute it once).
#[derive(Clone)]
pub(crate) struct PageBuf {
    data: Box<[u8]>,
    crc: OnceLock<u32>,
}

impl PageBuf {
    fn zeroed() -> Arc<Self> {
        Arc::new(Self {
            data: vec![0u8; PAGE_SIZE].into_boxed_slice(),
            crc: OnceLock::new(),
        })
    }

    /// A page holding `data` (exactly [`PAGE_SIZE`] bytes, checked by the caller).
    pub(crate) fn from_slice(data: &[u8]) -> Arc<Self> {
        Arc::new(Self {
            data: data.into(),
            crc: OnceLock::new(),
        })
    }

    /// The page's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data
    }

    fn crc(&self) -> u32 {
        *self.crc.get_or_init(|| crc32c::crc32c(&self.data))
    }
}

/// The part of one page a byte range covers.
struct Span {
    /// Page index.
    index: u64,
    /// Offset of the range's first byte inside the page.
    within: usize,
    /// Bytes of the range in this page.
    len: usize,
}

/// The pages `[start, end)` touches, in order, with the part of each it covers.
fn spans(start: u64, end: u64) -> impl Iterator<Item = Span> {
    let mut pos = start;
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let (index, within) = (pos / PAGE, pos % PAGE);
        let len = (PAGE - within).min(end - pos);
        pos += len;
        Some(Span {
            index,
            within: within as usize,
            len: len as usize,
        })
    })
}

/// A page lent to a reply: keeps the page alive (and unwritable in place) until the
/// bytes have left.
struct PageRef(Arc<PageBuf>);

impl AsRef<[u8]> for PageRef {
    fn as_ref(&self) -> &[u8] {
        &self.0.data
    }
}

/// A shared page.
pub(crate) type Page = Arc<PageBuf>;

/// A block value: its length and the pages that hold data.
#[derive(Clone, Default)]
pub struct BlockValue {
    len: u64,
    pages: BTreeMap<u64, Page>,
}

impl std::fmt::Debug for BlockValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockValue")
            .field("len", &self.len)
            .field("pages", &self.pages.len())
            .finish()
    }
}

impl BlockValue {
    /// A block of `len` zero bytes (no memory until written).
    pub fn new(len: u64) -> Self {
        Self {
            len,
            pages: BTreeMap::new(),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for a zero-length block.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pages holding data.
    pub fn pages_used(&self) -> usize {
        self.pages.len()
    }

    /// Pages this block shares with another block (a clone, or a reply in flight).
    pub fn shared_pages(&self) -> usize {
        self.pages
            .values()
            .filter(|p| Arc::strong_count(p) > 1)
            .count()
    }

    /// Bytes of pages held (shared pages counted in full).
    pub fn page_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }

    /// The stored pages from index `first` on, in order.
    pub(crate) fn pages_from(&self, first: u64) -> impl Iterator<Item = (u64, &Page)> {
        self.pages.range(first..).map(|(&i, p)| (i, p))
    }

    /// Stores a page read back from a snapshot; false when the index lies outside the
    /// block or is already there (both only happen with corrupt data).
    pub(crate) fn restore_page(&mut self, index: u64, page: Page) -> bool {
        if index >= self.len.div_ceil(PAGE) || self.pages.contains_key(&index) {
            return false;
        }
        self.pages.insert(index, page);
        true
    }

    /// A page's bytes for writing: copied first when shared (copy-on-write).
    fn page_mut(&mut self, index: u64) -> &mut [u8] {
        let page = self.pages.entry(index).or_insert_with(PageBuf::zeroed);
        let buf = Arc::make_mut(page);
        buf.crc = OnceLock::new();
        &mut buf.data
    }

    /// Writes `data` at `offset`; bytes past the end are dropped. Returns how many
    /// bytes landed.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> u64 {
        if offset >= self.len {
            return 0;
        }
        let n = (data.len() as u64).min(self.len - offset);
        let mut rest = &data[..n as usize];
        for span in spans(offset, offset + n) {
            let (chunk, after) = rest.split_at(span.len);
            rest = after;
            // Zeros into a page that does not exist change nothing: no allocation (disk
            // images are mostly zeros, and copying them in must not fill RAM).
            if self.pages.contains_key(&span.index) || !is_zero(chunk) {
                self.page_mut(span.index)[span.within..span.within + span.len]
                    .copy_from_slice(chunk);
            }
        }
        n
    }

    /// Sets `[offset, offset + len)` back to zeros, cut at the end; pages that become
    /// all zeros are freed. Returns how many bytes of the block the range covered.
    pub fn zero(&mut self, offset: u64, len: u64) -> u64 {
        if offset >= self.len || len == 0 {
            return 0;
        }
        let end = offset.saturating_add(len).min(self.len);
        let (first, last) = (offset / PAGE, (end - 1) / PAGE);
        let (head, tail) = (offset % PAGE, end % PAGE);
        if first == last && (head != 0 || tail != 0) {
            self.zero_within(first, head as usize, (end - first * PAGE) as usize);
            return end - offset;
        }
        let (mut full_from, mut full_to) = (first, last + 1);
        if head != 0 {
            self.zero_within(first, head as usize, PAGE_SIZE);
            full_from += 1;
        }
        if tail != 0 {
            self.zero_within(last, 0, tail as usize);
            full_to -= 1;
        }
        self.remove_pages(full_from, full_to);
        end - offset
    }

    /// Zeros bytes `[from, to)` of page `index`, if it exists, and frees it when that
    /// leaves only zeros.
    fn zero_within(&mut self, index: u64, from: usize, to: usize) {
        if !self.pages.contains_key(&index) {
            return;
        }
        if from == 0 && to == PAGE_SIZE {
            self.pages.remove(&index);
            return;
        }
        let page = self.page_mut(index);
        page[from..to].fill(0);
        if is_zero(page) {
            self.pages.remove(&index);
        }
    }

    /// Drops pages `[from, to)` with two map splits, whatever their number.
    fn remove_pages(&mut self, from: u64, to: u64) {
        if from >= to {
            return;
        }
        let mut middle = self.pages.split_off(&from);
        let mut tail = middle.split_off(&to);
        self.pages.append(&mut tail);
    }

    /// Changes the length. Shrinking frees the pages past the end and zeros the tail
    /// of the last one, so a later grow reads zeros there.
    pub fn truncate(&mut self, len: u64) {
        if len < self.len {
            self.zero(len, self.len - len);
        }
        self.len = len;
    }

    /// The bytes of `[offset, offset + len)`, cut at the end, as pieces in order:
    /// stored pages are shared (no copy), absent ones are a static page of zeros.
    /// Short reads are copied into one piece instead.
    pub fn read(&self, offset: u64, len: u64) -> Vec<Bytes> {
        if offset >= self.len || len == 0 {
            return Vec::new();
        }
        let end = offset.saturating_add(len).min(self.len);
        if end - offset <= COPY_READS_UP_TO {
            let mut out = vec![0u8; (end - offset) as usize];
            self.copy_out(offset, &mut out);
            return vec![Bytes::from(out)];
        }
        spans(offset, end)
            .map(|span| match self.pages.get(&span.index) {
                Some(page) => Bytes::from_owner(PageRef(page.clone()))
                    .slice(span.within..span.within + span.len),
                None => Bytes::from_static(&ZEROS[..span.len]),
            })
            .collect()
    }

    /// Copies the bytes from `offset` into `out` (which must fit inside the block).
    pub fn copy_out(&self, offset: u64, out: &mut [u8]) {
        let mut rest = out;
        for span in spans(offset, offset + rest.len() as u64) {
            let (dst, after) = std::mem::take(&mut rest).split_at_mut(span.len);
            rest = after;
            match self.pages.get(&span.index) {
                Some(page) => dst.copy_from_slice(&page.data[span.within..span.within + span.len]),
                None => dst.fill(0),
            }
        }
    }

    /// CRC-32C (Castagnoli) of the whole content, zeros included: the same number any
    /// CRC-32C tool gives for the block saved to a file. Zero runs are folded in
    /// arithmetically and page checksums are cached, so a sparse or cloned block is
    /// cheap to check.
    pub fn checksum(&self) -> u32 {
        let mut crc = 0u32;
        let mut covered = 0u64;
        for (&index, page) in &self.pages {
            let start = index * PAGE;
            if start > covered {
                crc = append_zeros(crc, start - covered);
            }
            let len = PAGE.min(self.len - start);
            let page_crc = if len == PAGE {
                page.crc()
            } else {
                crc32c::crc32c(&page.data[..len as usize])
            };
            crc = crc32c::crc32c_combine(crc, page_crc, len as usize);
            covered = start + len;
        }
        if self.len > covered {
            crc = append_zeros(crc, self.len - covered);
        }
        crc
    }
}

fn is_zero(bytes: &[u8]) -> bool {
    // OR-folding a kilobyte at a time vectorizes; `all` alone would test byte by byte.
    bytes
        .chunks(1024)
        .all(|chunk| chunk.iter().fold(0u8, |acc, &b| acc | b) == 0)
}

/// `crc` extended by `n` zero bytes.
fn append_zeros(crc: u32, n: u64) -> u32 {
    static ZERO_PAGE_CRC: OnceLock<u32> = OnceLock::new();
    let mut result = crc;
    let mut pages = n / PAGE;
    let (mut power_crc, mut power_len) =
        (*ZERO_PAGE_CRC.get_or_init(|| crc32c::crc32c(&ZEROS)), PAGE);
    // All runs are zeros, so the order they are folded in does not matter: fold the
    // powers of two of the page count (O(log n) combines).
    while pages > 0 {
        if pages & 1 == 1 {
            result = crc32c::crc32c_combine(result, power_crc, power_len as usize);
        }
        pages >>= 1;
        if pages > 0 {
            power_crc = crc32c::crc32c_combine(power_crc, power_crc, power_len as usize);
            power_len *= 2;
        }
    }
    let rest = (n % PAGE) as usize;
    if rest > 0 {
        result = crc32c::crc32c_combine(result, crc32c::crc32c(&ZEROS[..rest]), rest);
    }
    result
}

/// One write of a BLOCK.SCATTER.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WritePiece {
    /// Block key.
    pub key: Bytes,
    /// Byte offset.
    pub offset: u64,
    /// Bytes to write there.
    pub data: Bytes,
}

/// One read of a BLOCK.GATHER.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReadPiece {
    /// Block key.
    pub key: Bytes,
    /// Byte offset.
    pub offset: u64,
    /// Bytes to read.
    pub len: u64,
}

/// Block writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum BlockOp {
    /// BLOCK.CREATE: a block of `len` bytes starting with `init`, zero-padded; replaces
    /// any value unless `nx` (then an existing key replies nil).
    Create {
        /// Key.
        key: Bytes,
        /// Length in bytes.
        len: u64,
        /// Initial bytes at offset 0.
        init: Bytes,
        /// Only create when the key does not exist.
        nx: bool,
    },
    /// BLOCK.WRITE / BLOCK.PUT: replies how many bytes landed (the rest was past the end).
    Write {
        /// Key.
        key: Bytes,
        /// Byte offset.
        offset: u64,
        /// Bytes to write.
        data: Bytes,
    },
    /// BLOCK.PUT with no payload (and NBD TRIM / WRITE_ZEROES): sets a range back to
    /// zeros and frees whole pages; replies how many bytes the range covered.
    Zero {
        /// Key.
        key: Bytes,
        /// Byte offset.
        offset: u64,
        /// Bytes to clear.
        len: u64,
    },
    /// BLOCK.TRUNCATE: a new length.
    Truncate {
        /// Key.
        key: Bytes,
        /// New length in bytes.
        len: u64,
    },
    /// BLOCK.CLONE: `dst` shares every page of `src` until either writes it; replies 1,
    /// or 0 when `dst` exists and `replace` is off.
    Clone {
        /// Source block.
        src: Bytes,
        /// New key.
        dst: Bytes,
        /// Overwrite an existing `dst`.
        replace: bool,
    },
    /// BLOCK.SCATTER: several writes applied together; every key must be a block, or
    /// none is written. Replies the bytes landed per piece.
    Scatter {
        /// The writes, in order.
        pieces: Vec<WritePiece>,
    },
}

/// Block reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum BlockQuery {
    /// BLOCK.READ: the bytes, short at the end; nil for a missing key.
    Read {
        /// Key.
        key: Bytes,
        /// Byte offset.
        offset: u64,
        /// Bytes to read.
        len: u64,
    },
    /// BLOCK.GATHER: one `[length, bytes]` pair per piece (`[0, nil]` for a missing key).
    Gather {
        /// The reads, in order.
        pieces: Vec<ReadPiece>,
    },
    /// BLOCK.INFO: length, pages, sharing, checksum; nil for a missing key.
    Info {
        /// Key.
        key: Bytes,
    },
    /// The length alone (NBD and HTTP sizes), without the checksum INFO computes; nil
    /// for a missing key.
    Len {
        /// Key.
        key: Bytes,
    },
}

fn too_long() -> EngineError {
    EngineError::Other(format!(
        "ERR block length exceeds the maximum of {MAX_BLOCK_LEN} bytes"
    ))
}

impl BlockOp {
    pub(crate) fn apply(self, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {
            BlockOp::Create { key, len, init, nx } => {
                if len > MAX_BLOCK_LEN {
                    return Err(too_long());
                }
                if init.len() as u64 > len {
                    return Err(EngineError::Other(
                        "ERR initial bytes are longer than the block".into(),
                    ));
                }
                if nx && ks.write(&key, ctx).is_some() {
                    return Ok(Reply::Nil);
                }
                let mut block = BlockValue::new(len);
                block.write(0, &init);
                ks.insert(&key, Value::Block(block), ctx);
                ks.notify(EventClass::MODULE, "block.create", &key);
                Ok(Reply::Ok)
            }
            BlockOp::Write { key, offset, data } => {
                let block = existing(ks, &key, ctx)?;
                let landed = block.write(offset, &data);
                if landed > 0 {
                    ks.notify(EventClass::MODULE, "block.write", &key);
                }
                ks.finish_write::<BlockValue>(&key, ctx, landed > 0);
                Ok(Reply::Int(landed as i64))
            }
            BlockOp::Zero { key, offset, len } => {
                let block = existing(ks, &key, ctx)?;
                let cleared = block.zero(offset, len);
                if cleared > 0 {
                    ks.notify(EventClass::MODULE, "block.zero", &key);
                }
                ks.finish_write::<BlockValue>(&key, ctx, cleared > 0);
                Ok(Reply::Int(cleared as i64))
            }
            BlockOp::Truncate { key, len } => {
                if len > MAX_BLOCK_LEN {
                    return Err(too_long());
                }
                let block = existing(ks, &key, ctx)?;
                let changed = block.len() != len;
                block.truncate(len);
                if changed {
                    ks.notify(EventClass::MODULE, "block.truncate", &key);
                }
                ks.finish_write::<BlockValue>(&key, ctx, changed);
                Ok(Reply::Ok)
            }
            BlockOp::Clone { src, dst, replace } => {
                if src == dst {
                    return Err(EngineError::SameObject);
                }
                let copy = existing(ks, &src, ctx)?.clone();
                if !replace && ks.write(&dst, ctx).is_some() {
                    return Ok(Reply::Int(0));
                }
                ks.insert(&dst, Value::Block(copy), ctx);
                ks.notify(EventClass::MODULE, "block.clone", &dst);
                Ok(Reply::Int(1))
            }
            BlockOp::Scatter { pieces } => {
                // All or nothing: check every key before writing any.
                for piece in &pieces {
                    existing(ks, &piece.key, ctx)?;
                }
                let mut replies = Vec::with_capacity(pieces.len());
                for piece in pieces {
                    let block = existing(ks, &piece.key, ctx)?;
                    let landed = block.write(piece.offset, &piece.data);
                    if landed > 0 {
                        ks.notify(EventClass::MODULE, "block.write", &piece.key);
                    }
                    ks.finish_write::<BlockValue>(&piece.key, ctx, landed > 0);
                    replies.push(Reply::Int(landed as i64));
                }
                Ok(Reply::Array(replies))
            }
        }
    }
}

/// The block at `key` for a write; `ERR no such key` when absent.
fn existing<'k>(
    ks: &'k mut Keyspace,
    key: &[u8],
    ctx: &ApplyCtx,
) -> Result<&'k mut BlockValue, EngineError> {
    ks.write_as::<BlockValue>(key, ctx)?
        .ok_or(EngineError::NoSuchKey)
}

/// A read's reply: the pieces as one bulk string written without joining them.
fn bytes_reply(pieces: Vec<Bytes>) -> Reply {
    match pieces.len() {
        0 => Reply::Bulk(Bytes::new()),
        1 => Reply::Bulk(pieces.into_iter().next().unwrap_or_default()),
        _ => Reply::Pieces(pieces),
    }
}

impl BlockQuery {
    pub(crate) fn run(&self, ks: &mut Keyspace, ctx: &ReadCtx) -> Result<Reply, EngineError> {
        match self {
            BlockQuery::Read { key, offset, len } => {
                Ok(match ks.read_as::<BlockValue>(key, ctx.now_ms)? {
                    None => Reply::Nil,
                    Some(block) => bytes_reply(block.read(*offset, *len)),
                })
            }
            BlockQuery::Gather { pieces } => {
                let mut replies = Vec::with_capacity(pieces.len());
                for piece in pieces {
                    replies.push(match ks.read_as::<BlockValue>(&piece.key, ctx.now_ms)? {
                        None => Reply::Array(vec![Reply::Int(0), Reply::Nil]),
                        Some(block) => {
                            let bytes = block.read(piece.offset, piece.len);
                            let len: usize = bytes.iter().map(Bytes::len).sum();
                            Reply::Array(vec![Reply::Int(len as i64), bytes_reply(bytes)])
                        }
                    });
                }
                Ok(Reply::Array(replies))
            }
            BlockQuery::Len { key } => Ok(match ks.peek_as::<BlockValue>(key, ctx.now_ms)? {
                None => Reply::Nil,
                Some(block) => Reply::Int(block.len() as i64),
            }),
            BlockQuery::Info { key } => {
                let Some(block) = ks.read_as::<BlockValue>(key, ctx.now_ms)? else {
                    return Ok(Reply::Nil);
                };
                let field = |name: &'static str| Reply::Status(name);
                Ok(Reply::Map(vec![
                    (field("length"), Reply::Int(block.len() as i64)),
                    (field("page_size"), Reply::Int(PAGE_SIZE as i64)),
                    (field("pages"), Reply::Int(block.pages_used() as i64)),
                    (
                        field("shared_pages"),
                        Reply::Int(block.shared_pages() as i64),
                    ),
                    (field("memory"), Reply::Int(block.page_bytes() as i64)),
                    (
                        field("crc32c"),
                        Reply::Bulk(Bytes::from(format!("{:08x}", block.checksum()))),
                    ),
                ]))
            }
        }
    }
}

/// How the replies of an op split by [`split`] become the one reply its client expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// Integers added up (BLOCK.WRITE: bytes landed).
    Sum,
    /// The first op's reply (BLOCK.CREATE; the writes after it reply integers).
    First,
    /// Arrays of integers concatenated, then added up in groups of these sizes, one
    /// group per piece of the original BLOCK.SCATTER.
    PerPiece(Vec<usize>),
}

impl Merge {
    /// The client's reply from the replies of the split ops, in order. The first error
    /// wins: the ops before it may have been applied, as with any write of several
    /// log entries.
    pub fn merge(&self, replies: Vec<Reply>) -> Reply {
        if let Some(error) = replies.iter().find(|r| r.is_error()) {
            return error.clone();
        }
        let int = |r: &Reply| match r {
            Reply::Int(n) => *n,
            _ => 0,
        };
        match self {
            Merge::Sum => Reply::Int(replies.iter().map(int).sum()),
            Merge::First => replies.into_iter().next().unwrap_or(Reply::Nil),
            Merge::PerPiece(groups) => {
                let flat: Vec<i64> = replies
                    .iter()
                    .flat_map(|r| match r {
                        Reply::Array(items) => items.iter().map(int).collect(),
                        other => vec![int(other)],
                    })
                    .collect();
                let mut flat = flat.into_iter();
                Reply::Array(
                    groups
                        .iter()
                        .map(|&n| Reply::Int(flat.by_ref().take(n).sum()))
                        .collect(),
                )
            }
        }
    }
}

/// Payload bytes an op carries: what bounds the size of a log entry.
pub fn payload_len(op: &BlockOp) -> usize {
    match op {
        BlockOp::Create { init, .. } => init.len(),
        BlockOp::Write { data, .. } => data.len(),
        BlockOp::Scatter { pieces } => pieces.iter().map(|p| p.data.len()).sum(),
        BlockOp::Zero { .. } | BlockOp::Truncate { .. } | BlockOp::Clone { .. } => 0,
    }
}

/// Splits a block write carrying more than [`MAX_OP_BYTES`] into ops of at most that
/// much, in order, and says how to merge their replies; `None` when `op` fits. The
/// pieces are separate log entries: a reader may see a large write half done, as a
/// disk may show a torn large write.
pub fn split(op: &BlockOp) -> Option<(Vec<BlockOp>, Merge)> {
    if payload_len(op) <= MAX_OP_BYTES {
        return None;
    }
    match op {
        BlockOp::Create { key, len, init, nx } => {
            let mut ops = vec![BlockOp::Create {
                key: key.clone(),
                len: *len,
                init: init.slice(..MAX_OP_BYTES),
                nx: *nx,
            }];
            ops.extend(write_ops(
                key,
                MAX_OP_BYTES as u64,
                init.slice(MAX_OP_BYTES..),
            ));
            Some((ops, Merge::First))
        }
        BlockOp::Write { key, offset, data } => {
            Some((write_ops(key, *offset, data.clone()), Merge::Sum))
        }
        BlockOp::Scatter { pieces } => {
            let mut ops = Vec::new();
            let mut groups = Vec::with_capacity(pieces.len());
            let (mut batch, mut batch_bytes) = (Vec::new(), 0usize);
            for piece in pieces {
                let mut parts = 0;
                let mut start = 0;
                loop {
                    let room = MAX_OP_BYTES - batch_bytes;
                    let end = (start + room).min(piece.data.len());
                    batch.push(WritePiece {
                        key: piece.key.clone(),
                        offset: piece.offset + start as u64,
                        data: piece.data.slice(start..end),
                    });
                    parts += 1;
                    batch_bytes += end - start;
                    if batch_bytes >= MAX_OP_BYTES {
                        ops.push(BlockOp::Scatter {
                            pieces: std::mem::take(&mut batch),
                        });
                        batch_bytes = 0;
                    }
                    start = end;
                    if start >= piece.data.len() {
                        break;
                    }
                }
                groups.push(parts);
            }
            if !batch.is_empty() {
                ops.push(BlockOp::Scatter { pieces: batch });
            }
            Some((ops, Merge::PerPiece(groups)))
        }
        BlockOp::Zero { .. } | BlockOp::Truncate { .. } | BlockOp::Clone { .. } => None,
    }
}

/// [`split`] at the level of a whole [`Op`]: the pieces keep the op's namespace.
pub fn split_op(op: &crate::Op) -> Option<(Vec<crate::Op>, Merge)> {
    let crate::OpKind::Block(block_op) = &op.kind else {
        return None;
    };
    let (parts, merge) = split(block_op)?;
    let ops = parts
        .into_iter()
        .map(|part| crate::Op {
            db: op.db,
            kind: crate::OpKind::Block(part),
        })
        .collect();
    Some((ops, merge))
}

fn write_ops(key: &Bytes, offset: u64, data: Bytes) -> Vec<BlockOp> {
    (0..data.len())
        .step_by(MAX_OP_BYTES)
        .map(|start| BlockOp::Write {
            key: key.clone(),
            offset: offset + start as u64,
            data: data.slice(start..(start + MAX_OP_BYTES).min(data.len())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The block's whole content, the slow way.
    fn content(block: &BlockValue) -> Vec<u8> {
        block.read(0, block.len()).concat()
    }

    #[test]
    fn random_writes_zeros_and_truncates_match_a_flat_model() {
        let mut rng = Rng::new(7);
        let mut block = BlockValue::new(5 * PAGE + 123);
        let mut model = vec![0u8; block.len() as usize];
        for step in 0..2_000 {
            let len = model.len() as u64;
            let offset = rng.next_u64() % (len + 10);
            let size = rng.next_u64() % (2 * PAGE + 7);
            match rng.next_u64() % 10 {
                0..=5 => {
                    let data: Vec<u8> = (0..size).map(|i| (i as u8) ^ (step as u8) | 1).collect();
                    let landed = block.write(offset, &data);
                    let expect = if offset >= len {
                        0
                    } else {
                        size.min(len - offset)
                    };
                    assert_eq!(landed, expect, "step {step}");
                    model[offset.min(len) as usize..(offset + landed).min(len) as usize]
                        .copy_from_slice(&data[..landed as usize]);
                }
                6 | 7 => {
                    let cleared = block.zero(offset, size);
                    let end = offset.saturating_add(size).min(len);
                    assert_eq!(cleared, end.saturating_sub(offset), "step {step}");
                    if offset < len {
                        model[offset as usize..end as usize].fill(0);
                    }
                }
                8 => {
                    let new_len = rng.next_u64() % (6 * PAGE);
                    block.truncate(new_len);
                    model.resize(new_len as usize, 0);
                }
                _ => {
                    let got = block.read(offset, size).concat();
                    let from = offset.min(len) as usize;
                    let to = offset.saturating_add(size).min(len) as usize;
                    assert_eq!(got, &model[from..to.max(from)], "step {step}");
                }
            }
            assert_eq!(block.len(), model.len() as u64);
            if step % 50 == 0 {
                assert_eq!(content(&block), model, "step {step}");
                assert_eq!(block.checksum(), crc32c::crc32c(&model), "step {step}");
                // Never a page that holds only zeros, never one past the end.
                let pages = block.len().div_ceil(PAGE);
                for (index, page) in block.pages_from(0) {
                    assert!(index < pages, "page {index} past the end");
                    assert!(!is_zero(page.bytes()), "all-zero page {index} kept");
                }
            }
        }
    }

    #[test]
    fn a_sparse_block_costs_no_pages_and_reads_zeros() {
        let mut block = BlockValue::new(1 << 30);
        assert_eq!(block.pages_used(), 0);
        assert_eq!(block.write(PAGE * 100 + 5, &[0; 4096]), 4096, "zeros land");
        assert_eq!(
            block.pages_used(),
            0,
            "zeros into a missing page allocate nothing"
        );
        assert_eq!(block.write((1 << 30) - 2, b"abcd"), 2, "cut at the end");
        assert_eq!(block.pages_used(), 1);
        let tail = block.read((1 << 30) - 4, 100).concat();
        assert_eq!(tail, b"\0\0ab");
        let pieces = block.read(0, 1 << 20);
        assert_eq!(pieces.len(), 16, "one shared piece per page, no copy");
        assert!(pieces.iter().all(|p| p.iter().all(|&b| b == 0)));
        // CRC-32C of 1 GiB: zero runs folded in, equal to the direct computation.
        let mut direct = crc32c::crc32c_append(0, &[]);
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1023 {
            direct = crc32c::crc32c_append(direct, &zeros);
        }
        let mut last = vec![0u8; 1 << 20];
        last[(1 << 20) - 2..].copy_from_slice(b"ab");
        direct = crc32c::crc32c_append(direct, &last);
        assert_eq!(block.checksum(), direct);
    }

    #[test]
    fn clones_share_pages_until_written_and_readers_keep_their_bytes() {
        let mut source = BlockValue::new(4 * PAGE);
        source.write(0, &vec![1u8; 4 * PAGE_SIZE]);
        let mut clone = source.clone();
        assert_eq!((source.shared_pages(), clone.shared_pages()), (4, 4));
        let in_flight = clone.read(PAGE, PAGE);
        clone.write(PAGE + 10, b"xyz");
        assert_eq!(clone.shared_pages(), 3, "the written page was copied");
        assert_eq!(
            source.read(PAGE + 10, 3).concat(),
            [1, 1, 1],
            "source unchanged"
        );
        assert_eq!(clone.read(PAGE + 10, 3).concat(), b"xyz");
        assert!(
            in_flight.concat().iter().all(|&b| b == 1),
            "a reply taken before the write still holds the old bytes"
        );
        drop(source);
        assert_eq!(
            clone.shared_pages(),
            0,
            "sole owner once the source is gone"
        );
    }

    #[test]
    fn large_writes_split_into_bounded_ops_whose_replies_merge() {
        let key = Bytes::from_static(b"k");
        let data = Bytes::from(vec![7u8; 3 * MAX_OP_BYTES + 5]);
        let write = BlockOp::Write {
            key: key.clone(),
            offset: 10,
            data: data.clone(),
        };
        let (ops, merge) = split(&write).expect("split");
        assert_eq!(ops.len(), 4);
        assert!(ops.iter().all(|op| payload_len(op) <= MAX_OP_BYTES));
        let replies = ops
            .iter()
            .map(|op| Reply::Int(payload_len(op) as i64))
            .collect();
        assert_eq!(merge.merge(replies), Reply::Int(data.len() as i64));
        let small = BlockOp::Write {
            key: key.clone(),
            offset: 0,
            data: Bytes::from_static(b"x"),
        };
        assert!(split(&small).is_none());
        let scatter = BlockOp::Scatter {
            pieces: vec![
                WritePiece {
                    key: key.clone(),
                    offset: 0,
                    data: Bytes::from(vec![1u8; MAX_OP_BYTES / 2]),
                },
                WritePiece {
                    key: key.clone(),
                    offset: 5,
                    data: Bytes::from(vec![2u8; 2 * MAX_OP_BYTES]),
                },
                WritePiece {
                    key,
                    offset: 9,
                    data: Bytes::new(),
                },
            ],
        };
        let (ops, merge) = split(&scatter).expect("split");
        assert!(ops.iter().all(|op| payload_len(op) <= MAX_OP_BYTES));
        let total: usize = ops.iter().map(payload_len).sum();
        assert_eq!(total, MAX_OP_BYTES / 2 + 2 * MAX_OP_BYTES);
        let replies = ops
            .iter()
            .map(|op| match op {
                BlockOp::Scatter { pieces } => Reply::Array(
                    pieces
                        .iter()
                        .map(|p| Reply::Int(p.data.len() as i64))
                        .collect(),
                ),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            merge.merge(replies),
            Reply::Array(vec![
                Reply::Int((MAX_OP_BYTES / 2) as i64),
                Reply::Int((2 * MAX_OP_BYTES) as i64),
                Reply::Int(0),
            ])
        );
    }
}
