//! Geo commands through the real binary: the redis crate and redis-cli, Redis's exact
//! texts (positions, hashes, distances), searches by radius and box in both protocols,
//! GEOSEARCHSTORE through the log (it survives a restart) and Redis's errors.

use std::process::Command;

use crate::common::{err, node};

fn cities(c: &mut redis::Connection) {
    let added: i64 = redis::cmd("GEOADD")
        .arg(&["Sicily", "13.361389", "38.115556", "Palermo"])
        .arg(&["15.087269", "37.502669", "Catania"])
        .arg(&["13.583333", "37.316667", "Agrigento"])
        .query(c)
        .expect("GEOADD");
    assert_eq!(added, 3);
}

#[test]
fn geo_commands_answer_as_redis_and_survive_a_restart() {
    let mut n = node();
    let mut c = n.client().expect("connect");
    cities(&mut c);
    let again: i64 = redis::cmd("GEOADD")
        .arg(&["Sicily", "CH", "13.361389", "38.115556", "Palermo"])
        .query(&mut c)
        .expect("GEOADD CH");
    assert_eq!(again, 0, "an unchanged position is no change");
    // The same texts redis-server 7.0 gives.
    let score: String = redis::cmd("ZSCORE")
        .arg(&["Sicily", "Palermo"])
        .query(&mut c)
        .expect("ZSCORE");
    assert_eq!(score, "3479099956230698");
    let pos: Vec<Option<(String, String)>> = redis::cmd("GEOPOS")
        .arg(&["Sicily", "Palermo", "nowhere"])
        .query(&mut c)
        .expect("GEOPOS");
    assert_eq!(
        pos,
        vec![
            Some((
                "13.36138933897018433".to_owned(),
                "38.11555639549629859".to_owned()
            )),
            None
        ]
    );
    let hashes: Vec<Option<String>> = redis::cmd("GEOHASH")
        .arg(&["Sicily", "Palermo", "Catania", "nowhere"])
        .query(&mut c)
        .expect("GEOHASH");
    assert_eq!(
        hashes,
        vec![Some("sqc8b49rny0".into()), Some("sqdtr74hyu0".into()), None]
    );
    let dist: String = redis::cmd("GEODIST")
        .arg(&["Sicily", "Palermo", "Catania", "km"])
        .query(&mut c)
        .expect("GEODIST");
    assert_eq!(dist, "166.2742");
    let near: Vec<(String, String)> = redis::cmd("GEOSEARCH")
        .arg(&[
            "Sicily",
            "FROMMEMBER",
            "Palermo",
            "BYBOX",
            "300",
            "300",
            "km",
        ])
        .arg(&["ASC", "WITHDIST"])
        .query(&mut c)
        .expect("GEOSEARCH");
    assert_eq!(
        near,
        vec![
            ("Palermo".to_owned(), "0.0000".to_owned()),
            ("Agrigento".to_owned(), "90.9778".to_owned()),
        ]
    );
    let radius: Vec<String> = redis::cmd("GEORADIUS")
        .arg(&["Sicily", "15", "37", "200", "km", "COUNT", "2"])
        .query(&mut c)
        .expect("GEORADIUS");
    assert_eq!(
        radius,
        vec!["Catania", "Agrigento"],
        "COUNT sorts nearest first"
    );
    let stored: i64 = redis::cmd("GEOSEARCHSTORE")
        .arg(&[
            "near",
            "Sicily",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
        ])
        .arg("STOREDIST")
        .query(&mut c)
        .expect("GEOSEARCHSTORE");
    assert_eq!(stored, 3);
    let by_dist: Vec<String> = redis::cmd("ZRANGE")
        .arg(&["near", "0", "-1"])
        .query(&mut c)
        .expect("ZRANGE");
    assert_eq!(by_dist, vec!["Catania", "Agrigento", "Palermo"]);

    for (args, want) in [
        (
            &["GEOADD", "Sicily", "200", "100", "x"][..],
            "ERR invalid longitude,latitude pair 200.000000,100.000000",
        ),
        (
            &["GEOADD", "Sicily", "NX", "XX", "1", "1", "x"],
            "ERR syntax error",
        ),
        (
            &["GEOADD", "Sicily", "1", "1", "x", "2"],
            "ERR syntax error",
        ),
        (
            &["GEODIST", "Sicily", "a", "b", "parsec"],
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ),
        (
            &["GEORADIUS", "Sicily", "15", "37", "-1", "km"],
            "ERR radius cannot be negative",
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMMEMBER",
                "nowhere",
                "BYRADIUS",
                "1",
                "km",
            ],
            "ERR could not decode requested zset member",
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "1",
                "1",
                "BYRADIUS",
                "1",
                "km",
                "ANY",
            ],
            "ERR the ANY argument requires COUNT argument",
        ),
        (
            &[
                "GEORADIUS",
                "Sicily",
                "15",
                "37",
                "1",
                "km",
                "STORE",
                "d",
                "WITHDIST",
            ],
            "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and \
             WITHCOORD options",
        ),
        (
            &[
                "GEORADIUS_RO",
                "Sicily",
                "15",
                "37",
                "1",
                "km",
                "STORE",
                "d",
            ],
            "ERR syntax error",
        ),
    ] {
        assert_eq!(err(&mut c, args), want, "{args:?}");
    }
    let _: () = redis::cmd("SET")
        .arg(&["str", "v"])
        .query(&mut c)
        .expect("SET");
    // The key's type is checked before the arguments, as Redis checks it.
    assert!(err(&mut c, &["GEORADIUS", "str", "500", "0", "x", "km"]).starts_with("WRONGTYPE"));
    // A missing source deletes the destination.
    let zero: i64 = redis::cmd("GEORADIUS")
        .arg(&["nokey", "15", "37", "1", "km", "STORE", "str"])
        .query(&mut c)
        .expect("GEORADIUS STORE");
    assert_eq!(zero, 0);
    let exists: i64 = redis::cmd("EXISTS")
        .arg("str")
        .query(&mut c)
        .expect("EXISTS");
    assert_eq!(exists, 0);

    // redis-cli, in RESP3: coordinates are doubles.
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(n.port.to_string())
        .args([
            "-3",
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "100",
            "km",
        ])
        .args(["WITHCOORD", "WITHHASH"])
        .output()
        .expect("redis-cli runs (install redis-tools)");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Catania\n3479447370796909\n15.08726745843887329\n37.50266842333162032\n"
    );

    drop(c);
    n.restart().expect("restart");
    let mut c = n.client().expect("connect");
    let by_dist: Vec<String> = redis::cmd("ZRANGE")
        .arg(&["near", "0", "-1"])
        .query(&mut c)
        .expect("ZRANGE");
    assert_eq!(by_dist, vec!["Catania", "Agrigento", "Palermo"]);
    let dist: String = redis::cmd("GEODIST")
        .arg(&["Sicily", "Palermo", "Catania"])
        .query(&mut c)
        .expect("GEODIST");
    assert_eq!(dist, "166274.1516");
}
