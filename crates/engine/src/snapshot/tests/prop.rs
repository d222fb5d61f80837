//! The snapshot property: begun at a random point, pulled in random sizes while random
//! ops keep being applied, the restored engine equals the engine at the snapshot
//! point, and replaying the later ops on it gives the same replies and final state.

use bytes::Bytes;
use okapi_types::Namespace;
use proptest::prelude::*;

use super::ops::{SPACES, START_MS, Step, TxnStep, step, step_after};
use crate::engine::{Txn, TxnItem, WatchCheck};
use crate::keys::KeyOp;
use crate::sets::SetOp;
use crate::snapshot::dump::dump;
use crate::strings::StringOp;
use crate::{ApplyCtx, Engine, Op, OpKind, Query, Reply, WatchStamp};

/// Drives an engine the way the log does, recording what it applied.
struct Driver {
    engine: Engine,
    now: u64,
    index: u64,
    /// Ops applied (with their stamps and replies) since recording started.
    log: Vec<(Op, ApplyCtx, Reply)>,
    chunks: Vec<Vec<u8>>,
}

fn fill_key(tag: u8, i: u16) -> Bytes {
    Bytes::from(format!("fill{tag}:{i}"))
}

impl Driver {
    fn apply(&mut self, op: Op) {
        self.index += 1;
        let ctx = ApplyCtx {
            now_ms: self.now,
            index: self.index,
        };
        let reply = self.engine.apply(op.clone(), &ctx);
        self.log.push((op, ctx, reply));
    }

    fn op(&mut self, db: u32, kind: impl Into<OpKind>) {
        self.apply(Op {
            db: Namespace(db),
            kind: kind.into(),
        });
    }

    fn run(&mut self, step: &Step) {
        match step {
            Step::Op(db, kind) => self.op(*db, kind.clone()),
            Step::Txn { watch, items } => {
                let checks = watch.iter().map(|(db, key, fresh)| {
                    let stamp = match self.engine.watch_stamp(Namespace(*db), key, self.now) {
                        Some(stamp) if *fresh => stamp,
                        _ => WatchStamp::Present(u64::MAX),
                    };
                    let (db, key) = (Namespace(*db), key.clone());
                    WatchCheck { db, key, stamp }
                });
                let items = items.iter().map(|item| match item {
                    TxnStep::Write(db, kind) => TxnItem::Write(Op {
                        db: Namespace(*db),
                        kind: kind.clone(),
                    }),
                    TxnStep::Read(db, kind) => TxnItem::Read(Query {
                        db: Namespace(*db),
                        kind: kind.clone(),
                    }),
                });
                let txn = Txn {
                    checks: checks.collect(),
                    items: items.collect(),
                };
                self.op(0, OpKind::Txn(txn));
            }
            Step::Fill { db, tag, count } => {
                let pairs = (0..*count)
                    .map(|i| (fill_key(*tag, i), Bytes::from(format!("{}", i * 3))))
                    .collect();
                self.op(*db, StringOp::MSet { pairs, nx: false });
            }
            Step::Drain { db, tag, count } => {
                let keys = (0..*count).map(|i| fill_key(*tag, i)).collect();
                self.op(*db, KeyOp::Del { keys });
            }
            Step::BigSet { db, key, count } => {
                let members: Vec<Bytes> =
                    (0..*count).map(|i| Bytes::from(format!("s{i}"))).collect();
                let removed = members.iter().step_by(3).cloned().collect();
                self.op(
                    *db,
                    SetOp::Add {
                        key: key.clone(),
                        members,
                    },
                );
                self.op(
                    *db,
                    SetOp::Rem {
                        key: key.clone(),
                        members: removed,
                    },
                );
            }
            Step::ActiveExpire => {
                for op in self.engine.expiry_ops(self.now, 3) {
                    self.apply(op);
                }
            }
            Step::Advance(ms) => self.now += u64::from(*ms),
            Step::Pull(max) => self
                .chunks
                .extend(self.engine.snapshot_next(usize::from(*max))),
        }
    }
}

fn restore(
    header: &crate::SnapshotHeader,
    chunks: &[Vec<u8>],
) -> Result<Engine, crate::EngineError> {
    let mut restore = Engine::restore_begin(header)?;
    for chunk in chunks {
        restore.restore_chunk(chunk)?;
    }
    restore.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn restored_snapshot_is_the_state_at_its_point_and_replays_identically(
        seed in any::<u64>(),
        before in proptest::collection::vec(step(), 5..60),
        after in proptest::collection::vec(step_after(), 0..120),
        drain_sizes in proptest::collection::vec(1usize..600, 1..8),
    ) {
        let mut driver = Driver {
            engine: Engine::new(SPACES, seed),
            now: START_MS,
            index: 0,
            log: Vec::new(),
            chunks: Vec::new(),
        };
        for step in before.iter().filter(|s| !matches!(s, Step::Pull(_))) {
            driver.run(step);
        }
        let at_point = dump(&driver.engine);
        let header = driver.engine.snapshot_begin().expect("no snapshot runs yet");
        prop_assert!(driver.engine.snapshot_begin().is_err(), "one snapshot at a time");
        driver.log.clear();
        for step in &after {
            driver.run(step);
        }
        for size in drain_sizes.iter().cycle() {
            match driver.engine.snapshot_next(*size) {
                Some(chunk) => driver.chunks.push(chunk),
                None => break,
            }
        }
        prop_assert!(!driver.engine.snapshot_in_progress());
        let stats = driver.engine.snapshot_stats();
        prop_assert_eq!(stats.keys_emitted, at_point.keys.len() as u64);

        let mut restored = restore(&header, &driver.chunks).expect("a complete snapshot restores");
        prop_assert_eq!(&dump(&restored), &at_point);

        for (op, ctx, reply) in &driver.log {
            let again = restored.apply(op.clone(), ctx);
            prop_assert_eq!(&again, reply, "op {:?}", op);
        }
        prop_assert_eq!(dump(&restored), dump(&driver.engine));
        let later = driver.now + 100_000;
        prop_assert_eq!(restored.expiry_ops(later, 1_000), driver.engine.expiry_ops(later, 1_000));
    }
}
