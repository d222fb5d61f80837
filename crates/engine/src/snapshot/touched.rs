//! Which keys an op may change: what a snapshot under way must copy before `apply`
//! runs (copy-on-write at key granularity).
//!
//! Every key an op names is listed, sources included (lazy expiry can remove a source
//! key, and listing a key that ends up unchanged costs one pre-image at most). The
//! matches are exhaustive on purpose: a new op kind does not compile until it says
//! which keys it touches.

use bytes::Bytes;
use okapi_types::Namespace;

use crate::bitmaps::BitOp;
use crate::blocks::BlockOp;
use crate::engine::{Op, OpKind, TxnItem};
use crate::geo::GeoOp;
use crate::hashes::HashOp;
use crate::hyperloglog::HllOp;
use crate::keys::KeyOp;
use crate::lists::ListOp;
use crate::sets::SetOp;
use crate::streams::StreamOp;
use crate::strings::StringOp;
use crate::tables::TableOp;
use crate::zsets::ZSetOp;

/// Something an op may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touched<'a> {
    /// One key of one namespace (which may not exist yet).
    Key(Namespace, &'a [u8]),
    /// Every key of one namespace (FLUSHDB).
    All(Namespace),
    /// Every key of every namespace (FLUSHALL).
    Everything,
}

impl Op {
    /// Everything this op may change, in no particular order, possibly with repeats.
    /// Conservative: a listed key may end up unchanged, but no changed key is missing.
    pub fn touched_keys(&self) -> Vec<Touched<'_>> {
        let mut touched = Vec::new();
        self.for_each_touched(&mut |t| touched.push(t));
        touched
    }

    /// Calls `f` with everything this op may change (see [`Op::touched_keys`]),
    /// without collecting: `apply` calls this for every op while a snapshot runs.
    pub fn for_each_touched<'a, F: FnMut(Touched<'a>)>(&'a self, f: &mut F) {
        let db = self.db;
        let mut key = |k: &'a Bytes| f(Touched::Key(db, k));
        match &self.kind {
            OpKind::Str(op) => string_keys(op, &mut key),
            OpKind::Hash(op) => hash_keys(op, &mut key),
            OpKind::List(op) => list_keys(op, &mut key),
            OpKind::Set(op) => set_keys(op, &mut key),
            OpKind::ZSet(op) => zset_keys(op, &mut key),
            OpKind::Table(op) => table_keys(op, &mut key),
            OpKind::Block(op) => block_keys(op, &mut key),
            OpKind::Bit(op) => bit_keys(op, &mut key),
            OpKind::Hll(op) => match op {
                HllOp::Add { key: k, .. } | HllOp::Count { key: k } => key(k),
                HllOp::Merge { dst, .. } => key(dst),
            },
            // The source is only read.
            OpKind::Geo(GeoOp::SearchStore { dst, .. } | GeoOp::RadiusStore { dst, .. }) => {
                key(dst)
            }
            OpKind::Stream(
                StreamOp::Add { key: k, .. }
                | StreamOp::Trim { key: k, .. }
                | StreamOp::Del { key: k, .. }
                | StreamOp::SetId { key: k, .. }
                | StreamOp::GroupCreate { key: k, .. }
                | StreamOp::GroupSetId { key: k, .. }
                | StreamOp::GroupDestroy { key: k, .. }
                | StreamOp::ConsumerCreate { key: k, .. }
                | StreamOp::ConsumerDelete { key: k, .. }
                | StreamOp::Ack { key: k, .. }
                | StreamOp::AutoClaim { key: k, .. },
            ) => key(k),
            OpKind::Stream(StreamOp::Claim(claim)) => key(&claim.key),
            OpKind::Stream(StreamOp::ReadGroup(rg)) => rg.streams.iter().for_each(|(k, _)| key(k)),
            OpKind::Key(op) => key_op_touches(db, op, f),
            // The writes a script makes pass through `Engine::apply` one by one.
            OpKind::Script(_) => {}
            // Libraries travel in the snapshot header, taken when the snapshot begins.
            OpKind::Function(_) => {}
            OpKind::Txn(txn) => {
                // WATCH checks only read; queued reads change nothing replicated.
                for item in &txn.items {
                    match item {
                        TxnItem::Write(op) => op.for_each_touched(f),
                        TxnItem::Read(_) => {}
                    }
                }
            }
        }
    }
}

