//! The classic group coordinator's APIs: JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups.
//!
//! JoinGroup and SyncGroup answers may wait for the rebalance: they come
//! back as [`Reply::Wait`]s that the connection re-polls through [`poll`].

use std::collections::{BTreeMap, BTreeSet};

use ferrokafka_protocol::messages::*;
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::{errors, Ctx, Pending, Reply};
use crate::state::group::CommittedOffset;
use crate::state::group_coordinator::{GroupWait, JoinError, JoinParams, Joined, Rebalance, Synced};
use crate::state::{Cluster, GROUP_KEY};

/// Whether this module handles `api`.
pub fn handles(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::JoinGroup
            | ApiKey::SyncGroup
            | ApiKey::Heartbeat
            | ApiKey::LeaveGroup
            | ApiKey::OffsetCommit
            | ApiKey::OffsetFetch
            | ApiKey::DescribeGroups
            | ApiKey::ListGroups
    )
}

/// Handles the APIs of this module that answer at once; `None` for any
/// other request.
pub fn dispatch(cluster: &mut Cluster, ctx: &Ctx, body: &RequestBody) -> Option<ResponseBody> {
    Some(match body {
        RequestBody::Heartbeat(r) => ResponseBody::Heartbeat(heartbeat(cluster, ctx, r)),
        RequestBody::LeaveGroup(r) => ResponseBody::LeaveGroup(leave_group(cluster, ctx, r)),
        RequestBody::OffsetCommit(r) => ResponseBody::OffsetCommit(offset_commit(cluster, ctx, r)),
        RequestBody::OffsetFetch(r) => ResponseBody::OffsetFetch(offset_fetch(cluster, ctx, r)),
        RequestBody::DescribeGroups(r) => ResponseBody::DescribeGroups(describe_groups(cluster, ctx, r)),
        RequestBody::ListGroups(r) => ResponseBody::ListGroups(list_groups(cluster, ctx, r)),
        _ => return None,
    })
}

fn join_error(v: i16, e: JoinError) -> ResponseBody {
    ResponseBody::JoinGroup(JoinGroupResponse {
        error_code: e.code.0,
        generation_id: -1,
        protocol_name: if v >= 7 { None } else { Some(String::new()) },
        member_id: e.member_id,
        ..Default::default()
    })
}

fn join_answer(v: i16, j: Joined) -> ResponseBody {
    let s = j.snapshot;
    let mut resp = JoinGroupResponse {
        generation_id: s.generation,
        protocol_name: s.protocol,
        leader: s.leader.clone(),
        member_id: j.member_id.clone(),
        ..Default::default()
    };
    if v < 7 && resp.protocol_name.is_none() {
        resp.protocol_name = Some(String::new());
    }
    if v >= 7 {
        resp.protocol_type = s.protocol_type;
    }
    // Only the leader learns the members and their metadata.
    if s.leader == j.member_id {
        for (id, instance, metadata) in s.members {
            resp.members.push(join_group_response::JoinGroupResponseMember {
                member_id: id,
                group_instance_id: if v >= 5 { instance } else { None },
                metadata,
                ..Default::default()
            });
        }
    }
    ResponseBody::JoinGroup(resp)
}

fn join_reply(v: i16, outcome: Result<Rebalance<Joined>, JoinError>) -> Reply {
    match outcome {
        Ok(Rebalance::Done(j)) => Reply::Response(join_answer(v, j)),
        Ok(Rebalance::Wait(w)) => Reply::Wait(Pending::Group(w)),
        Err(e) => Reply::Response(join_error(v, e)),
    }
}

fn sync_error(code: ErrorCode) -> ResponseBody {
    ResponseBody::SyncGroup(SyncGroupResponse { error_code: code.0, ..Default::default() })
}

