//! Consumer-group commands, as Redis 7.0 carries them out: XGROUP, XREADGROUP, XACK,
//! XCLAIM, XAUTOCLAIM (writes) and XPENDING (a read). Each write is one op, applied
//! alike on every replica: delivery and claim times are the op's `now_ms`.

use bytes::Bytes;

use super::{Stream, c_text, entry_reply, err};
use crate::engine::ApplyCtx;
use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::stream::group::Group;
use crate::stream::{StreamId, StreamValue};

use super::StreamOp;

/// Where XGROUP CREATE / SETID puts a group.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum GroupStart {
    /// `$`: the stream's last ID (0-0 for a stream MKSTREAM creates).
    Last,
    /// An explicit ID.
    Id(StreamId),
    /// An argument error Redis reports only after the key (and group) checks.
    Invalid(EngineError),
}

/// Where XREADGROUP reads one stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum GroupFrom {
    /// `>`: entries never delivered to the group.
    New,
    /// The consumer's own pending entries after this ID.
    History(StreamId),
    /// An ID that does not parse (or `$`): reported in its turn, after the key checks
    /// of the streams before it.
    Invalid(EngineError),
}

/// XREADGROUP.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReadGroup {
    /// Group name.
    pub group: Bytes,
    /// Consumer name (created on first delivery).
    pub consumer: Bytes,
    /// Keys and where to read each.
    pub streams: Vec<(Bytes, GroupFrom)>,
    /// COUNT per stream (0: all).
    pub count: u64,
    /// NOACK: deliver without adding to the PEL.
    pub noack: bool,
    /// Served to a client that was blocked: a key or group gone meanwhile is
    /// reported as Redis reports it to a blocked client.
    pub woken: bool,
}

/// XCLAIM's delivery time for the claimed entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ClaimTime {
    /// The op's time (idle 0).
    Now,
    /// IDLE ms: the op's time minus this.
    Idle(i64),
    /// TIME ms: this Unix time.
    At(i64),
}

/// XCLAIM.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Claim {
    /// Key.
    pub key: Bytes,
    /// Group name.
    pub group: Bytes,
    /// Consumer that takes the entries.
    pub consumer: Bytes,
    /// Only entries idle this long (ms; 0: any).
    pub min_idle: i64,
    /// IDs to claim.
    pub ids: Vec<StreamId>,
    /// New delivery time.
    pub time: ClaimTime,
    /// RETRYCOUNT (negative: not given).
    pub retry_count: i64,
    /// FORCE: create PEL entries for IDs not pending.
    pub force: bool,
    /// JUSTID: reply IDs, do not count a delivery.
    pub justid: bool,
    /// LASTID: moves the group's last ID forward.
    pub last_id: StreamId,
    /// An argument error, reported once the key and group are found (as Redis).
    pub error: Option<EngineError>,
}

/// XPENDING's extended form.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PendingRange {
    /// IDLE: only entries idle at least this long (ms; 0: any).
    pub min_idle: i64,
    /// Lowest ID (inclusive).
    pub start: StreamId,
    /// Highest ID (inclusive).
    pub end: StreamId,
    /// Most entries.
    pub count: u64,
    /// Only this consumer's entries.
    pub consumer: Option<Bytes>,
}

fn no_group_for_key(key: &[u8], group: &[u8]) -> EngineError {
    EngineError::Other(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        c_text(group),
        c_text(key)
    ))
}

fn no_key_or_group(key: &[u8], group: &[u8]) -> EngineError {
    EngineError::Other(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        c_text(key),
        c_text(group)
    ))
}

const KEY_MUST_EXIST: &str = "ERR The XGROUP subcommand requires the key to exist. Note that \
    for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

/// `streamIncrID` as XREADGROUP uses it: the last ID wraps to 0-0.
fn after(id: StreamId) -> StreamId {
    id.next().unwrap_or(StreamId::MIN)
}

