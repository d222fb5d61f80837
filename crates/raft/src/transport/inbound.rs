//! The receiving side: the cluster port. Each connection's frames are dispatched to
//! the groups they name; every request runs in a task of its own, so one group that
//! is slow to answer (a big append, a snapshot being installed) never stalls the
//! others on the same connection. Snapshots arrive as chunks written straight into
//! the group's snapshot store, then installed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use okapi_storage::SnapshotStore;
use okapi_types::GroupId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::codec;
use crate::state_machine::SnapshotHandle;
use crate::transport::frame::{self, Frame, Message, PREAMBLE_LEN};
use crate::types::{Raft, TypeConfig, Vote};
use openraft::raft::AppendEntriesRequest;

/// Replies queued for one connection.
const REPLY_QUEUE: usize = 4096;
/// Longest a snapshot transfer may stay idle between chunks.
const SNAPSHOT_IDLE: Duration = Duration::from_secs(30);

/// A group this node serves to its peers.
#[derive(Clone)]
pub struct Registered {
    /// The group's Raft instance.
    pub raft: Raft,
    /// Where its snapshots are written.
    pub snapshots: Arc<SnapshotStore>,
    /// When a peer last sent the group a request, in ms since [`epoch`].
    heard: Arc<AtomicU64>,
}

impl Registered {
    /// `raft`, served to peers, writing received snapshots to `snapshots`.
    pub fn new(raft: Raft, snapshots: Arc<SnapshotStore>) -> Self {
        Self {
            raft,
            snapshots,
            heard: Arc::new(AtomicU64::new(since_epoch())),
        }
    }
}

/// The instant `heard` times count from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch() -> u64 {
    epoch().elapsed().as_millis() as u64
}

/// The groups this node runs, by id, for the cluster port to dispatch to.
pub struct Inbound {
    node: u64,
    groups: RwLock<HashMap<GroupId, Registered>>,
}

impl Inbound {
    /// The registry of node `node`.
    pub fn new(node: u64) -> Arc<Self> {
        Arc::new(Self {
            node,
            groups: RwLock::new(HashMap::new()),
        })
    }

    /// Serves `group` to peers from now on.
    pub fn register(&self, group: GroupId, registered: Registered) {
        self.groups
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(group, registered);
    }

    /// Stops serving `group`.
    pub fn unregister(&self, group: GroupId) {
        self.groups
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&group);
    }

    /// The group a request names; the request counts as hearing from a peer.
    fn get(&self, group: GroupId) -> Option<Registered> {
        let registered = self
            .groups
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&group)
            .cloned()?;
        registered.heard.store(since_epoch(), Ordering::Relaxed);
        Some(registered)
    }

    /// How long since a peer last sent `group` a request (or since it was
    /// registered); `None` when it is not served here.
    pub fn silent_for(&self, group: GroupId) -> Option<Duration> {
        let groups = self.groups.read().unwrap_or_else(PoisonError::into_inner);
        let heard = groups.get(&group)?.heard.load(Ordering::Relaxed);
        Some(Duration::from_millis(since_epoch().saturating_sub(heard)))
    }
}