fn sync_reply(v: i16, outcome: Result<Rebalance<Synced>, ErrorCode>) -> Reply {
    match outcome {
        Ok(Rebalance::Done(s)) => {
            let mut resp = SyncGroupResponse { assignment: s.assignment, ..Default::default() };
            if v >= 5 {
                resp.protocol_type = s.protocol_type;
                resp.protocol_name = s.protocol_name;
            }
            Reply::Response(ResponseBody::SyncGroup(resp))
        }
        Ok(Rebalance::Wait(w)) => Reply::Wait(Pending::Group(w)),
        Err(e) => Reply::Response(sync_error(e)),
    }
}

pub fn join_group(cluster: &mut Cluster, ctx: &Ctx, req: JoinGroupRequest) -> Reply {
    let v = ctx.version();
    if !cluster.is_coordinator(GROUP_KEY, &req.group_id, ctx.broker) {
        return join_reply(v, Err(JoinError { code: ErrorCode::NOT_COORDINATOR, member_id: req.member_id }));
    }
    let params = JoinParams {
        group_id: req.group_id,
        member_id: req.member_id,
        group_instance_id: if v >= 5 { req.group_instance_id } else { None },
        client_id: ctx.header.client_id.clone().unwrap_or_default(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if v >= 1 { req.rebalance_timeout_ms } else { -1 },
        protocol_type: req.protocol_type,
        protocols: req.protocols.into_iter().map(|p| (p.name, p.metadata)).collect(),
        require_member_id: v >= 4,
    };
    join_reply(v, cluster.join_group(params))
}

pub fn sync_group(cluster: &mut Cluster, ctx: &Ctx, req: SyncGroupRequest) -> Reply {
    let v = ctx.version();
    if !cluster.is_coordinator(GROUP_KEY, &req.group_id, ctx.broker) {
        return sync_reply(v, Err(ErrorCode::NOT_COORDINATOR));
    }
    let instance = if v >= 3 { req.group_instance_id.as_deref() } else { None };
    let protocol = if v >= 5 { (req.protocol_type.clone(), req.protocol_name.clone()) } else { (None, None) };
    let assignments = req.assignments.iter().map(|a| (a.member_id.clone(), a.assignment.clone())).collect();
    sync_reply(v, cluster.sync_group(&req.group_id, &req.member_id, req.generation_id, instance, protocol, assignments))
}

/// Re-polls a waiting JoinGroup or SyncGroup.
pub fn poll(cluster: &mut Cluster, ctx: &Ctx, wait: GroupWait, deadline_passed: bool) -> Reply {
    let v = ctx.version();
    if wait.sync {
        sync_reply(v, cluster.poll_sync(wait, deadline_passed))
    } else {
        join_reply(v, cluster.poll_join(wait, deadline_passed))
    }
}

fn heartbeat(cluster: &mut Cluster, ctx: &Ctx, req: &HeartbeatRequest) -> HeartbeatResponse {
    let mut resp = HeartbeatResponse::default();
    let instance = if ctx.version() >= 3 { req.group_instance_id.as_deref() } else { None };
    let outcome = if cluster.is_coordinator(GROUP_KEY, &req.group_id, ctx.broker) {
        cluster.heartbeat(&req.group_id, &req.member_id, req.generation_id, instance)
    } else {
        Err(ErrorCode::NOT_COORDINATOR)
    };
    if let Err(e) = outcome {
        resp.error_code = e.0;
    }
    resp
}

fn leave_group(cluster: &mut Cluster, ctx: &Ctx, req: &LeaveGroupRequest) -> LeaveGroupResponse {
    let v = ctx.version();
    let mut resp = LeaveGroupResponse::default();
    if !cluster.is_coordinator(GROUP_KEY, &req.group_id, ctx.broker) {
        resp.error_code = ErrorCode::NOT_COORDINATOR.0;
        return resp;
    }
    let leaving: Vec<(String, Option<String>)> = if v >= 3 {
        req.members.iter().map(|m| (m.member_id.clone(), m.group_instance_id.clone())).collect()
    } else {
        vec![(req.member_id.clone(), None)]
    };
    match cluster.leave_group(&req.group_id, leaving.clone()) {
        Err(e) => resp.error_code = e.0,
        Ok(codes) if v >= 3 => {
            resp.members = leaving
                .into_iter()
                .zip(codes)
                .map(|((id, inst), code)| leave_group_response::MemberResponse { member_id: id, group_instance_id: inst, error_code: code.0, ..Default::default() })
                .collect();
        }
        Ok(codes) => resp.error_code = codes.last().map_or(0, |c| c.0),
    }
    resp
}

fn offset_commit(cluster: &mut Cluster, ctx: &Ctx, req: &OffsetCommitRequest) -> OffsetCommitResponse {
    let v = ctx.version();
    // Every partition answered with `code`, shaped like the request.
    let answer = |code: ErrorCode| match errors::error_response(&RequestBody::OffsetCommit(req.clone()), v, code) {
        Some(ResponseBody::OffsetCommit(r)) => r,
        _ => OffsetCommitResponse::default(),
    };
    if !cluster.is_coordinator(GROUP_KEY, &req.group_id, ctx.broker) {
        return answer(ErrorCode::NOT_COORDINATOR);
    }
    let generation = if v >= 1 { req.generation_id_or_member_epoch } else { -1 };
    let member = if v >= 1 { req.member_id.as_str() } else { "" };
    let instance = if v >= 7 { req.group_instance_id.as_deref() } else { None };
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
    match cluster.commit_offsets(&req.group_id, member, generation, instance, offsets) {
        Err(e) => answer(e),
        Ok(codes) => {
            let mut resp = answer(ErrorCode::NONE);
            let results = resp.topics.iter_mut().flat_map(|t| t.partitions.iter_mut());
            for (pr, code) in results.zip(codes) {
                pr.error_code = code.0;
            }
            resp
        }
    }
}

/// (offset, leader epoch, metadata, error) for one partition of a group,
/// as OffsetFetch reports it.
fn fetch_one(cluster: &Cluster, group: &str, topic: &str, p: i32, require_stable: bool) -> (i64, i32, Option<String>, ErrorCode) {
    match cluster.fetch_offset(group, topic, p, require_stable) {
        Ok(Some(c)) => (c.offset, c.leader_epoch, c.metadata, ErrorCode::NONE),
        Ok(None) => (-1, -1, Some(String::new()), ErrorCode::NONE),
        Err(e) => (-1, -1, None, e),
    }
}

/// The partitions an OffsetFetch asks about: those named, or (no topics)
/// every one the group has committed.
fn wanted(cluster: &Cluster, group: &str, topics: Option<Vec<(String, &[i32])>>) -> BTreeMap<String, BTreeSet<i32>> {
    match topics {
        None => cluster.committed_partitions(group),
        Some(ts) => ts.into_iter().map(|(name, parts)| (name, parts.iter().copied().collect())).collect(),
    }
}

fn offset_fetch(cluster: &mut Cluster, ctx: &Ctx, req: &OffsetFetchRequest) -> OffsetFetchResponse {
    let v = ctx.version();
    let require_stable = v >= 7 && req.require_stable;
    let mut resp = OffsetFetchResponse::default();
    if v >= 8 {
        for g in &req.groups {
            let mut gr = offset_fetch_response::OffsetFetchResponseGroup { group_id: g.group_id.clone(), ..Default::default() };
            if !cluster.is_coordinator(GROUP_KEY, &g.group_id, ctx.broker) {
                gr.error_code = ErrorCode::NOT_COORDINATOR.0;
                resp.groups.push(gr);
                continue;
            }
            let topics = g.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.clone(), &t.partition_indexes[..])).collect());
            for (topic, parts) in wanted(cluster, &g.group_id, topics) {
                let mut tr = offset_fetch_response::OffsetFetchResponseTopics { name: topic.clone(), ..Default::default() };
                for p in parts {
                    let (offset, epoch, metadata, e) = fetch_one(cluster, &g.group_id, &topic, p, require_stable);
                    tr.partitions.push(offset_fetch_response::OffsetFetchResponsePartitions {
                        partition_index: p,
                        committed_offset: offset,
                        committed_leader_epoch: epoch,
                        metadata,
                        error_code: e.0,
                        ..Default::default()
                    });
                }
                gr.topics.push(tr);
            }
            resp.groups.push(gr);
        }
        return resp;
    }
    if !cluster.is_coordinator(GROUP_KEY, &req.group_id, ctx.broker) {
        if v >= 2 {
            resp.error_code = ErrorCode::NOT_COORDINATOR.0;
        }
        return resp;
    }
    let topics = req.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.clone(), &t.partition_indexes[..])).collect());
    for (topic, parts) in wanted(cluster, &req.group_id, topics) {
        let mut tr = offset_fetch_response::OffsetFetchResponseTopic { name: topic.clone(), ..Default::default() };
        for p in parts {
            let (offset, epoch, metadata, e) = fetch_one(cluster, &req.group_id, &topic, p, require_stable);
            tr.partitions.push(offset_fetch_response::OffsetFetchResponsePartition {
                partition_index: p,
                committed_offset: offset,
                committed_leader_epoch: if v >= 5 { epoch } else { -1 },
                metadata,
                error_code: e.0,
                ..Default::default()
            });
        }
        resp.topics.push(tr);
    }
    resp
}

