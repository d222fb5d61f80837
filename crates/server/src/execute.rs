//! Running one request: lookup, checks (auth, pub/sub context, MULTI queueing, memory),
//! parse, then a read, a log append, a blocking attempt or a connection command.

use std::collections::VecDeque;
use std::sync::MutexGuard;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use okapi_commands::spec::{Ctx, flags};
use okapi_commands::{Action, Attempt, Blocking, ConnCmd};
use okapi_engine::{Op, ReadCtx, Reply};
use okapi_resp::Protocol;
use okapi_types::Namespace;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::connection::{Connection, ReplyShape, Step};
use crate::shard::{Core, Layout};
use crate::shared::Shared;

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
    /// Per request, what SLOWLOG needs once its reply exists (requests of the batch).
    slow: Vec<Option<Slow>>,
}

/// A request being carried out: what SLOWLOG, INFO commandstats and the latency
/// monitor record once it ends.
#[derive(Debug)]
pub(crate) struct Slow {
    /// The request.
    pub(crate) argv: Vec<Bytes>,
    /// When it started.
    pub(crate) started: std::time::Instant,
    /// How it counts, as preparing it found.
    pub(crate) counted: Counted,
}

/// How a request counts in commandstats and the latency monitor, decided while it is
/// prepared.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted {
    /// Whether it ran as a call.
    pub(crate) not_run: NotRun,
    /// Its commandstats counters (`None`: an unknown command).
    pub(crate) stat: Option<usize>,
    /// Its command is flagged `fast` (a latency sample is then `fast-command`).
    pub(crate) fast: bool,
}

impl Default for Counted {
    fn default() -> Self {
        Self {
            not_run: NotRun::Ran,
            stat: None,
            fast: false,
        }
    }
}

/// Why a request did not run as a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotRun {
    /// It ran.
    Ran,
    /// Refused before running: arity, authentication, loading, routing, OOM ...
    Rejected,
    /// Not a call Redis counts: queued in a transaction (counted when EXEC runs it),
    /// or an unknown subcommand.
    Uncounted,
}

impl Writes {
    /// Adds a request's write. A block write carrying more than
    /// [`okapi_engine::blocks::MAX_OP_BYTES`] becomes several ops, so no log entry holds
    /// a huge write; their replies merge back into one.
    fn push(&mut self, op: Op) {
        if let Some((parts, merge)) = okapi_engine::blocks::split_op(&op) {
            self.shapes.push(ReplyShape::Split(parts.len(), merge));
            self.slow.push(None);
            self.ops.extend(parts);
            return;
        }
        self.ops.push(op);
        self.shapes.push(ReplyShape::One);
        self.slow.push(None);
    }
}

/// The shard lock a batch holds: taken once and kept while the batch's requests stay
/// on the same shard, switched when one routes elsewhere.
pub(crate) struct Held<'a> {
    pub(crate) layout: &'a Layout,
    locked: Option<(usize, MutexGuard<'a, Core>)>,
}

impl<'a> Held<'a> {
    pub(crate) fn new(layout: &'a Layout) -> Self {
        Self {
            layout,
            locked: None,
        }
    }

    /// The data of shard `index`, locked.
    pub(crate) fn core(&mut self, index: usize) -> &mut Core {
        if self.locked.as_ref().is_some_and(|(held, _)| *held != index) {
            // One shard lock at a time: never two, so no lock order to get wrong.
            self.locked = None;
        }
        let layout = self.layout;
        &mut self
            .locked
            .get_or_insert_with(|| (index, layout.shard(index).lock()))
            .1
    }

    /// Lets the lock go (before anything that waits).
    pub(crate) fn release(&mut self) {
        self.locked = None;
    }
}

/// Which shard a request runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The shard of the request's keys (or the only shard).
    Shard(usize),
    /// A request without keys on a node with several shards: keyspace-wide commands
    /// run on every shard, connection commands on none.
    Every(&'static str),
}

/// Redis Cluster's reply to a request whose keys live in different slots; here, in
/// different shard groups.
pub(crate) const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

/// EVALSHA of a script the cache does not hold.
pub(crate) const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// Other clients' reply while a script has run past `busy-reply-threshold`.
pub(crate) const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// What a script call comes to after its probe.
enum Scripted {
    /// Answered (or moved off the loop): the step to take.
    Done(Step),
    /// It writes: its log op, to append with the writes around it.
    Write(Op),
}

/// The time a script's TIME answers, Unix µs: the clock, never before `now_ms`.
fn now_us(now_ms: u64) -> u64 {
    crate::clock::now_us().max(now_ms.saturating_mul(1000))
}

/// Redis Cluster's reply while a slot's group has no leader.
pub(crate) const CLUSTERDOWN: &str = "CLUSTERDOWN The cluster is down";
/// Redis Cluster's reply for a slot no group serves.
pub(crate) const UNSERVED: &str = "CLUSTERDOWN Hash slot not served";

/// `-MOVED` to the node at `addr` for `slot`.
pub(crate) fn moved(slot: u16, addr: &str) -> Reply {
    error_reply(&format!("MOVED {slot} {addr}"))
}

