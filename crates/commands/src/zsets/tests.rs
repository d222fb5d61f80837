//! Parsing of sorted-set commands: error texts and key positions.

use bytes::Bytes;
use okapi_types::Namespace;

use okapi_engine::zsets::ZSetQuery;

use crate::action::Action;
use crate::spec::{Ctx, parse, resolve};

fn argv(line: &str) -> Vec<Bytes> {
    line.split(' ')
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

fn ctx() -> Ctx {
    Ctx {
        db: Namespace(0),
        now_ms: 0,
        random: 0,
        databases: 16,
        sharded: false,
    }
}

fn error(line: &str) -> String {
    match parse(&ctx(), &argv(line)) {
        Ok((_, action)) => panic!("{line} parsed as {action:?}"),
        Err(e) => e.to_string(),
    }
}

/// An error Redis reports only after it has checked the input keys' types: the command
/// parses into a read that does that check first.
fn error_after_inputs(line: &str) -> String {
    match parse(&ctx(), &argv(line)) {
        Ok((
            _,
            Action::Read(okapi_engine::Query {
                kind: okapi_engine::QueryKind::ZSet(ZSetQuery::FailAfterInputs { error, .. }),
                ..
            }),
        )) => error.to_string(),
        other => panic!("{line} parsed as {other:?}"),
    }
}

#[test]
fn zadd_refuses_incompatible_options() {
    assert_eq!(
        error("ZADD z XX NX 1 a"),
        "ERR XX and NX options at the same time are not compatible"
    );
    assert_eq!(
        error("ZADD z GT LT 1 a"),
        "ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        error("ZADD z NX GT 1 a"),
        "ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        error("ZADD z INCR 1 a 2 b"),
        "ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(error("ZADD z XX 10 x 20"), "ERR syntax error");
    assert_eq!(error("ZADD z 1 a x b"), "ERR value is not a valid float");
    assert_eq!(error("ZADD z nan a"), "ERR value is not a valid float");
}

#[test]
fn range_commands_report_redis_errors() {
    assert_eq!(
        error("ZRANGE z 0 -1 LIMIT 0 1"),
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );
    assert_eq!(
        error("ZRANGE z - + BYLEX WITHSCORES"),
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    assert_eq!(error("ZRANGEBYSCORE z 0 1 REV"), "ERR syntax error");
    assert_eq!(error("ZREVRANGE z 0 1 BYSCORE"), "ERR syntax error");
    assert_eq!(error("ZRANGESTORE d z 0 -1 WITHSCORES"), "ERR syntax error");
    assert_eq!(
        error("ZRANGEBYSCORE z str 1"),
        "ERR min or max is not a float"
    );
    assert_eq!(
        error("ZRANGEBYSCORE z 1 NaN"),
        "ERR min or max is not a float"
    );
    assert_eq!(
        error("ZRANGEBYLEX z foo [bar"),
        "ERR min or max not valid string range item"
    );
    assert_eq!(
        error("ZREMRANGEBYLEX z +x [bar"),
        "ERR min or max not valid string range item"
    );
    assert_eq!(
        error("ZRANK z a WITHSCORE x"),
        "ERR wrong number of arguments for 'zrank' command"
    );
    assert_eq!(error("ZRANK z a WITHSCORES"), "ERR syntax error");
}

#[test]
fn multi_key_commands_check_numkeys_and_options() {
    assert_eq!(
        error("ZUNIONSTORE d 0 a"),
        "ERR at least 1 input key is needed for 'zunionstore' command"
    );
    assert_eq!(
        error("ZINTERCARD 0 a"),
        "ERR at least 1 input key is needed for 'zintercard' command"
    );
    assert_eq!(error("ZUNION 3 a b"), "ERR syntax error");
    assert_eq!(
        error_after_inputs("ZUNIONSTORE d 2 a b WITHSCORES"),
        "ERR syntax error"
    );
    assert_eq!(
        error_after_inputs("ZDIFF 2 a b WEIGHTS 1 2"),
        "ERR syntax error"
    );
    assert_eq!(
        error_after_inputs("ZINTER 2 a b WEIGHTS 1 x"),
        "ERR weight value is not a float"
    );
    assert_eq!(
        error_after_inputs("ZINTER 2 a b AGGREGATE AVG"),
        "ERR syntax error"
    );
    assert_eq!(
        error_after_inputs("ZINTERCARD 1 a LIMIT -1"),
        "ERR LIMIT can't be negative"
    );
    assert_eq!(
        error_after_inputs("ZINTERCARD 1 a LIMIT"),
        "ERR syntax error"
    );
    assert_eq!(
        error("ZMPOP 0 a MIN"),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        error("ZMPOP 1 a MIN COUNT 0"),
        "ERR count should be greater than 0"
    );
    assert_eq!(error("ZMPOP 1 a COUNT"), "ERR syntax error");
    assert_eq!(error("ZMPOP 1 a MAX COUNT 1 COUNT 2"), "ERR syntax error");
    assert_eq!(error("BZMPOP 0 1 a MAX MIN"), "ERR syntax error");
    assert_eq!(error("BZPOPMIN a -1"), "ERR timeout is negative");
    assert_eq!(
        error("ZPOPMIN a -1"),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        error("ZPOPMIN a 1.5"),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(error("ZPOPMIN a 1 2"), "ERR syntax error");
}

#[test]
fn zrandmember_ranges() {
    assert_eq!(
        error("ZRANDMEMBER z -9223372036854775808"),
        "ERR value is out of range, must be between -9223372036854775807 and 9223372036854775807"
    );
    assert_eq!(
        error("ZRANDMEMBER z -9223372036854770000 WITHSCORES"),
        "ERR value is out of range"
    );
    assert_eq!(error("ZRANDMEMBER z 1 WITHSCORES x"), "ERR syntax error");
}

#[test]
fn numkeys_commands_find_their_keys() {
    let positions = |line: &str| {
        let argv = argv(line);
        resolve(&argv).expect("known command").key_positions(&argv)
    };
    assert_eq!(positions("ZUNIONSTORE d 2 a b WEIGHTS 1 2"), vec![1, 3, 4]);
    assert_eq!(positions("ZINTER 2 a b"), vec![2, 3]);
    assert_eq!(positions("BZMPOP 0 2 a b MIN"), vec![3, 4]);
    assert_eq!(positions("BZPOPMIN a b 0"), vec![1, 2]);
    assert_eq!(positions("ZRANGESTORE d s 0 -1"), vec![1, 2]);
}

#[test]
fn blocking_pops_carry_their_keys_and_timeout() {
    let Ok((_, Action::Block(blocking))) = parse(&ctx(), &argv("BZPOPMAX a b 0.5")) else {
        panic!("a blocking action");
    };
    assert_eq!(
        blocking.keys,
        vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
    );
    assert_eq!(blocking.timeout_ms, Some(500));
    let Ok((_, Action::Block(blocking))) = parse(&ctx(), &argv("BZMPOP 0 1 k MIN COUNT 3")) else {
        panic!("a blocking action");
    };
    assert_eq!(blocking.timeout_ms, None);
}
