//! RESP values.

use bytes::Bytes;

/// Protocol version spoken on a connection; `HELLO 3` switches to [`Protocol::Resp3`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, the default for a new connection.
    #[default]
    Resp2,
    /// RESP3, with maps, sets, doubles, booleans, nulls and push frames.
    Resp3,
}

/// One RESP value of any type in RESP2 or RESP3.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+text`
    Simple(Bytes),
    /// `-ERR text`
    Error(Bytes),
    /// `:123`
    Integer(i64),
    /// `$3\r\nfoo`
    Bulk(Bytes),
    /// RESP3 `_`; RESP2 `$-1` decodes to this too.
    Null,
    /// RESP2 `*-1`, the null array (RESP3 encodes it as `_`).
    NullArray,
    /// `*n`
    Array(Vec<Frame>),
    /// `%n`: key/value pairs (RESP2 sends a flat array).
    Map(Vec<(Frame, Frame)>),
    /// `~n` (RESP2 sends an array).
    Set(Vec<Frame>),
    /// `>n`: out-of-band data such as pub/sub messages (RESP2 sends an array).
    Push(Vec<Frame>),
    /// `,1.5` (RESP2 sends a bulk string).
    Double(f64),
    /// `#t` / `#f` (RESP2 sends `:1` / `:0`).
    Boolean(bool),
    /// `(123...` arbitrary precision integer, kept as its decimal digits.
    BigNumber(Bytes),
    /// `!n` error with a binary-safe body.
    BulkError(Bytes),
    /// `=n\r\ntxt:...`: a string with a three-byte format hint.
    Verbatim {
        /// Format, such as `txt` or `mkd`.
        format: [u8; 3],
        /// The text after `fmt:`.
        text: Bytes,
    },
    /// `|n` attributes attached to the frame that follows them.
    Attributed {
        /// The attribute pairs.
        attributes: Vec<(Frame, Frame)>,
        /// The frame the attributes describe.
        frame: Box<Frame>,
    },
}

impl Frame {
    /// A bulk string frame from anything byte-like.
    pub fn bulk(bytes: impl Into<Bytes>) -> Self {
        Frame::Bulk(bytes.into())
    }

    /// A simple string frame from static text.
    pub fn simple(text: &'static str) -> Self {
        Frame::Simple(Bytes::from_static(text.as_bytes()))
    }

    /// A request as clients send it: an array of bulk strings.
    pub fn command<I, B>(args: I) -> Self
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        Frame::Array(args.into_iter().map(|a| Frame::Bulk(a.into())).collect())
    }
}
