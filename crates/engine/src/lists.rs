//! List ops and reads.

use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::reply::Reply;
use crate::{ApplyCtx, ReadCtx};

/// List writes.
#[derive(Debug, Clone, PartialEq)]
pub enum ListOp {}

/// List reads.
#[derive(Debug, Clone, PartialEq)]
pub enum ListQuery {}

impl ListOp {
    pub(crate) fn apply(self, _ks: &mut Keyspace, _ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {}
    }
}

impl ListQuery {
    pub(crate) fn run(&self, _ks: &mut Keyspace, _ctx: &ReadCtx) -> Result<Reply, EngineError> {
        match *self {}
    }
}
