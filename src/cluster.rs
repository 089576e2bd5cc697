//! Cluster metadata and the connection pool: bootstrap from a list of
//! addresses, one connection per broker (reconnected with exponential
//! back-off and jitter), and a metadata cache refreshed periodically and on
//! demand (after NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
//! LEADER_NOT_AVAILABLE or a broken connection).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokafka_protocol::messages::{metadata_request, MetadataRequest};
use ferrokafka_protocol::wire::Uuid;
use ferrokafka_protocol::{ErrorCode, RequestBody, ResponseBody};

use crate::error::{Error, Result};
use crate::net::{ConnConfig, Connection};

/// Settings of the cluster client.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `bootstrap.servers`: `host:port` entries.
    pub bootstrap: Vec<String>,
    /// Connection settings.
    pub conn: ConnConfig,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Duration,
    /// `allow.auto.create.topics`: ask brokers to create unknown topics on
    /// metadata look-ups. Off unless the user asks for it: a typo in a topic
    /// name should be an error, not a new topic.
    pub allow_auto_create_topics: bool,
    /// `reconnect.backoff.ms`.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    pub reconnect_backoff_max: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            bootstrap: Vec::new(),
            conn: ConnConfig::default(),
            metadata_max_age: Duration::from_secs(300),
            allow_auto_create_topics: false,
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
        }
    }
}

/// One partition's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionMeta {
    /// Leader broker id, or -1.
    pub leader: i32,
    /// Leader epoch, or -1.
    pub leader_epoch: i32,
}

/// One topic's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMeta {
    /// The topic id (zero before Metadata v10).
    pub id: Uuid,
    /// Partitions by index.
    pub partitions: Vec<PartitionMeta>,
}

#[derive(Default)]
struct Slot {
    conn: Option<Connection>,
    failures: u32,
    retry_at: Option<Instant>,
}

#[derive(Default)]
struct State {
    brokers: HashMap<i32, String>,
    topics: HashMap<String, Arc<TopicMeta>>,
    /// Topics whose last lookup said they do not exist, with the error.
    missing: HashMap<String, ErrorCode>,
    refreshed: Option<Instant>,
}

/// A handle on the cluster; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ClusterConfig,
    state: Mutex<State>,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

/// A pseudo-random fraction in [0, 1) for back-off jitter (no RNG crate
/// needed for this).
fn jitter() -> f64 {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    f64::from(n % 1000) / 1000.0
}

impl Cluster {
    /// Connects to the first reachable bootstrap address and loads the
    /// broker list.
    pub async fn connect(cfg: ClusterConfig) -> Result<Cluster> {
        if cfg.bootstrap.is_empty() {
            return Err(Error::Config("bootstrap.servers is empty".into()));
        }
        let c = Cluster { inner: Arc::new(Inner { cfg, state: Mutex::default(), slots: Mutex::default() }) };
        c.refresh(&[]).await?;
        Ok(c)
    }

    /// The settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.inner.cfg
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection to `addr`, reusing a live one; a failed address waits
    /// out its back-off first (exponential, with jitter).
    pub async fn conn_to(&self, addr: &str) -> Result<Connection> {
        let slot = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner()).entry(addr.to_string()).or_default().clone();
        let mut slot = slot.lock().await;
        if let Some(c) = &slot.conn {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        if let Some(at) = slot.retry_at {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
        }
        match Connection::connect(addr, &self.inner.cfg.conn).await {
            Ok(c) => {
                slot.conn = Some(c.clone());
                slot.failures = 0;
                slot.retry_at = None;
                Ok(c)
            }
            Err(e) => {
                slot.failures += 1;
                let cfg = &self.inner.cfg;
                let base = cfg.reconnect_backoff.as_secs_f64() * 2f64.powi(slot.failures.min(16) as i32 - 1);
                let capped = base.min(cfg.reconnect_backoff_max.as_secs_f64());
                let with_jitter = capped * (0.8 + 0.4 * jitter());
                slot.retry_at = Some(Instant::now() + Duration::from_secs_f64(with_jitter));
                slot.conn = None;
                Err(e)
            }
        }
    }

    /// A connection to broker `id`.
    pub async fn broker(&self, id: i32) -> Result<Connection> {
        let addr = self.state().brokers.get(&id).cloned();
        match addr {
            Some(a) => self.conn_to(&a).await,
            None => Err(Error::Kafka(ErrorCode::BROKER_NOT_AVAILABLE)),
        }
    }

