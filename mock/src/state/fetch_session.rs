//! Incremental fetch sessions (KIP-227): the partitions a client fetches
//! through a session and what it was last told about each, so that an
//! incremental answer can leave out the partitions that did not change.

use std::collections::{BTreeMap, HashMap};

use ferrokafka_protocol::wire::Uuid;
use ferrokafka_protocol::ErrorCode;

/// At most this many sessions are kept per cluster; beyond that new
/// sessions are refused (session id 0), as a broker with a full cache does.
pub const MAX_SESSIONS: usize = 1000;

/// A partition of a session: the topic as the client names it (its name
/// before Fetch v13, empty from v13 on), the topic id (zero before v13),
/// and the partition index.
pub type SessionKey = (String, Uuid, i32);

/// What a client was told about a partition: high watermark, last stable
/// offset and log start offset.
pub type Marks = (i64, i64, i64);

/// Where a client reads one partition: its key, fetch offset and
/// partition max bytes.
pub type SessionRead = (SessionKey, i64, i32);

/// One partition's entry in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPartition {
    /// The offset the client reads from next.
    pub fetch_offset: i64,
    /// The client's per-partition byte limit.
    pub max_bytes: i32,
    /// What the client was last told; `None` until its first answer, so
    /// the first answer always counts as a change.
    pub last_sent: Option<Marks>,
}

/// An incremental fetch session.
#[derive(Debug, Clone)]
pub struct FetchSession {
    /// The broker the session lives on (sessions are per broker in Kafka).
    pub broker: i32,
    /// The epoch of the last answer; the next request must carry one more.
    pub epoch: i32,
    /// The session's partitions, in the order answers list them.
    pub partitions: BTreeMap<SessionKey, SessionPartition>,
}

/// The cluster's fetch-session cache.
#[derive(Debug, Default)]
pub struct FetchSessions {
    sessions: HashMap<i32, FetchSession>,
    last_id: i32,
}

impl FetchSessions {
    /// A session by id (only tests look inside one).
    #[cfg(test)]
    pub fn get(&self, id: i32) -> Option<&FetchSession> {
        self.sessions.get(&id)
    }

    /// Forgets a session (the client closed it, or it was replaced). An
    /// unknown id is ignored.
    pub fn close(&mut self, id: i32) {
        self.sessions.remove(&id);
    }

    /// Opens a session on `broker` over these partitions and returns its
    /// id, or 0 when the cache is full (the client then goes on with full
    /// fetches, as against a broker with no room).
    pub fn open(&mut self, broker: i32, partitions: impl IntoIterator<Item = SessionRead>) -> i32 {
        if self.sessions.len() >= MAX_SESSIONS {
            return 0;
        }
        self.last_id += 1;
        let partitions = partitions
            .into_iter()
            .map(|(key, fetch_offset, max_bytes)| (key, SessionPartition { fetch_offset, max_bytes, last_sent: None }))
            .collect();
        self.sessions.insert(self.last_id, FetchSession { broker, epoch: 0, partitions });
        self.last_id
    }

    /// Applies an incremental request to session `id` on `broker`: the
    /// named partitions are added or get their new offsets, then the
    /// forgotten ones are dropped. Returns every partition the session now
    /// reads. Applying the same request twice is harmless, which a
    /// long-poll fetch that is re-polled relies on.
    pub fn update(
        &mut self,
        id: i32,
        broker: i32,
        epoch: i32,
        changed: impl IntoIterator<Item = SessionRead>,
        forgotten: impl IntoIterator<Item = SessionKey>,
    ) -> Result<Vec<SessionRead>, ErrorCode> {
        let sess = self.sessions.get_mut(&id).filter(|s| s.broker == broker).ok_or(ErrorCode::FETCH_SESSION_ID_NOT_FOUND)?;
        if epoch != sess.epoch + 1 {
            return Err(ErrorCode::INVALID_FETCH_SESSION_EPOCH);
        }
        for (key, fetch_offset, max_bytes) in changed {
            let last_sent = sess.partitions.get(&key).and_then(|e| e.last_sent);
            sess.partitions.insert(key, SessionPartition { fetch_offset, max_bytes, last_sent });
        }
        for key in forgotten {
            sess.partitions.remove(&key);
        }
        Ok(sess.partitions.iter().map(|(k, e)| (k.clone(), e.fetch_offset, e.max_bytes)).collect())
    }

