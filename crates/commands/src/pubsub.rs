//! Pub/sub commands. Subscriptions live in the server; these only parse.

use bytes::Bytes;

use crate::action::{Action, ConnCmd};
use crate::args::is;
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, Keys, command};

const G: &str = "pubsub";
const P: &[&str] = &["@pubsub", "@slow"];

/// Pub/sub commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "subscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK,
        Keys::None,
        P,
        G,
        "Listens for messages published to channels.",
        subscribe,
    ),
    command(
        "unsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK,
        Keys::None,
        P,
        G,
        "Stops listening to messages posted to channels.",
        unsubscribe,
    ),
    command(
        "psubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK,
        Keys::None,
        P,
        G,
        "Listens for messages published to channels that match one or more patterns.",
        psubscribe,
    ),
    command(
        "punsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK,
        Keys::None,
        P,
        G,
        "Stops listening to messages published to channels that match one or more patterns.",
        punsubscribe,
    ),
    command(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST,
        Keys::None,
        &["@pubsub", "@fast"],
        G,
        "Posts a message to a channel.",
        publish,
    ),
    command(
        "pubsub",
        -2,
        PUBSUB | LOADING | STALE,
        Keys::None,
        P,
        G,
        "A container for Pub/Sub commands.",
        pubsub,
    ),
];

fn subscribe(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(Action::Conn(ConnCmd::Subscribe(a.to_vec())))
}

fn unsubscribe(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(Action::Conn(ConnCmd::Unsubscribe(a.to_vec())))
}

fn psubscribe(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(Action::Conn(ConnCmd::PSubscribe(a.to_vec())))
}

fn punsubscribe(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(Action::Conn(ConnCmd::PUnsubscribe(a.to_vec())))
}

fn publish(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(Action::Conn(ConnCmd::Publish {
        channel: a[0].clone(),
        message: a[1].clone(),
    }))
}

fn pubsub(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let sub = &a[0];
    let rest = &a[1..];
    if is(sub, "CHANNELS") && rest.len() <= 1 {
        Ok(Action::Conn(ConnCmd::PubSubChannels(rest.first().cloned())))
    } else if is(sub, "NUMSUB") {
        Ok(Action::Conn(ConnCmd::PubSubNumSub(rest.to_vec())))
    } else if is(sub, "NUMPAT") && rest.is_empty() {
        Ok(Action::Conn(ConnCmd::PubSubNumPat))
    } else if is(sub, "CHANNELS") || is(sub, "NUMPAT") {
        Err(CommandError::WrongArity(format!(
            "pubsub|{}",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        )))
    } else {
        Err(CommandError::UnknownSubcommand {
            command: "PUBSUB".into(),
            sub: String::from_utf8_lossy(sub).into_owned(),
        })
    }
}
