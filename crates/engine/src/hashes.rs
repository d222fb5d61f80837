//! Hash ops and reads.

use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::reply::Reply;
use crate::{ApplyCtx, ReadCtx};

/// Hash writes.
#[derive(Debug, Clone, PartialEq)]
pub enum HashOp {}

/// Hash reads.
#[derive(Debug, Clone, PartialEq)]
pub enum HashQuery {}

impl HashOp {
    pub(crate) fn apply(self, _ks: &mut Keyspace, _ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {}
    }
}

impl HashQuery {
    pub(crate) fn run(&self, _ks: &mut Keyspace, _ctx: &ReadCtx) -> Result<Reply, EngineError> {
        match *self {}
    }
}
