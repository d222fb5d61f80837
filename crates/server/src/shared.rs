//! State shared by every connection of a node.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use tokio::sync::watch;

use crate::clients::ClientRegistry;
use crate::pubsub::PubSub;
use crate::settings::Settings;
pub use crate::shard::Core;
use crate::shard::{Layout, Shards};
use crate::stats::Stats;

/// Reports memory use: bytes allocated by the process (0 if unknown).
pub type MemoryProbe = fn() -> u64;

/// Everything connections share.
pub struct Shared {
    /// The data: one shard per shard group this node holds, each with its log.
    pub shards: Shards,
    /// Runtime settings.
    pub settings: RwLock<Settings>,
    /// Connected clients.
    pub clients: ClientRegistry,
    /// Pub/sub hub.
    pub pubsub: PubSub,
    /// Counters.
    pub stats: Stats,
    /// Allocator statistics.
    pub memory: MemoryProbe,
    /// Peak of `memory`.
    pub memory_peak: std::sync::atomic::AtomicU64,
    /// Process start.
    pub started: Instant,
    /// Process start, Unix ms.
    pub started_ms: u64,
    /// Random id of this server run.
    pub run_id: String,
    /// Bound RESP TCP port (after listening).
    pub tcp_port: std::sync::atomic::AtomicU32,
    /// Set to true to stop the server.
    pub shutdown: watch::Sender<bool>,
    /// Path of the config file, if any.
    pub config_file: Option<String>,
    /// Persistence controls, when the log is durable.
    pub durability: std::sync::OnceLock<std::sync::Arc<dyn crate::durability::Durability>>,
    /// The process's log (level, dropped lines), when the host installed one.
    pub logging: std::sync::OnceLock<std::sync::Arc<dyn crate::logging::Logging>>,
    /// Whether the dataset is still loading, and how far it got.
    pub loading: crate::loading::Loading,
    /// The node's cluster side, on a node started with `cluster-enabled`.
    pub cluster: std::sync::OnceLock<std::sync::Arc<dyn crate::cluster::ClusterControl>>,
    /// Set by `SHUTDOWN NOSAVE`: stop without the shutdown snapshot.
    pub skip_shutdown_snapshot: std::sync::atomic::AtomicBool,
    /// CLIENT PAUSE.
    pub pause: crate::pause::ClientPause,
    /// SLOWLOG.
    pub slowlog: crate::slowlog::SlowLog,
    /// Scripts by SHA1 (SCRIPT LOAD, EVAL), for EVALSHA.
    pub scripts: okapi_scripting::ScriptCache,
    /// Keyspace notifications: what applied entries announce.
    pub notify: crate::notify::KeyspaceNotify,
    /// Client-side caching (CLIENT TRACKING).
    pub tracking: crate::tracking::Tracking,
    /// INFO commandstats and errorstats.
    pub command_stats: crate::command_stats::CommandStats,
    /// The latency monitor (LATENCY).
    pub latency: crate::latency::LatencyMonitor,
    /// Names this process in the entries its clients write (`okapi_types::Writer`):
    /// random, so no other node and no later run of this one takes them for its own.
    pub process_token: u64,
}

impl Shared {
    /// Shared state over the shards of `layout`.
    pub fn new(
        layout: Layout,
        settings: Settings,
        memory: MemoryProbe,
        config_file: Option<String>,
    ) -> Arc<Self> {
        let (shutdown, _) = watch::channel(false);
        let notify = crate::notify::KeyspaceNotify::new(settings.notify_keyspace_events);
        Arc::new(Self {
            shards: Shards::new(layout),
            settings: RwLock::new(settings),
            clients: ClientRegistry::default(),
            pubsub: PubSub::default(),
            stats: Stats::default(),
            memory,
            memory_peak: std::sync::atomic::AtomicU64::new(0),
            started: Instant::now(),
            started_ms: crate::clock::now_ms(),
            run_id: random_hex(40),
            tcp_port: std::sync::atomic::AtomicU32::new(0),
            shutdown,
            config_file,
            durability: std::sync::OnceLock::new(),
            logging: std::sync::OnceLock::new(),
            loading: crate::loading::Loading::default(),
            cluster: std::sync::OnceLock::new(),
            skip_shutdown_snapshot: std::sync::atomic::AtomicBool::new(false),
            pause: crate::pause::ClientPause::default(),
            slowlog: crate::slowlog::SlowLog::default(),
            scripts: okapi_scripting::ScriptCache::default(),
            notify,
            tracking: crate::tracking::Tracking::default(),
            command_stats: crate::command_stats::CommandStats::default(),
            latency: crate::latency::LatencyMonitor::default(),
            process_token: random_u64() | 1,
        })
    }

    /// The keyspace event classes applied entries must raise: what notifications
    /// announce, and every change while a client tracks keys.
    pub fn raised_events(&self) -> okapi_engine::notify::EventClass {
        let mut raised = self.notify.raised();
        if self.tracking.active() {
            raised |= okapi_engine::notify::EventClass::ALL;
        }
        raised
    }

    /// Publishes what an applied entry raised, part by part with the part's writer:
    /// keyspace notifications and client-side caching invalidations (`flushed`: a
    /// FLUSHDB/FLUSHALL applied).
    pub fn announce(
        &self,
        changes: &[(okapi_types::Writer, Vec<okapi_engine::notify::KeyEvent>)],
        flushed: bool,
    ) {
        for (_, events) in changes {
            self.notify.publish(&self.pubsub, events);
        }
        self.tracking.invalidate(changes, self.process_token);
        if flushed {
            self.tracking.flush();
        }
    }

    /// A copy of the settings.
    pub fn settings(&self) -> std::sync::RwLockReadGuard<'_, Settings> {
        self.settings.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Mutable settings.
    pub fn settings_mut(&self) -> std::sync::RwLockWriteGuard<'_, Settings> {
        self.settings
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks every task of the server to stop: listeners and background tasks watch
    /// `shutdown`; connections are killed.
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
        for client in self.clients.all() {
            client.kill();
        }
    }

    /// Process start, Unix ms.
    pub fn started_unix_ms(&self) -> u64 {
        self.started_ms
    }

    /// Memory used now, updating the peak.
    pub fn used_memory(&self) -> u64 {
        let used = (self.memory)();
        self.memory_peak
            .fetch_max(used, std::sync::atomic::Ordering::Relaxed);
        used
    }
}

/// Random lowercase hex, from the OS-seeded std hasher (no extra dependency).
pub fn random_hex(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        out.push_str(&format!("{:016x}", random_u64()));
    }
    out.truncate(len);
    out
}

/// 64 random bits from the OS-seeded std hasher.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}
