//! The producer: idempotent by default.
//!
//! ```no_run
//! # async fn demo() -> ferrokafka::Result<()> {
//! use ferrokafka::producer::{Producer, ProducerRecord};
//!
//! let producer = Producer::builder()
//!     .bootstrap("127.0.0.1:9092")
//!     .set("linger.ms", "10")?
//!     .build()
//!     .await?;
//! let delivery = producer.send(ProducerRecord::new("orders").key("k1").value("v1")).await?;
//! let meta = delivery.await?;
//! println!("written at {}:{}", meta.partition, meta.offset);
//! producer.close().await;
//! # Ok(()) }
//! ```
//!
//! # Errors: what is retried, what resets sequences, what is fatal
//!
//! "Possibly written" means an attempt got no definite answer (a lost
//! connection after the request left, a request timeout, REQUEST_TIMED_OUT,
//! NOT_ENOUGH_REPLICAS_AFTER_APPEND). A "reset" restarts one partition's
//! sequences at 0 under a locally bumped epoch (same producer id, KIP-360),
//! once that partition has nothing in flight and its possibly-written
//! batches have been resolved by resending them unchanged; other
//! partitions are not held up. The decisions are the table in
//! `producer/sequencing.rs`, unit-tested row by row.
//!
//! | answer for a batch | ferrokafka | Java client (idempotent, not transactional) | librdkafka |
//! |---|---|---|---|
//! | retriable codes (NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT, CORRUPT_MESSAGE, ...), no answer, a broken connection | retried with the **same** epoch and sequence until `retries` or `delivery.timeout.ms`; metadata refreshed for leadership errors; the partition sends only its oldest batch until healthy | same | same |
//! | DUPLICATE_SEQUENCE_NUMBER | success (offset unknown: -1) | same | same |
//! | OUT_OF_ORDER_SEQUENCE_NUMBER on a batch behind an older unacknowledged one | retried after it, unchanged | same | same |
//! | OUT_OF_ORDER_SEQUENCE_NUMBER / UNKNOWN_PRODUCER_ID / INVALID_PRODUCER_EPOCH on the oldest batch, never possibly written | the partition resets and the batch is resent (not written: no loss, no duplicate) | bumps the epoch for the partition and resends | bumps the epoch and resends |
//! | the same on the oldest batch, **possibly written** | fails with [`Error::PossiblyWritten`]; the partition resets | bumps the epoch and resends it — which writes it twice if it was in the log outside the leader's five cached batches (after a leader change or a restart from a snapshot) | fails it as possibly persisted; epoch bump |
//! | MESSAGE_TOO_LARGE for a batch of several records | split in two, in place; the halves keep the parent's sequence range and delivery deadline (no reset); a single record too large fails, and so does (as possibly written) a batch an earlier attempt may have written | splits by `batch.size`, keeping the sequence range | fails the batch |
//! | a non-retriable code (INVALID_RECORD, TOPIC_AUTHORIZATION_FAILED, a one-record MESSAGE_TOO_LARGE, ...) or retries exhausted, with nothing behind it in flight | that batch fails; the later sequences move down in place (no reset) | that batch fails; epoch bump for the partition (in-place adjustment is what its transactional producer does) | that batch fails; epoch bump |
//! | the same with later batches of the partition in flight, or possibly written | that batch fails (as possibly written when it may be); the partition resets | epoch bump for the partition | epoch bump |
//! | `delivery.timeout.ms` passes for a batch not in flight | fails (with [`Error::PossiblyWritten`] if an attempt got no answer); its sequences shift or the partition resets as above | fails with TimeoutException; a sent one leaves an "unresolved sequence", resolved by a later ack or an epoch bump | fails with `_MSG_TIMED_OUT` ("possibly persisted") |
//! | InitProducerId refused with a non-retriable error (e.g. CLUSTER_AUTHORIZATION_FAILED) | **fatal**: every record fails with [`Error::Fatal`]; recreate the producer | fatal | fatal |
//!
//! Where we differ from the Java client: a possibly-written batch is never
//! renumbered (it fails instead of risking a duplicate), and a lone failed
//! batch keeps the epoch, which a transaction can survive.
//!
//! # Ordering
//!
//! Per partition, records are written in the order `send` was called, also
//! across retries and reconnects: after any failure the partition sends only
//! its oldest unacknowledged batch until that is settled. Without
//! idempotence the same holds for one connection, as in the Java client with
//! `max.in.flight.requests.per.connection > 1` there is no broker-side
//! guarantee against duplicates after a lost response.