pub(super) fn apply(op: StreamOp, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
    let now = ctx.now_ms;
    match op {
        StreamOp::GroupCreate {
            key,
            group,
            start,
            mkstream,
            entries_read,
        } => {
            let last = match ks.write_as::<Stream>(&key, ctx)? {
                Some(s) => Some(s.last_id),
                None if mkstream => None,
                None => return Err(err(KEY_MUST_EXIST)),
            };
            let id = match start {
                GroupStart::Last => last.unwrap_or(StreamId::MIN),
                GroupStart::Id(id) => id,
                GroupStart::Invalid(e) => return Err(e),
            };
            let stream = ks.write_or_create::<Stream>(&key, ctx)?;
            if stream.groups.contains_key(&group) {
                return Err(err("BUSYGROUP Consumer Group name already exists"));
            }
            stream
                .groups
                .insert(crate::value::detach(group), Group::new(id, entries_read));
            ks.notify(EventClass::STREAM, "xgroup-create", &key);
            ks.finish_write::<Stream>(&key, ctx, true);
            Ok(Reply::Ok)
        }
        StreamOp::GroupSetId {
            key,
            group,
            start,
            entries_read,
        } => {
            let Some(stream) = ks.write_as::<Stream>(&key, ctx)? else {
                return Err(err(KEY_MUST_EXIST));
            };
            let last = stream.last_id;
            let Some(g) = stream.groups.get_mut(&group) else {
                return Err(no_group_for_key(&key, &group));
            };
            g.last_id = match start {
                GroupStart::Last => last,
                GroupStart::Id(id) => id,
                GroupStart::Invalid(e) => return Err(e),
            };
            g.entries_read = entries_read;
            ks.notify(EventClass::STREAM, "xgroup-setid", &key);
            ks.finish_write::<Stream>(&key, ctx, true);
            Ok(Reply::Ok)
        }
        StreamOp::GroupDestroy { key, group } => {
            let Some(stream) = ks.write_as::<Stream>(&key, ctx)? else {
                return Err(err(KEY_MUST_EXIST));
            };
            let removed = stream.groups.remove(&group).is_some();
            if removed {
                ks.notify(EventClass::STREAM, "xgroup-destroy", &key);
            }
            ks.finish_write::<Stream>(&key, ctx, removed);
            if removed {
                // Clients blocked in XREADGROUP on this group must learn it is gone.
                ks.signal(&key);
            }
            Ok(Reply::Int(i64::from(removed)))
        }
        StreamOp::ConsumerCreate {
            key,
            group,
            consumer,
        } => {
            let Some(stream) = ks.write_as::<Stream>(&key, ctx)? else {
                return Err(err(KEY_MUST_EXIST));
            };
            let Some(g) = stream.groups.get_mut(&group) else {
                return Err(no_group_for_key(&key, &group));
            };
            let created = !g.consumers.contains_key(&consumer);
            if created {
                g.touch_consumer(&consumer, now);
                ks.notify(EventClass::STREAM, "xgroup-createconsumer", &key);
            }
            ks.finish_write::<Stream>(&key, ctx, created);
            Ok(Reply::Int(i64::from(created)))
        }
        StreamOp::ConsumerDelete {
            key,
            group,
            consumer,
        } => {
            let Some(stream) = ks.write_as::<Stream>(&key, ctx)? else {
                return Err(err(KEY_MUST_EXIST));
            };
            let Some(g) = stream.groups.get_mut(&group) else {
                return Err(no_group_for_key(&key, &group));
            };
            let pending = g.delete_consumer(&consumer);
            if pending.is_some() {
                ks.notify(EventClass::STREAM, "xgroup-delconsumer", &key);
            }
            ks.finish_write::<Stream>(&key, ctx, pending.is_some());
            Ok(Reply::Int(pending.unwrap_or(0) as i64))
        }
        StreamOp::ReadGroup(rg) => read_group(*rg, ks, ctx),
        StreamOp::Ack {
            key,
            group,
            ids,
            error,
        } => {
            let Some(stream) = ks.write_as::<Stream>(&key, ctx)? else {
                return Ok(Reply::Int(0));
            };
            let Some(g) = stream.groups.get_mut(&group) else {
                return Ok(Reply::Int(0));
            };
            if let Some(e) = error {
                return Err(e);
            }
            let acked = ids.into_iter().filter(|id| g.ack(*id)).count();
            ks.finish_write::<Stream>(&key, ctx, acked > 0);
            Ok(Reply::Int(acked as i64))
        }
        StreamOp::Claim(claim) => {
            let key = claim.key.clone();
            let (reply, created) = {
                let Some(stream) = ks.write_as::<Stream>(&key, ctx)? else {
                    return Err(no_key_or_group(&key, &claim.group));
                };
                let group = claim.group.clone();
                let consumers = consumer_count(stream, &group);
                let reply = xclaim(stream, *claim, now)?;
                (reply, consumer_count(stream, &group) > consumers)
            };
            if created {
                ks.notify(EventClass::STREAM, "xgroup-createconsumer", &key);
            }
            ks.finish_write::<Stream>(&key, ctx, true);
            Ok(reply)
        }
        StreamOp::AutoClaim {
            key,
            group,
            consumer,
            min_idle,
            start,
            count,
            justid,
        } => {
            let reply = {
                let Some(stream) = ks.write_as::<Stream>(&key, ctx)? else {
                    return Err(no_key_or_group(&key, &group));
                };
                let Some(mut g) = stream.groups.remove(&group) else {
                    return Err(no_key_or_group(&key, &group));
                };
                let consumers = g.consumers.len();
                let reply = autoclaim(
                    stream, &mut g, &consumer, min_idle, start, count, justid, now,
                );
                let created = g.consumers.len() > consumers;
                stream.groups.insert(group, g);
                (reply, created)
            };
            let (reply, created) = reply;
            if created {
                ks.notify(EventClass::STREAM, "xgroup-createconsumer", &key);
            }
            ks.finish_write::<Stream>(&key, ctx, true);
            Ok(reply)
        }
        other => unreachable!("not a consumer-group op: {other:?}"),
    }
}

