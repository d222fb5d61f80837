//! Running one request: lookup, checks (auth, pub/sub context, MULTI queueing, memory),
//! parse, then a read, a log append, a blocking attempt or a connection command.

use std::collections::VecDeque;
use std::sync::MutexGuard;

use bytes::Bytes;
use okapi_commands::spec::{Ctx, flags};
use okapi_commands::{Action, Blocking, ConnCmd};
use okapi_engine::{Op, ReadCtx, Reply};
use okapi_resp::Protocol;
use okapi_types::Namespace;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::connection::{Connection, ReplyShape, Step};
use crate::shared::{Core, Shared};

/// Commands a RESP2 client may send while subscribed.
const SUBSCRIBED_OK: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ping",
    "quit",
    "reset",
];
/// Commands that run immediately inside MULTI instead of being queued.
const MULTI_IMMEDIATE: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// Writes gathered for one append, and how their replies map back to requests.
#[derive(Default)]
pub(crate) struct Writes {
    ops: Vec<Op>,
    shapes: Vec<ReplyShape>,
}

impl Writes {
    /// Adds a request's write. A block write carrying more than
    /// [`okapi_engine::blocks::MAX_OP_BYTES`] becomes several ops, so no log entry holds
    /// a huge write; their replies merge back into one.
    fn push(&mut self, op: Op) {
        if let Some((parts, merge)) = okapi_engine::blocks::split_op(&op) {
            self.shapes.push(ReplyShape::Split(parts.len(), merge));
            self.ops.extend(parts);
            return;
        }
        self.ops.push(op);
        self.shapes.push(ReplyShape::One);
    }
}

