//! Bitmap ops and reads through the engine's entry points. Expected values are what
//! redis-server 7.0 answers to the same commands.

use super::*;
use crate::strings::{SetCond, SetExpire, StringOp, StringQuery};
use crate::testing::b;

crate::testing::test_node!(Fixture, 42, 7);

impl Fixture {
    fn set(&mut self, key: &str, value: &[u8]) {
        self.op(StringOp::Set {
            key: b(key),
            value: Bytes::copy_from_slice(value),
            cond: SetCond::Always,
            get: false,
            expire: SetExpire::Clear,
        });
    }

    fn get(&mut self, key: &str) -> Reply {
        self.query(StringQuery::Get { key: b(key) })
    }

    fn setbit(&mut self, key: &str, offset: u64, on: bool) -> Reply {
        self.op(BitOp::SetBit {
            key: b(key),
            offset,
            on,
        })
    }

    fn field(&mut self, key: &str, ops: Vec<FieldOp>) -> Reply {
        self.op(BitOp::Field { key: b(key), ops })
    }
}

fn span(start: i64, end: Option<i64>, unit: BitUnit) -> BitRange {
    BitRange::Span { start, end, unit }
}

fn f(kind: FieldKind, signed: bool, bits: u32, offset: u64, overflow: Overflow) -> FieldOp {
    FieldOp {
        kind,
        signed,
        bits,
        offset,
        overflow,
    }
}

#[test]
fn setbit_grows_with_zeros_and_replies_the_old_bit() {
    let mut n = Fixture::fresh();
    assert_eq!(n.setbit("s", 7, true), Reply::Int(0));
    assert_eq!(n.setbit("s", 7, true), Reply::Int(1));
    assert_eq!(n.setbit("s", 17, true), Reply::Int(0));
    assert_eq!(n.get("s"), Reply::bulk(&[0x01, 0x00, 0x40]));
    assert_eq!(
        n.query(BitQuery::GetBit {
            key: b("s"),
            offset: 17
        }),
        Reply::Int(1)
    );
    assert_eq!(
        n.query(BitQuery::GetBit {
            key: b("s"),
            offset: 999
        }),
        Reply::Int(0)
    );
    // An integer-encoded string is its decimal text: "5" is 0x35.
    n.set("n", b"5");
    assert_eq!(n.setbit("n", 7, false), Reply::Int(1));
    assert_eq!(n.get("n"), Reply::bulk(b"4"));
}

#[test]
fn bitcount_and_bitpos_clamp_ranges_as_redis() {
    let mut n = Fixture::fresh();
    n.set("f", &[0xff, 0xff]);
    n.set("s", &[0x00, 0x0f, 0xf0]);
    let count = |n: &mut Fixture, key: &str, range: BitRange| {
        n.query(BitQuery::Count { key: b(key), range })
    };
    assert_eq!(count(&mut n, "s", BitRange::Whole), Reply::Int(8));
    assert_eq!(
        count(&mut n, "s", span(1, Some(1), BitUnit::Byte)),
        Reply::Int(4)
    );
    assert_eq!(
        count(&mut n, "s", span(10, Some(17), BitUnit::Bit)),
        Reply::Int(6)
    );
    assert_eq!(
        count(&mut n, "s", span(-100, Some(100), BitUnit::Byte)),
        Reply::Int(8)
    );
    assert_eq!(
        count(&mut n, "s", span(2, Some(1), BitUnit::Byte)),
        Reply::Int(0)
    );
    assert_eq!(
        count(&mut n, "missing", BitRange::Invalid(EngineError::Syntax)),
        Reply::Int(0)
    );
    assert_eq!(
        count(&mut n, "s", BitRange::Invalid(EngineError::Syntax)),
        Reply::Error(EngineError::Syntax)
    );
    let pos = |n: &mut Fixture, key: &str, bit: bool, range: BitRange| {
        n.query(BitQuery::Pos {
            key: b(key),
            bit,
            range,
        })
    };
    assert_eq!(pos(&mut n, "f", false, BitRange::Whole), Reply::Int(16));
    assert_eq!(
        pos(&mut n, "f", false, span(0, None, BitUnit::Byte)),
        Reply::Int(16)
    );
    assert_eq!(
        pos(&mut n, "f", false, span(0, Some(-1), BitUnit::Byte)),
        Reply::Int(-1)
    );
    assert_eq!(
        pos(&mut n, "f", true, span(-3, Some(-1), BitUnit::Bit)),
        Reply::Int(13)
    );
    assert_eq!(pos(&mut n, "s", true, BitRange::Whole), Reply::Int(12));
    assert_eq!(
        pos(&mut n, "s", false, span(1, Some(1), BitUnit::Byte)),
        Reply::Int(8)
    );
    assert_eq!(
        pos(&mut n, "missing", true, BitRange::Whole),
        Reply::Int(-1)
    );
    assert_eq!(
        pos(&mut n, "missing", false, BitRange::Whole),
        Reply::Int(0)
    );
}

