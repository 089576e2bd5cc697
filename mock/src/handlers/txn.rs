//! The transaction coordinator's APIs: InitProducerId, AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn, TxnOffsetCommit, DescribeTransactions,
//! ListTransactions, and DescribeProducers (the partition leader's view).

use std::collections::BTreeMap;

use ferrokafka_protocol::messages::*;
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::{errors, Ctx};
use crate::state::group::CommittedOffset;
use crate::state::txn::TxnState;
use crate::state::{Cluster, GROUP_KEY, TXN_KEY};

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

/// Handles the APIs of this module other than InitProducerId; `None` for
/// any other request.
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

/// The state says PRODUCER_FENCED for a stale epoch; clients older than
/// the request version that introduced that code are told
/// INVALID_PRODUCER_EPOCH instead.
fn worded(e: ErrorCode, knows_fenced: bool) -> ErrorCode {
    if e == ErrorCode::PRODUCER_FENCED && !knows_fenced {
        ErrorCode::INVALID_PRODUCER_EPOCH
    } else {
        e
    }
}

/// The error half of a transactional id's checks: NOT_COORDINATOR when
/// this broker does not coordinate it.
fn coordinates(cluster: &Cluster, ctx: &Ctx, tid: &str) -> Result<(), ErrorCode> {
    if cluster.is_coordinator(TXN_KEY, tid, ctx.broker) {
        Ok(())
    } else {
        Err(ErrorCode::NOT_COORDINATOR)
    }
}

pub fn init_producer_id(cluster: &mut Cluster, ctx: &Ctx, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let v = ctx.version();
    let mut resp = InitProducerIdResponse { producer_id: -1, producer_epoch: -1, ..Default::default() };
    let outcome = match req.transactional_id.filter(|t| !t.is_empty()) {
        None => Ok(cluster.init_idempotent_producer()),
        Some(tid) => {
            // A KIP-360 retry (v3+) names the id and epoch it had.
            let current = (v >= 3 && req.producer_id >= 0).then_some((req.producer_id, req.producer_epoch));
            coordinates(cluster, ctx, &tid).and_then(|()| cluster.init_transactional_producer(&tid, req.transaction_timeout_ms, current))
        }
    };
    match outcome {
        Ok((pid, epoch)) => {
            resp.producer_id = pid;
            resp.producer_epoch = epoch;
        }
        Err(e) => resp.error_code = worded(e, v >= 4).0,
    }
    resp
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

/// The (topic, partition) pairs of AddPartitionsToTxn topics, in order.
fn flatten(topics: &[add_partitions_to_txn_request::AddPartitionsToTxnTopic]) -> Vec<(String, i32)> {
    topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.name.clone(), *p))).collect()
}

/// Writes per-partition outcomes, in order, into a response's topics.
fn set_codes(topics: &mut [add_partitions_to_txn_response::AddPartitionsToTxnTopicResult], codes: &[ErrorCode]) {
    let results = topics.iter_mut().flat_map(|t| t.results_by_partition.iter_mut());
    for (pr, code) in results.zip(codes) {
        pr.partition_error_code = code.0;
    }
}

