//! What a client blocked on keys waits for, and what serving it means. The server
//! keeps the queue of waiters; the engine decides, under the engine lock, whether a
//! waiter can be served now and how: a pop goes through the log (it changes data), an
//! XREAD is answered from memory, an XREADGROUP goes through the log (it changes the
//! group).

use bytes::Bytes;
use okapi_types::Namespace;

use crate::engine::{Engine, Op, OpKind, Query, QueryKind, ReadCtx};
use crate::error::EngineError;
use crate::reply::Reply;
use crate::stream::{StreamId, StreamValue};
use crate::streams::{GroupFrom, ReadFrom, ReadGroup, StreamOp, StreamQuery};

/// What a blocked client waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    /// BLPOP, BLMOVE, BZPOPMIN ...: data under one of the keys; serving appends `op`
    /// (which replies nil when someone else took the data first).
    Data(Op),
    /// XREAD BLOCK: an entry after the position given for one of the streams.
    Entries {
        /// Namespace.
        db: Namespace,
        /// Streams and where to read from; `$` is pinned when the client starts to
        /// wait ([`Engine::pin_wait`]).
        streams: Vec<(Bytes, ReadFrom)>,
        /// Entries per reply.
        count: u64,
    },
    /// XREADGROUP BLOCK with `>` for every stream.
    Group {
        /// Namespace.
        db: Namespace,
        /// The streams.
        streams: Vec<Bytes>,
        /// Group name.
        group: Bytes,
        /// Consumer name.
        consumer: Bytes,
        /// NOACK.
        noack: bool,
        /// Entries per reply.
        count: u64,
    },
}

/// How to serve a waiter now.
#[derive(Debug)]
pub enum Serve {
    /// Append this op; its reply goes to the client (nil: wait again).
    Append(Op),
    /// Send this reply.
    Reply(Reply),
    /// Nothing yet: keep waiting.
    NotYet,
}

impl Engine {
    /// Pins XREAD's `$` to each stream's last ID as the client starts waiting (a stream
    /// that does not exist yet waits for anything after 0-0), as Redis does.
    pub fn pin_wait(&self, wait: &mut Wait, now_ms: u64) {
        let Wait::Entries { db, streams, .. } = wait else {
            return;
        };
        let space = self.space(*db);
        for (key, from) in streams.iter_mut() {
            if *from == ReadFrom::Last {
                let last = space
                    .and_then(|ks| ks.peek(key, now_ms))
                    .and_then(|entry| match &entry.value {
                        crate::value::Value::Stream(s) => Some(s.last_id),
                        _ => None,
                    })
                    .unwrap_or(StreamId::MIN);
                *from = ReadFrom::After(last);
            }
        }
    }

    /// How `wait` can be served now through `key` (one of the keys it waits on).
    pub fn serve_wait(&mut self, wait: &Wait, key: &[u8], now_ms: u64) -> Serve {
        match wait {
            Wait::Data(op) => {
                let exists = self
                    .space(op.db)
                    .is_some_and(|ks| ks.peek(key, now_ms).is_some());
                if exists {
                    Serve::Append(op.clone())
                } else {
                    Serve::NotYet
                }
            }
            Wait::Entries { db, streams, count } => {
                let Some((key, from)) = streams.iter().find(|(k, _)| k.as_ref() == key) else {
                    return Serve::NotYet;
                };
                let query = Query {
                    db: *db,
                    kind: QueryKind::Stream(StreamQuery::Read {
                        streams: vec![(key.clone(), from.clone())],
                        count: *count,
                        wait: true,
                    }),
                };
                let ctx = ReadCtx { now_ms, random: 0 };
                match self.query(&query, &ctx) {
                    Reply::NilArray | Reply::Nil => Serve::NotYet,
                    // A key that turned into another type: Redis keeps waiting.
                    Reply::Error(EngineError::WrongType) => Serve::NotYet,
                    reply => Serve::Reply(reply),
                }
            }
            Wait::Group {
                db,
                streams,
                group,
                consumer,
                noack,
                count,
            } => {
                let Some(key) = streams.iter().find(|k| k.as_ref() == key) else {
                    return Serve::NotYet;
                };
                let stream = self
                    .space(*db)
                    .and_then(|ks| ks.peek(key, now_ms))
                    .and_then(|entry| match &entry.value {
                        crate::value::Value::Stream(s) => Some(s.as_ref()),
                        _ => None,
                    });
                let ready = match stream {
                    // Gone, or no longer a stream: the op reports it as Redis does.
                    None => true,
                    Some(s) => group_has_news(s, group),
                };
                if !ready {
                    return Serve::NotYet;
                }
                Serve::Append(Op {
                    db: *db,
                    kind: OpKind::Stream(StreamOp::ReadGroup(Box::new(ReadGroup {
                        group: group.clone(),
                        consumer: consumer.clone(),
                        streams: vec![(key.clone(), GroupFrom::New)],
                        count: *count,
                        noack: *noack,
                        woken: true,
                    }))),
                })
            }
        }
    }
}

/// True when the group is gone (the op then says so) or the stream holds entries it
/// has not been given.
fn group_has_news(stream: &StreamValue, group: &[u8]) -> bool {
    match stream.groups.get(group) {
        None => true,
        Some(g) => stream.last_entry_id().is_some_and(|top| top > g.last_id),
    }
}
