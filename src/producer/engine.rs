//! The producer's engine: one task that owns every batch, so ordering and
//! sequence numbers need no locks. It appends records, closes batches on
//! `batch.size` or `linger.ms`, sends one Produce request per broker with
//! every ready partition, and applies the idempotence rules to each answer.
//!
//! Per partition, batches wait in a queue in sequence order. Up to
//! `max.in.flight.requests.per.connection` of them may be in flight; after
//! any failure the partition is *recovering* and sends only its oldest
//! unacknowledged batch until the queue is healthy again, so a retry can
//! never overtake a batch sent before it.
//!
//! A batch keeps its sequence number across retries: resending the same
//! sequence is always safe (the broker answers a duplicate with the original
//! offset). Sequences change only through an epoch bump (KIP-360), which is
//! done only when nothing is in flight and no batch's outcome is unknown,
//! and then renumbers every unacknowledged batch from 0 under the new epoch.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokafka_protocol::bytes::Bytes;
use ferrokafka_protocol::messages::{produce_request, InitProducerIdRequest, ProduceRequest, ProduceResponse};
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::batch::{OpenBatch, SealedBatch};
use super::config::{Acks, ProducerConfig};
use crate::cluster::Cluster;
use crate::error::{Error, Result};

pub(crate) enum Cmd {
    /// A batch was started in the accumulator at this time (its linger runs).
    Opened(Tp, Instant),
    /// A batch reached `batch.size` and left the accumulator.
    Full(Tp, OpenBatch),
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

pub(crate) type Tp = (std::sync::Arc<str>, i32);

/// The batches still taking records, shared with `send`: records are
/// appended in the caller's task (as the Java client's accumulator does),
/// and the engine hears only of new and full batches, not of every record.
#[derive(Default)]
pub(crate) struct Accumulator {
    pub open: HashMap<Tp, OpenBatch>,
    /// The uniform sticky partitioner's state (under the same lock).
    pub sticky: super::partitioner::Sticky,
}

pub(crate) type SharedAccumulator = std::sync::Arc<std::sync::Mutex<Accumulator>>;

pub(crate) fn lock(acc: &SharedAccumulator) -> std::sync::MutexGuard<'_, Accumulator> {
    acc.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    InFlight,
}

struct Batch {
    id: u64,
    sealed: SealedBatch,
    /// Base sequence, assigned when first sent (idempotent only).
    seq: Option<i32>,
    /// The (producer id, epoch, sequence) the bytes were stamped with.
    stamped: Option<(i64, i16, i32)>,
    data: Bytes,
    state: State,
    attempts: u32,
    retry_at: Instant,
    /// Sent at least once with no definite answer since: it may be in the log.
    possibly_written: bool,
    last_error: Option<Error>,
}

