//! The sending side: one connection per peer node, shared by every group. Requests
//! from all groups are written as they come (several in flight at once, paired with
//! their replies by request id), so a slow group's RPC never holds up another's.
//! A broken connection fails what was in flight and is re-opened on the next request,
//! no sooner than a backoff after the last failure; queues are bounded.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use crate::transport::frame::{self, Frame, Message, PREAMBLE_LEN};

/// Frames queued for one peer before senders are told it is unreachable.
const QUEUE: usize = 4096;
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Backoff after a failed connection: doubles up to the maximum.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Why a request got no reply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LinkError {
    /// No connection to the peer (refused, reset, backing off, queue full).
    #[error("peer {target} at {addr} is unreachable: {reason}")]
    Unreachable {
        /// The peer's node id.
        target: u64,
        /// Its cluster address.
        addr: String,
        /// What happened.
        reason: String,
    },
}

/// Where the replies to a request id go.
enum Waiter {
    /// The one reply: the peer's message, or why the request never left.
    Once(oneshot::Sender<Result<Message, String>>),
    /// Every reply of an append stream, in order. Dropped (so the receiver sees the
    /// stream end) when the connection breaks or the receiver falls behind.
    Stream(mpsc::Sender<Message>),
}

impl Waiter {
    fn is_closed(&self) -> bool {
        match self {
            Waiter::Once(tx) => tx.is_closed(),
            Waiter::Stream(tx) => tx.is_closed(),
        }
    }
}

/// One queued write: frames, and where the replies to `id` go (none for the frames of
/// a snapshot before its end, nor for the later requests of a stream).
struct Outgoing {
    frames: Vec<Bytes>,
    id: u64,
    reply: Option<Waiter>,
}

/// The connections of this node to its peers.
pub struct Peers {
    node: u64,
    local_ip: Option<IpAddr>,
    next_id: AtomicU64,
    links: Mutex<HashMap<u64, Link>>,
}

#[derive(Clone)]
struct Link {
    addr: String,
    tx: mpsc::Sender<Outgoing>,
}

impl Peers {
    /// Connections from node `node`; outgoing connections originate from `local_ip`
    /// when given (the node's own address, so peers and firewalls see who it is).
    pub fn new(node: u64, local_ip: Option<IpAddr>) -> Arc<Self> {
        Arc::new(Self {
            node,
            local_ip,
            next_id: AtomicU64::new(1),
            links: Mutex::new(HashMap::new()),
        })
    }

    /// A fresh request id.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn link(&self, target: u64, addr: &str) -> Link {
        let mut links = self.links.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(link) = links.get(&target)
            && link.addr == addr
            && !link.tx.is_closed()
        {
            return link.clone();
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let link = Link {
            addr: addr.to_owned(),
            tx,
        };
        tokio::spawn(run_link(
            self.node,
            target,
            addr.to_owned(),
            self.local_ip,
            rx,
        ));
        links.insert(target, link.clone());
        link
    }

    /// Sends `frame` to `target` at `addr` and waits for its reply.
    pub async fn request(
        &self,
        target: u64,
        addr: &str,
        frame: Frame,
    ) -> Result<Message, LinkError> {
        let (tx, rx) = oneshot::channel();
        let id = frame.id;
        self.enqueue(
            target,
            addr,
            vec![frame.encode()],
            id,
            Some(Waiter::Once(tx)),
        )
        .await?;
        match rx.await {
            Ok(Ok(message)) => Ok(message),
            Ok(Err(reason)) => Err(unreachable(target, addr, reason)),
            Err(_) => Err(unreachable(
                target,
                addr,
                "the connection closed before the reply",
            )),
        }
    }

    /// Queues frames of a stream (a snapshot) without waiting for a reply; waits for
    /// queue space, so a large transfer follows the connection's pace.
    pub async fn stream(
        &self,
        target: u64,
        addr: &str,
        frames: Vec<Bytes>,
        id: u64,
    ) -> Result<(), LinkError> {
        self.enqueue(target, addr, frames, id, None).await
    }

