//! The cluster's shared state: brokers, topics and their partition logs,
//! producer ids, transactions, groups. Handlers take it under one lock and
//! never await while holding it.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrokafka_protocol::wire::Uuid;
use ferrokafka_protocol::{ApiKey, ErrorCode};

use crate::config::MockConfig;
use crate::faults::Faults;
use crate::group::Group;
use crate::log::PartitionLog;
use crate::txn::TxnCoordinator;

/// One broker as the cluster sees it.
#[derive(Debug, Clone)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub alive: bool,
}

#[derive(Debug)]
pub struct Partition {
    pub leader: i32,
    /// Where leadership returns when that broker is alive again.
    pub preferred_leader: i32,
    pub log: PartitionLog,
}

#[derive(Debug)]
pub struct Topic {
    pub id: Uuid,
    pub partitions: Vec<Partition>,
    pub configs: BTreeMap<String, String>,
}

/// A committed consumer offset.
#[derive(Debug, Clone)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

pub struct Cluster {
    pub config: MockConfig,
    pub cluster_id: String,
    pub brokers: Vec<BrokerInfo>,
    pub topics: BTreeMap<String, Topic>,
    pub next_producer_id: i64,
    pub faults: Faults,
    pub txn: TxnCoordinator,
    pub groups: HashMap<String, Group>,
    /// group -> (topic, partition) -> offset
    pub offsets: HashMap<String, BTreeMap<(String, i32), CommittedOffset>>,
    /// Error codes the cluster answered Produce partitions with (not
    /// counting injected faults), for tests.
    pub produce_errors: HashMap<i16, u64>,
    /// Incremental fetch sessions by id.
    pub fetch_sessions: HashMap<i32, crate::handlers::FetchSession>,
    pub next_fetch_session: i32,
    /// Coordinator overrides set by fault injection: key -> broker.
    pub coordinator_overrides: HashMap<(i8, String), i32>,
    next_topic_id: u64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Kafka's limits on topic names.
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Cluster {
    pub fn new(config: MockConfig, brokers: Vec<BrokerInfo>) -> Cluster {
        Cluster {
            next_producer_id: config.first_producer_id,
            config,
            cluster_id: "ferrokafka-mock-cluster".into(),
            brokers,
            topics: BTreeMap::new(),
            faults: Faults::default(),
            txn: TxnCoordinator::default(),
            groups: HashMap::new(),
            offsets: HashMap::new(),
            produce_errors: HashMap::new(),
            fetch_sessions: HashMap::new(),
            next_fetch_session: 0,
            coordinator_overrides: HashMap::new(),
            next_topic_id: 1,
        }
    }

    pub fn alive_brokers(&self) -> impl Iterator<Item = &BrokerInfo> {
        self.brokers.iter().filter(|b| b.alive)
    }

    pub fn broker(&self, id: i32) -> Option<&BrokerInfo> {
        self.brokers.iter().find(|b| b.id == id)
    }

    /// Creates a topic with leaders spread round-robin over the brokers.
    pub fn create_topic(&mut self, name: &str, partitions: i32, configs: BTreeMap<String, String>) -> Result<(), ErrorCode> {
        if !valid_topic_name(name) {
            return Err(ErrorCode::INVALID_TOPIC_EXCEPTION);
        }
        if self.topics.contains_key(name) {
            return Err(ErrorCode::TOPIC_ALREADY_EXISTS);
        }
        if partitions <= 0 {
            return Err(ErrorCode::INVALID_PARTITIONS);
        }
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&0x6665_7272_6f6b_6166u64.to_be_bytes());
        id[8..].copy_from_slice(&self.next_topic_id.to_be_bytes());
        self.next_topic_id += 1;
        let offset = self.topics.len();
        let mut topic = Topic { id: Uuid(id), partitions: Vec::new(), configs };
        for p in 0..partitions {
            topic.partitions.push(self.new_partition(offset + p as usize));
        }
        self.topics.insert(name.to_string(), topic);
        Ok(())
    }