#[derive(Default)]
struct Part {
    queue: VecDeque<Batch>,
    next_seq: i32,
    recovering: bool,
    /// The (producer id, epoch) whose sequence state this partition's
    /// leader has acknowledged. Until it has, only one batch goes out at a
    /// time: a broker with no state for a producer accepts any first
    /// sequence (Kafka 3.x and 4.x, KIP-360), so a later batch overtaking a
    /// failed first one would be written ahead of it. The producer id
    /// counts: Kafka answers an idempotent producer's reset with a new id
    /// at epoch 0, which an epoch alone would take for confirmed.
    confirmed: Option<(i64, i16)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PidState {
    Missing,
    Requesting,
    Ready,
}

/// A Produce request for a broker's sender task.
struct Job {
    items: Vec<(Tp, u64)>,
    request: ProduceRequest,
}

enum Event {
    Produced { broker: i32, items: Vec<(Tp, u64)>, result: Result<Option<ProduceResponse>> },
    ProducerId(Result<(i64, i16)>),
    Metadata,
}

pub(crate) struct Engine {
    cfg: Arc<ProducerConfig>,
    cluster: Cluster,
    idempotent: bool,
    parts: HashMap<Tp, Part>,
    pid: i64,
    epoch: i16,
    pid_state: PidState,
    pid_retry_at: Instant,
    pid_failures: u32,
    bump_pending: bool,
    fatal: Option<Error>,
    memory: Arc<Semaphore>,
    ev_tx: mpsc::UnboundedSender<Event>,
    ev_rx: mpsc::UnboundedReceiver<Event>,
    inflight_per_broker: HashMap<i32, usize>,
    /// One sender task per broker puts requests on the wire in the order
    /// the engine made them (sequence order matters to the broker).
    senders: HashMap<i32, mpsc::UnboundedSender<Job>>,
    refresh_wanted: bool,
    refreshing: bool,
    flush_waiters: Vec<oneshot::Sender<()>>,
    close_waiter: Option<oneshot::Sender<()>>,
    next_id: u64,
    acc: SharedAccumulator,
    /// When open batches in the accumulator reach their linger.
    lingers: VecDeque<(Instant, Tp)>,
}

fn next_seq(seq: i32, count: i32) -> i32 {
    ((i64::from(seq) + i64::from(count)) % (i64::from(i32::MAX) + 1)) as i32
}

impl Engine {
    pub fn new(cfg: Arc<ProducerConfig>, cluster: Cluster, idempotent: bool, memory: Arc<Semaphore>, acc: SharedAccumulator) -> Engine {
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        Engine {
            cfg,
            cluster,
            idempotent,
            parts: HashMap::new(),
            pid: -1,
            epoch: -1,
            pid_state: if idempotent { PidState::Missing } else { PidState::Ready },
            pid_retry_at: Instant::now(),
            pid_failures: 0,
            bump_pending: false,
            fatal: None,
            memory,
            ev_tx,
            ev_rx,
            inflight_per_broker: HashMap::new(),
            senders: HashMap::new(),
            refresh_wanted: false,
            refreshing: false,
            flush_waiters: Vec::new(),
            close_waiter: None,
            next_id: 0,
            acc,
            lingers: VecDeque::new(),
        }
    }

    pub async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        let mut cmds_open = true;
        loop {
            let wake = self.next_wakeup();
            tokio::select! {
                c = cmds.recv(), if cmds_open => match c {
                    Some(c) => {
                        self.on_cmd(c);
                        // Take what else is queued before doing I/O work.
                        for _ in 0..4096 {
                            match cmds.try_recv() {
                                Ok(c) => self.on_cmd(c),
                                Err(_) => break,
                            }
                        }
                    }
                    None => {
                        cmds_open = false;
                        if self.close_waiter.is_none() {
                            // Every handle dropped without close: finish the work anyway.
                            let (tx, _rx) = oneshot::channel();
                            self.close_waiter = Some(tx);
                        }
                    }
                },
                Some(e) = self.ev_rx.recv() => self.on_event(e),
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
            }
            let now = Instant::now();
            self.expire(now);
            self.seal_due(now, &mut cmds);
            self.manage_producer_id(now);
            self.refresh_metadata();
            self.send_ready(now);
            if self.finish_waiters() {
                break;
            }
        }
    }

    /// When the loop must run even if no command or answer arrives: a
    /// linger ending, a retry back-off ending, a delivery timeout. Batches
    /// held back by in-flight limits are woken by answers, not by timers
    /// (a past deadline here would make the loop spin).
    fn next_wakeup(&self) -> Instant {
        let now = Instant::now();
        let mut at = now + Duration::from_millis(100);
        if let Some((t, _)) = self.lingers.front() {
            at = at.min(*t);
        }
        for p in self.parts.values() {
            if let Some(b) = p.queue.iter().find(|b| b.state == State::Ready) {
                if b.retry_at > now {
                    at = at.min(b.retry_at);
                }
                at = at.min(b.sealed.created + self.cfg.delivery_timeout);
            }
        }
        if self.pid_state == PidState::Missing {
            at = at.min(self.pid_retry_at);
        }
        at
    }

