//! okapi's NBD export: every block is a network block device whose export name is
//! its key (namespace 0), so `qemu-img`, `qemu-nbd` and the Linux NBD client can use
//! an okapi block as a disk.
//!
//! Speaks newstyle fixed negotiation (`NBD_OPT_GO`, `NBD_OPT_INFO`,
//! `NBD_OPT_EXPORT_NAME`, `NBD_OPT_ABORT`, `NBD_OPT_LIST`) and simple replies, with
//! READ, WRITE (and FUA), FLUSH, TRIM, WRITE_ZEROES and CACHE. Requests are read in a
//! loop and answered as they complete, in any order, as the protocol allows: writes are
//! appended to the log in request order and their commits awaited concurrently, so a
//! client with many requests in flight shares log entries and fsyncs. Reads are served
//! from memory with the block's pages attached to the reply (no copy). FLUSH (and FUA)
//! return once every acknowledged write is as durable as `appendfsync` promises.
//!
//! Layout: [`proto`] — constants and headers; `negotiate` — the handshake;
//! `transmit` — the request loop.

mod negotiate;
pub mod proto;
mod transmit;

use okapi_server::Service;
use tokio::net::TcpListener;

/// Serves NBD clients on `listener` until the node shuts down; each connection runs
/// on its own task and ends with the node.
pub async fn serve(listener: TcpListener, service: Service) {
    let shutdown = service.clone();
    tokio::select! {
        _ = shutdown.shutdown() => {}
        _ = accept_loop(listener, service) => {}
    }
}

async fn accept_loop(listener: TcpListener, service: Service) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "NBD accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if service.protected_mode_refuses(peer.ip()) {
            // NBD has no error to send before negotiation: the connection just closes.
            tracing::warn!(%peer, "NBD client from another host refused: protected mode");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let stop = service.clone();
            tokio::select! {
                _ = stop.shutdown() => {}
                result = serve_client(stream, service) => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "NBD connection ended");
                    }
                }
            }
        });
    }
}

async fn serve_client(mut stream: tokio::net::TcpStream, service: Service) -> std::io::Result<()> {
    let Some(export) = negotiate::negotiate(&mut stream, &service).await? else {
        return Ok(());
    };
    tracing::debug!(key = ?export.key, size = export.size, "NBD export opened");
    transmit::transmit(stream, service, export).await
}

/// The export a client chose: a block and its length when it was opened.
#[derive(Debug, Clone)]
pub(crate) struct Export {
    key: bytes::Bytes,
    size: u64,
}
