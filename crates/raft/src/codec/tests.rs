//! Golden bytes for the Raft state okapi writes (`tests/fixtures/raft-v1.bin`,
//! committed), and format-0 payloads from earlier builds decoding to the same values.
//! `OKAPI_BLESS=1` rewrites the fixture — only for a deliberate format change.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use okapi_engine::Op;
use okapi_engine::strings::{SetCond, SetExpire, StringOp};
use okapi_types::Namespace;
use okapi_types::wire::Wire;
use openraft::EntryPayload;
use openraft::impls::BasicNode;
use openraft::impls::leader_id_adv::LeaderId;

use super::*;

fn log_id(term: u64, node: u64, index: u64) -> LogId {
    LogId::new(
        LeaderId {
            term,
            node_id: node,
        },
        index,
    )
}

fn membership() -> Membership {
    let configs = vec![BTreeSet::from([1, 2, 3]), BTreeSet::from([2, 3, 4])];
    let nodes = BTreeMap::from([
        (
            1,
            BasicNode {
                addr: "127.0.0.2:16379".into(),
            },
        ),
        (
            2,
            BasicNode {
                addr: "127.0.0.3:16379".into(),
            },
        ),
        (
            3,
            BasicNode {
                addr: "127.0.0.4:16379".into(),
            },
        ),
        (
            4,
            BasicNode {
                addr: "127.0.0.5:16379".into(),
            },
        ),
        (
            9,
            BasicNode {
                addr: "learner:1".into(),
            },
        ),
    ]);
    Membership::new(configs, nodes).expect("valid")
}

fn batch() -> LogBatch {
    let set = |k: &'static str| Op {
        db: Namespace(0),
        kind: StringOp::Set {
            key: Bytes::from_static(k.as_bytes()),
            value: Bytes::from_static(b"value"),
            cond: SetCond::Always,
            get: false,
            expire: SetExpire::At(1_800_000_000_000),
        }
        .into(),
    };
    LogBatch {
        parts: vec![
            Part {
                now_ms: 1_790_000_000_123,
                ops: vec![set("a"), set("b")],
                writer: Writer::NONE,
            },
            Part {
                now_ms: 1_790_000_000_124,
                ops: vec![set("c")],
                writer: Writer::NONE,
            },
        ],
    }
}

fn entries() -> Vec<Entry> {
    vec![
        Entry {
            log_id: log_id(0, 0, 0),
            payload: EntryPayload::Membership(membership()),
        },
        Entry {
            log_id: log_id(1, 1, 1),
            payload: EntryPayload::Blank,
        },
        Entry {
            log_id: log_id(7, 3, 123_456),
            payload: EntryPayload::Normal(batch()),
        },
    ]
}

/// An entry whose parts name their writers (payload tag 4), appended to the fixture.
fn entry_with_writers() -> Entry {
    let mut batch = batch();
    batch.parts[1].writer = Writer {
        process: 0x1234_5678_9abc_def0,
        client: 42,
    };
    Entry {
        log_id: log_id(7, 3, 123_457),
        payload: EntryPayload::Normal(batch),
    }
}

fn hard_states() -> Vec<HardState> {
    vec![
        HardState::default(),
        HardState {
            vote: Some(Vote::new(4, 2)),
            committed: None,
        },
        HardState {
            vote: Some(Vote::new_committed(5, 3)),
            committed: Some(log_id(5, 3, 99)),
        },
    ]
}

fn file_meta() -> FileMeta {
    FileMeta {
        meta: SnapshotMeta {
            last_log_id: Some(log_id(7, 3, 1000)),
            last_membership: StoredMembership::new(Some(log_id(0, 0, 0)), membership()),
        },
        header: vec![1, 2, 3, 250],
        taken_at: 1_790_000_000,
    }
}

fn encoded() -> Vec<Bytes> {
    let mut out: Vec<Bytes> = entries().iter().map(encode_entry).collect();
    out.extend(hard_states().iter().map(encode_hard_state));
    out.push(encode_log_id(&log_id(9, 1, 77)));
    out.push(Bytes::from(encode_file_meta(&file_meta())));
    out.push(encode_entry(&entry_with_writers()));
    out
}

fn check_decodes(all: &[Bytes]) {
    let entries_back: Vec<Entry> = all[..3]
        .iter()
        .map(|b| decode_entry(b).expect("entry"))
        .collect();
    assert_eq!(entries_back, entries());
    let hard_back: Vec<HardState> = all[3..6]
        .iter()
        .map(|b| decode_hard_state(b).expect("hard state"))
        .collect();
    assert_eq!(hard_back, hard_states());
    assert_eq!(decode_log_id(&all[6]).expect("log id"), log_id(9, 1, 77));
    let meta = decode_file_meta(&all[7]).expect("file meta");
    let expected = file_meta();
    assert_eq!(meta.meta, expected.meta);
    assert_eq!(meta.header, expected.header);
    assert_eq!(meta.taken_at, expected.taken_at);
}

#[test]
fn raft_state_has_a_stable_encoding() {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raft-v1.bin");
    let now = encoded().to_bytes();
    if std::env::var_os("OKAPI_BLESS").is_some() {
        std::fs::write(&fixture, &now).expect("write fixture");
    }
    let golden = Bytes::from(std::fs::read(&fixture).expect("the committed fixture"));
    let parts = Vec::<Bytes>::from_bytes(golden.clone()).expect("fixture frames");
    check_decodes(&parts);
    assert_eq!(
        decode_entry(&parts[8]).expect("entry with writers"),
        entry_with_writers()
    );
    // Without writers an entry is written as before writers existed (tag 2).
    assert_eq!(parts[2][1 + log_id_len(&log_id(7, 3, 123_456))], 2);
    assert_eq!(parts[8][1 + log_id_len(&log_id(7, 3, 123_457))], 4);
    assert!(
        now == golden,
        "Raft state encodes to the committed bytes: the format changed"
    );
    for part in &parts {
        assert_eq!(part[0], FORMAT_OKAPI);
    }
}

#[test]
fn format_0_payloads_of_earlier_builds_still_decode() {
    let legacy = |bytes: Vec<u8>| {
        let mut out = vec![okapi_storage::LEGACY_PAYLOAD];
        out.extend(bytes);
        Bytes::from(out)
    };
    let mut all: Vec<Bytes> = entries()
        .iter()
        .map(|e| legacy(postcard::to_allocvec(e).expect("postcard")))
        .collect();
    all.extend(
        hard_states()
            .iter()
            .map(|h| legacy(postcard::to_allocvec(h).expect("postcard"))),
    );
    all.push(legacy(
        postcard::to_allocvec(&log_id(9, 1, 77)).expect("postcard"),
    ));
    all.push(legacy(
        postcard::to_allocvec(&file_meta()).expect("postcard"),
    ));
    check_decodes(&all);
}

#[test]
fn unknown_formats_and_damage_are_errors() {
    let entry = encode_entry(&entries()[2]);
    let mut newer = entry.to_vec();
    newer[0] = 2;
    let e = decode_entry(&Bytes::from(newer)).expect_err("format 2 is not known yet");
    assert!(e.to_string().contains("upgrade okapi"), "{e}");
    for cut in 1..entry.len() {
        assert!(decode_entry(&entry.slice(..cut)).is_err(), "cut at {cut}");
    }
    assert!(decode_entry(&Bytes::new()).is_err());
}
