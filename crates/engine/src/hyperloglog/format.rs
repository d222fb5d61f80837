//! The HLL value as Redis lays it out (`hyperloglog.c`): a 16-byte header (`HYLL`,
//! encoding, 3 unused bytes, the cached cardinality little-endian with bit 63 set when
//! stale), then either 16384 six-bit registers packed LSB first (dense) or run-length
//! opcodes (sparse): `00xxxxxx` ZERO (1-64 zero registers), `01xxxxxx yyyyyyyy`
//! XZERO (1-16384), `1vvvvvxx` VAL (value 1-32, 1-4 registers).

/// Registers per HLL (precision 14).
pub const REGISTERS: usize = 1 << 14;
const P: u32 = 14;
const Q: usize = 64 - P as usize;
const HEADER: usize = 16;
const DENSE_SIZE: usize = HEADER + (REGISTERS * 6).div_ceil(8);
const REGISTER_MAX: u8 = 63;
/// Redis's `hll-sparse-max-bytes` default: past it a sparse HLL turns dense.
const SPARSE_MAX_BYTES: usize = 3000;
const ENC_DENSE: u8 = 0;
const ENC_SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;

/// One HLL value: its whole string, header included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hll(Vec<u8>);

/// Redis's MurmurHash64A with its HLL seed, over little-endian words.
fn murmur64a(key: &[u8]) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h: u64 = 0xadc8_3b19 ^ (key.len() as u64).wrapping_mul(M);
    let (words, tail) = key.as_chunks::<8>();
    for word in words {
        let mut k = u64::from_le_bytes(*word);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^ (h >> R)
}

/// The register an element maps to and the length of its `000...1` run.
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn dense_get(regs: &[u8], index: usize) -> u8 {
    let byte = index * 6 / 8;
    let fb = (index * 6) & 7;
    let b0 = u16::from(regs[byte]);
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REGISTER_MAX)) as u8
}

fn dense_set(regs: &mut [u8], index: usize, value: u8) {
    let byte = index * 6 / 8;
    let fb = (index * 6) & 7;
    let v = u16::from(value);
    let max = u16::from(REGISTER_MAX);
    regs[byte] = ((u16::from(regs[byte]) & !(max << fb)) | (v << fb)) as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        let keep = u16::from(*next) & !(max >> (8 - fb));
        *next = (keep | (v >> (8 - fb))) as u8;
    }
}

/// A decoded sparse opcode: (is a VAL, value, registers covered, bytes).
fn opcode(bytes: &[u8], at: usize) -> Option<(bool, u8, usize, usize)> {
    let b = *bytes.get(at)?;
    Some(if b & 0xc0 == 0 {
        (false, 0, usize::from(b & 0x3f) + 1, 1)
    } else if b & 0xc0 == 0x40 {
        let low = *bytes.get(at + 1)?;
        (
            false,
            0,
            ((usize::from(b & 0x3f) << 8) | usize::from(low)) + 1,
            2,
        )
    } else {
        (true, ((b >> 2) & 0x1f) + 1, usize::from(b & 0x3) + 1, 1)
    })
}

