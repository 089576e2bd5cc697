//! The group coordinator's operations on the cluster: JoinGroup (with the
//! member-id-required round), SyncGroup, Heartbeat, LeaveGroup, offset
//! commits and look-ups, and session expiry.
//!
//! A join or sync that must wait for the rebalance comes back as a
//! [`GroupWait`], which the connection re-polls ([`Cluster::poll_join`],
//! [`Cluster::poll_sync`]) whenever the cluster changes or time passes.
//! The caller has checked that this broker coordinates the group.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferrokafka_protocol::bytes::Bytes;
use ferrokafka_protocol::ErrorCode;

use super::group::{CommittedOffset, Group, GroupState, JoinSnapshot, Member};
use super::Cluster;

/// A JoinGroup or SyncGroup waiting on the rebalance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWait {
    /// The group.
    pub group: String,
    /// The waiting member.
    pub member: String,
    /// A join: the generation it waits to see completed; a sync: the
    /// generation it syncs.
    pub generation: i32,
    /// A SyncGroup (else a JoinGroup).
    pub sync: bool,
    /// When to answer regardless.
    pub deadline: Instant,
}

/// An answer that may have to wait for the rebalance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalance<T> {
    /// The answer.
    Done(T),
    /// Not yet: re-poll on changes or at the deadline.
    Wait(GroupWait),
}

/// What a JoinGroup asks, with the version-dependent fields already
/// resolved by the caller.
#[derive(Debug, Clone)]
pub struct JoinParams {
    /// The group.
    pub group_id: String,
    /// The member id, empty on a first join.
    pub member_id: String,
    /// The static member's instance id (JoinGroup v5+).
    pub group_instance_id: Option<String>,
    /// The request header's client id ("" when absent).
    pub client_id: String,
    /// The session timeout asked for.
    pub session_timeout_ms: i32,
    /// The rebalance timeout asked for (JoinGroup v1+; zero or less: the
    /// session timeout).
    pub rebalance_timeout_ms: i32,
    /// The protocol type.
    pub protocol_type: String,
    /// Protocols (assignors) with their metadata, in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// KIP-394 (JoinGroup v4+): a dynamic member's first join only obtains
    /// a member id (MEMBER_ID_REQUIRED).
    pub require_member_id: bool,
}

/// A refused JoinGroup: the error, and the member id the answer carries
/// (the new one for MEMBER_ID_REQUIRED, else the request's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinError {
    /// Why.
    pub code: ErrorCode,
    /// The member id to answer with.
    pub member_id: String,
}

impl JoinError {
    fn new(code: ErrorCode, member_id: impl Into<String>) -> JoinError {
        JoinError { code, member_id: member_id.into() }
    }
}

/// A successful JoinGroup: the member's id and the join phase's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The member's id.
    pub member_id: String,
    /// The completed join phase.
    pub snapshot: JoinSnapshot,
}

/// A successful SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    /// The member's assignment.
    pub assignment: Bytes,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol_name: Option<String>,
}

/// How long after the rebalance deadline a waiting join is answered
/// regardless, so the phase's own completion gets there first.
const JOIN_GRACE: Duration = Duration::from_millis(50);

fn joined(group: &Group, member_id: &str) -> Result<Joined, JoinError> {
    match &group.last_join {
        Some(s) => Ok(Joined { member_id: member_id.to_string(), snapshot: s.clone() }),
        None => Err(JoinError::new(ErrorCode::UNKNOWN_MEMBER_ID, member_id)),
    }
}

fn synced(group: &Group, member: &str) -> Synced {
    Synced {
        assignment: group.members.get(member).map(|m| m.assignment.clone()).unwrap_or_default(),
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol.clone(),
    }
}

impl Cluster {
    /// Expires sessions and finishes rebalances whose time has come.
    pub fn expire_groups(&mut self) {
        let now = Instant::now();
        let delay = self.config.group_initial_rebalance_delay;
        for g in self.groups.values_mut() {
            g.expire(now, delay);
        }
    }

