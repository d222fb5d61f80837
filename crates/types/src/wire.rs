//! okapi's own binary encoding for everything persisted or sent between nodes: log
//! entries, their ops, Raft state. Every enum is written with an explicit tag chosen
//! once and never reused, so reordering or adding variants never changes what bytes on
//! disk mean (serde formats number variants by declaration order).
//!
//! Integers are LEB128 varints (signed ones zigzagged), floats their IEEE-754 bits
//! little-endian, byte strings a varint length then the bytes. Decoding slices
//! [`Bytes`] fields out of the input without copying.
//!
//! [`wire_struct!`](crate::wire_struct) and [`wire_enum!`](crate::wire_enum) derive
//! [`Wire`] for existing types, naming each field and each variant's tag.

use bytes::Bytes;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended inside a value.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// An enum tag no version of okapi wrote.
    #[error("unknown {ty} tag {tag}")]
    UnknownTag {
        /// The enum.
        ty: &'static str,
        /// The tag found.
        tag: u64,
    },
    /// A value out of its range (an overlong varint, a bool that is not 0 or 1, text
    /// that is not UTF-8 ...).
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Bytes left after the value.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// A format version this build does not read.
    #[error("{what} format version {version} is not supported (this build reads {supported})")]
    Version {
        /// What was being decoded.
        what: &'static str,
        /// The version found.
        version: u8,
        /// The version this build reads.
        supported: u8,
    },
}

/// A value with an okapi wire encoding.
pub trait Wire: Sized {
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Length of the encoding, so buffers are allocated once at the right size.
    fn encoded_len(&self) -> usize;
    /// Reads one value from `input`.
    fn decode(input: &mut Input) -> Result<Self, WireError>;

    /// The encoding in a buffer of exactly its size.
    fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        Bytes::from(out)
    }

    /// Decodes a whole buffer: bytes left over are an error.
    fn from_bytes(bytes: Bytes) -> Result<Self, WireError> {
        let mut input = Input::new(bytes);
        let value = Self::decode(&mut input)?;
        input.finish()?;
        Ok(value)
    }
}

/// Bytes being decoded.
#[derive(Debug, Clone)]
pub struct Input {
    bytes: Bytes,
    pos: usize,
}

impl Input {
    /// Decoding starts at the beginning of `bytes`.
    pub fn new(bytes: Bytes) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }

    /// One byte.
    pub fn byte(&mut self, what: &'static str) -> Result<u8, WireError> {
        let b = *self.bytes.get(self.pos).ok_or(WireError::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }

    /// The next `len` bytes, shared with the input (no copy).
    pub fn take(&mut self, len: usize, what: &'static str) -> Result<Bytes, WireError> {
        if len > self.remaining() {
            return Err(WireError::Truncated(what));
        }
        let out = self.bytes.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(out)
    }

    /// An unsigned LEB128 varint.
    pub fn varint(&mut self, what: &'static str) -> Result<u64, WireError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(WireError::Invalid(what));
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError::Invalid(what))
    }

    /// A count of items that each take at least one byte: never more than the bytes
    /// left, so a damaged count cannot make the decoder allocate absurdly.
    pub fn count(&mut self, what: &'static str) -> Result<usize, WireError> {
        let n = self.varint(what)?;
        if n > self.remaining() as u64 {
            return Err(WireError::Truncated(what));
        }
        Ok(n as usize)
    }
}

/// Appends `value` as an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Bytes of `value` as a varint.
pub fn varint_len(value: u64) -> usize {
    (64 - value.max(1).leading_zeros() as usize).div_ceil(7)
}

/// Appends an enum tag.
pub fn put_tag(out: &mut Vec<u8>, tag: u64) {
    put_varint(out, tag);
}

impl Wire for u64 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, *self);
    }
    fn encoded_len(&self) -> usize {
        varint_len(*self)
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        input.varint("u64")
    }
}

impl Wire for u32 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, u64::from(*self));
    }
    fn encoded_len(&self) -> usize {
        varint_len(u64::from(*self))
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        u32::try_from(input.varint("u32")?).map_err(|_| WireError::Invalid("u32"))
    }
}

impl Wire for u16 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, u64::from(*self));
    }
    fn encoded_len(&self) -> usize {
        varint_len(u64::from(*self))
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        u16::try_from(input.varint("u16")?).map_err(|_| WireError::Invalid("u16"))
    }
}

