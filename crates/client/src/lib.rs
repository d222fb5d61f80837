//! okapi's Rust client: one RESP connection with pipelining, a typed API for blocks
//! and tables, and streaming upload and download of local files into blocks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), okapi_client::ClientError> {
//! let mut c = okapi_client::Client::connect("127.0.0.1:6379").await?;
//! c.block_create("disk", 1 << 30).await?;
//! c.block_write("disk", 4096, b"hello").await?;
//! let bytes = c.block_read("disk", 4096, 5).await?;
//! # Ok(()) }
//! ```
//!
//! Not yet: cluster awareness (slot cache, MOVED/ASK), connection pools and TLS;
//! they arrive with okapi's cluster.

mod blocks;
mod tables;
mod transfer;

use bytes::{Bytes, BytesMut};
use okapi_resp::{Decoder, Frame, Limits, Protocol};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

pub use blocks::BlockInfo;
pub use transfer::Progress;

/// What can go wrong talking to okapi.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection failed or closed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The server's reply could not be decoded.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server answered with an error (its text, prefix included).
    #[error("{0}")]
    Server(String),
    /// The block a transfer names does not exist (or vanished during it).
    #[error("no such block")]
    NoSuchBlock,
    /// A transfer's CRC-32C differs between the two ends: the block was written while
    /// it ran.
    #[error(
        "the block's CRC-32C {block:08x} differs from the file's {file:08x}: the block was written during the transfer; transfer again"
    )]
    ChecksumMismatch {
        /// CRC-32C of the block.
        block: u32,
        /// CRC-32C of the local file's bytes.
        file: u32,
    },
    /// A reply of an unexpected shape.
    #[error("unexpected reply to {command}: {reply:?}")]
    Unexpected {
        /// The command.
        command: &'static str,
        /// What came back.
        reply: Frame,
    },
}

/// A byte stream to a node: TCP or a Unix socket.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One connection to an okapi node.
pub struct Client {
    stream: Box<dyn Stream>,
    decoder: Decoder,
    inbuf: BytesMut,
    outbuf: BytesMut,
}

/// An argument of a command.
pub type Arg = Bytes;

impl Client {
    /// Connects to `addr` (`host:port`).
    pub async fn connect(addr: &str) -> Result<Self, ClientError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self::over(Box::new(stream)))
    }

    /// Connects to the node's Unix socket at `path`.
    pub async fn connect_unix(path: impl AsRef<std::path::Path>) -> Result<Self, ClientError> {
        Ok(Self::over(Box::new(UnixStream::connect(path).await?)))
    }

    /// Authenticates as the default user (`AUTH password`).
    pub async fn auth(&mut self, password: &str) -> Result<(), ClientError> {
        self.call(args!["AUTH", password]).await.map(drop)
    }

    fn over(stream: Box<dyn Stream>) -> Self {
        Self {
            stream,
            decoder: Decoder::new(Limits {
                max_bulk_len: usize::MAX >> 1,
                ..Limits::default()
            }),
            inbuf: BytesMut::with_capacity(64 * 1024),
            outbuf: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// Runs one command and returns its reply (server errors as [`ClientError::Server`]).
    pub async fn call(&mut self, args: Vec<Arg>) -> Result<Frame, ClientError> {
        self.send(args);
        self.flush().await?;
        self.receive().await
    }

    /// Runs several commands in one round trip; one reply (or error) per command.
    pub async fn pipeline(
        &mut self,
        commands: Vec<Vec<Arg>>,
    ) -> Result<Vec<Result<Frame, ClientError>>, ClientError> {
        let count = commands.len();
        commands.into_iter().for_each(|c| self.send(c));
        self.flush().await?;
        let mut replies = Vec::with_capacity(count);
        for _ in 0..count {
            replies.push(match self.receive().await {
                Err(ClientError::Server(e)) => Err(ClientError::Server(e)),
                other => Ok(other?),
            });
        }
        Ok(replies)
    }

    /// Queues a command without sending it (see [`Client::flush`]).
    pub(crate) fn send(&mut self, args: Vec<Arg>) {
        okapi_resp::encoder::frame(&mut self.outbuf, &Frame::command(args), Protocol::Resp2);
    }

    /// Sends every queued command.
    pub(crate) async fn flush(&mut self) -> Result<(), ClientError> {
        self.stream.write_all(&self.outbuf).await?;
        self.outbuf.clear();
        Ok(())
    }

    /// Reads the next reply.
    pub(crate) async fn receive(&mut self) -> Result<Frame, ClientError> {
        loop {
            match self.decoder.decode(&mut self.inbuf) {
                Ok(Some(Frame::Error(text))) => {
                    return Err(ClientError::Server(
                        String::from_utf8_lossy(&text).into_owned(),
                    ));
                }
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            }
            self.inbuf.reserve(64 * 1024);
            if self.stream.read_buf(&mut self.inbuf).await? == 0 {
                return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }
}

/// Builds an argument list from anything byte-like.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        vec![$($crate::to_arg($a)),*]
    };
}

/// One argument from bytes, text or a number.
pub fn to_arg(value: impl IntoArg) -> Arg {
    value.into_arg()
}

/// Things that can be a command argument.
pub trait IntoArg {
    /// The argument's bytes.
    fn into_arg(self) -> Arg;
}

impl IntoArg for Bytes {
    fn into_arg(self) -> Arg {
        self
    }
}
impl IntoArg for &Bytes {
    fn into_arg(self) -> Arg {
        self.clone()
    }
}
impl IntoArg for &[u8] {
    fn into_arg(self) -> Arg {
        Bytes::copy_from_slice(self)
    }
}
impl<const N: usize> IntoArg for &[u8; N] {
    fn into_arg(self) -> Arg {
        Bytes::copy_from_slice(self)
    }
}
impl IntoArg for &str {
    fn into_arg(self) -> Arg {
        Bytes::copy_from_slice(self.as_bytes())
    }
}
impl IntoArg for u64 {
    fn into_arg(self) -> Arg {
        Bytes::from(self.to_string())
    }
}
impl IntoArg for usize {
    fn into_arg(self) -> Arg {
        Bytes::from(self.to_string())
    }
}

/// The integer of a reply.
pub(crate) fn int(command: &'static str, reply: Frame) -> Result<i64, ClientError> {
    match reply {
        Frame::Integer(n) => Ok(n),
        reply => Err(ClientError::Unexpected { command, reply }),
    }
}

/// The bytes of a bulk reply, `None` for nil.
pub(crate) fn opt_bulk(command: &'static str, reply: Frame) -> Result<Option<Bytes>, ClientError> {
    match reply {
        Frame::Bulk(b) => Ok(Some(b)),
        Frame::Null => Ok(None),
        reply => Err(ClientError::Unexpected { command, reply }),
    }
}
