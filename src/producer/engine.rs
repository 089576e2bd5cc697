//! The producer's event loop: one task that owns every sealed batch, so
//! ordering and sequence numbers need no locks. It takes batches out of the
//! accumulator when their linger ends, decides which partition may send
//! what, hands requests to the per-broker sinks, and applies the
//! sequencing table to each answer. The decisions live elsewhere:
//! `sequencing` (what an answer means), `queue` (a partition's batches and
//! counters), `producer_id` (id and epoch), `sink` (the wire).
//!
//! Per partition, up to `max.in.flight.requests.per.connection` batches
//! may be in flight; after any failure the partition sends only its oldest
//! batch until it is healthy again, so a retry never overtakes a batch sent
//! before it. A batch keeps its sequence across retries. Sequences change
//! only per partition: moved down in place behind a batch that failed
//! alone, or restarted from 0 under a locally bumped epoch once that
//! partition is quiet. Other partitions never wait for it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokafka_protocol::bytes::Bytes;
use ferrokafka_protocol::ErrorCode;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::accumulator::{close_batch, Accumulator};
use super::batch::{OpenBatch, SealedBatch};
use super::split::split_in_two;
use super::config::ProducerConfig;
use super::flushes::Flushes;
use super::producer_id::Seam;
use super::queue::{seq_add, Batch, PartitionQueue};
use super::sequencing::{decide, Action, Answer, Facts, Later};
use super::sink::{build_request, Job, Produced, Sinks};
use super::types::{Cmd, Tp};
use crate::cluster::Cluster;
use crate::error::{Error, Result};

pub(crate) enum Event {
    Produced(Produced),
    ProducerId(Result<(i64, i16)>),
    Metadata,
}

impl From<Produced> for Event {
    fn from(p: Produced) -> Event {
        Event::Produced(p)
    }
}

/// Metadata refreshes: at most one at a time, and while a leader stays
/// unknown, spaced by `retry.backoff.ms` growing to `retry.backoff.max.ms`
/// (without this a leaderless partition asked on every loop).
#[derive(Default)]
struct Refresh {
    wanted: bool,
    running: bool,
    not_before: Option<Instant>,
    streak: u32,
}

pub(crate) struct Engine {
    cfg: Arc<ProducerConfig>,
    cluster: Cluster,
    idempotent: bool,
    parts: HashMap<Tp, PartitionQueue>,
    /// The producer id and epoch, and the hooks a transaction manager uses.
    ids: Box<dyn Seam>,
    fatal: Option<Error>,
    memory: Arc<Semaphore>,
    ev_tx: mpsc::UnboundedSender<Event>,
    ev_rx: mpsc::UnboundedReceiver<Event>,
    sinks: Sinks<Event>,
    refresh: Refresh,
    flushes: Flushes,
    close_waiter: Option<oneshot::Sender<()>>,
    next_id: u64,
    acc: Arc<Accumulator>,
    /// When open batches in the accumulator reach their linger.
    lingers: VecDeque<(Instant, Tp)>,
}

impl Engine {
    pub fn new(cfg: Arc<ProducerConfig>, cluster: Cluster, idempotent: bool, memory: Arc<Semaphore>, acc: Arc<Accumulator>, ids: Box<dyn Seam>) -> Engine {
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        Engine {
            sinks: Sinks::new(cluster.clone(), cfg.acks, ev_tx.clone()),
            cfg,
            cluster,
            idempotent,
            parts: HashMap::new(),
            ids,
            fatal: None,
            memory,
            ev_tx,
            ev_rx,
            refresh: Refresh::default(),
            flushes: Flushes::default(),
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
                Some(e) = self.ev_rx.recv() => {
                    self.on_event(e);
                    while let Ok(e) = self.ev_rx.try_recv() {
                        self.on_event(e);
                    }
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
            }
            let now = Instant::now();
            self.expire(now);
            self.seal_due(now, &mut cmds);
            self.manage_producer_id(now);
            self.reset_quiet_partitions();
            self.refresh_metadata(now);
            self.send_ready(now);
            self.flushes.answer();
            if self.finish_close() {
                break;
            }
        }
    }

