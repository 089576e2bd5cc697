//! One partition's batches in sequence order, with the counters the engine
//! needs so that no decision scans the queue: how many batches are in
//! flight and how many are being retried. Batches that were sent at least
//! once always form a short prefix of the queue (at most
//! `max.in.flight.requests.per.connection` of them can be unacknowledged),
//! so finding an answered batch looks at that prefix only.

use std::collections::VecDeque;
use std::time::Instant;

use ferrokafka_protocol::bytes::Bytes;

use super::batch::SealedBatch;
use crate::error::{Error, Result};

/// A closed batch waiting for its answer.
pub(crate) struct Batch {
    /// Unique id (answers are matched by it).
    pub id: u64,
    /// The order the batch was handed to the engine in; split halves keep
    /// their parent's, so a flush covering the parent covers them.
    pub flush_key: u64,
    pub sealed: SealedBatch,
    /// Base sequence, assigned when first sent (idempotent only).
    pub seq: Option<i32>,
    /// The bytes as stamped for the current producer id, epoch and `seq`;
    /// cleared when any of them changes.
    pub encoded: Option<Bytes>,
    pub in_flight: bool,
    /// Sent at least once.
    pub sent: bool,
    pub attempts: u32,
    pub retry_at: Instant,
    /// An attempt got no definite answer: it may be in the log.
    pub possibly_written: bool,
    pub last_error: Option<Error>,
}

impl Batch {
    pub fn new(id: u64, sealed: SealedBatch) -> Batch {
        Batch { id, flush_key: id, sealed, seq: None, encoded: None, in_flight: false, sent: false, attempts: 0, retry_at: Instant::now(), possibly_written: false, last_error: None }
    }

    /// The stamped bytes for `pid`/`epoch` (encoding them once per stamp).
    pub fn bytes(&mut self, pid: i64, epoch: i16) -> Result<Bytes> {
        if let Some(b) = &self.encoded {
            return Ok(b.clone());
        }
        let b = self.sealed.encode(pid, epoch, self.seq.unwrap_or(-1))?;
        self.encoded = Some(b.clone());
        Ok(b)
    }
}

/// Adds `count` to a sequence number, wrapping at `i32::MAX` as Kafka does.
pub(crate) fn seq_add(seq: i32, count: i32) -> i32 {
    (i64::from(seq) + i64::from(count)).rem_euclid(i64::from(i32::MAX) + 1) as i32
}

/// One partition's sequencing state and queue.
#[derive(Default)]
pub(crate) struct PartitionQueue {
    batches: VecDeque<Batch>,
    in_flight: usize,
    /// Batches in the queue with attempts > 0.
    retrying: usize,
    /// The producer id and epoch this partition's sequences belong to.
    pub pair: Option<(i64, i16)>,
    pub next_seq: i32,
    /// The leader has acknowledged a batch stamped with `pair`.
    pub confirmed: bool,
    /// The sequences must restart under a new epoch once the partition is
    /// quiet (nothing in flight, nothing possibly written at the front).
    pub reset_wanted: bool,
}

impl PartitionQueue {
    pub fn push(&mut self, b: Batch) {
        self.batches.push_back(b);
    }

