//! `Guard`: the state of the snapshot under way — where the walk of each namespace
//! is, which keys were copied ahead of it, and the copies waiting to be emitted.
//!
//! Invariant, per namespace not yet done: every key whose hash is at or after the walk
//! cursor and that is not in `handled` still holds exactly its value at the snapshot
//! point (or is still absent). `preserve` keeps it true before each op changes keys;
//! the walk emits those keys as it meets them and skips the handled ones, whose
//! pre-images (if they existed) were emitted from `pending` instead. Keys behind the
//! cursor were emitted already. A flushed namespace hands its whole table over
//! ([`Guard::retire`]) and needs no copies after that: nothing changes that table.
//!
//! A block's key record only announces its pages; the guard keeps a clone of the block
//! as of the snapshot point (cheap: pages are shared copy-on-write) and sends its
//! pages a chunk's worth at a time once the key record is out, so neither the walk,
//! a pre-image nor a chunk ever copies a whole block.

use std::collections::{HashSet, VecDeque};

use foldhash::fast::FixedState;
use okapi_types::Namespace;

use super::SnapshotStats;
use super::record::{self, FORMAT, PageNumbers};
use super::touched::Touched;
use crate::blocks::{BlockValue, PAGE_SIZE, Page};
use crate::dict::Dict;
use crate::engine::Op;
use crate::key::Key;
use crate::keyspace::Keyspace;
use crate::value::{Entry, Value};

/// Bytes a record is assumed to take when turning a byte budget into a number of
/// entries to visit; overshooting a chunk by a few records is fine.
const RECORD_GUESS: usize = 64;
/// Most entries one scan step visits, so a step stays short under the engine lock.
const MAX_STEP: usize = 1024;

/// Walk state of one namespace.
struct Walk {
    /// Next hash position the walk visits (see [`Dict::scan`]).
    cursor: u64,
    done: bool,
    /// Keys at or after the cursor already preserved (or noted absent at the point).
    handled: HashSet<Key, FixedState>,
    /// The table FLUSHDB/FLUSHALL took out of the namespace, walked instead of the
    /// live one: it holds the state of the snapshot point for the unhandled keys.
    frozen: Option<Dict<Key, Entry>>,
}

/// The pages of one block still to be sent.
struct PageStream {
    db: u32,
    key: Key,
    /// The block as of the snapshot point.
    block: BlockValue,
    /// Index of the next page to send.
    next: u64,
}

/// Pages one PAGES record carries at most: a chunk's worth is split over several.
const PAGES_PER_RECORD: usize = 64;

/// Queues the pages of `entry` if it is a block holding any.
fn stream_block(streams: &mut VecDeque<PageStream>, db: u32, key: &[u8], entry: &Entry) {
    if let Value::Block(block) = &entry.value
        && block.pages_used() > 0
    {
        streams.push_back(PageStream {
            db,
            key: Key::new(key),
            block: block.clone(),
            next: 0,
        });
    }
}

/// A snapshot under way.
pub(crate) struct Guard {
    walks: Vec<Walk>,
    /// Namespace being walked; all before it are done.
    current: usize,
    /// Encoded pre-images waiting to be emitted, from `pending_start` on.
    pending: Vec<u8>,
    pending_start: usize,
    /// Length of each waiting pre-image, oldest first.
    pending_lens: VecDeque<usize>,
    /// Blocks whose key record is out (or waiting in `pending`) and whose pages are not.
    streams: VecDeque<PageStream>,
    /// Pages sent so far, so shared pages travel once.
    numbers: PageNumbers,
    pub(crate) stats: SnapshotStats,
}

impl Guard {
    /// A snapshot of `spaces` namespaces, starting now.
    pub(crate) fn new(spaces: usize) -> Self {
        let walks = (0..spaces)
            .map(|_| Walk {
                cursor: 0,
                done: false,
                handled: HashSet::with_hasher(FixedState::with_seed(0)),
                frozen: None,
            })
            .collect();
        Self {
            walks,
            current: 0,
            pending: Vec::new(),
            pending_start: 0,
            pending_lens: VecDeque::new(),
            streams: VecDeque::new(),
            numbers: PageNumbers::default(),
            stats: SnapshotStats {
                in_progress: true,
                ..SnapshotStats::default()
            },
        }
    }

    /// Copies what `op` may change and the walk still needs, before `op` runs.
    pub(crate) fn preserve(&mut self, spaces: &[Keyspace], op: &Op) {
        op.for_each_touched(&mut |touched| match touched {
            Touched::Key(db, key) => self.preserve_key(spaces, db, key),
            // Flushes hand their table over instead (see `retire`).
            Touched::All(_) | Touched::Everything => {}
        });
    }