/// The shard of a request's keys: `Err` when they span several, or (on a node of a
/// cluster) when this node does not lead their group: `-MOVED` to the node that does,
/// or `-CLUSTERDOWN` while it is being elected.
pub(crate) fn route(
    layout: &Layout,
    spec: &okapi_commands::CommandSpec,
    argv: &[Bytes],
    stale_reads_ok: bool,
) -> Result<Target, Reply> {
    if layout.is_single() {
        return Ok(Target::Shard(0));
    }
    if let Some(cluster) = layout.cluster_view() {
        let mut slot = None;
        for position in spec.key_indexes(argv) {
            let this = okapi_types::key_slot(&argv[position]).0;
            match slot {
                None => slot = Some(this),
                Some(s) if s != this => return Err(error_reply(&CROSSSLOT)),
                Some(_) => {}
            }
        }
        let Some(slot) = slot else {
            return Ok(Target::Every(spec.name));
        };
        let read = !spec.is_write() && spec.has(flags::READONLY);
        return route_slot(layout, cluster, slot, read, stale_reads_ok).map(Target::Shard);
    }
    let mut target = None;
    for position in spec.key_indexes(argv) {
        let index = layout.index_of(&argv[position]).unwrap_or(0);
        match target {
            None => target = Some(index),
            Some(t) if t != index => return Err(error_reply(&CROSSSLOT)),
            Some(_) => {}
        }
    }
    Ok(target.map_or(Target::Every(spec.name), Target::Shard))
}

