//! Property tests: a WAL cut at any byte offset recovers exactly a prefix of the
//! records written; a flipped byte is either cut as a torn tail or reported as
//! corruption at the damaged record, never returned as data.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use okapi_storage::{Fs, FsyncPolicy, GroupId, RecoveredGroup, StorageError, Wal, WalRecord};
use proptest::prelude::*;

use crate::common::*;

/// An abstract operation, turned into a valid record against the model.
#[derive(Debug, Clone)]
struct Op {
    group: u64,
    kind: u8,
    size: usize,
    param: u64,
}

fn op() -> impl Strategy<Value = Op> {
    (1u64..=3, 0u8..10, 0usize..60, any::<u64>()).prop_map(|(group, kind, size, param)| Op {
        group,
        kind,
        size,
        param,
    })
}

/// The recovery rules, written the simple way.
#[derive(Default, Clone, PartialEq, Debug)]
struct Model(BTreeMap<GroupId, RecoveredGroup>);

impl Model {
    fn apply(&mut self, rec: &WalRecord) {
        let g = self.0.entry(rec.group()).or_default();
        match rec {
            WalRecord::Entry { index, payload, .. } => g.entries.push((*index, payload.clone())),
            WalRecord::HardState { payload, .. } => g.hard_state = Some(payload.clone()),
            WalRecord::TruncateAfter { after, .. } => {
                g.entries.retain(|e| after.is_some_and(|a| e.0 <= a))
            }
            WalRecord::Purge { upto, payload, .. } => {
                if g.purged.as_ref().is_none_or(|p| p.0 <= *upto) {
                    g.entries.retain(|e| e.0 > *upto);
                    g.purged = Some((*upto, payload.clone()));
                }
            }
            WalRecord::Reset { .. } => {
                g.entries.clear();
                g.purged = None;
            }
        }
    }

    /// A record valid for the current state.
    fn record(&self, op: &Op) -> WalRecord {
        let group = GroupId(op.group);
        let payload = Bytes::from(vec![op.param as u8; op.size]);
        let g = self.0.get(&group).cloned().unwrap_or_default();
        let last = g.entries.last().map(|e| e.0);
        let purged = g.purged.as_ref().map(|p| p.0);
        let next = last.or(purged).map_or(1, |i| i + 1);
        match op.kind {
            0..=5 => WalRecord::Entry {
                group,
                index: next,
                payload,
            },
            6 => WalRecord::HardState { group, payload },
            7 => {
                let after = (!op.param.is_multiple_of(3))
                    .then(|| purged.unwrap_or(0) + op.param % (next.max(1)));
                WalRecord::TruncateAfter { group, after }
            }
            8 => WalRecord::Purge {
                group,
                upto: purged.unwrap_or(0) + op.param % (next + 2),
                payload,
            },
            _ => WalRecord::Reset { group },
        }
    }
}

/// Writes the ops one record per append; returns the records, the model after
/// each prefix, and the log size after each prefix.
fn write_log(fs: &Arc<dyn Fs>, ops: &[Op]) -> (Vec<Model>, Vec<u64>) {
    let (wal, _) = open(fs, opts(FsyncPolicy::No, 1 << 30));
    let mut model = Model::default();
    let mut models = vec![model.clone()];
    let mut ends = vec![wal.status().bytes];
    for op in ops {
        let rec = model.record(op);
        model.apply(&rec);
        wal.append(vec![rec]).expect("a valid record");
        models.push(model.clone());
        ends.push(wal.status().bytes);
    }
    wal.close().expect("close");
    (models, ends)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn a_wal_cut_anywhere_recovers_exactly_a_prefix(ops in prop::collection::vec(op(), 0..40), cut in any::<prop::sample::Index>()) {
        let (fs_impl, fs) = faulty();
        let (models, ends) = write_log(&fs, &ops);
        let seg = last_segment(&fs_impl);
        let total = *ends.last().expect("at least the header");
        let cut = cut.index(total as usize + 1) as u64;
        fs.truncate(&seg, cut).expect("cut");
        let (_wal, rec) = Wal::open(fs.clone(), &data_dir(), opts(FsyncPolicy::No, 1 << 30)).expect("a cut log opens");
        let kept = ends.iter().rposition(|e| *e <= cut).unwrap_or(0);
        let want: Vec<_> = models[kept].0.clone().into_iter().collect();
        let got: Vec<_> = rec.groups.into_iter().collect();
        prop_assert_eq!(got, want, "cut at {} of {}, {} records kept", cut, total, kept);
        let boundary = ends[0] <= cut && ends.contains(&cut);
        match rec.cut_tail {
            None => prop_assert!(boundary, "a cut inside a record must be reported"),
            Some(t) => {
                prop_assert!(!boundary);
                prop_assert_eq!(t.offset, if cut < ends[0] { 0 } else { ends[kept] });
                prop_assert_eq!(t.bytes, if cut < ends[0] { cut } else { cut - ends[kept] });
            }
        }
    }

    #[test]
    fn a_flipped_byte_is_cut_or_named_never_returned(ops in prop::collection::vec(op(), 1..25), at in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let (fs_impl, fs) = faulty();
        let (models, ends) = write_log(&fs, &ops);
        let seg = last_segment(&fs_impl);
        let total = *ends.last().expect("header");
        let pos = at.index(total as usize) as u64;
        prop_assert!(fs_impl.corrupt(&seg, pos, mask));
        let Some(hit) = ends.iter().rposition(|e| *e <= pos) else {
            let err = Wal::open(fs.clone(), &data_dir(), opts(FsyncPolicy::No, 1 << 30)).expect_err("a damaged header");
            prop_assert!(matches!(err, StorageError::Corrupt { offset: 0, .. }), "{}", err);
            return Ok(());
        };
        match Wal::open(fs.clone(), &data_dir(), opts(FsyncPolicy::No, 1 << 30)) {
            Ok((_wal, rec)) => {
                // Only damage to the very last record may be taken for a torn write.
                prop_assert_eq!(hit, ends.len() - 2, "flip at {} in record {} was not noticed", pos, hit);
                let got: Vec<_> = rec.groups.into_iter().collect();
                let want: Vec<_> = models[hit].0.clone().into_iter().collect();
                prop_assert_eq!(got, want);
                prop_assert_eq!(rec.cut_tail.map(|t| t.offset), Some(ends[hit]));
            }
            Err(StorageError::Corrupt { file, offset, .. }) => {
                prop_assert_eq!(file, seg);
                prop_assert_eq!(offset, ends[hit]);
            }
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }
    }
}
