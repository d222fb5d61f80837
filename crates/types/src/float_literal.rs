//! C's `strtod`/`strtold` literal grammar, read exactly, and correctly rounded
//! conversion of a literal to a binary float format. Redis parses scores and
//! increments with the C library, so okapi accepts the same texts (hex floats,
//! `infinity`, `5.`, `.5`) and rejects the same ones (overflow, underflow to zero,
//! trailing bytes, NaN); rounding is IEEE round-half-even, as the C library's.

use crate::bignum::BigUint;

/// An exactly read float literal.
#[derive(Debug)]
pub(crate) enum Literal {
    /// `inf` or `infinity`, any case.
    Infinite { negative: bool },
    /// `mantissa * radix^exponent`, radix 10 for decimal and 2 for hex literals.
    Finite {
        negative: bool,
        /// Digits from the first nonzero one on (0: the value is zero), known even when
        /// the mantissa was not built: a decimal mantissa's length in digits.
        significant: usize,
        /// The digits as an integer; left zero for a decimal read with `exact` off.
        mantissa: BigUint,
        exponent: i64,
        hex: bool,
    },
}

/// Exponent digits past this are saturated: the value under- or overflows any format.
const EXPONENT_CAP: i64 = 1_000_000_000;

impl Literal {
    /// Reads `text` whole: `None` when it is not a literal (or is NaN), or bytes
    /// follow one, or it starts with whitespace, which `strtod` would skip but Redis
    /// refuses. With `exact` off a decimal mantissa is only checked, not built (the
    /// caller converts the text itself).
    pub(crate) fn parse(text: &[u8], exact: bool) -> Option<Self> {
        let (negative, body) = match text.first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(Self::Infinite { negative });
        }
        if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
            // "0x" with no hex digit reads as "0" followed by garbage: refused below.
            return Self::parse_digits(negative, &body[2..], 16, b'p', true);
        }
        Self::parse_digits(negative, body, 10, b'e', exact)
    }

    fn parse_digits(
        negative: bool,
        body: &[u8],
        radix: u32,
        marker: u8,
        build: bool,
    ) -> Option<Self> {
        let mut mantissa = BigUint::default();
        let mut digits = 0usize;
        let mut fraction_digits = 0i64;
        let mut seen_point = false;
        let mut significant = 0usize;
        let mut i = 0;
        // Digits are folded in chunks so long mantissas stay cheap.
        let mut chunk = 0u32;
        let mut chunk_len = 0u32;
        let chunk_max = if radix == 10 { 9 } else { 7 };
        while i < body.len() {
            let c = body[i];
            if c == b'.' && !seen_point {
                seen_point = true;
            } else if let Some(d) = (c as char).to_digit(radix) {
                digits += 1;
                if significant > 0 || d != 0 {
                    significant += 1;
                }
                if seen_point {
                    fraction_digits += 1;
                }
                if !build {
                    i += 1;
                    continue;
                }
                chunk = chunk * radix + d;
                chunk_len += 1;
                if chunk_len == chunk_max {
                    mantissa.mul_small(radix.pow(chunk_len));
                    mantissa.add_small(chunk);
                    chunk = 0;
                    chunk_len = 0;
                }
            } else {
                break;
            }
            i += 1;
        }
        if digits == 0 {
            return None;
        }
        if build && chunk_len > 0 {
            mantissa.mul_small(radix.pow(chunk_len));
            mantissa.add_small(chunk);
        }
        let mut exponent = 0i64;
        if i < body.len() && (body[i] | 0x20) == marker {
            let (sign, start) = match body.get(i + 1) {
                Some(b'-') => (-1, i + 2),
                Some(b'+') => (1, i + 2),
                _ => (1, i + 1),
            };
            let exp_digits = body.get(start..).unwrap_or_default();
            let len = exp_digits.iter().take_while(|c| c.is_ascii_digit()).count();
            if len == 0 {
                return None;
            }
            for &d in &exp_digits[..len] {
                exponent = (exponent * 10 + i64::from(d - b'0')).min(EXPONENT_CAP);
            }
            exponent *= sign;
            i = start + len;
        }
        if i != body.len() {
            return None;
        }
        // A hex digit is four bits of the binary exponent.
        let scale = if radix == 16 { 4 } else { 1 };
        Some(Self::Finite {
            negative,
            significant,
            mantissa,
            exponent: exponent - fraction_digits * scale,
            hex: radix == 16,
        })
    }
}

/// A binary float format: `bits` of significand, values `m * 2^e` with
/// `emin <= e <= emax` (subnormals have `e == emin`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Format {
    pub bits: u32,
    pub emin: i64,
    pub emax: i64,
}

/// x87 80-bit extended precision, C's `long double` on x86-64.
pub(crate) const EXTENDED: Format = Format {
    bits: 64,
    emin: -16445,
    emax: 16320,
};

/// IEEE binary64.
pub(crate) const DOUBLE: Format = Format {
    bits: 53,
    emin: -1074,
    emax: 971,
};

/// The outcome of rounding an exact positive value into a format.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rounded {
    /// `m * 2^e`.
    Value { m: u64, e: i64 },
    /// Too large for the format.
    Overflow,
    /// Nonzero but rounds to zero.
    Underflow,
}

