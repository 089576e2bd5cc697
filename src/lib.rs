//! # ferrokafka
//!
//! A pure-Rust Apache Kafka client built for exactly-once work: an
//! idempotent producer, a transactional producer and a
//! consume-transform-produce loop on top of them.
//!
//! **Status:** only the wire codec exists so far, re-exported here as
//! [`protocol`]. Connections, metadata, the producer, transactions, the
//! consumer and the admin client are being built on top of it; until they
//! land this crate offers nothing else, rather than something that pretends
//! to work.

pub use ferrokafka_protocol as protocol;
