//! The cluster's state and the operations on it: brokers and topics
//! ([`cluster`]), partition logs ([`log`]), consumer groups ([`group`], the
//! coordinator's operations in [`group_coordinator`]), transactions
//! ([`txn`], operations in [`txn_coordinator`]) and fetch sessions
//! ([`fetch_session`]).
//!
//! Within the layer, too, imports go one way: `log`, `group`, `txn` and
//! `fetch_session` know nothing of the cluster; `cluster` holds them; the
//! two coordinators' modules add operations to the cluster.
//!
//! Operations take and return plain values (names, ids, offsets, record
//! bytes) and fail with an [`ErrorCode`](ferrokafka_protocol::ErrorCode),
//! so they can be tested without building requests. Which error a client
//! of a given request version sees, and how answers are shaped, is the
//! handlers' business: nothing here imports `handlers` or `server`, nor
//! the request and response message types.

mod clock;
pub mod cluster;
pub mod fetch_session;
pub mod group;
pub mod group_coordinator;
pub mod log;
pub mod txn;
pub mod txn_coordinator;

pub use cluster::{BrokerInfo, Cluster, NewTopic};

/// Key types of FindCoordinator: which coordinator a key belongs to.
pub const GROUP_KEY: i8 = 0;
/// See [`GROUP_KEY`].
pub const TXN_KEY: i8 = 1;

#[cfg(test)]
pub(crate) mod testing {
    //! A small cluster for the state tests.

    use ferrokafka_protocol::bytes::{Bytes, BytesMut};
    use ferrokafka_protocol::records::RecordBatch;

    use super::{BrokerInfo, Cluster};
    use crate::config::MockConfig;

    /// An encoded batch of `n` records from producer `pid` (-1: none) at
    /// `epoch`, sequences from `seq`, transactional or not.
    pub fn batch(pid: i64, epoch: i16, seq: i32, n: usize, txn: bool) -> Bytes {
        let mut b = RecordBatch::from_records((0..n).map(|i| (1000 + i as i64, None, Some(Bytes::from("v")), Vec::new())));
        b.producer_id = pid;
        b.producer_epoch = epoch;
        b.base_sequence = seq;
        b.set_transactional(txn);
        let mut buf = BytesMut::new();
        b.encode(&mut buf, None).unwrap();
        buf.freeze()
    }

    /// `brokers` live brokers (ids 1..) with the given config.
    pub fn cluster_with(config: MockConfig, brokers: i32) -> Cluster {
        let infos = (1..=brokers).map(|id| BrokerInfo { id, host: "127.0.0.1".into(), port: 9000 + id as u16, alive: true }).collect();
        Cluster::new(config, infos)
    }

    /// One live broker, default config.
    pub fn cluster() -> Cluster {
        cluster_with(MockConfig::default(), 1)
    }
}