fn key_op_touches<'a>(db: Namespace, op: &'a KeyOp, f: &mut impl FnMut(Touched<'a>)) {
    match op {
        KeyOp::Del { keys } | KeyOp::ExpireDue { keys } => {
            keys.iter().for_each(|k| f(Touched::Key(db, k)));
        }
        KeyOp::Expire { key, .. } | KeyOp::Persist { key } | KeyOp::Restore { key, .. } => {
            f(Touched::Key(db, key))
        }
        KeyOp::Rename { src, dst, .. } => {
            f(Touched::Key(db, src));
            f(Touched::Key(db, dst));
        }
        KeyOp::Copy {
            src, dst, dst_db, ..
        } => {
            // The source only gets read, unless it expired: then the write removes it.
            f(Touched::Key(db, src));
            f(Touched::Key(*dst_db, dst));
        }
        KeyOp::Move { key, dst_db } => {
            f(Touched::Key(db, key));
            f(Touched::Key(*dst_db, key));
        }
        // The sorted key and the pattern keys are only read.
        KeyOp::SortStore { dst, .. } => f(Touched::Key(db, dst)),
        KeyOp::FlushDb => f(Touched::All(db)),
        KeyOp::SwapDb { other } => {
            f(Touched::All(db));
            f(Touched::All(*other));
        }
        KeyOp::FlushAll => f(Touched::Everything),
    }
}

fn block_keys<'a>(op: &'a BlockOp, key: &mut impl FnMut(&'a Bytes)) {
    match op {
        BlockOp::Create { key: k, .. }
        | BlockOp::Write { key: k, .. }
        | BlockOp::Zero { key: k, .. }
        | BlockOp::Truncate { key: k, .. } => key(k),
        BlockOp::Clone { src, dst, .. } => {
            key(src);
            key(dst);
        }
        BlockOp::Scatter { pieces } => pieces.iter().for_each(|p| key(&p.key)),
    }
}

fn string_keys<'a>(op: &'a StringOp, key: &mut impl FnMut(&'a Bytes)) {
    match op {
        StringOp::Set { key: k, .. }
        | StringOp::SetNx { key: k, .. }
        | StringOp::GetDel { key: k }
        | StringOp::GetEx { key: k, .. }
        | StringOp::Append { key: k, .. }
        | StringOp::SetRange { key: k, .. }
        | StringOp::IncrBy { key: k, .. }
        | StringOp::IncrByFloat { key: k, .. }
        | StringOp::IncrByFloatText { key: k, .. } => key(k),
        StringOp::MSet { pairs, .. } => pairs.iter().for_each(|(k, _)| key(k)),
    }
}

fn hash_keys<'a>(op: &'a HashOp, key: &mut impl FnMut(&'a Bytes)) {
    match op {
        HashOp::Set { key: k, .. }
        | HashOp::SetNx { key: k, .. }
        | HashOp::Del { key: k, .. }
        | HashOp::IncrBy { key: k, .. }
        | HashOp::IncrByFloat { key: k, .. }
        | HashOp::IncrByFloatText { key: k, .. } => key(k),
    }
}

fn list_keys<'a>(op: &'a ListOp, key: &mut impl FnMut(&'a Bytes)) {
    match op {
        ListOp::Push { key: k, .. }
        | ListOp::Pop { key: k, .. }
        | ListOp::Set { key: k, .. }
        | ListOp::Insert { key: k, .. }
        | ListOp::Rem { key: k, .. }
        | ListOp::Trim { key: k, .. } => key(k),
        ListOp::Move { src, dst, .. } => {
            key(src);
            key(dst);
        }
        ListOp::MPop { keys, .. } | ListOp::PopFirst { keys, .. } => keys.iter().for_each(key),
    }
}

fn set_keys<'a>(op: &'a SetOp, key: &mut impl FnMut(&'a Bytes)) {
    match op {
        SetOp::Add { key: k, .. } | SetOp::Rem { key: k, .. } | SetOp::Pop { key: k, .. } => key(k),
        SetOp::Move { src, dst, .. } => {
            key(src);
            key(dst);
        }
        SetOp::Store { dst, keys, .. } => {
            key(dst);
            keys.iter().for_each(key);
        }
    }
}

fn zset_keys<'a>(op: &'a ZSetOp, key: &mut impl FnMut(&'a Bytes)) {
    match op {
        ZSetOp::Add { key: k, .. }
        | ZSetOp::Rem { key: k, .. }
        | ZSetOp::RemRange { key: k, .. } => key(k),
        ZSetOp::Pop { keys, .. } => keys.iter().for_each(key),
        ZSetOp::RangeStore { dst, src, .. } => {
            key(dst);
            key(src);
        }
        ZSetOp::CombineStore { dst, combine } => {
            key(dst);
            combine.keys.iter().for_each(key);
        }
    }
}

fn bit_keys<'a>(op: &'a BitOp, key: &mut impl FnMut(&'a Bytes)) {
    match op {
        BitOp::SetBit { key: k, .. } | BitOp::Field { key: k, .. } => key(k),
        BitOp::Combine { dst, .. } => key(dst),
    }
}

fn table_keys<'a>(op: &'a TableOp, key: &mut impl FnMut(&'a Bytes)) {
    match op {
        TableOp::Set { key: k, .. }
        | TableOp::Del { key: k, .. }
        | TableOp::DelRange { key: k, .. } => key(k),
    }
}