    /// A connection to any broker: known brokers first, then the bootstrap list.
    pub async fn any(&self) -> Result<Connection> {
        let mut addrs: Vec<String> = self.state().brokers.values().cloned().collect();
        addrs.sort();
        addrs.extend(self.inner.cfg.bootstrap.iter().cloned());
        let mut last = Error::Io("no broker reachable".into());
        for a in addrs {
            match self.conn_to(&a).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Refreshes metadata for `topics` (and the broker list).
    pub async fn refresh(&self, topics: &[String]) -> Result<()> {
        let conn = self.any().await?;
        let req = MetadataRequest {
            topics: Some(
                topics.iter().map(|t| metadata_request::MetadataRequestTopic { name: Some(t.clone()), ..Default::default() }).collect(),
            ),
            allow_auto_topic_creation: self.inner.cfg.allow_auto_create_topics,
            ..Default::default()
        };
        let version = conn.version(ferrokafka_protocol::ApiKey::Metadata)?;
        // Metadata v0 reads an empty topic list as "all topics"; we want none.
        if version == 0 && topics.is_empty() {
            return Err(Error::UnsupportedApi { api: ferrokafka_protocol::ApiKey::Metadata, broker: conn.broker_range(ferrokafka_protocol::ApiKey::Metadata) });
        }
        let resp = match conn.send_at(RequestBody::Metadata(req), version).await? {
            ResponseBody::Metadata(m) => m,
            _ => return Err(Error::Io("mismatched response".into())),
        };
        let mut st = self.state();
        st.brokers = resp.brokers.iter().map(|b| (b.node_id, format!("{}:{}", b.host, b.port))).collect();
        for t in resp.topics {
            let Some(name) = t.name else { continue };
            let code = ErrorCode(t.error_code);
            if !code.is_ok() {
                st.topics.remove(&name);
                st.missing.insert(name, code);
                continue;
            }
            st.missing.remove(&name);
            let mut parts = vec![PartitionMeta { leader: -1, leader_epoch: -1 }; t.partitions.len()];
            for p in &t.partitions {
                if let Some(slot) = usize::try_from(p.partition_index).ok().and_then(|i| parts.get_mut(i)) {
                    let ok = ErrorCode(p.error_code).is_ok() || p.error_code == ErrorCode::REPLICA_NOT_AVAILABLE.0;
                    *slot = PartitionMeta { leader: if ok { p.leader_id } else { -1 }, leader_epoch: p.leader_epoch };
                }
            }
            st.topics.insert(name, Arc::new(TopicMeta { id: t.topic_id, partitions: parts }));
        }
        st.refreshed = Some(Instant::now());
        Ok(())
    }

    /// Creates a topic (CreateTopics at the negotiated version); an existing
    /// topic is not an error. Waits until its partitions have leaders.
    pub async fn create_topic(&self, name: &str, partitions: i32, replication_factor: i16, timeout: Duration) -> Result<Arc<TopicMeta>> {
        use ferrokafka_protocol::messages::{create_topics_request, CreateTopicsRequest};
        let conn = self.any().await?;
        let req = CreateTopicsRequest {
            topics: vec![create_topics_request::CreatableTopic {
                name: name.to_string(),
                num_partitions: partitions,
                replication_factor,
                ..Default::default()
            }],
            timeout_ms: timeout.as_millis().min(i32::MAX as u128) as i32,
            ..Default::default()
        };
        match conn.send(RequestBody::CreateTopics(req)).await? {
            ResponseBody::CreateTopics(r) => {
                let code = r.topics.first().map(|t| ErrorCode(t.error_code)).unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR);
                if !code.is_ok() && code != ErrorCode::TOPIC_ALREADY_EXISTS {
                    return Err(Error::Kafka(code));
                }
            }
            _ => return Err(Error::Io("mismatched response".into())),
        }
        let deadline = Instant::now() + timeout;
        loop {
            self.refresh(&[name.to_string()]).await?;
            if let Some(t) = self.topic(name) {
                if t.partitions.iter().all(|p| p.leader >= 0) {
                    return Ok(t);
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout("topic leaders"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Cached metadata of a topic (shared, not copied).
    pub fn topic(&self, name: &str) -> Option<Arc<TopicMeta>> {
        self.state().topics.get(name).cloned()
    }

    /// The error of the last lookup of a topic that does not exist.
    pub fn missing(&self, name: &str) -> Option<ErrorCode> {
        self.state().missing.get(name).copied()
    }

    /// Topics in the cache.
    pub fn known_topics(&self) -> Vec<String> {
        self.state().topics.keys().cloned().collect()
    }

    /// Whether the cache is older than `metadata.max.age.ms`.
    pub fn is_stale(&self) -> bool {
        self.state().refreshed.is_none_or(|t| t.elapsed() >= self.inner.cfg.metadata_max_age)
    }

    /// Waits until `topic` is known, refreshing until `deadline`.
    pub async fn wait_for_topic(&self, topic: &str, deadline: Instant) -> Result<Arc<TopicMeta>> {
        let mut backoff = Duration::from_millis(20);
        loop {
            if let Some(t) = self.topic(topic) {
                return Ok(t);
            }
            // The caller's deadline (max.block.ms) bounds the refresh too.
            let refreshed = match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), self.refresh(&[topic.to_string()])).await {
                Ok(r) => r,
                Err(_) => Err(Error::Timeout("topic metadata")),
            };
            if let Some(t) = self.topic(topic) {
                return Ok(t);
            }
            if Instant::now() >= deadline {
                // The broker's word that the topic does not exist says more
                // than a time-out (the Java client reports only the latter).
                return Err(match (self.missing(topic), refreshed) {
                    (Some(code), _) => Error::Kafka(code),
                    (None, Err(e)) => e,
                    (None, Ok(())) => Error::Timeout("topic metadata"),
                });
            }
            tokio::time::sleep(backoff.min(deadline.saturating_duration_since(Instant::now()))).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }
}
