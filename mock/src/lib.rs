//! # ferrokafka-mock
//!
//! An in-process Kafka cluster that speaks the real wire protocol over real
//! sockets and keeps Kafka's semantics where a client can observe them:
//! partition logs with offsets, high watermark, log start and last stable
//! offset; idempotent producers (the last five batches per producer,
//! duplicates answered with their original offset, sequence gaps, epoch
//! fencing); a transaction coordinator writing commit and abort markers and
//! keeping the aborted-transaction index; a classic group coordinator; and
//! fault injection for all of it.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use ferrokafka_mock::{MockCluster, MockConfig};
//! use ferrokafka_protocol::{ApiKey, ErrorCode};
//!
//! let cluster = MockCluster::start(MockConfig { brokers: 3, ..Default::default() }).await?;
//! cluster.create_topic("orders", 3).unwrap();
//! // The next two Produce requests to any broker fail as if leadership moved.
//! cluster.fail_next(None, ApiKey::Produce, ErrorCode::NOT_LEADER_OR_FOLLOWER, 2);
//! println!("bootstrap.servers={}", cluster.bootstrap());
//! # Ok(()) }
//! ```
//!
//! What is modelled and every known difference from Apache Kafka is listed
//! in the crate's README.

#![warn(missing_docs)]

mod config;
mod faults;
mod handlers;
mod server;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_protocol::records::{Batch, DecodeLimits, RecordBatch, RecordSet};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

pub use config::MockConfig;
pub use faults::FaultAction;

use server::{BrokerRuntime, Shared};
use state::{BrokerInfo, Cluster};

/// Which coordinator a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorType {
    /// A consumer group (`KeyType` 0).
    Group,
    /// A transactional id (`KeyType` 1).
    Transaction,
}

/// A running mock cluster. Dropping it stops every broker.
pub struct MockCluster {
    shared: Arc<Shared>,
    brokers: Mutex<Vec<BrokerRuntime>>,
    ticker: JoinHandle<()>,
}

