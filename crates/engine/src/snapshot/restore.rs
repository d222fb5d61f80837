//! `Restore`: rebuilds an engine from a snapshot header and its chunks.
//!
//! The engine under construction is only handed out by [`Restore::finish`], once the
//! end record arrived and every namespace holds the number of keys the header
//! announced, so a missing or truncated chunk can never pass for a smaller dataset.

use super::codec::{Reader, corrupt};
use super::header::SnapshotHeader;
use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::record::{self, FORMAT, PageSource, Record};
use crate::blocks::{Page, PageBuf};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::key::Key;
use crate::keyspace::Keyspace;

/// Largest presize taken from a header: beyond it the tables grow as usual, so a
/// corrupt count cannot make the restore allocate absurdly up front.
const MAX_PRESIZE: u64 = 1 << 26;

/// An engine being restored from a snapshot.
pub struct Restore {
    engine: Engine,
    /// Keys each namespace must hold at the end.
    expected: Vec<u64>,
    /// Seed of each namespace, for decoding container seeds.
    seeds: Vec<u64>,
    records: u64,
    ended: bool,
    /// A chunk failed half-way: what was inserted cannot be trusted any more.
    failed: bool,
    /// Pages received so far, by stream number (shared pages are sent once).
    pages: Vec<Page>,
    /// Blocks still waiting for pages: `(namespace, key)` → pages still to come.
    awaiting: HashMap<(usize, Key), u64, FixedState>,
}

impl Restore {
    pub(crate) fn new(header: &SnapshotHeader) -> Result<Self, EngineError> {
        header.check()?;
        let spaces: Vec<Keyspace> = header
            .spaces
            .iter()
            .enumerate()
            .map(|(i, space)| {
                Keyspace::restoring(
                    Engine::space_seed(header.seed, i),
                    space.last_removal,
                    space.keys.min(MAX_PRESIZE) as usize,
                )
            })
            .collect();
        let seeds = spaces.iter().map(Keyspace::seed).collect();
        Ok(Self {
            engine: {
                let mut engine = Engine::from_spaces(spaces, header.seed);
                engine.clock_ms = header.clock_ms;
                for code in &header.libraries {
                    let lib = crate::script::load_library(code)
                        .map_err(|e| corrupt(&format!("a function library does not load: {e}")))?;
                    engine.libraries.insert(lib, false)?;
                }
                engine
            },
            expected: header.spaces.iter().map(|s| s.keys).collect(),
            seeds,
            records: 0,
            ended: false,
            failed: false,
            pages: Vec::new(),
            awaiting: HashMap::with_hasher(FixedState::with_seed(0)),
        })
    }

    /// Inserts the records of one chunk, in the order
    /// [`Engine::snapshot_next`] produced them.
    pub fn restore_chunk(&mut self, chunk: &[u8]) -> Result<(), EngineError> {
        if self.failed {
            return Err(corrupt("an earlier chunk failed"));
        }
        let result = self.insert_chunk(chunk);
        self.failed = result.is_err();
        result
    }

    fn insert_chunk(&mut self, chunk: &[u8]) -> Result<(), EngineError> {
        if self.ended {
            return Err(corrupt("data after the end record"));
        }
        let mut r = Reader::new(chunk);
        if r.u8()? != FORMAT {
            return Err(corrupt("unknown chunk format"));
        }
        while !r.is_empty() {
            match record::decode(&mut r, &self.seeds)? {
                Record::Key {
                    db,
                    key,
                    entry,
                    pages,
                } => {
                    if !self.engine.spaces[db].restore_entry(key, entry) {
                        return Err(corrupt("duplicate key"));
                    }
                    if pages > 0 {
                        self.awaiting.insert((db, Key::new(key)), pages);
                    }
                    self.records += 1;
                }
                Record::Pages { db, key, pages } => self.restore_pages(db, key, pages)?,
                Record::End { records } => {
                    if !self.awaiting.is_empty() {
                        return Err(corrupt("block pages missing"));
                    }
                    if records != self.records {
                        return Err(corrupt("record count does not match the end record"));
                    }
                    if !r.is_empty() {
                        return Err(corrupt("data after the end record"));
                    }
                    self.ended = true;
                }
            }
        }
        Ok(())
    }

    fn restore_pages(
        &mut self,
        db: usize,
        key: &[u8],
        pages: Vec<(u64, PageSource<'_>)>,
    ) -> Result<(), EngineError> {
        let slot = (db, Key::new(key));
        let Some(left) = self.awaiting.get_mut(&slot) else {
            return Err(corrupt("pages for a block that expects none"));
        };
        *left = left
            .checked_sub(pages.len() as u64)
            .ok_or_else(|| corrupt("more pages than the block announced"))?;
        if *left == 0 {
            self.awaiting.remove(&slot);
        }
        let block = self.engine.spaces[db]
            .restoring_block(key)
            .ok_or_else(|| corrupt("pages for a key that is not a block"))?;
        for (index, source) in pages {
            let page = match source {
                PageSource::New(bytes) => {
                    let page = PageBuf::from_slice(bytes);
                    self.pages.push(page.clone());
                    page
                }
                PageSource::Sent(number) => usize::try_from(number)
                    .ok()
                    .and_then(|n| self.pages.get(n))
                    .cloned()
                    .ok_or_else(|| corrupt("reference to a page never sent"))?,
            };
            if !block.restore_page(index, page) {
                return Err(corrupt("block page out of range or repeated"));
            }
        }
        Ok(())
    }

    /// Keys restored so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Keys the header announced, in every namespace together (a progress total).
    pub fn expected_keys(&self) -> u64 {
        self.expected.iter().sum()
    }

    /// The restored engine, once the whole snapshot arrived.
    pub fn finish(self) -> Result<Engine, EngineError> {
        if self.failed {
            return Err(corrupt("an earlier chunk failed"));
        }
        if !self.ended {
            return Err(corrupt("snapshot ended without its end record"));
        }
        let complete = self
            .engine
            .spaces
            .iter()
            .zip(&self.expected)
            .all(|(ks, &keys)| ks.len() as u64 == keys);
        if !complete {
            return Err(corrupt("key count differs from the header"));
        }
        Ok(self.engine)
    }
}
