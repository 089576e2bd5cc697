//! Fetch (long poll, isolation levels, aborted-transaction lists),
//! ListOffsets and OffsetForLeaderEpoch.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ferrokafka_protocol::bytes::BytesMut;
use ferrokafka_protocol::messages::{
    fetch_response, list_offsets_response, offset_for_leader_epoch_response, FetchRequest, FetchResponse,
    ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use ferrokafka_protocol::wire::Uuid;
use ferrokafka_protocol::{ErrorCode, ResponseBody};

use super::{Ctx, Pending, Reply};
use crate::state::fetch_session::{SessionKey, SessionRead};
use crate::state::Cluster;

const READ_COMMITTED: i8 = 1;

/// A Fetch waiting for data.
pub struct FetchWait {
    /// The request, to be handled again.
    pub request: FetchRequest,
    /// When to answer with what there is.
    pub deadline: Instant,
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

/// One partition to read, from the request or from a fetch session.
#[derive(Clone)]
struct Want {
    /// The topic as the request named it: name (v < 13) or id (v13+).
    topic: String,
    topic_id: Uuid,
    partition: i32,
    fetch_offset: i64,
    max_bytes: i32,
    current_leader_epoch: i32,
    /// Named in this request (an incremental response always answers these).
    requested: bool,
}

impl Want {
    /// The partition's key in a fetch session.
    fn key(&self) -> SessionKey {
        (self.topic.clone(), self.topic_id, self.partition)
    }

    /// The partition as a fetch session keeps it.
    fn session_read(&self) -> SessionRead {
        (self.key(), self.fetch_offset, self.max_bytes)
    }
}

fn wants_from_request(req: &FetchRequest, v: i16) -> Vec<Want> {
    req.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| Want {
                topic: t.topic.clone(),
                topic_id: t.topic_id,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes,
                current_leader_epoch: if v >= 9 { p.current_leader_epoch } else { -1 },
                requested: true,
            })
        })
        .collect()
}

