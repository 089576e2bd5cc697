//! The idempotence rules as a pure table: what the producer does with a
//! batch given what is known about it and what the broker answered. No
//! locks, no I/O: the engine gathers the facts, asks, and carries out the
//! action. The transaction manager reuses the same table.
//!
//! The reasoning every row rests on: a partition's leader writes one
//! producer's batches strictly in sequence order under one epoch, and a
//! partition sends more than one batch at a time only once its leader has
//! acknowledged the current producer id and epoch (a leader with no state
//! for a producer accepts any first sequence). So if a batch is known *not*
//! written, no later batch of the same epoch can have been written either;
//! and a batch that *may* be written can only be learned about by resending
//! it unchanged (same epoch and sequence: a duplicate is answered with its
//! original offset) — never by renumbering it, which could write it twice.

use ferrokafka_protocol::ErrorCode;

/// What the engine knows about the batch the answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Facts {
    /// The producer is idempotent (sequences are in use).
    pub idempotent: bool,
    /// The batch carries a sequence number.
    pub sequenced: bool,
    /// No earlier batch of its partition is still unacknowledged.
    pub oldest: bool,
    /// An earlier attempt got no definite answer: it may be in the log.
    pub possibly_written: bool,
    /// Another batch of the partition is in flight besides this one.
    pub others_in_flight: bool,
    /// Records in the batch.
    pub records: i32,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// `retries`.
    pub retries: u32,
}

/// The broker's answer, or its absence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Written at this base offset (log-append time, or -1).
    Written { offset: i64, log_append_time: i64 },
    /// An error code for this partition.
    Code(ErrorCode),
    /// No answer. `sent`: the request may have reached the broker (false
    /// when it never left the client, e.g. the connection was refused).
    Lost { sent: bool },
    /// `delivery.timeout.ms` passed while the batch waited (not in flight).
    Expired,
}

/// What becomes of the sequences behind a batch that fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Later {
    /// Nothing to do: no sequences, or none were taken.
    Keep,
    /// The batch is known not written and nothing behind it is in flight:
    /// move the later batches' sequences down by its record count, in
    /// place (no epoch bump; a transaction survives it).
    Shift,
    /// The sequence continuity is unknown: once the partition's in-flight
    /// batches are back and its possibly-written ones resolved, renumber
    /// its batches from 0 under a new epoch (KIP-360).
    Reset,
}

/// What to do with the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Done: complete its records (offset -1 when unknown).
    Complete { offset: i64, log_append_time: i64 },
    /// Send it again unchanged (same epoch and sequence), after a back-off.
    Retry {
        /// It may now be in the log.
        possibly_written: bool,
        /// Leadership may have moved: refresh metadata.
        refresh: bool,
    },
    /// Not written, and the broker will not take its sequence: reset the
    /// partition's sequences (new epoch), then send it again.
    RetryAfterReset,
    /// MESSAGE_TOO_LARGE for several records: split it in two, the halves
    /// taking the parent's sequence range.
    Split,
    /// Fail its records with `code` (as possibly written when it may be in
    /// the log); `later` says what happens to the sequences behind it.
    Fail { code: Option<ErrorCode>, possibly_written: bool, later: Later },
}

/// Codes after which the leader may have moved.
fn leadership(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NOT_LEADER_OR_FOLLOWER
            | ErrorCode::LEADER_NOT_AVAILABLE
            | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            | ErrorCode::FENCED_LEADER_EPOCH
            | ErrorCode::UNKNOWN_LEADER_EPOCH
            | ErrorCode::KAFKA_STORAGE_ERROR
            | ErrorCode::NOT_ENOUGH_REPLICAS
    )
}

/// Retriable codes whose request may nevertheless have been written.
fn maybe_applied(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND | ErrorCode::REQUEST_TIMED_OUT)
}

/// Codes that say the leader does not take this producer's sequence.
fn sequence_refused(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER | ErrorCode::UNKNOWN_PRODUCER_ID | ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED
    )
}

