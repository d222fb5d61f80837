//! The offline checker behind `okapi check DATA_DIR [--repair]`: verifies every WAL
//! segment (checksums, index continuity, consecutive segments) and every snapshot
//! (header, blocks, totals), checks that each group's snapshot covers its purged log,
//! and reports exactly what a repair drops: the log from the first corruption on, and
//! damaged or unfinished snapshot files.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use okapi_types::GroupId;

pub use crate::check_report::{
    CheckReport, DropAction, EntryRange, GroupSummary, SegmentSummary, SnapshotSummary,
};
use crate::error::{IoContext, StorageError};
use crate::fs::Fs;
use crate::record::{self, Decoded, WalRecord};
use crate::recovery;
use crate::segment::{HEADER_LEN, WAL_DIR};
use crate::snapshot::{self, SNAPSHOT_DIR, SnapshotReader};

/// Checks the data directory; with `repair`, drops what the report lists (cutting
/// the log at its first corruption, removing later segments and damaged or
/// unfinished snapshots) and checks again. `Err` only for I/O failures that stop
/// the check itself.
pub fn check(fs: Arc<dyn Fs>, data_dir: &Path, repair: bool) -> Result<CheckReport, StorageError> {
    let mut report = inspect(&fs, data_dir)?;
    report.repair = repair;
    if repair && !report.would_drop.is_empty() {
        let actions = std::mem::take(&mut report.would_drop);
        for a in &actions {
            if a.whole_file {
                fs.remove_file(&a.file).at(&a.file)?;
            } else {
                fs.truncate(&a.file, a.offset).at(&a.file)?;
            }
        }
        for dir in [WAL_DIR, SNAPSHOT_DIR] {
            let dir = data_dir.join(dir);
            if fs.exists(&dir) {
                fs.sync_dir(&dir).at(&dir)?;
            }
        }
        report.dropped = actions;
        report.remaining = inspect(&fs, data_dir)?.problems;
    } else {
        report.remaining = report.problems.clone();
    }
    Ok(report)
}

/// One read-only pass over the directory.
fn inspect(fs: &Arc<dyn Fs>, data_dir: &Path) -> Result<CheckReport, StorageError> {
    let mut report = CheckReport {
        data_dir: data_dir.to_path_buf(),
        ..CheckReport::default()
    };
    let wal_dir = data_dir.join(WAL_DIR);
    let replay = recovery::replay(fs, &wal_dir)?;
    for stray in &replay.strays {
        report.notes.push(format!(
            "{}: not a WAL segment, ignored",
            wal_dir.join(stray).display()
        ));
    }
    for s in &replay.segments {
        report.segments.push(SegmentSummary {
            file: s.file.path.clone(),
            bytes: s.len,
            records: s.records,
        });
    }
    if let (Some(stop), Some((path, offset, reason, torn))) =
        (replay.stop.as_ref(), replay.stop_location())
    {
        let why = if torn {
            report.notes.push(format!(
                "torn write at the end of the log: {} at offset {offset}: {reason} \
                 (cut automatically at startup)",
                path.display()
            ));
            format!("torn write: {reason}")
        } else {
            report
                .problems
                .push(format!("{} at offset {offset}: {reason}", path.display()));
            format!("corrupt: {reason}")
        };
        let buf = fs.read(path).at(path)?;
        report
            .would_drop
            .push(describe_drop(path, &buf, offset, why));
        for later in &replay.segments[stop.segment + 1..] {
            let path = &later.file.path;
            let buf = fs.read(path).at(path)?;
            let why = format!(
                "follows the damage in {}",
                replay.segments[stop.segment].file.path.display()
            );
            report.would_drop.push(describe_drop(path, &buf, 0, why));
        }
    }
    for (g, s) in &replay.groups {
        let summary = report.groups.entry(*g).or_default();
        summary.entries = s
            .entries
            .front()
            .zip(s.entries.back())
            .map(|(a, b)| (a.0, b.0));
        summary.purged = s.purged.as_ref().map(|p| p.0);
        summary.hard_state = s.hard_state.is_some();
    }
    check_snapshots(fs, &data_dir.join(SNAPSHOT_DIR), &mut report)?;
    check_coverage(&mut report);
    Ok(report)
}