pub fn fetch(cluster: &mut Cluster, ctx: &Ctx, req: FetchRequest, deadline_passed: bool) -> Reply {
    let v = ctx.version();
    let mut resp = FetchResponse::default();
    // Which partitions, and under which session.
    let (wants, session, incremental) = if v >= 7 {
        match (req.session_id, req.session_epoch) {
            (0, -1) => (wants_from_request(&req, v), 0, false),
            (id, -1) => {
                // The client closes its session with a full fetch.
                cluster.fetch_sessions.close(id);
                (wants_from_request(&req, v), 0, false)
            }
            (id, 0) => {
                // A full fetch that (re)creates a session.
                if id != 0 {
                    cluster.fetch_sessions.close(id);
                }
                let wants = wants_from_request(&req, v);
                let new_id = cluster.fetch_sessions.open(ctx.broker, wants.iter().map(Want::session_read));
                (wants, new_id, false)
            }
            (id, epoch) => {
                let named = wants_from_request(&req, v);
                let forgotten = req.forgotten_topics_data.iter().flat_map(|f| f.partitions.iter().map(move |p| (f.topic.clone(), f.topic_id, *p)));
                // Applying the changes is idempotent, so a re-polled
                // long-poll fetch applies them again harmlessly.
                let reads = match cluster.fetch_sessions.update(id, ctx.broker, epoch, named.iter().map(Want::session_read), forgotten) {
                    Ok(reads) => reads,
                    Err(e) => {
                        resp.error_code = e.0;
                        return Reply::Response(ResponseBody::Fetch(resp));
                    }
                };
                let requested: HashSet<SessionKey> = named.into_iter().map(|w| w.key()).collect();
                let wants = reads
                    .into_iter()
                    .map(|(key, fetch_offset, max_bytes)| Want {
                        requested: requested.contains(&key),
                        topic: key.0,
                        topic_id: key.1,
                        partition: key.2,
                        fetch_offset,
                        max_bytes,
                        current_leader_epoch: -1,
                    })
                    .collect();
                (wants, id, true)
            }
        }
    } else {
        (wants_from_request(&req, v), 0, false)
    };
    let isolation = if v >= 4 { req.isolation_level } else { 0 };
    let mut budget = if v >= 3 { req.max_bytes.max(0) as usize } else { usize::MAX };
    let mut total = 0usize;
    let mut any_error = false;
    let mut answers: Vec<(Want, fetch_response::PartitionData)> = Vec::new();
    for w in wants {
        let name = resolve_topic(cluster, v, &w.topic, w.topic_id);
        let mut pr = fetch_response::PartitionData { partition_index: w.partition, high_watermark: -1, ..Default::default() };
        let readable = name
            .as_ref()
            .map_err(|e| *e)
            .and_then(|n| cluster.led_partition(n, w.partition, ctx.broker, w.current_leader_epoch))
            .and_then(|part| part.log.check_fetch_offset(w.fetch_offset).map(|()| &part.log));
        // Kafka answers every error, an out-of-range fetch included
        // (captured: errors/00570), with no watermarks at all.
        match readable {
            Err(e) => {
                any_error = true;
                pr.error_code = e.0;
                if v >= 12 && e == ErrorCode::NOT_LEADER_OR_FOLLOWER {
                    if let Ok(part) = name.as_ref().map_err(|_| ()).and_then(|n| cluster.partition(n, w.partition).ok_or(())) {
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
            Ok(log) => {
                pr.high_watermark = log.high_watermark();
                if v >= 4 {
                    pr.last_stable_offset = log.last_stable_offset();
                }
                if v >= 5 {
                    pr.log_start_offset = log.log_start_offset;
                }
                let upper = if isolation == READ_COMMITTED { log.last_stable_offset() } else { log.high_watermark() };
                let limit = (w.max_bytes.max(0) as usize).min(budget);
                let batches = if limit == 0 && total > 0 { Vec::new() } else { log.read(w.fetch_offset, upper, limit) };
                let mut buf = BytesMut::new();
                for b in &batches {
                    buf.extend_from_slice(b);
                }
                total += buf.len();
                budget = budget.saturating_sub(buf.len());
                if v >= 4 && isolation == READ_COMMITTED {
                    pr.aborted_transactions = Some(
                        log.aborted_in(w.fetch_offset, upper)
                            .into_iter()
                            .map(|a| fetch_response::AbortedTransaction { producer_id: a.producer_id, first_offset: a.first_offset, ..Default::default() })
                            .collect(),
                    );
                }
                pr.records = Some(buf.freeze());
            }
        }
        answers.push((w, pr));
    }
    let enough = total >= req.min_bytes.max(1) as usize;
    if !enough && !any_error && !deadline_passed && req.max_wait_ms > 0 {
        if !incremental && session != 0 {
            // The session is created by the answer; a re-poll makes it anew.
            cluster.fetch_sessions.close(session);
        }
        let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms as u64);
        return Reply::Wait(Pending::Fetch(FetchWait { request: req, deadline }));
    }
    // Answering: an incremental session reports only what changed, and
    // remembers what it told the client.
    let keys: Vec<SessionKey> = answers.iter().map(|(w, _)| w.key()).collect();
    let marks = answers.iter().map(|(_, pr)| (pr.high_watermark, pr.last_stable_offset, pr.log_start_offset));
    if let Some(changed) = cluster.fetch_sessions.answered(session, incremental, keys.iter().zip(marks)) {
        let mut changed = changed.into_iter();
        answers.retain(|(w, pr)| {
            let changed = changed.next().unwrap_or(true);
            let has_data = pr.records.as_ref().is_some_and(|r| !r.is_empty());
            !incremental || w.requested || changed || has_data || pr.error_code != 0
        });
    }
    if v >= 7 {
        resp.session_id = session;
    }
    for (w, pr) in answers {
        let same_topic = resp.responses.last().is_some_and(|t| if v >= 13 { t.topic_id == w.topic_id } else { t.topic == w.topic });
        if !same_topic {
            let mut tr = fetch_response::FetchableTopicResponse::default();
            if v >= 13 {
                tr.topic_id = w.topic_id;
            } else {
                tr.topic = w.topic.clone();
            }
            resp.responses.push(tr);
        }
        resp.responses.last_mut().expect("pushed").partitions.push(pr);
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
            match cluster.led_partition(&t.name, p.partition_index, ctx.broker, epoch) {
                Err(e) => {
                    pr.error_code = e.0;
                    if v >= 1 {
                        pr.offset = -1;
                        pr.timestamp = -1;
                    }
                }
                Ok(part) => {
                    let log = &part.log;
                    // The max-timestamp query (-3) came with v7.
                    let (offset, ts) = match log.list_offset(p.timestamp, isolation == READ_COMMITTED, v >= 7) {
                        Ok(found) => found,
                        Err(e) => {
                            pr.error_code = e.0;
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
            match cluster.led_partition(&t.topic, p.partition, ctx.broker, epoch) {
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