fn read_group(rg: ReadGroup, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
    let now = ctx.now_ms;
    // Every key and its group first, then each ID in turn, as Redis resolves them
    // before it serves anything.
    for (key, from) in &rg.streams {
        let found = match ks.write_as::<Stream>(key, ctx) {
            Ok(Some(stream)) => Some(stream.groups.contains_key(&rg.group)),
            Ok(None) => None,
            Err(_) if rg.woken => None,
            Err(e) => return Err(e),
        };
        match found {
            Some(true) => {}
            None if rg.woken => return Err(err("UNBLOCKED the stream key no longer exists")),
            Some(false) if rg.woken => {
                return Err(err(
                    "NOGROUP the consumer group this client was blocked on no longer exists",
                ));
            }
            _ => {
                return Err(EngineError::Other(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    c_text(key),
                    c_text(&rg.group)
                )));
            }
        }
        if let GroupFrom::Invalid(e) = from {
            return Err(e.clone());
        }
    }
    let mut served = Vec::new();
    for (key, from) in &rg.streams {
        let replies = {
            let Some(stream) = ks.write_as::<Stream>(key, ctx)? else {
                continue;
            };
            let Some(mut group) = stream.groups.remove(&rg.group) else {
                continue;
            };
            let consumers = group.consumers.len();
            let replies = match from {
                GroupFrom::History(id) => Some(history(stream, &mut group, &rg, after(*id), now)),
                _ => match stream.last_entry_id() {
                    Some(top) if top > group.last_id => {
                        let start = after(group.last_id);
                        Some(deliver(stream, &mut group, &rg, start, now))
                    }
                    _ => None,
                },
            };
            let created = group.consumers.len() > consumers;
            stream.groups.insert(rg.group.clone(), group);
            (replies, created)
        };
        let (replies, created) = replies;
        if created {
            ks.notify(EventClass::STREAM, "xgroup-createconsumer", key);
        }
        if let Some(replies) = replies {
            ks.finish_write::<Stream>(key, ctx, true);
            served.push((Reply::Bulk(key.clone()), Reply::Array(replies)));
        }
    }
    if served.is_empty() {
        return Ok(Reply::NilArray);
    }
    Ok(Reply::Keyed(served))
}

/// New entries from `start` for the group (`streamReplyWithRange` with a group).
fn deliver(
    stream: &StreamValue,
    group: &mut Group,
    rg: &ReadGroup,
    start: StreamId,
    now: u64,
) -> Vec<Reply> {
    group.touch_consumer(&rg.consumer, now);
    let take = if rg.count == 0 {
        usize::MAX
    } else {
        rg.count as usize
    };
    let mut replies = Vec::new();
    for (id, fields) in stream.range(start, StreamId::MAX).take(take) {
        group.advance(stream, *id);
        replies.push(entry_reply(id, fields));
        if !rg.noack {
            group.assign(*id, &rg.consumer, now, 1);
        }
    }
    replies
}

