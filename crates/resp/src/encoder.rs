//! Appends replies to an output buffer. Every RESP3-only type has a RESP2 form, chosen
//! by the [`Protocol`] of the connection, so reply code is written once.

use bytes::{BufMut, BytesMut};
use okapi_types::num::format_f64;

use crate::frame::{Frame, Protocol};

fn line(out: &mut BytesMut, kind: u8, body: &[u8]) {
    out.reserve(body.len() + 3);
    out.put_u8(kind);
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

fn length_line(out: &mut BytesMut, kind: u8, len: usize) {
    let mut digits = itoa::Buffer::new();
    line(out, kind, digits.format(len).as_bytes());
}

/// `+text`: a status reply such as `OK`.
pub fn simple(out: &mut BytesMut, text: &[u8]) {
    line(out, b'+', text);
}

/// `+OK`.
pub fn ok(out: &mut BytesMut) {
    out.put_slice(b"+OK\r\n");
}

/// `-PREFIX message`. `message` must already start with its error code (`ERR`,
/// `WRONGTYPE` ...) and must not contain CR or LF; any that do are replaced by spaces.
pub fn error(out: &mut BytesMut, message: &[u8]) {
    out.reserve(message.len() + 3);
    out.put_u8(b'-');
    for &b in message {
        out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    out.put_slice(b"\r\n");
}

/// `:n`.
pub fn integer(out: &mut BytesMut, value: i64) {
    let mut digits = itoa::Buffer::new();
    line(out, b':', digits.format(value).as_bytes());
}

/// `$len` and the bytes.
pub fn bulk(out: &mut BytesMut, bytes: &[u8]) {
    let mut digits = itoa::Buffer::new();
    let len = digits.format(bytes.len()).as_bytes();
    out.reserve(len.len() + bytes.len() + 5);
    out.put_u8(b'$');
    out.put_slice(len);
    out.put_slice(b"\r\n");
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}

/// A bulk string holding the decimal form of an integer.
pub fn bulk_integer(out: &mut BytesMut, value: i64) {
    let mut digits = itoa::Buffer::new();
    bulk(out, digits.format(value).as_bytes());
}

/// The missing value: `$-1` in RESP2, `_` in RESP3.
pub fn null(out: &mut BytesMut, protocol: Protocol) {
    out.put_slice(match protocol {
        Protocol::Resp2 => b"$-1\r\n",
        Protocol::Resp3 => b"_\r\n",
    });
}

/// The missing aggregate: `*-1` in RESP2, `_` in RESP3.
pub fn null_array(out: &mut BytesMut, protocol: Protocol) {
    out.put_slice(match protocol {
        Protocol::Resp2 => b"*-1\r\n",
        Protocol::Resp3 => b"_\r\n",
    });
}

/// `*n`; the caller appends `n` elements.
pub fn array_header(out: &mut BytesMut, len: usize) {
    length_line(out, b'*', len);
}

/// `%n` in RESP3, `*2n` in RESP2; the caller appends `n` key/value pairs.
pub fn map_header(out: &mut BytesMut, pairs: usize, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => length_line(out, b'*', pairs * 2),
        Protocol::Resp3 => length_line(out, b'%', pairs),
    }
}

/// `~n` in RESP3, `*n` in RESP2.
pub fn set_header(out: &mut BytesMut, len: usize, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => length_line(out, b'*', len),
        Protocol::Resp3 => length_line(out, b'~', len),
    }
}

/// `>n` in RESP3, `*n` in RESP2 (pub/sub messages).
pub fn push_header(out: &mut BytesMut, len: usize, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => length_line(out, b'*', len),
        Protocol::Resp3 => length_line(out, b'>', len),
    }
}

/// `,1.5` in RESP3, a bulk string in RESP2.
pub fn double(out: &mut BytesMut, value: f64, protocol: Protocol) {
    let text = format_f64(value);
    match protocol {
        Protocol::Resp2 => bulk(out, text.as_bytes()),
        Protocol::Resp3 => line(out, b',', text.as_bytes()),
    }
}

