//! # ferrokafka-mock
//!
//! An in-process Kafka cluster speaking the real wire protocol, strict about
//! Kafka's semantics, with fault injection.
//!
//! **Status:** not built yet. It will depend on `ferrokafka-protocol` only,
//! whose [`Request::decode_prefix`](ferrokafka_protocol::header::Request::decode_prefix)
//! and response encoders are the broker side of the codec it needs.
