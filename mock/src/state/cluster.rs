//! The cluster: brokers, topics and their partitions, leadership,
//! coordinators, and the operations on partitions that Produce, Fetch and
//! the admin APIs share. Handlers take it under one lock and never await
//! while holding it.

use std::collections::{BTreeMap, HashMap};

use ferrokafka_protocol::bytes::Bytes;
use ferrokafka_protocol::wire::Uuid;
use ferrokafka_protocol::ErrorCode;

use super::clock::now_ms;
use super::fetch_session::FetchSessions;
use super::group::{CommittedOffset, Group};
use super::log::{LogRules, PartitionLog};
use super::txn::TxnCoordinator;
use crate::config::MockConfig;
use crate::faults::Faults;

/// Topic configs the mock knows, with Kafka's defaults.
pub const TOPIC_DEFAULTS: &[(&str, &str)] = &[
    ("cleanup.policy", "delete"),
    ("compression.type", "producer"),
    ("max.message.bytes", "1048588"),
    ("message.timestamp.type", "CreateTime"),
    ("min.insync.replicas", "1"),
    ("retention.bytes", "-1"),
    ("retention.ms", "604800000"),
    ("segment.bytes", "1073741824"),
];

/// One broker as the cluster sees it.
#[derive(Debug, Clone)]
pub struct BrokerInfo {
    /// The broker id (1..=N).
    pub id: i32,
    /// The host it advertises.
    pub host: String,
    /// The port it listens on.
    pub port: u16,
    /// Stopped brokers stay listed but lead nothing.
    pub alive: bool,
}

/// One partition: its leader and its log (the only replica).
#[derive(Debug)]
pub struct Partition {
    /// The broker leading it now, or -1 when no broker is alive.
    pub leader: i32,
    /// Where leadership returns when that broker is alive again.
    pub preferred_leader: i32,
    /// The partition's log.
    pub log: PartitionLog,
}

/// One topic.
#[derive(Debug)]
pub struct Topic {
    /// The topic id (Metadata v10+, Fetch v13+).
    pub id: Uuid,
    /// Partitions by index.
    pub partitions: Vec<Partition>,
    /// Topic configs set at creation (the rest are [`TOPIC_DEFAULTS`]).
    pub configs: BTreeMap<String, String>,
}

/// What CreateTopics asks for one topic, its defaults already applied.
#[derive(Debug, Clone)]
pub struct NewTopic {
    /// The topic name.
    pub name: String,
    /// The partition count asked for.
    pub partitions: i32,
    /// The replication factor asked for.
    pub replication_factor: i16,
    /// Manual replica assignments: their count replaces `partitions`.
    pub assignments: usize,
    /// Topic configs.
    pub configs: BTreeMap<String, String>,
}

