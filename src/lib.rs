//! # ferrokafka
//!
//! A pure-Rust Apache Kafka client built for exactly-once work, written from
//! the wire protocol up.
//!
//! - [`producer`]: the idempotent producer (on by default), with Java-
//!   compatible partitioning, batching, compression and back-pressure.
//! - [`cluster`]: bootstrap, metadata cache and connection pool.
//! - [`net`]: one connection to one broker (pipelining, version choice).
//! - [`protocol`]: the wire codec (`ferrokafka-protocol`).
//!
//! The transactional producer, the consumer and the admin client are being
//! built on these layers.

#![warn(missing_docs)]

mod backoff;
pub mod cluster;
pub mod error;
pub mod net;
pub mod producer;

pub use error::{Error, Result};
pub use ferrokafka_protocol as protocol;
pub use ferrokafka_protocol::{ErrorClass, ErrorCode};