/// The consumer's pending entries from `start` (`streamReplyWithRangeFromConsumerPEL`):
/// an entry deleted since is `[id, nil]`; the others count one more delivery.
fn history(
    stream: &StreamValue,
    group: &mut Group,
    rg: &ReadGroup,
    start: StreamId,
    now: u64,
) -> Vec<Reply> {
    let owned: Vec<StreamId> = {
        let consumer = group.touch_consumer(&rg.consumer, now);
        let take = if rg.count == 0 {
            usize::MAX
        } else {
            rg.count as usize
        };
        consumer.pel.range(start..).take(take).copied().collect()
    };
    owned
        .into_iter()
        .map(|id| match stream.range(id, id).next() {
            Some((id, fields)) => {
                if let Some(nack) = group.pel.get_mut(id) {
                    nack.delivery_ms = now;
                    nack.delivery_count = nack.delivery_count.wrapping_add(1);
                }
                entry_reply(id, fields)
            }
            None => Reply::Array(vec![Reply::Bulk(id.to_bytes()), Reply::NilArray]),
        })
        .collect()
}

fn idle(now: u64, delivery_ms: u64) -> i64 {
    (now as i64).wrapping_sub(delivery_ms as i64)
}

fn entry_or_id(stream: &StreamValue, id: StreamId, justid: bool) -> Reply {
    if justid {
        return Reply::Bulk(id.to_bytes());
    }
    match stream.range(id, id).next() {
        Some((id, fields)) => entry_reply(id, fields),
        None => Reply::Bulk(id.to_bytes()),
    }
}

/// Consumers of `group` in `stream` (0 without the group).
fn consumer_count(stream: &StreamValue, group: &[u8]) -> usize {
    stream.groups.get(group).map_or(0, |g| g.consumers.len())
}

fn xclaim(stream: &mut StreamValue, claim: Claim, now: u64) -> Result<Reply, EngineError> {
    let Some(mut group) = stream.groups.remove(&claim.group) else {
        return Err(no_key_or_group(&claim.key, &claim.group));
    };
    let reply = claim_in(stream, &mut group, &claim, now);
    stream.groups.insert(claim.group.clone(), group);
    reply
}

fn claim_in(
    stream: &StreamValue,
    group: &mut Group,
    claim: &Claim,
    now: u64,
) -> Result<Reply, EngineError> {
    if let Some(e) = &claim.error {
        return Err(e.clone());
    }
    let min_idle = claim.min_idle.max(0);
    let now_i = now as i64;
    let mut delivery = match claim.time {
        ClaimTime::Now => now_i,
        ClaimTime::Idle(ms) => now_i.wrapping_sub(ms),
        ClaimTime::At(at) => at,
    };
    if delivery < 0 || delivery > now_i {
        delivery = now_i;
    }
    if claim.last_id > group.last_id {
        group.last_id = claim.last_id;
    }
    let mut replies = Vec::new();
    for &id in &claim.ids {
        let exists = stream.range(id, id).next().is_some();
        if !exists {
            // A pending entry whose message is gone leaves the PEL.
            group.ack(id);
            continue;
        }
        let count = match group.pel.get(&id) {
            Some(nack) => {
                if min_idle > 0 && idle(now, nack.delivery_ms) < min_idle {
                    continue;
                }
                nack.delivery_count
            }
            // FORCE makes a fresh PEL entry (delivered once so far).
            None if claim.force => 1,
            None => continue,
        };
        group.touch_consumer(&claim.consumer, now);
        let count = if claim.retry_count >= 0 {
            claim.retry_count as u64
        } else if !claim.justid {
            count.wrapping_add(1)
        } else {
            count
        };
        group.assign(id, &claim.consumer, delivery as u64, count);
        replies.push(entry_or_id(stream, id, claim.justid));
    }
    Ok(Reply::Array(replies))
}

