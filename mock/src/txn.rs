//! The transaction coordinator: producer ids and epochs (InitProducerId,
//! KIP-360 bumps), AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit's
//! pending offsets, EndTxn with commit/abort markers on every partition,
//! `transaction.timeout.ms`, and the describe/list APIs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ferrokafka_protocol::messages::*;
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use crate::cluster::{now_ms, Cluster, CommittedOffset};
use crate::handlers::Ctx;

const TXN_KEY: i8 = 1;

/// Kafka's transaction states (as DescribeTransactions names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }
}

/// One transactional id's state.
#[derive(Debug, Clone)]
pub struct TxnMeta {
    pub producer_id: i64,
    pub epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub groups: BTreeSet<String>,
    pub start_ms: i64,
    /// While markers are "being written": requests get CONCURRENT_TRANSACTIONS.
    pub markers_until_ms: i64,
}

#[derive(Debug, Default)]
pub struct TxnCoordinator {
    pub txns: BTreeMap<String, TxnMeta>,
    /// Offsets committed inside a transaction, visible on commit:
    /// (group, producer id) -> partition -> offset.
    pub pending_offsets: HashMap<(String, i64), BTreeMap<(String, i32), CommittedOffset>>,
    /// How long markers take to write (0: at once).
    pub marker_latency_ms: i64,
}

impl TxnCoordinator {
    /// Called by Produce for transactional batches.
    pub fn check_produce(&mut self, tid: Option<&str>, pid: i64, epoch: i16, topic: &str, partition: i32, tv2: bool) -> Result<(), ErrorCode> {
        let meta = match tid {
            Some(t) => self.txns.get_mut(t),
            None => self.txns.values_mut().find(|m| m.producer_id == pid),
        };
        let Some(meta) = meta else { return Err(ErrorCode::INVALID_TXN_STATE) };
        if meta.producer_id != pid {
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        }
        if epoch < meta.epoch {
            return Err(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        let key = (topic.to_string(), partition);
        if meta.state == TxnState::Ongoing && meta.partitions.contains(&key) {
            return Ok(());
        }
        if tv2 && matches!(meta.state, TxnState::Empty | TxnState::Ongoing | TxnState::CompleteCommit | TxnState::CompleteAbort) {
            if meta.state != TxnState::Ongoing {
                meta.state = TxnState::Ongoing;
                meta.start_ms = now_ms();
            }
            meta.partitions.insert(key);
            return Ok(());
        }
        // Kafka 3.8 verifies with the coordinator (KIP-890 part 1) and
        // refuses writes to partitions the transaction did not add.
        Err(ErrorCode::INVALID_TXN_STATE)
    }

    /// Pending transactional offsets of `group` for this partition?
    pub fn has_pending_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.pending_offsets
            .iter()
            .any(|((g, _), offs)| g == group && offs.contains_key(&(topic.to_string(), partition)))
    }
}

/// Whether this module handles `api`.
pub fn handles(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::InitProducerId
            | ApiKey::AddPartitionsToTxn
            | ApiKey::AddOffsetsToTxn
            | ApiKey::EndTxn
            | ApiKey::TxnOffsetCommit
            | ApiKey::DescribeTransactions
            | ApiKey::ListTransactions
            | ApiKey::DescribeProducers
    )
}

pub fn dispatch(cluster: &mut Cluster, ctx: &Ctx, body: &RequestBody) -> Option<ResponseBody> {
    Some(match body {
        RequestBody::AddPartitionsToTxn(r) => ResponseBody::AddPartitionsToTxn(add_partitions(cluster, ctx, r)),
        RequestBody::AddOffsetsToTxn(r) => ResponseBody::AddOffsetsToTxn(add_offsets(cluster, ctx, r)),
        RequestBody::EndTxn(r) => ResponseBody::EndTxn(end_txn(cluster, ctx, r)),
        RequestBody::TxnOffsetCommit(r) => ResponseBody::TxnOffsetCommit(txn_offset_commit(cluster, ctx, r)),
        RequestBody::DescribeTransactions(r) => ResponseBody::DescribeTransactions(describe_transactions(cluster, ctx, r)),
        RequestBody::ListTransactions(r) => ResponseBody::ListTransactions(list_transactions(cluster, r)),
        RequestBody::DescribeProducers(r) => ResponseBody::DescribeProducers(describe_producers(cluster, ctx, r)),
        _ => return None,
    })
}