/// The cluster's whole state, under one lock.
pub struct Cluster {
    /// How the cluster was configured.
    pub config: MockConfig,
    /// The cluster id Metadata reports.
    pub cluster_id: String,
    /// Every broker, alive or not.
    pub brokers: Vec<BrokerInfo>,
    /// Topics by name.
    pub topics: BTreeMap<String, Topic>,
    /// The next producer id InitProducerId hands out.
    pub next_producer_id: i64,
    /// Active fault rules.
    pub faults: Faults,
    /// The transaction coordinator's state.
    pub txn: TxnCoordinator,
    /// Consumer groups by id.
    pub groups: HashMap<String, Group>,
    /// group -> (topic, partition) -> offset
    pub offsets: HashMap<String, BTreeMap<(String, i32), CommittedOffset>>,
    /// Error codes the cluster answered Produce partitions with (not
    /// counting injected faults), for tests.
    pub produce_errors: HashMap<i16, u64>,
    /// Incremental fetch sessions.
    pub fetch_sessions: FetchSessions,
    /// Coordinator overrides set by fault injection: key -> broker.
    pub coordinator_overrides: HashMap<(i8, String), i32>,
    next_topic_id: u64,
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
    /// A cluster with no topics.
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
            fetch_sessions: FetchSessions::default(),
            coordinator_overrides: HashMap::new(),
            next_topic_id: 1,
        }
    }

    /// The brokers that are up.
    pub fn alive_brokers(&self) -> impl Iterator<Item = &BrokerInfo> {
        self.brokers.iter().filter(|b| b.alive)
    }

    /// A broker by id, alive or not.
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

    /// Grows a topic to `count` partitions (CreatePartitions);
    /// `validate_only` checks without growing.
    pub fn grow_topic(&mut self, name: &str, count: i32, validate_only: bool) -> Result<(), ErrorCode> {
        let current = self.topics.get(name).ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?.partitions.len() as i32;
        if count <= current {
            return Err(ErrorCode::INVALID_PARTITIONS);
        }
        if validate_only {
            return Ok(());
        }
        let base = self.topics.len() + current as usize;
        let new: Vec<Partition> = (0..count - current).map(|i| self.new_partition(base + i as usize)).collect();
        self.topics.get_mut(name).expect("checked").partitions.extend(new);
        Ok(())
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: Uuid) -> Option<(&String, &Topic)> {
        self.topics.iter().find(|(_, t)| t.id == id)
    }

    /// A partition, to change it.
    pub fn partition_mut(&mut self, topic: &str, p: i32) -> Option<&mut Partition> {
        self.topics.get_mut(topic)?.partitions.get_mut(usize::try_from(p).ok()?)
    }

    /// A partition.
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

    /// The partition `topic`/`p` if `broker` leads it, checked against the
    /// leader epoch the client knows (-1: none), as Kafka checks fetches
    /// and offset look-ups.
    pub fn led_partition(&self, topic: &str, p: i32, broker: i32, current_leader_epoch: i32) -> Result<&Partition, ErrorCode> {
        let part = self.partition(topic, p).ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
        if part.leader != broker {
            return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        if current_leader_epoch >= 0 {
            if current_leader_epoch > part.log.leader_epoch {
                return Err(ErrorCode::UNKNOWN_LEADER_EPOCH);
            }
            if current_leader_epoch < part.log.leader_epoch {
                return Err(ErrorCode::FENCED_LEADER_EPOCH);
            }
        }
        Ok(part)
    }

    /// Creates a topic as CreateTopics does, after Kafka's checks in
    /// Kafka's order; `validate_only` checks without creating.
    pub fn create_topic_checked(&mut self, t: NewTopic, validate_only: bool) -> Result<(), ErrorCode> {
        let brokers = self.brokers.len() as i16;
        if !valid_topic_name(&t.name) {
            return Err(ErrorCode::INVALID_TOPIC_EXCEPTION);
        }
        if self.topics.contains_key(&t.name) {
            return Err(ErrorCode::TOPIC_ALREADY_EXISTS);
        }
        if t.replication_factor <= 0 || t.replication_factor > brokers {
            return Err(ErrorCode::INVALID_REPLICATION_FACTOR);
        }
        if t.partitions <= 0 && t.assignments == 0 {
            return Err(ErrorCode::INVALID_PARTITIONS);
        }
        if t.configs.keys().any(|k| !TOPIC_DEFAULTS.iter().any(|(n, _)| n == k)) {
            return Err(ErrorCode::INVALID_CONFIG);
        }
        if validate_only {
            return Ok(());
        }
        let count = if t.assignments == 0 { t.partitions } else { t.assignments as i32 };
        self.create_topic(&t.name, count, t.configs)
    }

    /// Deletes a topic; returns its id, or `None` when there is no such topic.
    pub fn delete_topic(&mut self, name: &str) -> Option<Uuid> {
        self.topics.remove(name).map(|t| t.id)
    }

    /// Every known topic config of `topic` with its value and whether that
    /// is the default, or `None` for an unknown topic.
    pub fn topic_configs(&self, topic: &str) -> Option<Vec<(String, String, bool)>> {
        let t = self.topics.get(topic)?;
        Some(
            TOPIC_DEFAULTS
                .iter()
                .map(|(k, d)| match t.configs.get(*k) {
                    Some(val) => (k.to_string(), val.clone(), false),
                    None => (k.to_string(), d.to_string(), true),
                })
                .collect(),
        )
    }

    /// DeleteRecords on one partition: moves its log start to `offset`
    /// (-1: the high watermark) and returns the new log start offset.
    pub fn delete_records(&mut self, topic: &str, p: i32, broker: i32, offset: i64) -> Result<i64, ErrorCode> {
        let part = self.partition_mut(topic, p).ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
        if part.leader != broker {
            return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        let target = if offset == -1 { part.log.high_watermark() } else { offset };
        if target < 0 || target > part.log.high_watermark() {
            return Err(ErrorCode::OFFSET_OUT_OF_RANGE);
        }
        part.log.delete_before(target);
        Ok(part.log.log_start_offset)
    }

    /// Appends one partition's records from a Produce request on `broker`:
    /// leadership, `acks`, size and framing checks, then the log's own
    /// validation, idempotence and transaction rules. Returns the base
    /// offset and the log start offset. `implicit_txn_add` is a client
    /// using transactions v2 (Produce v12+), which adds partitions to its
    /// transaction by writing to them when the cluster has v2 switched on.
    #[allow(clippy::too_many_arguments)]
    pub fn append_records(
        &mut self,
        topic: &str,
        partition: i32,
        broker: i32,
        records: Option<Bytes>,
        acks_ok: bool,
        transactional_id: Option<&str>,
        implicit_txn_add: bool,
    ) -> Result<(i64, i64), ErrorCode> {
        let part = self.partition(topic, partition).ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
        if part.leader != broker {
            return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        if !acks_ok {
            return Err(ErrorCode::INVALID_REQUIRED_ACKS);
        }
        let records = records.filter(|r| !r.is_empty()).ok_or(ErrorCode::INVALID_RECORD)?;
        // max.message.bytes (Kafka's default 1048588) bounds one batch.
        let max_message = self.topics[topic].configs.get("max.message.bytes").and_then(|v| v.parse::<usize>().ok()).unwrap_or(1_048_588);
        if records.len() > max_message {
            return Err(ErrorCode::MESSAGE_TOO_LARGE);
        }
        // Produce v3+ carries exactly one v2 batch per partition. Only the
        // framing is checked here; the log's append decodes and validates the
        // batch itself (once).
        if records.len() < 17 {
            return Err(ErrorCode::INVALID_RECORD);
        }
        let len = i32::from_be_bytes([records[8], records[9], records[10], records[11]]);
        if len < 0 {
            return Err(ErrorCode::CORRUPT_MESSAGE);
        }
        if records[16] != 2 {
            return Err(ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT);
        }
        if 12 + len as usize != records.len() {
            return Err(ErrorCode::INVALID_RECORD);
        }
        // Transactional writes must come from a producer whose transaction
        // includes this partition (or, with transactions v2, add it now).
        let tv2 = self.config.transactions_v2 && implicit_txn_add;
        let rules = LogRules { strict_unknown_producer: self.config.strict_unknown_producer };
        let Cluster { txn, topics, .. } = self;
        let txn_ok = |pid: i64, epoch: i16| txn.check_produce(transactional_id, pid, epoch, topic, partition, tv2);
        let part = topics.get_mut(topic).and_then(|t| t.partitions.get_mut(partition as usize)).expect("checked above");
        let appended = part.log.append(records, now_ms(), rules, txn_ok)?;
        Ok((appended.base_offset, part.log.log_start_offset))
    }

    /// Counts an error code answered to a Produce partition (for tests).
    pub fn count_produce_error(&mut self, code: ErrorCode) {
        *self.produce_errors.entry(code.0).or_default() += 1;
    }

    /// Periodic work: transaction timeouts and marker completion, group
    /// session expiry and rebalance deadlines.
    pub fn tick(&mut self) {
        self.expire_transactions();
        self.expire_groups();
    }

    /// Commits offsets for `group` (creating nothing else).
    pub(super) fn store_offsets(&mut self, group: &str, offsets: impl IntoIterator<Item = ((String, i32), CommittedOffset)>) {
        self.offsets.entry(group.to_string()).or_default().extend(offsets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::testing::{batch, cluster_with};

    #[test]
    fn produce_applies_leadership_and_idempotent_sequences() {
        let mut c = cluster_with(MockConfig::default(), 2);
        c.create_topic("t", 2, BTreeMap::new()).unwrap();
        let leader = c.partition("t", 0).unwrap().leader;
        let other = if leader == 1 { 2 } else { 1 };
        let append = |c: &mut Cluster, broker: i32, b| c.append_records("t", 0, broker, Some(b), true, None, false);
        assert_eq!(append(&mut c, other, batch(7, 0, 0, 3, false)), Err(ErrorCode::NOT_LEADER_OR_FOLLOWER));
        assert_eq!(append(&mut c, leader, batch(7, 0, 0, 3, false)), Ok((0, 0)));
        // A retry of the same batch: its original offset, nothing appended.
        assert_eq!(append(&mut c, leader, batch(7, 0, 0, 3, false)), Ok((0, 0)));
        // A gap.
        assert_eq!(append(&mut c, leader, batch(7, 0, 5, 1, false)), Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER));
        assert_eq!(append(&mut c, leader, batch(7, 0, 3, 1, false)), Ok((3, 0)));
        // A new epoch, then the old one is stale.
        assert_eq!(append(&mut c, leader, batch(7, 1, 0, 1, false)), Ok((4, 0)));
        assert_eq!(append(&mut c, leader, batch(7, 0, 4, 1, false)), Err(ErrorCode::INVALID_PRODUCER_EPOCH));
        assert_eq!(c.partition("t", 0).unwrap().log.high_watermark(), 5);
    }

    #[test]
    fn produce_checks_acks_and_framing_before_the_log() {
        let mut c = cluster_with(MockConfig::default(), 1);
        c.create_topic_with_max("t", 100);
        let good = batch(-1, -1, -1, 1, false);
        assert_eq!(c.append_records("nope", 0, 1, Some(good.clone()), true, None, false), Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
        assert_eq!(c.append_records("t", 0, 1, Some(good.clone()), false, None, false), Err(ErrorCode::INVALID_REQUIRED_ACKS));
        assert_eq!(c.append_records("t", 0, 1, None, true, None, false), Err(ErrorCode::INVALID_RECORD));
        assert_eq!(c.append_records("t", 0, 1, Some(good.slice(..16)), true, None, false), Err(ErrorCode::INVALID_RECORD));
        let mut old_magic = good.to_vec();
        old_magic[16] = 1;
        assert_eq!(c.append_records("t", 0, 1, Some(old_magic.into()), true, None, false), Err(ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT));
        let big = batch(-1, -1, -1, 20, false);
        assert_eq!(c.append_records("t", 0, 1, Some(big), true, None, false), Err(ErrorCode::MESSAGE_TOO_LARGE));
        assert_eq!(c.append_records("t", 0, 1, Some(good), true, None, false), Ok((0, 0)));
    }

    #[test]
    fn create_topic_checks_in_kafkas_order() {
        let mut c = cluster_with(MockConfig::default(), 2);
        let new = |name: &str, partitions, rf, config: &str| NewTopic {
            name: name.into(),
            partitions,
            replication_factor: rf,
            assignments: 0,
            configs: [(config.to_string(), "1".to_string())].into_iter().filter(|(k, _)| !k.is_empty()).collect(),
        };
        assert_eq!(c.create_topic_checked(new("a b", 1, 1, ""), false), Err(ErrorCode::INVALID_TOPIC_EXCEPTION));
        assert_eq!(c.create_topic_checked(new("a", 1, 3, ""), false), Err(ErrorCode::INVALID_REPLICATION_FACTOR));
        assert_eq!(c.create_topic_checked(new("a", 0, 1, ""), false), Err(ErrorCode::INVALID_PARTITIONS));
        assert_eq!(c.create_topic_checked(new("a", 1, 1, "no.such"), false), Err(ErrorCode::INVALID_CONFIG));
        assert_eq!(c.create_topic_checked(new("a", 2, 2, "retention.ms"), true), Ok(()));
        assert!(c.topics.is_empty());
        assert_eq!(c.create_topic_checked(new("a", 2, 2, "retention.ms"), false), Ok(()));
        assert_eq!(c.create_topic_checked(new("a", 1, 1, ""), false), Err(ErrorCode::TOPIC_ALREADY_EXISTS));
        let configs = c.topic_configs("a").unwrap();
        assert!(configs.contains(&("retention.ms".into(), "1".into(), false)));
        assert!(configs.contains(&("cleanup.policy".into(), "delete".into(), true)));
        assert_eq!(c.grow_topic("a", 2, false), Err(ErrorCode::INVALID_PARTITIONS));
        assert_eq!(c.grow_topic("a", 3, true), Ok(()));
        assert_eq!(c.topics["a"].partitions.len(), 2);
        assert_eq!(c.grow_topic("a", 3, false), Ok(()));
        assert_eq!(c.topics["a"].partitions.len(), 3);
    }

    #[test]
    fn leader_epochs_fence_fetches_and_delete_records_moves_the_log_start() {
        let mut c = cluster_with(MockConfig::default(), 2);
        c.create_topic("t", 1, BTreeMap::new()).unwrap();
        let leader = c.partition("t", 0).unwrap().leader;
        let other = if leader == 1 { 2 } else { 1 };
        c.append_records("t", 0, leader, Some(batch(-1, -1, -1, 4, false)), true, None, false).unwrap();
        assert!(c.led_partition("t", 0, leader, 0).is_ok());
        assert!(c.set_leader("t", 0, other));
        assert_eq!(c.led_partition("t", 0, leader, -1).err(), Some(ErrorCode::NOT_LEADER_OR_FOLLOWER));
        assert_eq!(c.led_partition("t", 0, other, 0).err(), Some(ErrorCode::FENCED_LEADER_EPOCH));
        assert_eq!(c.led_partition("t", 0, other, 2).err(), Some(ErrorCode::UNKNOWN_LEADER_EPOCH));
        assert!(c.led_partition("t", 0, other, 1).is_ok());
        assert_eq!(c.delete_records("t", 0, leader, 2), Err(ErrorCode::NOT_LEADER_OR_FOLLOWER));
        assert_eq!(c.delete_records("t", 0, other, 5), Err(ErrorCode::OFFSET_OUT_OF_RANGE));
        assert_eq!(c.delete_records("t", 0, other, 2), Ok(2));
        let log = &c.partition("t", 0).unwrap().log;
        assert_eq!(log.check_fetch_offset(1), Err(ErrorCode::OFFSET_OUT_OF_RANGE));
        assert_eq!(log.check_fetch_offset(4), Ok(()));
        assert_eq!(log.check_fetch_offset(5), Err(ErrorCode::OFFSET_OUT_OF_RANGE));
    }

    impl Cluster {
        /// A one-partition topic with `max.message.bytes` set.
        fn create_topic_with_max(&mut self, name: &str, max: usize) {
            let configs = [("max.message.bytes".to_string(), max.to_string())].into_iter().collect();
            self.create_topic(name, 1, configs).unwrap();
        }
    }
}
