//! One partition's log: batches stored as received (with the broker's base
//! offset and leader epoch patched in), idempotent-producer state, the
//! transaction bookkeeping behind the last stable offset, and the aborted
//! transaction index that read_committed fetches need.

use std::collections::{BTreeMap, HashMap};

use ferrokafka_protocol::bytes::{Bytes, BytesMut};
use ferrokafka_protocol::records::{ControlRecord, ControlRecordType, DecodeLimits, RecordBatch};
use ferrokafka_protocol::ErrorCode;

/// How many recent batches per producer are remembered for duplicate
/// detection (Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
const RETAINED_BATCHES: usize = 5;

/// A stored batch.
#[derive(Debug, Clone)]
pub struct StoredBatch {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub is_control: bool,
    /// The encoded batch exactly as a Fetch returns it.
    pub bytes: Bytes,
}

/// Metadata of one appended batch, for duplicate detection.
#[derive(Debug, Clone, Copy)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    timestamp: i64,
}

/// Per producer id, in one partition.
#[derive(Debug, Clone, Default)]
pub struct ProducerState {
    pub epoch: i16,
    batches: Vec<BatchMeta>,
    /// First offset of the producer's open transaction here, if any.
    pub txn_first_offset: Option<i64>,
    pub coordinator_epoch: i32,
}

impl ProducerState {
    /// The last sequence and timestamp appended, if any.
    pub fn last_batch(&self) -> Option<(i32, i64)> {
        self.batches.last().map(|b| (b.last_seq, b.timestamp))
    }
}

/// An aborted transaction, for read_committed fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// What a successful append reports back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub log_append_time: i64,
    /// The batch was a retry of one already in the log.
    pub duplicate: bool,
}

/// Behaviour switches that differ between Kafka versions.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogRules {
    /// Answer UNKNOWN_PRODUCER_ID to a non-zero first sequence from a
    /// producer with no state in the partition (Kafka before 2.5). Kafka
    /// 3.x accepts such writes (KIP-360), which is the default here.
    pub strict_unknown_producer: bool,
}

#[derive(Debug, Default)]
pub struct PartitionLog {
    pub batches: Vec<StoredBatch>,
    pub log_start_offset: i64,
    pub next_offset: i64,
    pub leader_epoch: i32,
    pub producers: HashMap<i64, ProducerState>,
    /// Open transactions: producer id -> first offset.
    pub ongoing: BTreeMap<i64, i64>,
    pub aborted: Vec<AbortedTxn>,
    /// Leader epochs after the first (0) with the offset each started at.
    pub epoch_starts: Vec<(i32, i64)>,
}

fn in_sequence(last: i32, next: i32) -> bool {
    next == if last == i32::MAX { 0 } else { last + 1 }
}

impl PartitionLog {
    pub fn high_watermark(&self) -> i64 {
        self.next_offset
    }