mod accumulator;
mod batch;
mod config;
mod engine;
mod flushes;
mod partitioner;
mod producer_id;
mod queue;
mod sequencing;
mod sink;
mod split;
mod types;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrokafka_protocol::bytes::Bytes;
use ferrokafka_protocol::records::RecordHeader;
use tokio::sync::{mpsc, oneshot, Semaphore};

pub use config::{Acks, ProducerConfig};
pub use partitioner::{murmur2, partition_for_key, Partitioner};

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use accumulator::{Accumulator, Append};
use engine::Engine;
use types::Cmd;

/// A record to send.
#[derive(Debug, Clone)]
pub struct ProducerRecord {
    /// The topic (shared: cloning a record does not copy it).
    pub topic: Arc<str>,
    /// An explicit partition, or `None` to let the partitioner choose.
    pub partition: Option<i32>,
    /// The key (murmur2 of it picks the partition by default).
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<RecordHeader>,
    /// Create time in ms since the epoch; `None` takes the time of `send`.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with nothing in it yet.
    pub fn new(topic: impl Into<Arc<str>>) -> Self {
        ProducerRecord { topic: topic.into(), partition: None, key: None, value: None, headers: Vec::new(), timestamp: None }
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Sends to this partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn header(mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.headers.push(RecordHeader::new(key, Some(value.into())));
        self
    }

    /// Sets the timestamp (ms since the epoch).
    pub fn timestamp(mut self, ts: i64) -> Self {
        self.timestamp = Some(ts);
        self
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The offset, or -1 when the broker gave none (acks=0, or a duplicate
    /// answered by a broker older than 2.x).
    pub offset: i64,
    /// The record's timestamp (the broker's, for log-append-time topics).
    pub timestamp: i64,
}

/// Resolves when the record is acknowledged or has definitely failed.
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Result<RecordMetadata>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| r.unwrap_or(Err(Error::Closed)))
    }
}

/// Builds a [`Producer`].
#[derive(Default)]
pub struct ProducerBuilder {
    config: ProducerConfig,
    partitioner: Option<Arc<dyn Partitioner>>,
}

impl ProducerBuilder {
    /// `bootstrap.servers`, comma-separated.
    pub fn bootstrap(mut self, servers: &str) -> Self {
        self.config.cluster.bootstrap = servers.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        self
    }

    /// Sets a property by its Java client name.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        self.config.set(key, value)?;
        Ok(self)
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: ProducerConfig) -> Self {
        self.config = config;
        self
    }

    /// Edits the typed configuration.
    pub fn configure(mut self, f: impl FnOnce(&mut ProducerConfig)) -> Self {
        f(&mut self.config);
        self
    }

    /// Uses a custom partitioner instead of murmur2/sticky.
    pub fn partitioner(mut self, p: Arc<dyn Partitioner>) -> Self {
        self.partitioner = Some(p);
        self
    }

    /// Connects and starts the producer.
    pub async fn build(self) -> Result<Producer> {
        self.config.validate()?;
        let idempotent = self.config.idempotence()?;
        let cluster = Cluster::connect(self.config.cluster.clone()).await?;
        let memory = Arc::new(Semaphore::new(self.config.buffer_memory));
        let config = Arc::new(self.config);
        let (tx, rx) = mpsc::unbounded_channel();
        let acc = Arc::new(Accumulator::new(config.compression, config.compression_level, config.batch_size, memory.clone(), &tx));
        let engine = Engine::new(config.clone(), cluster.clone(), idempotent, memory.clone(), acc.clone(), Box::new(producer_id::ProducerIds::new(idempotent)));
        let task = tokio::spawn(engine.run(rx));
        Ok(Producer {
            inner: Arc::new(Inner {
                config,
                cluster,
                memory,
                tx,
                acc,
                partitioner: self.partitioner,
                closed: std::sync::atomic::AtomicBool::new(false),
                task: Mutex::new(Some(task)),
            }),
        })
    }
}