/// The fencing error for a stale epoch: PRODUCER_FENCED for clients new
/// enough to know it (the version that introduced it per API), else
/// INVALID_PRODUCER_EPOCH.
fn fenced(new_enough: bool) -> ErrorCode {
    if new_enough {
        ErrorCode::PRODUCER_FENCED
    } else {
        ErrorCode::INVALID_PRODUCER_EPOCH
    }
}

/// Brings a transaction's state up to date: finishes marker writes whose
/// time has come and aborts a transaction past its timeout (bumping the
/// epoch, as Kafka does, so the late producer is fenced).
pub fn refresh(cluster: &mut Cluster, tid: &str, now: i64) {
    let Some(meta) = cluster.txn.txns.get_mut(tid) else { return };
    match meta.state {
        TxnState::PrepareCommit if now >= meta.markers_until_ms => meta.state = TxnState::CompleteCommit,
        TxnState::PrepareAbort if now >= meta.markers_until_ms => meta.state = TxnState::CompleteAbort,
        TxnState::Ongoing if now > meta.start_ms + i64::from(meta.timeout_ms) => {
            meta.epoch = meta.epoch.saturating_add(1);
            complete(cluster, tid, false, now);
        }
        _ => {}
    }
}

/// Expires timed-out transactions everywhere (called periodically).
pub fn tick(cluster: &mut Cluster) {
    let now = now_ms();
    let ids: Vec<String> = cluster.txn.txns.keys().cloned().collect();
    for tid in ids {
        refresh(cluster, &tid, now);
    }
}

/// Writes markers for the transaction's partitions with its current epoch,
/// applies or drops its offsets, and moves to Prepare*/Complete*.
fn complete(cluster: &mut Cluster, tid: &str, commit: bool, now: i64) {
    let latency = cluster.txn.marker_latency_ms;
    let Some(meta) = cluster.txn.txns.get_mut(tid) else { return };
    let (pid, epoch) = (meta.producer_id, meta.epoch);
    let partitions: Vec<(String, i32)> = std::mem::take(&mut meta.partitions).into_iter().collect();
    let groups: Vec<String> = std::mem::take(&mut meta.groups).into_iter().collect();
    meta.state = match (commit, latency > 0) {
        (true, true) => TxnState::PrepareCommit,
        (false, true) => TxnState::PrepareAbort,
        (true, false) => TxnState::CompleteCommit,
        (false, false) => TxnState::CompleteAbort,
    };
    meta.markers_until_ms = now + latency;
    for (topic, p) in partitions {
        if let Some(part) = cluster.partition_mut(&topic, p) {
            part.log.write_marker(pid, epoch, commit, 0, now);
        }
    }
    for g in groups {
        if let Some(offsets) = cluster.txn.pending_offsets.remove(&(g.clone(), pid)) {
            if commit {
                cluster.offsets.entry(g).or_default().extend(offsets);
            }
        }
    }
}