fn add_partitions(cluster: &mut Cluster, ctx: &Ctx, req: &AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse {
    let v = ctx.version();
    if v >= 4 {
        // The broker-to-coordinator form (KIP-890): several transactions,
        // optionally only verifying membership.
        let mut resp = AddPartitionsToTxnResponse::default();
        for t in &req.transactions {
            let one = AddPartitionsToTxnRequest { transactions: vec![t.clone()], ..Default::default() };
            let partitions = flatten(&t.topics);
            let outcome = coordinates(cluster, ctx, &t.transactional_id).and_then(|()| {
                cluster.add_partitions_from_broker(&t.transactional_id, t.producer_id, t.producer_epoch, &partitions, t.verify_only)
            });
            let r = match outcome {
                Err(e) => add_partitions_error(&one, v, e),
                Ok(codes) => {
                    let mut r = add_partitions_error(&one, v, ErrorCode::NONE);
                    set_codes(&mut r.results_by_transaction[0].topic_results, &codes);
                    r
                }
            };
            resp.results_by_transaction.extend(r.results_by_transaction);
        }
        return resp;
    }
    let tid = &req.v3_and_below_transactional_id;
    let partitions = flatten(&req.v3_and_below_topics);
    let outcome = coordinates(cluster, ctx, tid)
        .and_then(|()| cluster.add_partitions_to_txn(tid, req.v3_and_below_producer_id, req.v3_and_below_producer_epoch, &partitions));
    match outcome {
        Err(e) => add_partitions_error(req, v, worded(e, v >= 2)),
        Ok(codes) => {
            let mut resp = add_partitions_error(req, v, ErrorCode::NONE);
            set_codes(&mut resp.results_by_topic_v3_and_below, &codes);
            resp
        }
    }
}

fn add_offsets(cluster: &mut Cluster, ctx: &Ctx, req: &AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let mut resp = AddOffsetsToTxnResponse::default();
    let tid = &req.transactional_id;
    let outcome = coordinates(cluster, ctx, tid).and_then(|()| cluster.add_offsets_to_txn(tid, req.producer_id, req.producer_epoch, &req.group_id));
    if let Err(e) = outcome {
        resp.error_code = worded(e, ctx.version() >= 2).0;
    }
    resp
}

fn end_txn(cluster: &mut Cluster, ctx: &Ctx, req: &EndTxnRequest) -> EndTxnResponse {
    let v = ctx.version();
    let mut resp = EndTxnResponse::default();
    let tid = &req.transactional_id;
    let outcome = coordinates(cluster, ctx, tid).and_then(|()| cluster.end_txn(tid, req.producer_id, req.producer_epoch, req.committed, v >= 5));
    match outcome {
        Ok(Some((pid, epoch))) => {
            resp.producer_id = pid;
            resp.producer_epoch = epoch;
        }
        Ok(None) => {}
        Err(e) => resp.error_code = worded(e, v >= 2).0,
    }
    resp
}

fn txn_offset_commit(cluster: &mut Cluster, ctx: &Ctx, req: &TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let v = ctx.version();
    let answer = |code: ErrorCode| {
        errors::error_response(&RequestBody::TxnOffsetCommit(req.clone()), v, code)
            .and_then(|r| if let ResponseBody::TxnOffsetCommit(r) = r { Some(r) } else { None })
            .expect("TxnOffsetCommit has an error response")
    };
    if !cluster.is_coordinator(GROUP_KEY, &req.group_id, ctx.broker) {
        return answer(ErrorCode::NOT_COORDINATOR);
    }
    // KIP-447 (v3+): the consumer's group generation must still be current.
    let member = (v >= 3 && !req.member_id.is_empty()).then_some((req.member_id.as_str(), req.generation_id, req.group_instance_id.as_deref()));
    let offsets = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let committed = CommittedOffset { offset: p.committed_offset, leader_epoch: p.committed_leader_epoch, metadata: p.committed_metadata.clone() };
                ((t.name.clone(), p.partition_index), committed)
            })
        })
        .collect();
    match cluster.txn_offset_commit(&req.transactional_id, req.producer_id, req.producer_epoch, &req.group_id, member, offsets) {
        Ok(()) => answer(ErrorCode::NONE),
        Err(e) => answer(worded(e, v >= 3)),
    }
}

fn describe_transactions(cluster: &mut Cluster, ctx: &Ctx, req: &DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let mut resp = DescribeTransactionsResponse::default();
    for tid in &req.transactional_ids {
        let meta = cluster.describe_transaction(tid);
        let mut s = describe_transactions_response::TransactionState { transactional_id: tid.clone(), ..Default::default() };
        if !cluster.is_coordinator(TXN_KEY, tid, ctx.broker) {
            s.error_code = ErrorCode::NOT_COORDINATOR.0;
        } else if let Some(m) = meta {
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

/// Every state name Kafka knows, whether the mock reaches it or not; a
/// filter naming anything else is reported back as unknown.
const KAFKA_TXN_STATES: [&str; 8] = ["Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"];

fn list_transactions(cluster: &mut Cluster, req: &ListTransactionsRequest) -> ListTransactionsResponse {
    let listed = cluster.list_transactions(&req.state_filters, &req.producer_id_filters, req.duration_filter);
    ListTransactionsResponse {
        unknown_state_filters: req.state_filters.iter().filter(|s| !KAFKA_TXN_STATES.contains(&s.as_str())).cloned().collect(),
        transaction_states: listed
            .into_iter()
            .map(|(tid, pid, state)| list_transactions_response::TransactionState {
                transactional_id: tid,
                producer_id: pid,
                transaction_state: state.name().into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
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
