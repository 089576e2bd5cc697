//! Transactions' state: each transactional id's producer id, epoch,
//! state, partitions and groups, the offsets committed inside open
//! transactions, and the check Produce makes of a transactional batch.
//! The coordinator's operations are in `txn_coordinator`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ferrokafka_protocol::ErrorCode;

use super::clock::now_ms;
use super::group::CommittedOffset;

/// Kafka's transaction states (as DescribeTransactions names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// No transaction open.
    Empty,
    /// A transaction is open.
    Ongoing,
    /// Commit markers are being written.
    PrepareCommit,
    /// Abort markers are being written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

impl TxnState {
    /// The state's name in Kafka.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }
}

/// One transactional id's state.
#[derive(Debug, Clone)]
pub struct TxnMeta {
    /// The producer id.
    pub producer_id: i64,
    /// The current epoch; older ones are fenced.
    pub epoch: i16,
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// Where the transaction is.
    pub state: TxnState,
    /// The partitions the open transaction wrote to or added.
    pub partitions: BTreeSet<(String, i32)>,
    /// The groups whose offsets it commits.
    pub groups: BTreeSet<String>,
    /// When the open transaction began.
    pub start_ms: i64,
    /// While markers are "being written": requests get CONCURRENT_TRANSACTIONS.
    pub markers_until_ms: i64,
}

impl TxnMeta {
    /// Opens a transaction unless one is open.
    pub(super) fn begin(&mut self) {
        if self.state != TxnState::Ongoing {
            self.state = TxnState::Ongoing;
            self.start_ms = now_ms();
        }
    }

    /// A new transactional id's state.
    pub(super) fn new(producer_id: i64, timeout_ms: i32, now: i64) -> TxnMeta {
        TxnMeta {
            producer_id,
            epoch: 0,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            start_ms: now,
            markers_until_ms: 0,
        }
    }
}

/// Every transactional id's state.
#[derive(Debug, Default)]
pub struct TxnCoordinator {
    /// By transactional id.
    pub txns: BTreeMap<String, TxnMeta>,
    /// Offsets committed inside a transaction, visible on commit:
    /// (group, producer id) -> partition -> offset.
    pub pending_offsets: HashMap<(String, i64), BTreeMap<(String, i32), CommittedOffset>>,
    /// How long markers take to write (0: at once).
    pub marker_latency_ms: i64,
}

impl TxnCoordinator {
    /// Whether a transactional batch from `pid` at `epoch` may be written
    /// to `topic`/`partition` (called by Produce). With `tv2` (transactions
    /// v2) the write adds the partition to the transaction.
    pub fn check_produce(&mut self, tid: Option<&str>, pid: i64, epoch: i16, topic: &str, partition: i32, tv2: bool) -> Result<(), ErrorCode> {
        let meta = match tid {
            Some(t) => self.txns.get_mut(t),
            None => self.txns.values_mut().find(|m| m.producer_id == pid),
        };
        let Some(meta) = meta else { return Err(ErrorCode::INVALID_TXN_STATE) };
        if meta.producer_id != pid {
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        }
        if epoch < meta.epoch {
            return Err(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        let key = (topic.to_string(), partition);
        if meta.state == TxnState::Ongoing && meta.partitions.contains(&key) {
            return Ok(());
        }
        if tv2 && matches!(meta.state, TxnState::Empty | TxnState::Ongoing | TxnState::CompleteCommit | TxnState::CompleteAbort) {
            meta.begin();
            meta.partitions.insert(key);
            return Ok(());
        }
        // Kafka 3.8 verifies with the coordinator (KIP-890 part 1) and
        // refuses writes to partitions the transaction did not add.
        Err(ErrorCode::INVALID_TXN_STATE)
    }

    /// Pending transactional offsets of `group` for this partition?
    pub fn has_pending_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.pending_offsets
            .iter()
            .any(|((g, _), offs)| g == group && offs.contains_key(&(topic.to_string(), partition)))
    }
}
