//! What a parsed command asks for. Reads and writes go to the engine (writes through
//! the log); connection and server commands are carried out by the server crate.

use bytes::Bytes;
use okapi_engine::{Op, Query, Reply, Wait};
use okapi_types::Namespace;

/// A parsed command.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Read from memory.
    Read(Query),
    /// Submit to the log; the reply comes from applying it.
    Write(Op),
    /// Try the attempt now; if it finds nothing, wait for one of `keys` to receive data.
    Block(Box<Blocking>),
    /// A connection or server command.
    Conn(ConnCmd),
    /// The reply is already known (COMMAND, TIME-free static answers ...).
    Reply(Reply),
    /// EVAL and friends: the server finds the script, probes it, and appends it to
    /// the log if it writes.
    Script(Box<ScriptCall>),
}

/// A script to run (EVAL, EVALSHA, EVAL_RO, EVALSHA_RO).
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptCall {
    /// Namespace the script starts in.
    pub db: Namespace,
    /// The script, or its SHA1 for the cache to resolve.
    pub body: ScriptBody,
    /// `KEYS`.
    pub keys: Vec<Bytes>,
    /// `ARGV`.
    pub args: Vec<Bytes>,
    /// EVAL_RO / EVALSHA_RO: write commands are refused inside.
    pub read_only: bool,
    /// Randomness the script's run starts from.
    pub seed: u64,
    /// FCALL with a bad key count: Redis reports it after finding the function.
    pub invalid: Option<String>,
}

/// Where a script's body comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptBody {
    /// EVAL: the body itself.
    Source(Bytes),
    /// EVALSHA: the SHA1 (lower-case hex) of a cached body.
    Sha(Bytes),
    /// FCALL: a function of the dataset's libraries.
    Function(Bytes),
}

/// A blocking command (BLPOP, BLMOVE, BZPOPMIN, XREAD BLOCK, XREADGROUP BLOCK ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Blocking {
    /// Namespace of the keys.
    pub db: Namespace,
    /// Keys whose new data wakes the client.
    pub keys: Vec<Bytes>,
    /// How long to wait; `None` waits forever.
    pub timeout_ms: Option<u64>,
    /// The non-blocking attempt (all there is inside MULTI); a nil reply means
    /// "nothing yet".
    pub attempt: Attempt,
    /// What the client waits for when the attempt finds nothing.
    pub wait: Wait,
}

/// A blocking command's first, non-blocking attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// A write through the log (pops, XREADGROUP).
    Write(Op),
    /// A read from memory (XREAD).
    Read(Query),
}

