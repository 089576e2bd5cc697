//! The transaction coordinator's operations on the cluster: producer ids
//! and epochs (InitProducerId, KIP-360 bumps), AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit's pending offsets, EndTxn with
//! commit/abort markers on every partition, and `transaction.timeout.ms`.
//!
//! The caller has checked that this broker coordinates the transactional
//! id. A stale epoch is PRODUCER_FENCED here; handlers answer older clients
//! that do not know that code with INVALID_PRODUCER_EPOCH.

use ferrokafka_protocol::ErrorCode;

use super::clock::now_ms;
use super::group::CommittedOffset;
use super::txn::{TxnMeta, TxnState};
use super::Cluster;

impl Cluster {
    /// Hands out the next producer id.
    fn allocate_producer_id(&mut self) -> i64 {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        id
    }

    /// Brings a transaction's state up to date: finishes marker writes
    /// whose time has come and aborts a transaction past its timeout
    /// (bumping the epoch, as Kafka does, so the late producer is fenced).
    pub fn refresh_transaction(&mut self, tid: &str, now: i64) {
        let Some(meta) = self.txn.txns.get_mut(tid) else { return };
        match meta.state {
            TxnState::PrepareCommit if now >= meta.markers_until_ms => meta.state = TxnState::CompleteCommit,
            TxnState::PrepareAbort if now >= meta.markers_until_ms => meta.state = TxnState::CompleteAbort,
            TxnState::Ongoing if now > meta.start_ms + i64::from(meta.timeout_ms) => {
                meta.epoch = meta.epoch.saturating_add(1);
                self.complete_transaction(tid, false, now);
            }
            _ => {}
        }
    }

    /// Refreshes every transaction (called periodically).
    pub fn expire_transactions(&mut self) {
        let now = now_ms();
        let ids: Vec<String> = self.txn.txns.keys().cloned().collect();
        for tid in ids {
            self.refresh_transaction(&tid, now);
        }
    }

    /// Writes markers for the transaction's partitions with its current
    /// epoch, applies or drops its offsets, and moves to Prepare*/Complete*.
    fn complete_transaction(&mut self, tid: &str, commit: bool, now: i64) {
        let latency = self.txn.marker_latency_ms;
        let Some(meta) = self.txn.txns.get_mut(tid) else { return };
        let (pid, epoch) = (meta.producer_id, meta.epoch);
        let partitions: Vec<(String, i32)> = std::mem::take(&mut meta.partitions).into_iter().collect();
        let groups: Vec<String> = std::mem::take(&mut meta.groups).into_iter().collect();
        meta.state = match (commit, latency > 0) {
            (true, true) => TxnState::PrepareCommit,
            (false, true) => TxnState::PrepareAbort,
            (true, false) => TxnState::CompleteCommit,
            (false, false) => TxnState::CompleteAbort,
        };
        meta.markers_until_ms = now + latency;
        for (topic, p) in partitions {
            if let Some(part) = self.partition_mut(&topic, p) {
                part.log.write_marker(pid, epoch, commit, 0, now);
            }
        }
        for g in groups {
            if let Some(offsets) = self.txn.pending_offsets.remove(&(g.clone(), pid)) {
                if commit {
                    self.store_offsets(&g, offsets);
                }
            }
        }
    }

    /// InitProducerId without a transactional id: always a new producer id
    /// at epoch 0, whatever id and epoch the request names (as Kafka 4.4
    /// answers; the KIP-360 bump of the same id is for transactional
    /// producers, an idempotent one bumps its epoch by itself).
    pub fn init_idempotent_producer(&mut self) -> (i64, i16) {
        (self.allocate_producer_id(), 0)
    }