    fn on_cmd(&mut self, c: Cmd) {
        match c {
            Cmd::Opened(tp, created) => self.lingers.push_back((created + self.cfg.linger, tp)),
            Cmd::Full(tp, open) => self.take_batch(tp, open),
            Cmd::Flush(tx) => self.flush_waiters.push(tx),
            Cmd::Close(tx) => self.close_waiter = Some(tx),
        }
    }

    /// A batch out of the accumulator: closed (compressed) and queued.
    fn take_batch(&mut self, tp: Tp, open: OpenBatch) {
        if let Some(e) = &self.fatal {
            self.memory.add_permits(open.reserved);
            for (d, _) in open.deliveries {
                let _ = d.send(Err(Error::Fatal(Box::new(e.clone()))));
            }
            return;
        }
        let (codec, level) = (self.cfg.compression, self.cfg.compression_level);
        let part = self.parts.entry(tp).or_default();
        Self::enqueue(&mut self.next_id, &self.memory, part, open, codec, level);
    }

    fn enqueue(next_id: &mut u64, memory: &Semaphore, part: &mut Part, open: OpenBatch, codec: ferrokafka_protocol::compression::Compression, level: Option<i32>) {
        *next_id += 1;
        let reserved = open.reserved;
        match open.close(codec, level) {
            Ok(sealed) => part.queue.push_back(Batch {
                id: *next_id,
                sealed,
                seq: None,
                stamped: None,
                data: Bytes::new(),
                state: State::Ready,
                attempts: 0,
                retry_at: Instant::now(),
                possibly_written: false,
                last_error: None,
            }),
            // Compression failed: `close` already failed the records.
            Err(_) => memory.add_permits(reserved),
        }
    }

    /// Takes open batches out of the accumulator when their linger has
    /// passed (or all of them, when flushing or closing).
    fn seal_due(&mut self, now: Instant, cmds: &mut mpsc::UnboundedReceiver<Cmd>) {
        let all = !self.flush_waiters.is_empty() || self.close_waiter.is_some();
        let linger = self.cfg.linger;
        let mut taken = Vec::new();
        {
            let mut acc = lock(&self.acc);
            if all {
                taken.extend(acc.open.drain());
                self.lingers.clear();
            } else {
                while self.lingers.front().is_some_and(|(t, _)| *t <= now) {
                    let (_, tp) = self.lingers.pop_front().expect("checked");
                    // A newer batch may have replaced the one this linger
                    // was for; it has a linger entry of its own.
                    if acc.open.get(&tp).is_some_and(|o| o.created + linger <= now) {
                        let o = acc.open.remove(&tp).expect("checked");
                        taken.push((tp, o));
                    }
                }
            }
        }
        // Batches that filled up before these were taken were announced
        // (under the same lock) before we took the lock: queue those first,
        // or a partition's batches could be queued out of order.
        while let Ok(c) = cmds.try_recv() {
            self.on_cmd(c);
        }
        for (tp, o) in taken {
            self.take_batch(tp, o);
        }
    }

    fn release(&self, b: &Batch) {
        self.memory.add_permits(b.sealed.reserved);
    }

    /// Fails batches past `delivery.timeout.ms` that are not in flight.
    fn expire(&mut self, now: Instant) {
        let timeout = self.cfg.delivery_timeout;
        // Cheap check first: nothing can expire before the oldest batch does.
        let oldest = self.parts.values().filter_map(|p| p.queue.front().map(|b| b.sealed.created)).min();
        if oldest.is_none_or(|t| t + timeout > now) {
            return;
        }
        let mut expired = Vec::new();
        let mut bump = false;
        for part in self.parts.values_mut() {
            let mut i = 0;
            while i < part.queue.len() {
                let b = &part.queue[i];
                if b.state == State::Ready && b.sealed.created + timeout <= now {
                    let b = part.queue.remove(i).expect("in range");
                    if b.seq.is_some() {
                        // It was sent: the sequence continuity is unknown now.
                        bump = true;
                    }
                    expired.push(b);
                } else {
                    i += 1;
                }
            }
        }
        if bump && self.idempotent {
            self.bump_pending = true;
        }
        for b in expired {
            self.release(&b);
            let base = Error::Timeout("delivery.timeout.ms");
            let err = if b.possibly_written { Error::PossiblyWritten(Box::new(b.last_error.clone().unwrap_or(base))) } else { b.last_error.clone().unwrap_or(base) };
            b.sealed.fail(err);
        }
    }