#[test]
fn bitop_pads_short_sources_and_deletes_an_empty_result() {
    let mut n = Fixture::fresh();
    n.set("a", &[0xf0, 0x0f]);
    n.set("b", &[0xff]);
    let combine = |n: &mut Fixture, op, keys: &[&str]| {
        n.op(BitOp::Combine {
            op,
            dst: b("d"),
            keys: keys.iter().map(|k| b(k)).collect(),
        })
    };
    assert_eq!(
        combine(&mut n, BitOperation::And, &["a", "b"]),
        Reply::Int(2)
    );
    assert_eq!(n.get("d"), Reply::bulk(&[0xf0, 0x00]));
    assert_eq!(
        combine(&mut n, BitOperation::Or, &["a", "b"]),
        Reply::Int(2)
    );
    assert_eq!(n.get("d"), Reply::bulk(&[0xff, 0x0f]));
    assert_eq!(
        combine(&mut n, BitOperation::Xor, &["a", "b"]),
        Reply::Int(2)
    );
    assert_eq!(n.get("d"), Reply::bulk(&[0x0f, 0x0f]));
    assert_eq!(combine(&mut n, BitOperation::Not, &["a"]), Reply::Int(2));
    assert_eq!(n.get("d"), Reply::bulk(&[0x0f, 0xf0]));
    assert_eq!(combine(&mut n, BitOperation::And, &["none"]), Reply::Int(0));
    assert_eq!(n.get("d"), Reply::Nil);
}

#[test]
fn bitfield_overflow_modes_match_redis() {
    let mut n = Fixture::fresh();
    // BITFIELD k GET i8 #1 SET u4 #2 5 INCRBY i4 0 100 OVERFLOW SAT INCRBY i4 0 100
    //   OVERFLOW FAIL INCRBY i4 0 100  ->  0 0 4 7 nil
    let reply = n.field(
        "k",
        vec![
            f(FieldKind::Get, true, 8, 8, Overflow::Wrap),
            f(FieldKind::Set(5), false, 4, 8, Overflow::Wrap),
            f(FieldKind::IncrBy(100), true, 4, 0, Overflow::Wrap),
            f(FieldKind::IncrBy(100), true, 4, 0, Overflow::Sat),
            f(FieldKind::IncrBy(100), true, 4, 0, Overflow::Fail),
        ],
    );
    assert_eq!(
        reply,
        Reply::Array(vec![
            Reply::Int(0),
            Reply::Int(0),
            Reply::Int(4),
            Reply::Int(7),
            Reply::Nil
        ])
    );
    // Redis's bounds arithmetic wraps: SAT SET i8 of i64::MIN saturates to the maximum.
    let reply = n.field(
        "q",
        vec![
            f(FieldKind::Set(i64::MIN), true, 8, 0, Overflow::Sat),
            f(FieldKind::Set(i64::MAX), true, 8, 8, Overflow::Sat),
            f(FieldKind::IncrBy(i64::MIN), true, 64, 0, Overflow::Sat),
        ],
    );
    assert_eq!(
        reply,
        Reply::Array(vec![
            Reply::Int(0),
            Reply::Int(0),
            Reply::Int(-36310271995674624)
        ])
    );
    let reply = n.field(
        "u",
        vec![f(FieldKind::IncrBy(-1), false, 8, 0, Overflow::Sat)],
    );
    assert_eq!(reply, Reply::Array(vec![Reply::Int(0)]));
    let reply = n.field(
        "u",
        vec![f(FieldKind::IncrBy(-1), false, 8, 0, Overflow::Wrap)],
    );
    assert_eq!(reply, Reply::Array(vec![Reply::Int(255)]));
    let read = n.query(BitQuery::Field {
        key: b("u"),
        ops: vec![f(FieldKind::Get, true, 8, 0, Overflow::Wrap)],
    });
    assert_eq!(read, Reply::Array(vec![Reply::Int(-1)]));
}