    /// InitProducerId with a transactional id: a new id at epoch 0 the
    /// first time, else the same id with the epoch bumped (fencing the
    /// previous producer). `current` is the id and epoch a KIP-360 retry
    /// names. An open transaction is aborted first and the caller told
    /// CONCURRENT_TRANSACTIONS, to retry once the markers are written.
    pub fn init_transactional_producer(&mut self, tid: &str, timeout_ms: i32, current: Option<(i64, i16)>) -> Result<(i64, i16), ErrorCode> {
        if timeout_ms <= 0 || i64::from(timeout_ms) > self.config.max_transaction_timeout.as_millis() as i64 {
            return Err(ErrorCode::INVALID_TRANSACTION_TIMEOUT);
        }
        let now = now_ms();
        self.refresh_transaction(tid, now);
        let Some(meta) = self.txn.txns.get(tid) else {
            let pid = self.allocate_producer_id();
            self.txn.txns.insert(tid.to_string(), TxnMeta::new(pid, timeout_ms, now));
            return Ok((pid, 0));
        };
        if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
        }
        if current.is_some_and(|c| c != (meta.producer_id, meta.epoch)) {
            // A KIP-360 retry must name the current id and epoch.
            return Err(ErrorCode::PRODUCER_FENCED);
        }
        if meta.state == TxnState::Ongoing {
            // Fence the old producer: abort its transaction with a bumped
            // epoch; the caller retries once the markers are written (Kafka
            // answers CONCURRENT_TRANSACTIONS here, as the captures show).
            self.txn.txns.get_mut(tid).expect("present").epoch += 1;
            self.complete_transaction(tid, false, now);
            return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
        }
        if meta.epoch >= i16::MAX - 1 {
            // The epoch is exhausted: a new producer id.
            let pid = self.allocate_producer_id();
            let m = self.txn.txns.get_mut(tid).expect("present");
            m.producer_id = pid;
            m.epoch = 0;
        } else {
            self.txn.txns.get_mut(tid).expect("present").epoch += 1;
        }
        let m = self.txn.txns.get_mut(tid).expect("present");
        m.timeout_ms = timeout_ms;
        m.state = TxnState::Empty;
        Ok((m.producer_id, m.epoch))
    }

    /// The checks the coordinator's APIs share: the id's current producer
    /// and epoch, and no markers being written.
    fn check_txn(&mut self, tid: &str, pid: i64, epoch: i16) -> Result<&mut TxnMeta, ErrorCode> {
        self.refresh_transaction(tid, now_ms());
        let meta = self.txn.txns.get_mut(tid).ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
        if meta.producer_id != pid {
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        }
        if epoch != meta.epoch {
            return Err(ErrorCode::PRODUCER_FENCED);
        }
        if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
        }
        Ok(meta)
    }

    /// AddPartitionsToTxn from a client (v0-3): adds the partitions,
    /// opening the transaction. Returns each partition's outcome in order;
    /// if any is unknown, nothing is added: those get
    /// UNKNOWN_TOPIC_OR_PARTITION and the rest OPERATION_NOT_ATTEMPTED.
    pub fn add_partitions_to_txn(&mut self, tid: &str, pid: i64, epoch: i16, partitions: &[(String, i32)]) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.check_txn(tid, pid, epoch)?;
        let known: Vec<bool> = partitions.iter().map(|(t, p)| self.partition(t, *p).is_some()).collect();
        if known.contains(&false) {
            return Ok(known.iter().map(|k| if *k { ErrorCode::OPERATION_NOT_ATTEMPTED } else { ErrorCode::UNKNOWN_TOPIC_OR_PARTITION }).collect());
        }
        let meta = self.txn.txns.get_mut(tid).expect("checked");
        meta.begin();
        meta.partitions.extend(partitions.iter().cloned());
        Ok(vec![ErrorCode::NONE; partitions.len()])
    }

    /// AddPartitionsToTxn in the broker-to-coordinator form (v4+, KIP-890):
    /// adds the partitions, or with `verify_only` checks that the open
    /// transaction holds each (INVALID_TXN_STATE where not). Returns each
    /// partition's outcome in order.
    pub fn add_partitions_from_broker(&mut self, tid: &str, pid: i64, epoch: i16, partitions: &[(String, i32)], verify_only: bool) -> Result<Vec<ErrorCode>, ErrorCode> {
        let meta = self.check_txn(tid, pid, epoch)?;
        Ok(partitions
            .iter()
            .map(|key| {
                if verify_only {
                    if meta.state == TxnState::Ongoing && meta.partitions.contains(key) {
                        ErrorCode::NONE
                    } else {
                        ErrorCode::INVALID_TXN_STATE
                    }
                } else {
                    meta.begin();
                    meta.partitions.insert(key.clone());
                    ErrorCode::NONE
                }
            })
            .collect())
    }

    /// AddOffsetsToTxn: the transaction will commit offsets of `group`.
    pub fn add_offsets_to_txn(&mut self, tid: &str, pid: i64, epoch: i16, group: &str) -> Result<(), ErrorCode> {
        let meta = self.check_txn(tid, pid, epoch)?;
        meta.begin();
        meta.groups.insert(group.to_string());
        Ok(())
    }

    /// EndTxn: commits or aborts the open transaction, writing markers.
    /// A retry of an end already done (or being written) succeeds. With
    /// `client_v2` (EndTxn v5+) on a cluster with transactions v2, the
    /// epoch is bumped and the new id and epoch returned.
    pub fn end_txn(&mut self, tid: &str, pid: i64, epoch: i16, commit: bool, client_v2: bool) -> Result<Option<(i64, i16)>, ErrorCode> {
        let now = now_ms();
        let state = match self.check_txn(tid, pid, epoch) {
            Ok(meta) => meta.state,
            Err(e) => {
                // A retried EndTxn whose markers are still being written succeeds.
                let retry_ok = e == ErrorCode::CONCURRENT_TRANSACTIONS
                    && self.txn.txns.get(tid).is_some_and(|m| {
                        (m.state == TxnState::PrepareCommit && commit) || (m.state == TxnState::PrepareAbort && !commit)
                    });
                return if retry_ok { Ok(None) } else { Err(e) };
            }
        };
        match (state, commit) {
            (TxnState::Ongoing, commit) => {
                self.complete_transaction(tid, commit, now);
                if !(self.config.transactions_v2 && client_v2) {
                    return Ok(None);
                }
                // Transactions v2 bump the epoch at every transaction end.
                let meta = self.txn.txns.get_mut(tid).expect("checked");
                meta.epoch += 1;
                Ok(Some((meta.producer_id, meta.epoch)))
            }
            // Retries of a completed end are answered as successes.
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(None),
            _ => Err(ErrorCode::INVALID_TXN_STATE),
        }
    }

    /// TxnOffsetCommit: offsets held by the transaction until it commits.
    /// `member` is the consumer's (member id, generation, instance id),
    /// checked against its group (KIP-447) when given.
    pub fn txn_offset_commit(
        &mut self,
        tid: &str,
        pid: i64,
        epoch: i16,
        group: &str,
        member: Option<(&str, i32, Option<&str>)>,
        offsets: Vec<((String, i32), CommittedOffset)>,
    ) -> Result<(), ErrorCode> {
        // The transaction must be this producer's current one.
        match self.txn.txns.get(tid) {
            Some(m) if m.producer_id == pid && m.epoch == epoch => {}
            Some(m) if m.producer_id == pid => return Err(ErrorCode::PRODUCER_FENCED),
            _ => return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING),
        }
        if let Some((member, generation, instance)) = member {
            self.check_member(group, member, generation, instance)?;
        }
        self.txn.pending_offsets.entry((group.to_string(), pid)).or_default().extend(offsets);
        Ok(())
    }

    /// A transactional id's state, brought up to date.
    pub fn describe_transaction(&mut self, tid: &str) -> Option<TxnMeta> {
        self.refresh_transaction(tid, now_ms());
        self.txn.txns.get(tid).cloned()
    }

    /// Transactions matching every filter given: states by name, producer
    /// ids, and open for at least `min_duration_ms` (-1: any). Returns
    /// (transactional id, producer id, state).
    pub fn list_transactions(&mut self, states: &[String], producer_ids: &[i64], min_duration_ms: i64) -> Vec<(String, i64, TxnState)> {
        self.expire_transactions();
        let now = now_ms();
        self.txn
            .txns
            .iter()
            .filter(|(_, m)| states.is_empty() || states.iter().any(|s| s == m.state.name()))
            .filter(|(_, m)| producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
            .filter(|(_, m)| min_duration_ms < 0 || (m.state == TxnState::Ongoing && now - m.start_ms >= min_duration_ms))
            .map(|(tid, m)| (tid.clone(), m.producer_id, m.state))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::MockConfig;
    use crate::state::testing::{batch, cluster, cluster_with};

    const T: &str = "tx";

    fn part(topic: &str, p: i32) -> (String, i32) {
        (topic.to_string(), p)
    }

    /// A cluster with topic `t` (2 partitions) and a transactional
    /// producer at epoch 0.
    fn with_producer() -> (Cluster, i64) {
        let mut c = cluster();
        c.create_topic("t", 2, BTreeMap::new()).unwrap();
        let (pid, epoch) = c.init_transactional_producer(T, 60_000, None).unwrap();
        assert_eq!(epoch, 0);
        (c, pid)
    }

    fn produce(c: &mut Cluster, p: i32, pid: i64, epoch: i16, seq: i32) -> Result<(i64, i64), ErrorCode> {
        c.append_records("t", p, 1, Some(batch(pid, epoch, seq, 1, true)), true, Some(T), false)
    }

    #[test]
    fn partitions_must_be_added_before_transactional_writes() {
        let (mut c, pid) = with_producer();
        assert_eq!(produce(&mut c, 0, pid, 0, 0), Err(ErrorCode::INVALID_TXN_STATE));
        // An unknown partition fails the whole request; nothing is added.
        assert_eq!(
            c.add_partitions_to_txn(T, pid, 0, &[part("t", 0), part("t", 9)]),
            Ok(vec![ErrorCode::OPERATION_NOT_ATTEMPTED, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION])
        );
        assert_eq!(c.txn.txns[T].state, TxnState::Empty);
        assert_eq!(c.add_partitions_to_txn(T, pid, 0, &[part("t", 0)]), Ok(vec![ErrorCode::NONE]));
        assert_eq!(c.txn.txns[T].state, TxnState::Ongoing);
        assert_eq!(produce(&mut c, 0, pid, 0, 0), Ok((0, 0)));
        assert_eq!(produce(&mut c, 1, pid, 0, 0), Err(ErrorCode::INVALID_TXN_STATE));
        // The broker-side verification sees the same membership.
        assert_eq!(
            c.add_partitions_from_broker(T, pid, 0, &[part("t", 0), part("t", 1)], true),
            Ok(vec![ErrorCode::NONE, ErrorCode::INVALID_TXN_STATE])
        );
        assert_eq!(c.add_partitions_to_txn(T, pid + 1, 0, &[part("t", 0)]), Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING));
        assert_eq!(c.add_partitions_to_txn("other", pid, 0, &[part("t", 0)]), Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING));
    }

    #[test]
    fn commit_and_abort_write_markers_and_move_the_stable_offset() {
        let (mut c, pid) = with_producer();
        c.add_partitions_to_txn(T, pid, 0, &[part("t", 0)]).unwrap();
        produce(&mut c, 0, pid, 0, 0).unwrap();
        assert_eq!(c.partition("t", 0).unwrap().log.last_stable_offset(), 0);
        assert_eq!(c.end_txn(T, pid, 0, true, false), Ok(None));
        let log = &c.partition("t", 0).unwrap().log;
        assert_eq!((log.high_watermark(), log.last_stable_offset()), (2, 2));
        assert!(log.aborted.is_empty());
        assert_eq!(c.txn.txns[T].state, TxnState::CompleteCommit);
        // A retried commit succeeds; an abort of it does not.
        assert_eq!(c.end_txn(T, pid, 0, true, false), Ok(None));
        assert_eq!(c.end_txn(T, pid, 0, false, false), Err(ErrorCode::INVALID_TXN_STATE));
        // The next transaction aborts: indexed for read_committed.
        c.add_partitions_to_txn(T, pid, 0, &[part("t", 0)]).unwrap();
        produce(&mut c, 0, pid, 0, 1).unwrap();
        assert_eq!(c.end_txn(T, pid, 0, false, false), Ok(None));
        let log = &c.partition("t", 0).unwrap().log;
        assert_eq!(log.high_watermark(), 4);
        assert_eq!(log.aborted_in(0, 4).len(), 1);
        assert_eq!(log.aborted_in(0, 4)[0].first_offset, 2);
        // Nothing open: ending is an invalid state.
        let (mut c, pid) = with_producer();
        assert_eq!(c.end_txn(T, pid, 0, true, false), Err(ErrorCode::INVALID_TXN_STATE));
    }

    #[test]
    fn transactions_v2_bump_the_epoch_at_every_end() {
        let mut c = cluster_with(MockConfig { transactions_v2: true, ..Default::default() }, 1);
        c.create_topic("t", 1, BTreeMap::new()).unwrap();
        let (pid, _) = c.init_transactional_producer(T, 60_000, None).unwrap();
        // A v2 client adds the partition by writing to it.
        assert!(c.append_records("t", 0, 1, Some(batch(pid, 0, 0, 1, true)), true, Some(T), true).is_ok());
        assert_eq!(c.end_txn(T, pid, 0, true, true), Ok(Some((pid, 1))));
    }

    #[test]
    fn a_new_producer_fences_the_old_one() {
        let (mut c, pid) = with_producer();
        c.add_partitions_to_txn(T, pid, 0, &[part("t", 0)]).unwrap();
        produce(&mut c, 0, pid, 0, 0).unwrap();
        // The open transaction is aborted with a bumped epoch first.
        assert_eq!(c.init_transactional_producer(T, 60_000, None), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
        assert_eq!(c.partition("t", 0).unwrap().log.aborted.len(), 1);
        assert_eq!(c.init_transactional_producer(T, 60_000, None), Ok((pid, 2)));
        // The zombie at epoch 0 is refused everywhere.
        assert_eq!(c.add_partitions_to_txn(T, pid, 0, &[part("t", 0)]), Err(ErrorCode::PRODUCER_FENCED));
        assert_eq!(c.add_offsets_to_txn(T, pid, 0, "g"), Err(ErrorCode::PRODUCER_FENCED));
        assert_eq!(c.end_txn(T, pid, 0, true, false), Err(ErrorCode::PRODUCER_FENCED));
        assert_eq!(c.txn_offset_commit(T, pid, 0, "g", None, Vec::new()), Err(ErrorCode::PRODUCER_FENCED));
        assert_eq!(produce(&mut c, 0, pid, 0, 1), Err(ErrorCode::INVALID_PRODUCER_EPOCH));
        // A KIP-360 retry must name the current id and epoch.
        assert_eq!(c.init_transactional_producer(T, 60_000, Some((pid, 1))), Err(ErrorCode::PRODUCER_FENCED));
        assert_eq!(c.init_transactional_producer(T, 60_000, Some((pid, 2))), Ok((pid, 3)));
        assert_eq!(c.init_transactional_producer(T, 0, None), Err(ErrorCode::INVALID_TRANSACTION_TIMEOUT));
    }

    #[test]
    fn marker_latency_answers_concurrent_transactions_until_written() {
        let (mut c, pid) = with_producer();
        c.txn.marker_latency_ms = 60_000;
        c.add_partitions_to_txn(T, pid, 0, &[part("t", 0)]).unwrap();
        assert_eq!(c.end_txn(T, pid, 0, true, false), Ok(None));
        assert_eq!(c.txn.txns[T].state, TxnState::PrepareCommit);
        // The same end again succeeds; anything else waits.
        assert_eq!(c.end_txn(T, pid, 0, true, false), Ok(None));
        assert_eq!(c.end_txn(T, pid, 0, false, false), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
        assert_eq!(c.add_partitions_to_txn(T, pid, 0, &[part("t", 0)]), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
        assert_eq!(c.init_transactional_producer(T, 60_000, None), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
        // Once the markers are written, the coordinator moves on.
        c.refresh_transaction(T, now_ms() + 60_001);
        assert_eq!(c.txn.txns[T].state, TxnState::CompleteCommit);
    }

    #[test]
    fn a_transaction_past_its_timeout_is_aborted_with_a_bumped_epoch() {
        let (mut c, pid) = with_producer();
        c.add_partitions_to_txn(T, pid, 0, &[part("t", 0)]).unwrap();
        produce(&mut c, 0, pid, 0, 0).unwrap();
        let start = c.txn.txns[T].start_ms;
        c.refresh_transaction(T, start + 60_001);
        assert_eq!((c.txn.txns[T].state, c.txn.txns[T].epoch), (TxnState::CompleteAbort, 1));
        assert_eq!(c.partition("t", 0).unwrap().log.last_stable_offset(), 2);
        assert_eq!(c.end_txn(T, pid, 0, true, false), Err(ErrorCode::PRODUCER_FENCED));
        assert_eq!(c.list_transactions(&["CompleteAbort".into()], &[], -1), vec![(T.to_string(), pid, TxnState::CompleteAbort)]);
        assert!(c.list_transactions(&["Ongoing".into()], &[], -1).is_empty());
    }

    #[test]
    fn transactional_offsets_are_visible_only_on_commit() {
        let (mut c, pid) = with_producer();
        let offset = |o| CommittedOffset { offset: o, leader_epoch: -1, metadata: None };
        for (commit, expected) in [(false, None), (true, Some(offset(7)))] {
            c.add_offsets_to_txn(T, pid, 0, "g").unwrap();
            c.txn_offset_commit(T, pid, 0, "g", None, vec![(part("t", 0), offset(7))]).unwrap();
            assert_eq!(c.fetch_offset("g", "t", 0, true), Err(ErrorCode::UNSTABLE_OFFSET_COMMIT));
            assert_eq!(c.fetch_offset("g", "t", 0, false), Ok(None));
            c.end_txn(T, pid, 0, commit, false).unwrap();
            assert_eq!(c.fetch_offset("g", "t", 0, true), Ok(expected));
        }
        // KIP-447: a member the group does not know is refused.
        assert_eq!(c.txn_offset_commit(T, pid, 0, "g", Some(("m", 1, None)), Vec::new()), Err(ErrorCode::UNKNOWN_MEMBER_ID));
    }
}