    fn manage_producer_id(&mut self, now: Instant) {
        if !self.idempotent || self.fatal.is_some() || (self.pid_state == PidState::Ready && !self.bump_pending) {
            return;
        }
        let any_inflight = self.parts.values().any(|p| p.queue.iter().any(|b| b.state == State::InFlight));
        let any_uncertain = self.parts.values().any(|p| p.queue.iter().any(|b| b.possibly_written));
        let bump_now = self.pid_state == PidState::Ready && self.bump_pending && !any_inflight && !any_uncertain;
        if bump_now {
            self.pid_state = PidState::Missing;
        }
        if self.pid_state != PidState::Missing || now < self.pid_retry_at {
            return;
        }
        self.pid_state = PidState::Requesting;
        let (cluster, tx) = (self.cluster.clone(), self.ev_tx.clone());
        let (pid, epoch) = (self.pid, self.epoch);
        tokio::spawn(async move {
            let result = async {
                let conn = cluster.any().await?;
                let v = conn.version(ApiKey::InitProducerId)?;
                // KIP-360: with v3+ the current id and epoch are bumped;
                // older brokers hand out a fresh producer id.
                let (p, e) = if v >= 3 { (pid, epoch) } else { (-1, -1) };
                let req = InitProducerIdRequest { transactional_id: None, transaction_timeout_ms: i32::MAX, producer_id: p, producer_epoch: e, ..Default::default() };
                match conn.send_at(RequestBody::InitProducerId(req), v).await? {
                    ResponseBody::InitProducerId(r) => {
                        ErrorCode(r.error_code).check()?;
                        Ok((r.producer_id, r.producer_epoch))
                    }
                    _ => Err(Error::Io("mismatched response".into())),
                }
            }
            .await;
            let _ = tx.send(Event::ProducerId(result));
        });
    }

    fn refresh_metadata(&mut self) {
        if self.refreshing || !(self.refresh_wanted || self.cluster.is_stale()) {
            return;
        }
        self.refreshing = true;
        self.refresh_wanted = false;
        let mut topics: Vec<String> = self.parts.keys().map(|(t, _)| t.to_string()).collect();
        topics.sort();
        topics.dedup();
        let (cluster, tx) = (self.cluster.clone(), self.ev_tx.clone());
        tokio::spawn(async move {
            let _ = cluster.refresh(&topics).await;
            let _ = tx.send(Event::Metadata);
        });
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let base = self.cfg.retry_backoff.as_secs_f64() * 2f64.powi(attempts.saturating_sub(1).min(16) as i32);
        let capped = base.min(self.cfg.retry_backoff_max.as_secs_f64().max(self.cfg.retry_backoff.as_secs_f64()));
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        Duration::from_secs_f64(capped * (0.8 + 0.4 * f64::from(n % 1000) / 1000.0))
    }

    /// Sends what may go now: one Produce request per broker per round,
    /// each with at most one batch per partition (Kafka's rule), rounds
    /// repeated while brokers have room for more requests in flight.
    fn send_ready(&mut self, now: Instant) {
        while self.send_round(now) {}
    }

