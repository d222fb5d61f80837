//! Shared vocabulary of okapi: newtype identifiers, the cluster key-slot function and
//! the limits every layer agrees on. No I/O, no async.
//!
//! Layout:
//! - [`ids`] — `NodeId`, `GroupId`, `Slot`, `LogIndex`, `Epoch`, `Namespace`
//! - [`slot`] — `key_slot()` (CRC16/XMODEM with hash tags, as Redis Cluster)
//! - [`limits`] — sizes and defaults shared by the protocol, engine and server
//! - [`num`] — integer and float parsing/formatting with Redis's exact rules
//! - [`long_double`] — C's `long double` in software (INCRBYFLOAT's arithmetic)
//! - [`wire`] — okapi's versioned binary encoding with explicit enum tags

mod bignum;
mod float_literal;
pub mod ids;
pub mod limits;
pub mod long_double;
pub mod num;
pub mod slot;
pub mod wire;

pub use ids::{Epoch, GroupId, LogIndex, Namespace, NodeId, Slot, Writer};
pub use slot::{SLOT_COUNT, crc16, key_slot};
