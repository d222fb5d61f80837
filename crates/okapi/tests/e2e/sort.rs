//! SORT and SORT_RO through the real binary: the redis crate and redis-cli, BY/GET
//! patterns over strings and hash fields, STORE through the log (it survives a
//! restart), and the slot rule for patterns on a node split into shard groups.

use std::process::Command;

use crate::common::{err, node, start};

fn strings(c: &mut redis::Connection, args: &[&str]) -> Vec<Option<String>> {
    redis::cmd(args[0])
        .arg(&args[1..])
        .query(c)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn some(items: &[&str]) -> Vec<Option<String>> {
    items.iter().map(|s| Some((*s).to_owned())).collect()
}

#[test]
fn sort_orders_projects_and_stores_as_redis_and_survives_a_restart() {
    let mut n = node();
    let mut c = n.client().expect("connect");
    let _: i64 = redis::cmd("RPUSH")
        .arg(&["ids", "3", "1", "2", "10"])
        .query(&mut c)
        .expect("RPUSH");
    let _: () = redis::cmd("MSET")
        .arg(&["weight_1", "30", "weight_2", "20", "weight_3", "10"])
        .query(&mut c)
        .expect("MSET");
    for (id, name) in [("1", "ada"), ("2", "bob"), ("3", "cy")] {
        let _: i64 = redis::cmd("HSET")
            .arg(format!("user:{id}"))
            .arg(&["name", name])
            .query(&mut c)
            .expect("HSET");
    }
    assert_eq!(
        strings(&mut c, &["SORT", "ids"]),
        some(&["1", "2", "3", "10"])
    );
    assert_eq!(
        strings(&mut c, &["SORT", "ids", "ALPHA"]),
        some(&["1", "10", "2", "3"])
    );
    assert_eq!(
        strings(&mut c, &["SORT", "ids", "DESC", "LIMIT", "1", "2"]),
        some(&["3", "2"])
    );
    // BY a missing key sorts as 0; ties go by the element.
    assert_eq!(
        strings(&mut c, &["SORT", "ids", "BY", "weight_*"]),
        some(&["10", "3", "2", "1"])
    );
    assert_eq!(
        strings(
            &mut c,
            &[
                "SORT",
                "ids",
                "BY",
                "nosort",
                "GET",
                "#",
                "GET",
                "user:*->name"
            ]
        ),
        vec![
            Some("3".into()),
            Some("cy".into()),
            Some("1".into()),
            Some("ada".into()),
            Some("2".into()),
            Some("bob".into()),
            Some("10".into()),
            None,
        ]
    );
    assert_eq!(
        strings(
            &mut c,
            &[
                "SORT_RO",
                "ids",
                "BY",
                "user:*->name",
                "ALPHA",
                "LIMIT",
                "0",
                "2"
            ]
        ),
        some(&["10", "1"])
    );
    let stored: i64 = redis::cmd("SORT")
        .arg(&[
            "ids",
            "BY",
            "weight_*",
            "GET",
            "user:*->name",
            "STORE",
            "names",
        ])
        .query(&mut c)
        .expect("SORT STORE");
    assert_eq!(stored, 4);
    assert_eq!(
        strings(&mut c, &["LRANGE", "names", "0", "-1"]),
        some(&["", "cy", "bob", "ada"]),
        "a GET that finds nothing stores an empty string"
    );
    for (args, want) in [
        (&["SORT", "ids", "BY"][..], "ERR syntax error"),
        (&["SORT", "ids", "LIMIT", "1"], "ERR syntax error"),
        (
            &["SORT", "ids", "LIMIT", "x", "1"],
            "ERR value is not an integer or out of range",
        ),
        (&["SORT_RO", "ids", "STORE", "d"], "ERR syntax error"),
        (
            &["SORT", "weight_1"],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            &["SORT", "user:1", "STORE", "d"],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            &["SORT", "names"],
            "ERR One or more scores can't be converted into double",
        ),
        (
            &["SORT"],
            "ERR wrong number of arguments for 'sort' command",
        ),
    ] {
        assert_eq!(err(&mut c, args), want, "{args:?}");
    }
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg(&["GETKEYS", "SORT", "ids", "GET", "store", "STORE", "dst"])
        .query(&mut c)
        .expect("COMMAND GETKEYS");
    assert_eq!(keys, vec!["ids", "dst"]);

    // redis-cli sees the same.
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(n.port.to_string())
        .args([
            "SORT",
            "ids",
            "BY",
            "weight_*",
            "GET",
            "user:*->name",
            "DESC",
        ])
        .output()
        .expect("redis-cli runs (install redis-tools)");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ada\nbob\ncy\n\n");

    // STORE went through the log: a restart replays it.
    drop(c);
    n.restart().expect("restart");
    let mut c = n.client().expect("connect");
    assert_eq!(
        strings(&mut c, &["LRANGE", "names", "0", "-1"]),
        some(&["", "cy", "bob", "ada"])
    );
}

#[test]
fn patterns_must_stay_in_the_slot_of_the_sorted_key_on_shard_groups() {
    let n = start(&["--shard-groups", "4"]);
    let mut c = n.client().expect("connect");
    let _: i64 = redis::cmd("RPUSH")
        .arg(&["{u}:ids", "2", "1"])
        .query(&mut c)
        .expect("RPUSH");
    let _: () = redis::cmd("MSET")
        .arg(&["{u}:w_1", "9", "{u}:w_2", "1"])
        .query(&mut c)
        .expect("MSET");
    assert_eq!(
        strings(
            &mut c,
            &[
                "SORT", "{u}:ids", "BY", "{u}:w_*", "GET", "#", "GET", "{u}:w_*"
            ]
        ),
        some(&["2", "1", "1", "9"])
    );
    assert_eq!(
        err(&mut c, &["SORT", "{u}:ids", "BY", "w_*"]),
        "ERR BY option of SORT denied in Cluster mode when keys formed by the pattern may be \
         in different slots."
    );
    assert_eq!(
        err(&mut c, &["SORT", "{u}:ids", "GET", "{v}:*"]),
        "ERR GET option of SORT denied in Cluster mode when keys formed by the pattern may be \
         in different slots."
    );
    // The destination is a key like any other: in another slot it is CROSSSLOT.
    assert!(
        err(&mut c, &["SORT", "{u}:ids", "STORE", "elsewhere"]).starts_with("CROSSSLOT"),
        "STORE into another slot"
    );
    let stored: i64 = redis::cmd("SORT")
        .arg(&["{u}:ids", "STORE", "{u}:sorted"])
        .query(&mut c)
        .expect("SORT STORE");
    assert_eq!(stored, 2);
    assert_eq!(
        strings(&mut c, &["LRANGE", "{u}:sorted", "0", "-1"]),
        some(&["1", "2"])
    );
}
