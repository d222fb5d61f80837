//! Connection and server commands: HELLO, AUTH, SELECT, CLIENT, MULTI/WATCH, pub/sub,
//! CONFIG, INFO, TIME, SHUTDOWN.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use okapi_commands::{ClientCmd, ConnCmd, KillFilter, ReplyMode};
use okapi_engine::{Reply, WatchCheck};
use okapi_resp::Protocol;
use okapi_resp::encoder as enc;
use okapi_types::Namespace;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::clock::now_us;
use crate::connection::{Connection, Step};
use crate::execute::Held;
use crate::execute::error_reply;
use crate::pubsub::Subscriber;
use crate::shared::Shared;

/// TIME's reply: Unix seconds and microseconds.
pub(crate) fn time_reply() -> Reply {
    let us = now_us();
    Reply::Array(vec![
        Reply::bulk_int((us / 1_000_000) as i64),
        Reply::bulk_int((us % 1_000_000) as i64),
    ])
}

/// LASTSAVE: when the last snapshot finished, or the start time before any.
pub(crate) fn last_save(shared: &Shared) -> u64 {
    shared
        .durability
        .get()
        .map(|d| d.last_save())
        .filter(|&t| t > 0)
        .unwrap_or(shared.started_unix_ms() / 1000)
}

/// CONFIG GET's reply.
pub(crate) fn config_get(shared: &Shared, patterns: &[Bytes]) -> Reply {
    let settings = shared.settings();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pattern in patterns {
        for (name, value) in settings.config_get(pattern) {
            if !pairs.iter().any(|(n, _)| *n == name) {
                pairs.push((name, value));
            }
        }
    }
    Reply::Map(
        pairs
            .into_iter()
            .map(|(n, v)| (Reply::bulk(n.as_bytes()), Reply::bulk(v.as_bytes())))
            .collect(),
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Connection<S> {
    pub(crate) fn connection_command<'a>(
        &mut self,
        shared: &'a Shared,
        held: &mut Held<'a>,
        cmd: ConnCmd,
        now: u64,
    ) -> Step {
        let reply = match cmd {
            ConnCmd::Ping(message) => {
                if self.session.subscribed() && self.session.protocol == Protocol::Resp2 {
                    Reply::Array(vec![
                        Reply::bulk(b"pong"),
                        Reply::Bulk(message.unwrap_or_default()),
                    ])
                } else {
                    message.map_or(Reply::Status("PONG"), Reply::Bulk)
                }
            }
            ConnCmd::Echo(message) => Reply::Bulk(message),
            ConnCmd::Quit => {
                self.emit(&Reply::Ok);
                return Step::Close;
            }
            ConnCmd::Reset => {
                self.reset(shared, held);
                Reply::Status("RESET")
            }
            ConnCmd::Hello {
                protocol,
                auth,
                setname,
            } => self.hello(shared, protocol, auth, setname),
            ConnCmd::Auth { user, password } => self.auth(shared, user.as_deref(), &password),
            ConnCmd::Select(n) => {
                if n < 0 || n >= i64::from(self.databases) {
                    Reply::Error(okapi_engine::EngineError::DbIndexOutOfRange)
                } else {
                    self.session.db = Namespace(n as u32);
                    self.info.db.store(n as u32, Ordering::Relaxed);
                    Reply::Ok
                }
            }
            ConnCmd::Client(cmd) => match self.client(shared, held, cmd) {
                Some(reply) => reply,
                None => return Step::Next,
            },
            ConnCmd::Multi => {
                if self.session.multi.is_some() {
                    error_reply(&"ERR MULTI calls can not be nested")
                } else {
                    self.session.multi = Some(Vec::new());
                    self.session.txn_group = None;
                    self.session.txn_slot = None;
                    self.info.multi.store(0, Ordering::Relaxed);
                    Reply::Ok
                }
            }
            ConnCmd::Exec => return self.exec(shared, held, now),
            ConnCmd::Discard => {
                if self.session.multi.take().is_none() {
                    error_reply(&"ERR DISCARD without MULTI")
                } else {
                    self.session.multi_failed = false;
                    self.session.watched.clear();
                    self.session.watch_group = None;
                    self.session.txn_group = None;
                    self.session.txn_slot = None;
                    self.info.multi.store(-1, Ordering::Relaxed);
                    Reply::Ok
                }
            }
            ConnCmd::Watch(keys) => {
                if self.session.multi.is_some() {
                    error_reply(&"ERR WATCH inside MULTI is not allowed")
                } else {
                    let db = self.session.db;
                    let layout = held.layout;
                    let shard = match watch_shard(layout, &keys) {
                        Ok(shard) => shard,
                        Err(reply) => {
                            self.emit(&reply);
                            return Step::Next;
                        }
                    };
                    let group = layout.shard(shard).id();
                    if self.session.watch_group.is_some_and(|g| g != group) {
                        self.emit_error(&crate::execute::CROSSSLOT);
                        return Step::Next;
                    }
                    self.session.watch_group = Some(group);
                    let core = held.core(shard);
                    for key in keys {
                        if let Some(stamp) = core.engine.watch_stamp(db, &key, now)
                            && !self
                                .session
                                .watched
                                .iter()
                                .any(|w| w.db == db && w.key == key)
                        {
                            self.session.watched.push(WatchCheck { db, key, stamp });
                        }
                    }
                    Reply::Ok
                }
            }
            ConnCmd::Unwatch => {
                self.session.watched.clear();
                self.session.watch_group = None;
                Reply::Ok
            }
            ConnCmd::Subscribe(channels) => {
                self.subscribe(shared, channels, false);
                return Step::Next;
            }
            ConnCmd::PSubscribe(patterns) => {
                self.subscribe(shared, patterns, true);
                return Step::Next;
            }
            ConnCmd::Unsubscribe(channels) => {
                self.unsubscribe(shared, channels, false);
                return Step::Next;
            }
            ConnCmd::PUnsubscribe(patterns) => {
                self.unsubscribe(shared, patterns, true);
                return Step::Next;
            }
            ConnCmd::Publish { channel, message } => {
                let receivers = shared.pubsub.publish(&channel, &message);
                shared.stats.pubsub_messages.fetch_add(1, Ordering::Relaxed);
                Reply::Int(receivers as i64)
            }
            ConnCmd::PubSubChannels(pattern) => {
                Reply::bulks(shared.pubsub.channels(pattern.as_deref()))
            }
            // A flat [channel, count, ...] array in RESP3 too, as Redis 7.0 replies (a
            // map breaks clients that parse Redis's shape, redis-py among them).
            ConnCmd::PubSubNumSub(channels) => Reply::Array(
                shared
                    .pubsub
                    .numsub(&channels)
                    .into_iter()
                    .flat_map(|(c, n)| [Reply::Bulk(c), Reply::Int(n as i64)])
                    .collect(),
            ),
            ConnCmd::PubSubNumPat => Reply::Int(shared.pubsub.numpat() as i64),
            ConnCmd::Info(sections) => {
                held.release();
                Reply::Text(crate::info::render(shared, &sections))
            }
            ConnCmd::ConfigGet(patterns) => config_get(shared, &patterns),
            ConnCmd::ConfigSet(pairs) => self.config_set(shared, pairs),
            ConnCmd::ConfigResetStat => {
                shared.stats.reset();
                shared.command_stats.reset();
                for shard in shared.shards.all() {
                    shard.lock().engine.reset_stats();
                }
                Reply::Ok
            }
            ConnCmd::ConfigRewrite => {
                error_reply(&"ERR CONFIG REWRITE is not supported by okapi: edit okapi.toml")
            }
            ConnCmd::Time => time_reply(),
            ConnCmd::Wait {
                replicas,
                timeout_ms,
            } => match self.last_write.clone() {
                // Nothing written yet, or a standalone node (no replicas).
                None => Reply::Int(0),
                Some(shard) => {
                    held.release();
                    let index = shard.log().last_index();
                    return Step::AwaitReplicas {
                        shard,
                        index,
                        replicas,
                        timeout_ms,
                    };
                }
            },
            ConnCmd::Shutdown { save } => {
                tracing::info!(client = self.info.id, "SHUTDOWN requested by a client");
                if save == Some(false) {
                    // Every acknowledged write is in the log: skipping the snapshot only
                    // makes the next start replay it.
                    shared.skip_shutdown_snapshot.store(true, Ordering::Relaxed);
                }
                shared.request_shutdown();
                return Step::Close;
            }
            ConnCmd::ShutdownAbort => error_reply(&"ERR No shutdown in progress."),
            ConnCmd::LastSave => Reply::Int(last_save(shared) as i64),
            ConnCmd::SlowLogGet(count) => shared.slowlog.get(count),
            ConnCmd::SlowLogLen => Reply::Int(shared.slowlog.len() as i64),
            ConnCmd::Script(cmd) => script_command(shared, cmd),
            ConnCmd::SlowLogReset => {
                shared.slowlog.reset();
                Reply::Ok
            }
            ConnCmd::LatencyLatest => Reply::Array(
                shared
                    .latency
                    .latest()
                    .into_iter()
                    .map(|(event, time, latest, max)| {
                        Reply::Array(vec![
                            Reply::bulk(event.as_bytes()),
                            Reply::Int(time as i64),
                            Reply::Int(latest as i64),
                            Reply::Int(max as i64),
                        ])
                    })
                    .collect(),
            ),
            ConnCmd::LatencyHistory(event) => Reply::Array(
                shared
                    .latency
                    .history(&event)
                    .into_iter()
                    .map(|(time, ms)| {
                        Reply::Array(vec![Reply::Int(time as i64), Reply::Int(ms as i64)])
                    })
                    .collect(),
            ),
            ConnCmd::LatencyReset(events) => {
                let events: Vec<&[u8]> = events.iter().map(|e| e.as_ref()).collect();
                Reply::Int(shared.latency.reset(&events) as i64)
            }
            ConnCmd::LatencyGraph(event) => match shared.latency.graph(&event) {
                Some(graph) => Reply::Text(graph),
                None => error_reply(&format!(
                    "ERR No samples available for event '{}'",
                    String::from_utf8_lossy(&event)
                )),
            },
            ConnCmd::LatencyDoctor => Reply::Text(
                shared
                    .latency
                    .doctor(shared.settings().latency_monitor_threshold_ms),
            ),
            ConnCmd::LatencyHistogram(names) => Reply::Map(
                shared
                    .command_stats
                    .histograms(&names)
                    .into_iter()
                    .map(|h| {
                        let crate::command_stats::Histogram {
                            name,
                            calls,
                            buckets,
                        } = h;
                        (
                            Reply::bulk(name.as_bytes()),
                            Reply::Map(vec![
                                (Reply::bulk(b"calls"), Reply::Int(calls as i64)),
                                (
                                    Reply::bulk(b"histogram_usec"),
                                    Reply::Map(
                                        buckets
                                            .into_iter()
                                            .map(|(usec, count)| {
                                                (Reply::Int(usec as i64), Reply::Int(count as i64))
                                            })
                                            .collect(),
                                    ),
                                ),
                            ]),
                        )
                    })
                    .collect(),
            ),
            ConnCmd::Monitor => {
                let sub = self.subscriber(shared);
                shared.pubsub.monitor(self.info.id, &sub);
                self.info.monitor.store(true, Ordering::Relaxed);
                Reply::Ok
            }
            ConnCmd::Save => match shared.durability.get() {
                Some(durability) => {
                    held.release();
                    let save = durability.save();
                    return Step::AwaitReply(Box::pin(async move {
                        match save.await {
                            Ok(()) => Reply::Ok,
                            Err(e) => crate::connection::log_error(&crate::log::LogError::Refused(
                                format!("ERR {e}"),
                            )),
                        }
                    }));
                }
                None => error_reply(&"ERR this node keeps no data on disk (in-memory log)"),
            },
            ConnCmd::BgSave { schedule } => {
                match shared.durability.get().map(|d| d.bgsave(schedule)) {
                    Some(Ok(status)) => Reply::Status(status),
                    Some(Err(e)) => error_reply(&format!("ERR {e}")),
                    None => error_reply(&"ERR this node keeps no data on disk (in-memory log)"),
                }
            }
            ConnCmd::ReadMode(readonly) => {
                self.session.readonly = readonly;
                Reply::Ok
            }
            ConnCmd::Asking => Reply::Ok,
            ConnCmd::Cluster(cmd) => match self.cluster_command(shared, held, cmd) {
                Ok(reply) => reply,
                Err(wait) => return Step::AwaitReply(wait),
            },
            ConnCmd::DebugSleep(secs) => {
                held.release();
                return Step::Sleep(Duration::from_secs_f64(secs));
            }
            ConnCmd::MemoryStats => {
                held.release();
                let used = shared.used_memory();
                let peak = shared.memory_peak.load(Ordering::Relaxed).max(used);
                let rss = crate::info::rss_bytes();
                let keys = shared.shards.key_count();
                let field = |name: &str, v: Reply| (Reply::bulk(name.as_bytes()), v);
                let int = |n: u64| Reply::Int(n as i64);
                Reply::Map(vec![
                    field("peak.allocated", int(peak)),
                    field("total.allocated", int(used)),
                    field("keys.count", int(keys)),
                    field(
                        "keys.bytes-per-key",
                        int(used.checked_div(keys).unwrap_or(0)),
                    ),
                    field("dataset.bytes", int(used)),
                    field("allocator.allocated", int(used)),
                    field("allocator.resident", int(rss)),
                    field(
                        "fragmentation",
                        Reply::Double(if used == 0 {
                            0.0
                        } else {
                            rss as f64 / used as f64
                        }),
                    ),
                ])
            }
            ConnCmd::Digest { per_group } => {
                let layout = held.layout;
                if per_group {
                    Reply::Array(
                        (0..layout.shards().len())
                            .map(|i| {
                                let digest = held.core(i).engine.digest();
                                Reply::Array(vec![
                                    Reply::Int(layout.shard(i).id().0 as i64),
                                    Reply::Bulk(digest.to_string().into()),
                                ])
                            })
                            .collect(),
                    )
                } else {
                    let digest = layout
                        .everywhere()
                        .into_iter()
                        .map(|i| held.core(i).engine.digest())
                        .fold(okapi_engine::digest::Digest::default(), |a, b| a + b);
                    // Redis sends a status line; a bulk string reads the same to clients.
                    Reply::Bulk(digest.to_string().into())
                }
            }
        };
        self.emit(&reply);
        Step::Next
    }

    /// A CLUSTER subcommand; `Err` carries the reply to wait for (a map change).
    fn cluster_command(
        &mut self,
        shared: &Shared,
        held: &mut Held<'_>,
        cmd: okapi_commands::ClusterCmd,
    ) -> Result<Reply, crate::durability::BoxFuture<Reply>> {
        use okapi_commands::ClusterCmd;
        let layout = held.layout;
        let (Some(control), Some(cluster)) = (shared.cluster.get(), layout.cluster_view()) else {
            return Ok(error_reply(&crate::cluster::DISABLED));
        };
        Ok(match cmd {
            ClusterCmd::Info => crate::cluster::info(layout, cluster),
            ClusterCmd::MyId => crate::cluster::myid(cluster),
            ClusterCmd::Slots => crate::cluster::slots(layout, cluster),
            ClusterCmd::Shards => crate::cluster::shards(layout, cluster),
            ClusterCmd::Nodes => crate::cluster::nodes(layout, cluster),
            ClusterCmd::CountKeysInSlot(slot) | ClusterCmd::GetKeysInSlot(slot, _) => {
                let limit = match cmd {
                    ClusterCmd::GetKeysInSlot(_, count) => Some(count),
                    _ => None,
                };
                let keys: Vec<Bytes> = match crate::cluster::local_shard_of(cluster, slot) {
                    None => Vec::new(),
                    Some(shard) => {
                        let db = self.session.db;
                        let core = held.core(shard);
                        let now = crate::clock::now_ms();
                        core.engine
                            .space(db)
                            .map(|ks| {
                                ks.iter(now)
                                    .map(|(k, _)| k)
                                    .filter(|k| okapi_types::key_slot(k.as_bytes()).0 == slot)
                                    .take(limit.unwrap_or(usize::MAX))
                                    .map(|k| k.to_bytes())
                                    .collect()
                            })
                            .unwrap_or_default()
                    }
                };
                match limit {
                    Some(_) => Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
                    None => Reply::Int(keys.len() as i64),
                }
            }
            ClusterCmd::OkapiNode => Reply::Array(vec![
                Reply::Bulk(okapi_cluster::map::node_name(control.node_id()).into()),
                Reply::Int(i64::from(control.cluster_port())),
            ]),
            ClusterCmd::OkapiSetMap(map) => {
                held.release();
                let set = control.set_map(map);
                return Err(Box::pin(async move {
                    match set.await {
                        Ok(()) => Reply::Ok,
                        Err(e) => error_reply(&e),
                    }
                }));
            }
            ClusterCmd::OkapiChange(asked) => {
                return Err(Self::map_change(held, control, map_change_of(asked)));
            }
            ClusterCmd::OkapiGroups => crate::cluster::led_groups(control.led_groups()),
            ClusterCmd::OkapiMap => match &cluster.map {
                Some(map) => Reply::Bulk(map.encode_versioned()),
                None => Reply::Nil,
            },
        })
    }

    /// The reply of a map change: the new epoch, or 0 when nothing changed.
    fn map_change(
        held: &mut Held<'_>,
        control: &std::sync::Arc<dyn crate::cluster::ClusterControl>,
        change: crate::cluster::MapChange,
    ) -> crate::durability::BoxFuture<Reply> {
        held.release();
        let change = control.change(change);
        Box::pin(async move {
            match change.await {
                Ok(epoch) => Reply::Int(epoch.map_or(0, |e| e as i64)),
                Err(e) => error_reply(&e),
            }
        })
    }

    fn reset<'a>(&mut self, shared: &'a Shared, held: &mut Held<'a>) {
        self.session.multi = None;
        self.session.multi_failed = false;
        self.session.watched.clear();
        self.session.watch_group = None;
        self.session.txn_group = None;
        self.session.txn_slot = None;
        self.unsubscribe_all(shared);
        self.session.db = Namespace(0);
        self.session.protocol = Protocol::Resp2;
        self.session.replies_off = false;
        self.session.readonly = false;
        self.session.skip_next = false;
        self.session.authenticated = shared.settings().requirepass.is_none();
        self.info.db.store(0, Ordering::Relaxed);
        self.info.resp.store(2, Ordering::Relaxed);
        self.info.multi.store(-1, Ordering::Relaxed);
        self.info.set_name(None);
        held.release();
        for shard in held.layout.shards() {
            let mut core = shard.lock();
            let core = &mut *core;
            core.blocked.remove(&mut core.engine, self.info.id);
        }
    }

    fn check_password(
        &self,
        shared: &Shared,
        user: Option<&[u8]>,
        password: &[u8],
    ) -> Result<(), Reply> {
        if crate::access::password_ok(&shared.settings(), user, password) {
            Ok(())
        } else {
            Err(error_reply(
                &"WRONGPASS invalid username-password pair or user is disabled.",
            ))
        }
    }

    fn auth(&mut self, shared: &Shared, user: Option<&[u8]>, password: &[u8]) -> Reply {
        if user.is_none() && shared.settings().requirepass.is_none() {
            return error_reply(
                &"ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            );
        }
        match self.check_password(shared, user, password) {
            Ok(()) => {
                self.session.authenticated = true;
                self.info.set_user("default");
                Reply::Ok
            }
            Err(e) => e,
        }
    }

    fn hello(
        &mut self,
        shared: &Shared,
        protocol: Option<i64>,
        auth: Option<(Bytes, Bytes)>,
        setname: Option<Bytes>,
    ) -> Reply {
        let protocol = match protocol {
            None => None,
            Some(2) => Some(Protocol::Resp2),
            Some(3) => Some(Protocol::Resp3),
            Some(_) => return error_reply(&"NOPROTO unsupported protocol version"),
        };
        if let Some((user, password)) = &auth {
            if let Err(e) = self.check_password(shared, Some(user), password) {
                return e;
            }
            self.session.authenticated = true;
        }
        if !self.session.authenticated {
            return error_reply(
                &"NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
            );
        }
        if let Some(name) = setname {
            if !okapi_commands::connection::valid_client_name(&name) {
                return error_reply(
                    &"ERR Client names cannot contain spaces, newlines or special characters.",
                );
            }
            self.info.set_name(Some(name));
        }
        if let Some(protocol) = protocol {
            self.session.protocol = protocol;
            self.info.resp.store(
                if protocol == Protocol::Resp3 { 3 } else { 2 },
                Ordering::Relaxed,
            );
            if protocol == Protocol::Resp3 {
                // A RESP3 connection takes pushes at any time: other clients may
                // redirect their invalidations to it without it subscribing (as Redis).
                self.subscriber(shared);
            }
        }
        let field = |k: &str, v: Reply| (Reply::bulk(k.as_bytes()), v);
        Reply::Map(vec![
            field("server", Reply::bulk(b"redis")),
            field(
                "version",
                Reply::bulk(crate::info::REDIS_VERSION.as_bytes()),
            ),
            field(
                "proto",
                Reply::Int(if self.session.protocol == Protocol::Resp3 {
                    3
                } else {
                    2
                }),
            ),
            field("id", Reply::Int(self.info.id as i64)),
            field("mode", Reply::bulk(b"standalone")),
            field("role", Reply::bulk(b"master")),
            field("modules", Reply::Array(Vec::new())),
            field(
                "okapi-version",
                Reply::bulk(env!("CARGO_PKG_VERSION").as_bytes()),
            ),
        ])
    }

    fn config_set(&mut self, shared: &Shared, pairs: Vec<(Bytes, Bytes)>) -> Reply {
        let mut settings = shared.settings_mut();
        let mut updated = settings.clone();
        for (name, value) in &pairs {
            let name = String::from_utf8_lossy(name);
            if let Err(reason) = updated.config_set(&name, &String::from_utf8_lossy(value)) {
                return error_reply(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
                ));
            }
        }
        if let Some((_, policy)) = pairs
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(b"appendfsync"))
            && let Some(durability) = shared.durability.get()
            && let Err(e) = durability.set_appendfsync(&String::from_utf8_lossy(policy))
        {
            return error_reply(&format!(
                "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - {e}"
            ));
        }
        if updated.loglevel != settings.loglevel
            && let Some(logging) = shared.logging.get()
        {
            logging.set_level(updated.loglevel);
        }
        shared.notify.set(updated.notify_keyspace_events);
        *settings = updated;
        Reply::Ok
    }

    fn client<'a>(
        &mut self,
        shared: &'a Shared,
        held: &mut Held<'a>,
        cmd: ClientCmd,
    ) -> Option<Reply> {
        Some(match cmd {
            ClientCmd::Id => Reply::Int(self.info.id as i64),
            ClientCmd::SetName(name) => {
                self.info.set_name(Some(name));
                Reply::Ok
            }
            ClientCmd::GetName => Reply::opt_bulk(self.info.name()),
            ClientCmd::List { ids, kind } => {
                let mut text = String::new();
                for client in shared.clients.all() {
                    if ids.as_ref().is_some_and(|ids| !ids.contains(&client.id)) {
                        continue;
                    }
                    if let Some(kind) = &kind {
                        let is_pubsub = client.is_pubsub();
                        let matches = match kind.to_ascii_lowercase().as_slice() {
                            b"normal" => !is_pubsub,
                            b"pubsub" => is_pubsub,
                            b"master" | b"replica" | b"slave" => false,
                            _ => {
                                return Some(error_reply(&format!(
                                    "ERR Unknown client type '{}'",
                                    String::from_utf8_lossy(kind)
                                )));
                            }
                        };
                        if !matches {
                            continue;
                        }
                    }
                    text.push_str(&client.describe(shared.tracking.view(client.id).as_ref()));
                    text.push('\n');
                }
                Reply::Text(text)
            }
            ClientCmd::Info => Reply::Text(format!(
                "{}\n",
                self.info
                    .describe(shared.tracking.view(self.info.id).as_ref())
            )),
            ClientCmd::Kill(filter) => self.kill(shared, &filter),
            ClientCmd::SetInfo { attr, value } => {
                self.info
                    .set_lib(attr.eq_ignore_ascii_case(b"lib-ver"), value);
                Reply::Ok
            }
            ClientCmd::Flag => Reply::Ok,
            ClientCmd::Pause {
                timeout_ms,
                writes_only,
            } => {
                if timeout_ms > 0 {
                    let mode = if writes_only {
                        crate::pause::PauseMode::Write
                    } else {
                        crate::pause::PauseMode::All
                    };
                    let until = tokio::time::Instant::now()
                        + std::time::Duration::from_millis(timeout_ms.min(u64::MAX / 4_000_000));
                    shared.pause.pause(until, mode);
                }
                Reply::Ok
            }
            ClientCmd::Unpause => {
                shared.pause.unpause();
                Reply::Ok
            }
            ClientCmd::Tracking {
                on,
                redirect,
                bcast,
                prefixes,
                optin,
                optout,
                noloop,
            } => self.client_tracking(
                shared,
                on,
                redirect,
                crate::tracking::TrackingOptions {
                    redirect: 0,
                    bcast,
                    optin,
                    optout,
                    prefixes,
                    noloop,
                },
            ),
            ClientCmd::Caching(yes) => match self.session.tracking {
                None => error_reply(
                    &"ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
                ),
                Some(mode) if yes && !mode.optin => error_reply(
                    &"ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
                ),
                Some(mode) if !yes && !mode.optout => error_reply(
                    &"ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
                ),
                Some(_) => {
                    self.session.caching = true;
                    Reply::Ok
                }
            },
            ClientCmd::GetRedir => match shared.tracking.view(self.info.id) {
                Some(view) => Reply::Int(view.options.redirect as i64),
                None => Reply::Int(-1),
            },
            ClientCmd::TrackingInfo => self.tracking_info(shared),
            ClientCmd::Unblock { id, error } => {
                held.release();
                Reply::flag(held.layout.shards().iter().any(|shard| {
                    let mut core = shard.lock();
                    let core = &mut *core;
                    core.blocked.unblock(&mut core.engine, id, error)
                }))
            }
            ClientCmd::Reply(mode) => match mode {
                ReplyMode::On => {
                    self.session.replies_off = false;
                    Reply::Ok
                }
                ReplyMode::Off => {
                    self.session.replies_off = true;
                    return None;
                }
                ReplyMode::Skip => {
                    self.session.skip_next = true;
                    return None;
                }
            },
        })
    }

    fn kill(&mut self, shared: &Shared, filter: &KillFilter) -> Reply {
        let mut killed = 0;
        for client in shared.clients.all() {
            if filter.skip_me && client.id == self.info.id {
                continue;
            }
            let matches = filter
                .addr
                .as_ref()
                .is_none_or(|a| a.as_ref() == client.addr.as_bytes())
                && filter
                    .laddr
                    .as_ref()
                    .is_none_or(|a| a.as_ref() == client.laddr.as_bytes())
                && filter.id.is_none_or(|id| id == client.id)
                && filter
                    .user
                    .as_ref()
                    .is_none_or(|u| u.as_ref() == client.user().as_bytes())
                && filter.kind.as_ref().is_none_or(|k| {
                    let k = k.to_ascii_lowercase();
                    (k == b"pubsub") == client.is_pubsub()
                        && k != b"master"
                        && k != b"replica"
                        && k != b"slave"
                });
            if matches {
                client.kill();
                killed += 1;
            }
        }
        if filter.legacy {
            return if killed > 0 {
                Reply::Ok
            } else {
                error_reply(&"ERR No such client")
            };
        }
        Reply::Int(killed)
    }

    fn client_tracking(
        &mut self,
        shared: &Shared,
        on: bool,
        redirect: Option<i64>,
        mut options: crate::tracking::TrackingOptions,
    ) -> Reply {
        if let Some(id) = redirect {
            // Checked now, as Redis does, although the target may go later.
            match u64::try_from(id)
                .ok()
                .filter(|&id| shared.clients.get(id).is_some())
            {
                Some(id) => options.redirect = id,
                None => {
                    return error_reply(&"ERR The client ID you want redirect to does not exist");
                }
            }
        }
        if !on {
            shared.tracking.disable(self.info.id);
            self.session.tracking = None;
            self.session.caching = false;
            return Reply::Ok;
        }
        if !options.bcast && !options.prefixes.is_empty() {
            return error_reply(&"ERR PREFIX option requires BCAST mode to be enabled");
        }
        let mode = crate::session::TrackingMode {
            bcast: options.bcast,
            optin: options.optin,
            optout: options.optout,
        };
        // The queue invalidations arrive on (when not redirected elsewhere).
        self.subscriber(shared);
        if let Err(e) = shared.tracking.enable(self.info.id, options) {
            return error_reply(&e);
        }
        self.session.tracking = Some(mode);
        Reply::Ok
    }

    fn tracking_info(&mut self, shared: &Shared) -> Reply {
        let view = shared.tracking.view(self.info.id);
        let mut flags = vec![Reply::bulk(if view.is_some() { b"on" } else { b"off" })];
        let (redirect, mut prefixes) = match &view {
            Some(view) => {
                let o = &view.options;
                if o.bcast {
                    flags.push(Reply::bulk(b"bcast"));
                }
                if o.optin {
                    flags.push(Reply::bulk(b"optin"));
                    if self.session.caching {
                        flags.push(Reply::bulk(b"caching-yes"));
                    }
                }
                if o.optout {
                    flags.push(Reply::bulk(b"optout"));
                    if self.session.caching {
                        flags.push(Reply::bulk(b"caching-no"));
                    }
                }
                if o.noloop {
                    flags.push(Reply::bulk(b"noloop"));
                }
                if view.broken_redirect {
                    flags.push(Reply::bulk(b"broken_redirect"));
                }
                (o.redirect as i64, o.prefixes.clone())
            }
            None => (-1, Vec::new()),
        };
        prefixes.sort();
        Reply::Map(vec![
            (Reply::bulk(b"flags"), Reply::Set(flags)),
            (Reply::bulk(b"redirect"), Reply::Int(redirect)),
            (
                Reply::bulk(b"prefixes"),
                Reply::Array(prefixes.into_iter().map(Reply::Bulk).collect()),
            ),
        ])
    }

    fn subscriber(&mut self, shared: &Shared) -> Subscriber {
        if let Some(sub) = &self.subscriber {
            return sub.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let sub = Subscriber {
            tx,
            client: self.info.clone(),
            limit: shared.settings().pubsub_output_limit,
        };
        self.messages = Some(rx);
        self.subscriber = Some(sub.clone());
        // Client-side caching may redirect invalidations to this connection.
        shared.tracking.register_endpoint(self.info.id, sub.clone());
        sub
    }

    fn subscription_reply(&mut self, kind: &[u8], name: Option<&[u8]>) {
        let count = self.session.subscription_count();
        let protocol = self.session.protocol;
        enc::push_header(&mut self.out, 3, protocol);
        enc::bulk(&mut self.out, kind);
        match name {
            Some(name) => enc::bulk(&mut self.out, name),
            None => enc::null(&mut self.out, protocol),
        }
        enc::integer(&mut self.out, count as i64);
    }

    fn subscribe(&mut self, shared: &Shared, names: Vec<Bytes>, pattern: bool) {
        let sub = self.subscriber(shared);
        let id = self.info.id;
        for name in names {
            if pattern {
                if self.session.patterns.insert(name.clone()) {
                    shared.pubsub.psubscribe(id, name.clone(), &sub);
                }
                self.subscription_reply(b"psubscribe", Some(&name));
            } else {
                if self.session.channels.insert(name.clone()) {
                    shared.pubsub.subscribe(id, name.clone(), &sub);
                }
                self.subscription_reply(b"subscribe", Some(&name));
            }
        }
        self.sync_subscription_counts();
    }

    fn unsubscribe(&mut self, shared: &Shared, names: Vec<Bytes>, pattern: bool) {
        let kind: &[u8] = if pattern {
            b"punsubscribe"
        } else {
            b"unsubscribe"
        };
        let names: Vec<Bytes> = if names.is_empty() {
            let current = if pattern {
                &self.session.patterns
            } else {
                &self.session.channels
            };
            current.iter().cloned().collect()
        } else {
            names
        };
        if names.is_empty() {
            self.subscription_reply(kind, None);
        }
        let id = self.info.id;
        for name in names {
            if pattern {
                if self.session.patterns.remove(&name) {
                    shared.pubsub.punsubscribe(id, &name);
                }
            } else if self.session.channels.remove(&name) {
                shared.pubsub.unsubscribe(id, &name);
            }
            self.subscription_reply(kind, Some(&name));
        }
        self.sync_subscription_counts();
    }

    fn unsubscribe_all(&mut self, shared: &Shared) {
        let id = self.info.id;
        for channel in self.session.channels.drain() {
            shared.pubsub.unsubscribe(id, &channel);
        }
        for pattern in self.session.patterns.drain() {
            shared.pubsub.punsubscribe(id, &pattern);
        }
        self.sync_subscription_counts();
    }

    fn sync_subscription_counts(&self) {
        self.info
            .sub
            .store(self.session.channels.len(), Ordering::Relaxed);
        self.info
            .psub
            .store(self.session.patterns.len(), Ordering::Relaxed);
    }
}

