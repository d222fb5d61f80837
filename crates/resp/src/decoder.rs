//! General incremental decoder for any RESP2/RESP3 frame.
//!
//! Decoding runs in two passes over the buffered bytes: a scan that checks the frame is
//! complete and valid without allocating, then a parse that slices the frozen bytes.
//! A partial frame therefore costs nothing but the bytes received, whatever lengths it
//! declares; `need` remembers how many bytes the scan is waiting for so a frame
//! arriving in many small reads is not rescanned on every read.

use bytes::{Bytes, BytesMut};
use okapi_types::limits;

use crate::error::DecodeError;
use crate::frame::Frame;

/// Limits a decoder enforces; a frame breaking one is an error, not an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk string (`proto-max-bulk-len`).
    pub max_bulk_len: usize,
    /// Largest number of elements of one aggregate.
    pub max_array_len: usize,
    /// Deepest nesting of aggregates.
    pub max_depth: usize,
    /// Longest inline command or simple line.
    pub max_inline_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bulk_len: limits::DEFAULT_PROTO_MAX_BULK_LEN,
            max_array_len: limits::DEFAULT_MAX_ARRAY_LEN,
            max_depth: limits::DEFAULT_MAX_DEPTH,
            max_inline_len: limits::MAX_INLINE_LEN,
        }
    }
}

/// Longest length line (`*123\r\n` and similar) before the stream is judged broken.
pub(crate) const MAX_LENGTH_LINE: usize = 32;

/// Incremental decoder of RESP frames from a growing buffer.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    need: usize,
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self { limits, need: 0 }
    }

    /// Takes one complete frame off the front of `buf`, or returns `Ok(None)` and
    /// leaves `buf` untouched when the frame is not complete yet.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if buf.is_empty() || buf.len() < self.need {
            return Ok(None);
        }
        let mut scanner = Scanner {
            buf,
            limits: &self.limits,
            need: 0,
        };
        match scanner.frame(0, 0)? {
            None => {
                self.need = scanner.need.max(buf.len() + 1);
                Ok(None)
            }
            Some(end) => {
                self.need = 0;
                let data = buf.split_to(end).freeze();
                let (frame, _) = parse(&data, 0)?;
                Ok(Some(frame))
            }
        }
    }
}

/// Finds the end of a valid frame; `None` means more bytes are needed.
struct Scanner<'a> {
    buf: &'a [u8],
    limits: &'a Limits,
    need: usize,
}

impl Scanner<'_> {
    fn frame(&mut self, pos: usize, depth: usize) -> Result<Option<usize>, DecodeError> {
        let Some(&kind) = self.buf.get(pos) else {
            self.need = pos + 1;
            return Ok(None);
        };
        let body = pos + 1;
        match kind {
            b'+' | b'-' | b':' | b',' | b'#' | b'(' | b'_' => {
                let Some(eol) = find_crlf(self.buf, body, self.limits.max_inline_len)? else {
                    return Ok(None);
                };
                validate_line(kind, &self.buf[body..eol])?;
                Ok(Some(eol + 2))
            }
            b'$' | b'!' | b'=' => {
                let Some((len, data)) = self.length(body)? else {
                    return Ok(None);
                };
                if len < 0 {
                    return if kind == b'$' && len == -1 {
                        Ok(Some(data))
                    } else {
                        Err(DecodeError::InvalidBulkLength)
                    };
                }
                let len = len as usize;
                if len > self.limits.max_bulk_len || (kind == b'=' && len < 4) {
                    return Err(DecodeError::InvalidBulkLength);
                }
                let end = data + len + 2;
                if self.buf.len() < end {
                    self.need = end;
                    return Ok(None);
                }
                if &self.buf[data + len..end] != b"\r\n" {
                    return Err(DecodeError::Malformed("bulk string not terminated by CRLF"));
                }
                if kind == b'=' && self.buf[data + 3] != b':' {
                    return Err(DecodeError::Malformed("verbatim string without format"));
                }
                Ok(Some(end))
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                if depth >= self.limits.max_depth {
                    return Err(DecodeError::TooDeep(self.limits.max_depth));
                }
                let Some((len, mut at)) = self.length(body)? else {
                    return Ok(None);
                };
                if len < 0 {
                    return if kind == b'*' && len == -1 {
                        Ok(Some(at))
                    } else {
                        Err(DecodeError::InvalidMultibulkLength)
                    };
                }
                let len = len as usize;
                if len > self.limits.max_array_len {
                    return Err(DecodeError::InvalidMultibulkLength);
                }
                let elements = if matches!(kind, b'%' | b'|') {
                    len * 2
                } else {
                    len
                };
                for _ in 0..elements {
                    match self.frame(at, depth + 1)? {
                        Some(next) => at = next,
                        None => return Ok(None),
                    }
                }
                if kind == b'|' {
                    // Attributes describe the frame that follows them.
                    return self.frame(at, depth + 1);
                }
                Ok(Some(at))
            }
            other => Err(DecodeError::InvalidTypeByte(other)),
        }
    }

    /// Parses a length line starting at `pos`; returns the length and where data begins.
    fn length(&mut self, pos: usize) -> Result<Option<(i64, usize)>, DecodeError> {
        let Some(eol) = find_crlf(self.buf, pos, MAX_LENGTH_LINE)? else {
            self.need = self.buf.len() + 1;
            return Ok(None);
        };
        let len = parse_int(&self.buf[pos..eol]).ok_or(DecodeError::InvalidMultibulkLength)?;
        Ok(Some((len, eol + 2)))
    }
}

