//! Number parsing and formatting with Redis's exact rules, shared by the protocol,
//! the command parsers and the engine so every layer agrees on what "an integer" is.

use crate::float_literal::{DOUBLE, Literal, Rounded};

/// Parses a decimal `i64` as Redis's `string2ll`: optional `-`, no `+`, no leading
/// zeros, no spaces, no overflow.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, bytes),
    };
    match digits.first() {
        Some(b'1'..=b'9') if digits.len() <= 19 => {}
        _ => return None,
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(d - b'0');
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(digit)?
        } else {
            value.checked_add(digit)?
        };
    }
    Some(value)
}

/// Parses a non-negative decimal `u64` with the rules of [`parse_i64`].
pub fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes == b"0" {
        return Some(0);
    }
    match bytes.first() {
        Some(b'1'..=b'9') if bytes.len() <= 20 => {}
        _ => return None,
    }
    bytes.iter().try_fold(0u64, |acc, &d| {
        if d.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// Parses a float as Redis's `string2d` (scores, increments, timeouts): the whole text
/// is a C `strtod` literal (decimal, hex such as `0x1p-3`, `inf`/`infinity`), never NaN,
/// never leading whitespace, and neither overflowing to infinity nor rounding a nonzero
/// value to zero.
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    match Literal::parse(bytes, false)? {
        Literal::Infinite { negative } => Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        Literal::Finite {
            negative,
            significant,
            mantissa,
            exponent,
            hex,
        } => {
            let magnitude = if hex {
                match DOUBLE.round_literal(&mantissa, exponent, true, 0) {
                    Rounded::Value { m, e } => double_from_parts(m, e),
                    Rounded::Overflow | Rounded::Underflow => return None,
                }
            } else {
                // Rust's decimal parser is correctly rounded; the literal was checked
                // above, and its grammar is a subset of what `str::parse` reads.
                let text = std::str::from_utf8(bytes).ok()?;
                let value: f64 = text.parse().ok()?;
                if value.is_infinite() || (value == 0.0 && significant > 0) {
                    return None;
                }
                value.abs()
            };
            Some(if negative { -magnitude } else { magnitude })
        }
    }
}

/// C's `strtod` as Redis reads a score bound (`zslParseRange`): only the text before a
/// NUL byte counts (a C string), leading whitespace is skipped, an empty text reads as
/// 0, the rest must be one literal; overflow reads as an infinity and underflow as
/// zero; NaN is refused.
pub fn parse_f64_bound(bytes: &[u8]) -> Option<f64> {
    let text = bytes.split(|&b| b == 0).next().unwrap_or_default();
    if text.is_empty() {
        return Some(0.0);
    }
    let start = text
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let text = &text[start..];
    let signed = |negative: bool, v: f64| if negative { -v } else { v };
    match Literal::parse(text, false)? {
        Literal::Infinite { negative } => Some(signed(negative, f64::INFINITY)),
        Literal::Finite {
            negative,
            mantissa,
            exponent,
            hex: true,
            ..
        } => Some(signed(
            negative,
            match DOUBLE.round_literal(&mantissa, exponent, true, 0) {
                Rounded::Value { m, e } => double_from_parts(m, e),
                Rounded::Overflow => f64::INFINITY,
                Rounded::Underflow => 0.0,
            },
        )),
        Literal::Finite { .. } => std::str::from_utf8(text).ok()?.parse().ok(),
    }
}

/// C's `strtod` as Redis reads a SORT key: like [`parse_f64_bound`] (a C string,
/// leading whitespace skipped, an empty text is 0), but a result out of range —
/// overflowing, or below the smallest normal double (`ERANGE`) — is refused.
pub fn parse_f64_strict(bytes: &[u8]) -> Option<f64> {
    let text = bytes.split(|&b| b == 0).next().unwrap_or_default();
    let value = parse_f64_bound(text)?;
    let literal = text
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .and_then(|start| Literal::parse(&text[start..], false));
    let out_of_range = match literal {
        // The empty text.
        None => false,
        Some(Literal::Infinite { .. }) => false,
        Some(Literal::Finite { significant, .. }) => {
            value.is_infinite() || (significant > 0 && value.abs() < f64::MIN_POSITIVE)
        }
    };
    (!out_of_range).then_some(value)
}

/// `m * 2^e` for a significand and exponent already rounded to binary64.
fn double_from_parts(m: u64, e: i64) -> f64 {
    if m == 0 {
        return 0.0;
    }
    if m < 1 << 52 {
        // Subnormal: the exponent is the format's minimum.
        return f64::from_bits(m);
    }
    let biased = (e + 1075) as u64;
    f64::from_bits(biased << 52 | (m & ((1 << 52) - 1)))
}

/// Formats a float the way Redis 7.0 replies (`addReplyDouble`): C's `%.17g`, so 17
/// significant digits correctly rounded (`1.1` is `1.1000000000000001`), trailing zeros
/// cut, an exponent below `1e-4` or from `1e17`; `inf`/`-inf`/`nan`. (Redis 7.2 prints
/// the shortest round-trip text instead; okapi follows 7.0, the version it is tested
/// against.)
pub fn format_f64(value: f64) -> String {
    format_g(value, 17)
}

/// C's `%.<precision>g` (precision from 1 to 17): `precision` significant digits
/// correctly rounded, trailing zeros cut, an exponent below `1e-4` or from
/// `1e<precision>`; `inf`/`-inf`/`nan`.
pub fn format_g(value: f64, precision: usize) -> String {
    let precision = precision.clamp(1, 17);
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Rust's precision formatting is exact and rounds ties to even, as glibc's printf.
    let digits = precision - 1;
    let scientific = format!("{value:.digits$e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..precision as i32).contains(&exponent) {
        let decimals = (precision as i32 - 1 - exponent) as usize;
        let fixed = format!("{value:.decimals$}");
        return trim_fraction(&fixed).to_owned();
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!(
        "{}e{sign}{:02}",
        trim_fraction(mantissa),
        exponent.unsigned_abs()
    )
}

/// Cuts trailing zeros after a decimal point, and the point when nothing is left.
fn trim_fraction(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// Redis's `LD_STR_HUMAN` float text (INCRBYFLOAT, HINCRBYFLOAT): plain decimal, never an
/// exponent, at most 17 fractional digits, no trailing zeros, and `0` for negative zero.
/// okapi computes in `f64` where Redis uses `long double`, so the digits are the
/// shortest that read back to the same `f64`.
pub fn format_f64_human(value: f64) -> String {
    let mut text = format!("{value}");
    if let Some(dot) = text.find('.')
        && text.len() - dot - 1 > 17
    {
        text = format!("{value:.17}");
        let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(trimmed);
    }
    if text == "-0" {
        text = "0".to_owned();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i64_follows_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b"01"[..],
            b"-0",
            b"+1",
            b" 1",
            b"1 ",
            b"",
            b"-",
            b"9223372036854775808",
            b"1.0",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn parse_f64_accepts_redis_score_forms() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"abc"), None);
    }

    #[test]
    fn format_g_is_printf_g_at_any_precision() {
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(1e20, 14), "1e+20");
        assert_eq!(format_g(1.0 / 3.0, 14), "0.33333333333333");
        assert_eq!(format_g(100.0, 14), "100");
        assert_eq!(
            format_g(123_456_789_012_345_678.0, 14),
            "1.2345678901235e+17"
        );
        assert_eq!(format_g(0.00001, 14), "1e-05");
    }

    #[test]
    fn format_f64_is_printf_17g() {
        // Expected texts are redis-server 7.0's ZSCORE replies.
        assert_eq!(format_f64(3.0), "3");
        assert_eq!(format_f64(10.5), "10.5");
        assert_eq!(format_f64(1.1), "1.1000000000000001");
        assert_eq!(format_f64(1.1 + 0.1), "1.2000000000000002");
        assert_eq!(format_f64(-2.25), "-2.25");
        assert_eq!(format_f64(1e21), "1e+21");
        assert_eq!(format_f64(1e17), "1e+17");
        assert_eq!(format_f64(1e16), "10000000000000000");
        assert_eq!(format_f64(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_f64(1e-4), "0.0001");
        assert_eq!(format_f64(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_f64(f64::from_bits(1)), "4.9406564584124654e-324");
        assert_eq!(format_f64(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(format_f64(f64::INFINITY), "inf");
        assert_eq!(format_f64(123456789.0), "123456789");
        assert_eq!(format_f64(100001.0 / 262144.0), "0.38147354125976562");
    }

    #[test]
    fn sort_keys_read_as_strtod_with_erange_refused() {
        assert_eq!(parse_f64_strict(b""), Some(0.0));
        assert_eq!(parse_f64_strict(b" 2"), Some(2.0));
        assert_eq!(parse_f64_strict(b"0x10"), Some(16.0));
        assert_eq!(parse_f64_strict(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64_strict(b"0.000"), Some(0.0));
        assert_eq!(parse_f64_strict(b"3\0garbage"), Some(3.0));
        assert_eq!(
            parse_f64_strict(b"2.2250738585072014e-308"),
            Some(f64::MIN_POSITIVE)
        );
        // ERANGE: overflow, underflow to zero and subnormal results, as glibc.
        for bad in [
            &b"1e400"[..],
            b"1e-400",
            b"1e-310",
            b"4.9406564584124654e-324",
            b"0x1p-1074",
            b"  ",
            b"2 ",
            b"nan",
            b"a",
        ] {
            assert_eq!(
                parse_f64_strict(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn score_bounds_read_as_strtod() {
        assert_eq!(parse_f64_bound(b""), Some(0.0));
        assert_eq!(parse_f64_bound(b" 5"), Some(5.0));
        assert_eq!(parse_f64_bound(b"5\0junk"), Some(5.0));
        assert_eq!(parse_f64_bound(b"\0junk"), Some(0.0));
        assert_eq!(parse_f64_bound(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_f64_bound(b"-1e400"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64_bound(b"1e-400"), Some(0.0));
        assert_eq!(parse_f64_bound(b"0x5"), Some(5.0));
        assert_eq!(parse_f64_bound(b"-0x1p99999"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64_bound(b"infinity"), Some(f64::INFINITY));
        for bad in [&b" "[..], b"5 ", b"nan", b"x", b"1e"] {
            assert_eq!(
                parse_f64_bound(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn parse_f64_reads_strtod_literals() {
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(parse_f64(b"0x1.8p-1074"), Some(f64::from_bits(2)));
        assert_eq!(parse_f64(b"0x1.fffffffffffffp1023"), Some(f64::MAX));
        assert_eq!(parse_f64(b"-0x1p0"), Some(-1.0));
        assert_eq!(parse_f64(b"infinity"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"1.7976931348623157e308"), Some(f64::MAX));
        assert_eq!(parse_f64(b"4.9e-324"), Some(f64::from_bits(1)));
        // Overflow and underflow to zero are refused, as redis-server does.
        for bad in [
            &b"0x1p-1075"[..],
            b"1e400",
            b"1e-400",
            b"2e-324",
            b"1.7976931348623159e308",
            b"0x1.fffffffffffff8p1023",
            b"1 ",
            b"0x",
        ] {
            assert_eq!(parse_f64(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_f64(b"0e-400"), Some(0.0));
    }
}
