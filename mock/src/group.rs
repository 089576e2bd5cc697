//! The classic group coordinator: JoinGroup (with the member-id-required
//! round), SyncGroup, Heartbeat, LeaveGroup, session and rebalance
//! timeouts, static membership, OffsetCommit/OffsetFetch, DescribeGroups,
//! ListGroups.
//!
//! JoinGroup and SyncGroup answers wait for the rebalance: they come back
//! as [`GroupWait`]s that the connection re-polls whenever the cluster
//! changes or time passes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferrokafka_protocol::bytes::Bytes;
use ferrokafka_protocol::messages::*;
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use crate::cluster::{Cluster, CommittedOffset};
use crate::handlers::Ctx;

const GROUP_KEY: i8 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_seen: Instant,
    /// Has (re)joined the rebalance in progress.
    pub joined: bool,
}

#[derive(Debug)]
pub struct Group {
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    pub pending: BTreeMap<String, Instant>,
    pub rebalance_deadline: Instant,
    /// The outcome of the last completed join phase, for JoinGroup calls
    /// still waiting on it when the next rebalance already began.
    last_join: Option<JoinSnapshot>,
    next_member: u64,
}

/// What a completed join phase tells its members.
#[derive(Debug, Clone)]
struct JoinSnapshot {
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: String,
    /// (member id, group instance id, metadata for the chosen protocol)
    members: Vec<(String, Option<String>, Bytes)>,
}

impl Group {
    fn new() -> Group {
        Group {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: BTreeMap::new(),
            rebalance_deadline: Instant::now(),
            last_join: None,
            next_member: 0,
        }
    }

    /// `client.id-<uuid>`, the form Kafka gives member ids.
    fn new_member_id(&mut self, client_id: &str) -> String {
        self.next_member += 1;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        let mut x = nanos ^ self.next_member.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(std::process::id());
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (a, b) = (next(), next());
        format!(
            "{client_id}-{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    fn prepare_rebalance(&mut self, now: Instant, initial_delay: Duration) {
        let was_empty = self.state == GroupState::Empty;
        self.state = GroupState::PreparingRebalance;
        for m in self.members.values_mut() {
            m.joined = false;
        }
        let timeout = self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or_default();
        self.rebalance_deadline = now + if was_empty { initial_delay } else { timeout };
    }

    /// Ends the join phase when every member has rejoined or time is up.
    fn maybe_complete(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = !self.members.is_empty() && self.members.values().all(|m| m.joined);
        if !(all_joined || now >= self.rebalance_deadline) {
            return;
        }
        self.members.retain(|_, m| m.joined);
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            return;
        }
        // The first protocol, in the leader's order of preference, that
        // every member supports.
        if !self.leader.as_ref().is_some_and(|l| self.members.contains_key(l)) {
            self.leader = self.members.keys().next().cloned();
        }
        let leader = &self.members[self.leader.as_ref().expect("set")];
        self.protocol = leader
            .protocols
            .iter()
            .map(|(n, _)| n.clone())
            .find(|n| self.members.values().all(|m| m.protocols.iter().any(|(p, _)| p == n)));
        for m in self.members.values_mut() {
            m.assignment = Bytes::new();
            m.last_seen = now;
        }
        self.state = GroupState::CompletingRebalance;
        let proto = self.protocol.clone().unwrap_or_default();
        self.last_join = Some(JoinSnapshot {
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            members: self
                .members
                .values()
                .map(|m| (m.id.clone(), m.instance_id.clone(), m.protocols.iter().find(|(n, _)| *n == proto).map(|(_, b)| b.clone()).unwrap_or_default()))
                .collect(),
        });
    }

    fn remove_member(&mut self, id: &str, now: Instant, initial_delay: Duration) {
        if self.members.remove(id).is_some() {
            if self.leader.as_deref() == Some(id) {
                self.leader = None;
            }
            if self.members.is_empty() && self.state != GroupState::PreparingRebalance {
                self.state = GroupState::Empty;
                self.generation += 1;
                self.protocol = None;
            } else {
                self.prepare_rebalance(now, initial_delay);
                self.maybe_complete(now);
            }
        }
    }