fn describe_groups(cluster: &mut Cluster, ctx: &Ctx, req: &DescribeGroupsRequest) -> DescribeGroupsResponse {
    cluster.expire_groups();
    let mut resp = DescribeGroupsResponse::default();
    for id in &req.groups {
        let mut d = describe_groups_response::DescribedGroup { group_id: id.clone(), ..Default::default() };
        if !cluster.is_coordinator(GROUP_KEY, id, ctx.broker) {
            d.error_code = ErrorCode::NOT_COORDINATOR.0;
        } else if let Some(g) = cluster.groups.get(id) {
            d.group_state = g.state.name().into();
            d.protocol_type = g.protocol_type.clone().unwrap_or_default();
            d.protocol_data = g.protocol.clone().unwrap_or_default();
            for m in g.members.values() {
                d.members.push(describe_groups_response::DescribedGroupMember {
                    member_id: m.id.clone(),
                    group_instance_id: if ctx.version() >= 4 { m.instance_id.clone() } else { None },
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    member_metadata: m.protocols.iter().find(|(n, _)| Some(n) == g.protocol.as_ref()).map(|(_, b)| b.clone()).unwrap_or_default(),
                    member_assignment: m.assignment.clone(),
                    ..Default::default()
                });
            }
        } else {
            d.group_state = "Dead".into();
        }
        resp.groups.push(d);
    }
    resp
}

fn list_groups(cluster: &mut Cluster, ctx: &Ctx, req: &ListGroupsRequest) -> ListGroupsResponse {
    cluster.expire_groups();
    let v = ctx.version();
    let mut resp = ListGroupsResponse::default();
    for (id, g) in &cluster.groups {
        if !cluster.is_coordinator(GROUP_KEY, id, ctx.broker) {
            continue;
        }
        if v >= 4 && !req.states_filter.is_empty() && !req.states_filter.iter().any(|s| s == g.state.name()) {
            continue;
        }
        if v >= 5 && !req.types_filter.is_empty() && !req.types_filter.iter().any(|t| t.eq_ignore_ascii_case("classic")) {
            continue;
        }
        resp.groups.push(list_groups_response::ListedGroup {
            group_id: id.clone(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            group_state: if v >= 4 { g.state.name().into() } else { String::new() },
            group_type: if v >= 5 { "classic".into() } else { String::new() },
            ..Default::default()
        });
    }
    resp
}
