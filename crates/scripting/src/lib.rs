//! Lua scripting as Redis 7.0 has it (EVAL, EVALSHA, EVAL_RO, SCRIPT), on Lua 5.1
//! built from mlua's vendored sources.
//!
//! How scripts replicate: a script that writes runs as one log entry
//! ([`okapi_engine::script::ScriptOp`]: its source, keys, arguments and the seed and
//! time the leader stamped) and every replica runs it when it applies that entry. The
//! other choice, replicating the writes a script made, needs the leader to run the
//! script against a state that includes entries not yet applied (okapi's state changes
//! only when an entry applies); running the script itself keeps "state changes only in
//! apply" true and makes a script exactly one atomic step of the log. Everything a
//! script could see besides the data is made deterministic: `math.random` is seeded
//! from the entry, TIME answers the stamped time, and the commands it calls pick
//! "random" elements from the entry's seed.
//!
//! Before a script goes to the log the leader *probes* it: it runs it under the shard
//! lock, reads only, and if it finishes without asking for a write its reply is
//! final and no entry is needed (read-only scripts cost what a read costs). At its
//! first write the probe stops, changing nothing, and the script is appended.
//!
//! Layout:
//! - [`vm`] — each thread's Lua state: libraries, the sandbox, compiled scripts
//! - [`run`] — one script run, as a probe or applied from the log
//! - [`call`] — `redis.call`: a command from a script against the engine
//! - [`library`] — function libraries: FUNCTION LOAD's code, FCALL's functions
//! - [`convert`] — engine replies to Lua values and Lua values to replies
//! - [`bitlib`] — the `bit` library (LuaBitOp's functions)
//! - [`cjson`] — the `cjson` library (lua-cjson's encode and decode)
//! - [`cmsgpack`] — the `cmsgpack` library (lua-cmsgpack's pack and unpack)
//! - [`structlib`] — the `struct` library (lua-struct's pack, unpack and size)
//! - [`busy`] — the scripts running now: SCRIPT KILL and the busy reply
//! - [`shebang`] — `#!lua flags=...`, what a script declares it does
//! - [`cache`] — SCRIPT LOAD's scripts by SHA1

pub mod bitlib;
pub mod busy;
pub mod cache;
pub mod call;
pub mod cjson;
pub mod cmsgpack;
pub mod convert;
pub mod error;
pub mod library;
pub mod run;
pub mod shebang;
pub mod structlib;
pub mod vm;

pub use cache::ScriptCache;
pub use error::ScriptError;
pub use run::{FunctionRef, Invocation, Mode, Outcome};

use bytes::Bytes;

/// The lower-case hex SHA1 of `body`: a script's name.
pub fn sha1_hex(body: &[u8]) -> Bytes {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(body);
    let mut hex = Vec::with_capacity(40);
    for byte in digest {
        hex.push(HEX[usize::from(byte >> 4)]);
        hex.push(HEX[usize::from(byte & 15)]);
    }
    Bytes::from(hex)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Installs the engine's script host, so script ops apply (once per process).
pub fn install() {
    okapi_engine::script::install_script_host(Box::new(run::Host));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_of_the_empty_script_is_redis_s() {
        assert_eq!(
            &sha1_hex(b"")[..],
            b"da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            &sha1_hex(b"return 1")[..],
            b"e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }
}
