//! The server side of the protocol: requests are arrays of bulk strings (or inline
//! lines typed in telnet) and become argument vectors that slice the received bytes.
//!
//! The decoder is resumable: a request arriving in many reads is scanned once, element
//! by element, whatever its size, and nothing is allocated for a declared length before
//! the bytes arrive.

use bytes::{Bytes, BytesMut};

use crate::decoder::{Limits, MAX_LENGTH_LINE, find_crlf, parse_int};
use crate::error::DecodeError;

/// Cap on the argument-offset vector reserved up front, whatever a request declares.
const MAX_PREALLOCATED_ARGS: usize = 1024;

/// Resumable decoder of client requests into argument vectors.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    limits: Limits,
    partial: Option<Partial>,
}

/// Progress through a multibulk request that is not complete yet. Offsets are relative
/// to the start of the buffer, which only grows at its end until the request is taken.
#[derive(Debug)]
struct Partial {
    remaining: usize,
    pos: usize,
    args: Vec<(usize, usize)>,
    /// Body range of a bulk whose header was parsed but whose bytes are not all here.
    pending: Option<(usize, usize)>,
}

impl RequestDecoder {
    /// A decoder enforcing `limits` (bulk size, argument count, inline length).
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            partial: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Replaces the limits; takes effect from the next request.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Bytes still missing for the bulk string being received, if one is under way;
    /// lets the reader size its buffer without trusting the declared length blindly.
    pub fn pending_bulk_bytes(&self, buffered: usize) -> usize {
        match &self.partial {
            Some(Partial {
                pending: Some((_, end)),
                ..
            }) => (end + 2).saturating_sub(buffered),
            _ => 0,
        }
    }

    /// Takes one request off the front of `buf`. `Ok(None)`: more bytes are needed.
    /// An empty vector is a request with no arguments (`*0` or a blank line), which a
    /// server skips.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, DecodeError> {
        if self.partial.is_none() {
            match buf.first() {
                None => return Ok(None),
                Some(b'*') => {}
                Some(_) => return self.decode_inline(buf),
            }
            let Some(eol) = find_crlf(buf, 1, MAX_LENGTH_LINE)? else {
                return Ok(None);
            };
            let count = parse_int(&buf[1..eol]).ok_or(DecodeError::InvalidMultibulkLength)?;
            if count > self.limits.max_array_len as i64 {
                return Err(DecodeError::InvalidMultibulkLength);
            }
            if count <= 0 {
                let _ = buf.split_to(eol + 2);
                return Ok(Some(Vec::new()));
            }
            let count = count as usize;
            self.partial = Some(Partial {
                remaining: count,
                pos: eol + 2,
                args: Vec::with_capacity(count.min(MAX_PREALLOCATED_ARGS)),
                pending: None,
            });
        }
        let Some(partial) = self.partial.as_mut() else {
            return Ok(None);
        };
        while partial.remaining > 0 {
            let (start, end) = match partial.pending {
                Some(bulk) => bulk,
                None => {
                    let pos = partial.pos;
                    let Some(&kind) = buf.get(pos) else {
                        return Ok(None);
                    };
                    if kind != b'$' {
                        return Err(DecodeError::ExpectedBulk(kind));
                    }
                    let Some(eol) = find_crlf(buf, pos + 1, MAX_LENGTH_LINE)? else {
                        return Ok(None);
                    };
                    let len =
                        parse_int(&buf[pos + 1..eol]).ok_or(DecodeError::InvalidBulkLength)?;
                    if len < 0 || len as u64 > self.limits.max_bulk_len as u64 {
                        return Err(DecodeError::InvalidBulkLength);
                    }
                    (eol + 2, eol + 2 + len as usize)
                }
            };
            if buf.len() < end + 2 {
                // Remember the header so the next call waits for the body without
                // parsing it again.
                partial.pending = Some((start, end));
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(DecodeError::Malformed("bulk string not terminated by CRLF"));
            }
            partial.pending = None;
            partial.args.push((start, end));
            partial.pos = end + 2;
            partial.remaining -= 1;
        }
        let Some(partial) = self.partial.take() else {
            return Ok(None);
        };
        let frame = buf.split_to(partial.pos).freeze();
        Ok(Some(
            partial
                .args
                .into_iter()
                .map(|(s, e)| frame.slice(s..e))
                .collect(),
        ))
    }

    fn decode_inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, DecodeError> {
        let max = self.limits.max_inline_len;
        let Some(nl) = memchr::memchr(b'\n', &buf[..buf.len().min(max + 1)]) else {
            return if buf.len() > max {
                Err(DecodeError::InlineTooLong)
            } else {
                Ok(None)
            };
        };
        let line = buf.split_to(nl + 1);
        let line = line.strip_suffix(b"\n").unwrap_or(&line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        split_inline_args(line).map(Some)
    }
}