/// Accepts peer connections on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    inbound: Arc<Inbound>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let inbound = inbound.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, inbound, shutdown).await {
                        tracing::debug!(%peer, error = %e, "cluster connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster port: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// A snapshot being received: its chunks go to a writer on a thread of its own.
struct Receiving {
    chunks: mpsc::Sender<Option<Bytes>>,
    done: tokio::sync::oneshot::Receiver<Result<SnapshotHandle, String>>,
    vote: Vote,
    meta: crate::types::SnapshotMeta,
}

async fn connection(
    mut stream: TcpStream,
    inbound: Arc<Inbound>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let mut preamble = [0u8; PREAMBLE_LEN];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut preamble))
        .await
        .map_err(|_| "no preamble".to_owned())?
        .map_err(|e| e.to_string())?;
    let peer = frame::parse_preamble(&preamble).map_err(|e| e.to_string())?;
    stream
        .write_all(&frame::preamble(inbound.node))
        .await
        .map_err(|e| e.to_string())?;
    let (read, mut write) = stream.into_split();
    // Buffered: a frame's length and body, and the frames after it, in one read.
    let mut read = tokio::io::BufReader::with_capacity(frame::READ_BUFFER, read);
    let (replies, mut outgoing) = mpsc::channel::<Bytes>(REPLY_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(first) = outgoing.recv().await {
            let mut buf = first.to_vec();
            while let Ok(next) = outgoing.try_recv() {
                buf.extend_from_slice(&next);
                if buf.len() > (1 << 20) {
                    break;
                }
            }
            if write.write_all(&buf).await.is_err() {
                return;
            }
        }
    });
    let mut receiving: HashMap<u64, Receiving> = HashMap::new();
    let mut streams = Streams::default();
    let mut len = [0u8; 4];
    let result = loop {
        tokio::select! {
            read_len = read.read_exact(&mut len) => {
                if let Err(e) = read_len {
                    break Err(e.to_string());
                }
            }
            _ = shutdown.changed() => break Ok(()),
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > frame::MAX_FRAME {
            break Err(format!("frame of {len} bytes from {peer:016x}"));
        }
        let mut body = vec![0u8; len];
        if let Err(e) = read.read_exact(&mut body).await {
            break Err(e.to_string());
        }
        let frame = match Frame::decode(Bytes::from(body)) {
            Ok(frame) => frame,
            Err(e) => break Err(format!("undecodable frame from {peer:016x}: {e}")),
        };
        dispatch(frame, &inbound, &replies, &mut receiving, &mut streams).await;
    };
    drop(streams);
    drop(receiving);
    drop(replies);
    let _ = writer.await;
    result
}

/// Sends `message` as the reply to request `id` of `group`, from a task of its own
/// (the connection's reader never waits for the reply queue).
fn reply(replies: &mpsc::Sender<Bytes>, id: u64, group: GroupId, message: Message) {
    answer(replies, id, group, async move { message });
}

/// Runs `work` in a task of its own and sends what it returns as the reply to
/// request `id` of `group`: one group that is slow to answer never holds up another.
fn answer(
    replies: &mpsc::Sender<Bytes>,
    id: u64,
    group: GroupId,
    work: impl Future<Output = Message> + Send + 'static,
) {
    let replies = replies.clone();
    tokio::spawn(async move {
        let message = work.await;
        let _ = replies.send(Frame { id, group, message }.encode()).await;
    });
}

fn failed(e: &dyn std::fmt::Display) -> Message {
    Message::Failed(e.to_string())
}

/// The append streams open on one connection, by stream id: each feeds its group's
/// `Raft::stream_append`, which appends them in order with several in flight.
/// Ordered by id: a peer numbers its streams in the order it opens them, so the
/// first is the oldest, the one to close past [`MAX_STREAMS`].
#[derive(Default)]
struct Streams {
    open: std::collections::BTreeMap<u64, mpsc::Sender<AppendEntriesRequest<TypeConfig>>>,
}

/// Append streams one connection may hold open: a leader keeps one per group it
/// leads here, and one more for each heartbeat in flight. Past it the oldest closes
/// (its leader sees the stream end and opens another).
const MAX_STREAMS: usize = 4096;
/// Requests of one stream queued before its group takes them. The sender keeps
/// fewer than this in flight, so a full queue means a misbehaving peer.
const STREAM_QUEUE: usize = 64;

impl Streams {
    /// Passes `rpc` to stream `id` of `group`, opening it first if it is new.
    fn feed(
        &mut self,
        id: u64,
        group: GroupId,
        raft: &Raft,
        rpc: AppendEntriesRequest<TypeConfig>,
        replies: &mpsc::Sender<Bytes>,
    ) {
        if !self.open.contains_key(&id) {
            while self.open.len() >= MAX_STREAMS {
                self.open.pop_first();
            }
            self.open
                .insert(id, open_stream(id, group, raft.clone(), replies.clone()));
        }
        let full = self
            .open
            .get(&id)
            .is_some_and(|stream| stream.try_send(rpc).is_err());
        if full {
            // Closing the stream ends it; the leader sees the failure and opens another.
            self.end(id);
            reply(
                replies,
                id,
                group,
                Message::Failed("append stream overflow".into()),
            );
        }
    }