struct Inner {
    config: Arc<ProducerConfig>,
    cluster: Cluster,
    memory: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Cmd>,
    acc: Arc<Accumulator>,
    partitioner: Option<Arc<dyn Partitioner>>,
    closed: std::sync::atomic::AtomicBool,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// An idempotent (by default) Kafka producer. Cheap to clone.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Producer {
    /// A builder with the Java client's defaults.
    pub fn builder() -> ProducerBuilder {
        ProducerBuilder::default()
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    /// Queues a record. Waits (up to `max.block.ms`) for topic metadata and
    /// for room in `buffer.memory`; the returned future resolves when the
    /// record is acknowledged or has definitely failed.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let inner = &self.inner;
        if inner.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let cfg = &inner.config;
        let size = batch::record_size(record.key.as_deref(), record.value.as_deref(), &record.headers) + 61;
        if size > cfg.max_request_size || size > cfg.buffer_memory {
            return Err(Error::RecordTooLarge { size, limit: cfg.max_request_size.min(cfg.buffer_memory) });
        }
        let permits = u32::try_from(size).map_err(|_| Error::RecordTooLarge { size, limit: u32::MAX as usize })?;
        // `max.block.ms` bounds the waits below; the clock is read only
        // when one of them has to wait (most sends wait for nothing).
        let mut started: Option<Instant> = None;
        let mut deadline = || *started.get_or_insert_with(Instant::now) + cfg.max_block;
        // Room in buffer.memory.
        let permit = match inner.memory.try_acquire_many(permits) {
            Ok(p) => {
                // Spend tokio's cooperative budget as a wait would, so a
                // tight send loop still yields to the tasks that deliver
                // its records.
                tokio::task::coop::consume_budget().await;
                p
            }
            Err(tokio::sync::TryAcquireError::Closed) => return Err(Error::Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline()), inner.memory.acquire_many(permits)).await {
                    Ok(Ok(p)) => p,
                    Ok(Err(_)) => return Err(Error::Closed),
                    Err(_) => return Err(Error::BufferFull),
                }
            }
        };
        let (topic_meta, explicit) = self.choose_partition(&record, &mut deadline).await?;
        // The engine gives the memory back when the batch completes.
        permit.forget();
        let (tx, rx) = oneshot::channel();
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        // Keyless records: the sticky partitioner.
        let partition = match explicit {
            Some(p) => p,
            None => inner.acc.sticky_partition(&record.topic, size, &topic_meta),
        };
        // Append in this task, under the partition's lock.
        let append = Append { timestamp, key: record.key.as_deref(), value: record.value.as_deref(), headers: &record.headers, size, delivery: tx };
        inner.acc.append((record.topic.clone(), partition), append)?;
        Ok(DeliveryFuture { rx })
    }

    /// Sends and waits for the acknowledgement.
    pub async fn send_and_wait(&self, record: ProducerRecord) -> Result<RecordMetadata> {
        self.send(record).await?.await
    }

    /// The topic's metadata and, unless the sticky partitioner decides (keyless
    /// records), the partition.
    async fn choose_partition(&self, record: &ProducerRecord, deadline: &mut impl FnMut() -> Instant) -> Result<(Arc<crate::cluster::TopicMeta>, Option<i32>)> {
        let topic = match self.inner.cluster.topic(&record.topic) {
            Some(t) => t,
            None => self.inner.cluster.wait_for_topic(&record.topic, deadline()).await?,
        };
        let n = topic.partitions.len() as i32;
        if n == 0 {
            return Err(Error::Kafka(ferrokafka_protocol::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
        }
        let p = if let Some(p) = record.partition {
            if p < 0 || p >= n {
                return Err(Error::Config(format!("partition {p} out of range: {} has {n}", record.topic)));
            }
            Some(p)
        } else if let Some(custom) = &self.inner.partitioner {
            Some(custom.partition(&record.topic, record.key.as_deref(), n).rem_euclid(n))
        } else {
            record.key.as_ref().map(|key| partition_for_key(key, n))
        };
        Ok((topic, p))
    }

    /// Sends everything queued now and waits until each record is
    /// acknowledged or has failed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        // Hand over every open batch now, each under its partition's lock,
        // so the flush covers exactly the records sent before this call
        // (and not those sent after it, which may wait for their linger).
        let sealed = self.inner.acc.seal_all();
        if sealed.is_ok() && self.inner.tx.send(Cmd::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Refuses new records, delivers or fails every queued one (bounded by
    /// `delivery.timeout.ms`), and stops. Nothing is dropped silently.
    pub async fn close(&self) {
        self.inner.closed.store(true, std::sync::atomic::Ordering::Release);
        let (tx, rx) = oneshot::channel();
        if self.inner.tx.send(Cmd::Close(tx)).is_ok() {
            let _ = rx.await;
        }
        let task = self.inner.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    /// Like [`close`](Self::close) with an upper bound; records still
    /// pending after `timeout` fail with [`Error::Closed`].
    pub async fn close_timeout(&self, timeout: Duration) {
        if tokio::time::timeout(timeout, self.close()).await.is_err() {
            if let Some(t) = self.inner.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
                // Dropping the engine drops every pending delivery, which
                // resolves their futures with Error::Closed.
                t.abort();
            }
        }
    }
}