impl Wire for usize {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, *self as u64);
    }
    fn encoded_len(&self) -> usize {
        varint_len(*self as u64)
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        usize::try_from(input.varint("usize")?).map_err(|_| WireError::Invalid("usize"))
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

impl Wire for i64 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, zigzag(*self));
    }
    fn encoded_len(&self) -> usize {
        varint_len(zigzag(*self))
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        let z = input.varint("i64")?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }
}

impl Wire for f64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bits().to_le_bytes());
    }
    fn encoded_len(&self) -> usize {
        8
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        let raw = input.take(8, "f64")?;
        let mut bits = [0u8; 8];
        bits.copy_from_slice(&raw);
        Ok(f64::from_bits(u64::from_le_bytes(bits)))
    }
}

impl Wire for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn encoded_len(&self) -> usize {
        1
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        match input.byte("bool")? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Invalid("bool")),
        }
    }
}

impl Wire for Bytes {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        out.extend_from_slice(self);
    }
    fn encoded_len(&self) -> usize {
        varint_len(self.len() as u64) + self.len()
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        let len = input.varint("byte string length")?;
        let len = usize::try_from(len).map_err(|_| WireError::Invalid("byte string length"))?;
        input.take(len, "byte string")
    }
}

impl Wire for String {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        out.extend_from_slice(self.as_bytes());
    }
    fn encoded_len(&self) -> usize {
        varint_len(self.len() as u64) + self.len()
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        let bytes = Bytes::decode(input)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| WireError::Invalid("text"))
    }
}

/// A list: a count, then each value. (Byte strings are [`Bytes`], not `Vec<u8>`.)
impl<T: Wire> Wire for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        for item in self {
            item.encode(out);
        }
    }
    fn encoded_len(&self) -> usize {
        varint_len(self.len() as u64) + self.iter().map(Wire::encoded_len).sum::<usize>()
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        let n = input.count("list")?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(T::decode(input)?);
        }
        Ok(items)
    }
}

impl<T: Wire> Wire for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode(out);
            }
        }
    }
    fn encoded_len(&self) -> usize {
        1 + self.as_ref().map_or(0, Wire::encoded_len)
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        match input.byte("option")? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(input)?)),
            _ => Err(WireError::Invalid("option")),
        }
    }
}

impl<T: Wire> Wire for Box<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out);
    }
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        T::decode(input).map(Box::new)
    }
}

impl<A: Wire, B: Wire> Wire for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
    fn encoded_len(&self) -> usize {
        self.0.encoded_len() + self.1.encoded_len()
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        Ok((A::decode(input)?, B::decode(input)?))
    }
}

impl Wire for crate::Namespace {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
    fn encoded_len(&self) -> usize {
        self.0.encoded_len()
    }
    fn decode(input: &mut Input) -> Result<Self, WireError> {
        u32::decode(input).map(crate::Namespace)
    }
}

/// Derives [`Wire`] for a struct, field by field in the order given:
/// `wire_struct!(Point { x, y });`. Changing the list changes the format: add fields
/// only with a new format version.
#[macro_export]
macro_rules! wire_struct {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl $crate::wire::Wire for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                let _ = &out;
                $( $crate::wire::Wire::encode(&self.$field, out); )*
            }
            fn encoded_len(&self) -> usize {
                0 $( + $crate::wire::Wire::encoded_len(&self.$field) )*
            }
            fn decode(input: &mut $crate::wire::Input) -> Result<Self, $crate::wire::WireError> {
                let _ = &input;
                Ok($ty { $( $field: $crate::wire::Wire::decode(input)? ),* })
            }
        }
    };
}