/// A float already printed: a double (`,`) in RESP3, a bulk string in RESP2.
pub fn double_text(out: &mut BytesMut, text: &[u8], protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => bulk(out, text),
        Protocol::Resp3 => line(out, b',', text),
    }
}

/// `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
pub fn boolean(out: &mut BytesMut, value: bool, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => integer(out, i64::from(value)),
        Protocol::Resp3 => out.put_slice(if value { b"#t\r\n" } else { b"#f\r\n" }),
    }
}

/// `=n\r\nfmt:text` in RESP3, a bulk string in RESP2.
pub fn verbatim(out: &mut BytesMut, format: &[u8; 3], text: &[u8], protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => bulk(out, text),
        Protocol::Resp3 => {
            length_line(out, b'=', text.len() + 4);
            out.put_slice(format);
            out.put_u8(b':');
            out.put_slice(text);
            out.put_slice(b"\r\n");
        }
    }
}

/// Appends any frame, downgrading RESP3 types for RESP2 connections.
pub fn frame(out: &mut BytesMut, frame: &Frame, protocol: Protocol) {
    match frame {
        Frame::Simple(text) => simple(out, text),
        Frame::Error(text) => error(out, text),
        Frame::Integer(n) => integer(out, *n),
        Frame::Bulk(bytes) => bulk(out, bytes),
        Frame::Null => null(out, protocol),
        Frame::NullArray => null_array(out, protocol),
        Frame::Array(items) => {
            array_header(out, items.len());
            items.iter().for_each(|f| self::frame(out, f, protocol));
        }
        Frame::Map(pairs) => {
            map_header(out, pairs.len(), protocol);
            for (k, v) in pairs {
                self::frame(out, k, protocol);
                self::frame(out, v, protocol);
            }
        }
        Frame::Set(items) => {
            set_header(out, items.len(), protocol);
            items.iter().for_each(|f| self::frame(out, f, protocol));
        }
        Frame::Push(items) => {
            push_header(out, items.len(), protocol);
            items.iter().for_each(|f| self::frame(out, f, protocol));
        }
        Frame::Double(value) => double(out, *value, protocol),
        Frame::Boolean(value) => boolean(out, *value, protocol),
        Frame::BigNumber(digits) => match protocol {
            Protocol::Resp2 => bulk(out, digits),
            Protocol::Resp3 => line(out, b'(', digits),
        },
        Frame::BulkError(text) => match protocol {
            Protocol::Resp2 => error(out, text),
            Protocol::Resp3 => {
                length_line(out, b'!', text.len());
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
        },
        Frame::Verbatim { format, text } => verbatim(out, format, text, protocol),
        Frame::Attributed { attributes, frame } => {
            if protocol == Protocol::Resp3 {
                length_line(out, b'|', attributes.len());
                for (k, v) in attributes {
                    self::frame(out, k, protocol);
                    self::frame(out, v, protocol);
                }
            }
            self::frame(out, frame, protocol);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(f: &Frame, p: Protocol) -> Vec<u8> {
        let mut out = BytesMut::new();
        frame(&mut out, f, p);
        out.to_vec()
    }

    #[test]
    fn resp3_types_downgrade_for_resp2() {
        let map = Frame::Map(vec![(Frame::bulk("k"), Frame::Double(1.5))]);
        assert_eq!(encoded(&map, Protocol::Resp3), b"%1\r\n$1\r\nk\r\n,1.5\r\n");
        assert_eq!(
            encoded(&map, Protocol::Resp2),
            b"*2\r\n$1\r\nk\r\n$3\r\n1.5\r\n"
        );
        assert_eq!(encoded(&Frame::Null, Protocol::Resp2), b"$-1\r\n");
        assert_eq!(encoded(&Frame::NullArray, Protocol::Resp2), b"*-1\r\n");
        assert_eq!(encoded(&Frame::NullArray, Protocol::Resp3), b"_\r\n");
        assert_eq!(encoded(&Frame::Boolean(true), Protocol::Resp2), b":1\r\n");
    }

    #[test]
    fn error_text_cannot_break_framing() {
        let mut out = BytesMut::new();
        error(&mut out, b"ERR bad\r\nthing");
        assert_eq!(&out[..], b"-ERR bad  thing\r\n");
    }
}
