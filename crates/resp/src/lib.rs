//! The Redis serialization protocol (RESP2 and RESP3).
//!
//! Layout:
//! - [`frame`] — [`Frame`], every RESP3 type, and [`Protocol`]
//! - [`decoder`] — [`Decoder`], a general incremental frame decoder with [`Limits`]
//! - [`request`] — [`RequestDecoder`], the server's resumable decoder of commands
//!   (multibulk and inline) into zero-copy argument slices
//! - [`encoder`] — appends replies, downgrading RESP3 types for RESP2 connections
//! - [`output`] — [`Output`], pending reply bytes with large strings attached, not copied
//! - [`error`] — [`DecodeError`]
//!
//! Decoders return `Ok(None)` when more bytes are needed. They never trust a declared
//! length for allocation: memory grows only with bytes actually received.

pub mod decoder;
pub mod encoder;
pub mod error;
pub mod frame;
pub mod output;
pub mod request;

pub use decoder::{Decoder, Limits};
pub use error::DecodeError;
pub use frame::{Frame, Protocol};
pub use output::Output;
pub use request::RequestDecoder;
