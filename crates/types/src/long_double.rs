//! C's `long double` (x87 80-bit extended precision) in software, for INCRBYFLOAT and
//! HINCRBYFLOAT: Redis computes them in `long double` and prints `%.17Lf` with the
//! trailing zeros cut, so `0.1 + 0.2` is `0.3` there and `0.30000000000000004` in
//! `f64`. Doing it in software makes every replica compute the same digits on any CPU
//! (an aarch64 `long double` is 128 bits wide, and Rust has none at all).

use crate::bignum::BigUint;
use crate::float_literal::{EXTENDED, Literal, Rounded};

/// Redis refuses float texts of this many bytes or more (`MAX_LONG_DOUBLE_CHARS`).
pub const MAX_TEXT_LEN: usize = 5 * 1024;

/// An 80-bit extended precision value; never NaN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongDouble {
    /// `(-1)^negative * m * 2^e`; zero is `m == 0`.
    Finite {
        /// Sign (also of zero).
        negative: bool,
        /// Significand, at most 64 bits.
        m: u64,
        /// Binary exponent.
        e: i64,
    },
    /// Plus or minus infinity.
    Infinite {
        /// Sign.
        negative: bool,
    },
}

impl LongDouble {
    /// Reads a float as Redis's `string2ld`: the whole text is a `strtold` literal
    /// (decimal, hex, `inf`), shorter than [`MAX_TEXT_LEN`], not NaN, neither
    /// overflowing nor rounding a nonzero value to zero.
    pub fn parse(text: &[u8]) -> Option<Self> {
        if text.is_empty() || text.len() >= MAX_TEXT_LEN {
            return None;
        }
        match Literal::parse(text, true)? {
            Literal::Infinite { negative } => Some(Self::Infinite { negative }),
            Literal::Finite {
                negative,
                mantissa,
                exponent,
                hex,
                significant,
            } => match EXTENDED.round_literal(&mantissa, exponent, hex, significant) {
                Rounded::Value { m, e } => Some(Self::Finite { negative, m, e }),
                Rounded::Overflow | Rounded::Underflow => None,
            },
        }
    }

    /// The exact value of an integer.
    pub fn from_i64(value: i64) -> Self {
        Self::Finite {
            negative: value < 0,
            m: value.unsigned_abs(),
            e: 0,
        }
    }