    fn expire(&mut self, now: Instant, initial_delay: Duration) {
        self.pending.retain(|_, deadline| *deadline > now);
        if matches!(self.state, GroupState::Stable | GroupState::CompletingRebalance) {
            let dead: Vec<String> =
                self.members.values().filter(|m| now.duration_since(m.last_seen) > m.session_timeout).map(|m| m.id.clone()).collect();
            for id in dead {
                self.remove_member(&id, now, initial_delay);
            }
        }
        self.maybe_complete(now);
    }
}

/// A JoinGroup or SyncGroup waiting on the rebalance.
pub struct GroupWait {
    pub group: String,
    pub member: String,
    pub generation: i32,
    pub sync: bool,
    pub deadline: Instant,
}

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

/// Expires sessions and finishes rebalances whose time has come.
pub fn tick(cluster: &mut Cluster) {
    let now = Instant::now();
    let delay = cluster.config.group_initial_rebalance_delay;
    for g in cluster.groups.values_mut() {
        g.expire(now, delay);
    }
}

pub enum GroupReply {
    Now(ResponseBody),
    Wait(GroupWait),
}

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

fn join_error(v: i16, code: ErrorCode, member_id: String) -> ResponseBody {
    ResponseBody::JoinGroup(JoinGroupResponse {
        error_code: code.0,
        generation_id: -1,
        protocol_name: if v >= 7 { None } else { Some(String::new()) },
        member_id,
        ..Default::default()
    })
}

pub fn join_group(cluster: &mut Cluster, ctx: &Ctx, req: JoinGroupRequest) -> GroupReply {
    let v = ctx.version();
    let now = Instant::now();
    if !cluster.is_coordinator(GROUP_KEY, &req.group_id, ctx.broker) {
        return GroupReply::Now(join_error(v, ErrorCode::NOT_COORDINATOR, req.member_id));
    }
    if req.group_id.is_empty() {
        return GroupReply::Now(join_error(v, ErrorCode::INVALID_GROUP_ID, req.member_id));
    }
    let (min_s, max_s) = cluster.config.group_session_timeout_range;
    let session = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
    if session < min_s || session > max_s {
        return GroupReply::Now(join_error(v, ErrorCode::INVALID_SESSION_TIMEOUT, req.member_id));
    }
    let rebalance = if v >= 1 && req.rebalance_timeout_ms > 0 { Duration::from_millis(req.rebalance_timeout_ms as u64) } else { session };
    let delay = cluster.config.group_initial_rebalance_delay;
    let exists = cluster.groups.contains_key(&req.group_id);
    if !exists && !req.member_id.is_empty() {
        return GroupReply::Now(join_error(v, ErrorCode::UNKNOWN_MEMBER_ID, req.member_id));
    }
    let group = cluster.groups.entry(req.group_id.clone()).or_insert_with(Group::new);
    group.expire(now, delay);
    if req.protocols.is_empty()
        || (!group.members.is_empty()
            && (group.protocol_type.as_deref() != Some(req.protocol_type.as_str())
                || !req.protocols.iter().any(|p| group.members.values().all(|m| m.protocols.iter().any(|(n, _)| *n == p.name)))))
    {
        return GroupReply::Now(join_error(v, ErrorCode::INCONSISTENT_GROUP_PROTOCOL, req.member_id));
    }
    let instance = if v >= 5 { req.group_instance_id.clone() } else { None };
    let mut member_id = req.member_id.clone();
    if member_id.is_empty() {
        member_id = group.new_member_id(ctx.header.client_id.as_deref().unwrap_or(""));
        if let Some(inst) = &instance {
            // A static member rejoining replaces its old member id.
            if let Some(old) = group.members.values().find(|m| m.instance_id.as_ref() == Some(inst)).map(|m| m.id.clone()) {
                let mut m = group.members.remove(&old).expect("found");
                m.id = member_id.clone();
                if group.leader.as_deref() == Some(old.as_str()) {
                    group.leader = Some(member_id.clone());
                }
                group.members.insert(member_id.clone(), m);
            }
        } else if v >= 4 {
            // KIP-394: the first join only obtains a member id.
            group.pending.insert(member_id.clone(), now + session);
            return GroupReply::Now(join_error(v, ErrorCode::MEMBER_ID_REQUIRED, member_id));
        }
    } else if !group.members.contains_key(&member_id) && group.pending.remove(&member_id).is_none() {
        return GroupReply::Now(join_error(v, ErrorCode::UNKNOWN_MEMBER_ID, member_id));
    } else if let (Some(inst), Some(m)) = (&instance, group.members.get(&member_id)) {
        if m.instance_id.as_ref() != Some(inst) {
            return GroupReply::Now(join_error(v, ErrorCode::FENCED_INSTANCE_ID, member_id));
        }
    }
    let protocols: Vec<(String, Bytes)> = req.protocols.iter().map(|p| (p.name.clone(), p.metadata.clone())).collect();
    let is_new = !group.members.contains_key(&member_id);
    let unchanged = group.members.get(&member_id).is_some_and(|m| m.protocols == protocols);
    let member = group.members.entry(member_id.clone()).or_insert_with(|| Member {
        id: member_id.clone(),
        instance_id: instance.clone(),
        client_id: ctx.header.client_id.clone().unwrap_or_default(),
        client_host: "/127.0.0.1".into(),
        session_timeout: session,
        rebalance_timeout: rebalance,
        protocols: protocols.clone(),
        assignment: Bytes::new(),
        last_seen: now,
        joined: false,
    });
    member.protocols = protocols;
    member.session_timeout = session;
    member.rebalance_timeout = rebalance;
    member.last_seen = now;
    group.protocol_type = Some(req.protocol_type.clone());
    let is_leader = group.leader.as_deref() == Some(member_id.as_str());
    match group.state {
        GroupState::Stable if !is_new && unchanged && !is_leader => {
            // A follower rejoining with nothing new: no rebalance needed.
            let resp = join_response(group, &member_id, v);
            return GroupReply::Now(resp);
        }
        GroupState::PreparingRebalance => {}
        _ => group.prepare_rebalance(now, delay),
    }
    group.members.get_mut(&member_id).expect("inserted").joined = true;
    // The generation this join waits to see completed.
    let waiting_on = group.generation;
    group.maybe_complete(now);
    let deadline = group.rebalance_deadline.max(now) + Duration::from_millis(50);
    GroupReply::Wait(GroupWait { group: req.group_id, member: member_id, generation: waiting_on, sync: false, deadline })
}