/// Commands carried out by the server: connection state, pub/sub, introspection.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnCmd {
    /// PING [message].
    Ping(Option<Bytes>),
    /// ECHO message.
    Echo(Bytes),
    /// QUIT.
    Quit,
    /// RESET.
    Reset,
    /// HELLO [protover [AUTH user pass] [SETNAME name]].
    Hello {
        /// Requested protocol version.
        protocol: Option<i64>,
        /// Credentials.
        auth: Option<(Bytes, Bytes)>,
        /// Client name.
        setname: Option<Bytes>,
    },
    /// AUTH [user] password.
    Auth {
        /// User name (default user when absent).
        user: Option<Bytes>,
        /// Password.
        password: Bytes,
    },
    /// SELECT db.
    Select(i64),
    /// CLIENT subcommands.
    Client(ClientCmd),
    /// MULTI.
    Multi,
    /// EXEC.
    Exec,
    /// DISCARD.
    Discard,
    /// WATCH keys.
    Watch(Vec<Bytes>),
    /// UNWATCH.
    Unwatch,
    /// SUBSCRIBE channels.
    Subscribe(Vec<Bytes>),
    /// UNSUBSCRIBE [channels].
    Unsubscribe(Vec<Bytes>),
    /// PSUBSCRIBE patterns.
    PSubscribe(Vec<Bytes>),
    /// PUNSUBSCRIBE [patterns].
    PUnsubscribe(Vec<Bytes>),
    /// PUBLISH channel message.
    Publish {
        /// Channel.
        channel: Bytes,
        /// Message.
        message: Bytes,
    },
    /// PUBSUB CHANNELS [pattern].
    PubSubChannels(Option<Bytes>),
    /// PUBSUB NUMSUB [channels].
    PubSubNumSub(Vec<Bytes>),
    /// PUBSUB NUMPAT.
    PubSubNumPat,
    /// INFO [sections].
    Info(Vec<Bytes>),
    /// CONFIG GET patterns.
    ConfigGet(Vec<Bytes>),
    /// CONFIG SET name value [name value ...].
    ConfigSet(Vec<(Bytes, Bytes)>),
    /// CONFIG RESETSTAT.
    ConfigResetStat,
    /// CONFIG REWRITE.
    ConfigRewrite,
    /// TIME.
    Time,
    /// WAIT numreplicas timeout.
    Wait {
        /// Replicas to wait for.
        replicas: u64,
        /// Longest wait, ms (0: as long as it takes).
        timeout_ms: u64,
    },
    /// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]: `save` is `Some(false)` for NOSAVE,
    /// `Some(true)` for SAVE, `None` when neither was given.
    Shutdown {
        /// NOSAVE / SAVE.
        save: Option<bool>,
    },
    /// SHUTDOWN ABORT: cancels a shutdown that waits (okapi's never do).
    ShutdownAbort,
    /// LASTSAVE.
    LastSave,
    /// SAVE: snapshot now and wait.
    Save,
    /// SCRIPT subcommands.
    Script(ScriptCmd),
    /// BGSAVE [SCHEDULE]: snapshot in the background; with SCHEDULE, after the one
    /// under way.
    BgSave {
        /// SCHEDULE given.
        schedule: bool,
    },
    /// READONLY / READWRITE (cluster routing hints; accepted on a single node).
    ReadMode(bool),
    /// DEBUG SLEEP seconds (tests and tools use it to simulate a busy server).
    DebugSleep(f64),
    /// MEMORY STATS.
    MemoryStats,
    /// DEBUG DIGEST (`per_group: false`): one digest of the data this node serves, as
    /// Redis's; DEBUG DIGEST-GROUPS (`true`): `[group, digest]` for every group replica
    /// the node holds, leader or follower, to check that replicas agree.
    Digest {
        /// One digest per local group replica.
        per_group: bool,
    },
    /// CLUSTER subcommands.
    Cluster(ClusterCmd),
    /// ASKING (slot migration hint; lasts one command).
    Asking,
    /// MONITOR: from now on, every command other clients run is streamed here.
    Monitor,
    /// SLOWLOG GET [count] (`None`: all).
    SlowLogGet(Option<usize>),
    /// SLOWLOG LEN.
    SlowLogLen,
    /// SLOWLOG RESET.
    SlowLogReset,
    /// LATENCY LATEST.
    LatencyLatest,
    /// LATENCY HISTORY event.
    LatencyHistory(Bytes),
    /// LATENCY RESET [event ...].
    LatencyReset(Vec<Bytes>),
    /// LATENCY GRAPH event.
    LatencyGraph(Bytes),
    /// LATENCY DOCTOR.
    LatencyDoctor,
    /// LATENCY HISTOGRAM [command ...] (lower-case names).
    LatencyHistogram(Vec<String>),
}

/// CLUSTER subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterCmd {
    /// CLUSTER INFO.
    Info,
    /// CLUSTER MYID.
    MyId,
    /// CLUSTER SLOTS.
    Slots,
    /// CLUSTER SHARDS.
    Shards,
    /// CLUSTER NODES.
    Nodes,
    /// CLUSTER COUNTKEYSINSLOT slot.
    CountKeysInSlot(u16),
    /// CLUSTER GETKEYSINSLOT slot count.
    GetKeysInSlot(u16, usize),
    /// CLUSTER OKAPI-NODE: this node's id and cluster port (what `okapi cluster create`
    /// asks every node).
    OkapiNode,
    /// CLUSTER OKAPI-SETMAP map: installs an encoded cluster map (from `okapi
    /// cluster create`).
    OkapiSetMap(Bytes),
    /// CLUSTER OKAPI-ADDNODE / REMOVENODE / FORGETNODE / REBALANCE: a change to the
    /// cluster map (carried out by the control group's leader; from `okapi cluster`).
    OkapiChange(MapChangeCmd),
    /// CLUSTER OKAPI-GROUPS: the Raft membership of each group this node leads.
    OkapiGroups,
    /// CLUSTER OKAPI-MAP: the cluster map this node follows, encoded.
    OkapiMap,
}