/// The table. See the module docs and the producer's error table.
pub(crate) fn decide(f: Facts, answer: Answer) -> Action {
    let fail = |code: Option<ErrorCode>, possibly_written: bool| Action::Fail { code, possibly_written, later: later_for(f, possibly_written) };
    match answer {
        Answer::Written { offset, log_append_time } => Action::Complete { offset, log_append_time },
        Answer::Expired => fail(None, f.possibly_written),
        Answer::Lost { sent } => {
            let possibly_written = f.possibly_written || sent;
            if f.attempts > f.retries {
                fail(None, possibly_written)
            } else {
                Action::Retry { possibly_written, refresh: true }
            }
        }
        Answer::Code(ErrorCode::NONE) => Action::Complete { offset: -1, log_append_time: -1 },
        // An older broker's answer to a retry of a batch it already has.
        Answer::Code(ErrorCode::DUPLICATE_SEQUENCE_NUMBER) if f.idempotent => Action::Complete { offset: -1, log_append_time: -1 },
        // Refused for its size: nothing was written (the size is checked
        // before anything else, on every attempt).
        // A batch that may already be in the log is not split (the halves
        // would be new sequences): it fails as possibly written.
        Answer::Code(ErrorCode::MESSAGE_TOO_LARGE) if f.records >= 2 && !f.possibly_written => Action::Split,
        Answer::Code(code) if f.idempotent && f.sequenced && sequence_refused(code) => {
            if !f.oldest {
                // An earlier batch is being retried and this one follows
                // it; it is retried after it, unchanged.
                Action::Retry { possibly_written: f.possibly_written, refresh: false }
            } else if f.possibly_written {
                // It may be in the log outside what the leader still
                // remembers (a leader change, a restart from a snapshot):
                // resending it under a new number could write it twice.
                fail(Some(code), true)
            } else {
                Action::RetryAfterReset
            }
        }
        Answer::Code(code) if code.is_retriable() => {
            let possibly_written = f.possibly_written || maybe_applied(code);
            if f.attempts > f.retries {
                fail(Some(code), possibly_written)
            } else {
                Action::Retry { possibly_written, refresh: leadership(code) }
            }
        }
        Answer::Code(code) => fail(Some(code), f.possibly_written),
    }
}