impl MockCluster {
    /// Starts the brokers on 127.0.0.1 (on the current tokio runtime).
    pub async fn start(config: MockConfig) -> std::io::Result<MockCluster> {
        if config.brokers < 1 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "a cluster needs at least one broker"));
        }
        let shared = Arc::new(Shared { state: Mutex::new(Cluster::new(config.clone(), Vec::new())), changed: Notify::new() });
        let mut runtimes = Vec::new();
        let mut infos = Vec::new();
        for i in 0..config.brokers {
            let id = i + 1;
            let port = if config.base_port == 0 { 0 } else { config.base_port + i as u16 };
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let (tx, rx) = watch::channel(false);
            let (local, accept, connections) = server::start_broker(shared.clone(), id, addr, rx).await?;
            infos.push(BrokerInfo { id, host: "127.0.0.1".into(), port: local.port(), alive: true });
            runtimes.push(BrokerRuntime { id, addr: local, accept: Some(accept), connections, paused: tx });
        }
        shared.lock().brokers = infos;
        let ticker = server::start_ticker(shared.clone());
        Ok(MockCluster { shared, brokers: Mutex::new(runtimes), ticker })
    }

    fn runtimes(&self) -> std::sync::MutexGuard<'_, Vec<BrokerRuntime>> {
        self.brokers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `host:port,host:port,...` of every broker, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.runtimes().iter().map(|b| b.addr.to_string()).collect::<Vec<_>>().join(",")
    }

    /// Each broker's id and address.
    pub fn brokers(&self) -> Vec<(i32, SocketAddr)> {
        self.runtimes().iter().map(|b| (b.id, b.addr)).collect()
    }

    /// Creates a topic; partition leaders are spread over the brokers.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), ErrorCode> {
        self.shared.lock().create_topic(name, partitions, Default::default())
    }

    /// Creates a topic with topic configs (`max.message.bytes`, ...).
    pub fn create_topic_with(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<(), ErrorCode> {
        let configs = configs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.shared.lock().create_topic(name, partitions, configs)
    }

    fn add_fault(&self, broker: Option<i32>, api: ApiKey, action: FaultAction, count: u32) {
        self.shared.lock().faults.add(faults::FaultRule { broker, api, action, remaining: count });
    }

    /// Answers the next `count` requests of `api` (on `broker`, or any) with
    /// `error`, without applying them.
    pub fn fail_next(&self, broker: Option<i32>, api: ApiKey, error: ErrorCode, count: u32) {
        self.add_fault(broker, api, FaultAction::Error(error), count);
    }

    /// Delays the responses to the next `count` requests of `api`.
    pub fn delay_next(&self, broker: Option<i32>, api: ApiKey, delay: Duration, count: u32) {
        self.add_fault(broker, api, FaultAction::Delay(delay), count);
    }

    /// Applies the next `count` requests of `api` but closes the connection
    /// instead of answering: the effect happened, the response is lost.
    pub fn drop_next_response(&self, broker: Option<i32>, api: ApiKey, count: u32) {
        self.add_fault(broker, api, FaultAction::DropResponse, count);
    }

    /// Closes the connection on the next `count` requests of `api` without
    /// applying them.
    pub fn drop_next_request(&self, broker: Option<i32>, api: ApiKey, count: u32) {
        self.add_fault(broker, api, FaultAction::DropRequest, count);
    }

    /// Removes every fault rule not yet used up.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Fault rules not yet used up (counted per request).
    pub fn pending_faults(&self) -> usize {
        self.shared.lock().faults.pending()
    }

    /// Stops a broker: its connections drop, its listener closes and its
    /// partitions' leadership moves to live brokers.
    pub fn stop_broker(&self, id: i32) {
        if let Some(b) = self.runtimes().iter_mut().find(|b| b.id == id) {
            b.stop();
        }
        self.shared.lock().broker_down(id);
        self.shared.changed.notify_waiters();
    }

    /// Restarts a stopped broker on its old port; it takes back the
    /// partitions it leads by preference.
    pub async fn start_broker(&self, id: i32) -> std::io::Result<()> {
        let (addr, rx) = {
            let list = self.runtimes();
            let b = list.iter().find(|b| b.id == id).ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such broker"))?;
            (b.addr, b.paused.subscribe())
        };
        let (_, accept, connections) = server::start_broker(self.shared.clone(), id, addr, rx).await?;
        if let Some(b) = self.runtimes().iter_mut().find(|b| b.id == id) {
            b.accept = Some(accept);
            b.connections = connections;
        }
        self.shared.lock().broker_up(id);
        self.shared.changed.notify_waiters();
        Ok(())
    }

    /// Stops reading requests on a broker's connections (they stay open).
    pub fn pause_broker(&self, id: i32) {
        if let Some(b) = self.runtimes().iter().find(|b| b.id == id) {
            let _ = b.paused.send(true);
        }
    }

    /// Resumes a paused broker.
    pub fn resume_broker(&self, id: i32) {
        if let Some(b) = self.runtimes().iter().find(|b| b.id == id) {
            let _ = b.paused.send(false);
        }
    }

    /// Moves a partition's leadership to broker `to` (bumping its epoch).
    pub fn move_leader(&self, topic: &str, partition: i32, to: i32) -> bool {
        let ok = self.shared.lock().set_leader(topic, partition, to);
        self.shared.changed.notify_waiters();
        ok
    }

    /// The current leader of a partition.
    pub fn leader_of(&self, topic: &str, partition: i32) -> Option<i32> {
        self.shared.lock().partition(topic, partition).map(|p| p.leader)
    }

    /// Makes `broker` the coordinator of `key`.
    pub fn move_coordinator(&self, kind: CoordinatorType, key: &str, broker: i32) {
        let t = match kind {
            CoordinatorType::Group => 0,
            CoordinatorType::Transaction => 1,
        };
        self.shared.lock().coordinator_overrides.insert((t, key.to_string()), broker);
    }

    /// The broker coordinating `key` now.
    pub fn coordinator_of(&self, kind: CoordinatorType, key: &str) -> Option<i32> {
        let t = if kind == CoordinatorType::Group { 0 } else { 1 };
        self.shared.lock().coordinator_for(t, key).map(|b| b.id)
    }

    /// How long transaction markers take to write; meanwhile the
    /// coordinator answers CONCURRENT_TRANSACTIONS, as Kafka does.
    pub fn set_marker_latency(&self, latency: Duration) {
        self.shared.lock().txn.marker_latency_ms = latency.as_millis() as i64;
    }

    /// High watermark, last stable offset and log start offset.
    pub fn offsets(&self, topic: &str, partition: i32) -> Option<(i64, i64, i64)> {
        self.shared.lock().partition(topic, partition).map(|p| (p.log.high_watermark(), p.log.last_stable_offset(), p.log.log_start_offset))
    }

    /// Every batch in a partition's log, decoded (control batches included).
    pub fn batches(&self, topic: &str, partition: i32) -> Vec<RecordBatch> {
        let data: Vec<_> = match self.shared.lock().partition(topic, partition) {
            Some(p) => p.log.batches.iter().map(|b| b.bytes.clone()).collect(),
            None => return Vec::new(),
        };
        data.into_iter()
            .filter_map(|b| RecordSet::parse(b, &DecodeLimits::default()).ok())
            .flat_map(|s| s.batches)
            .filter_map(|b| if let Batch::V2(b) = b { Some(b) } else { None })
            .collect()
    }

    /// A group's committed offset for a partition.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.shared.lock().offsets.get(group).and_then(|o| o.get(&(topic.to_string(), partition))).map(|c| c.offset)
    }

    /// How often each error code was answered to Produce partitions (real
    /// refusals, not injected faults).
    pub fn produce_errors(&self) -> std::collections::HashMap<ErrorCode, u64> {
        self.shared.lock().produce_errors.iter().map(|(k, v)| (ErrorCode(*k), *v)).collect()
    }

    /// Stops every broker.
    pub fn shutdown(&self) {
        for b in self.runtimes().iter_mut() {
            b.stop();
        }
        self.ticker.abort();
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}
