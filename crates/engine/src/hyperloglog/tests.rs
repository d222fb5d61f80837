//! HLL values against what redis-server 7.0 stores and answers for the same commands.

use super::format::{Hll, REGISTERS};
use super::*;
use crate::strings::StringQuery;
use crate::testing::b;

crate::testing::test_node!(Fixture, 42, 7);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_new_hll_is_redis_s_empty_sparse_value() {
    // redis-cli PFADD h; redis-cli --no-raw GET h
    let mut n = Fixture::fresh();
    assert_eq!(
        n.op(HllOp::Add {
            key: b("h"),
            elements: vec![]
        }),
        Reply::Int(1)
    );
    let Reply::Bulk(v) = n.query(StringQuery::Get { key: b("h") }) else {
        panic!("a string")
    };
    assert_eq!(
        hex(&v),
        "48594c4c01000000000000000000008".to_owned() + "07fff"
    );
    assert_eq!(n.op(HllOp::Count { key: b("h") }), Reply::Int(0));
}

#[test]
fn counts_and_encodings_follow_redis() {
    let mut n = Fixture::fresh();
    let elements =
        |range: std::ops::Range<u32>| range.map(|i| Bytes::from(format!("e{i}"))).collect();
    assert_eq!(
        n.op(HllOp::Add {
            key: b("h"),
            elements: elements(0..3)
        }),
        Reply::Int(1)
    );
    assert_eq!(
        n.op(HllOp::Add {
            key: b("h"),
            elements: elements(0..3)
        }),
        Reply::Int(0)
    );
    assert_eq!(n.op(HllOp::Count { key: b("h") }), Reply::Int(3));
    assert_eq!(
        n.op(HllOp::Add {
            key: b("h"),
            elements: elements(0..1000)
        }),
        Reply::Int(1)
    );
    let Reply::Int(count) = n.op(HllOp::Count { key: b("h") }) else {
        panic!()
    };
    // The standard error at 16384 registers is 0.81%.
    assert!((980..=1020).contains(&count), "{count}");
    // Past 3000 bytes of opcodes the value turns dense: 12304 bytes.
    assert_eq!(
        n.op(HllOp::Add {
            key: b("d"),
            elements: elements(0..5000)
        }),
        Reply::Int(1)
    );
    let Reply::Bulk(v) = n.query(StringQuery::Get { key: b("d") }) else {
        panic!()
    };
    assert_eq!(v.len(), 16 + REGISTERS * 6 / 8);
    assert_eq!(v[4], 0, "dense");
    assert!(Hll::from_bytes(&v).is_some());
    assert_eq!(
        n.op(HllOp::Merge {
            dst: b("m"),
            keys: vec![b("h"), b("d")]
        }),
        Reply::Ok
    );
    let Reply::Int(union) = n.op(HllOp::Count { key: b("m") }) else {
        panic!()
    };
    assert!((4900..=5100).contains(&union), "{union}");
    assert_eq!(
        n.query(HllQuery::CountUnion {
            keys: vec![b("h"), b("d")]
        }),
        Reply::Int(union)
    );
}

#[test]
fn every_add_leaves_a_well_formed_value() {
    let mut hll = Hll::new();
    for i in 0..4000u32 {
        let element = format!("{}", (i as u64 * 2_654_435_761) % 1_000_000);
        hll.add(element.as_bytes()).expect("well formed before");
        assert!(
            hll.count().is_some(),
            "corrupt after {i}: {}",
            hex(hll.bytes())
        );
    }
    assert!(hll.is_dense());
}

#[test]
fn values_that_are_not_hlls_get_redis_s_errors() {
    use crate::strings::{SetCond, SetExpire, StringOp};
    let mut n = Fixture::fresh();
    let set = |n: &mut Fixture, key: &str, value: Vec<u8>| {
        n.op(StringOp::Set {
            key: b(key),
            value: Bytes::from(value),
            cond: SetCond::Always,
            get: false,
            expire: SetExpire::Clear,
        })
    };
    let error = |reply: Reply| match reply {
        Reply::Error(e) => e.to_string(),
        other => panic!("not an error: {other:?}"),
    };
    set(&mut n, "s", b"not an hll".to_vec());
    assert_eq!(
        error(n.op(HllOp::Add {
            key: b("s"),
            elements: vec![b("a")]
        })),
        "WRONGTYPE Key is not a valid HyperLogLog string value."
    );
    n.op(crate::lists::ListOp::Push {
        key: b("l"),
        end: crate::lists::End::Left,
        elements: vec![b("x")],
        existing_only: false,
    });
    assert_eq!(
        error(n.op(HllOp::Count { key: b("l") })),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    // A sparse HLL whose opcodes stop short of 16384 registers (an XZERO of 100), its
    // cache stale (a fresh cache is answered without reading the registers, as Redis).
    let mut short = Hll::new().bytes()[..16].to_vec();
    short[15] = 0x80;
    short.extend_from_slice(&[0x40, 99]);
    set(&mut n, "c", short.clone());
    assert_eq!(
        error(n.op(HllOp::Count { key: b("c") })),
        "INVALIDOBJ Corrupted HLL object detected"
    );
    assert_eq!(
        error(n.query(HllQuery::CountUnion {
            keys: vec![b("c"), b("missing")]
        })),
        "INVALIDOBJ Corrupted HLL object detected"
    );
    assert_eq!(
        error(n.op(HllOp::Merge {
            dst: b("d"),
            keys: vec![b("c")]
        })),
        "INVALIDOBJ Corrupted HLL object detected"
    );
    assert_eq!(
        n.query(StringQuery::Get { key: b("d") }),
        Reply::Nil,
        "nothing stored"
    );
    // A failed PFCOUNT leaves the value as it was.
    assert_eq!(
        n.query(StringQuery::Get { key: b("c") }),
        Reply::Bulk(Bytes::from(short))
    );
}