pub fn init_producer_id(cluster: &mut Cluster, ctx: &Ctx, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let v = ctx.version();
    let mut resp = InitProducerIdResponse { producer_id: -1, producer_epoch: -1, ..Default::default() };
    let (req_pid, req_epoch) = if v >= 3 { (req.producer_id, req.producer_epoch) } else { (-1, -1) };
    let Some(tid) = req.transactional_id.filter(|t| !t.is_empty()) else {
        // Idempotent producer: always a new id at epoch 0, whatever id and
        // epoch it names (as Kafka 4.4 answers; the KIP-360 bump of the same
        // id is for transactional producers; an idempotent one bumps its
        // epoch by itself).
        resp.producer_id = next_pid(cluster);
        resp.producer_epoch = 0;
        return resp;
    };
    let err = |resp: &mut InitProducerIdResponse, e: ErrorCode| resp.error_code = e.0;
    if !cluster.is_coordinator(TXN_KEY, &tid, ctx.broker) {
        err(&mut resp, ErrorCode::NOT_COORDINATOR);
        return resp;
    }
    if req.transaction_timeout_ms <= 0 || i64::from(req.transaction_timeout_ms) > cluster.config.max_transaction_timeout.as_millis() as i64 {
        err(&mut resp, ErrorCode::INVALID_TRANSACTION_TIMEOUT);
        return resp;
    }
    let now = now_ms();
    refresh(cluster, &tid, now);
    if !cluster.txn.txns.contains_key(&tid) {
        let pid = next_pid(cluster);
        cluster.txn.txns.insert(
            tid.clone(),
            TxnMeta {
                producer_id: pid,
                epoch: 0,
                timeout_ms: req.transaction_timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                groups: BTreeSet::new(),
                start_ms: now,
                markers_until_ms: 0,
            },
        );
        resp.producer_id = pid;
        resp.producer_epoch = 0;
        return resp;
    }
    let meta = cluster.txn.txns.get(&tid).expect("present").clone();
    if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
        err(&mut resp, ErrorCode::CONCURRENT_TRANSACTIONS);
        return resp;
    }
    if req_pid >= 0 && (req_pid != meta.producer_id || req_epoch != meta.epoch) {
        // A KIP-360 retry must name the current id and epoch.
        err(&mut resp, fenced(v >= 4));
        return resp;
    }
    if meta.state == TxnState::Ongoing {
        // Fence the old producer: abort its transaction with a bumped
        // epoch; the caller retries once the markers are written (Kafka
        // answers CONCURRENT_TRANSACTIONS here, as the captures show).
        let m = cluster.txn.txns.get_mut(&tid).expect("present");
        m.epoch += 1;
        complete(cluster, &tid, false, now);
        err(&mut resp, ErrorCode::CONCURRENT_TRANSACTIONS);
        return resp;
    }
    let m = cluster.txn.txns.get_mut(&tid).expect("present");
    if m.epoch >= i16::MAX - 1 {
        let pid = {
            let id = cluster.next_producer_id;
            cluster.next_producer_id += 1;
            id
        };
        let m = cluster.txn.txns.get_mut(&tid).expect("present");
        m.producer_id = pid;
        m.epoch = 0;
    } else {
        m.epoch += 1;
    }
    let m = cluster.txn.txns.get_mut(&tid).expect("present");
    m.timeout_ms = req.transaction_timeout_ms;
    m.state = TxnState::Empty;
    resp.producer_id = m.producer_id;
    resp.producer_epoch = m.epoch;
    resp
}

fn next_pid(cluster: &mut Cluster) -> i64 {
    let id = cluster.next_producer_id;
    cluster.next_producer_id += 1;
    id
}

/// Checks common to the coordinator's APIs; returns the meta on success.
fn check_txn(cluster: &mut Cluster, ctx: &Ctx, tid: &str, pid: i64, epoch: i16, fenced_version: i16) -> Result<(), ErrorCode> {
    if !cluster.is_coordinator(TXN_KEY, tid, ctx.broker) {
        return Err(ErrorCode::NOT_COORDINATOR);
    }
    refresh(cluster, tid, now_ms());
    let meta = cluster.txn.txns.get(tid).ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
    if meta.producer_id != pid {
        return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
    }
    if epoch != meta.epoch {
        return Err(fenced(ctx.version() >= fenced_version));
    }
    if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
        return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
    }
    Ok(())
}

