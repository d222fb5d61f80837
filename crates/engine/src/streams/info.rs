//! XINFO STREAM / GROUPS / CONSUMERS, field for field as Redis 7.0 replies them.

use bytes::Bytes;

use super::{Stream, c_text, entry_reply};
use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::reply::Reply;
use crate::stream::group::{Group, INVALID_ENTRIES_READ};
use crate::stream::{StreamId, StreamValue};

fn name(text: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(text.as_bytes()))
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

fn entries_read(g: &Group) -> Reply {
    if g.entries_read == INVALID_ENTRIES_READ {
        Reply::Nil
    } else {
        Reply::Int(g.entries_read)
    }
}

fn lag(g: &Group, s: &StreamValue) -> Reply {
    g.lag(s).map_or(Reply::Nil, Reply::Int)
}

fn limit(count: u64) -> usize {
    if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count).unwrap_or(usize::MAX)
    }
}

fn lookup<'a>(ks: &'a mut Keyspace, now: u64, key: &[u8]) -> Result<&'a StreamValue, EngineError> {
    match ks.read_as::<Stream>(key, now)? {
        Some(s) => Ok(s),
        None => Err(EngineError::NoSuchKey),
    }
}

/// XINFO STREAM. `radix-tree-keys` counts okapi's nodes, which hold the entries
/// Redis's listpacks hold; `radix-tree-nodes` is the size of Redis's radix tree,
/// which okapi does not have: it reports one more than its node count (what a tree of
/// one node per key would hold).
pub(super) fn stream(
    ks: &mut Keyspace,
    now: u64,
    key: &[u8],
    full: Option<u64>,
    error: Option<&EngineError>,
) -> Result<Reply, EngineError> {
    let s = lookup(ks, now, key)?;
    if let Some(e) = error {
        return Err(e.clone());
    }
    let nodes = s.nodes().count() as i64;
    let mut map = vec![
        (name("length"), Reply::Int(s.len() as i64)),
        (name("radix-tree-keys"), Reply::Int(nodes)),
        (name("radix-tree-nodes"), Reply::Int(nodes + 1)),
        (name("last-generated-id"), id_reply(s.last_id)),
        (name("max-deleted-entry-id"), id_reply(s.max_deleted_id)),
        (name("entries-added"), Reply::Int(s.entries_added as i64)),
        (
            name("recorded-first-entry-id"),
            id_reply(s.recorded_first_id()),
        ),
    ];
    let Some(count) = full else {
        map.push((name("groups"), Reply::Int(s.groups.len() as i64)));
        let first = s
            .iter()
            .next()
            .map_or(Reply::Nil, |(id, f)| entry_reply(id, f));
        let last = s
            .iter()
            .next_back()
            .map_or(Reply::Nil, |(id, f)| entry_reply(id, f));
        map.push((name("first-entry"), first));
        map.push((name("last-entry"), last));
        return Ok(Reply::Map(map));
    };
    let take = limit(count);
    let entries = s
        .iter()
        .take(take)
        .map(|(id, f)| entry_reply(id, f))
        .collect();
    map.push((name("entries"), Reply::Array(entries)));
    let groups = s
        .groups
        .iter()
        .map(|(group_name, g)| {
            let pending = g
                .pel
                .iter()
                .take(take)
                .map(|(id, nack)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(nack.consumer.clone()),
                        Reply::Int(nack.delivery_ms as i64),
                        Reply::Int(nack.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(consumer_name, c)| {
                    let owned = c
                        .pel
                        .iter()
                        .take(take)
                        .filter_map(|id| g.pel.get(id).map(|nack| (id, nack)))
                        .map(|(id, nack)| {
                            Reply::Array(vec![
                                id_reply(*id),
                                Reply::Int(nack.delivery_ms as i64),
                                Reply::Int(nack.delivery_count as i64),
                            ])
                        })
                        .collect();
                    Reply::Map(vec![
                        (name("name"), Reply::Bulk(consumer_name.clone())),
                        (name("seen-time"), Reply::Int(c.seen_ms as i64)),
                        (name("pel-count"), Reply::Int(c.pel.len() as i64)),
                        (name("pending"), Reply::Array(owned)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (name("name"), Reply::Bulk(group_name.clone())),
                (name("last-delivered-id"), id_reply(g.last_id)),
                (name("entries-read"), entries_read(g)),
                (name("lag"), lag(g, s)),
                (name("pel-count"), Reply::Int(g.pel.len() as i64)),
                (name("pending"), Reply::Array(pending)),
                (name("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    map.push((name("groups"), Reply::Array(groups)));
    Ok(Reply::Map(map))
}

/// XINFO GROUPS.
pub(super) fn groups(ks: &mut Keyspace, now: u64, key: &[u8]) -> Result<Reply, EngineError> {
    let s = lookup(ks, now, key)?;
    Ok(Reply::Array(
        s.groups
            .iter()
            .map(|(group_name, g)| {
                Reply::Map(vec![
                    (name("name"), Reply::Bulk(group_name.clone())),
                    (name("consumers"), Reply::Int(g.consumers.len() as i64)),
                    (name("pending"), Reply::Int(g.pel.len() as i64)),
                    (name("last-delivered-id"), id_reply(g.last_id)),
                    (name("entries-read"), entries_read(g)),
                    (name("lag"), lag(g, s)),
                ])
            })
            .collect(),
    ))
}

/// XINFO CONSUMERS.
pub(super) fn consumers(
    ks: &mut Keyspace,
    now: u64,
    key: &[u8],
    group: &[u8],
) -> Result<Reply, EngineError> {
    let s = lookup(ks, now, key)?;
    let Some(g) = s.groups.get(group) else {
        return Err(EngineError::Other(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            c_text(group),
            c_text(key)
        )));
    };
    Ok(Reply::Array(
        g.consumers
            .iter()
            .map(|(consumer_name, c)| {
                let idle = (now as i64).wrapping_sub(c.seen_ms as i64).max(0);
                Reply::Map(vec![
                    (name("name"), Reply::Bulk(consumer_name.clone())),
                    (name("pending"), Reply::Int(c.pel.len() as i64)),
                    (name("idle"), Reply::Int(idle)),
                ])
            })
            .collect(),
    ))
}