fn later_for(f: Facts, possibly_written: bool) -> Later {
    if !f.idempotent || !f.sequenced {
        Later::Keep
    } else if possibly_written || f.others_in_flight || !f.oldest {
        Later::Reset
    } else {
        Later::Shift
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts { idempotent: true, sequenced: true, oldest: true, possibly_written: false, others_in_flight: false, records: 10, attempts: 1, retries: 5 }
    }

    #[test]
    fn written_and_duplicates_complete() {
        assert_eq!(decide(facts(), Answer::Written { offset: 7, log_append_time: -1 }), Action::Complete { offset: 7, log_append_time: -1 });
        assert_eq!(decide(facts(), Answer::Code(ErrorCode::DUPLICATE_SEQUENCE_NUMBER)), Action::Complete { offset: -1, log_append_time: -1 });
        // Without idempotence a duplicate-sequence answer is not success.
        let plain = Facts { idempotent: false, sequenced: false, ..facts() };
        assert!(matches!(decide(plain, Answer::Code(ErrorCode::DUPLICATE_SEQUENCE_NUMBER)), Action::Fail { .. }));
    }

    #[test]
    fn retriable_codes_retry_unchanged_and_leadership_codes_refresh() {
        assert_eq!(decide(facts(), Answer::Code(ErrorCode::NOT_LEADER_OR_FOLLOWER)), Action::Retry { possibly_written: false, refresh: true });
        assert_eq!(decide(facts(), Answer::Code(ErrorCode::CORRUPT_MESSAGE)), Action::Retry { possibly_written: false, refresh: false });
        // These may have been applied before the error.
        for code in [ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND, ErrorCode::REQUEST_TIMED_OUT] {
            assert!(matches!(decide(facts(), Answer::Code(code)), Action::Retry { possibly_written: true, .. }), "{code:?}");
        }
        // Once possibly written, always possibly written.
        let pw = Facts { possibly_written: true, ..facts() };
        assert!(matches!(decide(pw, Answer::Code(ErrorCode::NOT_LEADER_OR_FOLLOWER)), Action::Retry { possibly_written: true, .. }));
    }

    #[test]
    fn no_answer_is_possibly_written_only_if_the_request_left() {
        assert_eq!(decide(facts(), Answer::Lost { sent: true }), Action::Retry { possibly_written: true, refresh: true });
        assert_eq!(decide(facts(), Answer::Lost { sent: false }), Action::Retry { possibly_written: false, refresh: true });
    }

    #[test]
    fn retries_exhausted_fail_and_say_what_is_known() {
        let last = Facts { attempts: 6, ..facts() };
        assert_eq!(decide(last, Answer::Code(ErrorCode::NOT_LEADER_OR_FOLLOWER)), Action::Fail { code: Some(ErrorCode::NOT_LEADER_OR_FOLLOWER), possibly_written: false, later: Later::Shift });
        assert_eq!(decide(last, Answer::Lost { sent: true }), Action::Fail { code: None, possibly_written: true, later: Later::Reset });
    }

    #[test]
    fn out_of_order_on_a_later_batch_follows_the_earlier_one() {
        let later = Facts { oldest: false, ..facts() };
        for code in [ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, ErrorCode::UNKNOWN_PRODUCER_ID, ErrorCode::INVALID_PRODUCER_EPOCH] {
            assert_eq!(decide(later, Answer::Code(code)), Action::Retry { possibly_written: false, refresh: false });
        }
        let later_pw = Facts { possibly_written: true, ..later };
        assert_eq!(decide(later_pw, Answer::Code(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)), Action::Retry { possibly_written: true, refresh: false });
    }

    #[test]
    fn out_of_order_on_the_oldest_batch_resets_only_if_it_was_never_possibly_written() {
        assert_eq!(decide(facts(), Answer::Code(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)), Action::RetryAfterReset);
        assert_eq!(decide(facts(), Answer::Code(ErrorCode::UNKNOWN_PRODUCER_ID)), Action::RetryAfterReset);
        let pw = Facts { possibly_written: true, ..facts() };
        assert_eq!(
            decide(pw, Answer::Code(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)),
            Action::Fail { code: Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER), possibly_written: true, later: Later::Reset }
        );
    }

    #[test]
    fn too_large_splits_several_records_and_fails_one() {
        assert_eq!(decide(facts(), Answer::Code(ErrorCode::MESSAGE_TOO_LARGE)), Action::Split);
        let one = Facts { records: 1, ..facts() };
        assert_eq!(decide(one, Answer::Code(ErrorCode::MESSAGE_TOO_LARGE)), Action::Fail { code: Some(ErrorCode::MESSAGE_TOO_LARGE), possibly_written: false, later: Later::Shift });
    }

    #[test]
    fn a_possibly_written_batch_is_not_split() {
        let pw = Facts { possibly_written: true, ..facts() };
        assert_eq!(
            decide(pw, Answer::Code(ErrorCode::MESSAGE_TOO_LARGE)),
            Action::Fail { code: Some(ErrorCode::MESSAGE_TOO_LARGE), possibly_written: true, later: Later::Reset }
        );
    }

    #[test]
    fn a_lone_refused_batch_shifts_later_sequences_otherwise_the_partition_resets() {
        assert_eq!(decide(facts(), Answer::Code(ErrorCode::INVALID_RECORD)), Action::Fail { code: Some(ErrorCode::INVALID_RECORD), possibly_written: false, later: Later::Shift });
        let crowded = Facts { others_in_flight: true, ..facts() };
        assert_eq!(decide(crowded, Answer::Code(ErrorCode::INVALID_RECORD)), Action::Fail { code: Some(ErrorCode::INVALID_RECORD), possibly_written: false, later: Later::Reset });
        let unsequenced = Facts { sequenced: false, ..facts() };
        assert_eq!(decide(unsequenced, Answer::Code(ErrorCode::INVALID_RECORD)), Action::Fail { code: Some(ErrorCode::INVALID_RECORD), possibly_written: false, later: Later::Keep });
    }

    #[test]
    fn expiry_fails_with_what_is_known() {
        assert_eq!(decide(facts(), Answer::Expired), Action::Fail { code: None, possibly_written: false, later: Later::Shift });
        let pw = Facts { possibly_written: true, ..facts() };
        assert_eq!(decide(pw, Answer::Expired), Action::Fail { code: None, possibly_written: true, later: Later::Reset });
        let unsent = Facts { sequenced: false, ..facts() };
        assert_eq!(decide(unsent, Answer::Expired), Action::Fail { code: None, possibly_written: false, later: Later::Keep });
    }

    #[test]
    fn without_idempotence_sequence_codes_are_plain_errors() {
        let plain = Facts { idempotent: false, sequenced: false, ..facts() };
        assert_eq!(decide(plain, Answer::Code(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)), Action::Fail { code: Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER), possibly_written: false, later: Later::Keep });
    }
}