fn begin_if_needed(meta: &mut TxnMeta) {
    if meta.state != TxnState::Ongoing {
        meta.state = TxnState::Ongoing;
        meta.start_ms = now_ms();
    }
}

/// AddPartitionsToTxn refused with one error for every partition.
pub fn add_partitions_error(req: &AddPartitionsToTxnRequest, version: i16, code: ErrorCode) -> AddPartitionsToTxnResponse {
    let topics = |ts: &[add_partitions_to_txn_request::AddPartitionsToTxnTopic]| -> Vec<add_partitions_to_txn_response::AddPartitionsToTxnTopicResult> {
        ts.iter()
            .map(|t| add_partitions_to_txn_response::AddPartitionsToTxnTopicResult {
                name: t.name.clone(),
                results_by_partition: t
                    .partitions
                    .iter()
                    .map(|p| add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult {
                        partition_index: *p,
                        partition_error_code: code.0,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect()
    };
    let mut resp = AddPartitionsToTxnResponse::default();
    if version >= 4 {
        resp.results_by_transaction = req
            .transactions
            .iter()
            .map(|t| add_partitions_to_txn_response::AddPartitionsToTxnResult {
                transactional_id: t.transactional_id.clone(),
                topic_results: topics(&t.topics),
                ..Default::default()
            })
            .collect();
    } else {
        resp.results_by_topic_v3_and_below = topics(&req.v3_and_below_topics);
    }
    resp
}

fn add_partitions(cluster: &mut Cluster, ctx: &Ctx, req: &AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse {
    let v = ctx.version();
    if v >= 4 {
        // The broker-to-coordinator form (KIP-890): several transactions,
        // optionally only verifying membership.
        let mut resp = AddPartitionsToTxnResponse::default();
        for t in &req.transactions {
            let one = AddPartitionsToTxnRequest { transactions: vec![t.clone()], ..Default::default() };
            let r = match check_txn(cluster, ctx, &t.transactional_id, t.producer_id, t.producer_epoch, 0) {
                Err(e) => add_partitions_error(&one, v, if e == ErrorCode::INVALID_PRODUCER_EPOCH { ErrorCode::PRODUCER_FENCED } else { e }),
                Ok(()) => {
                    let meta = cluster.txn.txns.get_mut(&t.transactional_id).expect("checked");
                    let mut r = add_partitions_error(&one, v, ErrorCode::NONE);
                    for tr in &mut r.results_by_transaction[0].topic_results {
                        for pr in &mut tr.results_by_partition {
                            let key = (tr.name.clone(), pr.partition_index);
                            if t.verify_only {
                                if !(meta.state == TxnState::Ongoing && meta.partitions.contains(&key)) {
                                    pr.partition_error_code = ErrorCode::INVALID_TXN_STATE.0;
                                }
                            } else {
                                begin_if_needed(meta);
                                meta.partitions.insert(key);
                            }
                        }
                    }
                    r
                }
            };
            resp.results_by_transaction.extend(r.results_by_transaction);
        }
        return resp;
    }
    let tid = &req.v3_and_below_transactional_id;
    if let Err(e) = check_txn(cluster, ctx, tid, req.v3_and_below_producer_id, req.v3_and_below_producer_epoch, 2) {
        return add_partitions_error(req, v, e);
    }
    // Unknown partitions fail the whole request: those get the error, the
    // rest OPERATION_NOT_ATTEMPTED, and nothing is added.
    let unknown: Vec<(String, i32)> = req
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.clone(), *p)))
        .filter(|(t, p)| cluster.partition(t, *p).is_none())
        .collect();
    let mut resp = add_partitions_error(req, v, ErrorCode::NONE);
    if !unknown.is_empty() {
        for tr in &mut resp.results_by_topic_v3_and_below {
            for pr in &mut tr.results_by_partition {
                pr.partition_error_code = if unknown.contains(&(tr.name.clone(), pr.partition_index)) {
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0
                } else {
                    ErrorCode::OPERATION_NOT_ATTEMPTED.0
                };
            }
        }
        return resp;
    }
    let meta = cluster.txn.txns.get_mut(tid).expect("checked");
    begin_if_needed(meta);
    for t in &req.v3_and_below_topics {
        for p in &t.partitions {
            meta.partitions.insert((t.name.clone(), *p));
        }
    }
    resp
}

fn add_offsets(cluster: &mut Cluster, ctx: &Ctx, req: &AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let mut resp = AddOffsetsToTxnResponse::default();
    match check_txn(cluster, ctx, &req.transactional_id, req.producer_id, req.producer_epoch, 2) {
        Err(e) => resp.error_code = e.0,
        Ok(()) => {
            let meta = cluster.txn.txns.get_mut(&req.transactional_id).expect("checked");
            begin_if_needed(meta);
            meta.groups.insert(req.group_id.clone());
        }
    }
    resp
}

fn end_txn(cluster: &mut Cluster, ctx: &Ctx, req: &EndTxnRequest) -> EndTxnResponse {
    let v = ctx.version();
    let mut resp = EndTxnResponse::default();
    let tid = &req.transactional_id;
    let now = now_ms();
    if let Err(e) = check_txn(cluster, ctx, tid, req.producer_id, req.producer_epoch, 2) {
        // A retried EndTxn whose markers are still being written succeeds.
        let retry_ok = e == ErrorCode::CONCURRENT_TRANSACTIONS
            && cluster.txn.txns.get(tid).is_some_and(|m| {
                (m.state == TxnState::PrepareCommit && req.committed) || (m.state == TxnState::PrepareAbort && !req.committed)
            });
        if !retry_ok {
            resp.error_code = e.0;
            return resp;
        }
        return resp;
    }
    let meta = cluster.txn.txns.get_mut(tid).expect("checked");
    match (meta.state, req.committed) {
        (TxnState::Ongoing, commit) => {
            let tv2 = cluster.config.transactions_v2 && v >= 5;
            complete(cluster, tid, commit, now);
            if tv2 {
                // Transactions v2 bump the epoch at every transaction end.
                let meta = cluster.txn.txns.get_mut(tid).expect("checked");
                meta.epoch += 1;
                resp.producer_id = meta.producer_id;
                resp.producer_epoch = meta.epoch;
            }
        }
        // Retries of a completed end are answered as successes.
        (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {}
        _ => resp.error_code = ErrorCode::INVALID_TXN_STATE.0,
    }
    resp
}

fn txn_offset_commit(cluster: &mut Cluster, ctx: &Ctx, req: &TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let v = ctx.version();
    let fail = |code: ErrorCode| {
        crate::handlers::errors::error_response(&RequestBody::TxnOffsetCommit(req.clone()), v, code)
            .and_then(|r| if let ResponseBody::TxnOffsetCommit(r) = r { Some(r) } else { None })
            .expect("TxnOffsetCommit has an error response")
    };
    if !cluster.is_coordinator(0, &req.group_id, ctx.broker) {
        return fail(ErrorCode::NOT_COORDINATOR);
    }
    // The transaction must be this producer's current one.
    match cluster.txn.txns.get(&req.transactional_id) {
        Some(m) if m.producer_id == req.producer_id && m.epoch == req.producer_epoch => {}
        Some(m) if m.producer_id == req.producer_id => return fail(fenced(v >= 3)),
        _ => return fail(ErrorCode::INVALID_PRODUCER_ID_MAPPING),
    }
    // KIP-447: the consumer's group generation must still be current.
    if v >= 3 && !req.member_id.is_empty() {
        if let Err(e) = crate::group::check_member(cluster, &req.group_id, &req.member_id, req.generation_id, req.group_instance_id.as_deref()) {
            return fail(e);
        }
    }
    let pending = cluster.txn.pending_offsets.entry((req.group_id.clone(), req.producer_id)).or_default();
    for t in &req.topics {
        for p in &t.partitions {
            pending.insert(
                (t.name.clone(), p.partition_index),
                CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.clone(),
                },
            );
        }
    }
    fail(ErrorCode::NONE)
}

fn describe_transactions(cluster: &mut Cluster, ctx: &Ctx, req: &DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let now = now_ms();
    let mut resp = DescribeTransactionsResponse::default();
    for tid in &req.transactional_ids {
        refresh(cluster, tid, now);
        let mut s = describe_transactions_response::TransactionState { transactional_id: tid.clone(), ..Default::default() };
        if !cluster.is_coordinator(TXN_KEY, tid, ctx.broker) {
            s.error_code = ErrorCode::NOT_COORDINATOR.0;
        } else if let Some(m) = cluster.txn.txns.get(tid) {
            s.transaction_state = m.state.name().into();
            s.transaction_timeout_ms = m.timeout_ms;
            s.transaction_start_time_ms = if m.state == TxnState::Ongoing { m.start_ms } else { -1 };
            s.producer_id = m.producer_id;
            s.producer_epoch = m.epoch;
            let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in &m.partitions {
                by_topic.entry(t.clone()).or_default().push(*p);
            }
            s.topics = by_topic
                .into_iter()
                .map(|(topic, partitions)| describe_transactions_response::TopicData { topic, partitions, ..Default::default() })
                .collect();
        } else {
            s.error_code = ErrorCode::TRANSACTIONAL_ID_NOT_FOUND.0;
        }
        resp.transaction_states.push(s);
    }
    resp
}

fn list_transactions(cluster: &mut Cluster, req: &ListTransactionsRequest) -> ListTransactionsResponse {
    tick(cluster);
    let known = ["Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"];
    let mut resp = ListTransactionsResponse {
        unknown_state_filters: req.state_filters.iter().filter(|s| !known.contains(&s.as_str())).cloned().collect(),
        ..Default::default()
    };
    let now = now_ms();
    for (tid, m) in &cluster.txn.txns {
        if !req.state_filters.is_empty() && !req.state_filters.iter().any(|s| s == m.state.name()) {
            continue;
        }
        if !req.producer_id_filters.is_empty() && !req.producer_id_filters.contains(&m.producer_id) {
            continue;
        }
        if req.duration_filter >= 0 && !(m.state == TxnState::Ongoing && now - m.start_ms >= req.duration_filter) {
            continue;
        }
        resp.transaction_states.push(list_transactions_response::TransactionState {
            transactional_id: tid.clone(),
            producer_id: m.producer_id,
            transaction_state: m.state.name().into(),
            ..Default::default()
        });
    }
    resp
}

fn describe_producers(cluster: &Cluster, ctx: &Ctx, req: &DescribeProducersRequest) -> DescribeProducersResponse {
    let mut resp = DescribeProducersResponse::default();
    for t in &req.topics {
        let mut tr = describe_producers_response::TopicResponse { name: t.name.clone(), ..Default::default() };
        for &p in &t.partition_indexes {
            let mut pr = describe_producers_response::PartitionResponse { partition_index: p, ..Default::default() };
            match cluster.partition(&t.name, p) {
                None => pr.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0,
                Some(part) if part.leader != ctx.broker => pr.error_code = ErrorCode::NOT_LEADER_OR_FOLLOWER.0,
                Some(part) => {
                    for (pid, s) in &part.log.producers {
                        let (last_seq, last_ts) = s.last_batch().unwrap_or((-1, -1));
                        pr.active_producers.push(describe_producers_response::ProducerState {
                            producer_id: *pid,
                            producer_epoch: i32::from(s.epoch),
                            last_sequence: last_seq,
                            last_timestamp: last_ts,
                            coordinator_epoch: s.coordinator_epoch,
                            current_txn_start_offset: s.txn_first_offset.unwrap_or(-1),
                            ..Default::default()
                        });
                    }
                    pr.active_producers.sort_by_key(|s| s.producer_id);
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
