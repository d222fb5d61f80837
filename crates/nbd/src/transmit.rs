//! The transmission phase: requests are read in a loop; each is answered when it
//! completes, through one writer task that batches replies into vectored writes.

use bytes::{Bytes, BytesMut};
use okapi_engine::blocks::{BlockOp, BlockQuery};
use okapi_engine::{Op, OpKind, Query, QueryKind, Reply};
use okapi_resp::Output;
use okapi_server::{LogError, Service};
use okapi_types::Namespace;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use crate::Export;
use crate::negotiate::skip;
use crate::proto::*;

/// A finished request: its handle, errno (0 for success) and, for reads, the bytes.
struct Done {
    handle: u64,
    error: u32,
    data: Option<Reply>,
}

pub(crate) async fn transmit(
    stream: TcpStream,
    service: Service,
    export: Export,
) -> std::io::Result<()> {
    let (mut reader, writer) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_replies(writer, rx));
    let result = read_requests(&mut reader, &service, &export, &tx).await;
    // In-flight writes still hold senders; the writer ends once they have replied.
    drop(tx);
    let written = writer.await.map_err(std::io::Error::other)?;
    result.and(written)
}

async fn read_requests(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    service: &Service,
    export: &Export,
    tx: &mpsc::UnboundedSender<Done>,
) -> std::io::Result<()> {
    let mut header = [0u8; Request::LEN];
    loop {
        match reader.read_exact(&mut header).await {
            Ok(_) => {}
            // A client may simply close instead of sending DISC.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let Some(request) = Request::parse(&header) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "bad NBD request magic",
            ));
        };
        let reply = |error: u32, data: Option<Reply>| {
            let _ = tx.send(Done {
                handle: request.handle,
                error,
                data,
            });
        };
        let in_range = request
            .offset
            .checked_add(u64::from(request.length))
            .is_some_and(|end| end <= export.size);
        match request.kind {
            CMD_READ => {
                if request.length > MAX_PAYLOAD || !in_range {
                    reply(EINVAL, None);
                    continue;
                }
                match read(service, export, request.offset, request.length) {
                    Ok(data) => reply(0, Some(data)),
                    Err(errno) => reply(errno, None),
                }
            }
            CMD_WRITE => {
                if request.length > MAX_PAYLOAD {
                    skip(reader, u64::from(request.length)).await?;
                    reply(EINVAL, None);
                    continue;
                }
                let data = read_payload(reader, request.length as usize).await?;
                if !in_range {
                    reply(ENOSPC, None);
                    continue;
                }
                let op = BlockOp::Write {
                    key: export.key.clone(),
                    offset: request.offset,
                    data,
                };
                spawn_write(
                    service,
                    &export.key,
                    op,
                    u64::from(request.length),
                    request,
                    tx.clone(),
                );
            }
            CMD_TRIM | CMD_WRITE_ZEROES => {
                if !in_range {
                    reply(EINVAL, None);
                    continue;
                }
                let op = BlockOp::Zero {
                    key: export.key.clone(),
                    offset: request.offset,
                    len: u64::from(request.length),
                };
                spawn_write(
                    service,
                    &export.key,
                    op,
                    u64::from(request.length),
                    request,
                    tx.clone(),
                );
            }
            CMD_FLUSH => {
                let service = service.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let error = match service.flush().await {
                        Ok(()) => 0,
                        Err(e) => {
                            tracing::warn!(error = %e, "NBD flush failed");
                            EIO
                        }
                    };
                    let _ = tx.send(Done {
                        handle: request.handle,
                        error,
                        data: None,
                    });
                });
            }
            // Everything is in memory already.
            CMD_CACHE => reply(0, None),
            CMD_DISC => return Ok(()),
            _ => reply(EINVAL, None),
        }
    }
}

/// Reads a write's payload straight into a buffer of its size (no zero-fill first).
async fn read_payload(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    len: usize,
) -> std::io::Result<Bytes> {
    let mut data = BytesMut::with_capacity(len);
    let mut payload = reader.take(len as u64);
    while data.len() < len {
        if payload.read_buf(&mut data).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(data.freeze())
}

/// The bytes of `[offset, offset + length)`: the block's pages, attached.
fn read(service: &Service, export: &Export, offset: u64, length: u32) -> Result<Reply, u32> {
    let query = Query {
        db: Namespace(0),
        kind: QueryKind::Block(BlockQuery::Read {
            key: export.key.clone(),
            offset,
            len: u64::from(length),
        }),
    };
    let reply = service.query(&export.key, &query);
    let got = match &reply {
        Reply::Bulk(b) => b.len(),
        Reply::Pieces(pieces) => pieces.iter().map(Bytes::len).sum(),
        Reply::Nil => {
            tracing::warn!(key = ?export.key, "NBD export was deleted");
            return Err(EIO);
        }
        _ => return Err(EIO),
    };
    if got != length as usize {
        // Truncated since the export was opened.
        return Err(EIO);
    }
    Ok(reply)
}

/// Appends a write to the log now (request order), and replies when it is applied
/// (and, with FUA, durable).
fn spawn_write(
    service: &Service,
    request_key: &[u8],
    op: BlockOp,
    expected: u64,
    request: Request,
    tx: mpsc::UnboundedSender<Done>,
) {
    let fua = request.flags & CMD_FLAG_FUA != 0;
    let committed = service.write(
        request_key,
        Op {
            db: Namespace(0),
            kind: OpKind::Block(op),
        },
    );
    let service = service.clone();
    tokio::spawn(async move {
        let error = match committed.await {
            Ok(Reply::Int(n)) if n as u64 == expected => 0,
            Err(LogError::OverMemory) => ENOSPC,
            Ok(other) => {
                tracing::warn!(reply = ?other, "NBD write did not land whole");
                EIO
            }
            Err(e) => {
                tracing::warn!(error = %e, "NBD write refused");
                EIO
            }
        };
        let error = if error == 0 && fua {
            match service.flush().await {
                Ok(()) => 0,
                Err(_) => EIO,
            }
        } else {
            error
        };
        let _ = tx.send(Done {
            handle: request.handle,
            error,
            data: None,
        });
    });
}

/// Writes replies as they come, several per vectored write when they queue up.
async fn write_replies(
    mut writer: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Done>,
) -> std::io::Result<()> {
    let mut out = Output::with_capacity(64 * 1024);
    while let Some(first) = rx.recv().await {
        encode(&mut out, first);
        while out.len() < (8 << 20) {
            match rx.try_recv() {
                Ok(next) => encode(&mut out, next),
                Err(_) => break,
            }
        }
        let mut pending = out.take();
        writer.write_all_buf(&mut pending).await?;
    }
    writer.shutdown().await
}

fn encode(out: &mut Output, done: Done) {
    out.extend_from_slice(&simple_reply(done.error, done.handle));
    if done.error != 0 {
        return;
    }
    match done.data {
        Some(Reply::Bulk(bytes)) => out.put_shared(&bytes),
        Some(Reply::Pieces(pieces)) => pieces.iter().for_each(|p| out.put_shared(p)),
        _ => {}
    }
}