    fn end(&mut self, id: u64) {
        self.open.remove(&id);
    }
}

/// Starts append stream `id` of `group`: what is sent to the returned channel goes
/// through `raft.stream_append`, and each outcome goes back, in order, as a
/// [`Message::StreamReply`] of the same id. The first error ends the stream.
fn open_stream(
    id: u64,
    group: GroupId,
    raft: Raft,
    replies: mpsc::Sender<Bytes>,
) -> mpsc::Sender<AppendEntriesRequest<TypeConfig>> {
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    let input =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|rpc| (rpc, rx)) },
        );
    tokio::spawn(async move {
        let outcomes = raft.stream_append(input);
        let mut outcomes = std::pin::pin!(outcomes);
        while let Some(outcome) = futures_util::StreamExt::next(&mut outcomes).await {
            let (message, last) = match outcome {
                Ok(result) => {
                    let last = result.is_err();
                    (Message::StreamReply(result), last)
                }
                Err(fatal) => (failed(&fatal), true),
            };
            if replies
                .send(Frame { id, group, message }.encode())
                .await
                .is_err()
                || last
            {
                break;
            }
        }
    });
    tx
}

/// Handles one frame. Everything but snapshot chunks and stream requests runs in a
/// task of its own; chunks are handed to their transfer's writer in order, waiting
/// when it is behind (only this connection's reading waits), and stream requests to
/// their stream in order.
async fn dispatch(
    frame: Frame,
    inbound: &Inbound,
    replies: &mpsc::Sender<Bytes>,
    receiving: &mut HashMap<u64, Receiving>,
    streams: &mut Streams,
) {
    let Frame { id, group, message } = frame;
    if let Message::StreamEnd = message {
        streams.end(id);
        return;
    }
    let Some(registered) = inbound.get(group) else {
        if !matches!(
            message,
            Message::SnapshotChunk { .. } | Message::SnapshotEnd
        ) {
            reply(
                replies,
                id,
                group,
                Message::Failed(format!("group {group} does not run on this node")),
            );
        }
        return;
    };
    let raft = registered.raft.clone();
    match message {
        Message::Append(rpc) => answer(replies, id, group, async move {
            raft.append_entries(rpc)
                .await
                .map_or_else(|e| failed(&e), Message::AppendReply)
        }),
        Message::AppendStream(rpc) => streams.feed(id, group, &raft, rpc, replies),
        Message::Vote(rpc) => answer(replies, id, group, async move {
            raft.vote(rpc)
                .await
                .map_or_else(|e| failed(&e), Message::VoteReply)
        }),
        Message::PreVote(rpc) => answer(replies, id, group, async move {
            raft.pre_vote(rpc)
                .await
                .map_or_else(|e| failed(&e), Message::VoteReply)
        }),
        Message::TransferLeader(rpc) => answer(replies, id, group, async move {
            raft.handle_transfer_leader(rpc)
                .await
                .map_or_else(|e| failed(&e), Message::TransferReply)
        }),
        Message::SnapshotBegin { vote, index, meta } => {
            match begin_snapshot(group, index, meta, &registered) {
                Ok((chunks, done, file_meta)) => {
                    receiving.insert(
                        id,
                        Receiving {
                            chunks,
                            done,
                            vote,
                            meta: file_meta,
                        },
                    );
                }
                Err(e) => reply(replies, id, group, Message::Failed(e)),
            }
        }
        Message::SnapshotChunk { crc, data } => {
            let Some(state) = receiving.get(&id) else {
                return;
            };
            let refused = if crc32c::crc32c(&data) != crc {
                Some("snapshot chunk failed its checksum")
            } else if state.chunks.send(Some(data)).await.is_err() {
                Some("the snapshot writer stopped")
            } else {
                None
            };
            if let Some(reason) = refused {
                receiving.remove(&id);
                reply(replies, id, group, Message::Failed(reason.into()));
            }
        }
        Message::SnapshotEnd => {
            let Some(state) = receiving.remove(&id) else {
                reply(
                    replies,
                    id,
                    group,
                    Message::Failed("snapshot end without a beginning".into()),
                );
                return;
            };
            answer(replies, id, group, async move {
                let Receiving {
                    chunks,
                    done,
                    vote,
                    meta,
                } = state;
                // The end marker: a transfer cut short (channel closed without it) is
                // abandoned, never finished as if complete.
                let _ = chunks.send(None).await;
                match done.await {
                    Ok(Ok(handle)) => {
                        let snapshot = openraft::alias::SnapshotOf::<
                            crate::types::TypeConfig,
                            SnapshotHandle,
                        > {
                            meta,
                            snapshot: handle,
                        };
                        raft.install_full_snapshot(vote, snapshot)
                            .await
                            .map_or_else(|e| failed(&e), Message::SnapshotReply)
                    }
                    Ok(Err(e)) => Message::Failed(e),
                    Err(_) => Message::Failed("the snapshot writer stopped".into()),
                }
            });
        }
        Message::AppendReply(_)
        | Message::VoteReply(_)
        | Message::SnapshotReply(_)
        | Message::TransferReply(_)
        | Message::StreamReply(_)
        | Message::StreamEnd
        | Message::Failed(_) => {
            tracing::debug!(%group, "a reply arrived on the cluster port; ignored");
        }
    }
}