    /// Sends `frame`, one request of the append stream `frame.id`, without waiting:
    /// its reply, like every reply of the stream, goes to the `replies` given with the
    /// stream's first request. Never waits for queue space (a full queue means the peer
    /// is not keeping up: it is reported unreachable).
    pub fn send_streamed(
        &self,
        target: u64,
        addr: &str,
        frame: Frame,
        replies: Option<mpsc::Sender<Message>>,
    ) -> Result<(), LinkError> {
        let link = self.link(target, addr);
        let outgoing = Outgoing {
            id: frame.id,
            frames: vec![frame.encode()],
            reply: replies.map(Waiter::Stream),
        };
        link.tx
            .try_send(outgoing)
            .map_err(|_| unreachable(target, addr, "its send queue is full"))
    }

    async fn enqueue(
        &self,
        target: u64,
        addr: &str,
        frames: Vec<Bytes>,
        id: u64,
        reply: Option<Waiter>,
    ) -> Result<(), LinkError> {
        let link = self.link(target, addr);
        let outgoing = Outgoing { frames, id, reply };
        if outgoing.reply.is_some() {
            // RPCs never wait for queue space: a full queue means the peer is not
            // keeping up, and openraft backs off on Unreachable.
            return link
                .tx
                .try_send(outgoing)
                .map_err(|_| unreachable(target, addr, "its send queue is full"));
        }
        link.tx
            .send(outgoing)
            .await
            .map_err(|_| unreachable(target, addr, "its link stopped"))
    }
}

fn unreachable(target: u64, addr: &str, reason: impl Into<String>) -> LinkError {
    LinkError::Unreachable {
        target,
        addr: addr.to_owned(),
        reason: reason.into(),
    }
}

/// Tells the sender of `outgoing` (if it waits) why it was not sent.
fn refuse(outgoing: Outgoing, reason: &str) {
    if let Some(Waiter::Once(waiter)) = outgoing.reply {
        let _ = waiter.send(Err(reason.to_owned()));
    }
}

/// Replies expected on one connection.
type Pending = Arc<Mutex<HashMap<u64, Waiter>>>;

/// Opens a connection to `addr` from `local_ip` and exchanges preambles; checks the
/// peer is node `target`.
async fn connect(
    node: u64,
    target: u64,
    addr: &str,
    local_ip: Option<IpAddr>,
) -> Result<TcpStream, String> {
    let remote: SocketAddr = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("cannot resolve: {e}"))?
        .next()
        .ok_or("resolves to no address")?;
    let socket = if remote.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    if let Some(ip) = local_ip.filter(|ip| ip.is_ipv4() == remote.is_ipv4()) {
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("cannot bind {ip}: {e}"))?;
    }
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(remote))
        .await
        .map_err(|_| "connection timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    stream
        .write_all(&frame::preamble(node))
        .await
        .map_err(|e| e.to_string())?;
    let mut preamble = [0u8; PREAMBLE_LEN];
    tokio::time::timeout(CONNECT_TIMEOUT, stream.read_exact(&mut preamble))
        .await
        .map_err(|_| "no preamble from the peer".to_owned())?
        .map_err(|e| e.to_string())?;
    let peer = frame::parse_preamble(&preamble).map_err(|e| e.to_string())?;
    if peer != target {
        return Err(format!(
            "the address belongs to node {peer:016x}, not {target:016x}"
        ));
    }
    Ok(stream)
}

