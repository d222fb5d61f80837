//! DUMP / RESTORE payloads in okapi's own format. A payload is opaque to clients, as
//! Redis's are; its layout follows Redis's shape — a body, a 2-byte format version and
//! a checksum — so a payload from another format (Redis's RDB, a later okapi) is
//! refused by its version, and a damaged one by its checksum, never half-loaded:
//!
//! ```text
//! payload := tag:u8 value            (the value payload of a snapshot record)
//!            version:u16 LE          (DUMP_VERSION)
//!            crc32c:u32 LE           (of everything before it)
//! ```
//! Blocks are not dumped: their pages travel in their own records, and a block can be
//! gigabytes; DUMP of a block is an error.

use bytes::Bytes;

use crate::error::EngineError;
use crate::snapshot::codec::Reader;
use crate::snapshot::record;
use crate::value::Value;

/// The payload format version. Above every RDB version Redis uses (≤ 11), so Redis
/// refuses an okapi payload with its "version or checksum" error, as okapi refuses
/// Redis's.
pub const DUMP_VERSION: u16 = 0x6F01;

const FOOTER: usize = 2 + 4;

fn wrong_payload() -> EngineError {
    EngineError::Other("ERR DUMP payload version or checksum are wrong".into())
}

fn bad_format() -> EngineError {
    EngineError::Other("ERR Bad data format".into())
}

/// The payload of `value` from a namespace of seed `space_seed`.
pub fn dump(value: &Value, space_seed: u64) -> Result<Bytes, EngineError> {
    if matches!(value, Value::Block(_)) {
        return Err(EngineError::Other(
            "ERR DUMP of a block is not supported: copy blocks with COPY or BLOCK.READ/WRITE"
                .into(),
        ));
    }
    let mut out = vec![record::value_tag(value)];
    record::encode_value(&mut out, value, space_seed);
    out.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(Bytes::from(out))
}

/// Checks a payload's version and checksum (`verifyDumpPayload`).
pub fn verify(payload: &[u8]) -> Result<(), EngineError> {
    if payload.len() < 1 + FOOTER {
        return Err(wrong_payload());
    }
    let (body, crc) = payload.split_at(payload.len() - 4);
    let version = u16::from_le_bytes([body[body.len() - 2], body[body.len() - 1]]);
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| wrong_payload())?);
    if version != DUMP_VERSION || crc32c::crc32c(body) != crc {
        return Err(wrong_payload());
    }
    Ok(())
}

/// The value in `payload`, for a namespace of seed `space_seed`.
pub fn load(payload: &[u8], space_seed: u64) -> Result<Value, EngineError> {
    verify(payload)?;
    let body = &payload[..payload.len() - FOOTER];
    let mut r = Reader::new(&body[1..]);
    let (value, pages) =
        record::decode_value(body[0], &mut r, space_seed).map_err(|_| bad_format())?;
    if pages != 0 || matches!(value, Value::Block(_)) || r.remaining() != 0 {
        return Err(bad_format());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::StrValue;

    #[test]
    fn payloads_round_trip_and_damage_is_refused() {
        let value = Value::Str(StrValue::from_text(b"hello"));
        let payload = dump(&value, 7).expect("dump");
        let Value::Str(loaded) = load(&payload, 9).expect("load") else {
            panic!("a string");
        };
        assert_eq!(loaded.with_bytes(|b| b.to_vec()), b"hello");
        for cut in 0..payload.len() {
            assert!(load(&payload[..cut], 9).is_err(), "cut at {cut}");
        }
        for i in 0..payload.len() {
            let mut bad = payload.to_vec();
            bad[i] ^= 0x10;
            assert!(load(&bad, 9).is_err(), "flipped byte {i}");
        }
        // A well-checksummed payload whose body is not a value is "bad data".
        let mut junk = vec![0xEE, 1, 2];
        junk.extend_from_slice(&DUMP_VERSION.to_le_bytes());
        let crc = crc32c::crc32c(&junk);
        junk.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            load(&junk, 0).expect_err("refused").to_string(),
            "ERR Bad data format"
        );
    }
}
