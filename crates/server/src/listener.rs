//! RESP listeners (TCP and Unix socket), connection admission (maxclients), and the
//! server's lifetime.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::runtime::Handle;

use crate::connection::Connection;
use crate::error::ServerError;
use crate::shared::Shared;
use crate::stats::Stats;

/// A running RESP server.
pub struct ServerHandle {
    /// Bound TCP addresses.
    pub tcp: Vec<SocketAddr>,
    /// Unix socket path, if listening on one.
    pub unix: Option<PathBuf>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ServerHandle {
    /// Waits until every listener and background task has stopped (after shutdown).
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(path) = &self.unix {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds the configured listeners and starts accepting clients and running background
/// tasks. Returns once listening.
///
/// `runtimes` are the event loops to serve clients on (one per core, typically): each
/// gets its own listening socket on the shared port (SO_REUSEPORT), so the kernel
/// spreads connections and a connection stays on one thread for its whole life.
pub async fn start(shared: Arc<Shared>, runtimes: &[Handle]) -> Result<ServerHandle, ServerError> {
    let (binds, port, unixsocket, perm) = {
        let s = shared.settings();
        (
            s.bind.clone(),
            s.port,
            s.unixsocket.clone(),
            s.unixsocketperm,
        )
    };
    let current = Handle::current();
    let runtimes: Vec<Handle> = if runtimes.is_empty() {
        vec![current.clone()]
    } else {
        runtimes.to_vec()
    };
    let mut tasks = Vec::new();
    let mut tcp = Vec::new();
    let mut port = port;
    for host in &binds {
        let addr: SocketAddr = format!("{}:{port}", bracket_v6(host))
            .parse()
            .map_err(|_| ServerError::BadAddress(host.clone()))?;
        let mut local = None;
        for runtime in &runtimes {
            let addr = SocketAddr::new(addr.ip(), local.map_or(port, |l: SocketAddr| l.port()));
            let listener = bind_tcp(addr, runtimes.len() > 1)?;
            let bound = listener
                .local_addr()
                .map_err(|e| ServerError::Bind(addr.to_string(), e))?;
            local.get_or_insert(bound);
            tasks.push(runtime.spawn(accept_tcp(listener, shared.clone())));
        }
        if let Some(local) = local {
            // With port 0, every address listens on the port the first one got.
            port = local.port();
            tcp.push(local);
        }
    }
    if let Some(first) = tcp.first() {
        shared
            .tcp_port
            .store(u32::from(first.port()), Ordering::Relaxed);
    }
    let unix = match unixsocket {
        Some(path) => {
            let _ = std::fs::remove_file(&path);
            let listener = std::os::unix::net::UnixListener::bind(&path)
                .map_err(|e| ServerError::Bind(path.display().to_string(), e))?;
            listener
                .set_nonblocking(true)
                .map_err(|e| ServerError::Bind(path.display().to_string(), e))?;
            set_mode(&path, perm).map_err(|e| ServerError::Bind(path.display().to_string(), e))?;
            tasks.push(current.spawn(accept_unix(listener, shared.clone())));
            Some(path)
        }
        None => None,
    };
    tasks.push(current.spawn(crate::background::run(shared.clone())));
    // Blocked clients are served per shard by a task the node starts with the group.
    Ok(ServerHandle { tcp, unix, tasks })
}

fn bracket_v6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// A listening std socket; registered with an event loop by the task that accepts on it.
fn bind_tcp(addr: SocketAddr, reuse_port: bool) -> Result<std::net::TcpListener, ServerError> {
    let err = |e| ServerError::Bind(addr.to_string(), e);
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    if reuse_port {
        socket.set_reuse_port(true).map_err(err)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(err)?;
    }
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(511).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    Ok(socket.into())
}

fn set_mode(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Refuses a client over `maxclients`, or from another host while protected mode is
/// on, with Redis's errors.
async fn admit<S: AsyncWriteExt + Unpin>(
    shared: &Shared,
    stream: &mut S,
    peer: Option<std::net::IpAddr>,
) -> bool {
    let (max, protected) = {
        let settings = shared.settings();
        (
            settings.maxclients,
            crate::access::protected_mode_refuses(&settings, peer),
        )
    };
    if protected {
        Stats::add(&shared.stats.rejected, 1);
        tracing::warn!(peer = ?peer, "client from another host refused: protected mode");
        let reply = format!("-{}\r\n", crate::access::PROTECTED_MODE_DENIED);
        let _ = stream.write_all(reply.as_bytes()).await;
        return false;
    }
    if shared.clients.len() >= max {
        Stats::add(&shared.stats.rejected, 1);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return false;
    }
    Stats::add(&shared.stats.connections, 1);
    true
}

/// A listener connections are accepted from (TCP or Unix socket).
trait Accept: Send + 'static {
    type Stream: AsyncRead + AsyncWrite + AsRawFd + Unpin + Send + 'static;

    /// The next connection, ready for use, and its peer address (`None`: a Unix
    /// socket).
    fn next(&self) -> impl Future<Output = io::Result<(Self::Stream, Option<SocketAddr>)>> + Send;

    /// The listening address, as CLIENT LIST shows it.
    fn local_name(&self) -> String;
}

impl Accept for TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn next(&self) -> io::Result<(Self::Stream, Option<SocketAddr>)> {
        let (stream, peer) = self.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok((stream, Some(peer)))
    }

    fn local_name(&self) -> String {
        self.local_addr().map(|a| a.to_string()).unwrap_or_default()
    }
}

impl Accept for UnixListener {
    type Stream = tokio::net::UnixStream;

    async fn next(&self) -> io::Result<(Self::Stream, Option<SocketAddr>)> {
        Ok((self.accept().await?.0, None))
    }

    fn local_name(&self) -> String {
        self.local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
            .unwrap_or_default()
    }
}

async fn accept_tcp(listener: std::net::TcpListener, shared: Arc<Shared>) {
    match TcpListener::from_std(listener) {
        Ok(listener) => accept_loop(listener, shared).await,
        Err(e) => tracing::error!(error = %e, "cannot register a listener with its event loop"),
    }
}

async fn accept_unix(listener: std::os::unix::net::UnixListener, shared: Arc<Shared>) {
    match UnixListener::from_std(listener) {
        Ok(listener) => accept_loop(listener, shared).await,
        Err(e) => tracing::error!(error = %e, "cannot register a listener with its event loop"),
    }
}

/// Accepts connections until shutdown, each served on this event loop.
async fn accept_loop(listener: impl Accept, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let laddr = listener.local_name();
    loop {
        let accepted = tokio::select! {
            accepted = listener.next() => accepted,
            _ = shutdown.changed() => return,
        };
        let (mut stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if !admit(&shared, &mut stream, peer.map(|p| p.ip())).await {
            continue;
        }
        let fd = stream.as_raw_fd();
        let peer = peer.map_or_else(|| format!("{laddr}:0"), |p| p.to_string());
        let info = shared.clients.register(peer, laddr.clone(), i64::from(fd));
        let connection = Connection::new(stream, shared.clone(), info);
        tokio::spawn(connection.run());
    }
}