type SnapshotStart = (
    mpsc::Sender<Option<Bytes>>,
    tokio::sync::oneshot::Receiver<Result<SnapshotHandle, String>>,
    crate::types::SnapshotMeta,
);

/// Starts writing a received snapshot into the group's store on a thread of its
/// own (creating the file included: no file I/O on the event loop); chunks arrive
/// through the returned channel and `None` ends them. The file is abandoned if the
/// channel closes before the end or no chunk comes for [`SNAPSHOT_IDLE`].
fn begin_snapshot(
    group: GroupId,
    index: u64,
    meta: Bytes,
    registered: &Registered,
) -> Result<SnapshotStart, String> {
    let file = codec::decode_file_meta(&meta).map_err(|e| e.to_string())?;
    let store = registered.snapshots.clone();
    let (chunks, mut incoming) = mpsc::channel::<Option<Bytes>>(16);
    let (done, finished) = tokio::sync::oneshot::channel();
    // The writer thread waits for chunks with the runtime's timer.
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("okapi-snap-recv".into())
        .spawn(move || {
            let result = (|| {
                let mut writer = store
                    .create(group, index, &meta)
                    .map_err(|e| e.to_string())?;
                loop {
                    // Built inside block_on: a timer needs the runtime's context.
                    let next = runtime.block_on(async {
                        tokio::time::timeout(SNAPSHOT_IDLE, incoming.recv()).await
                    });
                    match next {
                        Ok(Some(Some(chunk))) => {
                            writer.write_chunk(&chunk).map_err(|e| e.to_string())?;
                        }
                        Ok(Some(None)) => break,
                        Ok(None) => return Err("the snapshot transfer was cut off".into()),
                        Err(_) => {
                            return Err(format!(
                                "no snapshot chunk for {}s: transfer abandoned",
                                SNAPSHOT_IDLE.as_secs()
                            ));
                        }
                    }
                }
                let info = writer.finish().map_err(|e| e.to_string())?;
                Ok(SnapshotHandle {
                    group,
                    index,
                    path: info.path,
                })
            })();
            let _ = done.send(result);
        })
        .map_err(|e| e.to_string())?;
    Ok((chunks, finished, file.meta))
}
