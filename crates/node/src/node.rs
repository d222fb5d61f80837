//! A running node: engine, write log, RESP server and background tasks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use okapi_engine::Engine;
use okapi_server::{LocalLog, ServerHandle, Shared};

use crate::config::Config;
use crate::error::NodeError;

/// What `--ready-file` contains.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ready {
    /// Process id.
    pub pid: u32,
    /// Bound RESP TCP port.
    pub port: u16,
    /// Every bound RESP address.
    pub addresses: Vec<String>,
    /// Unix socket path, if any.
    pub unixsocket: Option<PathBuf>,
}

/// A started node.
pub struct Node {
    shared: Arc<Shared>,
    server: ServerHandle,
}

impl Node {
    /// Starts a node: builds the engine and log, binds listeners, writes the ready
    /// file. `memory` reports allocated bytes for INFO and `maxmemory`. Clients are
    /// served on `runtimes` (the calling runtime when empty).
    pub async fn start(
        config: &Config,
        memory: okapi_server::MemoryProbe,
        config_file: Option<String>,
        runtimes: &[tokio::runtime::Handle],
    ) -> Result<Self, NodeError> {
        let settings = config.server_settings()?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| NodeError::Io(config.data_dir.display().to_string(), e))?;
        let engine = Engine::new(settings.databases, okapi_server::shared::random_u64());
        let shared = Shared::new(
            engine,
            Arc::new(LocalLog::new()),
            settings,
            memory,
            config_file,
        );
        let server = okapi_server::start(shared.clone(), runtimes).await?;
        let node = Node { shared, server };
        if let Some(path) = &config.ready_file {
            node.write_ready_file(path)?;
        }
        tracing::info!(addresses = ?node.server.tcp, unixsocket = ?node.server.unix, "okapi is ready to accept connections");
        Ok(node)
    }

    /// Bound RESP addresses.
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.server.tcp
    }

    /// Shared state (for embedding and tests).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// What the ready file says.
    pub fn ready(&self) -> Ready {
        Ready {
            pid: std::process::id(),
            port: self.server.tcp.first().map_or(0, SocketAddr::port),
            addresses: self.server.tcp.iter().map(ToString::to_string).collect(),
            unixsocket: self.server.unix.clone(),
        }
    }

    fn write_ready_file(&self, path: &std::path::Path) -> Result<(), NodeError> {
        let io = |e| NodeError::Io(path.display().to_string(), e);
        let json = serde_json::to_string(&self.ready())
            .map_err(|e| NodeError::Io(path.display().to_string(), e.into()))?;
        // Write then rename, so a watcher never reads half a file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Stops accepting clients and ends every connection.
    pub fn shutdown(&self) {
        self.shared.request_shutdown();
    }

    /// Waits until the node has stopped (after [`Node::shutdown`] or SHUTDOWN).
    pub async fn wait(self) {
        let mut stop = self.shared.shutdown.subscribe();
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        self.server.wait().await;
        // Give connection tasks a moment to flush their last replies.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while !self.shared.clients.is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tracing::info!("okapi stopped");
    }
}
