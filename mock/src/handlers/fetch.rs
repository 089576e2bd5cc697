//! Fetch (long poll, isolation levels, aborted-transaction lists),
//! ListOffsets and OffsetForLeaderEpoch.

use std::time::{Duration, Instant};

use ferrokafka_protocol::bytes::BytesMut;
use ferrokafka_protocol::messages::{
    fetch_response, list_offsets_response, offset_for_leader_epoch_response, FetchRequest, FetchResponse,
    ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use ferrokafka_protocol::wire::Uuid;
use ferrokafka_protocol::{ErrorCode, ResponseBody};

use super::{Ctx, Pending, Reply};
use crate::cluster::{Cluster, Partition};

const READ_COMMITTED: i8 = 1;

/// A Fetch waiting for data.
pub struct FetchWait {
    pub request: FetchRequest,
    pub deadline: Instant,
}

/// The leader-epoch check Kafka applies to fetches and offset look-ups.
fn check_leader(p: &Partition, broker: i32, current_leader_epoch: i32) -> Result<(), ErrorCode> {
    if p.leader != broker {
        return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
    }
    if current_leader_epoch >= 0 {
        if current_leader_epoch > p.log.leader_epoch {
            return Err(ErrorCode::UNKNOWN_LEADER_EPOCH);
        }
        if current_leader_epoch < p.log.leader_epoch {
            return Err(ErrorCode::FENCED_LEADER_EPOCH);
        }
    }
    Ok(())
}

fn resolve_topic(cluster: &Cluster, v: i16, name: &str, id: Uuid) -> Result<String, ErrorCode> {
    if v >= 13 {
        cluster.topic_by_id(id).map(|(n, _)| n.clone()).ok_or(ErrorCode::UNKNOWN_TOPIC_ID)
    } else if cluster.topics.contains_key(name) {
        Ok(name.to_string())
    } else {
        Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
    }
}

pub fn fetch(cluster: &mut Cluster, ctx: &Ctx, req: FetchRequest, deadline_passed: bool) -> Reply {
    let v = ctx.version();
    let mut resp = FetchResponse::default();
    if v >= 7 && req.session_id != 0 {
        // The mock refuses incremental fetch sessions (it always answers
        // session id 0, as a broker whose session cache is full does), so
        // any session id a client sends is unknown.
        resp.error_code = ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0;
        return Reply::Response(ResponseBody::Fetch(resp));
    }
    let isolation = if v >= 4 { req.isolation_level } else { 0 };
    let mut budget = if v >= 3 { req.max_bytes.max(0) as usize } else { usize::MAX };
    let mut total = 0usize;
    let mut any_error = false;
    for t in &req.topics {
        let mut tr = fetch_response::FetchableTopicResponse::default();
        if v >= 13 {
            tr.topic_id = t.topic_id;
        } else {
            tr.topic = t.topic.clone();
        }
        let name = resolve_topic(cluster, v, &t.topic, t.topic_id);
        for p in &t.partitions {
            let mut pr = fetch_response::PartitionData { partition_index: p.partition, high_watermark: -1, ..Default::default() };
            let epoch = if v >= 9 { p.current_leader_epoch } else { -1 };
            let part = name.as_ref().map_err(|e| *e).and_then(|n| {
                cluster.partition(n, p.partition).ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
            });
            let result = part.and_then(|part| {
                check_leader(part, ctx.broker, epoch).map_err(|e| (e, Some(part))).map_err(|(e, _)| e)?;
                Ok(part)
            });
            match result {
                Err(e) => {
                    any_error = true;
                    pr.error_code = e.0;
                    if v >= 12 && e == ErrorCode::NOT_LEADER_OR_FOLLOWER {
                        if let Ok(part) = name.as_ref().map_err(|_| ()).and_then(|n| cluster.partition(n, p.partition).ok_or(())) {
                            pr.current_leader.leader_id = part.leader;
                            pr.current_leader.leader_epoch = part.log.leader_epoch;
                        }
                    }
                    if v >= 4 {
                        pr.last_stable_offset = -1;
                    }
                    if v >= 5 {
                        pr.log_start_offset = -1;
                    }
                }
                Ok(part) => {
                    let log = &part.log;
                    pr.high_watermark = log.high_watermark();
                    if v >= 4 {
                        pr.last_stable_offset = log.last_stable_offset();
                    }
                    if v >= 5 {
                        pr.log_start_offset = log.log_start_offset;
                    }
                    if p.fetch_offset < log.log_start_offset || p.fetch_offset > log.high_watermark() {
                        // Kafka answers an out-of-range fetch with no
                        // watermarks at all (captured: errors/00570).
                        any_error = true;
                        pr.error_code = ErrorCode::OFFSET_OUT_OF_RANGE.0;
                        pr.high_watermark = -1;
                        if v >= 4 {
                            pr.last_stable_offset = -1;
                        }
                        if v >= 5 {
                            pr.log_start_offset = -1;
                        }
                    } else {
                        let upper = if isolation == READ_COMMITTED { log.last_stable_offset() } else { log.high_watermark() };
                        let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
                        let batches = if limit == 0 && total > 0 { Vec::new() } else { log.read(p.fetch_offset, upper, limit) };
                        let mut buf = BytesMut::new();
                        for b in &batches {
                            buf.extend_from_slice(b);
                        }
                        total += buf.len();
                        budget = budget.saturating_sub(buf.len());
                        if v >= 4 && isolation == READ_COMMITTED {
                            pr.aborted_transactions = Some(
                                log.aborted_in(p.fetch_offset, upper)
                                    .into_iter()
                                    .map(|a| fetch_response::AbortedTransaction {
                                        producer_id: a.producer_id,
                                        first_offset: a.first_offset,
                                        ..Default::default()
                                    })
                                    .collect(),
                            );
                        }
                        pr.records = Some(buf.freeze());
                    }
                }
            }
            tr.partitions.push(pr);
        }
        resp.responses.push(tr);
    }
    let enough = total >= req.min_bytes.max(1) as usize;
    if !enough && !any_error && !deadline_passed && req.max_wait_ms > 0 {
        let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms as u64);
        return Reply::Wait(Pending::Fetch(FetchWait { request: req, deadline }));
    }
    Reply::Response(ResponseBody::Fetch(resp))
}