    fn send_round(&mut self, now: Instant) -> bool {
        if self.pid_state != PidState::Ready || self.fatal.is_some() {
            return false;
        }
        let max_in_flight = self.cfg.cluster.conn.max_in_flight;
        let max_request = self.cfg.max_request_size;
        // Per broker: the batches (partition, id), the request's size so
        // far, and the bytes to send.
        type Draft = (Vec<(Tp, u64)>, usize, Vec<(Tp, Bytes)>);
        let mut requests: HashMap<i32, Draft> = HashMap::new();
        let mut refresh = false;
        for (tp, part) in self.parts.iter_mut() {
            if part.queue.is_empty() {
                continue;
            }
            let leader = self.cluster.topic(&tp.0).and_then(|t| t.partitions.get(tp.1 as usize).map(|p| p.leader)).unwrap_or(-1);
            if leader < 0 {
                refresh = true;
                continue;
            }
            let broker_busy = self.inflight_per_broker.get(&leader).copied().unwrap_or(0) + usize::from(requests.contains_key(&leader));
            if broker_busy >= max_in_flight {
                continue;
            }
            let inflight = part.queue.iter().filter(|b| b.state == State::InFlight).count();
            let unconfirmed = self.idempotent && part.confirmed != Some((self.pid, self.epoch));
            let limit = if part.recovering || unconfirmed { 1 } else { max_in_flight };
            for b in part.queue.iter_mut() {
                if b.state == State::InFlight {
                    continue;
                }
                if inflight >= limit || b.retry_at > now {
                    break;
                }
                // While an epoch bump waits, only batches whose outcome is
                // unknown go out again (same epoch and sequence), to learn it.
                if self.bump_pending && !b.possibly_written {
                    break;
                }
                let used = requests.get(&leader).map(|r| r.1).unwrap_or(0);
                if used > 0 && used + b.sealed.size() > max_request {
                    break;
                }
                if self.idempotent && b.seq.is_none() {
                    b.seq = Some(part.next_seq);
                    part.next_seq = next_seq(part.next_seq, b.sealed.count);
                }
                let stamp = if self.idempotent { (self.pid, self.epoch, b.seq.unwrap_or(-1)) } else { (-1, -1, -1) };
                // A batch sent before keeps the epoch it was stamped with
                // until the bump renumbers it.
                if b.stamped.is_none() || (b.stamped != Some(stamp) && !b.possibly_written) {
                    match b.sealed.encode(stamp.0, stamp.1, stamp.2) {
                        Ok(data) => {
                            b.data = data;
                            b.stamped = Some(stamp);
                        }
                        Err(_) => break,
                    }
                }
                let entry = requests.entry(leader).or_insert_with(|| (Vec::new(), 0, Vec::new()));
                entry.0.push((tp.clone(), b.id));
                entry.1 += b.sealed.size();
                entry.2.push((tp.clone(), b.data.clone()));
                b.state = State::InFlight;
                // One batch per partition per request.
                break;
            }
        }
        if refresh {
            self.refresh_wanted = true;
        }
        let sent = !requests.is_empty();
        for (broker, (items, _, data)) in requests {
            *self.inflight_per_broker.entry(broker).or_default() += 1;
            self.spawn_produce(broker, items, data);
        }
        sent
    }