fn check_snapshots(
    fs: &Arc<dyn Fs>,
    dir: &Path,
    report: &mut CheckReport,
) -> Result<(), StorageError> {
    let (infos, others) = snapshot::list_in(fs, dir)?;
    for name in others {
        let path = dir.join(&name);
        if snapshot::is_tmp_name(&name) {
            let bytes = fs.len(&path).at(&path)?;
            report.notes.push(format!(
                "{}: unfinished snapshot (removed at startup)",
                path.display()
            ));
            report
                .would_drop
                .push(whole_file(&path, bytes, "unfinished snapshot".to_string()));
        } else {
            report
                .notes
                .push(format!("{}: not a snapshot, ignored", path.display()));
        }
    }
    for info in infos {
        let result = SnapshotReader::open(fs, &info.path, Some((info.group, info.index)))
            .and_then(SnapshotReader::verify);
        let error = match result {
            Ok(_) => {
                let newest = &mut report.groups.entry(info.group).or_default().snapshot;
                *newest = Some(newest.map_or(info.index, |n| n.max(info.index)));
                None
            }
            Err(StorageError::Corrupt {
                file,
                offset,
                reason,
            }) => {
                let what = format!("{} at offset {offset}: {reason}", file.display());
                report.problems.push(what.clone());
                let why = format!("damaged snapshot: {reason} at offset {offset}");
                report
                    .would_drop
                    .push(whole_file(&info.path, info.size, why));
                Some(what)
            }
            Err(e) => {
                // Unreadable for another reason (I/O): report, never drop.
                report.problems.push(e.to_string());
                Some(e.to_string())
            }
        };
        report.snapshots.push(SnapshotSummary {
            file: info.path,
            group: info.group,
            index: info.index,
            bytes: info.size,
            error,
        });
    }
    Ok(())
}

/// Every purged log prefix must be covered by a valid snapshot, or data is lost.
fn check_coverage(report: &mut CheckReport) {
    for (g, s) in &report.groups {
        let Some(purged) = s.purged else { continue };
        match s.snapshot {
            None => report.problems.push(format!(
                "group {g}: the log is purged up to index {purged} but no valid snapshot \
                 exists: entries up to {purged} are lost"
            )),
            Some(snap) if snap < purged => report.problems.push(format!(
                "group {g}: the log is purged up to index {purged} but the newest valid \
                 snapshot covers only up to {snap}: entries {}..={purged} are lost",
                snap + 1
            )),
            Some(_) => {}
        }
    }
}

fn whole_file(path: &Path, bytes: u64, reason: String) -> DropAction {
    DropAction {
        file: path.to_path_buf(),
        offset: 0,
        bytes,
        whole_file: true,
        reason,
        records: 0,
        entries: BTreeMap::new(),
        unreadable_bytes: 0,
    }
}

/// Describes dropping `buf[offset..]` of a segment: the records still readable in
/// it (searching past damage) and the bytes that are not.
fn describe_drop(path: &Path, buf: &[u8], offset: u64, reason: String) -> DropAction {
    let start = usize::try_from(offset).unwrap_or(buf.len()).min(buf.len());
    let mut action = whole_file(path, (buf.len() - start) as u64, reason);
    action.whole_file = start == 0;
    action.offset = offset;
    let mut pos = if start == 0 {
        HEADER_LEN.min(buf.len())
    } else {
        start
    };
    // A kept header is not "unreadable"; a dropped one counts as such below only if
    // it is damaged, which the reason already says.
    while pos < buf.len() {
        if let Decoded::Record(rec, n) = record::decode(&buf[pos..]) {
            count(&mut action, &rec);
            pos += n;
            continue;
        }
        let next = (pos + 1..buf.len()).find(|p| record::frame_at(buf, *p).is_some());
        let next = next.unwrap_or(buf.len());
        action.unreadable_bytes += (next - pos) as u64;
        pos = next;
    }
    action
}

fn count(action: &mut DropAction, rec: &WalRecord) {
    action.records += 1;
    if let WalRecord::Entry { group, index, .. } = rec {
        let r = action.entries.entry(*group).or_insert(EntryRange {
            count: 0,
            first: *index,
            last: *index,
        });
        r.count += 1;
        r.first = r.first.min(*index);
        r.last = r.last.max(*index);
    }
}

/// Entry ranges of every group in a report's drops, merged (for tests and tools).
pub fn dropped_entries(actions: &[DropAction]) -> BTreeMap<GroupId, EntryRange> {
    let mut out: BTreeMap<GroupId, EntryRange> = BTreeMap::new();
    for a in actions {
        for (g, r) in &a.entries {
            out.entry(*g)
                .and_modify(|m| {
                    m.count += r.count;
                    m.first = m.first.min(r.first);
                    m.last = m.last.max(r.last);
                })
                .or_insert(*r);
        }
    }
    out
}