/// Takes the engine lock once and keeps it for the rest of the batch.
pub(crate) fn core<'g, 'a>(
    shared: &'a Shared,
    guard: &'g mut Option<MutexGuard<'a, Core>>,
) -> &'g mut Core {
    guard.get_or_insert_with(|| shared.lock())
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Connection<S> {
    /// Runs requests from `batch` until it is empty or one needs to wait. Consecutive
    /// writes are appended to the log together; anything else first waits for them, so
    /// replies keep request order and a read sees the writes before it.
    pub(crate) fn run_until_await(&mut self, batch: &mut VecDeque<Vec<Bytes>>, now: u64) -> Step {
        let shared = self.shared.clone();
        let mut guard: Option<MutexGuard<'_, Core>> = None;
        let mut writes = Writes::default();
        loop {
            let action = match self.stash.take() {
                Some(action) => action,
                None => match batch.pop_front() {
                    Some(argv) => self.prepare(argv, now),
                    None => break,
                },
            };
            if let Action::Write(op) = action {
                writes.push(op);
                continue;
            }
            if !writes.ops.is_empty() {
                self.stash = Some(action);
                return self.append_writes(&shared, &mut guard, std::mem::take(&mut writes), now);
            }
            match self.perform(&shared, &mut guard, action, now) {
                Step::Next => {}
                other => return other,
            }
        }
        if writes.ops.is_empty() {
            return Step::Next;
        }
        self.append_writes(&shared, &mut guard, writes, now)
    }

    /// Appends writes (under the engine lock, so they stay ordered with the reads
    /// before them) and returns the step that waits for their replies.
    fn append_writes<'a>(
        &mut self,
        shared: &'a Shared,
        guard: &mut Option<MutexGuard<'a, Core>>,
        writes: Writes,
        now: u64,
    ) -> Step {
        core(shared, guard);
        let rx = shared.log.append(writes.ops, now);
        *guard = None;
        Step::AwaitWrites(rx, writes.shapes)
    }

    fn ctx(&mut self, now: u64, databases: u32) -> Ctx {
        Ctx {
            db: self.session.db,
            now_ms: now,
            random: self.rng.next_u64(),
            databases,
        }
    }

    /// Looks a request up, checks it may run here and now, and parses it. Anything that
    /// already has its answer (an error, QUEUED) comes back as `Action::Reply`, so it
    /// waits its turn behind earlier writes.
    fn prepare(&mut self, argv: Vec<Bytes>, now: u64) -> Action {
        let spec = match okapi_commands::resolve(&argv) {
            Ok(spec) => spec,
            Err(e) => {
                if self.session.multi.is_some() {
                    self.session.multi_failed = true;
                }
                return Action::Reply(error_reply(&e));
            }
        };
        self.last_cmd = spec.name;
        if !self.session.authenticated && !spec.has(flags::NO_AUTH) {
            return Action::Reply(error_reply(&"NOAUTH Authentication required."));
        }
        if !spec.has(flags::LOADING) && self.shared.loading.is_loading() {
            return Action::Reply(error_reply(&crate::loading::LOADING_ERROR));
        }
        if self.session.protocol == Protocol::Resp2
            && self.session.subscribed()
            && !SUBSCRIBED_OK.contains(&spec.name)
        {
            return Action::Reply(error_reply(&format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            )));
        }
        if let Some(queue) = self.session.multi.as_mut()
            && !MULTI_IMMEDIATE.contains(&spec.name)
        {
            if spec.has(flags::NO_MULTI) || spec.has(flags::PUBSUB) && spec.name != "publish" {
                self.session.multi_failed = true;
                return Action::Reply(error_reply(&"ERR Command not allowed inside a transaction"));
            }
            queue.push(argv);
            self.info
                .multi
                .store(queue.len() as i64, std::sync::atomic::Ordering::Relaxed);
            return Action::Reply(Reply::Status("QUEUED"));
        }
        let ctx = self.ctx(now, self.databases);
        let action = match (spec.parse)(&ctx, &argv[1..]) {
            Ok(action) => action,
            Err(e) => return Action::Reply(error_reply(&e)),
        };
        if spec.has(flags::DENYOOM) && self.over_memory {
            return Action::Reply(error_reply(&crate::log::OVER_MEMORY));
        }
        action
    }

    /// Carries out everything but writes (which [`Self::run_until_await`] batches).
    fn perform<'a>(
        &mut self,
        shared: &'a Shared,
        guard: &mut Option<MutexGuard<'a, Core>>,
        action: Action,
        now: u64,
    ) -> Step {
        match action {
            Action::Read(query) => {
                let random = self.rng.next_u64();
                let core = core(shared, guard);
                let reply = core.engine.query(
                    &query,
                    &ReadCtx {
                        now_ms: now,
                        random,
                    },
                );
                self.emit(&reply);
                Step::Next
            }
            Action::Write(op) => {
                let mut writes = Writes::default();
                writes.push(op);
                self.append_writes(shared, guard, writes, now)
            }
            Action::Block(blocking) => self.attempt_block(shared, guard, blocking, now),
            Action::Reply(reply) => {
                self.emit(&reply);
                Step::Next
            }
            Action::Conn(cmd) => self.connection_command(shared, guard, cmd, now),
        }
    }

    /// Runs a blocking command's attempt; when it finds nothing, registers the client as
    /// blocked (or reports the attempt is still in flight).
    pub(crate) fn attempt_block<'a>(
        &mut self,
        shared: &'a Shared,
        guard: &mut Option<MutexGuard<'a, Core>>,
        blocking: Blocking,
        now: u64,
    ) -> Step {
        let core = core(shared, guard);
        let rx = if crate::blocking::BlockRegistry::any_exists(
            &core.engine,
            blocking.db,
            &blocking.keys,
            now,
        ) {
            shared.log.append(vec![blocking.op.clone()], now)
        } else {
            // Nothing to pop: the client blocks without writing an entry (it re-checks
            // under the lock before it registers, in case data arrived meanwhile).
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _ = tx.send(Ok(vec![Reply::Nil]));
            rx
        };
        *guard = None;
        Step::AwaitBlockAttempt(blocking, rx)
    }

    /// EXEC: parses the queue in order (SELECT inside MULTI changes the namespace of the
    /// commands after it), then applies every engine command as one transaction op.
    pub(crate) fn exec<'a>(
        &mut self,
        shared: &'a Shared,
        guard: &mut Option<MutexGuard<'a, Core>>,
        now: u64,
    ) -> Step {
        let Some(queue) = self.session.multi.take() else {
            self.emit_error(&"ERR EXEC without MULTI");
            return Step::Next;
        };
        self.info
            .multi
            .store(-1, std::sync::atomic::Ordering::Relaxed);
        let watched = std::mem::take(&mut self.session.watched);
        if std::mem::take(&mut self.session.multi_failed) {
            self.emit_error(&"EXECABORT Transaction discarded because of previous errors.");
            return Step::Next;
        }
        let databases = self.databases;
        let mut items = Vec::new();
        // Replies known before the engine runs (errors, connection commands), by
        // position; `None` marks a slot filled from the engine's replies in order.
        let mut slots: Vec<Option<Reply>> = Vec::with_capacity(queue.len());
        let mut db = self.session.db;
        let mut has_write = false;
        for argv in queue {
            let ctx = Ctx {
                db,
                now_ms: now,
                random: self.rng.next_u64(),
                databases,
            };
            let parsed = okapi_commands::parse(&ctx, &argv);
            let slot = match parsed {
                Err(e) => Some(error_reply(&e)),
                Ok((spec, _)) if spec.has(flags::DENYOOM) && self.over_memory => {
                    Some(error_reply(&crate::log::OVER_MEMORY))
                }
                Ok((_, Action::Read(query))) => {
                    items.push(okapi_engine::TxnItem::Read(query));
                    None
                }
                Ok((_, Action::Write(op))) => {
                    has_write = true;
                    items.push(okapi_engine::TxnItem::Write(op));
                    None
                }
                Ok((_, Action::Block(blocking))) => {
                    // Inside MULTI a blocking command never blocks.
                    has_write = true;
                    items.push(okapi_engine::TxnItem::Write(blocking.op));
                    None
                }
                Ok((_, Action::Reply(reply))) => Some(reply),
                Ok((_, Action::Conn(cmd))) => {
                    Some(self.conn_in_multi(shared, cmd, &mut db, databases))
                }
            };
            slots.push(slot);
        }
        self.session.db = db;
        let engine_replies = if items.is_empty() && watched.is_empty() {
            Vec::new()
        } else {
            let txn = okapi_engine::Txn {
                checks: watched,
                items,
            };
            let core = core(shared, guard);
            if has_write {
                let op = okapi_engine::Op {
                    db: self.session.db,
                    kind: okapi_engine::OpKind::Txn(txn),
                };
                let rx = shared.log.append(vec![op], now);
                *guard = None;
                return Step::AwaitExec(rx, slots);
            } else {
                // Reads only: atomic under the engine lock, no log entry needed.
                let unchanged = txn
                    .checks
                    .iter()
                    .all(|c| core.engine.watch_stamp(c.db, &c.key, now) == Some(c.stamp));
                if !unchanged {
                    self.emit(&Reply::NilArray);
                    return Step::Next;
                }
                let ctx = ReadCtx {
                    now_ms: now,
                    random: self.rng.next_u64(),
                };
                txn.items
                    .iter()
                    .filter_map(|item| match item {
                        okapi_engine::TxnItem::Read(q) => Some(core.engine.query(q, &ctx)),
                        okapi_engine::TxnItem::Write(_) => None,
                    })
                    .collect()
            }
        };
        self.emit(&merge_exec(slots, engine_replies));
        Step::Next
    }

    /// A connection command queued inside MULTI, run at EXEC.
    fn conn_in_multi(
        &mut self,
        shared: &Shared,
        cmd: ConnCmd,
        db: &mut Namespace,
        databases: u32,
    ) -> Reply {
        match cmd {
            ConnCmd::Ping(None) => Reply::Status("PONG"),
            ConnCmd::Ping(Some(message)) | ConnCmd::Echo(message) => Reply::Bulk(message),
            ConnCmd::Select(n) => {
                if n < 0 || n >= i64::from(databases) {
                    Reply::Error(okapi_engine::EngineError::DbIndexOutOfRange)
                } else {
                    *db = Namespace(n as u32);
                    self.info
                        .db
                        .store(n as u32, std::sync::atomic::Ordering::Relaxed);
                    Reply::Ok
                }
            }
            ConnCmd::Time => crate::admin::time_reply(),
            ConnCmd::Publish { channel, message } => {
                Reply::Int(shared.pubsub.publish(&channel, &message) as i64)
            }
            ConnCmd::Info(sections) => Reply::Text(crate::info::render(shared, &sections)),
            ConnCmd::ConfigGet(patterns) => crate::admin::config_get(shared, &patterns),
            ConnCmd::Client(okapi_commands::ClientCmd::Id) => Reply::Int(self.info.id as i64),
            ConnCmd::Client(okapi_commands::ClientCmd::GetName) => {
                Reply::opt_bulk(self.info.name())
            }
            ConnCmd::Wait => Reply::Int(0),
            ConnCmd::LastSave => Reply::Int(crate::admin::last_save(shared) as i64),
            ConnCmd::ReadMode(_) => Reply::Ok,
            _ => error_reply(&"ERR Command not allowed inside a transaction"),
        }
    }
}

/// EXEC's reply: the replies known before the engine ran, in their slots, and the
/// engine's replies filling the other slots in order; a nil transaction stays nil.
pub(crate) fn merge_exec(slots: Vec<Option<Reply>>, engine_replies: Vec<Reply>) -> Reply {
    let mut engine_replies = engine_replies.into_iter();
    Reply::Array(
        slots
            .into_iter()
            .map(|slot| slot.or_else(|| engine_replies.next()).unwrap_or(Reply::Nil))
            .collect(),
    )
}

/// An error reply from anything displayable (the text carries the prefix).
pub(crate) fn error_reply(e: &impl std::fmt::Display) -> Reply {
    Reply::Error(okapi_engine::EngineError::Other(e.to_string()))
}