    /// When the loop must run even if no command or answer arrives: a
    /// linger ending, a retry back-off ending, a delivery timeout, a
    /// metadata refresh or InitProducerId coming due. Batches held back by
    /// in-flight limits are woken by answers, not by timers.
    fn next_wakeup(&self) -> Instant {
        let now = Instant::now();
        let mut at = now + Duration::from_millis(100);
        if let Some((t, _)) = self.lingers.front() {
            at = at.min(*t);
        }
        for p in self.parts.values() {
            // Only a batch not in flight can expire or be retried; one in
            // flight past its deadline is settled by its answer (or the
            // request timeout), and waking for its past deadline would spin.
            if let Some(b) = p.first_idle().and_then(|i| p.get(i)) {
                at = at.min(b.sealed.created + self.cfg.delivery_timeout);
                if b.retry_at > now {
                    at = at.min(b.retry_at);
                }
            }
        }
        if let Some(t) = self.ids.wake_at() {
            at = at.min(t);
        }
        // A refresh that is running wakes the loop when it ends; its
        // back-off deadline matters only once it has.
        if let (true, false, Some(t)) = (self.refresh.wanted, self.refresh.running, self.refresh.not_before) {
            at = at.min(t);
        }
        at.max(now)
    }

    fn on_cmd(&mut self, c: Cmd) {
        match c {
            Cmd::Opened(tp, created) => self.lingers.push_back((created + self.cfg.linger, tp)),
            Cmd::Sealed(tp, sealed) => self.queue_batch(tp, sealed),
            // Everything handed over so far has an id up to next_id.
            Cmd::Flush(tx) => self.flushes.wait(self.next_id, tx),
            Cmd::Close(tx) => self.close_waiter = Some(tx),
        }
    }

    /// A sealed batch joins its partition's queue.
    fn queue_batch(&mut self, tp: Tp, sealed: SealedBatch) {
        if let Some(e) = &self.fatal {
            self.memory.add_permits(sealed.reserved);
            sealed.fail(Error::Fatal(Box::new(e.clone())));
            return;
        }
        self.next_id += 1;
        self.flushes.add(self.next_id);
        self.parts.entry(tp).or_default().push(Batch::new(self.next_id, sealed));
    }

    /// Closes (compresses) and queues a batch the engine took itself.
    fn take_open(&mut self, tp: Tp, open: OpenBatch) {
        if let Some(sealed) = close_batch(open, self.cfg.compression, self.cfg.compression_level, &self.memory) {
            self.queue_batch(tp, sealed);
        }
    }

    /// Takes open batches out of the accumulator when their linger has
    /// passed (or all of them, when closing). Each is taken under its
    /// partition's lock, after queueing whatever was announced before, so
    /// a partition's batches are queued in the order they were made.
    fn seal_due(&mut self, now: Instant, cmds: &mut mpsc::UnboundedReceiver<Cmd>) {
        let closing = self.close_waiter.is_some();
        if !closing && self.lingers.front().is_none_or(|(t, _)| *t > now) {
            return;
        }
        let acc = self.acc.clone();
        if closing {
            self.lingers.clear();
            acc.take_each(|tp, open| {
                self.drain_cmds(cmds);
                self.take_open(tp, open);
            });
            return;
        }
        let linger = self.cfg.linger;
        while self.lingers.front().is_some_and(|(t, _)| *t <= now) {
            let (_, tp) = self.lingers.pop_front().expect("checked");
            acc.take_if_due(&tp.clone(), now, linger, |open| {
                self.drain_cmds(cmds);
                self.take_open(tp, open);
            });
        }
    }

    fn drain_cmds(&mut self, cmds: &mut mpsc::UnboundedReceiver<Cmd>) {
        while let Ok(c) = cmds.try_recv() {
            self.on_cmd(c);
        }
    }

    /// Fails batches past `delivery.timeout.ms` that are not in flight.
    fn expire(&mut self, now: Instant) {
        let timeout = self.cfg.delivery_timeout;
        let tps: Vec<Tp> = self.parts.iter().filter(|(_, p)| p.front().is_some_and(|b| b.sealed.created + timeout <= now)).map(|(tp, _)| tp.clone()).collect();
        for tp in tps {
            let mut i = 0;
            while let Some(b) = self.parts.get(&tp).and_then(|p| p.get(i)) {
                if b.sealed.created + timeout > now {
                    break;
                }
                if b.in_flight {
                    // Its answer (or the request timeout) settles it.
                    i += 1;
                    continue;
                }
                let last = b.last_error.clone().unwrap_or(Error::Timeout("delivery.timeout.ms"));
                let facts = self.facts(&tp, i);
                let (possibly_written, later) = match decide(facts, Answer::Expired) {
                    Action::Fail { possibly_written, later, .. } => (possibly_written, later),
                    _ => (facts.possibly_written, Later::Reset),
                };
                let Some(b) = self.parts.get_mut(&tp).and_then(|p| p.remove_at(i)) else { break };
                self.fail_batch(&tp, b, possibly_written, later, last);
            }
        }
    }