    /// The exact value of a double (NaN, which never reaches here, reads as +inf).
    pub fn from_f64(value: f64) -> Self {
        if !value.is_finite() {
            return Self::Infinite {
                negative: value < 0.0,
            };
        }
        let bits = value.to_bits();
        let negative = bits >> 63 == 1;
        let exponent = ((bits >> 52) & 0x7ff) as i64;
        let fraction = bits & ((1 << 52) - 1);
        let (m, e) = if exponent == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1 << 52), exponent - 1075)
        };
        Self::Finite { negative, m, e }
    }

    /// Whether the value is finite.
    pub fn is_finite(&self) -> bool {
        matches!(self, Self::Finite { .. })
    }

    /// `self + other` rounded to extended precision, or `None` when the sum is
    /// infinite or NaN (Redis's "increment would produce NaN or Infinity").
    pub fn checked_add(self, other: Self) -> Option<Self> {
        let (
            Self::Finite {
                negative: na,
                m: ma,
                e: ea,
            },
            Self::Finite {
                negative: nb,
                m: mb,
                e: eb,
            },
        ) = (self, other)
        else {
            return None;
        };
        if ma == 0 && mb == 0 {
            // -0 + -0 is -0; any other sum of zeros is +0.
            return Some(Self::Finite {
                negative: na && nb,
                m: 0,
                e: 0,
            });
        }
        if ma == 0 {
            return Some(other);
        }
        if mb == 0 {
            return Some(self);
        }
        let base = ea.min(eb);
        let a = BigUint::from_u128(u128::from(ma)).shl((ea - base) as u64);
        let b = BigUint::from_u128(u128::from(mb)).shl((eb - base) as u64);
        let (negative, sum) = if na == nb {
            (na, a.add(&b))
        } else if a >= b {
            (na, a.sub(&b))
        } else {
            (nb, b.sub(&a))
        };
        if sum.is_zero() {
            return Some(Self::Finite {
                negative: false,
                m: 0,
                e: 0,
            });
        }
        match EXTENDED.round(&sum, base, false) {
            Rounded::Value { m, e } => Some(Self::Finite { negative, m, e }),
            Rounded::Overflow => None,
            // A sum of values on the format's grid is on the grid: it never underflows.
            Rounded::Underflow => Some(Self::Finite {
                negative,
                m: 0,
                e: 0,
            }),
        }
    }

    /// Redis's `LD_STR_HUMAN` text: `%.17Lf` (exact decimal expansion rounded half to
    /// even at 17 fractional digits), trailing zeros and a bare point cut, `-0` as `0`;
    /// `inf`/`-inf` for infinities.
    pub fn to_human(&self) -> String {
        let (negative, m, e) = match *self {
            Self::Infinite { negative } => {
                return if negative { "-inf" } else { "inf" }.to_owned();
            }
            Self::Finite { negative, m, e } => (negative, m, e),
        };
        let mut scaled = BigUint::from_u128(u128::from(m));
        scaled.mul_pow10(17);
        let fixed = if e >= 0 {
            scaled.shl(e as u64)
        } else {
            let shift = e.unsigned_abs();
            let mut q = scaled.shr(shift);
            if scaled.bit(shift - 1) && (scaled.any_below(shift - 1) || q.bit(0)) {
                q.add_small(1);
            }
            q
        };
        let mut digits = fixed.to_decimal();
        if digits.len() < 18 {
            digits.insert_str(0, &"0".repeat(18 - digits.len()));
        }
        let point = digits.len() - 17;
        let fraction = digits[point..].trim_end_matches('0');
        let mut text = String::with_capacity(digits.len() + 2);
        if negative {
            text.push('-');
        }
        text.push_str(&digits[..point]);
        if !fraction.is_empty() {
            text.push('.');
            text.push_str(fraction);
        }
        if text == "-0" {
            text = "0".to_owned();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(a: &str, b: &str) -> Option<String> {
        let a = LongDouble::parse(a.as_bytes())?;
        let b = LongDouble::parse(b.as_bytes())?;
        a.checked_add(b).map(|v| v.to_human())
    }

    fn text(a: &str) -> Option<String> {
        LongDouble::parse(a.as_bytes()).map(|v| v.to_human())
    }

    // Expected values are what redis-server 7.0 (glibc, x86-64) answers to
    // `SET a <x>` + `INCRBYFLOAT a <y>`.
    #[test]
    fn sums_match_redis() {
        assert_eq!(add("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(add("10.5", "0.1").as_deref(), Some("10.6"));
        assert_eq!(
            add("-9223372036854775806", "0.5").as_deref(),
            Some("-9223372036854775805.5")
        );
        assert_eq!(add("17179869184", "1.5").as_deref(), Some("17179869185.5"));
        assert_eq!(add("1e4000", "1"), text("1e4000"));
        assert_eq!(add("0.5", "-0.5").as_deref(), Some("0"));
        assert_eq!(add("-0", "-0").as_deref(), Some("0"));
        assert_eq!(add("0x1p16383", "0x1p16383"), None);
        assert_eq!(add("inf", "1"), None);
    }

    #[test]
    fn text_matches_redis() {
        for (input, want) in [
            ("0x10", "16"),
            ("0x1.8p3", "12"),
            ("+1", "1"),
            (".5", "0.5"),
            ("5.", "5"),
            ("3.0e3", "3000"),
            ("00012", "12"),
            ("1e+2", "100"),
            ("-0", "0"),
            ("0e-99999", "0"),
            ("0X1P-16445", "0"),
            ("1e-4950", "0"),
            ("0.1e-30", "0"),
            ("-0.0000000000000000001", "0"),
            ("0x.8", "0.5"),
            ("12345678901234567890123", "12345678901234567889920"),
            // Ties at the 17th digit round half to even, as glibc's printf.
            ("0.000003814697265625", "0.00000381469726562"),
            ("0.000003814697265627", "0.00000381469726563"),
            ("inf", "inf"),
            ("-Infinity", "-inf"),
        ] {
            assert_eq!(text(input).as_deref(), Some(want), "{input}");
        }
        let big = text("1e400").expect("1e400 is in range");
        assert!(big.starts_with("10000000000000000000281880683947586514586453433629052"));
        assert_eq!(big.len(), 401);
        let top = text("0x1p16383").expect("the largest power of two");
        assert!(top.starts_with("5948657476786158825428796633140035653817223435"));
        assert_eq!(top.len(), 4932);
    }

    #[test]
    fn rejects_what_string2ld_rejects() {
        for bad in [
            "",
            " 1",
            "1 ",
            "nan",
            "1e",
            "1e5000",
            "1e-5000",
            "1e4933",
            "1e-4951",
            "1e-4952",
            "0x",
            "0xg",
            "infinite",
            "+nan",
            "0x1p16384",
            "1_0",
            "1\x002",
        ] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert!(LongDouble::parse(&[b'1'; MAX_TEXT_LEN]).is_none());
        assert!(
            LongDouble::parse(&[b'1'; MAX_TEXT_LEN - 1]).is_none(),
            "overflows"
        );
        let long_zero = format!("0.{}", "0".repeat(5000));
        assert_eq!(text(&long_zero).as_deref(), Some("0"));
    }

    #[test]
    fn integers_are_exact() {
        assert_eq!(
            LongDouble::from_i64(i64::MIN).to_human(),
            "-9223372036854775808"
        );
        assert_eq!(
            LongDouble::from_i64(i64::MAX).to_human(),
            "9223372036854775807"
        );
        assert_eq!(
            LongDouble::from_i64(i64::MAX)
                .checked_add(LongDouble::from_i64(1))
                .map(|v| v.to_human())
                .as_deref(),
            Some("9223372036854775808")
        );
    }
}
