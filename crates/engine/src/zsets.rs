//! ZSet ops and reads.

use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::reply::Reply;
use crate::{ApplyCtx, ReadCtx};

/// ZSet writes.
#[derive(Debug, Clone, PartialEq)]
pub enum ZSetOp {}

/// ZSet reads.
#[derive(Debug, Clone, PartialEq)]
pub enum ZSetQuery {}

impl ZSetOp {
    pub(crate) fn apply(self, _ks: &mut Keyspace, _ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {}
    }
}

impl ZSetQuery {
    pub(crate) fn run(&self, _ks: &mut Keyspace, _ctx: &ReadCtx) -> Result<Reply, EngineError> {
        match *self {}
    }
}