    /// The first offset of the earliest open transaction, or the high watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.ongoing.values().copied().min().unwrap_or(self.next_offset)
    }

    /// Validates and appends one produced batch. `batch_bytes` is the batch
    /// as it came; `now` is the broker's clock for log-append time.
    pub fn append(
        &mut self,
        batch_bytes: Bytes,
        now: i64,
        rules: LogRules,
        txn_check: impl FnOnce(i64, i16) -> Result<(), ErrorCode>,
    ) -> Result<Appended, ErrorCode> {
        let limits = DecodeLimits::default();
        let batch = match RecordBatch::decode(batch_bytes.clone(), &limits) {
            Ok(b) => b,
            Err(ferrokafka_protocol::DecodeError::CrcMismatch { .. }) => return Err(ErrorCode::CORRUPT_MESSAGE),
            Err(ferrokafka_protocol::DecodeError::Compression(_)) => return Err(ErrorCode::CORRUPT_MESSAGE),
            Err(_) => return Err(ErrorCode::CORRUPT_MESSAGE),
        };
        if batch.records.is_empty() || batch.last_offset_delta != batch.records.len() as i32 - 1 {
            return Err(ErrorCode::INVALID_RECORD);
        }
        if batch.is_control() {
            // Clients may not write control batches.
            return Err(ErrorCode::INVALID_RECORD);
        }
        for (i, r) in batch.records.iter().enumerate() {
            if r.offset_delta != i as i32 {
                return Err(ErrorCode::INVALID_RECORD);
            }
        }
        let pid = batch.producer_id;
        let count = batch.records.len() as i32;
        if pid >= 0 {
            if batch.base_sequence < 0 {
                return Err(ErrorCode::INVALID_RECORD);
            }
            let first_seq = batch.base_sequence;
            let last_seq = ((i64::from(first_seq) + i64::from(count) - 1) % (i64::from(i32::MAX) + 1)) as i32;
            let epoch = batch.producer_epoch;
            if batch.is_transactional() {
                txn_check(pid, epoch)?;
            }
            match self.producers.get(&pid) {
                Some(state) => {
                    if epoch < state.epoch {
                        return Err(ErrorCode::INVALID_PRODUCER_EPOCH);
                    }
                    if epoch == state.epoch {
                        if let Some(dup) = state.batches.iter().find(|b| b.first_seq == first_seq && b.last_seq == last_seq) {
                            return Ok(Appended { base_offset: dup.base_offset, log_append_time: -1, duplicate: true });
                        }
                        let last = state.batches.last().map(|b| b.last_seq).unwrap_or(-1);
                        if !in_sequence(last, first_seq) {
                            return Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
                        }
                    } else if first_seq != 0 {
                        // A new epoch starts its sequences at zero.
                        return Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
                    }
                }
                None => {
                    if first_seq != 0 && rules.strict_unknown_producer {
                        return Err(ErrorCode::UNKNOWN_PRODUCER_ID);
                    }
                }
            }
        }
        let base_offset = self.next_offset;
        let stored = restamp(&batch_bytes, base_offset, self.leader_epoch);
        let max_ts = batch.max_timestamp;
        self.batches.push(StoredBatch {
            base_offset,
            last_offset: base_offset + i64::from(count) - 1,
            max_timestamp: max_ts,
            is_control: false,
            bytes: stored,
        });
        self.next_offset += i64::from(count);
        if pid >= 0 {
            let state = self.producers.entry(pid).or_default();
            if state.epoch != batch.producer_epoch {
                state.batches.clear();
            }
            state.epoch = batch.producer_epoch;
            state.batches.push(BatchMeta {
                first_seq: batch.base_sequence,
                last_seq: batch.base_sequence.wrapping_add(count - 1),
                base_offset,
                timestamp: max_ts,
            });
            if state.batches.len() > RETAINED_BATCHES {
                state.batches.remove(0);
            }
            if batch.is_transactional() && state.txn_first_offset.is_none() {
                state.txn_first_offset = Some(base_offset);
                self.ongoing.insert(pid, base_offset);
            }
        }
        let _ = now;
        Ok(Appended { base_offset, log_append_time: -1, duplicate: false })
    }

    /// Writes a transaction marker for `pid` (commit or abort), closing its
    /// open transaction in this partition.
    pub fn write_marker(&mut self, pid: i64, epoch: i16, commit: bool, coordinator_epoch: i32, now: i64) {
        let kind = if commit { ControlRecordType::Commit } else { ControlRecordType::Abort };
        let marker = ControlRecord { kind, coordinator_epoch };
        let mut b = RecordBatch::from_records([(now, Some(marker.key()), Some(marker.value()), Vec::new())]);
        b.producer_id = pid;
        b.producer_epoch = epoch;
        b.set_transactional(true);
        b.set_control(true);
        b.base_offset = self.next_offset;
        b.partition_leader_epoch = self.leader_epoch;
        let mut buf = BytesMut::new();
        b.encode(&mut buf, None).expect("a marker batch encodes");
        let offset = self.next_offset;
        self.batches.push(StoredBatch {
            base_offset: offset,
            last_offset: offset,
            max_timestamp: now,
            is_control: true,
            bytes: buf.freeze(),
        });
        self.next_offset += 1;
        let state = self.producers.entry(pid).or_default();
        state.epoch = state.epoch.max(epoch);
        state.coordinator_epoch = coordinator_epoch;
        if let Some(first) = state.txn_first_offset.take() {
            self.ongoing.remove(&pid);
            if !commit {
                self.aborted.push(AbortedTxn { producer_id: pid, first_offset: first, last_offset: offset });
            }
        }
    }

    /// Index of the first batch holding offsets at or after `offset`.
    fn first_batch_from(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.last_offset < offset)
    }

    /// Batches from `offset` up to (not including) `upper`, at most
    /// `max_bytes` but always the first whole batch (KIP-74).
    pub fn read(&self, offset: i64, upper: i64, max_bytes: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut size = 0usize;
        for b in &self.batches[self.first_batch_from(offset)..] {
            if b.base_offset >= upper {
                break;
            }
            if !out.is_empty() && size + b.bytes.len() > max_bytes {
                break;
            }
            size += b.bytes.len();
            out.push(b.bytes.clone());
        }
        out
    }

    /// Aborted transactions overlapping `[from, upper)`.
    pub fn aborted_in(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        self.aborted.iter().copied().filter(|a| a.last_offset >= from && a.first_offset < upper).collect()
    }

    /// The earliest offset whose batch has a timestamp >= `ts`, with that timestamp.
    pub fn offset_for_timestamp(&self, ts: i64) -> Option<(i64, i64)> {
        let limits = DecodeLimits::default();
        for b in &self.batches {
            if b.is_control || b.max_timestamp < ts {
                continue;
            }
            let batch = RecordBatch::decode(b.bytes.clone(), &limits).ok()?;
            for r in &batch.records {
                let t = batch.timestamp_of(r);
                if t >= ts {
                    return Some((batch.offset_of(r), t));
                }
            }
        }
        None
    }

    /// The record with the largest timestamp: (offset, timestamp).
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let limits = DecodeLimits::default();
        let mut best: Option<(i64, i64)> = None;
        for b in self.batches.iter().filter(|b| !b.is_control) {
            if best.is_some_and(|(_, t)| b.max_timestamp <= t) {
                continue;
            }
            let batch = RecordBatch::decode(b.bytes.clone(), &limits).ok()?;
            for r in &batch.records {
                let t = batch.timestamp_of(r);
                if best.is_none_or(|(_, bt)| t > bt) {
                    best = Some((batch.offset_of(r), t));
                }
            }
        }
        best
    }

    /// Whether a fetch may read from `offset`: between the log start and
    /// the high watermark, else OFFSET_OUT_OF_RANGE.
    pub fn check_fetch_offset(&self, offset: i64) -> Result<(), ErrorCode> {
        if offset < self.log_start_offset || offset > self.high_watermark() {
            return Err(ErrorCode::OFFSET_OUT_OF_RANGE);
        }
        Ok(())
    }

    /// ListOffsets for one partition: (offset, timestamp) for `timestamp`
    /// -2 (earliest), -1 (latest: the last stable offset when
    /// `read_committed`), -3 (the record with the largest timestamp, when
    /// `max_timestamp_query` is allowed), or a time (the first record at or
    /// after it, (-1, -1) if none below latest). Anything else is
    /// INVALID_REQUEST.
    pub fn list_offset(&self, timestamp: i64, read_committed: bool, max_timestamp_query: bool) -> Result<(i64, i64), ErrorCode> {
        let latest = if read_committed { self.last_stable_offset() } else { self.high_watermark() };
        Ok(match timestamp {
            -2 => (self.log_start_offset, -1),
            -1 => (latest, -1),
            -3 if max_timestamp_query => self.max_timestamp().unwrap_or((latest, -1)),
            ts if ts >= 0 => self.offset_for_timestamp(ts).filter(|(o, _)| *o < latest).unwrap_or((-1, -1)),
            _ => return Err(ErrorCode::INVALID_REQUEST),
        })
    }

    /// A new leader: a new epoch, starting at the log end.
    pub fn bump_leader_epoch(&mut self) {
        self.leader_epoch += 1;
        self.epoch_starts.push((self.leader_epoch, self.next_offset));
    }

    /// OffsetForLeaderEpoch: the largest epoch at or below `epoch` and the
    /// offset where it ended (the start of the next epoch, or the log end).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        if epoch < 0 || epoch > self.leader_epoch {
            return (-1, -1);
        }
        let mut epochs = vec![(0, 0i64)];
        epochs.extend(self.epoch_starts.iter().copied());
        let i = epochs.iter().rposition(|(e, _)| *e <= epoch).unwrap_or(0);
        let end = epochs.get(i + 1).map(|(_, start)| *start).unwrap_or(self.next_offset);
        (epochs[i].0, end)
    }

    /// Moves the log start offset forward (DeleteRecords).
    pub fn delete_before(&mut self, offset: i64) {
        let offset = offset.min(self.next_offset);
        if offset <= self.log_start_offset {
            return;
        }
        self.log_start_offset = offset;
        self.batches.retain(|b| b.last_offset >= offset);
    }
}