    fn spawn_produce(&mut self, broker: i32, items: Vec<(Tp, u64)>, data: Vec<(Tp, Bytes)>) {
        let mut by_topic: HashMap<std::sync::Arc<str>, Vec<produce_request::PartitionProduceData>> = HashMap::new();
        for ((topic, p), bytes) in data {
            by_topic.entry(topic).or_default().push(produce_request::PartitionProduceData { index: p, records: Some(bytes), ..Default::default() });
        }
        let request = ProduceRequest {
            transactional_id: None,
            acks: self.cfg.acks.wire(),
            timeout_ms: self.cfg.cluster.conn.request_timeout.as_millis().min(i32::MAX as u128) as i32,
            topic_data: by_topic
                .into_iter()
                .map(|(name, partition_data)| produce_request::TopicProduceData { name: name.to_string(), partition_data, ..Default::default() })
                .collect(),
            ..Default::default()
        };
        let job = Job { items, request };
        let sender = self.senders.entry(broker).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(broker_sender(broker, self.cluster.clone(), self.cfg.acks, rx, self.ev_tx.clone()));
            tx
        });
        if let Err(mpsc::error::SendError(job)) = sender.send(job) {
            let _ = self.ev_tx.send(Event::Produced { broker, items: job.items, result: Err(Error::Closed) });
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Metadata => self.refreshing = false,
            Event::ProducerId(r) => self.on_producer_id(r),
            Event::Produced { broker, items, result } => {
                if let Some(n) = self.inflight_per_broker.get_mut(&broker) {
                    *n = n.saturating_sub(1);
                }
                match result {
                    Err(e) => {
                        // No answer: each batch may or may not be written.
                        self.refresh_wanted = true;
                        for (tp, id) in items {
                            self.retry(&tp, id, e.clone(), true);
                        }
                    }
                    Ok(None) => {
                        for (tp, id) in items {
                            self.succeed(&tp, id, -1, -1);
                        }
                    }
                    Ok(Some(resp)) => {
                        let mut answered: HashMap<(&str, i32), (ErrorCode, i64, i64)> = HashMap::new();
                        for t in &resp.responses {
                            for p in &t.partition_responses {
                                answered.insert((t.name.as_str(), p.index), (ErrorCode(p.error_code), p.base_offset, p.log_append_time_ms));
                            }
                        }
                        let answered: Vec<Option<(ErrorCode, i64, i64)>> = items.iter().map(|(tp, _)| answered.get(&(&*tp.0, tp.1)).copied()).collect();
                        for ((tp, id), answer) in items.into_iter().zip(answered) {
                            match answer {
                                Some((code, offset, lat)) => self.on_partition_result(&tp, id, code, offset, lat),
                                None => self.retry(&tp, id, Error::Io("partition missing from the Produce response".into()), true),
                            }
                        }
                    }
                }
            }
        }
    }

    fn on_producer_id(&mut self, r: Result<(i64, i16)>) {
        match r {
            Ok((pid, epoch)) => {
                let renumber = self.pid >= 0;
                self.pid = pid;
                self.epoch = epoch;
                self.pid_state = PidState::Ready;
                self.pid_failures = 0;
                self.bump_pending = false;
                if renumber {
                    // New epoch: sequences restart at 0 for every partition
                    // and every unacknowledged batch gets a new number.
                    for part in self.parts.values_mut() {
                        part.next_seq = 0;
                        for b in part.queue.iter_mut() {
                            b.seq = None;
                            b.stamped = None;
                        }
                    }
                }
            }
            Err(e) if e.is_retriable() || matches!(e, Error::Kafka(_)) && e.class() != ferrokafka_protocol::ErrorClass::Fatal => {
                self.pid_failures += 1;
                self.pid_state = PidState::Missing;
                self.pid_retry_at = Instant::now() + self.backoff(self.pid_failures);
            }
            Err(e) => {
                // Without a producer id nothing can be sent: fail everything.
                self.fatal = Some(e.clone());
                let open: Vec<(Tp, OpenBatch)> = lock(&self.acc).open.drain().collect();
                for (_, o) in open {
                    self.memory.add_permits(o.reserved);
                    for (d, _) in o.deliveries {
                        let _ = d.send(Err(Error::Fatal(Box::new(e.clone()))));
                    }
                }
                for part in self.parts.values_mut() {
                    for b in part.queue.drain(..) {
                        self.memory.add_permits(b.sealed.reserved);
                        b.sealed.fail(Error::Fatal(Box::new(e.clone())));
                    }

                }
            }
        }
    }

    fn take(&mut self, tp: &Tp, id: u64) -> Option<Batch> {
        let part = self.parts.get_mut(tp)?;
        let i = part.queue.iter().position(|b| b.id == id)?;
        part.queue.remove(i)
    }

    fn succeed(&mut self, tp: &Tp, id: u64, base_offset: i64, log_append_time: i64) {
        if let Some(b) = self.take(tp, id) {
            self.release(&b);
            if let (Some((pid, epoch, _)), Some(part)) = (b.stamped, self.parts.get_mut(tp)) {
                part.confirmed = Some((pid, epoch));
            }
            b.sealed.complete(&tp.0, tp.1, base_offset, log_append_time);
        }
        if let Some(part) = self.parts.get_mut(tp) {
            part.recovering = part.queue.iter().any(|b| b.attempts > 0);
        }
    }

    /// MESSAGE_TOO_LARGE for a batch of several records: the broker wrote
    /// nothing, so split the batch in two (in place, order kept) and send
    /// the halves, as the Java client does. Halving again on another refusal
    /// ends at single records, which then fail.
    fn split(&mut self, tp: &Tp, id: u64) -> bool {
        let (codec, level) = (self.cfg.compression, self.cfg.compression_level);
        let Some(part) = self.parts.get_mut(tp) else { return false };
        let Some(i) = part.queue.iter().position(|b| b.id == id) else { return false };
        let limits = ferrokafka_protocol::records::DecodeLimits::default();
        let Ok(decoded) = ferrokafka_protocol::records::RecordBatch::decode(part.queue[i].data.clone(), &limits) else { return false };
        if decoded.records.len() < 2 || decoded.records.len() != part.queue[i].sealed.deliveries.len() {
            return false;
        }
        let mut old = part.queue.remove(i).expect("found");
        let had_seq = old.seq.is_some();
        let mut deliveries = std::mem::take(&mut old.sealed.deliveries).into_iter();
        let half = decoded.records.len() / 2;
        let reserved_first = old.sealed.reserved / 2;
        let mut halves = Vec::new();
        let (first, second) = decoded.records.split_at(half);
        for (n, chunk) in [first, second].into_iter().enumerate() {
            let bytes: usize = chunk.iter().map(|r| super::batch::record_size(r.key.as_deref(), r.value.as_deref(), &r.headers)).sum();
            let mut open = OpenBatch::new(bytes + 128);
            for r in chunk {
                let (d, _) = deliveries.next().expect("one delivery per record");
                if let Err((e, d)) = open.append(decoded.timestamp_of(r), r.key.as_deref(), r.value.as_deref(), &r.headers, d, 0) {
                    let _ = d.send(Err(e));
                }
            }
            open.reserved = if n == 0 { reserved_first } else { old.sealed.reserved - reserved_first };
            halves.push(open);
        }
        for (k, open) in halves.into_iter().enumerate() {
            self.next_id += 1;
            let reserved = open.reserved;
            match open.close(codec, level) {
                Ok(sealed) => part.queue.insert(
                    i + k,
                    Batch {
                        id: self.next_id,
                        sealed,
                        seq: None,
                        stamped: None,
                        data: Bytes::new(),
                        state: State::Ready,
                        attempts: old.attempts,
                        retry_at: Instant::now(),
                        possibly_written: false,
                        last_error: old.last_error.clone(),
                    },
                ),
                Err(_) => self.memory.add_permits(reserved),
            }
        }
        if had_seq && self.idempotent {
            // The halves need sequences of their own: renumber under a new epoch.
            self.bump_pending = true;
        }
        true
    }

    fn fail(&mut self, tp: &Tp, id: u64, err: Error) {
        if let Some(b) = self.take(tp, id) {
            self.release(&b);
            if self.idempotent && b.seq.is_some() {
                // A sequence range will now never arrive: later batches
                // would be out of order. Renumber them under a new epoch.
                self.bump_pending = true;
            }
            let err = if b.possibly_written { Error::PossiblyWritten(Box::new(err)) } else { err };
            b.sealed.fail(err);
        }
        if let Some(part) = self.parts.get_mut(tp) {
            part.recovering = part.queue.iter().any(|b| b.attempts > 0);
        }
    }

    /// Puts a batch back for another try with the same sequence.
    fn retry(&mut self, tp: &Tp, id: u64, err: Error, uncertain: bool) {
        let retries = self.cfg.retries;
        let Some(part) = self.parts.get_mut(tp) else { return };
        let Some(b) = part.queue.iter_mut().find(|b| b.id == id) else { return };
        b.attempts += 1;
        b.state = State::Ready;
        b.possibly_written |= uncertain;
        b.last_error = Some(err.clone());
        let attempts = b.attempts;
        part.recovering = true;
        if attempts > retries {
            self.fail(tp, id, err);
            return;
        }
        let delay = self.backoff(attempts);
        if let Some(b) = self.parts.get_mut(tp).and_then(|p| p.queue.iter_mut().find(|b| b.id == id)) {
            b.retry_at = Instant::now() + delay;
        }
    }

    fn on_partition_result(&mut self, tp: &Tp, id: u64, code: ErrorCode, offset: i64, log_append_time: i64) {
        let is_front = self.parts.get(tp).and_then(|p| p.queue.front()).is_some_and(|b| b.id == id);
        match code {
            ErrorCode::NONE => self.succeed(tp, id, offset, log_append_time),
            ErrorCode::MESSAGE_TOO_LARGE if self.split(tp, id) => {}
            // An older broker's answer to a retry of a batch it already has.
            ErrorCode::DUPLICATE_SEQUENCE_NUMBER => self.succeed(tp, id, -1, -1),
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER | ErrorCode::UNKNOWN_PRODUCER_ID | ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED
                if self.idempotent =>
            {
                if code == ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER && !is_front {
                    // An earlier batch of this partition is being retried;
                    // this one follows it again with the same sequence.
                    self.retry(tp, id, Error::Kafka(code), false);
                } else {
                    // The broker has not written it and will not take its
                    // sequence: renumber under a bumped epoch (KIP-360).
                    self.bump_pending = true;
                    self.retry(tp, id, Error::Kafka(code), false);
                    if let Some(b) = self.parts.get_mut(tp).and_then(|p| p.queue.iter_mut().find(|b| b.id == id)) {
                        b.possibly_written = false;
                    }
                }
            }
            c if c.is_retriable() => {
                if matches!(c, ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::LEADER_NOT_AVAILABLE | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION | ErrorCode::FENCED_LEADER_EPOCH | ErrorCode::UNKNOWN_LEADER_EPOCH | ErrorCode::KAFKA_STORAGE_ERROR) {
                    self.refresh_wanted = true;
                }
                // NOT_ENOUGH_REPLICAS_AFTER_APPEND and REQUEST_TIMED_OUT
                // may have written it.
                let uncertain = matches!(c, ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND | ErrorCode::REQUEST_TIMED_OUT);
                self.retry(tp, id, Error::Kafka(c), uncertain);
            }
            c => self.fail(tp, id, Error::Kafka(c)),
        }
    }

    /// Answers flush and close waiters; true when the engine should stop.
    fn finish_waiters(&mut self) -> bool {
        let idle = self.parts.values().all(|p| p.queue.is_empty()) && lock(&self.acc).open.is_empty();
        if idle {
            for w in self.flush_waiters.drain(..) {
                let _ = w.send(());
            }
            if let Some(w) = self.close_waiter.take() {
                let _ = w.send(());
                return true;
            }
        }
        false
    }
}