/// Splits an inline command into arguments as Redis's `sdssplitargs`: whitespace
/// separated, with `"..."` (C escapes, `\xHH`) and `'...'` quoting.
pub fn split_inline_args(line: &[u8]) -> Result<Vec<Bytes>, DecodeError> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Ok(args);
        }
        let mut current = Vec::new();
        let quote = match line[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                Some(q)
            }
            _ => None,
        };
        loop {
            match quote {
                None => {
                    if i == line.len() || line[i].is_ascii_whitespace() {
                        break;
                    }
                    current.push(line[i]);
                    i += 1;
                }
                Some(q) => {
                    let Some(&c) = line.get(i) else {
                        return Err(DecodeError::UnbalancedQuotes);
                    };
                    if c == q {
                        i += 1;
                        // A closing quote must be followed by a space or the end.
                        if i < line.len() && !line[i].is_ascii_whitespace() {
                            return Err(DecodeError::UnbalancedQuotes);
                        }
                        break;
                    }
                    if c == b'\\' && i + 1 < line.len() {
                        let (byte, used) = unescape(q, &line[i + 1..]);
                        current.push(byte);
                        i += 1 + used;
                    } else {
                        current.push(c);
                        i += 1;
                    }
                }
            }
        }
        args.push(Bytes::from(current));
    }
}

/// One escape sequence after a backslash; returns the byte and how many bytes it used.
fn unescape(quote: u8, rest: &[u8]) -> (u8, usize) {
    if quote == b'\'' {
        return if rest[0] == b'\'' {
            (b'\'', 1)
        } else {
            (b'\\', 0)
        };
    }
    match rest[0] {
        b'x' if rest.len() >= 3 && rest[1].is_ascii_hexdigit() && rest[2].is_ascii_hexdigit() => {
            let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            (hex(rest[1]) * 16 + hex(rest[2]), 3)
        }
        b'n' => (b'\n', 1),
        b'r' => (b'\r', 1),
        b't' => (b'\t', 1),
        b'b' => (0x08, 1),
        b'a' => (0x07, 1),
        other => (other, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn pipelined_requests_come_out_one_by_one() {
        let mut d = RequestDecoder::default();
        let mut buf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"[..]);
        assert_eq!(d.decode(&mut buf), Ok(Some(args(&["PING"]))));
        assert_eq!(d.decode(&mut buf), Ok(Some(args(&["GET", "k"]))));
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }

    #[test]
    fn request_split_at_every_byte_decodes_the_same() {
        let wire = b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$10\r\n0123456789\r\n";
        for split in 0..wire.len() {
            let mut d = RequestDecoder::default();
            let mut buf = BytesMut::from(&wire[..split]);
            assert_eq!(d.decode(&mut buf), Ok(None), "split at {split}");
            buf.extend_from_slice(&wire[split..]);
            assert_eq!(
                d.decode(&mut buf),
                Ok(Some(args(&["SET", "hello", "0123456789"])))
            );
        }
    }

    #[test]
    fn waiting_for_a_bulk_body_reports_the_missing_bytes() {
        let mut d = RequestDecoder::default();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nSET\r\n$1000\r\nab"[..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(d.pending_bulk_bytes(buf.len()), 1000);
        buf.extend_from_slice(&[b'x'; 998]);
        buf.extend_from_slice(b"\r\n");
        let request = d.decode(&mut buf).expect("valid").expect("complete");
        assert_eq!(request[1].len(), 1000);
        assert_eq!(d.pending_bulk_bytes(buf.len()), 0);
    }

    #[test]
    fn inline_commands_split_like_redis() {
        let mut d = RequestDecoder::default();
        let mut buf = BytesMut::from(&b"set k \"a b\\x41\\n\" 'it''s'\r\n"[..]);
        let err = d.decode(&mut buf);
        assert_eq!(err, Err(DecodeError::UnbalancedQuotes));
        let mut buf = BytesMut::from(&b"set k \"a b\\x41\\n\" 'it\\'s'\r\nPING\n"[..]);
        assert_eq!(
            d.decode(&mut buf),
            Ok(Some(args(&["set", "k", "a bA\n", "it's"])))
        );
        assert_eq!(d.decode(&mut buf), Ok(Some(args(&["PING"]))));
        let mut blank = BytesMut::from(&b"\r\n"[..]);
        assert_eq!(d.decode(&mut blank), Ok(Some(Vec::new())));
    }

    #[test]
    fn protocol_violations_are_errors() {
        let decode = |input: &[u8]| RequestDecoder::default().decode(&mut BytesMut::from(input));
        assert_eq!(
            decode(b"*1\r\n:5\r\n"),
            Err(DecodeError::ExpectedBulk(b':'))
        );
        assert_eq!(
            decode(b"*1\r\n$-3\r\n"),
            Err(DecodeError::InvalidBulkLength)
        );
        assert_eq!(decode(b"*x\r\n"), Err(DecodeError::InvalidMultibulkLength));
        assert_eq!(
            decode(b"*1\r\n$3\r\nabcXY"),
            Err(DecodeError::Malformed("bulk string not terminated by CRLF"))
        );
        assert_eq!(decode(&[b'a'; 70000]), Err(DecodeError::InlineTooLong));
        let limits = Limits {
            max_bulk_len: 4,
            ..Limits::default()
        };
        let mut buf = BytesMut::from(&b"*1\r\n$5\r\n"[..]);
        assert_eq!(
            RequestDecoder::new(limits).decode(&mut buf),
            Err(DecodeError::InvalidBulkLength)
        );
        let huge = format!("*{}\r\n", i64::from(i32::MAX) * 4);
        let limits = Limits {
            max_array_len: 1 << 20,
            ..Limits::default()
        };
        let mut buf = BytesMut::from(huge.as_bytes());
        assert_eq!(
            RequestDecoder::new(limits).decode(&mut buf),
            Err(DecodeError::InvalidMultibulkLength)
        );
    }
}