/// Index of the `\r` of the first CRLF at or after `from`, if one is buffered.
/// Fails when no line end appears within `max` bytes.
pub(crate) fn find_crlf(buf: &[u8], from: usize, max: usize) -> Result<Option<usize>, DecodeError> {
    let window_end = buf.len().min(from.saturating_add(max).saturating_add(2));
    let window = buf.get(from..window_end).unwrap_or_default();
    match memchr::memchr(b'\r', window) {
        Some(i) => {
            let cr = from + i;
            match buf.get(cr + 1) {
                Some(b'\n') => Ok(Some(cr)),
                Some(_) => Err(DecodeError::Malformed("expected CRLF")),
                None => Ok(None),
            }
        }
        None if window_end - from > max => {
            if max == MAX_LENGTH_LINE {
                Err(DecodeError::LengthLineTooLong)
            } else {
                Err(DecodeError::InlineTooLong)
            }
        }
        None => Ok(None),
    }
}

fn validate_line(kind: u8, line: &[u8]) -> Result<(), DecodeError> {
    match kind {
        b':' => parse_int(line)
            .map(drop)
            .ok_or(DecodeError::Malformed("invalid integer")),
        b',' => parse_double(line)
            .map(drop)
            .ok_or(DecodeError::Malformed("invalid double")),
        b'#' => match line {
            b"t" | b"f" => Ok(()),
            _ => Err(DecodeError::Malformed("invalid boolean")),
        },
        b'_' if !line.is_empty() => Err(DecodeError::Malformed("invalid null")),
        b'(' => {
            let digits = line.strip_prefix(b"-").unwrap_or(line);
            if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                Ok(())
            } else {
                Err(DecodeError::Malformed("invalid big number"))
            }
        }
        _ => Ok(()),
    }
}

/// A decimal `i64` by Redis's rules (`string2ll`): the same for lengths and integers.
pub use okapi_types::num::parse_i64 as parse_int;

/// RESP3 double: `inf`, `-inf`, `nan` or a decimal number.
pub fn parse_double(bytes: &[u8]) -> Option<f64> {
    match bytes {
        b"inf" | b"+inf" => Some(f64::INFINITY),
        b"-inf" => Some(f64::NEG_INFINITY),
        b"nan" | b"-nan" => Some(f64::NAN),
        _ => std::str::from_utf8(bytes).ok()?.parse().ok(),
    }
}