/// Owns the connection to one peer: connects on demand, writes queued frames, and
/// fails everything in flight when the connection breaks.
async fn run_link(
    node: u64,
    target: u64,
    addr: String,
    local_ip: Option<IpAddr>,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    // Each connection has its own replies in flight: a broken one fails only its own.
    let mut conn: Option<(OwnedWriteHalf, Arc<AtomicBool>, Pending)> = None;
    let mut backoff = BACKOFF_MIN;
    let mut retry_at: Option<Instant> = None;
    // Reported once per outage, not per attempt; the reason goes to every request
    // refused meanwhile.
    let mut down: Option<String> = None;
    while let Some(first) = rx.recv().await {
        if conn
            .as_ref()
            .is_some_and(|(_, alive, _)| !alive.load(Ordering::Acquire))
        {
            conn = None;
        }
        if conn.is_none() {
            if retry_at.is_some_and(|at| Instant::now() < at) {
                // Backing off: fail fast rather than queue behind a dead peer.
                refuse(first, down.as_deref().unwrap_or("backing off"));
                continue;
            }
            match connect(node, target, &addr, local_ip).await {
                Ok(stream) => {
                    let (read, write) = stream.into_split();
                    let alive = Arc::new(AtomicBool::new(true));
                    let pending: Pending = Arc::default();
                    tokio::spawn(read_replies(read, pending.clone(), alive.clone()));
                    conn = Some((write, alive, pending));
                    backoff = BACKOFF_MIN;
                    retry_at = None;
                    if down.take().is_some() {
                        tracing::info!(peer = %format!("{target:016x}"), %addr, "peer reachable again");
                    }
                }
                Err(reason) => {
                    if down.is_none() {
                        tracing::warn!(peer = %format!("{target:016x}"), %addr, %reason, "cannot reach peer; retrying with backoff");
                    }
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    refuse(first, &reason);
                    down = Some(reason);
                    continue;
                }
            }
        }
        let Some((write, _, pending)) = conn.as_mut() else {
            continue;
        };
        // Everything queued leaves in one write.
        let mut buf = BytesMut::new();
        let mut batch = vec![first];
        while buf.len() < (1 << 20) {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
            if batch.len() >= 256 {
                break;
            }
        }
        {
            let mut waiting = pending.lock().unwrap_or_else(PoisonError::into_inner);
            if waiting.len() > 1024 {
                // Callers that timed out (a paused peer) stop waiting; forget them.
                waiting.retain(|_, w| !w.is_closed());
            }
            for outgoing in &mut batch {
                if let Some(reply) = outgoing.reply.take() {
                    waiting.insert(outgoing.id, reply);
                }
            }
        }
        for outgoing in batch {
            for frame in outgoing.frames {
                buf.extend_from_slice(&frame);
            }
        }
        if let Err(e) = write.write_all(&buf).await {
            tracing::debug!(peer = %format!("{target:016x}"), %addr, error = %e, "peer connection broke");
            // Replies that will never come: their callers see the peer unreachable.
            pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            conn = None;
            retry_at = Some(Instant::now() + backoff);
        }
    }
}

/// Reads replies and hands each to its waiter, until the connection ends.
async fn read_replies(read: OwnedReadHalf, pending: Pending, alive: Arc<AtomicBool>) {
    // Buffered: a frame's length and body, and the frames after it, in one read.
    let mut read = tokio::io::BufReader::with_capacity(frame::READ_BUFFER, read);
    let mut len = [0u8; 4];
    loop {
        if read.read_exact(&mut len).await.is_err() {
            break;
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > frame::MAX_FRAME {
            tracing::warn!(len, "peer sent an oversized frame; closing the connection");
            break;
        }
        let mut body = vec![0u8; len];
        if read.read_exact(&mut body).await.is_err() {
            break;
        }
        let frame = match Frame::decode(Bytes::from(body)) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(error = %e, "undecodable reply from a peer; closing the connection");
                break;
            }
        };
        let mut waiting = pending.lock().unwrap_or_else(PoisonError::into_inner);
        match waiting.get(&frame.id) {
            Some(Waiter::Once(_)) => {
                if let Some(Waiter::Once(waiter)) = waiting.remove(&frame.id) {
                    let _ = waiter.send(Ok(frame.message));
                }
            }
            // A stream's receiver that is gone or behind loses the stream: it sees
            // the end and starts another.
            Some(Waiter::Stream(replies)) if replies.try_send(frame.message).is_err() => {
                waiting.remove(&frame.id);
            }
            Some(Waiter::Stream(_)) | None => {}
        }
    }
    pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    alive.store(false, Ordering::Release);
}