    fn manage_producer_id(&mut self, now: Instant) {
        if self.fatal.is_some() {
            return;
        }
        if let Some(fut) = self.ids.start(now, &self.cluster) {
            let tx = self.ev_tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(Event::ProducerId(fut.await));
            });
        }
    }

    /// Partitions whose sequences must restart do so once quiet; others
    /// take up a new epoch when they happen to be idle.
    fn reset_quiet_partitions(&mut self) {
        if !self.idempotent {
            return;
        }
        let Some(current) = self.ids.current() else { return };
        for part in self.parts.values_mut() {
            if part.reset_wanted {
                if part.ready_to_reset() {
                    match self.ids.bump_past(part.pair) {
                        Some(pair) => part.reset(pair),
                        // A new id is on its way.
                        None => return,
                    }
                }
            } else {
                part.adopt_if_quiet(current);
            }
        }
    }

    fn refresh_metadata(&mut self, now: Instant) {
        let r = &mut self.refresh;
        let due = r.wanted || self.cluster.is_stale();
        if r.running || !due || r.not_before.is_some_and(|t| now < t) {
            return;
        }
        r.running = true;
        r.wanted = false;
        // Asked again soon after: back off.
        r.streak += 1;
        let delay = backoff(&self.cfg, r.streak);
        r.not_before = Some(now + delay);
        let mut topics: Vec<String> = self.parts.keys().map(|(t, _)| t.to_string()).collect();
        topics.sort();
        topics.dedup();
        let (cluster, tx) = (self.cluster.clone(), self.ev_tx.clone());
        tokio::spawn(async move {
            let _ = cluster.refresh(&topics).await;
            let _ = tx.send(Event::Metadata);
        });
    }

    /// Sends what may go now: one Produce request per broker per round,
    /// each with at most one batch per partition (Kafka's rule), rounds
    /// repeated while brokers have room for more requests in flight.
    fn send_ready(&mut self, now: Instant) {
        while self.send_round(now) {}
    }

    fn send_round(&mut self, now: Instant) -> bool {
        if self.fatal.is_some() {
            return false;
        }
        let max_in_flight = self.cfg.cluster.conn.max_in_flight;
        let max_request = self.cfg.max_request_size;
        // Per broker: the batches (partition, id), the request's size so
        // far, and the bytes to send.
        type Draft = (Vec<(Tp, u64)>, usize, Vec<(Tp, Bytes)>);
        let mut requests: HashMap<i32, Draft> = HashMap::new();
        let mut leaderless = false;
        for (tp, part) in self.parts.iter_mut() {
            let Some(i) = part.first_idle() else { continue };
            let leader = self.cluster.topic(&tp.0).and_then(|t| t.partitions.get(tp.1 as usize).map(|p| p.leader)).unwrap_or(-1);
            if leader < 0 {
                leaderless = true;
                continue;
            }
            // A request already being built for this broker takes more
            // partitions without adding to its requests in flight.
            if !requests.contains_key(&leader) && self.sinks.in_flight(leader) >= max_in_flight {
                continue;
            }
            let b = part.get(i).expect("index from first_idle");
            let (retry_at, possibly_written, size, unnumbered) = (b.retry_at, b.possibly_written, b.sealed.size(), b.seq.is_none());
            if retry_at > now {
                continue;
            }
            // While a reset waits, only a batch whose outcome is unknown
            // goes out again (unchanged), to learn it.
            if part.reset_wanted && !possibly_written {
                continue;
            }
            let pair = if !self.idempotent {
                (-1, -1)
            } else if let Some(pair) = part.pair {
                pair
            } else if let Some(pair) = self.ids.current() {
                part.pair = Some(pair);
                pair
            } else {
                continue;
            };
            let limit = if part.recovering() || (self.idempotent && !part.confirmed) { 1 } else { max_in_flight };
            if part.in_flight() >= limit {
                continue;
            }
            let used = requests.get(&leader).map(|r| r.1).unwrap_or(0);
            if used > 0 && used + size > max_request {
                continue;
            }
            if unnumbered && !self.ids.may_send(tp) {
                continue;
            }
            if self.idempotent && unnumbered {
                let next = part.next_seq;
                let b = part.at_mut(i);
                b.seq = Some(next);
                b.encoded = None;
                let count = b.sealed.count;
                part.next_seq = seq_add(next, count);
            }
            let b = part.at_mut(i);
            let id = b.id;
            let bytes = match b.bytes(pair.0, pair.1) {
                Ok(bytes) => bytes,
                Err(_) => continue,
            };
            let entry = requests.entry(leader).or_insert_with(|| (Vec::new(), 0, Vec::new()));
            entry.0.push((tp.clone(), id));
            entry.1 += bytes.len();
            entry.2.push((tp.clone(), bytes));
            part.mark_in_flight(i);
        }
        if leaderless {
            self.refresh.wanted = true;
        } else if !requests.is_empty() {
            // Leaders are known again: the next refresh may come quickly.
            self.refresh.streak = 0;
        }
        let sent = !requests.is_empty();
        let timeout_ms = self.cfg.cluster.conn.request_timeout.as_millis().min(i32::MAX as u128) as i32;
        for (broker, (items, _, data)) in requests {
            let request = build_request(self.cfg.acks, timeout_ms, None, data);
            self.sinks.send(broker, Job { items, request });
        }
        sent
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Metadata => self.refresh.running = false,
            Event::ProducerId(r) => {
                let backoff_of = |n| backoff(&self.cfg, n);
                if let Err(e) = self.ids.finish(r, &backoff_of) {
                    self.fail_everything(e);
                }
            }
            Event::Produced(Produced { broker, items, result }) => {
                self.sinks.done(broker);
                match result {
                    Err(lost) => {
                        for (tp, id) in items {
                            self.answer(&tp, id, Answer::Lost { sent: lost.sent }, lost.error.clone());
                        }
                    }
                    Ok(None) => {
                        for (tp, id) in items {
                            self.answer(&tp, id, Answer::Written { offset: -1, log_append_time: -1 }, Error::Closed);
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
                                Some((ErrorCode::NONE, offset, lat)) => self.answer(&tp, id, Answer::Written { offset, log_append_time: lat }, Error::Closed),
                                Some((code, _, _)) => self.answer(&tp, id, Answer::Code(code), Error::Kafka(code)),
                                None => self.answer(&tp, id, Answer::Lost { sent: true }, Error::Io("partition missing from the Produce response".into())),
                            }
                        }
                    }
                }
            }
        }
    }

    /// The facts about the batch at position `i` of a partition.
    fn facts(&self, tp: &Tp, i: usize) -> Facts {
        let part = &self.parts[tp];
        let b = part.get(i).expect("present");
        Facts {
            idempotent: self.idempotent,
            sequenced: b.seq.is_some(),
            oldest: i == 0,
            possibly_written: b.possibly_written,
            others_in_flight: part.in_flight() > usize::from(b.in_flight),
            records: b.sealed.count,
            attempts: b.attempts,
            retries: self.cfg.retries,
        }
    }

    /// An answer for a batch that was in flight.
    fn answer(&mut self, tp: &Tp, id: u64, answer: Answer, err: Error) {
        let Some(part) = self.parts.get_mut(tp) else { return };
        let Some(i) = part.returned(id, !matches!(answer, Answer::Written { .. })) else { return };
        let facts = self.facts(tp, i);
        self.apply(tp, id, facts, decide(facts, answer), err);
    }

    /// Carries out the table's action for a batch.
    fn apply(&mut self, tp: &Tp, id: u64, facts: Facts, action: Action, err: Error) {
        match action {
            Action::Complete { offset, log_append_time } => {
                let Some(part) = self.parts.get_mut(tp) else { return };
                let Some(b) = part.remove(id) else { return };
                if b.seq.is_some() {
                    part.confirmed = true;
                }
                self.memory.add_permits(b.sealed.reserved);
                self.flushes.done(b.flush_key);
                b.sealed.complete(&tp.0, tp.1, offset, log_append_time);
            }
            Action::Retry { possibly_written, refresh } => {
                if refresh {
                    self.refresh.wanted = true;
                }
                let delay = backoff(&self.cfg, facts.attempts.max(1));
                if let Some(b) = self.parts.get_mut(tp).and_then(|p| p.get_mut(id)) {
                    b.possibly_written = possibly_written;
                    b.last_error = Some(err);
                    b.retry_at = Instant::now() + delay;
                }
            }
            Action::RetryAfterReset => {
                let delay = backoff(&self.cfg, facts.attempts.max(1));
                if let Some(part) = self.parts.get_mut(tp) {
                    part.reset_wanted = true;
                    if let Some(b) = part.get_mut(id) {
                        b.possibly_written = false;
                        b.last_error = Some(err);
                        b.retry_at = Instant::now() + delay;
                    }
                }
            }
            Action::Split => {
                if !self.split(tp, id) {
                    let fallback = Action::Fail { code: Some(ErrorCode::MESSAGE_TOO_LARGE), possibly_written: false, later: Later::Shift };
                    let fallback = match decide(Facts { records: 1, ..facts }, Answer::Code(ErrorCode::MESSAGE_TOO_LARGE)) {
                        a @ Action::Fail { .. } => a,
                        _ => fallback,
                    };
                    self.apply(tp, id, facts, fallback, err);
                }
            }
            Action::Fail { code: _, possibly_written, later } => {
                if let Some(b) = self.parts.get_mut(tp).and_then(|p| p.remove(id)) {
                    self.fail_batch(tp, b, possibly_written, later, err);
                }
            }
        }
    }

    /// Fails a batch already taken out of its partition's queue, and
    /// settles the sequences behind it.
    fn fail_batch(&mut self, tp: &Tp, b: Batch, possibly_written: bool, later: Later, err: Error) {
        if let Some(part) = self.parts.get_mut(tp) {
            match later {
                Later::Keep => {}
                Later::Shift => part.shift_after_removed(b.sealed.count),
                Later::Reset => part.reset_wanted = true,
            }
        }
        self.memory.add_permits(b.sealed.reserved);
        self.flushes.done(b.flush_key);
        let err = if possibly_written { Error::PossiblyWritten(Box::new(err)) } else { err };
        self.ids.batch_failed(tp, &err);
        b.sealed.fail(err);
    }

    /// MESSAGE_TOO_LARGE for a batch of several records: split it in two
    /// in place (see `split`). False when it cannot be split.
    fn split(&mut self, tp: &Tp, id: u64) -> bool {
        let (codec, level) = (self.cfg.compression, self.cfg.compression_level);
        let Some(part) = self.parts.get_mut(tp) else { return false };
        let Some(i) = part.index_of(id) else { return false };
        let parent = part.remove_at(i).expect("found");
        let flush_key = parent.flush_key;
        let next_id = &mut self.next_id;
        match split_in_two(parent, codec, level, || {
            *next_id += 1;
            *next_id
        }) {
            Ok((halves, released)) => {
                self.memory.add_permits(released);
                for (n, b) in halves.into_iter().enumerate() {
                    self.flushes.add(flush_key);
                    part.insert(i + n, b);
                }
                self.flushes.done(flush_key);
                true
            }
            Err(parent) => {
                part.insert(i, *parent);
                false
            }
        }
    }

    /// A fatal error: fail every record, queued or open, and refuse more.
    fn fail_everything(&mut self, e: Error) {
        self.fatal = Some(e.clone());
        let memory = self.memory.clone();
        self.acc.take_each(|_, o| {
            memory.add_permits(o.reserved);
            for (d, _) in o.deliveries {
                let _ = d.send(Err(Error::Fatal(Box::new(e.clone()))));
            }
        });
        for part in self.parts.values_mut() {
            for b in part.drain() {
                self.memory.add_permits(b.sealed.reserved);
                self.flushes.done(b.flush_key);
                b.sealed.fail(Error::Fatal(Box::new(e.clone())));
            }
        }
    }

    /// Answers the close waiter once everything is done; true when the
    /// engine should stop.
    fn finish_close(&mut self) -> bool {
        if self.close_waiter.is_none() || !self.flushes.is_idle() || !self.acc.is_empty() {
            return false;
        }
        if let Some(w) = self.close_waiter.take() {
            let _ = w.send(());
        }
        true
    }
}

/// `retry.backoff.ms` doubling per attempt up to `retry.backoff.max.ms`
/// (never below the base), with jitter.
fn backoff(cfg: &ProducerConfig, attempts: u32) -> Duration {
    crate::backoff::exponential(cfg.retry_backoff, cfg.retry_backoff_max.max(cfg.retry_backoff), attempts)
}
