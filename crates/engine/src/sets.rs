//! Set ops and reads.

use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::reply::Reply;
use crate::{ApplyCtx, ReadCtx};

/// Set writes.
#[derive(Debug, Clone, PartialEq)]
pub enum SetOp {}

/// Set reads.
#[derive(Debug, Clone, PartialEq)]
pub enum SetQuery {}

impl SetOp {
    pub(crate) fn apply(self, _ks: &mut Keyspace, _ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {}
    }
}

impl SetQuery {
    pub(crate) fn run(&self, _ks: &mut Keyspace, _ctx: &ReadCtx) -> Result<Reply, EngineError> {
        match *self {}
    }
}