fn join_response(group: &Group, member_id: &str, v: i16) -> ResponseBody {
    match &group.last_join {
        Some(s) => snapshot_response(s, member_id, v),
        None => join_error(v, ErrorCode::UNKNOWN_MEMBER_ID, member_id.to_string()),
    }
}

fn snapshot_response(s: &JoinSnapshot, member_id: &str, v: i16) -> ResponseBody {
    let mut resp = JoinGroupResponse {
        generation_id: s.generation,
        protocol_name: s.protocol.clone(),
        leader: s.leader.clone(),
        member_id: member_id.to_string(),
        ..Default::default()
    };
    if v < 7 && resp.protocol_name.is_none() {
        resp.protocol_name = Some(String::new());
    }
    if v >= 7 {
        resp.protocol_type = s.protocol_type.clone();
    }
    if s.leader == member_id {
        for (id, instance, metadata) in &s.members {
            resp.members.push(join_group_response::JoinGroupResponseMember {
                member_id: id.clone(),
                group_instance_id: if v >= 5 { instance.clone() } else { None },
                metadata: metadata.clone(),
                ..Default::default()
            });
        }
    }
    ResponseBody::JoinGroup(resp)
}

/// Re-polls a waiting JoinGroup/SyncGroup.
pub fn poll_wait(cluster: &mut Cluster, wait: GroupWait, v: i16, deadline_passed: bool) -> GroupReply {
    let now = Instant::now();
    let delay = cluster.config.group_initial_rebalance_delay;
    let Some(group) = cluster.groups.get_mut(&wait.group) else {
        return GroupReply::Now(if wait.sync { sync_error(v, ErrorCode::UNKNOWN_MEMBER_ID) } else { join_error(v, ErrorCode::UNKNOWN_MEMBER_ID, wait.member) });
    };
    group.expire(now, delay);
    if !wait.sync {
        // A join phase completed since this JoinGroup arrived: answer with
        // its outcome, even if the next rebalance has begun meanwhile.
        if let Some(s) = &group.last_join {
            if s.generation > wait.generation && s.members.iter().any(|(id, _, _)| *id == wait.member) {
                return GroupReply::Now(snapshot_response(s, &wait.member, v));
            }
        }
    }
    if !group.members.contains_key(&wait.member) {
        return GroupReply::Now(if wait.sync { sync_error(v, ErrorCode::UNKNOWN_MEMBER_ID) } else { join_error(v, ErrorCode::UNKNOWN_MEMBER_ID, wait.member) });
    }
    if !wait.sync {
        if deadline_passed && group.state != GroupState::PreparingRebalance {
            return GroupReply::Now(join_response(group, &wait.member, v));
        }
        let deadline = group.rebalance_deadline.max(now) + Duration::from_millis(50);
        return GroupReply::Wait(GroupWait { deadline, ..wait });
    }
    if group.generation != wait.generation || group.state == GroupState::PreparingRebalance {
        return GroupReply::Now(sync_error(v, ErrorCode::REBALANCE_IN_PROGRESS));
    }
    if group.state == GroupState::Stable {
        return GroupReply::Now(sync_response(group, &wait.member, v));
    }
    if deadline_passed {
        return GroupReply::Now(sync_error(v, ErrorCode::REBALANCE_IN_PROGRESS));
    }
    GroupReply::Wait(wait)
}