impl Format {
    /// Rounds `mantissa * 2^exp2` (plus a little more when `sticky`), half to even.
    pub(crate) fn round(self, mantissa: &BigUint, exp2: i64, sticky: bool) -> Rounded {
        let len = mantissa.bit_len() as i64;
        if len == 0 {
            return if sticky {
                Rounded::Underflow
            } else {
                Rounded::Value { m: 0, e: 0 }
            };
        }
        let mut e = (exp2 + len - i64::from(self.bits)).max(self.emin);
        let shift = e - exp2;
        let mut m = if shift <= 0 {
            mantissa.shl(shift.unsigned_abs()).low_u128()
        } else {
            let shift = shift as u64;
            let mut q = mantissa.shr(shift).low_u128();
            let guard = mantissa.bit(shift - 1);
            let rest = sticky || mantissa.any_below(shift - 1);
            if guard && (rest || q & 1 == 1) {
                q += 1;
            }
            q
        };
        if m == 1u128 << self.bits {
            m >>= 1;
            e += 1;
        }
        if m == 0 {
            return Rounded::Underflow;
        }
        if e > self.emax {
            return Rounded::Overflow;
        }
        Rounded::Value { m: m as u64, e }
    }

    /// Rounds a finite literal's exact value (its sign aside).
    /// `significant` is a decimal mantissa's length in digits (see [`Literal`]); hex
    /// literals do not use it.
    pub(crate) fn round_literal(
        self,
        mantissa: &BigUint,
        exponent: i64,
        hex: bool,
        significant: usize,
    ) -> Rounded {
        if mantissa.is_zero() {
            return Rounded::Value { m: 0, e: 0 };
        }
        let len = mantissa.bit_len() as i64;
        if hex {
            if exponent + len > self.emax + i64::from(self.bits) + 1 {
                return Rounded::Overflow;
            }
            if exponent + len < self.emin - 2 {
                return Rounded::Underflow;
            }
            return self.round(mantissa, exponent, false);
        }
        // Decimal magnitude bounds, so huge exponents never build huge powers of ten.
        let magnitude = exponent + significant as i64;
        let log10_2 = std::f64::consts::LOG10_2;
        let high = ((self.emax + i64::from(self.bits)) as f64 * log10_2) as i64 + 2;
        let low = (self.emin as f64 * log10_2) as i64 - 2;
        if magnitude > high {
            return Rounded::Overflow;
        }
        if magnitude < low {
            return Rounded::Underflow;
        }
        if exponent >= 0 {
            let mut value = mantissa.clone();
            value.mul_pow10(exponent as u64);
            return self.round(&value, 0, false);
        }
        let mut divisor = BigUint::from_u128(1);
        divisor.mul_pow10(exponent.unsigned_abs());
        // Scale so the quotient has bits+2 .. bits+4 bits: enough for one exact rounding.
        let s = i64::from(self.bits) + 3 - (len - divisor.bit_len() as i64);
        let (num, den) = if s >= 0 {
            (mantissa.shl(s as u64), divisor)
        } else {
            (mantissa.clone(), divisor.shl(s.unsigned_abs()))
        };
        let (quotient, remainder) = num.div_bounded(&den, self.bits + 5);
        self.round(&BigUint::from_u128(quotient), -s, remainder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str) -> Option<Literal> {
        Literal::parse(text.as_bytes(), true)
    }

    #[test]
    fn grammar_is_strtods() {
        for good in [
            "1",
            "+1",
            "-1",
            ".5",
            "5.",
            "1e5",
            "1E+5",
            "1e-5",
            "0x10",
            "0X1P-3",
            "0x.8",
            "0x1.8p3",
            "inf",
            "-Infinity",
            "INF",
            "00012",
        ] {
            assert!(lit(good).is_some(), "{good}");
        }
        for bad in [
            "", " 1", "1 ", "1e", "1e+", ".", "-", "0x", "0xg", "nan", "+nan", "infinite", "1_0",
            "1\0", "1.2.3", "0x1p", "e5",
        ] {
            assert!(lit(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn rounding_is_half_even_at_the_last_bit() {
        let fmt = Format {
            bits: 4,
            emin: -100,
            emax: 100,
        };
        // 19 = 0b10011 in 4 bits is a tie between 18 and 20: the even significand wins.
        assert_eq!(
            fmt.round(&BigUint::from_u128(0b10011), 0, false),
            Rounded::Value { m: 0b1010, e: 1 }
        );
        assert_eq!(
            fmt.round(&BigUint::from_u128(0b10001), 0, false),
            Rounded::Value { m: 0b1000, e: 1 }
        );
        assert_eq!(
            fmt.round(&BigUint::from_u128(0b10001), 0, true),
            Rounded::Value { m: 0b1001, e: 1 }
        );
        assert_eq!(
            fmt.round(&BigUint::from_u128(0b11111), 0, false),
            Rounded::Value { m: 0b1000, e: 2 }
        );
        assert_eq!(
            fmt.round(&BigUint::from_u128(1), 200, false),
            Rounded::Overflow
        );
        assert_eq!(
            fmt.round(&BigUint::from_u128(1), -102, false),
            Rounded::Underflow
        );
    }
}