/// The local shard that serves `slot`, or the redirect to send instead.
fn route_slot(
    layout: &Layout,
    cluster: &crate::shard::ClusterLayout,
    slot: u16,
    read: bool,
    stale_reads_ok: bool,
) -> Result<usize, Reply> {
    use crate::shard::Serving;
    match layout.serving(slot, read, stale_reads_ok) {
        Serving::Here(index) => Ok(index),
        Serving::Elsewhere(node) => match cluster.client_addr(node) {
            Some(addr) => Err(moved(slot, &addr)),
            None => Err(error_reply(&CLUSTERDOWN)),
        },
        Serving::Electing => Err(error_reply(&CLUSTERDOWN)),
        Serving::Unserved => Err(error_reply(&UNSERVED)),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Connection<S> {
    /// Runs requests from `batch` until it is empty or one needs to wait. Consecutive
    /// writes to one shard are appended to its log together; anything else first waits
    /// for them, so replies keep request order and a read sees the writes before it.
    pub(crate) fn run_until_await(&mut self, batch: &mut VecDeque<Vec<Bytes>>, now: u64) -> Step {
        let shared = self.shared.clone();
        let layout = shared.shards.layout();
        let mut held = Held::new(&layout);
        let mut writes = Writes::default();
        let mut writes_on = 0;
        loop {
            let (action, target, slow) = match self.stash.take() {
                Some(stashed) => stashed,
                None => match batch.pop_front() {
                    Some(argv) => {
                        if let Some(write) = self.held_by_pause(&shared, &argv) {
                            // It runs once the pause ends, after the writes before it.
                            batch.push_front(argv);
                            if !writes.ops.is_empty() {
                                return self.append_writes(
                                    &mut held,
                                    writes_on,
                                    std::mem::take(&mut writes),
                                    now,
                                );
                            }
                            return Step::Paused(write);
                        }
                        let started = std::time::Instant::now();
                        let mut counted = Counted::default();
                        let (action, target) = self.prepare(&layout, &argv, now, &mut counted);
                        (
                            action,
                            target,
                            Some(Slow {
                                argv,
                                started,
                                counted,
                            }),
                        )
                    }
                    None => break,
                },
            };
            let (action, target) = match (action, target) {
                (Action::Write(op), Target::Shard(shard))
                    if writes.ops.is_empty() || writes_on == shard =>
                {
                    writes_on = shard;
                    writes.push(op);
                    if let Some(last) = writes.slow.last_mut() {
                        *last = slow;
                    }
                    continue;
                }
                (Action::Script(call), Target::Shard(shard)) if writes.ops.is_empty() => {
                    let errors_before = self.errors_emitted;
                    match self.probe_script(&shared, &mut held, shard, *call, now) {
                        Scripted::Write(op) => {
                            writes_on = shard;
                            writes.push(op);
                            if let Some(last) = writes.slow.last_mut() {
                                *last = slow;
                            }
                        }
                        Scripted::Done(Step::Next) => {
                            if let Some(slow) = slow {
                                let failed = self.errors_emitted > errors_before;
                                self.record_finished(
                                    &shared,
                                    slow,
                                    std::time::Duration::ZERO,
                                    failed,
                                );
                            }
                        }
                        Scripted::Done(step) => {
                            self.awaiting = slow;
                            return step;
                        }
                    }
                    continue;
                }
                (Action::Script(call), Target::Shard(shard)) if writes_on == shard => {
                    // Writes ahead of it are not applied yet, so a probe would not see
                    // them: the script goes to the log right behind them.
                    match self.script_op(&shared, &layout, layout.shard(shard), &call, now) {
                        Ok(op) => {
                            writes.push(op);
                            if let Some(last) = writes.slow.last_mut() {
                                *last = slow;
                            }
                            continue;
                        }
                        Err(e) => (Action::Reply(error_reply(&e)), Target::Shard(shard)),
                    }
                }
                other => other,
            };
            if !writes.ops.is_empty() {
                self.stash = Some((action, target, slow));
                return self.append_writes(&mut held, writes_on, std::mem::take(&mut writes), now);
            }
            let errors_before = self.errors_emitted;
            let step = match target {
                Target::Shard(shard) => self.perform(&shared, &mut held, shard, action, now),
                Target::Every(name) => {
                    self.perform_everywhere(&shared, &mut held, name, action, now)
                }
            };
            match step {
                Step::Next => {
                    if let Some(slow) = slow {
                        let failed = self.errors_emitted > errors_before;
                        self.record_finished(&shared, slow, std::time::Duration::ZERO, failed);
                    }
                }
                Step::Sleep(pause) => {
                    // DEBUG SLEEP: its reply comes after the sleep, which counts.
                    if let Some(slow) = slow {
                        self.record_finished(&shared, slow, pause, false);
                    }
                    return Step::Sleep(pause);
                }
                // Back in the batch: it is recorded when it runs.
                Step::Paused(write) => return Step::Paused(write),
                other @ Step::AwaitBlockAttempt(..) => {
                    // Counted as it blocks: the time it waits is no time it runs.
                    if let Some(slow) = slow {
                        self.record_finished(&shared, slow, std::time::Duration::ZERO, false);
                    }
                    return other;
                }
                other => {
                    // Recorded once its reply is out (`run_batch`).
                    self.awaiting = slow;
                    return other;
                }
            }
        }
        if writes.ops.is_empty() {
            return Step::Next;
        }
        self.append_writes(&mut held, writes_on, writes, now)
    }

    /// Records a finished request: INFO commandstats (`failed`: it answered an error),
    /// and the latency monitor and SLOWLOG if it took long enough.
    pub(crate) fn record_finished(
        &self,
        shared: &Shared,
        Slow {
            argv,
            started,
            counted:
                Counted {
                    not_run,
                    stat,
                    fast,
                },
        }: Slow,
        still_to_come: std::time::Duration,
        failed: bool,
    ) {
        let took = started.elapsed() + still_to_come;
        let threshold_ms = self.latency_threshold_ms;
        if threshold_ms > 0 && not_run == NotRun::Ran {
            let ms = took.as_millis().min(u128::from(u64::MAX)) as u64;
            if ms >= threshold_ms {
                let event = if fast { "fast-command" } else { "command" };
                shared.latency.add(event, ms, crate::clock::now_ms() / 1000);
            }
        }
        if let Some(slot) = stat {
            match not_run {
                NotRun::Ran => shared.command_stats.ran(
                    slot,
                    took.as_micros().min(u128::from(u64::MAX)) as u64,
                    failed,
                    self.latency_tracking,
                ),
                NotRun::Rejected => shared.command_stats.rejected(slot),
                NotRun::Uncounted => {}
            }
        }
        let (threshold, max_len) = if argv[0].eq_ignore_ascii_case(b"config") {
            // CONFIG SET may just have changed them: Redis judges it by the new ones.
            let settings = shared.settings();
            (settings.slowlog_slower_than_us, settings.slowlog_max_len)
        } else {
            self.slowlog_limits
        };
        if threshold < 0 {
            return;
        }
        let micros = took.as_micros().min(u128::from(u64::MAX)) as u64;
        if micros < threshold as u64 {
            return;
        }
        shared.slowlog.record(
            threshold,
            max_len,
            micros,
            &crate::redact::redact(&argv),
            &self.info.addr,
            self.info.name().unwrap_or_default(),
        );
    }

    /// Whether CLIENT PAUSE holds `argv` back now, and if so whether as a write (a
    /// WRITE pause holds writes, PUBLISH, and an EXEC with a write queued, as Redis's
    /// `may_replicate` rule).
    fn held_by_pause(&self, shared: &Shared, argv: &[Bytes]) -> Option<bool> {
        if shared.pause.holds(false).is_some() {
            return Some(false);
        }
        shared.pause.holds(true)?;
        let writes = |argv: &[Bytes]| {
            okapi_commands::resolve(argv).is_ok_and(|spec| {
                spec.has(flags::WRITE) || matches!(spec.name, "publish" | "spublish")
            })
        };
        let write = writes(argv)
            || (argv[0].eq_ignore_ascii_case(b"exec")
                && self
                    .session
                    .multi
                    .as_ref()
                    .is_some_and(|queue| queue.iter().any(|q| writes(q))));
        write.then_some(true)
    }

    /// Sends `argv` to the MONITOR clients, as Redis prints it: time, namespace and
    /// client address, then each argument quoted (AUTH and HELLO's credentials
    /// redacted).
    fn feed_monitors(&self, argv: &[Bytes]) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = format!(
            "{}.{:06} [{} {}]",
            now.as_secs(),
            now.subsec_micros(),
            self.session.db.0,
            self.info.addr
        )
        .into_bytes();
        for arg in crate::redact::redact(argv) {
            line.push(b' ');
            quote_arg(&mut line, &arg);
        }
        self.shared
            .pubsub
            .feed_monitors(self.info.id, &Bytes::from(line));
    }

    /// Appends writes to shard `shard` (under its lock, so they stay ordered with the
    /// reads before them) and returns the step that waits for their replies.
    fn append_writes(
        &mut self,
        held: &mut Held<'_>,
        shard: usize,
        writes: Writes,
        now: u64,
    ) -> Step {
        held.core(shard);
        let rx = held
            .layout
            .shard(shard)
            .log()
            .append_from(writes.ops, now, self.writer());
        held.release();
        Step::AwaitWrites(
            rx,
            writes.shapes,
            held.layout.shards()[shard].clone(),
            writes.slow,
        )
    }

    /// This connection, as the entries it appends record it.
    pub(crate) fn writer(&self) -> okapi_types::Writer {
        okapi_types::Writer {
            process: self.shared.process_token,
            client: self.info.id,
        }
    }

    fn ctx(&mut self, now: u64, databases: u32, sharded: bool) -> Ctx {
        Ctx {
            db: self.session.db,
            now_ms: now,
            random: self.rng.next_u64(),
            databases,
            sharded,
        }
    }

    /// Looks a request up, checks it may run here and now, routes it to a shard and
    /// parses it. Anything that already has its answer (an error, QUEUED) comes back as
    /// `Action::Reply`, so it waits its turn behind earlier writes.
    fn prepare(
        &mut self,
        layout: &Layout,
        argv: &[Bytes],
        now: u64,
        counted: &mut Counted,
    ) -> (Action, Target) {
        let here = Target::Shard(0);
        let spec = match okapi_commands::resolve(argv) {
            Ok(spec) => spec,
            Err(e) => {
                if self.session.multi.is_some() {
                    self.session.multi_failed = true;
                }
                // A known command with the wrong arity is a rejected call of it.
                counted.not_run = NotRun::Rejected;
                counted.stat = crate::command_stats::slot_of(argv);
                return (Action::Reply(error_reply(&e)), here);
            }
        };
        self.last_cmd = spec.name;
        counted.stat = crate::command_stats::slot_for(spec.name, argv);
        counted.fast = spec.has(flags::FAST);
        // CLIENT CACHING holds for the next command, or the next transaction (EXEC
        // clears it once its commands ran).
        let caching = self.session.caching;
        if caching
            && !matches!(spec.name, "client" | "multi" | "exec")
            && (self.session.multi.is_none() || spec.name == "discard")
        {
            self.session.caching = false;
        }
        if !self.session.authenticated && !spec.has(flags::NO_AUTH) {
            counted.not_run = NotRun::Rejected;
            return (
                Action::Reply(error_reply(&"NOAUTH Authentication required.")),
                here,
            );
        }
        if !spec.has(flags::LOADING) && self.shared.loading.is_loading() {
            counted.not_run = NotRun::Rejected;
            return (
                Action::Reply(error_reply(&crate::loading::LOADING_ERROR)),
                here,
            );
        }
        if okapi_scripting::busy::busy() && !allowed_while_busy(spec.name, argv) {
            counted.not_run = NotRun::Rejected;
            return (Action::Reply(error_reply(&BUSY)), here);
        }
        if self.session.protocol == Protocol::Resp2
            && self.session.subscribed()
            && !SUBSCRIBED_OK.contains(&spec.name)
        {
            counted.not_run = NotRun::Rejected;
            return (
                Action::Reply(error_reply(&format!(
                    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                    spec.name
                ))),
                here,
            );
        }
        let target = match route(layout, spec, argv, self.session.readonly) {
            Ok(target) => target,
            Err(reply) => {
                if self.session.multi.is_some() {
                    self.session.multi_failed = true;
                }
                counted.not_run = NotRun::Rejected;
                return (Action::Reply(reply), here);
            }
        };
        if let Some(queue) = self.session.multi.as_mut()
            && !MULTI_IMMEDIATE.contains(&spec.name)
        {
            if spec.has(flags::NO_MULTI) || spec.has(flags::PUBSUB) && spec.name != "publish" {
                self.session.multi_failed = true;
                counted.not_run = NotRun::Rejected;
                return (
                    Action::Reply(error_reply(&"ERR Command not allowed inside a transaction")),
                    here,
                );
            }
            // A transaction is one entry of one group's log: all its keys in one shard.
            let group = match target {
                Target::Shard(shard) => Some(layout.shard(shard).id()),
                Target::Every(_) if spec.has(flags::WRITE) || spec.has(flags::READONLY) => {
                    self.session.multi_failed = true;
                    counted.not_run = NotRun::Rejected;
                    return (
                        Action::Reply(error_reply(&format!(
                            "ERR {} inside MULTI is not supported on a node with several shard groups",
                            spec.name
                        ))),
                        here,
                    );
                }
                Target::Every(_) => None,
            };
            if let Some(group) = group {
                if self.session.txn_group.is_some_and(|g| g != group) {
                    self.session.multi_failed = true;
                    counted.not_run = NotRun::Rejected;
                    return (Action::Reply(error_reply(&CROSSSLOT)), here);
                }
                self.session.txn_group = Some(group);
            }
            if layout.cluster_view().is_some()
                && let Some(first) = spec.key_indexes(argv).next()
            {
                // As Redis Cluster: one slot per transaction, not only one group.
                let slot = okapi_types::key_slot(&argv[first]).0;
                if self.session.txn_slot.is_some_and(|s| s != slot) {
                    self.session.multi_failed = true;
                    counted.not_run = NotRun::Rejected;
                    return (Action::Reply(error_reply(&CROSSSLOT)), here);
                }
                self.session.txn_slot = Some(slot);
            }
            queue.push(argv.to_vec());
            self.info.multi.store(queue.len() as i64, Ordering::Relaxed);
            counted.not_run = NotRun::Uncounted;
            return (Action::Reply(Reply::Status("QUEUED")), here);
        }
        if self.shared.pubsub.monitored() && !spec.has(flags::ADMIN) {
            // As Redis feeds monitors from `call()`: queued commands when EXEC runs
            // them, before the EXEC line itself.
            if spec.name == "exec"
                && let Some(queue) = &self.session.multi
            {
                for queued in queue {
                    self.feed_monitors(queued);
                }
            }
            self.feed_monitors(argv);
        }
        let ctx = self.ctx(now, self.databases, !layout.is_single());
        let action = match (spec.parse)(&ctx, &argv[1..]) {
            Ok(action) => action,
            Err(e) => {
                // Redis checks arity before the command runs; other argument errors
                // are the command's own (a failed call).
                match e {
                    okapi_commands::CommandError::WrongArity(_) => {
                        counted.not_run = NotRun::Rejected;
                    }
                    okapi_commands::CommandError::UnknownSubcommand { .. } => {
                        counted.not_run = NotRun::Uncounted;
                    }
                    _ => {}
                }
                return (Action::Reply(error_reply(&e)), here);
            }
        };
        if spec.has(flags::DENYOOM) && self.over_memory {
            counted.not_run = NotRun::Rejected;
            return (Action::Reply(error_reply(&crate::log::OVER_MEMORY)), here);
        }
        if matches!(action, Action::Read(_)) {
            self.track_read(spec, argv, caching);
        }
        (action, target)
    }

    /// Client-side caching: remembers the keys a read-only command of a tracking
    /// client reads, before it reads them (a change applied after the read then finds
    /// them remembered).
    fn track_read(&self, spec: &okapi_commands::CommandSpec, argv: &[Bytes], caching: bool) {
        if let Some(mode) = self.session.tracking
            && mode.remembers(caching)
            && spec.has(flags::READONLY)
        {
            let max_keys = self.shared.settings().tracking_table_max_keys;
            self.shared.tracking.remember(
                self.info.id,
                spec.key_indexes(argv).map(|i| &argv[i]),
                max_keys,
            );
        }
    }

    /// Carries out everything but writes (which [`Self::run_until_await`] batches) on
    /// shard `shard`.
    fn perform<'a>(
        &mut self,
        shared: &'a Shared,
        held: &mut Held<'a>,
        shard: usize,
        action: Action,
        now: u64,
    ) -> Step {
        match action {
            Action::Read(query) => {
                let random = self.rng.next_u64();
                let core = held.core(shard);
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
                self.append_writes(held, shard, writes, now)
            }
            Action::Block(blocking) => self.attempt_block(held, shard, blocking, now),
            Action::Reply(reply) => {
                self.emit(&reply);
                Step::Next
            }
            Action::Conn(cmd) => self.connection_command(shared, held, cmd, now),
            Action::Script(call) => self.run_script(shared, held, shard, *call, now),
        }
    }

    /// EVAL and friends: the script is probed under the shard lock; a read-only run
    /// answers at once, a script that writes is appended to the log and runs there.
    fn run_script<'a>(
        &mut self,
        shared: &'a Shared,
        held: &mut Held<'a>,
        shard: usize,
        call: okapi_commands::ScriptCall,
        now: u64,
    ) -> Step {
        match self.probe_script(shared, held, shard, call, now) {
            Scripted::Done(step) => step,
            Scripted::Write(op) => {
                let mut writes = Writes::default();
                writes.push(op);
                self.append_writes(held, shard, writes, now)
            }
        }
    }

    /// Probes a script (reads only, the shard locked for each call): a script that
    /// only reads is answered here; one that writes comes back as its log op; one
    /// that runs long moves off the event loop.
    fn probe_script(
        &mut self,
        shared: &Shared,
        held: &mut Held<'_>,
        shard: usize,
        call: okapi_commands::ScriptCall,
        now: u64,
    ) -> Scripted {
        let layout = held.layout;
        held.release();
        let target = layout.shards()[shard].clone();
        let body = match self.script_body(shared, layout, &target, &call) {
            Ok(body) => body,
            Err(e) => {
                self.emit_error(&e);
                return Scripted::Done(Step::Next);
            }
        };
        let (threshold, limit) = {
            let settings = shared.settings();
            (
                settings.busy_reply_threshold_ms,
                settings.script_instruction_limit,
            )
        };
        okapi_scripting::busy::set_threshold_ms(threshold);
        let probe = body.function.is_some() || shared.scripts.should_probe(&body.sha);
        let script = body.op(&call, now_us(now), layout, limit);
        let invocation = body.invocation(call.db, &script);
        let outcome = if probe {
            let (outcome, _) = okapi_scripting::run::run(
                crate::script_probe::locked(target.clone(), self.databases),
                &invocation,
                okapi_scripting::Mode::Probe {
                    now_ms: now,
                    inline: true,
                },
            );
            if body.function.is_none() {
                shared.scripts.probed(
                    &body.sha,
                    matches!(outcome, okapi_scripting::Outcome::NeedsLog),
                );
            }
            outcome
        } else {
            okapi_scripting::Outcome::NeedsLog
        };
        let from_source = matches!(call.body, okapi_commands::ScriptBody::Source(_));
        let remember = |reply: Option<&Reply>| {
            if from_source && !reply.is_some_and(okapi_scripting::error::is_compile_error) {
                shared.scripts.insert(body.sha.clone(), body.source.clone());
            }
        };
        let op = |script| Op {
            db: call.db,
            kind: okapi_engine::OpKind::Script(Box::new(script)),
        };
        match outcome {
            okapi_scripting::Outcome::Done(reply) => {
                remember(Some(&reply));
                self.emit(&reply);
                Scripted::Done(Step::Next)
            }
            okapi_scripting::Outcome::NeedsLog => {
                remember(None);
                Scripted::Write(op(script))
            }
            okapi_scripting::Outcome::Detach => {
                remember(None);
                Scripted::Done(Step::AwaitReply(crate::script_probe::detached(
                    target,
                    op(script),
                    body,
                    now,
                    self.databases,
                )))
            }
        }
    }

    /// A script call's body: EVAL's own, EVALSHA's from the cache, FCALL's library
    /// from the shard's libraries; `Err` with the reply's text when there is none or
    /// the script's flags refuse it here.
    fn script_body(
        &self,
        shared: &Shared,
        layout: &Layout,
        shard: &crate::shard::Shard,
        call: &okapi_commands::ScriptCall,
    ) -> Result<crate::script_probe::Body, String> {
        let (sha, source, function) = match &call.body {
            okapi_commands::ScriptBody::Source(body) => {
                (okapi_scripting::sha1_hex(body), body.clone(), None)
            }
            okapi_commands::ScriptBody::Sha(sha) => (
                sha.clone(),
                shared
                    .scripts
                    .get_lower(sha)
                    .ok_or_else(|| NOSCRIPT.to_owned())?,
                None,
            ),
            okapi_commands::ScriptBody::Function(name) => {
                let core = shard.lock();
                let (lib, meta) = core
                    .engine
                    .libraries()
                    .find(name)
                    .ok_or_else(|| "ERR Function not found".to_owned())?;
                if let Some(invalid) = &call.invalid {
                    return Err(invalid.clone());
                }
                let flags = okapi_scripting::shebang::Shebang {
                    present: true,
                    no_writes: meta.has("no-writes"),
                    allow_oom: meta.has("allow-oom"),
                    no_cluster: meta.has("no-cluster"),
                    allow_cross_slot_keys: meta.has("allow-cross-slot-keys"),
                };
                let read_only = self.permits(layout, call, flags)?;
                return Ok(crate::script_probe::Body {
                    sha: name.clone(),
                    source: lib.code.clone(),
                    read_only,
                    function: Some((name.clone(), lib.sha.clone())),
                });
            }
        };
        let flags = okapi_scripting::shebang::parse(&source)?;
        let read_only = match self.permits(layout, call, flags) {
            Ok(read_only) => read_only,
            Err(e) => {
                // Redis compiles and caches an EVAL's script before it checks the
                // flags: SCRIPT EXISTS finds it even when this run was refused.
                if matches!(call.body, okapi_commands::ScriptBody::Source(_))
                    && okapi_scripting::vm::check(&source).is_ok()
                {
                    shared.scripts.insert(sha, source);
                }
                return Err(e);
            }
        };
        Ok(crate::script_probe::Body {
            sha,
            source,
            read_only,
            function,
        })
    }

    /// What a script's flags (its shebang, or a function's registration) allow here
    /// and now: `Ok(read_only)`, or Redis's error (a write-flagged script under
    /// `*_RO`, a `no-cluster` script on a cluster, a script that may write while
    /// memory is over `maxmemory` without `allow-oom`).
    fn permits(
        &self,
        layout: &Layout,
        call: &okapi_commands::ScriptCall,
        flags: okapi_scripting::shebang::Shebang,
    ) -> Result<bool, String> {
        if !flags.present {
            return Ok(call.read_only);
        }
        if call.read_only && !flags.no_writes {
            return Err("ERR Can not execute a script with write flag using *_ro command.".into());
        }
        if flags.no_cluster && layout.cluster_view().is_some() {
            return Err("ERR Can not run script on cluster, 'no-cluster' flag is set.".into());
        }
        if self.over_memory && !flags.allow_oom && !flags.no_writes {
            return Err(crate::log::OVER_MEMORY.to_string());
        }
        Ok(flags.no_writes)
    }

    /// The log op of a script call (MULTI, or behind other writes of a batch: no
    /// probe); `Err` with the reply's text when it has no body or its flags refuse it.
    pub(crate) fn script_op(
        &self,
        shared: &Shared,
        layout: &Layout,
        shard: &crate::shard::Shard,
        call: &okapi_commands::ScriptCall,
        now: u64,
    ) -> Result<Op, String> {
        let body = self.script_body(shared, layout, shard, call)?;
        let limit = shared.settings().script_instruction_limit;
        Ok(Op {
            db: call.db,
            kind: okapi_engine::OpKind::Script(Box::new(body.op(call, now_us(now), layout, limit))),
        })
    }

    /// A request without keys on a node with several shards: keyspace-wide reads
    /// merge every shard's answer, keyspace-wide writes go to every shard's log, and
    /// connection commands run as anywhere.
    fn perform_everywhere<'a>(
        &mut self,
        shared: &'a Shared,
        held: &mut Held<'a>,
        name: &'static str,
        action: Action,
        now: u64,
    ) -> Step {
        let layout = held.layout;
        match action {
            Action::Read(query) => {
                let reply = self.query_everywhere(held, name, query, now);
                held.release();
                self.emit(&reply);
                Step::Next
            }
            Action::Write(op) => {
                let pending = layout
                    .everywhere()
                    .into_iter()
                    .map(|shard| {
                        held.core(shard);
                        layout
                            .shard(shard)
                            .log()
                            .append_from(vec![op.clone()], now, self.writer())
                    })
                    .collect();
                held.release();
                Step::AwaitEverywhere(pending)
            }
            Action::Conn(cmd) => self.connection_command(shared, held, cmd, now),
            Action::Reply(reply) => {
                self.emit(&reply);
                Step::Next
            }
            Action::Block(_) => {
                self.emit_error(&format!("ERR {name} needs keys to find its shard group"));
                Step::Next
            }
            // A script without keys may touch none here (see `ScriptOp::sharded`); it
            // runs on the node's first shard.
            Action::Script(call) => {
                let shard = layout.everywhere().first().copied().unwrap_or(0);
                self.run_script(shared, held, shard, *call, now)
            }
        }
    }

    /// DBSIZE, KEYS, RANDOMKEY and SCAN over every shard of the node.
    fn query_everywhere(
        &mut self,
        held: &mut Held<'_>,
        name: &'static str,
        query: okapi_engine::Query,
        now: u64,
    ) -> Reply {
        let layout = held.layout;
        let covered = layout.everywhere();
        let shards = covered.len();
        let ctx = ReadCtx {
            now_ms: now,
            random: self.rng.next_u64(),
        };
        match name {
            "dbsize" => Reply::Int(
                covered
                    .iter()
                    .map(|&s| match held.core(s).engine.query(&query, &ctx) {
                        Reply::Int(n) => n,
                        _ => 0,
                    })
                    .sum(),
            ),
            "keys" => {
                let mut keys = Vec::new();
                for &s in &covered {
                    match held.core(s).engine.query(&query, &ctx) {
                        Reply::Array(part) => keys.extend(part),
                        error @ Reply::Error(_) => return error,
                        _ => {}
                    }
                }
                Reply::Array(keys)
            }
            "randomkey" => {
                if shards == 0 {
                    return Reply::Nil;
                }
                let start = (ctx.random % shards as u64) as usize;
                for s in (0..shards).map(|i| covered[(start + i) % shards]) {
                    match held.core(s).engine.query(&query, &ctx) {
                        Reply::Nil => {}
                        found => return found,
                    }
                }
                Reply::Nil
            }
            "scan" => self.scan_everywhere(held, &covered, query, &ctx),
            // Every shard holds the same libraries (FUNCTION LOAD goes to each).
            "function" => match covered.first() {
                Some(&first) => held.core(first).engine.query(&query, &ctx),
                None => Reply::Array(Vec::new()),
            },
            _ => error_reply(&format!(
                "ERR {name} is not supported on a node with several shard groups"
            )),
        }
    }

    /// One SCAN step: the cursor names a shard in its top byte and that shard's own
    /// cursor below; a shard's last step moves the cursor to the next shard.
    fn scan_everywhere(
        &mut self,
        held: &mut Held<'_>,
        covered: &[usize],
        mut query: okapi_engine::Query,
        ctx: &ReadCtx,
    ) -> Reply {
        let layout = held.layout;
        let okapi_engine::QueryKind::Key(okapi_engine::keys::KeyQuery::Scan { cursor, .. }) =
            &mut query.kind
        else {
            return error_reply(&"ERR SCAN expected");
        };
        let Some((position, inner)) = layout.scan_cursor(*cursor, covered.len()) else {
            return error_reply(&"ERR invalid cursor");
        };
        let Some(&shard) = covered.get(position) else {
            // Nothing to scan (a cluster node that leads no group yet).
            return Reply::Array(vec![Reply::Bulk("0".into()), Reply::Array(Vec::new())]);
        };
        *cursor = inner;
        match held.core(shard).engine.query(&query, ctx) {
            Reply::Array(mut parts) if parts.len() == 2 => {
                let next = match &parts[0] {
                    Reply::Bulk(b) => std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()),
                    _ => None,
                };
                let Some(next) = next else {
                    return Reply::Array(parts);
                };
                parts[0] = Reply::Bulk(
                    layout
                        .node_cursor(position, next, covered.len())
                        .to_string()
                        .into(),
                );
                Reply::Array(parts)
            }
            other => other,
        }
    }

    /// Runs a blocking command's attempt on shard `shard`; when it finds nothing,
    /// registers the client as blocked (or reports the attempt is still in flight).
    pub(crate) fn attempt_block(
        &mut self,
        held: &mut Held<'_>,
        shard: usize,
        blocking: Box<Blocking>,
        now: u64,
    ) -> Step {
        let mut blocking = blocking;
        let core = held.core(shard);
        let nothing_yet = || {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _ = tx.send(Ok(vec![Reply::Nil]));
            rx
        };
        let rx = match &blocking.attempt {
            // Nothing to pop: the client blocks without writing an entry (it re-checks
            // under the lock before it registers, in case data arrived meanwhile).
            Attempt::Write(_)
                if matches!(blocking.wait, okapi_engine::Wait::Data(_))
                    && !crate::blocking::BlockRegistry::any_exists(
                        &core.engine,
                        blocking.db,
                        &blocking.keys,
                        now,
                    ) =>
            {
                nothing_yet()
            }
            Attempt::Write(op) => {
                held.layout
                    .shard(shard)
                    .log()
                    .append_from(vec![op.clone()], now, self.writer())
            }
            Attempt::Read(query) => {
                let ctx = okapi_engine::ReadCtx {
                    now_ms: now,
                    random: self.rng.next_u64(),
                };
                let reply = core.engine.query(query, &ctx);
                if crate::blocking::is_empty_reply(&reply) {
                    // `$` means the last ID as of now, under this same lock.
                    core.engine.pin_wait(&mut blocking.wait, now);
                    nothing_yet()
                } else {
                    crate::blocking::ready_reply(reply)
                }
            }
        };
        held.release();
        let shard = held.layout.shards()[shard].clone();
        Step::AwaitBlockAttempt(blocking, shard, rx)
    }

    /// EXEC: parses the queue in order (SELECT inside MULTI changes the namespace of the
    /// commands after it), then applies every engine command as one transaction op on
    /// the shard all its keys (and the watched ones) live in.
    pub(crate) fn exec(&mut self, shared: &Shared, held: &mut Held<'_>, now: u64) -> Step {
        let Some(queue) = self.session.multi.take() else {
            self.emit_error(&"ERR EXEC without MULTI");
            return Step::Next;
        };
        self.info.multi.store(-1, Ordering::Relaxed);
        let watched = std::mem::take(&mut self.session.watched);
        let group = self.session.txn_group.take();
        let watched_group = self.session.watch_group.take();
        self.session.txn_slot = None;
        if std::mem::take(&mut self.session.multi_failed) {
            self.emit_error(&"EXECABORT Transaction discarded because of previous errors.");
            return Step::Next;
        }
        let layout = held.layout;
        let group = match (group, watched_group) {
            (Some(a), Some(b)) if a != b => {
                self.emit_error(&CROSSSLOT);
                return Step::Next;
            }
            (a, b) => a.or(b),
        };
        let shard = match group {
            None => 0,
            Some(id) => match layout.shards().iter().position(|s| s.id() == id) {
                Some(shard) => shard,
                None => {
                    self.emit_error(&"EXECABORT the shard group of this transaction moved away");
                    return Step::Next;
                }
            },
        };
        let databases = self.databases;
        let caching = std::mem::take(&mut self.session.caching);
        let stats: Vec<Option<usize>> = queue
            .iter()
            .map(|argv| crate::command_stats::slot_of(argv))
            .collect();
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
                sharded: !layout.is_single(),
            };
            let parsed = okapi_commands::parse(&ctx, &argv);
            let slot = match parsed {
                Err(e) => Some(error_reply(&e)),
                Ok((spec, _)) if spec.has(flags::DENYOOM) && self.over_memory => {
                    Some(error_reply(&crate::log::OVER_MEMORY))
                }
                Ok((spec, Action::Read(query))) => {
                    self.track_read(spec, &argv, caching);
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
                    match blocking.attempt {
                        Attempt::Write(op) => {
                            has_write = true;
                            items.push(okapi_engine::TxnItem::Write(op));
                        }
                        Attempt::Read(query) => items.push(okapi_engine::TxnItem::Read(query)),
                    }
                    None
                }
                Ok((_, Action::Reply(reply))) => Some(reply),
                Ok((_, Action::Script(call))) => {
                    match self.script_op(shared, layout, layout.shard(shard), &call, now) {
                        Ok(op) => {
                            // Inside MULTI a script always goes through the log.
                            has_write = true;
                            items.push(okapi_engine::TxnItem::Write(op));
                            None
                        }
                        Err(e) => Some(error_reply(&e)),
                    }
                }
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
            let core = held.core(shard);
            if has_write {
                let op = okapi_engine::Op {
                    db: self.session.db,
                    kind: okapi_engine::OpKind::Txn(txn),
                };
                let rx = layout
                    .shard(shard)
                    .log()
                    .append_from(vec![op], now, self.writer());
                held.release();
                return Step::AwaitExec(rx, slots, stats);
            } else {
                // Reads only: atomic under the shard lock, no log entry needed.
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
        let merged = merge_exec(slots, engine_replies);
        self.count_exec(stats, &merged);
        self.emit(&merged);
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
            ConnCmd::Wait { .. } => Reply::Int(0),
            ConnCmd::LastSave => Reply::Int(crate::admin::last_save(shared) as i64),
            ConnCmd::ReadMode(_) => Reply::Ok,
            ConnCmd::Monitor => error_reply(&"ERR MONITOR isn't allowed for DENY BLOCKING client"),
            _ => error_reply(&"ERR Command not allowed inside a transaction"),
        }
    }
}

/// What a client may still run while a script is busy (Redis's `allow-busy`).
fn allowed_while_busy(name: &str, argv: &[Bytes]) -> bool {
    match name {
        "auth" | "hello" | "shutdown" | "quit" | "reset" => true,
        "script" => argv
            .get(1)
            .is_some_and(|sub| sub.eq_ignore_ascii_case(b"kill")),
        _ => false,
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

/// `sdscatrepr`: a quoted argument with C escapes for quotes, backslashes, control
/// characters and bytes outside printable ASCII.
fn quote_arg(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'"');
    for &b in arg {
        match b {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}