    /// JoinGroup: admits the member to the join phase, starting a rebalance
    /// if needed. A follower rejoining a stable group with nothing new is
    /// answered at once; other joins wait for the phase to complete.
    pub fn join_group(&mut self, req: JoinParams) -> Result<Rebalance<Joined>, JoinError> {
        let now = Instant::now();
        if req.group_id.is_empty() {
            return Err(JoinError::new(ErrorCode::INVALID_GROUP_ID, req.member_id));
        }
        let (min_s, max_s) = self.config.group_session_timeout_range;
        let session = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
        if session < min_s || session > max_s {
            return Err(JoinError::new(ErrorCode::INVALID_SESSION_TIMEOUT, req.member_id));
        }
        let rebalance = if req.rebalance_timeout_ms > 0 { Duration::from_millis(req.rebalance_timeout_ms as u64) } else { session };
        let delay = self.config.group_initial_rebalance_delay;
        if !self.groups.contains_key(&req.group_id) && !req.member_id.is_empty() {
            return Err(JoinError::new(ErrorCode::UNKNOWN_MEMBER_ID, req.member_id));
        }
        let group = self.groups.entry(req.group_id.clone()).or_insert_with(Group::new);
        group.expire(now, delay);
        if req.protocols.is_empty()
            || (!group.members.is_empty()
                && (group.protocol_type.as_deref() != Some(req.protocol_type.as_str())
                    || !req.protocols.iter().any(|(p, _)| group.members.values().all(|m| m.protocols.iter().any(|(n, _)| n == p)))))
        {
            return Err(JoinError::new(ErrorCode::INCONSISTENT_GROUP_PROTOCOL, req.member_id));
        }
        let instance = req.group_instance_id;
        let mut member_id = req.member_id;
        if member_id.is_empty() {
            member_id = group.new_member_id(&req.client_id);
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
            } else if req.require_member_id {
                // KIP-394: the first join only obtains a member id.
                group.pending.insert(member_id.clone(), now + session);
                return Err(JoinError::new(ErrorCode::MEMBER_ID_REQUIRED, member_id));
            }
        } else if !group.members.contains_key(&member_id) && group.pending.remove(&member_id).is_none() {
            return Err(JoinError::new(ErrorCode::UNKNOWN_MEMBER_ID, member_id));
        } else if let (Some(inst), Some(m)) = (&instance, group.members.get(&member_id)) {
            if m.instance_id.as_ref() != Some(inst) {
                return Err(JoinError::new(ErrorCode::FENCED_INSTANCE_ID, member_id));
            }
        }
        let is_new = !group.members.contains_key(&member_id);
        let unchanged = group.members.get(&member_id).is_some_and(|m| m.protocols == req.protocols);
        let member = group.members.entry(member_id.clone()).or_insert_with(|| Member {
            id: member_id.clone(),
            instance_id: instance.clone(),
            client_id: req.client_id.clone(),
            client_host: "/127.0.0.1".into(),
            session_timeout: session,
            rebalance_timeout: rebalance,
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            last_seen: now,
            joined: false,
        });
        member.protocols = req.protocols;
        member.session_timeout = session;
        member.rebalance_timeout = rebalance;
        member.last_seen = now;
        group.protocol_type = Some(req.protocol_type);
        let is_leader = group.leader.as_deref() == Some(member_id.as_str());
        match group.state {
            // A follower rejoining with nothing new: no rebalance needed.
            GroupState::Stable if !is_new && unchanged && !is_leader => return joined(group, &member_id).map(Rebalance::Done),
            GroupState::PreparingRebalance => {}
            _ => group.prepare_rebalance(now, delay),
        }
        group.members.get_mut(&member_id).expect("inserted").joined = true;
        // The generation this join waits to see completed.
        let waiting_on = group.generation;
        group.maybe_complete(now);
        let deadline = group.rebalance_deadline.max(now) + JOIN_GRACE;
        Ok(Rebalance::Wait(GroupWait { group: req.group_id, member: member_id, generation: waiting_on, sync: false, deadline }))
    }

    /// Re-polls a waiting JoinGroup; `deadline_passed` says its time is up.
    pub fn poll_join(&mut self, wait: GroupWait, deadline_passed: bool) -> Result<Rebalance<Joined>, JoinError> {
        let now = Instant::now();
        let delay = self.config.group_initial_rebalance_delay;
        let Some(group) = self.groups.get_mut(&wait.group) else {
            return Err(JoinError::new(ErrorCode::UNKNOWN_MEMBER_ID, wait.member));
        };
        group.expire(now, delay);
        // A join phase completed since this JoinGroup arrived: answer with
        // its outcome, even if the next rebalance has begun meanwhile.
        if let Some(s) = &group.last_join {
            if s.generation > wait.generation && s.members.iter().any(|(id, _, _)| *id == wait.member) {
                return Ok(Rebalance::Done(Joined { member_id: wait.member, snapshot: s.clone() }));
            }
        }
        if !group.members.contains_key(&wait.member) {
            return Err(JoinError::new(ErrorCode::UNKNOWN_MEMBER_ID, wait.member));
        }
        if deadline_passed && group.state != GroupState::PreparingRebalance {
            return joined(group, &wait.member).map(Rebalance::Done);
        }
        let deadline = group.rebalance_deadline.max(now) + JOIN_GRACE;
        Ok(Rebalance::Wait(GroupWait { deadline, ..wait }))
    }

    /// The checks Heartbeat, SyncGroup, OffsetCommit and TxnOffsetCommit
    /// share: a known member of the current generation, not fenced by
    /// another owner of its static instance id.
    pub fn check_member(&self, group: &str, member: &str, generation: i32, instance: Option<&str>) -> Result<(), ErrorCode> {
        let g = self.groups.get(group).ok_or(ErrorCode::UNKNOWN_MEMBER_ID)?;
        if let Some(inst) = instance {
            if let Some(owner) = g.members.values().find(|m| m.instance_id.as_deref() == Some(inst)) {
                if owner.id != member {
                    return Err(ErrorCode::FENCED_INSTANCE_ID);
                }
            }
        }
        if !g.members.contains_key(member) {
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        if generation != g.generation {
            return Err(ErrorCode::ILLEGAL_GENERATION);
        }
        Ok(())
    }

    /// SyncGroup: the leader hands out the assignment and the group becomes
    /// stable; a follower waits for that. `protocol` is the protocol type
    /// and name the client names (SyncGroup v5+; `None`: not checked).
    pub fn sync_group(
        &mut self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        instance: Option<&str>,
        protocol: (Option<String>, Option<String>),
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Rebalance<Synced>, ErrorCode> {
        let now = Instant::now();
        self.check_member(group_id, member_id, generation, instance)?;
        let delay = self.config.group_initial_rebalance_delay;
        let group = self.groups.get_mut(group_id).expect("checked");
        group.expire(now, delay);
        let type_ok = protocol.0.is_none() || protocol.0 == group.protocol_type;
        let name_ok = protocol.1.is_none() || protocol.1 == group.protocol;
        if !type_ok || !name_ok {
            return Err(ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
        }
        if let Some(m) = group.members.get_mut(member_id) {
            m.last_seen = now;
        }
        match group.state {
            GroupState::PreparingRebalance | GroupState::Empty => Err(ErrorCode::REBALANCE_IN_PROGRESS),
            GroupState::Stable => Ok(Rebalance::Done(synced(group, member_id))),
            GroupState::CompletingRebalance => {
                if group.leader.as_deref() == Some(member_id) {
                    for (id, assignment) in assignments {
                        if let Some(m) = group.members.get_mut(&id) {
                            m.assignment = assignment;
                        }
                    }
                    group.state = GroupState::Stable;
                    return Ok(Rebalance::Done(synced(group, member_id)));
                }
                let session = group.members.get(member_id).map(|m| m.session_timeout).unwrap_or_default();
                Ok(Rebalance::Wait(GroupWait {
                    group: group_id.to_string(),
                    member: member_id.to_string(),
                    generation,
                    sync: true,
                    deadline: now + session,
                }))
            }
        }
    }

    /// Re-polls a waiting SyncGroup; `deadline_passed` says its time is up.
    pub fn poll_sync(&mut self, wait: GroupWait, deadline_passed: bool) -> Result<Rebalance<Synced>, ErrorCode> {
        let now = Instant::now();
        let delay = self.config.group_initial_rebalance_delay;
        let group = self.groups.get_mut(&wait.group).ok_or(ErrorCode::UNKNOWN_MEMBER_ID)?;
        group.expire(now, delay);
        if !group.members.contains_key(&wait.member) {
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        if group.generation != wait.generation || group.state == GroupState::PreparingRebalance {
            return Err(ErrorCode::REBALANCE_IN_PROGRESS);
        }
        if group.state == GroupState::Stable {
            return Ok(Rebalance::Done(synced(group, &wait.member)));
        }
        if deadline_passed {
            return Err(ErrorCode::REBALANCE_IN_PROGRESS);
        }
        Ok(Rebalance::Wait(wait))
    }

    /// Heartbeat: keeps the member's session alive and tells it of a
    /// rebalance (REBALANCE_IN_PROGRESS).
    pub fn heartbeat(&mut self, group: &str, member: &str, generation: i32, instance: Option<&str>) -> Result<(), ErrorCode> {
        self.expire_groups();
        if let Err(e) = self.check_member(group, member, generation, instance) {
            // A member of the old generation learns of the rebalance first.
            let rebalancing = self.groups.get(group).is_some_and(|g| g.state == GroupState::PreparingRebalance && g.members.contains_key(member));
            return Err(if rebalancing { ErrorCode::REBALANCE_IN_PROGRESS } else { e });
        }
        let g = self.groups.get_mut(group).expect("checked");
        if let Some(m) = g.members.get_mut(member) {
            m.last_seen = Instant::now();
        }
        if g.state == GroupState::PreparingRebalance {
            return Err(ErrorCode::REBALANCE_IN_PROGRESS);
        }
        Ok(())
    }

    /// LeaveGroup for (member id, instance id) pairs, a static member found
    /// by its instance id. Returns each one's outcome, or an error for the
    /// whole request when the group is unknown.
    pub fn leave_group(&mut self, group: &str, leaving: Vec<(String, Option<String>)>) -> Result<Vec<ErrorCode>, ErrorCode> {
        let delay = self.config.group_initial_rebalance_delay;
        let now = Instant::now();
        let group = self.groups.get_mut(group).ok_or(ErrorCode::UNKNOWN_MEMBER_ID)?;
        let mut out = Vec::with_capacity(leaving.len());
        for (id, inst) in leaving {
            let target = match &inst {
                Some(i) => group.members.values().find(|m| m.instance_id.as_ref() == Some(i)).map(|m| m.id.clone()),
                None => group.members.contains_key(&id).then(|| id.clone()),
            };
            out.push(match (target, &inst) {
                (None, _) => ErrorCode::UNKNOWN_MEMBER_ID,
                (Some(t), Some(_)) if !id.is_empty() && t != id => ErrorCode::FENCED_INSTANCE_ID,
                (Some(t), _) => {
                    group.remove_member(&t, now, delay);
                    ErrorCode::NONE
                }
            });
        }
        Ok(out)
    }

    /// OffsetCommit: from a member of the current generation (a generation
    /// of 0 or more, or a member id), or anonymously to a group without
    /// members. Returns each partition's outcome, in order.
    pub fn commit_offsets(
        &mut self,
        group: &str,
        member: &str,
        generation: i32,
        instance: Option<&str>,
        offsets: Vec<((String, i32), CommittedOffset)>,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.expire_groups();
        let has_members = self.groups.get(group).is_some_and(|g| !g.members.is_empty());
        if generation >= 0 || !member.is_empty() {
            self.check_member(group, member, generation, instance)?;
            if self.groups.get(group).is_some_and(|g| g.state == GroupState::PreparingRebalance) {
                return Err(ErrorCode::REBALANCE_IN_PROGRESS);
            }
        } else if has_members {
            // Only a group with no active members takes anonymous commits.
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        self.groups.entry(group.to_string()).or_insert_with(Group::new);
        let mut out = Vec::with_capacity(offsets.len());
        for (key, committed) in offsets {
            if self.partition(&key.0, key.1).is_none() {
                out.push(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
                continue;
            }
            self.store_offsets(group, [(key, committed)]);
            out.push(ErrorCode::NONE);
        }
        Ok(out)
    }

    /// A group's committed offset for a partition (`None`: none
    /// committed). With `require_stable`, offsets a transaction still holds
    /// are UNSTABLE_OFFSET_COMMIT.
    pub fn fetch_offset(&self, group: &str, topic: &str, p: i32, require_stable: bool) -> Result<Option<CommittedOffset>, ErrorCode> {
        if require_stable && self.txn.has_pending_offset(group, topic, p) {
            return Err(ErrorCode::UNSTABLE_OFFSET_COMMIT);
        }
        Ok(self.offsets.get(group).and_then(|o| o.get(&(topic.to_string(), p))).cloned())
    }

    /// The partitions a group has committed offsets for, by topic.
    pub fn committed_partitions(&self, group: &str) -> BTreeMap<String, BTreeSet<i32>> {
        let mut out: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
        if let Some(o) = self.offsets.get(group) {
            for (t, p) in o.keys() {
                out.entry(t.clone()).or_default().insert(*p);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::testing::cluster;

    const G: &str = "g";

    fn params(member_id: &str, protocols: &[&str]) -> JoinParams {
        JoinParams {
            group_id: G.into(),
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: "client".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: protocols.iter().map(|p| (p.to_string(), Bytes::from(format!("meta-{p}")))).collect(),
            require_member_id: true,
        }
    }

    /// Joins as a new dynamic member: the member-id round, then the join.
    fn join_new(c: &mut Cluster) -> (String, Rebalance<Joined>) {
        let e = c.join_group(params("", &["range"])).unwrap_err();
        assert_eq!(e.code, ErrorCode::MEMBER_ID_REQUIRED);
        assert!(e.member_id.starts_with("client-"));
        let r = c.join_group(params(&e.member_id, &["range"])).unwrap();
        (e.member_id, r)
    }

    fn wait_of<T: std::fmt::Debug>(r: Rebalance<T>) -> GroupWait {
        match r {
            Rebalance::Wait(w) => w,
            Rebalance::Done(d) => panic!("answered at once: {d:?}"),
        }
    }

    fn done<T: std::fmt::Debug>(r: Rebalance<T>) -> T {
        match r {
            Rebalance::Done(d) => d,
            Rebalance::Wait(w) => panic!("still waiting: {w:?}"),
        }
    }

    #[test]
    fn join_checks_come_before_membership() {
        let mut c = cluster();
        let mut p = params("", &["range"]);
        p.group_id.clear();
        assert_eq!(c.join_group(p).unwrap_err().code, ErrorCode::INVALID_GROUP_ID);
        let mut p = params("", &["range"]);
        p.session_timeout_ms = 1;
        assert_eq!(c.join_group(p).unwrap_err().code, ErrorCode::INVALID_SESSION_TIMEOUT);
        assert_eq!(c.join_group(params("who", &["range"])).unwrap_err(), JoinError::new(ErrorCode::UNKNOWN_MEMBER_ID, "who"));
        assert_eq!(c.join_group(params("", &[])).unwrap_err().code, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
        // A member id that was never handed out.
        let (_, _) = join_new(&mut c);
        assert_eq!(c.join_group(params("who", &["range"])).unwrap_err().code, ErrorCode::UNKNOWN_MEMBER_ID);
        // No protocol in common with the members.
        assert_eq!(c.join_group(params("", &["sticky"])).unwrap_err().code, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
    }

    #[test]
    fn generations_advance_with_each_join_phase_and_sync_hands_out_assignments() {
        let mut c = cluster();
        let (a, r) = join_new(&mut c);
        let wait_a = wait_of(r);
        let joined = done(c.poll_join(wait_a, false).unwrap());
        assert_eq!((joined.snapshot.generation, joined.snapshot.leader.as_str()), (1, a.as_str()));
        assert_eq!(joined.snapshot.protocol.as_deref(), Some("range"));
        assert_eq!(joined.snapshot.members.len(), 1);
        let synced = done(c.sync_group(G, &a, 1, None, (None, None), vec![(a.clone(), Bytes::from("a1"))]).unwrap());
        assert_eq!(synced.assignment, Bytes::from("a1"));
        assert_eq!(c.groups[G].state, GroupState::Stable);
        assert_eq!(c.heartbeat(G, &a, 1, None), Ok(()));

        // A second member starts a rebalance; the first hears of it.
        let (b, r) = join_new(&mut c);
        let wait_b = wait_of(r);
        assert_eq!(c.groups[G].state, GroupState::PreparingRebalance);
        assert_eq!(c.heartbeat(G, &a, 1, None), Err(ErrorCode::REBALANCE_IN_PROGRESS));
        assert_eq!(c.commit_offsets(G, &a, 1, None, Vec::new()), Err(ErrorCode::REBALANCE_IN_PROGRESS));
        let wait_a = wait_of(c.poll_join(wait_b.clone(), false).unwrap());
        assert_eq!(wait_a.member, b);
        // The first rejoins: the phase completes with generation 2.
        let wait_a = wait_of(c.join_group(params(&a, &["range"])).unwrap());
        let ja = done(c.poll_join(wait_a, false).unwrap());
        let jb = done(c.poll_join(wait_b, false).unwrap());
        assert_eq!((ja.snapshot.generation, jb.snapshot.generation), (2, 2));
        assert_eq!(ja.snapshot.leader, a);
        assert_eq!(ja.snapshot.members.len(), 2);

        // The old generation is refused; the follower waits for the leader.
        assert_eq!(c.sync_group(G, &b, 1, None, (None, None), Vec::new()), Err(ErrorCode::ILLEGAL_GENERATION));
        assert_eq!(c.heartbeat(G, &b, 1, None), Err(ErrorCode::ILLEGAL_GENERATION));
        let sync_b = wait_of(c.sync_group(G, &b, 2, None, (None, None), Vec::new()).unwrap());
        assert_eq!(wait_of(c.poll_sync(sync_b.clone(), false).unwrap()), sync_b);
        let assignments = vec![(a.clone(), Bytes::from("a2")), (b.clone(), Bytes::from("b2"))];
        assert_eq!(done(c.sync_group(G, &a, 2, None, (None, None), assignments).unwrap()).assignment, Bytes::from("a2"));
        let sb = done(c.poll_sync(sync_b, false).unwrap());
        assert_eq!((sb.assignment, sb.protocol_name.as_deref()), (Bytes::from("b2"), Some("range")));
        assert_eq!(c.heartbeat(G, &b, 2, None), Ok(()));
        assert_eq!(c.sync_group(G, &b, 2, None, (Some("other".into()), None), Vec::new()), Err(ErrorCode::INCONSISTENT_GROUP_PROTOCOL));
    }

    #[test]
    fn leaving_and_committing() {
        let mut c = cluster();
        c.create_topic("t", 1, Default::default()).unwrap();
        let offset = |o| CommittedOffset { offset: o, leader_epoch: 0, metadata: Some("m".into()) };
        // A group without members takes anonymous commits.
        let commit = vec![(("t".to_string(), 0), offset(5)), (("t".to_string(), 3), offset(1))];
        assert_eq!(c.commit_offsets(G, "", -1, None, commit.clone()), Ok(vec![ErrorCode::NONE, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION]));
        assert_eq!(c.fetch_offset(G, "t", 0, false), Ok(Some(offset(5))));
        assert_eq!(c.committed_partitions(G).get("t").map(|p| p.len()), Some(1));
        let (a, r) = join_new(&mut c);
        done(c.poll_join(wait_of(r), false).unwrap());
        // Now it has one: anonymous commits are refused, the member's taken.
        assert_eq!(c.commit_offsets(G, "", -1, None, commit.clone()), Err(ErrorCode::UNKNOWN_MEMBER_ID));
        assert_eq!(c.commit_offsets(G, &a, 0, None, commit.clone()), Err(ErrorCode::ILLEGAL_GENERATION));
        assert_eq!(c.commit_offsets(G, &a, 1, None, commit), Ok(vec![ErrorCode::NONE, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION]));
        assert_eq!(c.leave_group("nope", vec![(a.clone(), None)]), Err(ErrorCode::UNKNOWN_MEMBER_ID));
        assert_eq!(c.leave_group(G, vec![("x".into(), None), (a.clone(), None)]), Ok(vec![ErrorCode::UNKNOWN_MEMBER_ID, ErrorCode::NONE]));
        assert_eq!(c.groups[G].state, GroupState::Empty);
        assert_eq!(c.groups[G].generation, 2);
        assert_eq!(c.heartbeat(G, &a, 1, None), Err(ErrorCode::UNKNOWN_MEMBER_ID));
    }

    #[test]
    fn a_static_member_keeps_its_place_and_fences_its_old_id() {
        let mut c = cluster();
        let mut p = params("", &["range"]);
        p.group_instance_id = Some("i1".into());
        // Static members skip the member-id round.
        let w = wait_of(c.join_group(p.clone()).unwrap());
        let first = done(c.poll_join(w, false).unwrap()).member_id;
        done(c.sync_group(G, &first, 1, Some("i1"), (None, None), Vec::new()).unwrap());
        // The same instance rejoins with a new id; the old id is fenced.
        let w = wait_of(c.join_group(p).unwrap());
        let second = w.member.clone();
        assert_ne!(first, second);
        assert_eq!(c.groups[G].members.len(), 1);
        assert_eq!(c.check_member(G, &first, 2, Some("i1")), Err(ErrorCode::FENCED_INSTANCE_ID));
        assert_eq!(c.leave_group(G, vec![(first, Some("i1".into()))]), Ok(vec![ErrorCode::FENCED_INSTANCE_ID]));
        assert_eq!(c.leave_group(G, vec![(String::new(), Some("i1".into()))]), Ok(vec![ErrorCode::NONE]));
    }
}
