//! The registry of connected clients: what CLIENT LIST shows and CLIENT KILL targets.

use std::collections::BTreeMap;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::clock::now_ms;

/// One client, shared between its connection task and the registry.
#[derive(Debug)]
pub struct ClientInfo {
    /// Unique id (CLIENT ID).
    pub id: u64,
    /// Peer address (`ip:port` or a socket path).
    pub addr: String,
    /// Local address.
    pub laddr: String,
    /// File descriptor, when known.
    pub fd: i64,
    /// Connected at.
    pub created: Instant,
    /// Last command, Unix ms.
    pub last_active_ms: AtomicU64,
    /// Selected namespace.
    pub db: AtomicU32,
    /// Channel subscriptions.
    pub sub: AtomicUsize,
    /// Pattern subscriptions.
    pub psub: AtomicUsize,
    /// Commands queued in MULTI, or -1.
    pub multi: AtomicI64,
    /// Blocked in a blocking command.
    pub blocked: AtomicBool,
    /// Ran MONITOR (flag `O` in CLIENT LIST).
    pub monitor: AtomicBool,
    /// Protocol version (2 or 3).
    pub resp: AtomicU8,
    /// Bytes of unprocessed input.
    pub qbuf: AtomicUsize,
    /// Bytes of queued pub/sub output.
    pub pubsub_queued: Arc<AtomicUsize>,
    /// Authenticated user name.
    pub user: Mutex<String>,
    /// CLIENT SETNAME.
    pub name: Mutex<Option<Bytes>>,
    /// CLIENT SETINFO LIB-NAME.
    pub lib_name: Mutex<Option<Bytes>>,
    /// CLIENT SETINFO LIB-VER.
    pub lib_ver: Mutex<Option<Bytes>>,
    /// Last command name.
    pub last_cmd: Mutex<&'static str>,
    /// Set when the client must be disconnected.
    pub killed: AtomicBool,
    /// Wakes the connection task when killed.
    pub kill: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ClientInfo {
    /// Asks the connection to close.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    /// The client's name, if set.
    pub fn name(&self) -> Option<Bytes> {
        lock(&self.name).clone()
    }

    /// Sets the client's name (empty clears it).
    pub fn set_name(&self, name: Option<Bytes>) {
        *lock(&self.name) = name.filter(|n| !n.is_empty());
    }

    /// Sets LIB-NAME or LIB-VER.
    pub fn set_lib(&self, ver: bool, value: Bytes) {
        let slot = if ver { &self.lib_ver } else { &self.lib_name };
        *lock(slot) = Some(value);
    }

    /// Records the last command name.
    pub fn set_last_cmd(&self, name: &'static str) {
        *lock(&self.last_cmd) = name;
    }

    /// Sets the authenticated user name.
    pub fn set_user(&self, user: &str) {
        *lock(&self.user) = user.to_owned();
    }

    /// The authenticated user name.
    pub fn user(&self) -> String {
        lock(&self.user).clone()
    }

    /// True for clients in pub/sub mode.
    pub fn is_pubsub(&self) -> bool {
        self.sub.load(Ordering::Relaxed) + self.psub.load(Ordering::Relaxed) > 0
    }

    /// One line of CLIENT LIST, in Redis's format (`tracking`: the client's
    /// CLIENT TRACKING, if on).
    pub fn describe(&self, tracking: Option<&crate::tracking::TrackerView>) -> String {
        let now = now_ms();
        let opt = |m: &Mutex<Option<Bytes>>| {
            lock(m)
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let mut flags = String::new();
        if self.is_pubsub() {
            flags.push('P');
        }
        if self.multi.load(Ordering::Relaxed) >= 0 {
            flags.push('x');
        }
        if self.blocked.load(Ordering::Relaxed) {
            flags.push('b');
        }
        if self.monitor.load(Ordering::Relaxed) {
            flags.push('O');
        }
        let mut redirect = -1;
        if let Some(t) = tracking {
            redirect = t.options.redirect as i64;
            flags.push('t');
            if t.broken_redirect {
                flags.push('R');
            }
            if t.options.bcast {
                flags.push('B');
            }
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            opt(&self.name),
            self.created.elapsed().as_secs(),
            now.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)) / 1000,
            flags,
            self.db.load(Ordering::Relaxed),
            self.sub.load(Ordering::Relaxed),
            self.psub.load(Ordering::Relaxed),
            self.multi.load(Ordering::Relaxed),
            self.qbuf.load(Ordering::Relaxed),
            self.pubsub_queued.load(Ordering::Relaxed),
            lock(&self.last_cmd),
            lock(&self.user),
            redirect,
            self.resp.load(Ordering::Relaxed),
            opt(&self.lib_name),
            opt(&self.lib_ver),
        )
    }
}

/// Every connected client.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
}

impl ClientRegistry {
    /// Registers a new connection.
    pub fn register(&self, addr: String, laddr: String, fd: i64) -> Arc<ClientInfo> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let info = Arc::new(ClientInfo {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            last_active_ms: AtomicU64::new(now_ms()),
            db: AtomicU32::new(0),
            sub: AtomicUsize::new(0),
            psub: AtomicUsize::new(0),
            multi: AtomicI64::new(-1),
            blocked: AtomicBool::new(false),
            monitor: AtomicBool::new(false),
            resp: AtomicU8::new(2),
            qbuf: AtomicUsize::new(0),
            pubsub_queued: Arc::new(AtomicUsize::new(0)),
            user: Mutex::new("default".to_owned()),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            last_cmd: Mutex::new("NULL"),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
        });
        lock(&self.clients).insert(id, info.clone());
        info
    }

    /// Removes a closed connection.
    pub fn unregister(&self, id: u64) {
        lock(&self.clients).remove(&id);
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        lock(&self.clients).len()
    }

    /// True when no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of every client, by id.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        lock(&self.clients).values().cloned().collect()
    }

    /// One client by id.
    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        lock(&self.clients).get(&id).cloned()
    }
}
