//! Replaying the WAL: reads every segment in order and rebuilds each group's state,
//! stopping at the first torn tail or corruption. Shared by [`crate::Wal::open`]
//! (which cuts a torn tail and refuses corruption) and [`crate::check()`] (which
//! reports both and can repair).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use okapi_types::GroupId;

use crate::error::StorageError;
use crate::fs::Fs;
use crate::group_state::GroupState;
use crate::segment::{self, SegmentFile, Stop};

/// What recovery cut from the end of the log: a write torn by a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment that was cut (removed whole if `offset` is 0).
    pub file: PathBuf,
    /// Where the cut starts: the file now ends here.
    pub offset: u64,
    /// How many bytes were cut.
    pub bytes: u64,
    /// What was found at `offset`.
    pub reason: String,
}

/// One group as recovered from the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveredGroup {
    /// Live entries `(index, payload)`, ascending and contiguous.
    pub entries: Vec<(u64, Bytes)>,
    /// Latest hard state written.
    pub hard_state: Option<Bytes>,
    /// Purge point and its payload: entries up to it are gone.
    pub purged: Option<(u64, Bytes)>,
}

/// Everything recovered by [`crate::Wal::open`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Every group the log mentions.
    pub groups: BTreeMap<GroupId, RecoveredGroup>,
    /// The torn tail recovery cut, if any.
    pub cut_tail: Option<TornTail>,
}

/// One segment as replayed.
#[derive(Debug, Clone)]
pub(crate) struct ReplayedSegment {
    /// The file.
    pub file: SegmentFile,
    /// File length.
    pub len: u64,
    /// Length of the valid prefix.
    pub valid_len: u64,
    /// Valid records.
    pub records: u64,
}

/// Where replay stopped early.
#[derive(Debug, Clone)]
pub(crate) struct ReplayStop {
    /// Index into `Replay::segments` of the segment with the damage.
    pub segment: usize,
    /// Torn tail or corruption, with offset and reason.
    pub stop: Stop,
}

/// The log as far as it is valid.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// Group states built from the valid prefix.
    pub groups: BTreeMap<GroupId, GroupState>,
    /// Every segment file, in order (including those after a stop).
    pub segments: Vec<ReplayedSegment>,
    /// Files in the WAL directory that are not segments.
    pub strays: Vec<String>,
    /// Why replay stopped early, if it did.
    pub stop: Option<ReplayStop>,
}

impl Replay {
    /// The path and offset of the stop, with its reason.
    pub fn stop_location(&self) -> Option<(&Path, u64, &str, bool)> {
        let s = self.stop.as_ref()?;
        let path = self.segments[s.segment].file.path.as_path();
        Some(match &s.stop {
            Stop::Torn { offset, reason } => (path, *offset, reason.as_str(), true),
            Stop::Corrupt { offset, reason } => (path, *offset, reason.as_str(), false),
        })
    }
}

/// Replays every segment under `wal_dir`. Only I/O failures are errors; damage is
/// described in `Replay::stop`.
pub(crate) fn replay(fs: &Arc<dyn Fs>, wal_dir: &Path) -> Result<Replay, StorageError> {
    let (files, strays) = segment::list_segments(fs, wal_dir)?;
    let mut out = Replay {
        strays,
        ..Replay::default()
    };
    let count = files.len();
    for (i, file) in files.into_iter().enumerate() {
        let len = fs
            .len(&file.path)
            .map_err(|e| StorageError::io(&file.path, e))?;
        out.segments.push(ReplayedSegment {
            file: file.clone(),
            len,
            valid_len: 0,
            records: 0,
        });
        if out.stop.is_some() {
            continue;
        }
        if i > 0 {
            let prev = out.segments[i - 1].file.seq;
            if file.seq != prev + 1 {
                out.stop = Some(ReplayStop {
                    segment: i,
                    stop: Stop::Corrupt {
                        offset: 0,
                        reason: format!(
                            "segment {} is missing (found {prev} then {})",
                            prev + 1,
                            file.seq
                        ),
                    },
                });
                continue;
            }
        }
        let groups = &mut out.groups;
        let scan = segment::scan_segment(fs, &file, i + 1 == count, |_, rec| {
            groups.entry(rec.group()).or_default().apply(rec, file.seq)
        })?;
        let seg = &mut out.segments[i];
        seg.len = scan.len;
        seg.valid_len = scan.valid_len;
        seg.records = scan.records;
        if let Some(stop) = scan.stop {
            out.stop = Some(ReplayStop { segment: i, stop });
        }
    }
    Ok(out)
}

/// Converts replayed group states into the public shape.
pub(crate) fn recovered_groups(
    groups: &BTreeMap<GroupId, GroupState>,
) -> BTreeMap<GroupId, RecoveredGroup> {
    groups
        .iter()
        .map(|(g, s)| {
            let group = RecoveredGroup {
                entries: s.entries.iter().map(|(i, p, _)| (*i, p.clone())).collect(),
                hard_state: s.hard_state.clone(),
                purged: s.purged.clone(),
            };
            (*g, group)
        })
        .collect()
}