/// Sets base offset and partition leader epoch in an encoded batch. Neither
/// is covered by the CRC, so the batch stays valid.
fn restamp(batch: &Bytes, base_offset: i64, leader_epoch: i32) -> Bytes {
    let mut b = BytesMut::from(&batch[..]);
    b[0..8].copy_from_slice(&base_offset.to_be_bytes());
    b[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::testing::batch;

    fn ok(_: i64, _: i16) -> Result<(), ErrorCode> {
        Ok(())
    }

    #[test]
    fn idempotent_rules_as_kafka_applies_them() {
        let mut log = PartitionLog::default();
        let r = LogRules::default();
        assert_eq!(log.append(batch(7, 0, 0, 5, false), 0, r, ok).unwrap().base_offset, 0);
        // The same batch again: the original offset, no second copy.
        let dup = log.append(batch(7, 0, 0, 5, false), 0, r, ok).unwrap();
        assert_eq!((dup.base_offset, dup.duplicate), (0, true));
        assert_eq!(log.next_offset, 5);
        // A gap.
        assert_eq!(log.append(batch(7, 0, 10, 5, false), 0, r, ok), Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER));
        // The next in sequence.
        assert_eq!(log.append(batch(7, 0, 5, 1, false), 0, r, ok).unwrap().base_offset, 5);
        // A bumped epoch restarts at zero...
        assert_eq!(log.append(batch(7, 1, 3, 1, false), 0, r, ok), Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER));
        assert_eq!(log.append(batch(7, 1, 0, 1, false), 0, r, ok).unwrap().base_offset, 6);
        // ...and fences the old one.
        assert_eq!(log.append(batch(7, 0, 6, 1, false), 0, r, ok), Err(ErrorCode::INVALID_PRODUCER_EPOCH));
        // An unknown producer with a non-zero sequence: accepted (Kafka 3.x), or refused in strict mode.
        assert!(log.append(batch(8, 0, 4, 1, false), 0, r, ok).is_ok());
        let strict = LogRules { strict_unknown_producer: true };
        assert_eq!(log.append(batch(9, 0, 4, 1, false), 0, strict, ok), Err(ErrorCode::UNKNOWN_PRODUCER_ID));
    }

    #[test]
    fn only_the_last_five_batches_are_duplicates() {
        let mut log = PartitionLog::default();
        let r = LogRules::default();
        for s in 0..7 {
            log.append(batch(1, 0, s, 1, false), 0, r, ok).unwrap();
        }
        assert!(log.append(batch(1, 0, 2, 1, false), 0, r, ok).unwrap().duplicate);
        assert_eq!(log.append(batch(1, 0, 1, 1, false), 0, r, ok), Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER));
    }

    #[test]
    fn transactions_hold_back_the_stable_offset_and_aborts_are_indexed() {
        let mut log = PartitionLog::default();
        let r = LogRules::default();
        log.append(batch(-1, -1, -1, 2, false), 0, r, ok).unwrap();
        log.append(batch(5, 0, 0, 3, true), 0, r, ok).unwrap();
        assert_eq!((log.high_watermark(), log.last_stable_offset()), (5, 2));
        log.write_marker(5, 0, false, 0, 0);
        assert_eq!((log.high_watermark(), log.last_stable_offset()), (6, 6));
        assert_eq!(log.aborted_in(0, 6), vec![AbortedTxn { producer_id: 5, first_offset: 2, last_offset: 5 }]);
        assert!(log.aborted_in(6, 10).is_empty());
    }

    #[test]
    fn a_corrupt_batch_is_refused() {
        let mut log = PartitionLog::default();
        let mut b = BytesMut::from(&batch(-1, -1, -1, 2, false)[..]);
        let n = b.len();
        b[n - 1] ^= 0xff;
        assert_eq!(log.append(b.freeze(), 0, LogRules::default(), ok), Err(ErrorCode::CORRUPT_MESSAGE));
    }
}