/// A change to the cluster map, as asked by a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapChangeCmd {
    /// CLUSTER OKAPI-ADDNODE id host port cluster-port: adds a node.
    AddNode {
        /// The new node's id.
        id: u64,
        /// Its address.
        host: String,
        /// Its RESP port.
        port: u16,
        /// Its cluster port.
        cluster_port: u16,
    },
    /// CLUSTER OKAPI-REMOVENODE id: starts moving every replica off a node.
    RemoveNode(u64),
    /// CLUSTER OKAPI-FORGETNODE id: drops a node that holds nothing from the map.
    ForgetNode(u64),
    /// CLUSTER OKAPI-REBALANCE: commits one rebalancing step.
    Rebalance,
}

/// CLIENT subcommands.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientCmd {
    /// CLIENT ID.
    Id,
    /// CLIENT SETNAME.
    SetName(Bytes),
    /// CLIENT GETNAME.
    GetName,
    /// CLIENT LIST [TYPE type] [ID id ...].
    List {
        /// Only these ids.
        ids: Option<Vec<u64>>,
        /// Only this type (normal, pubsub ...).
        kind: Option<Bytes>,
    },
    /// CLIENT INFO.
    Info,
    /// CLIENT KILL.
    Kill(KillFilter),
    /// CLIENT SETINFO LIB-NAME|LIB-VER value.
    SetInfo {
        /// Attribute.
        attr: Bytes,
        /// Value.
        value: Bytes,
    },
    /// CLIENT NO-EVICT / NO-TOUCH on|off (accepted, no effect).
    Flag,
    /// CLIENT UNBLOCK id [TIMEOUT|ERROR].
    Unblock {
        /// Client id.
        id: u64,
        /// Reply an error instead of a timeout.
        error: bool,
    },
    /// CLIENT REPLY ON|OFF|SKIP.
    Reply(ReplyMode),
    /// CLIENT PAUSE timeout [WRITE|ALL]: `timeout_ms` 0 pauses nothing (Redis's end
    /// time of 0 is already past).
    Pause {
        /// How long, ms.
        timeout_ms: u64,
        /// WRITE (true) or ALL.
        writes_only: bool,
    },
    /// CLIENT UNPAUSE.
    Unpause,
    /// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT]
    /// [NOLOOP]: the options as given; the checks against the client's state are the
    /// server's.
    Tracking {
        /// ON (true) or OFF.
        on: bool,
        /// REDIRECT's client id.
        redirect: Option<i64>,
        /// BCAST.
        bcast: bool,
        /// PREFIX arguments.
        prefixes: Vec<Bytes>,
        /// OPTIN.
        optin: bool,
        /// OPTOUT.
        optout: bool,
        /// NOLOOP.
        noloop: bool,
    },
    /// CLIENT CACHING YES (true) / NO.
    Caching(bool),
    /// CLIENT GETREDIR.
    GetRedir,
    /// CLIENT TRACKINGINFO.
    TrackingInfo,
}

/// CLIENT REPLY modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Send replies.
    On,
    /// Send none.
    Off,
    /// Skip the next one.
    Skip,
}

/// Which clients CLIENT KILL targets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KillFilter {
    /// `ip:port` (legacy form or ADDR).
    pub addr: Option<Bytes>,
    /// LADDR.
    pub laddr: Option<Bytes>,
    /// ID.
    pub id: Option<u64>,
    /// TYPE.
    pub kind: Option<Bytes>,
    /// USER.
    pub user: Option<Bytes>,
    /// SKIPME (default yes).
    pub skip_me: bool,
    /// Legacy form `CLIENT KILL ip:port`: reply OK or an error instead of a count.
    pub legacy: bool,
}

/// SCRIPT subcommands.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptCmd {
    /// SCRIPT LOAD body.
    Load(Bytes),
    /// SCRIPT EXISTS sha ...
    Exists(Vec<Bytes>),
    /// SCRIPT FLUSH [ASYNC|SYNC].
    Flush,
    /// SCRIPT KILL.
    Kill,
    /// FUNCTION KILL.
    KillFunction,
}
