//! LCS: the longest common subsequence of two strings, by Redis's dynamic programming
//! table and its walk back through it (so ties resolve, and IDX ranges come out, in
//! Redis's order).

use bytes::Bytes;

use crate::error::EngineError;
use crate::reply::Reply;

/// LCS's options. Redis checks the keys' types before it reads them, so options that
/// did not parse travel as their error.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LcsOptions {
    /// Parsed options.
    Valid {
        /// LEN: only the length.
        len: bool,
        /// IDX: the matching ranges.
        idx: bool,
        /// MINMATCHLEN: shorter ranges are left out of IDX.
        min_match_len: u64,
        /// WITHMATCHLEN: each IDX range carries its length.
        with_match_len: bool,
    },
    /// Options that did not parse.
    Invalid(EngineError),
}

/// The largest table Redis builds (`proto-max-bulk-len`, 512 MB of 4-byte cells).
const MAX_TABLE_BYTES: u64 = 512 * 1024 * 1024;

/// Answers LCS for the strings `a` and `b` (missing keys are empty strings).
pub(crate) fn lcs(a: &[u8], b: &[u8], options: &LcsOptions) -> Result<Reply, EngineError> {
    let (len, idx, min_match_len, with_match_len) = match options {
        LcsOptions::Invalid(e) => return Err(e.clone()),
        LcsOptions::Valid {
            len,
            idx,
            min_match_len,
            with_match_len,
        } => (*len, *idx, *min_match_len, *with_match_len),
    };
    if len && idx {
        return Err(EngineError::Other(
            "ERR If you want both the length and indexes, please just use IDX.".into(),
        ));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > MAX_TABLE_BYTES {
        return Err(EngineError::Other(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len".into(),
        ));
    }
    let width = blen + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[alen * width + blen];
    if len {
        return Ok(Reply::Int(i64::from(total)));
    }
    // Walk back from the end, collecting the subsequence and its contiguous ranges.
    let mut result = vec![0u8; total as usize];
    let mut ranges = Vec::new();
    let mut left = total as usize;
    let (mut i, mut j) = (alen, blen);
    // (a_start, a_end, b_start, b_end) of the range being extended backward.
    let mut current: Option<(usize, usize, usize, usize)> = None;
    while i > 0 && j > 0 {
        let emit = if a[i - 1] == b[j - 1] {
            result[left - 1] = a[i - 1];
            let (a_start, a_end, b_start, b_end) = match current {
                None => (i - 1, i - 1, j - 1, j - 1),
                // A match right after a match is always contiguous: both went back one.
                Some((a_start, a_end, b_start, b_end)) => (a_start - 1, a_end, b_start - 1, b_end),
            };
            current = Some((a_start, a_end, b_start, b_end));
            left -= 1;
            i -= 1;
            j -= 1;
            // A range that reached the start of either string is complete.
            a_start == 0 || b_start == 0
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            current.is_some()
        };
        if emit && let Some((a_start, a_end, b_start, b_end)) = current.take() {
            let match_len = (a_end - a_start + 1) as u64;
            if min_match_len == 0 || match_len >= min_match_len {
                let mut range = vec![
                    Reply::Array(vec![Reply::Int(a_start as i64), Reply::Int(a_end as i64)]),
                    Reply::Array(vec![Reply::Int(b_start as i64), Reply::Int(b_end as i64)]),
                ];
                if with_match_len {
                    range.push(Reply::Int(match_len as i64));
                }
                ranges.push(Reply::Array(range));
            }
        }
    }
    if idx {
        return Ok(Reply::Map(vec![
            (Reply::bulk(b"matches"), Reply::Array(ranges)),
            (Reply::bulk(b"len"), Reply::Int(i64::from(total))),
        ]));
    }
    Ok(Reply::Bulk(Bytes::from(result)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(len: bool, idx: bool, min: u64, with: bool) -> LcsOptions {
        LcsOptions::Valid {
            len,
            idx,
            min_match_len: min,
            with_match_len: with,
        }
    }

    fn pair(a: i64, b: i64) -> Reply {
        Reply::Array(vec![Reply::Int(a), Reply::Int(b)])
    }

    // Expected replies are redis-server 7.0's.
    #[test]
    fn lcs_matches_redis() {
        let (a, b) = (b"ohmytext", b"mynewtext");
        assert_eq!(
            lcs(a, b, &opts(false, false, 0, false)),
            Ok(Reply::bulk(b"mytext"))
        );
        assert_eq!(lcs(a, b, &opts(true, false, 0, false)), Ok(Reply::Int(6)));
        assert_eq!(
            lcs(a, b, &opts(false, true, 0, false)),
            Ok(Reply::Map(vec![
                (
                    Reply::bulk(b"matches"),
                    Reply::Array(vec![
                        Reply::Array(vec![pair(4, 7), pair(5, 8)]),
                        Reply::Array(vec![pair(2, 3), pair(0, 1)]),
                    ])
                ),
                (Reply::bulk(b"len"), Reply::Int(6)),
            ]))
        );
        assert_eq!(
            lcs(a, b, &opts(false, true, 4, true)),
            Ok(Reply::Map(vec![
                (
                    Reply::bulk(b"matches"),
                    Reply::Array(vec![Reply::Array(vec![
                        pair(4, 7),
                        pair(5, 8),
                        Reply::Int(4)
                    ])])
                ),
                (Reply::bulk(b"len"), Reply::Int(6)),
            ]))
        );
        assert_eq!(
            lcs(b"", b"abc", &opts(false, false, 0, false)),
            Ok(Reply::bulk(b""))
        );
        assert!(lcs(a, b, &opts(true, true, 0, false)).is_err());
        let big = vec![b'x'; 12_001];
        assert!(lcs(&big, &big, &opts(true, false, 0, false)).is_err());
    }
}