fn zero_op(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        out.push((l >> 8) as u8 | 0x40);
        out.push((l & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

fn val_op(value: u8, len: usize) -> u8 {
    ((value - 1) << 2) | (len - 1) as u8 | 0x80
}

/// How many registers hold each value (0..=Q+1).
pub(crate) fn histogram(registers: &[u8]) -> [u32; 64] {
    let mut h = [0u32; 64];
    registers.iter().for_each(|&r| h[usize::from(r & 63)] += 1);
    h
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// Ertl's estimator over a register histogram, as `hllCount`.
pub(crate) fn estimate(h: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(h[Q + 1])) / m);
    for &count in h[1..=Q].iter().rev() {
        z += f64::from(count);
        z *= 0.5;
    }
    z += m * sigma(f64::from(h[0]) / m);
    let alpha_inf = 0.721_347_520_444_481_7_f64;
    (alpha_inf * m * m / z).round() as u64
}

impl Hll {
    /// An empty HLL, as `createHLLObject`: sparse, one XZERO over every register.
    pub fn new() -> Self {
        let mut bytes = b"HYLL".to_vec();
        bytes.extend_from_slice(&[ENC_SPARSE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        zero_op(&mut bytes, XZERO_MAX_LEN);
        Hll(bytes)
    }

    /// A string holding an HLL (`isHLLObjectOrReply`), else `None`.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Self::is_hll(bytes).then(|| Hll(bytes.to_vec()))
    }

    /// Whether `bytes` is an HLL value (`isHLLObjectOrReply`'s checks).
    pub fn is_hll(bytes: &[u8]) -> bool {
        bytes.len() >= HEADER
            && &bytes[..4] == b"HYLL"
            && bytes[4] <= ENC_SPARSE
            && (bytes[4] != ENC_DENSE || bytes.len() == DENSE_SIZE)
    }

    /// Takes over a buffer [`Hll::is_hll`] accepted, without copying it.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Hll(bytes)
    }

    /// The value's buffer, given back without copying.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }

    /// The cached cardinality of the HLL in `bytes`, unless stale.
    pub fn cached_in(bytes: &[u8]) -> Option<u64> {
        let card = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
        (card >> 63 == 0).then_some(card)
    }

    /// The whole value.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether the registers are stored dense.
    pub fn is_dense(&self) -> bool {
        self.0[4] == ENC_DENSE
    }

    /// The cached cardinality, unless it is stale.
    pub fn cached(&self) -> Option<u64> {
        Self::cached_in(&self.0)
    }

    /// Stores a freshly computed cardinality.
    pub fn set_cache(&mut self, card: u64) {
        self.0[8..16].copy_from_slice(&card.to_le_bytes());
    }

    /// Marks the cached cardinality stale.
    pub fn invalidate_cache(&mut self) {
        self.0[15] |= 0x80;
    }

    /// PFADD of one element: whether a register grew; `None` for a corrupt value.
    pub fn add(&mut self, element: &[u8]) -> Option<bool> {
        let (index, count) = pattern(element);
        self.set(index, count)
    }

    /// Raises register `index` to `count` when it is lower: whether it grew.
    pub fn set(&mut self, index: usize, count: u8) -> Option<bool> {
        if self.is_dense() {
            let regs = &mut self.0[HEADER..];
            if dense_get(regs, index) < count {
                dense_set(regs, index, count);
                return Some(true);
            }
            return Some(false);
        }
        if count > VAL_MAX_VALUE {
            self.to_dense()?;
            return self.set(index, count);
        }
        self.sparse_set(index, count)
    }

    /// `hllSparseSet`: split the opcode covering `index`, then merge neighbours.
    fn sparse_set(&mut self, index: usize, count: u8) -> Option<bool> {
        let bytes = &self.0;
        let (mut at, mut first, mut prev) = (HEADER, 0usize, None);
        let (is_val, value, span, oplen) = loop {
            let (is_val, value, span, oplen) = opcode(bytes, at)?;
            if index < first + span {
                break (is_val, value, span, oplen);
            }
            prev = Some(at);
            at += oplen;
            first += span;
        };
        if is_val && value >= count {
            return Some(false);
        }
        if span == 1 && (is_val || oplen == 1) {
            // A one-register VAL or ZERO becomes the new VAL in place.
            self.0[at] = val_op(count, 1);
        } else {
            let last = first + span - 1;
            let mut seq = Vec::with_capacity(5);
            if is_val {
                if index != first {
                    seq.push(val_op(value, index - first));
                }
                seq.push(val_op(count, 1));
                if index != last {
                    seq.push(val_op(value, last - index));
                }
            } else {
                if index != first {
                    zero_op(&mut seq, index - first);
                }
                seq.push(val_op(count, 1));
                if index != last {
                    zero_op(&mut seq, last - index);
                }
            }
            if seq.len() > oplen && self.0.len() + seq.len() - oplen > SPARSE_MAX_BYTES {
                self.to_dense()?;
                return self.set(index, count);
            }
            self.0.splice(at..at + oplen, seq);
        }
        // Merge adjacent VALs of one value, scanning up to 5 opcodes from the one
        // before the change, as Redis does.
        let mut p = prev.unwrap_or(HEADER);
        let mut scan = 5;
        while p < self.0.len() && scan > 0 {
            scan -= 1;
            // Bytes past the registers (an APPEND to the value) end the scan, as in
            // Redis, which steps over them without decoding.
            let Some((is_val, value, len, oplen)) = opcode(&self.0, p) else {
                break;
            };
            if !is_val {
                p += oplen;
                continue;
            }
            if let Some((true, next_value, next_len, _)) = opcode(&self.0, p + 1)
                && next_value == value
                && len + next_len <= VAL_MAX_LEN
            {
                self.0[p + 1] = val_op(value, len + next_len);
                self.0.remove(p);
                continue;
            }
            p += 1;
        }
        Some(true)
    }

    /// Rewrites a sparse HLL as dense (`hllSparseToDense`), keeping the header.
    pub fn to_dense(&mut self) -> Option<()> {
        if self.is_dense() {
            return Some(());
        }
        let mut dense = vec![0u8; DENSE_SIZE];
        dense[..HEADER].copy_from_slice(&self.0[..HEADER]);
        dense[4] = ENC_DENSE;
        sparse_runs(&self.0, |start, len, value| {
            (start..start + len).for_each(|i| dense_set(&mut dense[HEADER..], i, value));
        })?;
        self.0 = dense;
        Some(())
    }

    /// `max[i] = max(max[i], register i)`; `None` for a corrupt value.
    pub fn merge_into(&self, max: &mut [u8]) -> Option<()> {
        merge_bytes(&self.0, max)
    }

    /// The cardinality estimate; `None` for a corrupt value.
    pub fn count(&self) -> Option<u64> {
        let mut registers = vec![0u8; REGISTERS];
        self.merge_into(&mut registers)?;
        Some(estimate(&histogram(&registers)))
    }
}

/// Calls `f(start, len, value)` for every VAL run of a sparse HLL's opcodes; `None`
/// when they do not cover exactly the 16384 registers.
fn sparse_runs(bytes: &[u8], mut f: impl FnMut(usize, usize, u8)) -> Option<()> {
    let mut index = 0;
    let mut at = HEADER;
    while at < bytes.len() {
        let (is_val, value, span, oplen) = opcode(bytes, at)?;
        if index + span > REGISTERS {
            return None;
        }
        if is_val {
            f(index, span, value);
        }
        index += span;
        at += oplen;
    }
    (index == REGISTERS).then_some(())
}

/// `max[i] = max(max[i], register i)` for the HLL value `bytes` (checked with
/// [`Hll::is_hll`]), read in place; `None` for corrupt opcodes.
pub fn merge_bytes(bytes: &[u8], max: &mut [u8]) -> Option<()> {
    if bytes[4] == ENC_DENSE {
        let regs = &bytes[HEADER..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(regs, i));
        }
        return Some(());
    }
    sparse_runs(bytes, |start, len, value| {
        max[start..start + len]
            .iter_mut()
            .for_each(|m| *m = (*m).max(value));
    })
}

impl Default for Hll {
    fn default() -> Self {
        Self::new()
    }
}