    /// Records the answer to session `id`: its epoch moves on (back to 0
    /// for a full fetch) and each partition remembers the marks sent.
    /// Returns, per partition in `sent`, whether its marks differ from the
    /// last ones sent (true for a partition the session does not hold), or
    /// `None` when there is no such session.
    pub fn answered<'a>(&mut self, id: i32, incremental: bool, sent: impl IntoIterator<Item = (&'a SessionKey, Marks)>) -> Option<Vec<bool>> {
        let sess = self.sessions.get_mut(&id)?;
        sess.epoch = if incremental { sess.epoch + 1 } else { 0 };
        Some(
            sent.into_iter()
                .map(|(key, marks)| match sess.partitions.get_mut(key) {
                    Some(entry) => entry.last_sent.replace(marks) != Some(marks),
                    None => true,
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(topic: &str, p: i32) -> SessionKey {
        (topic.to_string(), Uuid::ZERO, p)
    }

    #[test]
    fn a_session_is_created_with_its_partitions_and_epoch_zero() {
        let mut s = FetchSessions::default();
        let id = s.open(1, [(key("a", 0), 5, 100), (key("a", 1), 7, 100)]);
        assert_ne!(id, 0);
        let sess = s.get(id).unwrap();
        assert_eq!((sess.broker, sess.epoch, sess.partitions.len()), (1, 0, 2));
        assert_eq!(sess.partitions[&key("a", 1)].fetch_offset, 7);
        // A second session gets another id.
        assert_ne!(s.open(1, []), id);
    }

    #[test]
    fn updates_check_the_epoch_and_broker_and_apply_changes() {
        let mut s = FetchSessions::default();
        let id = s.open(1, [(key("a", 0), 5, 100), (key("a", 1), 7, 100)]);
        assert_eq!(s.update(id, 2, 1, [], []), Err(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
        assert_eq!(s.update(id + 1, 1, 1, [], []), Err(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
        assert_eq!(s.update(id, 1, 2, [], []), Err(ErrorCode::INVALID_FETCH_SESSION_EPOCH));
        let now = s.update(id, 1, 1, [(key("a", 1), 9, 50), (key("b", 0), 0, 100)], [key("a", 0)]).unwrap();
        assert_eq!(now, vec![(key("a", 1), 9, 50), (key("b", 0), 0, 100)]);
        // Until an answer moves the epoch on, the same epoch is expected.
        assert!(s.update(id, 1, 1, [], []).is_ok());
        assert_eq!(s.answered(id, true, []), Some(vec![]));
        assert_eq!(s.update(id, 1, 1, [], []), Err(ErrorCode::INVALID_FETCH_SESSION_EPOCH));
        assert!(s.update(id, 1, 2, [], []).is_ok());
    }

    #[test]
    fn answers_report_which_partitions_changed() {
        let mut s = FetchSessions::default();
        let id = s.open(1, [(key("a", 0), 0, 100), (key("a", 1), 0, 100)]);
        let (k0, k1, other) = (key("a", 0), key("a", 1), key("z", 0));
        // The first answer is a change for every partition.
        assert_eq!(s.answered(id, false, [(&k0, (3, 3, 0)), (&k1, (0, 0, 0))]), Some(vec![true, true]));
        assert_eq!(s.get(id).unwrap().epoch, 0);
        assert_eq!(s.answered(id, true, [(&k0, (3, 3, 0)), (&k1, (1, 1, 0)), (&other, (0, 0, 0))]), Some(vec![false, true, true]));
        assert_eq!(s.get(id).unwrap().epoch, 1);
        // An update keeps what was last sent.
        s.update(id, 1, 2, [(k0.clone(), 3, 100)], []).unwrap();
        assert_eq!(s.answered(id, true, [(&k0, (3, 3, 0))]), Some(vec![false]));
        assert_eq!(s.answered(id + 1, true, []), None);
    }

    #[test]
    fn closed_sessions_are_gone_and_a_full_cache_refuses_new_ones() {
        let mut s = FetchSessions::default();
        let id = s.open(1, [(key("a", 0), 0, 100)]);
        s.close(id);
        assert!(s.get(id).is_none());
        assert_eq!(s.update(id, 1, 1, [], []), Err(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
        for _ in 0..MAX_SESSIONS {
            assert_ne!(s.open(1, []), 0);
        }
        assert_eq!(s.open(1, []), 0);
        // Closing one makes room again.
        s.close(id + 1);
        assert_ne!(s.open(1, []), 0);
    }
}