/// Builds the frame starting at `pos` of a buffer the scanner validated.
fn parse(data: &Bytes, pos: usize) -> Result<(Frame, usize), DecodeError> {
    let kind = data[pos];
    let body = pos + 1;
    let malformed = DecodeError::Malformed("frame changed between scan and parse");
    let eol = find_crlf(data, body, data.len())?.ok_or(malformed)?;
    let line = &data[body..eol];
    let after = eol + 2;
    let frame = match kind {
        b'+' => Frame::Simple(data.slice(body..eol)),
        b'-' => Frame::Error(data.slice(body..eol)),
        b':' => Frame::Integer(parse_int(line).ok_or(DecodeError::Malformed("invalid integer"))?),
        b',' => Frame::Double(parse_double(line).ok_or(DecodeError::Malformed("invalid double"))?),
        b'#' => Frame::Boolean(line == b"t"),
        b'(' => Frame::BigNumber(data.slice(body..eol)),
        b'_' => Frame::Null,
        b'$' | b'!' | b'=' => {
            let len = parse_int(line).ok_or(DecodeError::InvalidBulkLength)?;
            if len < 0 {
                return Ok((Frame::Null, after));
            }
            let end = after + len as usize;
            let frame = match kind {
                b'$' => Frame::Bulk(data.slice(after..end)),
                b'!' => Frame::BulkError(data.slice(after..end)),
                _ => {
                    let mut format = [0u8; 3];
                    format.copy_from_slice(&data[after..after + 3]);
                    Frame::Verbatim {
                        format,
                        text: data.slice(after + 4..end),
                    }
                }
            };
            return Ok((frame, end + 2));
        }
        _ => {
            let len = parse_int(line).ok_or(DecodeError::InvalidMultibulkLength)?;
            if len < 0 {
                return Ok((Frame::NullArray, after));
            }
            let len = len as usize;
            let mut at = after;
            if matches!(kind, b'%' | b'|') {
                let mut pairs = Vec::with_capacity(len);
                for _ in 0..len {
                    let (k, next) = parse(data, at)?;
                    let (v, next) = parse(data, next)?;
                    pairs.push((k, v));
                    at = next;
                }
                if kind == b'|' {
                    let (inner, next) = parse(data, at)?;
                    let frame = Frame::Attributed {
                        attributes: pairs,
                        frame: Box::new(inner),
                    };
                    return Ok((frame, next));
                }
                return Ok((Frame::Map(pairs), at));
            }
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                let (item, next) = parse(data, at)?;
                items.push(item);
                at = next;
            }
            let frame = match kind {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                _ => Frame::Push(items),
            };
            return Ok((frame, at));
        }
    };
    Ok((frame, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<Option<Frame>, DecodeError> {
        Decoder::default().decode(&mut BytesMut::from(input))
    }

    #[test]
    fn incomplete_frames_need_more_bytes_and_leave_the_buffer_alone() {
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nfoo\r\n$3\r\nba"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), 19);
        buf.extend_from_slice(b"r\r\n+extra");
        let frame = decoder.decode(&mut buf).expect("valid").expect("complete");
        assert_eq!(frame, Frame::command(["foo", "bar"]));
        assert_eq!(&buf[..], b"+extra");
    }

    #[test]
    fn declared_huge_bulk_is_not_allocated() {
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::from(&b"$536870000\r\nabc"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert!(buf.capacity() < 1024);
    }

    #[test]
    fn resp3_types_decode() {
        let input = b"%2\r\n+a\r\n,1.5\r\n+b\r\n~2\r\n#t\r\n_\r\n";
        let frame = decode_all(input).expect("valid").expect("complete");
        assert_eq!(
            frame,
            Frame::Map(vec![
                (Frame::simple("a"), Frame::Double(1.5)),
                (
                    Frame::simple("b"),
                    Frame::Set(vec![Frame::Boolean(true), Frame::Null])
                ),
            ])
        );
        let verbatim = decode_all(b"=8\r\ntxt:okay\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(
            verbatim,
            Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"okay")
            }
        );
    }

    #[test]
    fn limits_and_garbage_are_errors() {
        assert_eq!(decode_all(b"$-5\r\n"), Err(DecodeError::InvalidBulkLength));
        assert_eq!(
            decode_all(b"*-7\r\n"),
            Err(DecodeError::InvalidMultibulkLength)
        );
        assert_eq!(
            decode_all(b"?what\r\n"),
            Err(DecodeError::InvalidTypeByte(b'?'))
        );
        assert_eq!(
            decode_all(b":12x\r\n"),
            Err(DecodeError::Malformed("invalid integer"))
        );
        assert_eq!(
            decode_all(b"*99999999999999999999999999\r\n"),
            Err(DecodeError::InvalidMultibulkLength)
        );
        assert_eq!(decode_all(&[b'*'; 40]), Err(DecodeError::LengthLineTooLong));
        let deep = b"*1\r\n".repeat(40);
        assert_eq!(decode_all(&deep), Err(DecodeError::TooDeep(32)));
        let limits = Limits {
            max_bulk_len: 10,
            ..Limits::default()
        };
        let mut buf = BytesMut::from(&b"$11\r\n"[..]);
        assert_eq!(
            Decoder::new(limits).decode(&mut buf),
            Err(DecodeError::InvalidBulkLength)
        );
    }
}
