//! Per-connection state: selected namespace, protocol, authentication, transaction
//! queue, watched keys, subscriptions, reply mode.

use std::collections::HashSet;

use bytes::Bytes;
use okapi_engine::WatchCheck;
use okapi_resp::Protocol;
use okapi_types::{GroupId, Namespace};

/// What a connection remembers between commands.
#[derive(Debug, Default)]
pub struct Session {
    /// Selected namespace.
    pub db: Namespace,
    /// Protocol version.
    pub protocol: Protocol,
    /// Authenticated (always true without `requirepass`).
    pub authenticated: bool,
    /// Commands queued since MULTI, if in a transaction.
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A command failed to queue: EXEC must abort.
    pub multi_failed: bool,
    /// WATCHed keys and their stamps.
    pub watched: Vec<WatchCheck>,
    /// The shard group of the watched keys: a transaction runs in one group.
    pub watch_group: Option<GroupId>,
    /// The shard group of the keys of the commands queued since MULTI.
    pub txn_group: Option<GroupId>,
    /// On a node of a cluster, the slot of those keys (one per transaction).
    pub txn_slot: Option<u16>,
    /// Subscribed channels.
    pub channels: HashSet<Bytes>,
    /// Subscribed patterns.
    pub patterns: HashSet<Bytes>,
    /// READONLY: on a node of a cluster, reads may be served by a replica that does
    /// not lead (possibly stale).
    pub readonly: bool,
    /// CLIENT REPLY OFF.
    pub replies_off: bool,
    /// CLIENT REPLY SKIP: drop the next reply.
    pub skip_next: bool,
    /// CLIENT TRACKING ON, and how (the node's [`crate::tracking::Tracking`] holds the
    /// rest).
    pub tracking: Option<TrackingMode>,
    /// CLIENT CACHING YES/NO given for the next command (or transaction).
    pub caching: bool,
}

/// What a tracking session needs to decide, per read, whether to remember its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackingMode {
    /// BCAST: nothing is remembered.
    pub bcast: bool,
    /// OPTIN.
    pub optin: bool,
    /// OPTOUT.
    pub optout: bool,
}

impl TrackingMode {
    /// Whether a read's keys are remembered, `caching` being the CLIENT CACHING flag.
    pub fn remembers(self, caching: bool) -> bool {
        // OPTIN remembers only with the flag, OPTOUT only without it.
        !self.bcast && (!self.optin || caching) && (!self.optout || !caching)
    }
}

impl Session {
    /// True in pub/sub mode (any subscription).
    pub fn subscribed(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty()
    }

    /// Number of subscriptions, as subscribe replies count them.
    pub fn subscription_count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}