/// The one shard all of WATCH's keys live in.
fn watch_shard(layout: &crate::shard::Layout, keys: &[bytes::Bytes]) -> Result<usize, Reply> {
    let mut shards = keys.iter().map(|k| layout.index_of(k).unwrap_or(0));
    let first = shards.next().unwrap_or(0);
    if shards.any(|s| s != first) {
        return Err(error_reply(&crate::execute::CROSSSLOT));
    }
    Ok(first)
}

/// The map change a client asked for, as the cluster side takes it.
fn map_change_of(asked: okapi_commands::MapChangeCmd) -> crate::cluster::MapChange {
    use crate::cluster::MapChange;
    use okapi_commands::MapChangeCmd;
    match asked {
        MapChangeCmd::AddNode {
            id,
            host,
            port,
            cluster_port,
        } => MapChange::AddNode(okapi_cluster::NodeInfo {
            id,
            host,
            port: u64::from(port),
            cluster_port: u64::from(cluster_port),
            state: okapi_cluster::NodeState::Active,
        }),
        MapChangeCmd::RemoveNode(id) => MapChange::RemoveNode(id),
        MapChangeCmd::ForgetNode(id) => MapChange::ForgetNode(id),
        MapChangeCmd::Rebalance => MapChange::Rebalance,
    }
}

