//! Test support shared by the family modules' unit tests: an engine driven like the
//! log drives it (each op at a fresh index, a fixed clock).

use bytes::Bytes;
use okapi_types::Namespace;

use crate::{ApplyCtx, Engine, Op, OpKind, Query, QueryKind, ReadCtx, Reply};

/// The clock every test op and read runs at.
pub(crate) const NOW_MS: u64 = 1_000;

/// An engine plus the next log index.
pub(crate) struct TestEngine {
    pub(crate) engine: Engine,
    index: u64,
    random: u64,
}

impl TestEngine {
    /// One namespace hashing with `seed`; reads draw `random`.
    pub(crate) fn new(seed: u64, random: u64) -> Self {
        Self {
            engine: Engine::new(1, seed),
            index: 0,
            random,
        }
    }

    /// Applies an op in namespace 0 at the next index.
    pub(crate) fn op(&mut self, kind: impl Into<OpKind>) -> Reply {
        self.index += 1;
        let ctx = ApplyCtx {
            now_ms: NOW_MS,
            index: self.index,
        };
        self.engine.apply(
            Op {
                db: Namespace(0),
                kind: kind.into(),
            },
            &ctx,
        )
    }

    /// Runs a read in namespace 0 with the engine's default random bits.
    pub(crate) fn query(&mut self, kind: impl Into<QueryKind>) -> Reply {
        let random = self.random;
        self.query_random(kind, random)
    }

    /// Runs a read in namespace 0 with the given random bits.
    pub(crate) fn query_random(&mut self, kind: impl Into<QueryKind>, random: u64) -> Reply {
        let query = Query {
            db: Namespace(0),
            kind: kind.into(),
        };
        self.engine.query(
            &query,
            &ReadCtx {
                now_ms: NOW_MS,
                random,
            },
        )
    }

    /// True when `key` exists in namespace 0.
    pub(crate) fn exists(&self, key: &str) -> bool {
        self.engine
            .space(Namespace(0))
            .is_some_and(|ks| ks.peek(key.as_bytes(), NOW_MS).is_some())
    }
}

/// Bytes from text.
pub(crate) fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Declares a test fixture type wrapping [`TestEngine`] (seed, default random bits), so
/// each family's tests can add their own helper methods to it.
macro_rules! test_node {
    ($name:ident, $seed:expr, $random:expr) => {
        struct $name(crate::testing::TestEngine);

        impl std::ops::Deref for $name {
            type Target = crate::testing::TestEngine;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl std::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }

        impl $name {
            fn fresh() -> Self {
                $name(crate::testing::TestEngine::new($seed, $random))
            }
        }
    };
}

pub(crate) use test_node;