    fn new_partition(&self, n: usize) -> Partition {
        let preferred = self.brokers[n % self.brokers.len()].id;
        let leader = if self.broker(preferred).is_some_and(|b| b.alive) {
            preferred
        } else {
            self.alive_brokers().next().map(|b| b.id).unwrap_or(-1)
        };
        Partition { leader, preferred_leader: preferred, log: PartitionLog::default() }
    }

    /// Adds partitions to a topic.
    pub fn grow_topic(&mut self, name: &str, count: i32) -> Result<(), ErrorCode> {
        let current = self.topics.get(name).ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?.partitions.len() as i32;
        if count <= current {
            return Err(ErrorCode::INVALID_PARTITIONS);
        }
        let base = self.topics.len() + current as usize;
        let new: Vec<Partition> = (0..count - current).map(|i| self.new_partition(base + i as usize)).collect();
        self.topics.get_mut(name).expect("checked").partitions.extend(new);
        Ok(())
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<(&String, &Topic)> {
        self.topics.iter().find(|(_, t)| t.id == id)
    }

    pub fn partition_mut(&mut self, topic: &str, p: i32) -> Option<&mut Partition> {
        self.topics.get_mut(topic)?.partitions.get_mut(usize::try_from(p).ok()?)
    }

    pub fn partition(&self, topic: &str, p: i32) -> Option<&Partition> {
        self.topics.get(topic)?.partitions.get(usize::try_from(p).ok()?)
    }

    /// Moves a partition's leadership, bumping its leader epoch.
    pub fn set_leader(&mut self, topic: &str, p: i32, leader: i32) -> bool {
        match self.partition_mut(topic, p) {
            Some(part) if part.leader != leader => {
                part.leader = leader;
                part.log.bump_leader_epoch();
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Marks a broker down and hands its partitions to live brokers.
    pub fn broker_down(&mut self, id: i32) {
        if let Some(b) = self.brokers.iter_mut().find(|b| b.id == id) {
            b.alive = false;
        }
        let alive: Vec<i32> = self.alive_brokers().map(|b| b.id).collect();
        for topic in self.topics.values_mut() {
            for (i, part) in topic.partitions.iter_mut().enumerate() {
                if part.leader == id {
                    part.leader = if alive.is_empty() { -1 } else { alive[i % alive.len()] };
                    part.log.bump_leader_epoch();
                }
            }
        }
    }

    /// Marks a broker up again; it takes back the partitions it prefers.
    pub fn broker_up(&mut self, id: i32) {
        if let Some(b) = self.brokers.iter_mut().find(|b| b.id == id) {
            b.alive = true;
        }
        let alive: Vec<i32> = self.alive_brokers().map(|b| b.id).collect();
        for topic in self.topics.values_mut() {
            for (i, part) in topic.partitions.iter_mut().enumerate() {
                let want = if alive.contains(&part.preferred_leader) {
                    part.preferred_leader
                } else if part.leader >= 0 {
                    part.leader
                } else {
                    alive[i % alive.len()]
                };
                if part.leader != want {
                    part.leader = want;
                    part.log.bump_leader_epoch();
                }
            }
        }
    }

    /// The broker coordinating `key` (0 group, 1 transaction).
    pub fn coordinator_for(&self, key_type: i8, key: &str) -> Option<&BrokerInfo> {
        if let Some(id) = self.coordinator_overrides.get(&(key_type, key.to_string())) {
            return self.broker(*id).filter(|b| b.alive);
        }
        let alive: Vec<&BrokerInfo> = self.alive_brokers().collect();
        if alive.is_empty() {
            return None;
        }
        // Kafka hashes the key onto a partition of __consumer_offsets or
        // __transaction_state; the partition's leader coordinates.
        let h = key.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        Some(alive[h as usize % alive.len()])
    }

    /// Whether `broker` currently coordinates `key`.
    pub fn is_coordinator(&self, key_type: i8, key: &str, broker: i32) -> bool {
        self.coordinator_for(key_type, key).is_some_and(|b| b.id == broker)
    }

    /// The API range the mock advertises.
    pub fn api_range(&self, api: ApiKey) -> Option<(i16, i16)> {
        match self.config.api_versions.get(&api) {
            Some(r) => *r,
            None => Some(crate::handlers::supported_range(api, &self.config)),
        }
    }
}
