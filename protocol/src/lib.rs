//! # ferrokafka-protocol
//!
//! The Kafka wire protocol, and nothing else: no sockets, no runtime.
//!
//! - [`wire`]: primitive types (fixed ints, varints, classic and compact
//!   strings, bytes and arrays, UUIDs, tagged fields) over a zero-copy
//!   [`wire::Reader`].
//! - [`messages`]: every request and response this crate speaks, at every
//!   declared version, generated from one declaration per message.
//! - [`header`]: request and response headers and whole frames.
//! - [`records`]: record batches (v2) and legacy message sets (v0/v1).
//! - [`compression`]: gzip, snappy, lz4 and zstd, with bounded decompression.
//! - [`ErrorCode`]: Kafka's error codes with their retriable flag and our
//!   client class.
//!
//! Decoders never panic on bad input: every length and count is checked
//! against the bytes present, and errors come back as [`DecodeError`].

#![warn(missing_docs)]

pub mod compression;
pub mod consumer_protocol;
pub mod error;
pub mod error_code;
pub mod header;
pub mod messages;
pub mod records;
#[cfg(feature = "test-util")]
pub mod testutil;
pub mod wire;

pub use bytes;
pub use error::{DecodeError, EncodeError};
pub use error_code::{ErrorClass, ErrorCode};
pub use messages::{ApiKey, Message, RequestBody, ResponseBody};
