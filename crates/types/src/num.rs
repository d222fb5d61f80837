//! Number parsing and formatting with Redis's exact rules, shared by the protocol,
//! the command parsers and the engine so every layer agrees on what "an integer" is.

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

/// Parses a float as Redis does for scores and increments: decimal or exponent form,
/// `inf`/`-inf`/`+inf`; never NaN, never surrounding spaces.
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() || text.starts_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    if value.is_nan() { None } else { Some(value) }
}

/// Formats a float the way Redis 7 replies: the shortest text that reads back to the
/// same value, `%g`-style exponent outside `1e-5 ..= 1e17`, and `inf`/`-inf`/`nan`.
pub fn format_f64(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-5..17).contains(&exponent) {
        return format!("{value}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
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
    fn format_f64_is_shortest_round_trip() {
        assert_eq!(format_f64(3.0), "3");
        assert_eq!(format_f64(10.5), "10.5");
        assert_eq!(format_f64(0.1), "0.1");
        assert_eq!(format_f64(-2.25), "-2.25");
        assert_eq!(format_f64(1e21), "1e+21");
        assert_eq!(format_f64(1.5e-7), "1.5e-07");
        assert_eq!(format_f64(f64::INFINITY), "inf");
        assert_eq!(format_f64(123456789.0), "123456789");
    }
}
