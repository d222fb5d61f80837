//! Writes engine replies as RESP2 or RESP3.

use bytes::BytesMut;
use okapi_engine::Reply;
use okapi_resp::encoder as enc;
use okapi_resp::output::SHARE_FROM;
use okapi_resp::{Output, Protocol};

/// Appends `reply` to `out` in the connection's protocol. Large strings are attached
/// to `out` rather than copied.
pub fn write(out: &mut Output, reply: &Reply, protocol: Protocol) {
    match reply {
        Reply::Ok => enc::ok(out),
        Reply::Status(text) => enc::simple(out, text.as_bytes()),
        Reply::Int(n) => enc::integer(out, *n),
        Reply::Bulk(bytes) if bytes.len() >= SHARE_FROM => {
            out.bulk_pieces(std::slice::from_ref(bytes))
        }
        Reply::Bulk(bytes) => enc::bulk(out, bytes),
        Reply::Pieces(pieces) => out.bulk_pieces(pieces),
        Reply::Nil => enc::null(out, protocol),
        Reply::NilArray => enc::null_array(out, protocol),
        Reply::Array(items) => {
            enc::array_header(out, items.len());
            items.iter().for_each(|item| write(out, item, protocol));
        }
        Reply::Map(pairs) => {
            enc::map_header(out, pairs.len(), protocol);
            for (k, v) in pairs {
                write(out, k, protocol);
                write(out, v, protocol);
            }
        }
        Reply::Set(items) => {
            enc::set_header(out, items.len(), protocol);
            items.iter().for_each(|item| write(out, item, protocol));
        }
        Reply::Pairs(pairs) => match protocol {
            Protocol::Resp2 => {
                enc::array_header(out, pairs.len() * 2);
                for (k, v) in pairs {
                    write(out, k, protocol);
                    write(out, v, protocol);
                }
            }
            Protocol::Resp3 => {
                enc::array_header(out, pairs.len());
                for (k, v) in pairs {
                    enc::array_header(out, 2);
                    write(out, k, protocol);
                    write(out, v, protocol);
                }
            }
        },
        Reply::Keyed(pairs) => match protocol {
            Protocol::Resp2 => {
                enc::array_header(out, pairs.len());
                for (k, v) in pairs {
                    enc::array_header(out, 2);
                    write(out, k, protocol);
                    write(out, v, protocol);
                }
            }
            Protocol::Resp3 => {
                enc::map_header(out, pairs.len(), protocol);
                for (k, v) in pairs {
                    write(out, k, protocol);
                    write(out, v, protocol);
                }
            }
        },
        Reply::Double(value) => enc::double(out, *value, protocol),
        Reply::HumanDouble(value) => enc::double_text(
            out,
            okapi_types::long_double::LongDouble::from_f64(*value)
                .to_human()
                .as_bytes(),
            protocol,
        ),
        Reply::Text(text) => enc::verbatim(out, b"txt", text.as_bytes(), protocol),
        Reply::Error(e) => enc::error(out, e.to_string().as_bytes()),
        Reply::StatusText(text) => enc::simple(out, text.as_bytes()),
        Reply::Bool(value) => enc::boolean(out, *value, protocol),
    }
}

/// Appends an error reply from any displayable error (its text carries the prefix).
pub fn write_error(out: &mut BytesMut, error: &impl std::fmt::Display) {
    enc::error(out, error.to_string().as_bytes());
}