#[allow(clippy::too_many_arguments)]
fn autoclaim(
    stream: &StreamValue,
    group: &mut Group,
    consumer: &Bytes,
    min_idle: i64,
    start: StreamId,
    count: u64,
    justid: bool,
    now: u64,
) -> Reply {
    let min_idle = min_idle.max(0);
    let mut count = count;
    // Redis looks at no more than ten PEL entries per entry it may claim.
    let mut attempts = count.saturating_mul(10);
    let visit: Vec<StreamId> = group
        .pel
        .range(start..)
        .map(|(id, _)| *id)
        .take(usize::try_from(attempts.saturating_add(1)).unwrap_or(usize::MAX))
        .collect();
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut next = 0usize;
    let mut reached_end = false;
    loop {
        if attempts == 0 {
            break;
        }
        attempts -= 1;
        if count == 0 {
            break;
        }
        let Some(&id) = visit.get(next) else {
            reached_end = true;
            break;
        };
        next += 1;
        if stream.range(id, id).next().is_none() {
            group.ack(id);
            deleted.push(Reply::Bulk(id.to_bytes()));
            count -= 1;
            continue;
        }
        let Some(nack) = group.pel.get(&id) else {
            continue;
        };
        if min_idle > 0 && idle(now, nack.delivery_ms) < min_idle {
            continue;
        }
        let deliveries = if justid {
            nack.delivery_count
        } else {
            nack.delivery_count.wrapping_add(1)
        };
        group.touch_consumer(consumer, now);
        group.assign(id, consumer, now, deliveries);
        claimed.push(entry_or_id(stream, id, justid));
        count -= 1;
    }
    let cursor = if reached_end {
        StreamId::MIN
    } else {
        visit.get(next).copied().unwrap_or(StreamId::MIN)
    };
    Reply::Array(vec![
        Reply::Bulk(cursor.to_bytes()),
        Reply::Array(claimed),
        Reply::Array(deleted),
    ])
}

/// XPENDING.
pub(super) fn pending(
    ks: &mut Keyspace,
    now: u64,
    key: &Bytes,
    group: &Bytes,
    range: Option<&PendingRange>,
) -> Result<Reply, EngineError> {
    let Some(stream) = ks.read_as::<Stream>(key, now)? else {
        return Err(no_key_or_group(key, group));
    };
    let Some(g) = stream.groups.get(group) else {
        return Err(no_key_or_group(key, group));
    };
    let id_reply = |id: &StreamId| Reply::Bulk(id.to_bytes());
    let Some(range) = range else {
        let (Some((first, _)), Some((last, _))) = (g.pel.first_key_value(), g.pel.last_key_value())
        else {
            return Ok(Reply::Array(vec![
                Reply::Int(0),
                Reply::Nil,
                Reply::Nil,
                Reply::NilArray,
            ]));
        };
        let owners = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| {
                Reply::Array(vec![
                    Reply::Bulk(name.clone()),
                    Reply::Bulk(Bytes::from(c.pel.len().to_string())),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Int(g.pel.len() as i64),
            id_reply(first),
            id_reply(last),
            Reply::Array(owners),
        ]));
    };
    let ids: Box<dyn Iterator<Item = StreamId>> = match &range.consumer {
        Some(name) => match g.consumers.get(name) {
            Some(c) if range.start <= range.end => {
                Box::new(c.pel.range(range.start..=range.end).copied())
            }
            Some(_) => Box::new(std::iter::empty()),
            None => return Ok(Reply::Array(Vec::new())),
        },
        None if range.start <= range.end => {
            Box::new(g.pel.range(range.start..=range.end).map(|(id, _)| *id))
        }
        None => Box::new(std::iter::empty()),
    };
    let mut left = range.count;
    let mut rows = Vec::new();
    for id in ids {
        if left == 0 {
            break;
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        let elapsed = idle(now, nack.delivery_ms);
        if range.min_idle != 0 && elapsed < range.min_idle {
            continue;
        }
        left -= 1;
        rows.push(Reply::Array(vec![
            id_reply(&id),
            Reply::Bulk(nack.consumer.clone()),
            Reply::Int(elapsed.max(0)),
            Reply::Int(nack.delivery_count as i64),
        ]));
    }
    Ok(Reply::Array(rows))
}