fn sync_error(v: i16, code: ErrorCode) -> ResponseBody {
    let _ = v;
    ResponseBody::SyncGroup(SyncGroupResponse { error_code: code.0, ..Default::default() })
}

fn sync_response(group: &Group, member: &str, v: i16) -> ResponseBody {
    let mut resp = SyncGroupResponse {
        assignment: group.members.get(member).map(|m| m.assignment.clone()).unwrap_or_default(),
        ..Default::default()
    };
    if v >= 5 {
        resp.protocol_type = group.protocol_type.clone();
        resp.protocol_name = group.protocol.clone();
    }
    ResponseBody::SyncGroup(resp)
}

/// The checks Heartbeat, SyncGroup, OffsetCommit and TxnOffsetCommit share.
pub fn check_member(cluster: &Cluster, group: &str, member: &str, generation: i32, instance: Option<&str>) -> Result<(), ErrorCode> {
    let g = cluster.groups.get(group).ok_or(ErrorCode::UNKNOWN_MEMBER_ID)?;
    let m = g.members.get(member);
    if let Some(inst) = instance {
        if let Some(owner) = g.members.values().find(|m| m.instance_id.as_deref() == Some(inst)) {
            if owner.id != member {
                return Err(ErrorCode::FENCED_INSTANCE_ID);
            }
        }
    }
    let _m = m.ok_or(ErrorCode::UNKNOWN_MEMBER_ID)?;
    if generation != g.generation {
        return Err(ErrorCode::ILLEGAL_GENERATION);
    }
    Ok(())
}

