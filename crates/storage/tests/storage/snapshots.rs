//! Snapshot files: streaming round trip, newest selection, atomic creation, and
//! damage named by file and offset.

use std::sync::Arc;

use okapi_storage::{Fs, GroupId, SnapshotInfo, SnapshotStore};

use crate::common::*;

/// Pseudo-random (incompressible) bytes.
fn noise(n: usize, mut x: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn write(store: &SnapshotStore, group: u64, index: u64, chunks: &[Vec<u8>]) -> SnapshotInfo {
    let mut w = store
        .create(GroupId(group), index, format!("meta {index}").as_bytes())
        .expect("create");
    for c in chunks {
        w.write_chunk(c).expect("write chunk");
    }
    w.finish().expect("finish")
}

fn read_all(store: &SnapshotStore, group: u64) -> (u64, Vec<u8>, Vec<usize>) {
    let mut r = store
        .latest(GroupId(group))
        .expect("latest")
        .expect("a snapshot");
    let mut data = Vec::new();
    let mut sizes = Vec::new();
    while let Some(c) = r.next_chunk().expect("chunk") {
        sizes.push(c.len());
        data.extend_from_slice(&c);
    }
    (r.index(), data, sizes)
}

#[test]
fn chunks_and_meta_round_trip() {
    let (_, fs) = faulty();
    let store = SnapshotStore::open(fs, &data_dir()).expect("open");
    let chunks = vec![
        b"small".to_vec(),
        Vec::new(),
        vec![b'z'; 2_500_000],
        noise(100_000, 7),
        b"tail".to_vec(),
    ];
    let info = write(&store, 4, 77, &chunks);
    assert_eq!((info.group, info.index), (GroupId(4), 77));
    assert!(
        info.size < 400_000,
        "the run of z compresses: {}",
        info.size
    );
    assert_eq!(store.list().expect("list"), vec![info.clone()]);
    let r = store.latest(GroupId(4)).expect("latest").expect("some");
    assert_eq!(
        (r.meta(), r.group(), r.index()),
        (&b"meta 77"[..], GroupId(4), 77)
    );
    let (_, data, sizes) = read_all(&store, 4);
    assert_eq!(data, chunks.concat());
    assert_eq!(
        sizes,
        vec![5, 1 << 20, 1 << 20, 2_500_000 - (2 << 20), 100_000, 4]
    );
    store.verify(&info).expect("verify");
    assert!(store.latest(GroupId(5)).expect("latest").is_none());
}

#[test]
fn latest_is_the_newest_and_remove_older_prunes() {
    let (_, fs) = faulty();
    let store = SnapshotStore::open(fs, &data_dir()).expect("open");
    for index in [10, 30, 20] {
        write(
            &store,
            1,
            index,
            &[format!("state at {index}").into_bytes()],
        );
    }
    write(&store, 2, 99, &[b"other group".to_vec()]);
    let (index, data, _) = read_all(&store, 1);
    assert_eq!((index, data), (30, b"state at 30".to_vec()));
    store.remove_older(GroupId(1), 30).expect("remove");
    let left: Vec<_> = store
        .list()
        .expect("list")
        .iter()
        .map(|i| (i.group.0, i.index))
        .collect();
    assert_eq!(left, vec![(1, 30), (2, 99)]);
}

#[test]
fn an_unfinished_snapshot_is_invisible_and_removed() {
    let (fs_impl, fs) = faulty();
    let store = SnapshotStore::open(fs.clone(), &data_dir()).expect("open");
    let mut w = store.create(GroupId(1), 5, b"m").expect("create");
    w.write_chunk(b"half").expect("write");
    drop(w);
    assert!(
        fs_impl.files().is_empty(),
        "an abandoned writer removes its file"
    );
    let mut w = store.create(GroupId(1), 6, b"m").expect("create");
    w.write_chunk(b"half").expect("write");
    std::mem::forget(w); // as if the process died mid-write
    assert!(store.latest(GroupId(1)).expect("latest").is_none());
    assert_eq!(fs_impl.files().len(), 1);
    let report = okapi_storage::check(fs.clone(), &data_dir(), false).expect("check");
    assert!(
        report.is_ok() && report.notes.iter().any(|n| n.contains("unfinished")),
        "{report}"
    );
    SnapshotStore::open(fs, &data_dir()).expect("reopen");
    assert!(fs_impl.files().is_empty(), "open removes leftovers");
}

#[test]
fn a_finished_snapshot_survives_power_loss() {
    let (fs_impl, fs) = faulty();
    let store = SnapshotStore::open(fs.clone(), &data_dir()).expect("open");
    write(&store, 1, 8, &[b"kept".to_vec()]);
    let mut w = store.create(GroupId(1), 9, b"m").expect("create");
    w.write_chunk(b"never finished").expect("write");
    fs_impl.power_loss();
    std::mem::forget(w);
    fs_impl.restart();
    let store = SnapshotStore::open(fs, &data_dir()).expect("reopen");
    assert_eq!(read_all(&store, 1).1, b"kept");
}

/// Offsets of the blocks of a snapshot written with [`write`]: header is 28 + meta
/// + 4 bytes, each block 13 + its stored size.
fn block_offsets(fs: &Arc<dyn Fs>, info: &SnapshotInfo, meta_len: u64) -> Vec<u64> {
    let bytes = fs.read(&info.path).expect("read");
    let mut pos = 28 + meta_len + 4;
    let mut out = Vec::new();
    while (pos as usize) < bytes.len() {
        out.push(pos);
        let p = pos as usize;
        let size = u32::from_le_bytes(bytes[p + 4..p + 8].try_into().expect("4 bytes"));
        pos += 13 + u64::from(size);
    }
    out
}

#[test]
fn a_corrupt_body_byte_is_named_by_file_and_offset() {
    let (fs_impl, fs) = faulty();
    let store = SnapshotStore::open(fs.clone(), &data_dir()).expect("open");
    let chunks = vec![noise(5000, 1), noise(5000, 2), noise(5000, 3)];
    let info = write(&store, 1, 40, &chunks);
    let blocks = block_offsets(&fs, &info, "meta 40".len() as u64);
    assert_eq!(blocks.len(), 4, "three data blocks and the end block");
    assert!(fs_impl.corrupt(&info.path, blocks[1] + 100, 0x01));

    let mut r = store
        .latest(GroupId(1))
        .expect("latest")
        .expect("header and end are fine");
    assert!(r.next_chunk().expect("block 0 is fine").is_some());
    let err = r.next_chunk().expect_err("block 1 is damaged");
    let (file, offset, reason) = corruption(&err);
    assert_eq!((file, offset), (info.path.as_path(), blocks[1]));
    assert!(reason.contains("checksum"), "{reason}");
    assert!(
        err.to_string().contains(&format!("offset {}", blocks[1])),
        "{err}"
    );
    assert!(store.verify(&info).is_err());

    let report = okapi_storage::check(fs.clone(), &data_dir(), false).expect("check");
    assert!(!report.is_ok());
    assert!(
        report.problems[0].contains(&format!("offset {}", blocks[1])),
        "{report}"
    );
    assert!(
        report.would_drop[0].whole_file && report.would_drop[0].file == info.path,
        "{report}"
    );
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_an_older_one() {
    let (fs_impl, fs) = faulty();
    let store = SnapshotStore::open(fs.clone(), &data_dir()).expect("open");
    write(&store, 1, 10, &[b"old".to_vec()]);
    let newest = write(&store, 1, 20, &[b"new".to_vec()]);
    assert!(
        fs_impl.corrupt(&newest.path, 9, 0x80),
        "a byte of the header's group id"
    );
    let r = store
        .latest(GroupId(1))
        .expect("latest")
        .expect("falls back");
    assert_eq!(r.index(), 10);
    let report = okapi_storage::check(fs.clone(), &data_dir(), true).expect("repair");
    assert!(report.problems[0].contains("offset 0"), "{report}");
    assert_eq!(report.dropped.len(), 1);
    assert!(report.is_ok(), "{report}");
    assert_eq!(store.list().expect("list").len(), 1);
}

#[test]
fn a_truncated_snapshot_has_no_end_block() {
    let (_, fs) = faulty();
    let store = SnapshotStore::open(fs.clone(), &data_dir()).expect("open");
    let info = write(&store, 1, 10, &[noise(3000, 9)]);
    fs.truncate(&info.path, info.size - 5).expect("truncate");
    let err = store.open_reader(&info).expect_err("incomplete");
    assert!(err.to_string().contains("end block"), "{err}");
    assert!(store.latest(GroupId(1)).expect("latest").is_none());
}
