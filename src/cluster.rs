//! Cluster metadata and the connection pool: bootstrap from a list of
//! addresses, one connection per broker *and purpose* (reconnected with
//! exponential back-off and jitter), and a metadata cache refreshed
//! periodically and on demand (after NOT_LEADER_OR_FOLLOWER,
//! UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE or a broken connection).
//!
//! Purposes get their own connections, as in franz-go, so a long-poll
//! fetch or a pipeline of large Produce requests never delays a metadata
//! lookup, a heartbeat or a commit to the same broker. Metadata and other
//! requests that any broker can answer go to the least-loaded reachable
//! one, falling back through every known broker and then the bootstrap
//! list; a partition's cached leader is not replaced by metadata carrying
//! an older leader epoch (KIP-320).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokafka_protocol::messages::{metadata_request, MetadataRequest};
use ferrokafka_protocol::wire::Uuid;
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

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

/// What a connection is for; each gets its own connection per broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Metadata, InitProducerId, admin requests: anything any broker answers.
    Metadata,
    /// Produce requests.
    Produce,
    /// Fetch requests (long polls).
    Fetch,
    /// Group and transaction coordinator requests.
    Coordinator,
}

/// Connections by address and purpose.
type Pool = HashMap<(String, Purpose), Arc<tokio::sync::Mutex<Slot>>>;

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
    slots: Mutex<Pool>,
}

