//! A classic consumer group: its members and the rebalance state machine
//! (join phase, choice of leader and protocol, session and rebalance
//! timeouts), and the committed-offset record. The coordinator's
//! operations on groups are in `group_coordinator`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_protocol::bytes::Bytes;

/// A classic group's state, as DescribeGroups names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// The join phase: members are (re)joining.
    PreparingRebalance,
    /// The sync phase: waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
}

impl GroupState {
    /// The state's name in Kafka.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// A committed consumer offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the last record consumed (-1: unknown).
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: Option<String>,
}

/// A group member.
#[derive(Debug, Clone)]
pub struct Member {
    /// The member id the coordinator gave.
    pub id: String,
    /// The static member's `group.instance.id`.
    pub instance_id: Option<String>,
    /// The client id of its last join.
    pub client_id: String,
    /// Its host, as DescribeGroups reports it.
    pub client_host: String,
    /// Without a heartbeat for this long it is removed.
    pub session_timeout: Duration,
    /// How long a rebalance waits for it to rejoin.
    pub rebalance_timeout: Duration,
    /// Its protocols (assignors) with their metadata, in its preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// What the leader assigned it in the last sync.
    pub assignment: Bytes,
    /// Its last join, sync or heartbeat.
    pub last_seen: Instant,
    /// Has (re)joined the rebalance in progress.
    pub joined: bool,
}

/// A classic consumer group.
#[derive(Debug)]
pub struct Group {
    /// Where it is in the rebalance cycle.
    pub state: GroupState,
    /// Bumped at the end of every join phase.
    pub generation: i32,
    /// The members' protocol type (`consumer` for consumers).
    pub protocol_type: Option<String>,
    /// The protocol (assignor) chosen in the last join phase.
    pub protocol: Option<String>,
    /// The member that assigns.
    pub leader: Option<String>,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    pub pending: BTreeMap<String, Instant>,
    pub rebalance_deadline: Instant,
    /// The outcome of the last completed join phase, for JoinGroup calls
    /// still waiting on it when the next rebalance already began.
    pub(super) last_join: Option<JoinSnapshot>,
    next_member: u64,
}

/// What a completed join phase tells its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinSnapshot {
    /// The generation the phase completed.
    pub generation: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// (member id, group instance id, metadata for the chosen protocol);
    /// only the leader is told these.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl Group {
    pub(super) fn new() -> Group {
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
    pub(super) fn new_member_id(&mut self, client_id: &str) -> String {
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

    pub(super) fn prepare_rebalance(&mut self, now: Instant, initial_delay: Duration) {
        let was_empty = self.state == GroupState::Empty;
        self.state = GroupState::PreparingRebalance;
        for m in self.members.values_mut() {
            m.joined = false;
        }
        let timeout = self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or_default();
        self.rebalance_deadline = now + if was_empty { initial_delay } else { timeout };
    }

    /// Ends the join phase when every member has rejoined or time is up.
    pub(super) fn maybe_complete(&mut self, now: Instant) {
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

    pub(super) fn remove_member(&mut self, id: &str, now: Instant, initial_delay: Duration) {
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

    pub(super) fn expire(&mut self, now: Instant, initial_delay: Duration) {
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
