//! Streaming a local file into a block and back: 1 MiB requests, 16 in flight,
//! all-zero chunks skipped both ways (blocks and files stay sparse), and the result
//! checked against BLOCK.INFO's CRC-32C.

use std::io::SeekFrom;
use std::path::Path;

use bytes::Bytes;
use okapi_resp::Frame;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::{Client, ClientError, IntoArg, args, int, to_arg};

/// Bytes per request.
const CHUNK: usize = 1 << 20;
/// Requests in flight.
const WINDOW: usize = 16;

/// Called with `(bytes done, bytes in all)` as a transfer advances.
pub type Progress<'a> = &'a mut (dyn FnMut(u64, u64) + Send);

fn is_zero(bytes: &[u8]) -> bool {
    bytes
        .chunks(1024)
        .all(|c| c.iter().fold(0u8, |a, &b| a | b) == 0)
}

impl Client {
    /// Uploads the file at `path` into a new block `key` of the file's length
    /// (replacing any value). Returns the number of bytes uploaded.
    pub async fn upload_file(
        &mut self,
        path: &Path,
        key: impl IntoArg,
        progress: Progress<'_>,
    ) -> Result<u64, ClientError> {
        let key = to_arg(key);
        let mut file = tokio::fs::File::open(path).await?;
        let total = file.metadata().await?.len();
        self.block_create(&key, total).await?;
        let mut crc = 0u32;
        let (mut offset, mut in_flight) = (0u64, 0usize);
        let mut buf = vec![0u8; CHUNK];
        while offset < total {
            let n = (total - offset).min(CHUNK as u64) as usize;
            file.read_exact(&mut buf[..n]).await?;
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            if !is_zero(&buf[..n]) {
                self.send(args!(
                    b"BLOCK.WRITE",
                    &key,
                    offset,
                    Bytes::copy_from_slice(&buf[..n])
                ));
                self.flush().await?;
                in_flight += 1;
                if in_flight >= WINDOW {
                    int("BLOCK.WRITE", self.receive().await?)?;
                    in_flight -= 1;
                }
            }
            offset += n as u64;
            progress(offset, total);
        }
        for _ in 0..in_flight {
            int("BLOCK.WRITE", self.receive().await?)?;
        }
        self.verify(&key, crc).await?;
        Ok(total)
    }

    /// Downloads block `key` into the file at `path` (created or truncated; zero
    /// ranges are left as holes). Returns the number of bytes downloaded.
    pub async fn download_file(
        &mut self,
        key: impl IntoArg,
        path: &Path,
        progress: Progress<'_>,
    ) -> Result<u64, ClientError> {
        let key = to_arg(key);
        let info = self
            .block_info(&key)
            .await?
            .ok_or(ClientError::NoSuchBlock)?;
        let total = info.length;
        let mut file = tokio::fs::File::create(path).await?;
        file.set_len(total).await?;
        let mut crc = 0u32;
        let (mut sent, mut received) = (0u64, 0u64);
        while received < total {
            while sent < total && sent - received < (WINDOW * CHUNK) as u64 {
                let n = (total - sent).min(CHUNK as u64);
                self.send(args!(b"BLOCK.READ", &key, sent, n));
                sent += n;
            }
            self.flush().await?;
            let want = (total - received).min(CHUNK as u64) as usize;
            let bytes = match self.receive().await? {
                Frame::Bulk(b) if b.len() == want => b,
                reply => {
                    return Err(ClientError::Unexpected {
                        command: "BLOCK.READ",
                        reply,
                    });
                }
            };
            crc = crc32c::crc32c_append(crc, &bytes);
            if !is_zero(&bytes) {
                file.seek(SeekFrom::Start(received)).await?;
                file.write_all(&bytes).await?;
            }
            received += bytes.len() as u64;
            progress(received, total);
        }
        file.flush().await?;
        file.sync_all().await?;
        if crc != info.crc32c {
            return Err(ClientError::ChecksumMismatch {
                block: info.crc32c,
                file: crc,
            });
        }
        Ok(total)
    }

    /// Checks the block's CRC-32C against what was sent.
    async fn verify(&mut self, key: &Bytes, crc: u32) -> Result<(), ClientError> {
        let info = self
            .block_info(key)
            .await?
            .ok_or(ClientError::NoSuchBlock)?;
        if info.crc32c != crc {
            return Err(ClientError::ChecksumMismatch {
                block: info.crc32c,
                file: crc,
            });
        }
        Ok(())
    }
}