    fn preserve_key(&mut self, spaces: &[Keyspace], db: Namespace, key: &[u8]) {
        let (Some(walk), Some(ks)) = (self.walks.get_mut(db.index()), spaces.get(db.index()))
        else {
            return;
        };
        if walk.done || walk.frozen.is_some() || ks.dict().hash_of(key) < walk.cursor {
            return;
        }
        if walk.handled.contains(key) {
            return;
        }
        walk.handled.insert(Key::new(key));
        // An absent key needs no record; being handled keeps the walk from emitting
        // it should it be created before the walk gets there.
        if let Some(entry) = ks.dict().get(key) {
            let start = self.pending.len();
            record::encode(&mut self.pending, db.0, key, entry, ks.seed());
            self.pending_lens.push_back(self.pending.len() - start);
            stream_block(&mut self.streams, db.0, key, entry);
            self.stats.keys_preserved += 1;
        }
    }

    /// Takes the table a flush removed from namespace `db`, if the walk still needs it.
    pub(crate) fn retire(&mut self, db: Namespace, table: Dict<Key, Entry>) {
        if let Some(walk) = self.walks.get_mut(db.index())
            && !walk.done
            && walk.frozen.is_none()
        {
            walk.frozen = Some(table);
        }
    }

    /// The next chunk of about `max_bytes` (at least one record), and whether it is
    /// the last one.
    pub(crate) fn next(&mut self, spaces: &[Keyspace], max_bytes: usize) -> (Vec<u8>, bool) {
        // Slack for the step that crosses the budget, so a full chunk rarely reallocates.
        let mut out = Vec::with_capacity(max_bytes.clamp(64, 1 << 20) + 4096);
        out.push(FORMAT);
        // Pre-images first: they are what costs memory while the walk runs.
        self.drain_pending(&mut out, max_bytes);
        // Pages only once every pre-image is out: their key records must come first.
        if self.pending_lens.is_empty() {
            self.drain_streams(&mut out, max_bytes);
        }
        // Until the budget is spent, and in any case until a record is in: every call
        // makes progress, however small `max_bytes` is.
        while self.current < self.walks.len() && (out.len() < max_bytes || out.len() == 1) {
            self.walk_step(spaces, &mut out, max_bytes);
        }
        let finished = self.current == self.walks.len()
            && self.pending_lens.is_empty()
            && self.streams.is_empty();
        if finished {
            record::encode_end(&mut out, self.stats.keys_emitted);
            self.stats.in_progress = false;
        }
        self.stats.chunks_emitted += 1;
        self.stats.bytes_emitted += out.len() as u64;
        (out, finished)
    }

    fn drain_pending(&mut self, out: &mut Vec<u8>, max_bytes: usize) {
        while let Some(&len) = self.pending_lens.front() {
            if out.len() > 1 && out.len() + len > max_bytes {
                break;
            }
            let start = self.pending_start;
            out.extend_from_slice(&self.pending[start..start + len]);
            self.pending_start += len;
            self.pending_lens.pop_front();
            self.stats.keys_emitted += 1;
        }
        if self.pending_lens.is_empty() {
            self.pending = Vec::new();
            self.pending_start = 0;
        } else if self.pending_start > self.pending.len() / 2 {
            // Reclaim the emitted half now and then, not on every call.
            self.pending.drain(..self.pending_start);
            self.pending_start = 0;
        }
    }

    /// Sends block pages until the budget is spent (at least one record's worth when
    /// the chunk is still empty).
    fn drain_streams(&mut self, out: &mut Vec<u8>, max_bytes: usize) {
        while let Some(stream) = self.streams.front_mut() {
            if out.len() > 1 && out.len() + PAGE_SIZE > max_bytes {
                return;
            }
            let room = (max_bytes.saturating_sub(out.len()) / PAGE_SIZE).clamp(1, PAGES_PER_RECORD);
            let pages: Vec<(u64, &Page)> =
                stream.block.pages_from(stream.next).take(room).collect();
            let Some(&(last, _)) = pages.last() else {
                self.streams.pop_front();
                continue;
            };
            record::encode_pages(out, stream.db, &stream.key, &pages, &mut self.numbers);
            stream.next = last + 1;
        }
    }

    /// Walks one scan step of the current namespace.
    fn walk_step(&mut self, spaces: &[Keyspace], out: &mut Vec<u8>, max_bytes: usize) {
        let i = self.current;
        let (walk, ks) = (&mut self.walks[i], &spaces[i]);
        let table = walk.frozen.as_ref().unwrap_or(ks.dict());
        let budget = (max_bytes.saturating_sub(out.len()) / RECORD_GUESS).clamp(1, MAX_STEP);
        let (handled, seed, mut emitted) = (&mut walk.handled, ks.seed(), 0);
        let streams = &mut self.streams;
        let next = table.scan(walk.cursor, budget, |key, entry| {
            // A handled key the walk passes is never looked up again (`preserve_key`
            // stops at the cursor first): forget it, so the set stays small.
            if handled.is_empty() || !handled.remove(key.as_bytes()) {
                record::encode(out, i as u32, key, entry, seed);
                stream_block(streams, i as u32, key, entry);
                emitted += 1;
            }
        });
        self.stats.keys_emitted += emitted;
        if next == 0 {
            // `scan` answers 0 only once it passed the end of hash space.
            walk.done = true;
            walk.handled = HashSet::with_hasher(FixedState::with_seed(0));
            walk.frozen = None;
            self.current += 1;
        } else {
            walk.cursor = next;
        }
    }
}