pub fn list_offsets(cluster: &Cluster, ctx: &Ctx, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let v = ctx.version();
    let isolation = if v >= 2 { req.isolation_level } else { 0 };
    let mut resp = ListOffsetsResponse::default();
    for t in req.topics {
        let mut tr = list_offsets_response::ListOffsetsTopicResponse { name: t.name.clone(), ..Default::default() };
        for p in t.partitions {
            let mut pr = list_offsets_response::ListOffsetsPartitionResponse { partition_index: p.partition_index, ..Default::default() };
            let epoch = if v >= 4 { p.current_leader_epoch } else { -1 };
            let found = cluster
                .partition(&t.name, p.partition_index)
                .ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
                .and_then(|part| check_leader(part, ctx.broker, epoch).map(|_| part));
            match found {
                Err(e) => {
                    pr.error_code = e.0;
                    if v >= 1 {
                        pr.offset = -1;
                        pr.timestamp = -1;
                    }
                }
                Ok(part) => {
                    let log = &part.log;
                    let latest = if isolation == READ_COMMITTED { log.last_stable_offset() } else { log.high_watermark() };
                    let (offset, ts) = match p.timestamp {
                        -2 => (log.log_start_offset, -1),
                        -1 => (latest, -1),
                        -3 if v >= 7 => log.max_timestamp().unwrap_or((latest, -1)),
                        ts if ts >= 0 => log.offset_for_timestamp(ts).filter(|(o, _)| *o < latest).unwrap_or((-1, -1)),
                        _ => {
                            pr.error_code = ErrorCode::INVALID_REQUEST.0;
                            (-1, -1)
                        }
                    };
                    if v == 0 {
                        pr.old_style_offsets = if offset >= 0 { vec![offset] } else { Vec::new() };
                    } else {
                        pr.offset = offset;
                        pr.timestamp = ts;
                    }
                    if v >= 4 {
                        pr.leader_epoch = log.leader_epoch;
                    }
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}

pub fn offset_for_leader_epoch(cluster: &Cluster, ctx: &Ctx, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let v = ctx.version();
    let mut resp = OffsetForLeaderEpochResponse::default();
    for t in req.topics {
        let mut tr = offset_for_leader_epoch_response::OffsetForLeaderTopicResult { topic: t.topic.clone(), ..Default::default() };
        for p in t.partitions {
            let mut pr = offset_for_leader_epoch_response::EpochEndOffset { partition: p.partition, end_offset: -1, ..Default::default() };
            let epoch = if v >= 2 { p.current_leader_epoch } else { -1 };
            match cluster
                .partition(&t.topic, p.partition)
                .ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
                .and_then(|part| check_leader(part, ctx.broker, epoch).map(|_| part))
            {
                Err(e) => pr.error_code = e.0,
                Ok(part) => {
                    let (e, end) = part.log.end_offset_for_epoch(p.leader_epoch);
                    pr.end_offset = end;
                    if v >= 1 {
                        pr.leader_epoch = e;
                    }
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