/// KIP-320: a broker that has not caught up may report an older leader
/// than the one already known; a partition whose fresh leader epoch is
/// older than the cached one keeps the cached entry.
///
/// A topic deleted and created again starts over at leader epoch 0: when the
/// topic ids differ (both known), nothing is kept.
fn keep_newer_leaders(cached: Option<&TopicMeta>, fresh_id: Uuid, mut fresh: Vec<PartitionMeta>) -> Vec<PartitionMeta> {
    let recreated = cached.is_some_and(|c| c.id != fresh_id && c.id != Uuid::ZERO && fresh_id != Uuid::ZERO);
    if let Some(cached) = cached.filter(|_| !recreated).map(|c| c.partitions.as_slice()) {
        for (new, old) in fresh.iter_mut().zip(cached) {
            if new.leader_epoch >= 0 && old.leader_epoch >= 0 && new.leader_epoch < old.leader_epoch {
                *new = *old;
            }
        }
    }
    fresh
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

    /// A metadata connection to `addr`, reusing a live one; a failed
    /// address waits out its back-off first (exponential, with jitter).
    pub async fn conn_to(&self, addr: &str) -> Result<Connection> {
        self.conn_for(addr, Purpose::Metadata).await
    }

    fn slot(&self, addr: &str, purpose: Purpose) -> Arc<tokio::sync::Mutex<Slot>> {
        self.inner.slots.lock().unwrap_or_else(|p| p.into_inner()).entry((addr.to_string(), purpose)).or_default().clone()
    }

    /// A connection to `addr` for `purpose`, reusing a live one; a failed
    /// address waits out its back-off first (exponential, with jitter).
    pub async fn conn_for(&self, addr: &str, purpose: Purpose) -> Result<Connection> {
        let slot = self.slot(addr, purpose);
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
                slot.retry_at = Some(Instant::now() + crate::backoff::exponential(cfg.reconnect_backoff, cfg.reconnect_backoff_max, slot.failures));
                slot.conn = None;
                Err(e)
            }
        }
    }

    /// A metadata connection to broker `id`.
    pub async fn broker(&self, id: i32) -> Result<Connection> {
        self.broker_for(id, Purpose::Metadata).await
    }

    /// A connection to broker `id` for `purpose`.
    pub async fn broker_for(&self, id: i32, purpose: Purpose) -> Result<Connection> {
        let addr = self.state().brokers.get(&id).cloned();
        match addr {
            Some(a) => self.conn_for(&a, purpose).await,
            None => Err(Error::Kafka(ErrorCode::BROKER_NOT_AVAILABLE)),
        }
    }

    /// Every address worth asking, least loaded first: brokers with a live
    /// metadata connection by requests in flight, then known brokers and
    /// bootstrap addresses not backing off, then those backing off.
    fn candidates(&self) -> Vec<String> {
        let mut addrs: Vec<String> = self.state().brokers.values().cloned().collect();
        addrs.sort();
        for b in &self.inner.cfg.bootstrap {
            if !addrs.contains(b) {
                addrs.push(b.clone());
            }
        }
        let now = Instant::now();
        let mut scored: Vec<(usize, usize, String)> = addrs
            .into_iter()
            .enumerate()
            .map(|(order, a)| {
                let slot = self.slot(&a, Purpose::Metadata);
                // A slot being connected right now is locked: count it as
                // busy rather than waiting.
                let score = match slot.try_lock() {
                    Ok(s) => match &s.conn {
                        Some(c) if !c.is_closed() => c.in_flight(),
                        _ if s.retry_at.is_some_and(|t| t > now) => usize::MAX,
                        // Not connected: worth less than an idle live one.
                        _ => 1,
                    },
                    Err(_) => usize::MAX - 1,
                };
                (score, order, a)
            })
            .collect();
        scored.sort();
        scored.into_iter().map(|(_, _, a)| a).collect()
    }

    /// Runs `f` on a connection to the least-loaded reachable broker,
    /// going down the candidates while a broker cannot be reached or `f`
    /// fails with a retriable error (no answer in time, a broken
    /// connection); any other error ends the search.
    async fn with_any<T, F, Fut>(&self, mut f: F) -> Result<T>
    where
        F: FnMut(Connection) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut last = Error::Io("no broker reachable".into());
        for addr in self.candidates() {
            let conn = match self.conn_to(&addr).await {
                Ok(c) => c,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match f(conn).await {
                Ok(r) => return Ok(r),
                Err(e) if e.is_retriable() => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// A connection to the least-loaded reachable broker: known brokers
    /// first, then the bootstrap list.
    pub async fn any(&self) -> Result<Connection> {
        self.with_any(|conn| async move { Ok(conn) }).await
    }

    /// Sends `body` to the least-loaded broker, trying the next one when a
    /// broker cannot be reached or does not answer in time.
    pub async fn send_to_any(&self, body: RequestBody) -> Result<ResponseBody> {
        self.with_any(|conn| {
            let body = body.clone();
            async move { conn.send(body).await }
        })
        .await
    }

    /// Refreshes metadata for `topics` (and the broker list), from the
    /// least-loaded broker, trying the others in turn when one cannot be
    /// reached or does not answer.
    pub async fn refresh(&self, topics: &[String]) -> Result<()> {
        let req = MetadataRequest {
            topics: Some(
                topics.iter().map(|t| metadata_request::MetadataRequestTopic { name: Some(t.clone()), ..Default::default() }).collect(),
            ),
            allow_auto_topic_creation: self.inner.cfg.allow_auto_create_topics,
            ..Default::default()
        };
        let resp = self
            .with_any(|conn| {
                let req = req.clone();
                async move {
                    let version = conn.version(ApiKey::Metadata)?;
                    // Metadata v0 reads an empty topic list as "all topics"; we want none.
                    if version == 0 && topics.is_empty() {
                        return Err(Error::UnsupportedApi { api: ApiKey::Metadata, broker: conn.broker_range(ApiKey::Metadata) });
                    }
                    match conn.send_at(RequestBody::Metadata(req), version).await? {
                        ResponseBody::Metadata(m) => Ok(m),
                        _ => Err(Error::Protocol(ferrokafka_protocol::DecodeError::Corrupt("mismatched response".into()))),
                    }
                }
            })
            .await?;
        self.apply(resp);
        Ok(())
    }

    /// Takes a Metadata response into the cache.
    fn apply(&self, resp: ferrokafka_protocol::messages::MetadataResponse) {
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
            let parts = keep_newer_leaders(st.topics.get(&name).map(|t| &**t), t.topic_id, parts);
            st.topics.insert(name, Arc::new(TopicMeta { id: t.topic_id, partitions: parts }));
        }
        st.refreshed = Some(Instant::now());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(leader: i32, leader_epoch: i32) -> PartitionMeta {
        PartitionMeta { leader, leader_epoch }
    }

    #[test]
    fn metadata_with_an_older_leader_epoch_does_not_replace_the_cached_leader() {
        let id = Uuid([7; 16]);
        let cached = TopicMeta { id, partitions: vec![p(1, 5), p(2, 5), p(3, 5)] };
        let fresh = vec![p(9, 4), p(7, 6), p(-1, -1)];
        // Older epoch: kept; newer: taken; unknown epoch: taken as said.
        assert_eq!(keep_newer_leaders(Some(&cached), id, fresh), vec![p(1, 5), p(7, 6), p(-1, -1)]);
        // Nothing cached, or a topic that grew: taken as is.
        assert_eq!(keep_newer_leaders(None, id, vec![p(1, 0)]), vec![p(1, 0)]);
        let one = TopicMeta { id, partitions: vec![p(1, 3)] };
        assert_eq!(keep_newer_leaders(Some(&one), id, vec![p(1, 3), p(2, 0)]), vec![p(1, 3), p(2, 0)]);
    }

    #[test]
    fn a_recreated_topic_starts_over_at_epoch_zero() {
        let old = TopicMeta { id: Uuid([1; 16]), partitions: vec![p(1, 9), p(2, 9)] };
        // A new topic id: its epoch-0 leaders are taken.
        assert_eq!(keep_newer_leaders(Some(&old), Uuid([2; 16]), vec![p(3, 0), p(3, 0)]), vec![p(3, 0), p(3, 0)]);
        // Without ids (Metadata before v10) the guard still applies.
        let no_id = TopicMeta { id: Uuid::ZERO, partitions: vec![p(1, 9)] };
        assert_eq!(keep_newer_leaders(Some(&no_id), Uuid::ZERO, vec![p(3, 0)]), vec![p(1, 9)]);
    }
}