/// SCRIPT LOAD / EXISTS / FLUSH / KILL.
fn script_command(shared: &Shared, cmd: okapi_commands::ScriptCmd) -> Reply {
    use okapi_commands::ScriptCmd;
    match cmd {
        ScriptCmd::Load(body) => match okapi_scripting::vm::check(&body) {
            Ok(()) => {
                let sha = okapi_scripting::sha1_hex(&body);
                shared.scripts.insert(sha.clone(), body);
                Reply::Bulk(sha)
            }
            Err(e) => error_reply(&e),
        },
        ScriptCmd::Exists(shas) => Reply::Array(
            shas.iter()
                .map(|sha| Reply::flag(shared.scripts.contains(sha)))
                .collect(),
        ),
        ScriptCmd::Flush => {
            shared.scripts.flush();
            Reply::Ok
        }
        ScriptCmd::Kill | ScriptCmd::KillFunction => match okapi_scripting::busy::kill() {
            okapi_scripting::busy::Kill::NotBusy => {
                error_reply(&"NOTBUSY No scripts in execution right now.")
            }
            okapi_scripting::busy::Kill::Killed => Reply::Ok,
            okapi_scripting::busy::Kill::Unkillable => error_reply(
                &"UNKILLABLE The busy script is being applied from the log on every replica and cannot be stopped on one. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            ),
        },
    }
}
