//! `CheckReport` and `DropAction`: what `okapi check` found and what `--repair`
//! drops (or would drop), with a human summary as `Display`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use okapi_types::GroupId;

/// Entries of one group found in dropped bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRange {
    /// How many entry records.
    pub count: u64,
    /// Lowest index seen.
    pub first: u64,
    /// Highest index seen.
    pub last: u64,
}

/// One thing `check --repair` drops: the end of a file or a whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropAction {
    /// The file.
    pub file: PathBuf,
    /// Where the cut starts (0 when the whole file goes).
    pub offset: u64,
    /// Bytes dropped.
    pub bytes: u64,
    /// The whole file is removed rather than cut.
    pub whole_file: bool,
    /// Why.
    pub reason: String,
    /// Checksummed WAL records found in the dropped bytes (searched past damage).
    pub records: u64,
    /// WAL entries per group among those records.
    pub entries: BTreeMap<GroupId, EntryRange>,
    /// Dropped bytes that hold no readable record.
    pub unreadable_bytes: u64,
}

impl fmt::Display for DropAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.whole_file {
            write!(f, "remove {} ({} bytes)", self.file.display(), self.bytes)?;
        } else {
            write!(
                f,
                "cut {} at offset {} ({} bytes)",
                self.file.display(),
                self.offset,
                self.bytes
            )?;
        }
        write!(f, ": {}", self.reason)?;
        if self.records > 0 || self.unreadable_bytes > 0 {
            write!(f, "; drops {} records", self.records)?;
            for (g, r) in &self.entries {
                write!(
                    f,
                    ", group {g}: {} entries {}..={}",
                    r.count, r.first, r.last
                )?;
            }
            if self.unreadable_bytes > 0 {
                write!(f, ", {} unreadable bytes", self.unreadable_bytes)?;
            }
        }
        Ok(())
    }
}

/// One WAL segment as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSummary {
    /// The file.
    pub file: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Valid records read (up to any damage).
    pub records: u64,
}

/// One snapshot as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// The file.
    pub file: PathBuf,
    /// Its group.
    pub group: GroupId,
    /// Its index.
    pub index: u64,
    /// Its size.
    pub bytes: u64,
    /// `None` if valid, else what is wrong.
    pub error: Option<String>,
}

/// One group as the valid part of the log and the snapshots describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupSummary {
    /// First and last live entry index.
    pub entries: Option<(u64, u64)>,
    /// Purge point from the log.
    pub purged: Option<u64>,
    /// Whether the log holds a hard state.
    pub hard_state: bool,
    /// Index of the newest valid snapshot.
    pub snapshot: Option<u64>,
}

/// What [`crate::check()`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// The data directory checked.
    pub data_dir: PathBuf,
    /// Whether this run repaired (`--repair`).
    pub repair: bool,
    /// WAL segments in order.
    pub segments: Vec<SegmentSummary>,
    /// Snapshot files.
    pub snapshots: Vec<SnapshotSummary>,
    /// Every group seen in the log or the snapshots.
    pub groups: BTreeMap<GroupId, GroupSummary>,
    /// Damage and inconsistencies found (before any repair).
    pub problems: Vec<String>,
    /// Harmless findings: a torn tail (cut at startup), leftover temporary files.
    pub notes: Vec<String>,
    /// What `--repair` would drop (filled when `repair` is false).
    pub would_drop: Vec<DropAction>,
    /// What this run dropped (filled when `repair` is true).
    pub dropped: Vec<DropAction>,
    /// Problems still present after this run (a repair re-checks the directory).
    pub remaining: Vec<String>,
}

impl CheckReport {
    /// True when nothing is (or, after a repair, remains) wrong: the exit code of
    /// `okapi check` is 0 exactly then.
    pub fn is_ok(&self) -> bool {
        self.remaining.is_empty()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "okapi check {}", self.data_dir.display())?;
        let bytes: u64 = self.segments.iter().map(|s| s.bytes).sum();
        let records: u64 = self.segments.iter().map(|s| s.records).sum();
        writeln!(
            f,
            "wal: {} segments, {bytes} bytes, {records} records",
            self.segments.len()
        )?;
        for s in &self.segments {
            writeln!(
                f,
                "  {}  {} bytes  {} records",
                s.file.display(),
                s.bytes,
                s.records
            )?;
        }
        writeln!(f, "snapshots: {}", self.snapshots.len())?;
        for s in &self.snapshots {
            let state = s.error.as_deref().unwrap_or("ok");
            writeln!(
                f,
                "  {}  group {} index {}  {} bytes  {state}",
                s.file.display(),
                s.group,
                s.index,
                s.bytes
            )?;
        }
        writeln!(f, "groups: {}", self.groups.len())?;
        for (g, s) in &self.groups {
            let entries = match s.entries {
                Some((a, b)) => format!("entries {a}..={b}"),
                None => "no entries".to_string(),
            };
            let opt = |x: Option<u64>| x.map_or("-".to_string(), |v| v.to_string());
            writeln!(
                f,
                "  group {g}: {entries}, purged {}, snapshot {}, hard state {}",
                opt(s.purged),
                opt(s.snapshot),
                if s.hard_state { "yes" } else { "no" }
            )?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        for p in &self.problems {
            writeln!(f, "PROBLEM: {p}")?;
        }
        for d in &self.would_drop {
            writeln!(f, "--repair would {d}")?;
        }
        for d in &self.dropped {
            writeln!(f, "repair: did {d}")?;
        }
        if self.repair {
            for p in &self.remaining {
                writeln!(f, "STILL WRONG after repair: {p}")?;
            }
        }
        let plural = |n: usize| if n == 1 { "problem" } else { "problems" };
        match (self.is_ok(), self.problems.len()) {
            (true, 0) => writeln!(f, "result: OK"),
            (true, n) => writeln!(f, "result: repaired ({n} {})", plural(n)),
            (false, _) => {
                let n = self.remaining.len();
                let hint = if self.repair {
                    ""
                } else {
                    " (see what --repair would drop)"
                };
                writeln!(f, "result: {n} {}{hint}", plural(n))
            }
        }
    }
}