    pub fn front(&self) -> Option<&Batch> {
        self.batches.front()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Some batch is being retried: send one at a time until it is not.
    pub fn recovering(&self) -> bool {
        self.retrying > 0
    }

    fn position(&self, id: u64) -> Option<usize> {
        // Answered batches are in the sent prefix; stop at the first batch
        // never sent.
        self.batches.iter().take_while(|b| b.sent).position(|b| b.id == id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut Batch> {
        let i = self.position(id)?;
        self.batches.get_mut(i)
    }

    /// Takes a batch out (answered or failed).
    pub fn remove(&mut self, id: u64) -> Option<Batch> {
        let i = self.position(id)?;
        let b = self.batches.remove(i)?;
        self.forget(&b);
        Some(b)
    }

    /// Takes the batch at `i` out (expiry walks from the front).
    pub fn remove_at(&mut self, i: usize) -> Option<Batch> {
        let b = self.batches.remove(i)?;
        self.forget(&b);
        Some(b)
    }

    fn forget(&mut self, b: &Batch) {
        if b.in_flight {
            self.in_flight -= 1;
        }
        if b.attempts > 0 {
            self.retrying -= 1;
        }
    }

    pub fn get(&self, i: usize) -> Option<&Batch> {
        self.batches.get(i)
    }

    /// Puts `b` at position `i` (split halves take their parent's place).
    pub fn insert(&mut self, i: usize, b: Batch) {
        if b.in_flight {
            self.in_flight += 1;
        }
        if b.attempts > 0 {
            self.retrying += 1;
        }
        self.batches.insert(i, b);
    }

    /// The position of a sent batch.
    pub fn index_of(&self, id: u64) -> Option<usize> {
        self.position(id)
    }

    /// The position of the batch sent next: the first one not in flight.
    pub fn first_idle(&self) -> Option<usize> {
        self.batches.iter().position(|b| !b.in_flight)
    }

    /// The batch at `i`, to number and stamp it (not to change whether it
    /// is in flight: that goes through the methods that keep the counts).
    pub fn at_mut(&mut self, i: usize) -> &mut Batch {
        &mut self.batches[i]
    }

    /// The batch at `i` goes on the wire.
    pub fn mark_in_flight(&mut self, i: usize) {
        let b = &mut self.batches[i];
        if !b.in_flight {
            b.in_flight = true;
            b.sent = true;
            self.in_flight += 1;
        }
    }

    /// A sent batch came back (answered or not); its position, and one
    /// more attempt counted unless it succeeded.
    pub fn returned(&mut self, id: u64, failed: bool) -> Option<usize> {
        let i = self.position(id)?;
        let b = &mut self.batches[i];
        if b.in_flight {
            b.in_flight = false;
            self.in_flight -= 1;
        }
        if failed {
            b.attempts += 1;
            if b.attempts == 1 {
                self.retrying += 1;
            }
        }
        Some(i)
    }

    /// A batch known not written left the queue: the sequences behind it
    /// move down by its record count, in place (nothing behind it is in
    /// flight, which the caller checked).
    pub fn shift_after_removed(&mut self, count: i32) {
        for b in self.batches.iter_mut().take_while(|b| b.seq.is_some()) {
            if let Some(s) = b.seq {
                b.seq = Some(seq_add(s, -count));
                b.encoded = None;
            }
            // Nothing behind a batch known not written can be in the log.
            b.possibly_written = false;
        }
        self.next_seq = seq_add(self.next_seq, -count);
    }

    /// The front batch is known not written (or absent): nothing behind it
    /// can be in the log either, so their uncertainty is cleared.
    fn clear_uncertainty(&mut self) {
        for b in self.batches.iter_mut().take_while(|b| b.sent) {
            b.possibly_written = false;
        }
    }

    /// Whether a wanted reset can happen now: nothing in flight, and the
    /// oldest batch is not one whose outcome must first be learned.
    pub fn ready_to_reset(&self) -> bool {
        self.in_flight == 0 && !self.batches.front().is_some_and(|b| b.possibly_written)
    }

    /// Restarts the sequences at 0 under `pair`: every batch is renumbered
    /// when next sent.
    pub fn reset(&mut self, pair: (i64, i16)) {
        self.clear_uncertainty();
        for b in self.batches.iter_mut().take_while(|b| b.seq.is_some()) {
            b.seq = None;
            b.encoded = None;
        }
        self.pair = Some(pair);
        self.next_seq = 0;
        self.confirmed = false;
        self.reset_wanted = false;
    }

    /// Takes a new producer id/epoch at a quiet moment (nothing in flight,
    /// nothing numbered), as the Java client does: cheap, and it keeps the
    /// whole producer on one epoch.
    pub fn adopt_if_quiet(&mut self, pair: (i64, i16)) {
        if self.pair != Some(pair) && self.in_flight == 0 && self.batches.front().is_none_or(|b| b.seq.is_none()) {
            self.pair = Some(pair);
            self.next_seq = 0;
            self.confirmed = false;
        }
    }

    pub fn drain(&mut self) -> impl Iterator<Item = Batch> + '_ {
        self.in_flight = 0;
        self.retrying = 0;
        self.batches.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(seq_add(i32::MAX, 1), 0);
        assert_eq!(seq_add(i32::MAX - 1, 3), 1);
        assert_eq!(seq_add(0, -2), i32::MAX - 1);
        assert_eq!(seq_add(5, -2), 3);
    }
}
