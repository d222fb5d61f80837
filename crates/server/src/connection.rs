//! One client connection: reads requests (pipelined), runs them in order, writes the
//! replies with one flush per batch, and delivers pub/sub messages.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use okapi_commands::Blocking;
use okapi_engine::Reply;
use okapi_engine::rng::Rng;
use okapi_resp::{DecodeError, Limits, Output, RequestDecoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::blocking::{Wake, is_empty_reply};
use crate::clients::ClientInfo;
use crate::clock::now_ms;
use crate::log::{LogError, Pending};
use crate::pubsub::{Message, Subscriber};
use crate::session::Session;
use crate::shard::Shard;
use crate::shared::{Shared, random_u64};
use crate::stats::Stats;

/// Requests decoded and run per engine-lock hold; bounds how long one pipelining
/// client keeps others waiting.
const BATCH: usize = 512;
/// Reserve this much free space before each read.
const READ_CHUNK: usize = 16 * 1024;
/// Flush mid-batch once this much output is buffered.
const FLUSH_AT: usize = 256 * 1024;

/// What the batch loop must do next.
pub(crate) enum Step {
    /// Go on with the next request.
    Next,
    /// Flush and close the connection.
    Close,
    /// Wait for the replies of appended writes (to this shard) before going on: one
    /// reply per shape, made of the replies of as many ops as the shape says.
    AwaitWrites(
        Pending,
        Vec<ReplyShape>,
        Arc<Shard>,
        Vec<Option<crate::execute::Slow>>,
    ),
    /// Wait for a blocking command's attempt on a shard; block there if it found
    /// nothing.
    AwaitBlockAttempt(Box<Blocking>, Arc<Shard>, Pending),
    /// Wait for a keyspace-wide write appended to every shard; the reply is the first
    /// shard's (or the first error).
    AwaitEverywhere(Vec<Pending>),
    /// Wait for a transaction's replies, then merge them with the ones known already
    /// (and count each queued command's call: its commandstats slot).
    AwaitExec(Pending, Vec<Option<Reply>>, Vec<Option<usize>>),
    /// DEBUG SLEEP.
    Sleep(Duration),
    /// CLIENT PAUSE holds the next request (it went back to the batch): wait for
    /// the pause to end (`true`: a pause of writes holds it).
    Paused(bool),
    /// Wait for a reply computed elsewhere (SAVE's snapshot, a cluster map change).
    AwaitReply(crate::durability::BoxFuture<Reply>),
    /// WAIT: until `replicas` other replicas of `shard` hold the log up to `index`,
    /// or `timeout_ms` passes (0: no limit); replies how many do.
    AwaitReplicas {
        /// The shard of the connection's last write.
        shard: Arc<Shard>,
        /// Its log index then.
        index: u64,
        /// Replicas asked for.
        replicas: u64,
        /// Longest wait.
        timeout_ms: u64,
    },
}

/// How the replies of appended ops map back to requests.
#[derive(Debug)]
pub(crate) enum ReplyShape {
    /// One op, one reply.
    One,
    /// A large write split into this many ops (see `okapi_engine::blocks::split`),
    /// whose replies merge into one.
    Split(usize, okapi_engine::blocks::Merge),
}

/// What a client about to block does instead.
enum BlockOrRetry {
    /// It is registered; wait for this.
    Blocked(oneshot::Receiver<Wake>),
    /// Data arrived meanwhile; the attempt was appended again.
    Retry(Pending),
}

pub(crate) fn log_error(e: &LogError) -> Reply {
    Reply::Error(okapi_engine::EngineError::Other(e.to_string()))
}

pub(crate) fn log_closed() -> Reply {
    log_error(&LogError::Unknown(
        "the log stopped before it replied".into(),
    ))
}

/// How the connection loop goes on after processing input.
enum Flow {
    Continue,
    Close,
}

/// A client connection.
pub(crate) struct Connection<S> {
    pub(crate) stream: S,
    pub(crate) shared: Arc<Shared>,
    pub(crate) info: Arc<ClientInfo>,
    pub(crate) session: Session,
    decoder: RequestDecoder,
    inbuf: BytesMut,
    pub(crate) out: Output,
    pub(crate) rng: Rng,
    pub(crate) messages: Option<mpsc::UnboundedReceiver<Message>>,
    pub(crate) subscriber: Option<Subscriber>,
    /// Number of namespaces (fixed for the server's life).
    pub(crate) databases: u32,
    /// Whether `maxmemory` was exceeded when the current batch started; checked once
    /// per batch rather than per command.
    pub(crate) over_memory: bool,
    /// Last command run, published to CLIENT LIST once per batch.
    pub(crate) last_cmd: &'static str,
    /// A parsed request that waits for earlier writes to be applied.
    /// SLOWLOG's threshold (µs) and length, as of the requests being run.
    pub(crate) slowlog_limits: (i64, usize),
    /// Error replies this connection sent (a request that sent one failed).
    pub(crate) errors_emitted: u64,
    /// The request whose reply the step returned last is waiting for: recorded once
    /// that reply is out.
    pub(crate) awaiting: Option<crate::execute::Slow>,
    /// `latency-monitor-threshold`, ms, as of this batch.
    pub(crate) latency_threshold_ms: u64,
    /// `latency-tracking`, as of this batch.
    pub(crate) latency_tracking: bool,
    pub(crate) stash: Option<(
        okapi_commands::Action,
        crate::execute::Target,
        Option<crate::execute::Slow>,
    )>,
    /// The shard of this connection's last acknowledged write (WAIT counts the
    /// replicas that hold it). Its index is read when WAIT comes: the log's last index
    /// then is at or past the write, so waiting for it is at least as strict, and the
    /// write path stays free of the lookup.
    pub(crate) last_write: Option<Arc<Shard>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Connection<S> {
    pub(crate) fn new(stream: S, shared: Arc<Shared>, info: Arc<ClientInfo>) -> Self {
        let (authenticated, databases) = {
            let settings = shared.settings();
            (settings.requirepass.is_none(), settings.databases)
        };
        let limits = Self::limits(&shared);
        Self {
            stream,
            shared,
            info,
            session: Session {
                authenticated,
                ..Session::default()
            },
            decoder: RequestDecoder::new(limits),
            inbuf: BytesMut::with_capacity(READ_CHUNK),
            out: Output::with_capacity(READ_CHUNK),
            rng: Rng::new(random_u64()),
            messages: None,
            subscriber: None,
            databases,
            over_memory: false,
            last_cmd: "NULL",
            stash: None,
            errors_emitted: 0,
            awaiting: None,
            latency_threshold_ms: 0,
            latency_tracking: true,
            slowlog_limits: (-1, 0),
            last_write: None,
        }
    }

    fn limits(shared: &Shared) -> Limits {
        let settings = shared.settings();
        Limits {
            max_bulk_len: settings.proto_max_bulk_len,
            ..Limits::default()
        }
    }

    /// Serves the client until it disconnects, is killed, or the server stops (which
    /// kills every client).
    pub(crate) async fn run(mut self) {
        let info = self.info.clone();
        // Armed once and kept across iterations: re-registering a waiter on every loop
        // would cost a lock per request.
        let killed = info.kill.notified();
        tokio::pin!(killed);
        loop {
            if info.killed.load(Ordering::Acquire) {
                break;
            }
            let flow = match self.process().await {
                Ok(flow) => flow,
                Err(error) => {
                    // Broken framing: tell the client why, then drop only this client.
                    okapi_commands::reply::write_error(&mut self.out, &format!("ERR {error}"));
                    Flow::Close
                }
            };
            if !self.out.is_empty() {
                // Let every other connection with input run first, then write: replies
                // leave in one burst per event-loop tick, as Redis does, instead of
                // waking the client once per connection processed.
                tokio::task::yield_now().await;
            }
            if self.flush().await.is_err() {
                break;
            }
            if let Flow::Close = flow {
                break;
            }
            let idle_timeout = self.idle_timeout();
            tokio::select! {
                biased;
                _ = &mut killed => break,
                Some(message) = recv(&mut self.messages) => {
                    self.write_message(message);
                    self.drain_messages();
                }
                read = read_some(&mut self.stream, &mut self.inbuf, idle_timeout, &self.decoder) => match read {
                    Some(n) if n > 0 => Stats::add(&self.shared.stats.net_input, n as u64),
                    _ => break,
                },
            }
        }
        let _ = self.stream.shutdown().await;
        self.cleanup();
    }

    fn idle_timeout(&self) -> Option<Duration> {
        let secs = self.shared.settings().timeout_secs;
        // Redis never times out subscribers or blocked clients.
        (secs > 0 && !self.session.subscribed()).then(|| Duration::from_secs(secs))
    }

    /// Runs every complete request in the input buffer.
    async fn process(&mut self) -> Result<Flow, DecodeError> {
        let (limit, max_bulk, maxmemory) = {
            let settings = self.shared.settings();
            self.slowlog_limits = (settings.slowlog_slower_than_us, settings.slowlog_max_len);
            self.latency_threshold_ms = settings.latency_monitor_threshold_ms;
            self.latency_tracking = settings.latency_tracking;
            (
                settings.client_query_buffer_limit,
                settings.proto_max_bulk_len,
                settings.maxmemory,
            )
        };
        if self.decoder.limits().max_bulk_len != max_bulk {
            self.decoder.set_limits(Limits {
                max_bulk_len: max_bulk,
                ..*self.decoder.limits()
            });
        }
        if self.inbuf.len() > limit {
            okapi_commands::reply::write_error(
                &mut self.out,
                &"ERR query buffer limit exceeded, closing the connection",
            );
            return Ok(Flow::Close);
        }
        loop {
            let mut batch = VecDeque::new();
            while batch.len() < BATCH {
                match self.decoder.decode(&mut self.inbuf)? {
                    Some(argv) if argv.is_empty() => continue,
                    Some(argv) => batch.push_back(argv),
                    None => break,
                }
            }
            self.info.qbuf.store(self.inbuf.len(), Ordering::Relaxed);
            if batch.is_empty() {
                return Ok(Flow::Continue);
            }
            Stats::add(&self.shared.stats.commands, batch.len() as u64);
            // One clock read per batch: it stamps the batch's ops and the client's
            // last activity (clock reads showed up at 10% of user time unpipelined).
            let now = now_ms();
            self.info.last_active_ms.store(now, Ordering::Relaxed);
            self.over_memory = maxmemory > 0 && self.shared.used_memory() > maxmemory;
            let flow = self.run_batch(batch, now).await;
            self.info.set_last_cmd(self.last_cmd);
            if let Flow::Close = flow {
                return Ok(Flow::Close);
            }
            if self.out.len() >= FLUSH_AT && self.flush().await.is_err() {
                return Ok(Flow::Close);
            }
        }
    }

    async fn run_batch(&mut self, mut batch: VecDeque<Vec<Bytes>>, mut now: u64) -> Flow {
        loop {
            let step = self.run_until_await(&mut batch, now);
            let errors_before = self.errors_emitted;
            match step {
                Step::Next => return Flow::Continue,
                Step::Close => return Flow::Close,
                Step::AwaitWrites(rx, shapes, shard, slow) => match rx.await {
                    Ok(Ok(replies)) => {
                        self.last_write = Some(shard);
                        let mut replies = replies.into_iter();
                        let shared = self.shared.clone();
                        for (shape, slow) in shapes.into_iter().zip(slow) {
                            let reply = match shape {
                                ReplyShape::One => replies.next(),
                                ReplyShape::Split(count, merge) => {
                                    let parts = replies.by_ref().take(count).collect();
                                    Some(merge.merge(parts))
                                }
                            };
                            if let Some(slow) = slow {
                                let failed = reply.as_ref().is_some_and(Reply::is_error);
                                self.record_finished(
                                    &shared,
                                    slow,
                                    std::time::Duration::ZERO,
                                    failed,
                                );
                            }
                            if let Some(reply) = reply {
                                self.emit(&reply);
                            }
                        }
                    }
                    Ok(Err(e)) => shapes.iter().for_each(|_| self.emit(&log_error(&e))),
                    Err(_) => shapes.iter().for_each(|_| self.emit(&log_closed())),
                },
                Step::AwaitExec(rx, slots, stats) => match rx.await {
                    Ok(Ok(replies)) => match replies.into_iter().next() {
                        Some(Reply::Array(replies)) => {
                            let merged = crate::execute::merge_exec(slots, replies);
                            self.count_exec(stats, &merged);
                            self.emit(&merged)
                        }
                        other => self.emit(&other.unwrap_or(Reply::NilArray)),
                    },
                    Ok(Err(e)) => self.emit(&log_error(&e)),
                    Err(_) => self.emit(&log_closed()),
                },
                Step::AwaitBlockAttempt(blocking, shard, rx) => {
                    if let Flow::Close = self.finish_block_attempt(blocking, &shard, rx).await {
                        return Flow::Close;
                    }
                }
                Step::AwaitEverywhere(pending) => {
                    let mut reply = None;
                    for rx in pending {
                        let this = match rx.await {
                            Ok(Ok(replies)) => replies.into_iter().next().unwrap_or(Reply::Nil),
                            Ok(Err(e)) => log_error(&e),
                            Err(_) => log_closed(),
                        };
                        match (&reply, &this) {
                            (None, _) | (Some(Reply::Ok), Reply::Error(_)) => reply = Some(this),
                            _ => {}
                        }
                    }
                    self.emit(&reply.unwrap_or(Reply::Ok));
                }
                Step::AwaitReply(reply) => {
                    let reply = reply.await;
                    self.emit(&reply);
                }
                Step::AwaitReplicas {
                    shard,
                    index,
                    replicas,
                    timeout_ms,
                } => {
                    let deadline = (timeout_ms > 0)
                        .then(|| tokio::time::Instant::now() + Duration::from_millis(timeout_ms));
                    let count = loop {
                        let count = shard.log().replicas_with(index);
                        if count >= replicas
                            || deadline.is_some_and(|d| tokio::time::Instant::now() >= d)
                        {
                            break count;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    };
                    self.emit(&Reply::Int(count as i64));
                }
                Step::Paused(write) => {
                    if self.flush().await.is_err() {
                        return Flow::Close;
                    }
                    let shared = self.shared.clone();
                    // Shown as blocked (flag `b`), as Redis shows a postponed client.
                    self.info.blocked.store(true, Ordering::Relaxed);
                    let killed = tokio::select! {
                        () = shared.pause.wait(write) => false,
                        _ = self.info.kill.notified() => true,
                    };
                    self.info.blocked.store(false, Ordering::Relaxed);
                    if killed {
                        return Flow::Close;
                    }
                    now = now_ms();
                    continue;
                }
                Step::Sleep(duration) => {
                    if self.flush().await.is_err() {
                        return Flow::Close;
                    }
                    tokio::time::sleep(duration).await;
                    self.emit(&Reply::Ok);
                }
            }
            if let Some(call) = self.awaiting.take() {
                let failed = self.errors_emitted > errors_before;
                let shared = self.shared.clone();
                self.record_finished(&shared, call, Duration::ZERO, failed);
            }
            // The request waited, so the ones after it get a fresh time.
            now = now_ms();
        }
    }

    /// INFO commandstats for the commands a transaction ran (their slots, in order),
    /// from its replies.
    pub(crate) fn count_exec(&self, stats: Vec<Option<usize>>, replies: &Reply) {
        let Reply::Array(replies) = replies else {
            return;
        };
        for (slot, reply) in stats.into_iter().zip(replies) {
            if let Some(slot) = slot {
                let histogram = self.latency_tracking;
                self.shared
                    .command_stats
                    .ran(slot, 0, reply.is_error(), histogram);
            }
            // Each command's error inside EXEC's reply is an error reply, as in Redis.
            if let Reply::Error(e) = reply {
                Stats::add(&self.shared.stats.errors, 1);
                self.shared.command_stats.error(&e.to_string());
            }
        }
    }

    /// Waits until a blocked command is served, times out, is unblocked, or the client
    /// goes away.
    async fn wait_blocked(
        &mut self,
        blocking: Box<Blocking>,
        shard: &Shard,
        mut wake: oneshot::Receiver<Wake>,
    ) -> Flow {
        if self.flush().await.is_err() {
            self.unblock_self(shard);
            return Flow::Close;
        }
        self.info.blocked.store(true, Ordering::Relaxed);
        let deadline = blocking
            .timeout_ms
            .map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
        let flow = loop {
            let timeout = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                woken = &mut wake => {
                    match woken {
                        Ok(Wake::Pending(rx)) => match rx.await {
                            Ok(Ok(replies)) if replies.first().is_none_or(is_empty_reply) => {
                                // Someone else took the data first: wait again.
                                match self.block_or_retry(&blocking, shard) {
                                    BlockOrRetry::Blocked(next) => {
                                        wake = next;
                                        continue;
                                    }
                                    BlockOrRetry::Retry(attempt) => {
                                        let (tx, next) = oneshot::channel();
                                        let _ = tx.send(Wake::Pending(attempt));
                                        wake = next;
                                        continue;
                                    }
                                }
                            }
                            Ok(Ok(replies)) => self.emit(&replies.into_iter().next().unwrap_or(Reply::NilArray)),
                            Ok(Err(e)) => self.emit(&log_error(&e)),
                            Err(_) => self.emit(&log_closed()),
                        },
                        Ok(Wake::Unblocked { error: false }) => self.emit(&Reply::NilArray),
                        Ok(Wake::Unblocked { error: true }) => self.emit(&Reply::Error(okapi_engine::EngineError::Other(
                            "UNBLOCKED client unblocked via CLIENT UNBLOCK".into(),
                        ))),
                        Err(_) => self.emit(&Reply::NilArray),
                    }
                    break Flow::Continue;
                }
                _ = timeout => {
                    if self.unblock_self(shard) {
                        self.emit(&Reply::NilArray);
                        break Flow::Continue;
                    }
                    // Served at the same moment: the wake is already on its way.
                    continue;
                }
                _ = self.info.kill.notified() => {
                    self.unblock_self(shard);
                    break Flow::Close;
                }
                read = read_some(&mut self.stream, &mut self.inbuf, None, &self.decoder) => {
                    match read {
                        Some(n) if n > 0 => Stats::add(&self.shared.stats.net_input, n as u64),
                        _ => {
                            self.unblock_self(shard);
                            break Flow::Close;
                        }
                    }
                }
            }
        };
        self.info.blocked.store(false, Ordering::Relaxed);
        flow
    }

    /// Awaits a blocking command's attempt that went through the log: its reply, or —
    /// when it found nothing — the client blocks (after re-checking, under the engine
    /// lock, that nothing arrived in between; if something did, it tries again).
    async fn finish_block_attempt(
        &mut self,
        blocking: Box<Blocking>,
        shard: &Shard,
        rx: Pending,
    ) -> Flow {
        let mut rx = rx;
        loop {
            match rx.await {
                Ok(Ok(replies)) => match replies.into_iter().next() {
                    Some(reply) if !is_empty_reply(&reply) => {
                        self.emit(&reply);
                        return Flow::Continue;
                    }
                    _ => {}
                },
                Ok(Err(e)) => {
                    self.emit(&log_error(&e));
                    return Flow::Continue;
                }
                Err(_) => {
                    self.emit(&log_closed());
                    return Flow::Continue;
                }
            }
            match self.block_or_retry(&blocking, shard) {
                BlockOrRetry::Blocked(wake) => {
                    return self.wait_blocked(blocking, shard, wake).await;
                }
                BlockOrRetry::Retry(next) => rx = next,
            }
        }
    }

    /// Registers this client as blocked unless one of its keys has data by now, in which
    /// case the attempt runs again.
    fn block_or_retry(&mut self, blocking: &Blocking, shard: &Shard) -> BlockOrRetry {
        let mut core = shard.lock();
        let core = &mut *core;
        let now = now_ms();
        if let Some(next) = crate::blocking::serve_now(
            &mut core.engine,
            shard.log(),
            &blocking.keys,
            &blocking.wait,
            now,
        ) {
            return BlockOrRetry::Retry(next);
        }
        let wake = core.blocked.block(
            &mut core.engine,
            self.info.id,
            blocking.db,
            blocking.keys.clone(),
            blocking.wait.clone(),
        );
        BlockOrRetry::Blocked(wake)
    }

    /// Removes this client from `shard`'s blocked registry; true if it was still there.
    fn unblock_self(&self, shard: &Shard) -> bool {
        let mut core = shard.lock();
        let core = &mut *core;
        core.blocked.remove(&mut core.engine, self.info.id)
    }

    /// Writes buffered output.
    pub(crate) async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let written = self.out.len();
        let result = if self.out.is_contiguous() {
            let result = self.stream.write_all(&self.out).await;
            self.out.clear();
            result
        } else {
            // Large strings attached by reference: one vectored write sends them with
            // the encoded bytes around them, no copy.
            let mut pending = self.out.take();
            self.stream.write_all_buf(&mut pending).await
        };
        if self.out.capacity() > 4 * FLUSH_AT {
            // Do not keep a huge buffer around after one large reply.
            *self.out.buffer_mut() = BytesMut::with_capacity(READ_CHUNK);
        }
        Stats::add(&self.shared.stats.net_output, written as u64);
        result
    }

    fn write_message(&mut self, message: Message) {
        let size = message.size();
        self.info.pubsub_queued.fetch_sub(
            size.min(self.info.pubsub_queued.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        let protocol = self.session.protocol;
        let out = &mut self.out;
        match message {
            Message::Message { channel, payload } => {
                okapi_resp::encoder::push_header(out, 3, protocol);
                okapi_resp::encoder::bulk(out, b"message");
                okapi_resp::encoder::bulk(out, &channel);
                okapi_resp::encoder::bulk(out, &payload);
            }
            Message::PMessage {
                pattern,
                channel,
                payload,
            } => {
                okapi_resp::encoder::push_header(out, 4, protocol);
                okapi_resp::encoder::bulk(out, b"pmessage");
                okapi_resp::encoder::bulk(out, &pattern);
                okapi_resp::encoder::bulk(out, &channel);
                okapi_resp::encoder::bulk(out, &payload);
            }
            Message::Monitor(line) => {
                out.extend_from_slice(b"+");
                out.extend_from_slice(&line);
                out.extend_from_slice(b"\r\n");
            }
            Message::Invalidate(keys) => {
                if protocol == okapi_resp::Protocol::Resp3 {
                    okapi_resp::encoder::push_header(out, 2, protocol);
                    okapi_resp::encoder::bulk(out, b"invalidate");
                } else if self.session.subscribed() {
                    okapi_resp::encoder::push_header(out, 3, protocol);
                    okapi_resp::encoder::bulk(out, b"message");
                    okapi_resp::encoder::bulk(out, b"__redis__:invalidate");
                } else {
                    // RESP2 without pub/sub has no way to carry it (Redis drops it).
                    return;
                }
                match keys {
                    Some(keys) => {
                        okapi_resp::encoder::array_header(out, keys.len());
                        for key in &keys {
                            okapi_resp::encoder::bulk(out, key);
                        }
                    }
                    None => okapi_resp::encoder::null(out, protocol),
                }
            }
            Message::TrackingRedirBroken(id) => {
                if protocol == okapi_resp::Protocol::Resp3 {
                    okapi_resp::encoder::push_header(out, 2, protocol);
                    okapi_resp::encoder::bulk(out, b"tracking-redir-broken");
                    okapi_resp::encoder::integer(out, id as i64);
                }
            }
        }
    }

    fn drain_messages(&mut self) {
        while self.out.len() < FLUSH_AT {
            let Some(rx) = self.messages.as_mut() else {
                return;
            };
            match rx.try_recv() {
                Ok(message) => self.write_message(message),
                Err(_) => return,
            }
        }
    }

    /// Appends a reply, honouring CLIENT REPLY OFF/SKIP.
    pub(crate) fn emit(&mut self, reply: &Reply) {
        if reply.is_error() {
            Stats::add(&self.shared.stats.errors, 1);
            self.errors_emitted += 1;
            if let Reply::Error(e) = reply {
                self.shared.command_stats.error(&e.to_string());
            }
        }
        if self.session.replies_off {
            return;
        }
        if self.session.skip_next {
            self.session.skip_next = false;
            return;
        }
        okapi_commands::reply::write(&mut self.out, reply, self.session.protocol);
    }

    /// Appends an error reply from a command error.
    pub(crate) fn emit_error(&mut self, error: &impl std::fmt::Display) {
        self.emit(&Reply::Error(okapi_engine::EngineError::Other(
            error.to_string(),
        )));
    }

    fn cleanup(&mut self) {
        let id = self.info.id;
        for channel in self.session.channels.drain() {
            self.shared.pubsub.unsubscribe(id, &channel);
        }
        for pattern in self.session.patterns.drain() {
            self.shared.pubsub.punsubscribe(id, &pattern);
        }
        for shard in self.shared.shards.all() {
            self.unblock_self(&shard);
        }
        self.shared.pubsub.unmonitor(id);
        self.shared.tracking.unregister(id);
        self.shared.clients.unregister(id);
    }
}

async fn recv(rx: &mut Option<mpsc::UnboundedReceiver<Message>>) -> Option<Message> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads more input; `None` on EOF, error or idle timeout.
async fn read_some<S: AsyncRead + Unpin>(
    stream: &mut S,
    inbuf: &mut BytesMut,
    timeout: Option<Duration>,
    decoder: &RequestDecoder,
) -> Option<usize> {
    // Grow towards a large pending bulk in bounded steps: memory follows the bytes that
    // actually arrive, never the length a client declares.
    let pending = decoder.pending_bulk_bytes(inbuf.len()).min(1024 * 1024);
    let want = READ_CHUNK.max(pending);
    if inbuf.capacity() - inbuf.len() < want {
        inbuf.reserve(want);
    }
    let read = stream.read_buf(inbuf);
    let n = match timeout {
        Some(t) => tokio::time::timeout(t, read).await.ok()?.ok()?,
        None => read.await.ok()?,
    };
    (n > 0).then_some(n)
}
