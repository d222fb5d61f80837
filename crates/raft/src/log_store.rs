//! openraft log storage for one group: entries are persisted as records of the node's
//! shared WAL and kept in memory in the same encoded form (the apply path and
//! replication read them back). Encoded, not decoded: an entry decoded from a request
//! holds slices of the connection's read buffer, and keeping it until the next purge
//! would pin one whole buffer per entry.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use bytes::Bytes;
use okapi_storage::{RecoveredGroup, Wal, WalRecord};
use okapi_types::GroupId;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};

use crate::codec::{self, HardState};
use crate::error::{RaftError, io_error};
use crate::flusher::Flusher;
use crate::types::{Entry, LogId, TypeConfig, Vote};

/// An entry as held in memory: its id, and its encoding (the WAL record's payload).
#[derive(Debug, Clone)]
struct Stored {
    log_id: LogId,
    payload: Bytes,
}

impl Stored {
    fn decode(&self) -> io::Result<Entry> {
        codec::decode_entry(&self.payload).map_err(io_error)
    }
}

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<u64, Stored>,
    hard: HardState,
    last_purged: Option<LogId>,
    /// Bytes of entries appended since the last purge (snapshot trigger by size).
    bytes_since_purge: u64,
}

/// A group's log: memory for reads, the WAL for durability.
#[derive(Clone)]
pub struct LogStore {
    group: GroupId,
    wal: Wal,
    state: Arc<Mutex<State>>,
    flusher: Arc<OnceLock<Flusher>>,
}

impl LogStore {
    /// The log of `group`, rebuilt from what the WAL recovered.
    pub fn recover(group: GroupId, wal: Wal, recovered: RecoveredGroup) -> Result<Self, RaftError> {
        let mut state = State::default();
        if let Some(bytes) = &recovered.hard_state {
            state.hard = codec::decode_hard_state(bytes)?;
        }
        if let Some((_, bytes)) = &recovered.purged {
            state.last_purged = Some(codec::decode_log_id(bytes)?);
        }
        for (index, bytes) in recovered.entries {
            let entry: Entry = codec::decode_entry(&bytes)?;
            if entry.log_id.index != index {
                return Err(RaftError::Decode {
                    what: "log entry",
                    reason: format!("record {index} holds entry {}", entry.log_id.index),
                });
            }
            state.bytes_since_purge += bytes.len() as u64;
            state.entries.insert(
                index,
                Stored {
                    log_id: entry.log_id,
                    // Exact size: recovered records may share the segment's read buffer.
                    payload: Bytes::copy_from_slice(&bytes),
                },
            );
        }
        Ok(Self {
            group,
            wal,
            state: Arc::new(Mutex::new(state)),
            flusher: Arc::new(OnceLock::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Index of the last entry, if any.
    pub fn last_index(&self) -> u64 {
        let state = self.lock();
        state
            .entries
            .keys()
            .next_back()
            .copied()
            .or(state.last_purged.map(|id| id.index))
            .unwrap_or(0)
    }

    /// Entries held in memory and their encoded size since the last purge.
    pub fn usage(&self) -> (usize, u64) {
        let state = self.lock();
        (state.entries.len(), state.bytes_since_purge)
    }

    /// The committed id recorded before a restart.
    pub fn recovered_committed(&self) -> Option<LogId> {
        self.lock().hard.committed
    }

    /// Drops the whole log (this node's replica left the group): the WAL records a
    /// reset, and the hard state keeps the vote but no committed index (nothing is
    /// left to apply). Returns what a later start of the same group recovers from.
    pub fn reset(&self) -> Result<RecoveredGroup, RaftError> {
        let mut state = self.lock();
        let hard = HardState {
            vote: state.hard.vote,
            committed: None,
        };
        let payload = codec::encode_hard_state(&hard);
        self.wal.append(vec![
            WalRecord::Reset { group: self.group },
            WalRecord::HardState {
                group: self.group,
                payload: payload.clone(),
            },
        ])?;
        *state = State {
            hard,
            ..State::default()
        };
        Ok(RecoveredGroup {
            hard_state: Some(payload),
            ..RecoveredGroup::default()
        })
    }

    fn write_hard_state(&self, hard: &HardState) -> io::Result<WalRecord> {
        Ok(WalRecord::HardState {
            group: self.group,
            payload: codec::encode_hard_state(hard),
        })
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        // Copied out under the lock (cheap: reference counts), decoded outside it.
        let stored: Vec<Stored> = self
            .lock()
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect();
        stored.iter().map(Stored::decode).collect()
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.lock().hard.vote)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let state = self.lock();
        let last = state
            .entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(state.last_purged);
        Ok(LogState {
            last_purged_log_id: state.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let hard = {
            let mut state = self.lock();
            state.hard.vote = Some(*vote);
            state.hard.clone()
        };
        // A vote must be durable before it is acted on, whatever appendfsync says.
        self.wal
            .append(vec![self.write_hard_state(&hard)?])
            .map_err(io_error)?;
        self.wal.sync().map_err(io_error)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        let hard = {
            let mut state = self.lock();
            state.hard.committed = committed;
            state.hard.clone()
        };
        // Only a hint for faster recovery: it leaves with the next append's write.
        self.wal
            .append_deferred(vec![self.write_hard_state(&hard)?])
            .map_err(io_error)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.lock().hard.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
    {
        // Encoded before the lock is taken, and all or nothing: an entry that cannot be
        // encoded leaves neither memory nor the WAL holding the ones before it.
        let stored = entries
            .into_iter()
            .map(|entry| {
                Ok(Stored {
                    log_id: entry.log_id,
                    payload: codec::encode_entry(&entry),
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        let mut records = Vec::with_capacity(stored.len());
        {
            let mut state = self.lock();
            for entry in stored {
                state.bytes_since_purge += entry.payload.len() as u64;
                records.push(WalRecord::Entry {
                    group: self.group,
                    index: entry.log_id.index,
                    payload: entry.payload.clone(),
                });
                state.entries.insert(entry.log_id.index, entry);
            }
        }
        // Written here, on the event loop; the fsync `always` owes is the flusher's,
        // once per loop iteration for everything written in it.
        match self.wal.append_unsynced(records) {
            Err(e) => callback.io_completed(Err(io_error(e))),
            Ok(None) if !self.flusher.get().is_some_and(Flusher::busy) => {
                callback.io_completed(Ok(()));
            }
            Ok(sync_to) => self
                .flusher
                .get_or_init(|| Flusher::spawn(self.wal.clone()))
                .complete_after(sync_to, callback),
        }
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let after = last_log_id.map(|id| id.index);
        {
            let mut state = self.lock();
            let first_removed = after.map_or(0, |a| a + 1);
            state.entries.split_off(&first_removed);
        }
        // Ordered before the entries that replace the cut ones, and durable with them.
        self.wal
            .append_deferred(vec![WalRecord::TruncateAfter {
                group: self.group,
                after,
            }])
            .map_err(io_error)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        {
            let mut state = self.lock();
            state.entries = state.entries.split_off(&(log_id.index + 1));
            state.last_purged = Some(log_id);
            state.bytes_since_purge = 0;
        }
        let record = WalRecord::Purge {
            group: self.group,
            upto: log_id.index,
            payload: codec::encode_log_id(&log_id),
        };
        self.wal.append_deferred(vec![record]).map_err(io_error)
    }
}