pub fn sync_group(cluster: &mut Cluster, ctx: &Ctx, req: SyncGroupRequest) -> GroupReply {
    let v = ctx.version();
    let now = Instant::now();
    if !cluster.is_coordinator(GROUP_KEY, &req.group_id, ctx.broker) {
        return GroupReply::Now(sync_error(v, ErrorCode::NOT_COORDINATOR));
    }
    let instance = if v >= 3 { req.group_instance_id.as_deref() } else { None };
    if let Err(e) = check_member(cluster, &req.group_id, &req.member_id, req.generation_id, instance) {
        return GroupReply::Now(sync_error(v, e));
    }
    let delay = cluster.config.group_initial_rebalance_delay;
    let group = cluster.groups.get_mut(&req.group_id).expect("checked");
    group.expire(now, delay);
    if v >= 5 {
        let type_ok = req.protocol_type.is_none() || req.protocol_type == group.protocol_type;
        let name_ok = req.protocol_name.is_none() || req.protocol_name == group.protocol;
        if !type_ok || !name_ok {
            return GroupReply::Now(sync_error(v, ErrorCode::INCONSISTENT_GROUP_PROTOCOL));
        }
    }
    if let Some(m) = group.members.get_mut(&req.member_id) {
        m.last_seen = now;
    }
    match group.state {
        GroupState::PreparingRebalance | GroupState::Empty => GroupReply::Now(sync_error(v, ErrorCode::REBALANCE_IN_PROGRESS)),
        GroupState::Stable => GroupReply::Now(sync_response(group, &req.member_id, v)),
        GroupState::CompletingRebalance => {
            if group.leader.as_deref() == Some(req.member_id.as_str()) {
                for a in &req.assignments {
                    if let Some(m) = group.members.get_mut(&a.member_id) {
                        m.assignment = a.assignment.clone();
                    }
                }
                group.state = GroupState::Stable;
                return GroupReply::Now(sync_response(group, &req.member_id, v));
            }
            let session = group.members.get(&req.member_id).map(|m| m.session_timeout).unwrap_or_default();
            GroupReply::Wait(GroupWait {
                group: req.group_id,
                member: req.member_id,
                generation: req.generation_id,
                sync: true,
                deadline: now + session,
            })
        }
    }
}

