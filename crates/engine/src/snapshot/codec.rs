//! The primitives of the snapshot format: LEB128 varints, zigzag signed numbers,
//! length-prefixed byte strings, and a bounds-checked reader that turns every short or
//! malformed input into [`EngineError::CorruptSnapshot`] instead of a panic.

use crate::error::EngineError;

/// Appends `value` as an LEB128 varint (7 bits a byte, low bits first).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a signed number zigzag-encoded, so small magnitudes of either sign stay short.
pub(crate) fn put_signed(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Appends a length-prefixed byte string.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The error every decoding failure becomes.
pub(crate) fn corrupt(what: &str) -> EngineError {
    EngineError::CorruptSnapshot(what.to_owned())
}

/// Reads the primitives back from a byte slice, never past its end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// True when every byte was consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes left; an upper bound for any element count still to come (every element
    /// takes at least one byte), so counts read from the input never presize more.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// One byte.
    pub(crate) fn u8(&mut self) -> Result<u8, EngineError> {
        let (&first, rest) = self.buf.split_first().ok_or_else(|| corrupt("truncated"))?;
        self.buf = rest;
        Ok(first)
    }

    /// Exactly `N` bytes.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], EngineError> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or_else(|| corrupt("truncated"))?;
        self.buf = rest;
        Ok(*head)
    }

    /// An LEB128 varint of at most 64 bits.
    pub(crate) fn varint(&mut self) -> Result<u64, EngineError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7F);
            if shift == 63 && bits > 1 {
                return Err(corrupt("varint overflows 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt("varint longer than 10 bytes"))
    }

    /// A zigzag-encoded signed number.
    pub(crate) fn signed(&mut self) -> Result<i64, EngineError> {
        let raw = self.varint()?;
        Ok((raw >> 1) as i64 ^ -((raw & 1) as i64))
    }

    /// A count of elements still to come, bounded by the bytes left.
    pub(crate) fn count(&mut self) -> Result<usize, EngineError> {
        let count = self.varint()?;
        if count > self.remaining() as u64 {
            return Err(corrupt("element count exceeds the data"));
        }
        Ok(count as usize)
    }

    /// Exactly `len` bytes, borrowed from the input.
    pub(crate) fn slice(&mut self, len: usize) -> Result<&'a [u8], EngineError> {
        if len > self.buf.len() {
            return Err(corrupt("truncated"));
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    /// A length-prefixed byte string, borrowed from the input.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], EngineError> {
        let len = self.varint()?;
        if len > self.buf.len() as u64 {
            return Err(corrupt("truncated"));
        }
        let (head, rest) = self.buf.split_at(len as usize);
        self.buf = rest;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_signed_numbers_round_trip_at_the_edges() {
        let unsigned = [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ];
        let signed = [0, 1, -1, 63, -64, i64::MIN, i64::MAX];
        let mut out = Vec::new();
        unsigned.iter().for_each(|&v| put_varint(&mut out, v));
        signed.iter().for_each(|&v| put_signed(&mut out, v));
        put_bytes(&mut out, b"tail");
        let mut r = Reader::new(&out);
        for &v in &unsigned {
            assert_eq!(r.varint(), Ok(v));
        }
        for &v in &signed {
            assert_eq!(r.signed(), Ok(v));
        }
        assert_eq!(r.bytes(), Ok(&b"tail"[..]));
        assert!(r.is_empty());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(Reader::new(&[0x80]).varint().is_err());
        assert!(Reader::new(&[0xFF; 11]).varint().is_err());
        assert!(
            Reader::new(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02])
                .varint()
                .is_err()
        );
        assert!(Reader::new(&[5, b'a']).bytes().is_err());
        assert!(Reader::new(&[9]).count().is_err());
        assert!(Reader::new(&[1, 2]).array::<4>().is_err());
    }
}
