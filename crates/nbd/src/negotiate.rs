//! The newstyle fixed handshake: greeting, client flags, then options until the client
//! picks an export (GO or EXPORT_NAME) or gives up.

use bytes::Bytes;
use okapi_engine::blocks::BlockQuery;
use okapi_engine::{Query, QueryKind, Reply};
use okapi_server::Service;
use okapi_types::Namespace;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Export;
use crate::proto::*;

/// Transmission flags of every export.
pub(crate) const TRANSMISSION_FLAGS: u16 = TFLAG_HAS_FLAGS
    | TFLAG_SEND_FLUSH
    | TFLAG_SEND_FUA
    | TFLAG_SEND_TRIM
    | TFLAG_SEND_WRITE_ZEROES
    | TFLAG_CAN_MULTI_CONN;

fn protocol_error(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// Why an export cannot be opened: the option error to reply with, and a message.
struct Refusal {
    kind: u32,
    message: String,
}

impl Refusal {
    fn new(kind: u32, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// The length of the block `key`, or why it cannot be exported: it does not exist,
/// the node is loading, or a password is set (NBD cannot check one).
fn lookup(service: &Service, key: &[u8]) -> Result<Export, Refusal> {
    if !service.unauthenticated_front_ends_allowed() {
        return Err(Refusal::new(
            REP_ERR_POLICY,
            "okapi requires a password and NBD has no way to give one; the server must be started with nbd-unauthenticated to export blocks",
        ));
    }
    if service.loading() {
        return Err(Refusal::new(
            REP_ERR_UNKNOWN,
            "okapi is loading the dataset in memory; retry shortly",
        ));
    }
    let query = Query {
        db: Namespace(0),
        kind: QueryKind::Block(BlockQuery::Len {
            key: Bytes::copy_from_slice(key),
        }),
    };
    match service.query(key, &query) {
        Reply::Int(len) => Ok(Export {
            key: Bytes::copy_from_slice(key),
            size: len as u64,
        }),
        Reply::Nil => Err(Refusal::new(
            REP_ERR_UNKNOWN,
            format!("no block named '{}'", String::from_utf8_lossy(key)),
        )),
        Reply::Error(e) => Err(Refusal::new(REP_ERR_UNKNOWN, e.to_string())),
        other => Err(Refusal::new(
            REP_ERR_UNKNOWN,
            format!("unexpected reply {other:?}"),
        )),
    }
}

/// Runs the handshake; `None` when the client ended it without an export.
pub(crate) async fn negotiate(
    stream: &mut TcpStream,
    service: &Service,
) -> std::io::Result<Option<Export>> {
    let mut greeting = Vec::with_capacity(18);
    greeting.extend_from_slice(&NBD_MAGIC.to_be_bytes());
    greeting.extend_from_slice(&IHAVEOPT.to_be_bytes());
    greeting.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    stream.write_all(&greeting).await?;
    let client_flags = stream.read_u32().await?;
    if client_flags & CLIENT_FIXED_NEWSTYLE == 0 {
        return Err(protocol_error("client does not speak fixed newstyle"));
    }
    let no_zeroes = client_flags & CLIENT_NO_ZEROES != 0;
    loop {
        if stream.read_u64().await? != IHAVEOPT {
            return Err(protocol_error("option without IHAVEOPT"));
        }
        let option = stream.read_u32().await?;
        let len = stream.read_u32().await?;
        if len > MAX_OPTION {
            if option == OPT_EXPORT_NAME {
                return Err(protocol_error("export name too long"));
            }
            skip(stream, u64::from(len)).await?;
            reply(stream, option, REP_ERR_TOO_BIG, b"option data too long").await?;
            continue;
        }
        let mut data = vec![0u8; len as usize];
        stream.read_exact(&mut data).await?;
        match option {
            OPT_EXPORT_NAME => {
                // No way to report an error here: the protocol says close.
                let export = lookup(service, &data).map_err(|e| protocol_error(&e.message))?;
                let mut out = Vec::with_capacity(10 + 124);
                out.extend_from_slice(&export.size.to_be_bytes());
                out.extend_from_slice(&TRANSMISSION_FLAGS.to_be_bytes());
                if !no_zeroes {
                    out.extend_from_slice(&[0u8; 124]);
                }
                stream.write_all(&out).await?;
                return Ok(Some(export));
            }
            OPT_ABORT => {
                reply(stream, option, REP_ACK, &[]).await?;
                return Ok(None);
            }
            // Exports are block keys; listing them would mean a keyspace scan.
            OPT_LIST => reply(stream, option, REP_ACK, &[]).await?,
            OPT_INFO | OPT_GO => {
                let Some((name, requests)) = parse_info(&data) else {
                    reply(
                        stream,
                        option,
                        REP_ERR_INVALID,
                        b"malformed NBD_OPT_INFO/GO",
                    )
                    .await?;
                    continue;
                };
                let export = match lookup(service, name) {
                    Ok(export) => export,
                    Err(refusal) => {
                        reply(stream, option, refusal.kind, refusal.message.as_bytes()).await?;
                        continue;
                    }
                };
                let mut info = Vec::with_capacity(12);
                info.extend_from_slice(&INFO_EXPORT.to_be_bytes());
                info.extend_from_slice(&export.size.to_be_bytes());
                info.extend_from_slice(&TRANSMISSION_FLAGS.to_be_bytes());
                reply(stream, option, REP_INFO, &info).await?;
                if requests.contains(&INFO_BLOCK_SIZE) {
                    let mut sizes = Vec::with_capacity(14);
                    sizes.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
                    sizes.extend_from_slice(&1u32.to_be_bytes());
                    sizes.extend_from_slice(&4096u32.to_be_bytes());
                    sizes.extend_from_slice(&MAX_PAYLOAD.to_be_bytes());
                    reply(stream, option, REP_INFO, &sizes).await?;
                }
                reply(stream, option, REP_ACK, &[]).await?;
                if option == OPT_GO {
                    return Ok(Some(export));
                }
            }
            _ => reply(stream, option, REP_ERR_UNSUP, b"option not supported").await?,
        }
    }
}

/// `u32 name length, name, u16 count, count × u16 info type`.
fn parse_info(data: &[u8]) -> Option<(&[u8], Vec<u16>)> {
    let name_len = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let name = data.get(4..4usize.checked_add(name_len)?)?;
    let rest = &data[4 + name_len..];
    let count = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    let list = rest.get(2..)?;
    if list.len() != count * 2 {
        return None;
    }
    let requests = list
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    Some((name, requests))
}

async fn reply(stream: &mut TcpStream, option: u32, kind: u32, data: &[u8]) -> std::io::Result<()> {
    stream.write_all(&option_reply(option, kind, data)).await
}

/// Reads and drops `len` bytes.
pub(crate) async fn skip(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    mut len: u64,
) -> std::io::Result<()> {
    let mut sink = vec![0u8; 64 * 1024];
    while len > 0 {
        let n = (len as usize).min(sink.len());
        stream.read_exact(&mut sink[..n]).await?;
        len -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_requests_parse_and_malformed_ones_are_refused() {
        let mut data = Vec::new();
        data.extend_from_slice(&3u32.to_be_bytes());
        data.extend_from_slice(b"vm1");
        data.extend_from_slice(&2u16.to_be_bytes());
        data.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
        data.extend_from_slice(&INFO_EXPORT.to_be_bytes());
        let (name, requests) = parse_info(&data).expect("parses");
        assert_eq!(name, b"vm1");
        assert_eq!(requests, [INFO_BLOCK_SIZE, INFO_EXPORT]);
        for cut in 0..data.len() {
            assert!(parse_info(&data[..cut]).is_none(), "cut at {cut}");
        }
        let mut long_name = data.clone();
        long_name[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_info(&long_name).is_none());
    }
}