fn heartbeat(cluster: &mut Cluster, ctx: &Ctx, req: &HeartbeatRequest) -> HeartbeatResponse {
    let mut resp = HeartbeatResponse::default();
    if !cluster.is_coordinator(GROUP_KEY, &req.group_id, ctx.broker) {
        resp.error_code = ErrorCode::NOT_COORDINATOR.0;
        return resp;
    }
    tick(cluster);
    let instance = if ctx.version() >= 3 { req.group_instance_id.as_deref() } else { None };
    if let Err(e) = check_member(cluster, &req.group_id, &req.member_id, req.generation_id, instance) {
        // A member of the old generation learns of the rebalance first.
        let rebalancing = cluster.groups.get(&req.group_id).is_some_and(|g| g.state == GroupState::PreparingRebalance && g.members.contains_key(&req.member_id));
        resp.error_code = if rebalancing { ErrorCode::REBALANCE_IN_PROGRESS.0 } else { e.0 };
        return resp;
    }
    let group = cluster.groups.get_mut(&req.group_id).expect("checked");
    if let Some(m) = group.members.get_mut(&req.member_id) {
        m.last_seen = Instant::now();
    }
    if group.state == GroupState::PreparingRebalance {
        resp.error_code = ErrorCode::REBALANCE_IN_PROGRESS.0;
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
    let delay = cluster.config.group_initial_rebalance_delay;
    let now = Instant::now();
    let Some(group) = cluster.groups.get_mut(&req.group_id) else {
        resp.error_code = ErrorCode::UNKNOWN_MEMBER_ID.0;
        return resp;
    };
    let leaving: Vec<(String, Option<String>)> = if v >= 3 {
        req.members.iter().map(|m| (m.member_id.clone(), m.group_instance_id.clone())).collect()
    } else {
        vec![(req.member_id.clone(), None)]
    };
    for (id, inst) in leaving {
        let target = match &inst {
            Some(i) => group.members.values().find(|m| m.instance_id.as_ref() == Some(i)).map(|m| m.id.clone()),
            None => group.members.contains_key(&id).then(|| id.clone()),
        };
        let code = match (&target, &inst) {
            (None, _) => ErrorCode::UNKNOWN_MEMBER_ID,
            (Some(t), Some(_)) if !id.is_empty() && *t != id => ErrorCode::FENCED_INSTANCE_ID,
            (Some(t), _) => {
                group.remove_member(&t.clone(), now, delay);
                ErrorCode::NONE
            }
        };
        if v >= 3 {
            resp.members.push(leave_group_response::MemberResponse { member_id: id, group_instance_id: inst, error_code: code.0, ..Default::default() });
        } else {
            resp.error_code = code.0;
        }
    }
    resp
}

fn offset_commit(cluster: &mut Cluster, ctx: &Ctx, req: &OffsetCommitRequest) -> OffsetCommitResponse {
    let v = ctx.version();
    let fail = |code: ErrorCode| match crate::handlers::errors::error_response(&RequestBody::OffsetCommit(req.clone()), v, code) {
        Some(ResponseBody::OffsetCommit(r)) => r,
        _ => OffsetCommitResponse::default(),
    };
    if !cluster.is_coordinator(GROUP_KEY, &req.group_id, ctx.broker) {
        return fail(ErrorCode::NOT_COORDINATOR);
    }
    tick(cluster);
    let generation = if v >= 1 { req.generation_id_or_member_epoch } else { -1 };
    let member = if v >= 1 { req.member_id.as_str() } else { "" };
    let instance = if v >= 7 { req.group_instance_id.as_deref() } else { None };
    let has_members = cluster.groups.get(&req.group_id).is_some_and(|g| !g.members.is_empty());
    if generation >= 0 || !member.is_empty() {
        if let Err(e) = check_member(cluster, &req.group_id, member, generation, instance) {
            return fail(e);
        }
        if cluster.groups.get(&req.group_id).is_some_and(|g| g.state == GroupState::PreparingRebalance) {
            return fail(ErrorCode::REBALANCE_IN_PROGRESS);
        }
    } else if has_members {
        // Only a group with no active members takes anonymous commits.
        return fail(ErrorCode::UNKNOWN_MEMBER_ID);
    }
    cluster.groups.entry(req.group_id.clone()).or_insert_with(Group::new);
    let mut resp = fail(ErrorCode::NONE);
    for (t, tr) in req.topics.iter().zip(resp.topics.iter_mut()) {
        for (p, pr) in t.partitions.iter().zip(tr.partitions.iter_mut()) {
            if cluster.partition(&t.name, p.partition_index).is_none() {
                pr.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0;
                continue;
            }
            cluster.offsets.entry(req.group_id.clone()).or_default().insert(
                (t.name.clone(), p.partition_index),
                CommittedOffset { offset: p.committed_offset, leader_epoch: p.committed_leader_epoch, metadata: p.committed_metadata.clone() },
            );
        }
    }
    resp
}

/// (offset, leader epoch, metadata, error) for one partition of a group.
fn fetch_one(cluster: &Cluster, group: &str, topic: &str, p: i32, require_stable: bool) -> (i64, i32, Option<String>, ErrorCode) {
    if require_stable && cluster.txn.has_pending_offset(group, topic, p) {
        return (-1, -1, None, ErrorCode::UNSTABLE_OFFSET_COMMIT);
    }
    match cluster.offsets.get(group).and_then(|o| o.get(&(topic.to_string(), p))) {
        Some(c) => (c.offset, c.leader_epoch, c.metadata.clone(), ErrorCode::NONE),
        None => (-1, -1, Some(String::new()), ErrorCode::NONE),
    }
}

fn committed_partitions(cluster: &Cluster, group: &str) -> BTreeMap<String, BTreeSet<i32>> {
    let mut out: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    if let Some(o) = cluster.offsets.get(group) {
        for (t, p) in o.keys() {
            out.entry(t.clone()).or_default().insert(*p);
        }
    }
    out
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
            let wanted: BTreeMap<String, BTreeSet<i32>> = match &g.topics {
                None => committed_partitions(cluster, &g.group_id),
                Some(ts) => ts.iter().map(|t| (t.name.clone(), t.partition_indexes.iter().copied().collect())).collect(),
            };
            for (topic, parts) in wanted {
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
    let wanted: BTreeMap<String, BTreeSet<i32>> = match &req.topics {
        None => committed_partitions(cluster, &req.group_id),
        Some(ts) => ts.iter().map(|t| (t.name.clone(), t.partition_indexes.iter().copied().collect())).collect(),
    };
    for (topic, parts) in wanted {
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
    tick(cluster);
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
    tick(cluster);
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
