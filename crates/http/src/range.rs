//! `Range` and `Content-Range` headers (RFC 9110 §14), byte units only.

/// An inclusive byte range `[first, last]` inside a representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub first: u64,
    /// Last byte (inclusive).
    pub last: u64,
}

impl ByteRange {
    /// Number of bytes.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Never empty: a range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Most ranges one request may ask for: more is refused rather than served.
pub const MAX_RANGES: usize = 64;

/// What a `Range` header asks of a representation of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable header (absent, another unit, or malformed): the whole representation.
    Whole,
    /// The satisfiable ranges, in the order asked.
    Ranges(Vec<ByteRange>),
    /// Nothing satisfiable (or too many ranges): 416.
    Unsatisfiable,
}

/// Parses a `Range` header against a representation of `size` bytes. Malformed headers
/// are ignored, as the RFC asks.
pub fn parse_range(header: &str, size: u64) -> RangeRequest {
    let Some(specs) = header.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    let mut ranges = Vec::new();
    let mut count = 0;
    for spec in specs.split(',') {
        let spec = spec.trim();
        if spec.is_empty() {
            continue;
        }
        count += 1;
        let Some((first, last)) = spec.split_once('-') else {
            return RangeRequest::Whole;
        };
        let range = if first.is_empty() {
            // Suffix: the last `n` bytes.
            let Ok(n) = last.parse::<u64>() else {
                return RangeRequest::Whole;
            };
            (n > 0 && size > 0).then(|| ByteRange {
                first: size.saturating_sub(n),
                last: size - 1,
            })
        } else {
            let Ok(first) = first.parse::<u64>() else {
                return RangeRequest::Whole;
            };
            let last = if last.is_empty() {
                u64::MAX
            } else {
                match last.parse::<u64>() {
                    Ok(last) if last >= first => last,
                    _ => return RangeRequest::Whole,
                }
            };
            (first < size).then(|| ByteRange {
                first,
                last: last.min(size - 1),
            })
        };
        ranges.extend(range);
    }
    if count == 0 {
        return RangeRequest::Whole;
    }
    if ranges.is_empty() || count > MAX_RANGES {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Ranges(ranges)
}

/// A `Content-Range: bytes first-last/total` of a PUT (`total` may be `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// Where the body goes.
    pub range: ByteRange,
    /// Length of the whole representation, when given.
    pub total: Option<u64>,
}

/// Parses a `Content-Range` header; `None` when malformed.
pub fn parse_content_range(header: &str) -> Option<ContentRange> {
    let rest = header.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    if last < first {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        n => {
            let n: u64 = n.parse().ok()?;
            if last >= n {
                return None;
            }
            Some(n)
        }
    };
    Some(ContentRange {
        range: ByteRange { first, last },
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(first: u64, last: u64) -> ByteRange {
        ByteRange { first, last }
    }

    #[test]
    fn ranges_follow_the_rfc() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-9", 100), Ranges(vec![r(0, 9)]));
        assert_eq!(parse_range("bytes=90-", 100), Ranges(vec![r(90, 99)]));
        assert_eq!(parse_range("bytes=-10", 100), Ranges(vec![r(90, 99)]));
        assert_eq!(parse_range("bytes=-1000", 100), Ranges(vec![r(0, 99)]));
        assert_eq!(parse_range("bytes=95-200", 100), Ranges(vec![r(95, 99)]));
        assert_eq!(
            parse_range("bytes=0-0, 10-19 ,200-300", 100),
            Ranges(vec![r(0, 0), r(10, 19)])
        );
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        // Malformed or another unit: ignored.
        for bad in [
            "items=0-1",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=1",
            "bytes=",
            "bytes=,",
        ] {
            assert_eq!(parse_range(bad, 100), Whole, "{bad}");
        }
        let many = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
        assert_eq!(parse_range(&many, 100), Unsatisfiable);
    }

    #[test]
    fn content_ranges_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_content_range("bytes 10-19/100"),
            Some(ContentRange {
                range: r(10, 19),
                total: Some(100)
            })
        );
        assert_eq!(
            parse_content_range("bytes 0-0/*"),
            Some(ContentRange {
                range: r(0, 0),
                total: None
            })
        );
        for bad in [
            "bytes 10-19/15",
            "bytes 9-1/*",
            "bytes */100",
            "items 0-1/2",
            "bytes 0-x/*",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }
}