/// Puts one broker's Produce requests on the wire in order, then waits for
/// their answers concurrently.
async fn broker_sender(broker: i32, cluster: Cluster, acks: Acks, mut jobs: mpsc::UnboundedReceiver<Job>, events: mpsc::UnboundedSender<Event>) {
    while let Some(job) = jobs.recv().await {
        let Job { items, request } = job;
        let conn = match cluster.broker(broker).await {
            Ok(c) => c,
            Err(e) => {
                let _ = events.send(Event::Produced { broker, items, result: Err(e) });
                continue;
            }
        };
        if acks == Acks::None {
            let result = conn.send_no_response(RequestBody::Produce(request)).await.map(|_| None);
            let _ = events.send(Event::Produced { broker, items, result });
            continue;
        }
        match conn.send_ordered(RequestBody::Produce(request)).await {
            Err(e) => {
                let _ = events.send(Event::Produced { broker, items, result: Err(e) });
            }
            Ok(answer) => {
                let events = events.clone();
                tokio::spawn(async move {
                    let result = match answer.await {
                        Ok(ResponseBody::Produce(r)) => Ok(Some(r)),
                        Ok(_) => Err(Error::Io("mismatched response".into())),
                        Err(e) => Err(e),
                    };
                    let _ = events.send(Event::Produced { broker, items, result });
                });
            }
        }
    }
}