/// Derives [`Wire`] for an enum with an explicit tag per variant:
/// `wire_enum!(Shape { 1 => Circle { r }, 2 => Square(side), 3 => Empty });`.
/// Tags are append-only: a new variant takes a new number, and a retired number is
/// never used again.
#[macro_export]
macro_rules! wire_enum {
    ($ty:ident { $( $tag:literal => $variant:ident $( { $($field:ident),* $(,)? } )? $( ( $($tuple:ident),* $(,)? ) )? ),* $(,)? }) => {
        impl $crate::wire::Wire for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                match self {
                    $(
                        $ty::$variant $( { $($field),* } )? $( ( $($tuple),* ) )? => {
                            $crate::wire::put_tag(out, $tag);
                            $( $( $crate::wire::Wire::encode($field, out); )* )?
                            $( $( $crate::wire::Wire::encode($tuple, out); )* )?
                        }
                    )*
                }
            }
            fn encoded_len(&self) -> usize {
                match self {
                    $(
                        $ty::$variant $( { $($field),* } )? $( ( $($tuple),* ) )? => {
                            $crate::wire::varint_len($tag)
                            $( $( + $crate::wire::Wire::encoded_len($field) )* )?
                            $( $( + $crate::wire::Wire::encoded_len($tuple) )* )?
                        }
                    )*
                }
            }
            fn decode(input: &mut $crate::wire::Input) -> Result<Self, $crate::wire::WireError> {
                let tag = input.varint(stringify!($ty))?;
                Ok(match tag {
                    $(
                        $tag => $ty::$variant
                            $( { $( $field: $crate::wire::Wire::decode(input)? ),* } )?
                            $( ( $( $crate::wire_decode_one!(input, $tuple) ),* ) )?,
                    )*
                    _ => return Err($crate::wire::WireError::UnknownTag { ty: stringify!($ty), tag }),
                })
            }
        }
    };
}

/// One tuple field of [`wire_enum!`](crate::wire_enum) (the name only drives the
/// repetition).
#[doc(hidden)]
#[macro_export]
macro_rules! wire_decode_one {
    ($input:ident, $name:ident) => {
        $crate::wire::Wire::decode($input)?
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, PartialEq)]
    enum Shape {
        Circle { r: u64 },
        Pair(i64, Bytes),
        Empty,
    }
    wire_enum!(Shape {
        1 => Circle { r },
        7 => Pair(a, b),
        3 => Empty,
    });

    #[derive(Debug, Clone, PartialEq)]
    struct Drawing {
        name: String,
        shapes: Vec<u64>,
        scale: Option<f64>,
    }
    wire_struct!(Drawing {
        name,
        shapes,
        scale
    });

    fn round_trip<T: Wire + PartialEq + std::fmt::Debug>(value: &T) {
        let bytes = value.to_bytes();
        assert_eq!(bytes.len(), value.encoded_len(), "{value:?}");
        assert_eq!(&T::from_bytes(bytes).expect("decodes"), value);
    }

    #[test]
    fn tags_are_the_ones_written_not_declaration_order() {
        assert_eq!(Shape::Empty.to_bytes().as_ref(), [3]);
        assert_eq!(
            Shape::Pair(-1, Bytes::from_static(b"x"))
                .to_bytes()
                .as_ref(),
            [7, 1, 1, b'x']
        );
        assert_eq!(
            Shape::from_bytes(Bytes::from_static(&[9])),
            Err(WireError::UnknownTag {
                ty: "Shape",
                tag: 9
            })
        );
        round_trip(&Shape::Circle { r: 300 });
        round_trip(&Drawing {
            name: "d".into(),
            shapes: vec![1, 2, u64::MAX],
            scale: Some(0.5),
        });
    }

    #[test]
    fn damaged_input_is_an_error_not_a_panic_or_a_huge_allocation() {
        // A list claiming 2^40 items in a 6-byte input.
        let mut bytes = Vec::new();
        put_varint(&mut bytes, 1 << 40);
        assert!(Vec::<u64>::from_bytes(Bytes::from(bytes)).is_err());
        assert!(u64::from_bytes(Bytes::from_static(&[0xff; 11])).is_err());
        assert!(bool::from_bytes(Bytes::from_static(&[2])).is_err());
        assert_eq!(
            u64::from_bytes(Bytes::from_static(&[1, 2])),
            Err(WireError::Trailing(1))
        );
    }

    proptest! {
        #[test]
        fn integers_and_strings_round_trip(u in any::<u64>(), i in any::<i64>(), f in any::<f64>(), b in proptest::collection::vec(any::<u8>(), 0..300)) {
            round_trip(&u);
            round_trip(&i);
            let bytes = f.to_bytes();
            prop_assert_eq!(f64::from_bytes(bytes).expect("decodes").to_bits(), f.to_bits());
            round_trip(&Bytes::from(b.clone()));
            round_trip(&Some((Bytes::from(b), u)));
        }

        #[test]
        fn any_bytes_decode_to_a_value_or_an_error(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Drawing::from_bytes(Bytes::from(b.clone()));
            let _ = Shape::from_bytes(Bytes::from(b));
        }
    }
}
