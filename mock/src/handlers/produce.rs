//! Produce: validate, apply idempotence and transaction rules, append.

use ferrokafka_protocol::messages::{produce_response, ProduceRequest, ProduceResponse};
use ferrokafka_protocol::ErrorCode;

use super::Ctx;
use crate::cluster::{now_ms, Cluster};
use crate::log::LogRules;

/// Returns `None` for acks=0 (no response is sent).
pub fn produce(cluster: &mut Cluster, ctx: &Ctx, req: ProduceRequest) -> Option<ProduceResponse> {
    let v = ctx.version();
    let acks_ok = matches!(req.acks, -1..=1);
    let rules = LogRules { strict_unknown_producer: cluster.config.strict_unknown_producer };
    let now = now_ms();
    let mut resp = ProduceResponse::default();
    let mut appended = false;
    for topic in req.topic_data {
        let mut tr = produce_response::TopicProduceResponse { name: topic.name.clone(), ..Default::default() };
        for part in topic.partition_data {
            let mut pr = produce_response::PartitionProduceResponse { index: part.index, base_offset: -1, ..Default::default() };
            let result = append_one(cluster, ctx, &topic.name, part.index, part.records, now, rules, acks_ok, req.transactional_id.as_deref());
            match result {
                Ok((base, log_start)) => {
                    pr.base_offset = base;
                    if v >= 5 {
                        pr.log_start_offset = log_start;
                    }
                    appended = true;
                }
                Err(code) => {
                    pr.error_code = code.0;
                    *cluster.produce_errors.entry(code.0).or_default() += 1;
                    // Kafka reports the log start offset whenever the
                    // partition is its own, errors or not.
                    if v >= 5 {
                        if let Some(p) = cluster.partition(&topic.name, part.index).filter(|p| p.leader == ctx.broker) {
                            pr.log_start_offset = p.log.log_start_offset;
                        }
                    }
                    if v >= 10 && code == ErrorCode::NOT_LEADER_OR_FOLLOWER {
                        if let Some(p) = cluster.partition(&topic.name, part.index) {
                            pr.current_leader.leader_id = p.leader;
                            pr.current_leader.leader_epoch = p.log.leader_epoch;
                        }
                    }
                }
            }
            tr.partition_responses.push(pr);
        }
        resp.responses.push(tr);
    }
    let _ = appended;
    if req.acks == 0 {
        None
    } else {
        Some(resp)
    }
}

#[allow(clippy::too_many_arguments)]
fn append_one(
    cluster: &mut Cluster,
    ctx: &Ctx,
    topic: &str,
    partition: i32,
    records: Option<ferrokafka_protocol::bytes::Bytes>,
    now: i64,
    rules: LogRules,
    acks_ok: bool,
    transactional_id: Option<&str>,
) -> Result<(i64, i64), ErrorCode> {
    let part = cluster.partition(topic, partition).ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
    if part.leader != ctx.broker {
        return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
    }
    if !acks_ok {
        return Err(ErrorCode::INVALID_REQUIRED_ACKS);
    }
    let records = records.filter(|r| !r.is_empty()).ok_or(ErrorCode::INVALID_RECORD)?;
    // max.message.bytes (Kafka's default 1048588) bounds one batch.
    let max_message = cluster
        .topics
        .get(topic)
        .and_then(|t| t.configs.get("max.message.bytes"))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1_048_588);
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
    let tv2 = cluster.config.transactions_v2 && ctx.version() >= 12;
    let Cluster { txn, topics, .. } = cluster;
    // Kafka answers a failed verification with TRANSACTION_ABORTABLE from
    // Produce v11 on (KIP-890), INVALID_TXN_STATE to older clients.
    let abortable = ctx.version() >= 11;
    let txn_ok = |pid: i64, epoch: i16| {
        txn.check_produce(transactional_id, pid, epoch, topic, partition, tv2).map_err(|e| match e {
            ErrorCode::INVALID_TXN_STATE if abortable => ErrorCode::TRANSACTION_ABORTABLE,
            e => e,
        })
    };
    let part = topics.get_mut(topic).and_then(|t| t.partitions.get_mut(partition as usize)).expect("checked above");
    let appended = part.log.append(records, now, rules, txn_ok)?;
    Ok((appended.base_offset, part.log.log_start_offset))
}
