//! `FaultyFs` itself: what survives a crash or power loss, and injected failures.

use std::path::PathBuf;

use okapi_storage::{FaultyFs, Fs};

fn setup() -> (FaultyFs, PathBuf) {
    let fs = FaultyFs::new();
    let dir = PathBuf::from("/d");
    fs.create_dir_all(&dir).expect("mkdir");
    (fs, dir)
}

#[test]
fn power_loss_keeps_only_synced_bytes_and_synced_entries() {
    let (fs, dir) = setup();
    let a = dir.join("a");
    let mut f = fs.create(&a).expect("create");
    f.write_all(b"durable").expect("write");
    f.sync().expect("sync");
    fs.sync_dir(&dir).expect("sync_dir");
    f.write_all(b" lost").expect("write");
    let b = dir.join("b");
    let mut g = fs.create(&b).expect("create");
    g.write_all(b"x").expect("write");
    g.sync().expect("sync");
    fs.power_loss();
    assert!(fs.create(&dir.join("c")).is_err(), "the machine is down");
    fs.restart();
    assert_eq!(fs.read(&a).expect("read"), b"durable");
    assert!(!fs.exists(&b), "creation without directory sync is lost");
    assert!(
        f.write_all(b"late").is_err(),
        "old handles die with the process"
    );
}

#[test]
fn fail_after_fails_every_later_mutation() {
    let (fs, dir) = setup();
    let mut f = fs.create(&dir.join("a")).expect("create");
    fs.fail_after(1);
    f.write_all(b"ok").expect("first call still succeeds");
    assert!(f.write_all(b"no").is_err());
    assert!(f.sync().is_err());
    assert_eq!(fs.injected_failures(), 2);
    fs.heal();
    f.write_all(b"!").expect("healed");
    assert_eq!(fs.read(&dir.join("a")).expect("read"), b"ok!");
}

#[test]
fn tear_last_write_keeps_a_prefix_of_it() {
    let (fs, dir) = setup();
    let a = dir.join("a");
    let mut f = fs.create(&a).expect("create");
    f.write_all(b"head").expect("write");
    f.write_all(b"0123456789").expect("write");
    f.sync().expect("sync");
    let (path, cut) = fs.tear_last_write(3).expect("a write to tear");
    assert_eq!((path, cut), (a.clone(), 7));
    assert_eq!(fs.read(&a).expect("read"), b"head012");
}

#[test]
fn failed_sync_keeps_data_unsynced() {
    let (fs, dir) = setup();
    let a = dir.join("a");
    let mut f = fs.create(&a).expect("create");
    fs.sync_dir(&dir).expect("sync_dir");
    f.write_all(b"data").expect("write");
    fs.fail_syncs(true);
    assert!(f.sync().is_err());
    fs.power_loss();
    assert_eq!(fs.read(&a).expect("read"), b"");
}

#[test]
fn unsynced_rename_and_remove_revert_on_power_loss() {
    let (fs, dir) = setup();
    let (a, b) = (dir.join("a"), dir.join("b"));
    let mut f = fs.create(&a).expect("create");
    f.write_all(b"1").expect("write");
    f.sync().expect("sync");
    fs.sync_dir(&dir).expect("sync_dir");
    fs.rename(&a, &b).expect("rename");
    assert_eq!(fs.list(&dir).expect("list"), vec!["b".to_string()]);
    fs.power_loss();
    fs.restart();
    assert_eq!(fs.list(&dir).expect("list"), vec!["a".to_string()]);
    fs.remove_file(&a).expect("remove");
    fs.power_loss();
    fs.restart();
    assert_eq!(fs.read(&a).expect("read"), b"1");
}
