//! Startup and shutdown as an operator sees them: listeners are bound before the data
//! loads (a taken port fails at once), clients are told `-LOADING` meanwhile (HTTP 503,
//! NBD refused) with progress in INFO, the ready file appears when loading ends and
//! goes at exit; SHUTDOWN takes Redis 7's arguments.

use std::process::Command;
use std::time::{Duration, Instant};

use redis::Commands;

use crate::common::{err, info_field, raw, start};

/// The value of `field` in the okapi start line of a JSON log.
fn start_field(log: &str, field: &str) -> Option<String> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("okapi starting"))
        })
        .and_then(|v| v["fields"][field].as_str().map(str::to_owned))
}

/// The first port in a listener list as the start line prints it (`[127.0.0.1:PORT]`).
fn port_of(list: &str) -> u16 {
    list.trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .next()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {list}"))
}

#[test]
fn clients_are_told_the_node_is_loading_until_the_dataset_is_in() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let sock = scratch.path().join("okapi.sock");
    let sock_arg = sock.to_str().expect("utf-8").to_owned();
    let mut n = start(&["--unixsocket", &sock_arg, "--nbd-port", "0"]);
    let mut c = n.client().expect("connect");
    let keys = 20_000;
    let mut pipe = redis::pipe();
    for i in 0..keys {
        pipe.set(format!("key:{i}"), i).ignore();
    }
    let _: () = pipe.query(&mut c).expect("load");
    raw(&mut c, &["BLOCK.CREATE", "disk", "65536"]).expect("create");
    // A clean stop writes a snapshot; restoring it is slowed by 200 µs a key (about
    // 4 s in all) so the loading state lasts long enough to be seen.
    raw(&mut c, &["SHUTDOWN"]).ok();
    n.wait_exit(Duration::from_secs(60)).expect("clean stop");
    n.set_args(&[
        "--unixsocket",
        &sock_arg,
        "--nbd-port",
        "0",
        "--key-load-delay",
        "200",
        "--log-format",
        "json",
    ]);
    std::fs::write(n.log_path(), b"").expect("fresh log");
    n.launch().expect("launch");
    // The listeners are up before loading: the Unix socket answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut loading = loop {
        if let Ok(con) = redis::Client::open(format!("unix://{sock_arg}"))
            .and_then(|client| client.get_connection())
        {
            break con;
        }
        assert!(Instant::now() < deadline, "the socket never came up");
        std::thread::sleep(Duration::from_millis(10));
    };
    let refused = err(&mut loading, &["GET", "key:1"]);
    assert_eq!(refused, "LOADING okapi is loading the dataset in memory");
    assert!(err(&mut loading, &["SET", "new", "1"]).starts_with("LOADING"));
    assert!(
        err(&mut loading, &["PING"]).starts_with("LOADING"),
        "as Redis 7"
    );
    assert!(!n.ready_path().exists(), "no ready file while loading");
    assert_eq!(info_field(&mut loading, "persistence", "loading"), "1");
    let total: u64 = info_field(&mut loading, "persistence", "loading_total_bytes")
        .parse()
        .expect("number");
    assert!(total > 0);
    let eta = info_field(&mut loading, "persistence", "loading_eta_seconds");
    assert!(eta.parse::<i64>().is_ok(), "{eta}");

    let log = n.log();
    let http = port_of(&start_field(&log, "http").expect("the start line names HTTP"));
    let nbd = port_of(&start_field(&log, "nbd").expect("the start line names NBD"));
    let get = |path: &str| {
        reqwest::blocking::get(format!("http://127.0.0.1:{http}{path}"))
            .expect("http")
            .status()
    };
    assert_eq!(get("/ready"), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get("/v1/0/key:1"), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get("/health"), reqwest::StatusCode::OK);
    let qemu = Command::new("qemu-img")
        .args(["info"])
        .arg(format!("nbd://127.0.0.1:{nbd}/disk"))
        .output()
        .expect("qemu-img");
    assert!(!qemu.status.success(), "NBD refuses exports while loading");
    assert!(
        String::from_utf8_lossy(&qemu.stderr).contains("loading"),
        "{}",
        String::from_utf8_lossy(&qemu.stderr)
    );
    // Still loading after all that: everything above was checked during the load.
    assert_eq!(info_field(&mut loading, "persistence", "loading"), "1");

    n.wait_ready(Duration::from_secs(120)).expect("loads");
    assert_eq!(info_field(&mut loading, "persistence", "loading"), "0");
    assert_eq!(
        loading.get::<_, i64>("key:19999").expect("served now"),
        19_999
    );
    let mut c = n.client().expect("connect");
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        keys + 1
    );
    assert_eq!(get("/ready"), reqwest::StatusCode::OK);
    assert!(
        n.log().contains("loading the dataset"),
        "progress is logged on a long load: {}",
        n.log()
    );
}

#[test]
fn a_taken_port_fails_before_anything_is_loaded() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_okapi"))
        .args(["server", "--http-port", "0", "--port", &port, "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("127.0.0.1:{port}")), "{said}");
    assert!(
        !dir.path().join("wal").exists() && !said.contains("dataset loaded"),
        "failed before loading: {said}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_okapi"))
        .args([
            "server",
            "--port",
            "0",
            "--http-port",
            "0",
            "--bind",
            "not-an-ip",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not-an-ip"));
}

#[test]
fn shutdown_takes_redis_7_arguments() {
    let mut n = start(&[]);
    let mut c = n.client().expect("connect");
    assert_eq!(
        err(&mut c, &["SHUTDOWN", "ABORT"]),
        "ERR No shutdown in progress."
    );
    for bad in [
        &["SHUTDOWN", "NOSAVE", "ABORT"][..],
        &["SHUTDOWN", "ABORT", "NOW"],
        &["SHUTDOWN", "SAVE", "NOSAVE"],
        &["SHUTDOWN", "LATER"],
    ] {
        assert_eq!(err(&mut c, bad), "ERR syntax error", "{bad:?}");
    }
    let _: () = c.set("k", "v").expect("still up after every refusal");
    // NOSAVE stops without a snapshot: the next start replays the log.
    let _ = raw(&mut c, &["SHUTDOWN", "NOSAVE", "NOW", "FORCE"]);
    n.wait_exit(Duration::from_secs(30)).expect("stops");
    assert!(!n.ready_path().exists(), "the ready file goes at exit");
    n.restart().expect("restart");
    let mut c = n.client().expect("connect");
    assert_eq!(c.get::<_, String>("k").expect("get"), "v");
    let replayed: u64 = info_field(&mut c, "persistence", "okapi_loaded_replayed_entries")
        .parse()
        .expect("number");
    assert!(
        replayed > 0,
        "NOSAVE wrote no snapshot, so the log was replayed"
    );
    // SAVE (the default too) snapshots on the way out: nothing to replay next time.
    let _ = raw(&mut c, &["SHUTDOWN", "SAVE"]);
    n.wait_exit(Duration::from_secs(30)).expect("stops");
    n.restart().expect("restart");
    let mut c = n.client().expect("connect");
    assert_eq!(
        info_field(&mut c, "persistence", "okapi_loaded_replayed_entries"),
        "0"
    );
}
