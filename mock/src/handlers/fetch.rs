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

/// The key of a partition in a fetch session.
type SessionKey = (String, Uuid, i32);

/// An incremental fetch session (KIP-227): the partitions a client fetches
/// and what it was last told about each.
#[derive(Debug, Clone)]
pub struct FetchSession {
    pub broker: i32,
    /// The epoch the next request must carry.
    pub epoch: i32,
    /// Partition -> (fetch offset, max bytes, last high watermark, last
    /// stable offset, log start offset sent).
    pub partitions: std::collections::BTreeMap<SessionKey, (i64, i32, i64, i64, i64)>,
}

/// At most this many sessions are kept per cluster; beyond that new
/// sessions are refused (session id 0), as a broker with a full cache does.
const MAX_SESSIONS: usize = 1000;

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
                cluster.fetch_sessions.remove(&id);
                (wants_from_request(&req, v), 0, false)
            }
            (id, 0) => {
                // A full fetch that (re)creates a session.
                if id != 0 {
                    cluster.fetch_sessions.remove(&id);
                }
                let wants = wants_from_request(&req, v);
                let new_id = if cluster.fetch_sessions.len() < MAX_SESSIONS {
                    cluster.next_fetch_session += 1;
                    let sid = cluster.next_fetch_session;
                    let partitions = wants
                        .iter()
                        .map(|w| ((w.topic.clone(), w.topic_id, w.partition), (w.fetch_offset, w.max_bytes, i64::MIN, i64::MIN, i64::MIN)))
                        .collect();
                    cluster.fetch_sessions.insert(sid, FetchSession { broker: ctx.broker, epoch: 0, partitions });
                    sid
                } else {
                    0
                };
                (wants, new_id, false)
            }
            (id, epoch) => {
                let Some(sess) = cluster.fetch_sessions.get_mut(&id).filter(|s| s.broker == ctx.broker) else {
                    resp.error_code = ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0;
                    return Reply::Response(ResponseBody::Fetch(resp));
                };
                if epoch != sess.epoch + 1 {
                    resp.error_code = ErrorCode::INVALID_FETCH_SESSION_EPOCH.0;
                    return Reply::Response(ResponseBody::Fetch(resp));
                }
                // Apply the request's changes (idempotent, so a re-polled
                // long-poll fetch applies them again harmlessly).
                for w in wants_from_request(&req, v) {
                    let key = (w.topic.clone(), w.topic_id, w.partition);
                    let last = sess.partitions.get(&key).map(|e| (e.2, e.3, e.4)).unwrap_or((i64::MIN, i64::MIN, i64::MIN));
                    sess.partitions.insert(key, (w.fetch_offset, w.max_bytes, last.0, last.1, last.2));
                }
                for f in &req.forgotten_topics_data {
                    for p in &f.partitions {
                        sess.partitions.remove(&(f.topic.clone(), f.topic_id, *p));
                    }
                }
                let requested: std::collections::HashSet<SessionKey> = wants_from_request(&req, v).into_iter().map(|w| (w.topic, w.topic_id, w.partition)).collect();
                let wants = sess
                    .partitions
                    .iter()
                    .map(|((topic, id, p), (offset, max, _, _, _))| Want {
                        topic: topic.clone(),
                        topic_id: *id,
                        partition: *p,
                        fetch_offset: *offset,
                        max_bytes: *max,
                        current_leader_epoch: -1,
                        requested: requested.contains(&(topic.clone(), *id, *p)),
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
        let part = name.as_ref().map_err(|e| *e).and_then(|n| cluster.partition(n, w.partition).ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
        match part.and_then(|part| check_leader(part, ctx.broker, w.current_leader_epoch).map(|_| part)) {
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
            Ok(part) => {
                let log = &part.log;
                pr.high_watermark = log.high_watermark();
                if v >= 4 {
                    pr.last_stable_offset = log.last_stable_offset();
                }
                if v >= 5 {
                    pr.log_start_offset = log.log_start_offset;
                }
                if w.fetch_offset < log.log_start_offset || w.fetch_offset > log.high_watermark() {
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
        }
        answers.push((w, pr));
    }
    let enough = total >= req.min_bytes.max(1) as usize;
    if !enough && !any_error && !deadline_passed && req.max_wait_ms > 0 {
        if !incremental && session != 0 {
            // The session is created by the answer; a re-poll makes it anew.
            cluster.fetch_sessions.remove(&session);
        }
        let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms as u64);
        return Reply::Wait(Pending::Fetch(FetchWait { request: req, deadline }));
    }
    // Answering: an incremental session reports only what changed, and
    // remembers what it told the client.
    if let Some(sess) = cluster.fetch_sessions.get_mut(&session) {
        sess.epoch = if incremental { sess.epoch + 1 } else { 0 };
        answers.retain(|(w, pr)| {
            let key = (w.topic.clone(), w.topic_id, w.partition);
            let Some(entry) = sess.partitions.get_mut(&key) else { return true };
            let changed = (entry.2, entry.3, entry.4) != (pr.high_watermark, pr.last_stable_offset, pr.log_start_offset);
            entry.2 = pr.high_watermark;
            entry.3 = pr.last_stable_offset;
            entry.4 = pr.log_start_offset;
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
