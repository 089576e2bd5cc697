//! Network connections to brokers.

mod conn;

pub use conn::{ConnConfig, Connection, Stream};
