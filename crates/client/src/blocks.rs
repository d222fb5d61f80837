//! Typed block commands.

use bytes::Bytes;
use okapi_resp::Frame;

use crate::{Client, ClientError, IntoArg, args, int, opt_bulk};

/// What BLOCK.INFO reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInfo {
    /// Length in bytes.
    pub length: u64,
    /// Page size in bytes.
    pub page_size: u64,
    /// Pages holding data.
    pub pages: u64,
    /// Pages shared with another block.
    pub shared_pages: u64,
    /// Bytes of pages held.
    pub memory: u64,
    /// CRC-32C of the whole content.
    pub crc32c: u32,
}

impl Client {
    /// BLOCK.CREATE: a zero-filled block of `len` bytes (replacing any value).
    pub async fn block_create(&mut self, key: impl IntoArg, len: u64) -> Result<(), ClientError> {
        match self.call(args!(b"BLOCK.CREATE", key, len)).await? {
            Frame::Simple(_) => Ok(()),
            reply => Err(ClientError::Unexpected {
                command: "BLOCK.CREATE",
                reply,
            }),
        }
    }

    /// BLOCK.WRITE: returns how many bytes landed (fewer past the end).
    pub async fn block_write(
        &mut self,
        key: impl IntoArg,
        offset: u64,
        data: impl IntoArg,
    ) -> Result<u64, ClientError> {
        let reply = self.call(args!(b"BLOCK.WRITE", key, offset, data)).await?;
        Ok(int("BLOCK.WRITE", reply)? as u64)
    }

    /// BLOCK.READ: the bytes (short at the end), `None` when the block does not exist.
    pub async fn block_read(
        &mut self,
        key: impl IntoArg,
        offset: u64,
        len: u64,
    ) -> Result<Option<Bytes>, ClientError> {
        let reply = self.call(args!(b"BLOCK.READ", key, offset, len)).await?;
        opt_bulk("BLOCK.READ", reply)
    }

    /// BLOCK.PUT with no payload: clears `len` bytes from `offset` back to zeros.
    pub async fn block_clear(
        &mut self,
        key: impl IntoArg,
        offset: u64,
        len: u64,
    ) -> Result<u64, ClientError> {
        let reply = self
            .call(args!(b"BLOCK.PUT", key, offset, b"", len))
            .await?;
        Ok(int("BLOCK.PUT", reply)? as u64)
    }

    /// BLOCK.CLONE: true when cloned, false when `dst` exists and `replace` is off.
    pub async fn block_clone(
        &mut self,
        src: impl IntoArg,
        dst: impl IntoArg,
        replace: bool,
    ) -> Result<bool, ClientError> {
        let mut a = args!(b"BLOCK.CLONE", src, dst);
        if replace {
            a.push(Bytes::from_static(b"REPLACE"));
        }
        Ok(int("BLOCK.CLONE", self.call(a).await?)? == 1)
    }

    /// BLOCK.TRUNCATE.
    pub async fn block_truncate(&mut self, key: impl IntoArg, len: u64) -> Result<(), ClientError> {
        self.call(args!(b"BLOCK.TRUNCATE", key, len)).await?;
        Ok(())
    }

    /// BLOCK.SCATTER: every piece written in one request; bytes landed per piece.
    pub async fn block_scatter(
        &mut self,
        pieces: &[(&[u8], u64, &[u8])],
    ) -> Result<Vec<u64>, ClientError> {
        let mut a = args!(b"BLOCK.SCATTER");
        for &(key, offset, data) in pieces {
            a.extend(args!(key, offset, data));
        }
        match self.call(a).await? {
            Frame::Array(items) => items
                .into_iter()
                .map(|f| int("BLOCK.SCATTER", f).map(|n| n as u64))
                .collect(),
            reply => Err(ClientError::Unexpected {
                command: "BLOCK.SCATTER",
                reply,
            }),
        }
    }

    /// BLOCK.GATHER: every piece read in one request; `None` for a missing block.
    pub async fn block_gather(
        &mut self,
        pieces: &[(&[u8], u64, u64)],
    ) -> Result<Vec<Option<Bytes>>, ClientError> {
        let mut a = args!(b"BLOCK.GATHER");
        for &(key, offset, len) in pieces {
            a.extend(args!(key, offset, len));
        }
        let unexpected = |reply| ClientError::Unexpected {
            command: "BLOCK.GATHER",
            reply,
        };
        match self.call(a).await? {
            Frame::Array(items) => items
                .into_iter()
                .map(|piece| match piece {
                    Frame::Array(mut pair) if pair.len() == 2 => {
                        opt_bulk("BLOCK.GATHER", pair.remove(1))
                    }
                    other => Err(unexpected(other)),
                })
                .collect(),
            reply => Err(unexpected(reply)),
        }
    }

    /// BLOCK.INFO, `None` when the block does not exist.
    pub async fn block_info(
        &mut self,
        key: impl IntoArg,
    ) -> Result<Option<BlockInfo>, ClientError> {
        let reply = self.call(args!(b"BLOCK.INFO", key)).await?;
        let items = match reply {
            Frame::Null | Frame::NullArray => return Ok(None),
            Frame::Array(items) => items,
            reply => {
                return Err(ClientError::Unexpected {
                    command: "BLOCK.INFO",
                    reply,
                });
            }
        };
        let mut info = BlockInfo {
            length: 0,
            page_size: 0,
            pages: 0,
            shared_pages: 0,
            memory: 0,
            crc32c: 0,
        };
        for pair in items.chunks_exact(2) {
            let (Frame::Simple(name) | Frame::Bulk(name)) = &pair[0] else {
                continue;
            };
            let number = match &pair[1] {
                Frame::Integer(n) => *n as u64,
                Frame::Bulk(hex) => std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                    .unwrap_or(0),
                _ => 0,
            };
            match name.as_ref() {
                b"length" => info.length = number,
                b"page_size" => info.page_size = number,
                b"pages" => info.pages = number,
                b"shared_pages" => info.shared_pages = number,
                b"memory" => info.memory = number,
                b"crc32c" => info.crc32c = number as u32,
                _ => {}
            }
        }
        Ok(Some(info))
    }
}
