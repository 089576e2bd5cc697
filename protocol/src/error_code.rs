//! Kafka's error codes, with Kafka's retriable flag and our client class.
//!
//! The class is the producer's and transaction manager's view of an error,
//! as the Java client (`TransactionManager`, `Sender`) and librdkafka
//! (`rd_kafka_txn_*`, `rd_kafka_idemp_*`) treat it:
//!
//! - [`ErrorClass::Retriable`]: try again (after a metadata refresh or
//!   back-off); Kafka's own `retriable` flag.
//! - [`ErrorClass::Abortable`]: the current transaction cannot commit; abort
//!   it and the producer goes on (`TRANSACTION_ABORTABLE`, authorization
//!   failures on topics and groups, record-level rejections, sequence
//!   trouble inside a transaction, a group generation lost during
//!   `TxnOffsetCommit`).
//! - [`ErrorClass::Fatal`]: the producer must be closed and recreated
//!   (fenced by a newer instance, transactional id not authorized, broker
//!   too old for the feature, the coordinator's state machine says no).
//! - [`ErrorClass::Error`]: a plain failure of that request, for the caller
//!   to handle (a topic that already exists, a bad config, ...).
//!
//! Where we differ: `UNKNOWN_PRODUCER_ID` and `OUT_OF_ORDER_SEQUENCE_NUMBER`
//! are marked abortable, which is what they are for a transactional
//! producer; an idempotent producer handles them itself by bumping its
//! epoch (KIP-360), as the Java client and librdkafka do. `INVALID_PRODUCER_EPOCH`
//! is fatal, matching librdkafka and Java 3.x (which rewrites it to
//! `PRODUCER_FENCED` for transactional producers).

use std::fmt;

/// What a client should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Not an error.
    None,
    /// Transient: retry.
    Retriable,
    /// The transaction must abort; the producer stays usable.
    Abortable,
    /// The producer (or consumer) must be recreated.
    Fatal,
    /// A plain, non-retriable failure of the request.
    Error,
}

/// A Kafka error code. Unknown codes are kept as they are.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

macro_rules! error_codes {
    ($(($code:literal, $name:ident, $retriable:literal, $class:ident)),* $(,)?) => {
        impl ErrorCode {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($code), ").")]
                pub const $name: ErrorCode = ErrorCode($code);
            )*

            /// Every code of Kafka 3.8, in code order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode($code)),*];

            /// Kafka's name for the code, or `None` for a code we do not know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// Kafka's `retriable` flag for this code (`false` when unknown).
            pub fn is_retriable(self) -> bool {
                match self.0 {
                    $($code => $retriable,)*
                    _ => false,
                }
            }

            /// Our client class for this code. An unknown code is a plain error.
            pub fn class(self) -> ErrorClass {
                match self.0 {
                    $($code => ErrorClass::$class,)*
                    _ => ErrorClass::Error,
                }
            }
        }
    };
}

error_codes! {
    (-1, UNKNOWN_SERVER_ERROR, false, Error),
    (0, NONE, false, None),
    (1, OFFSET_OUT_OF_RANGE, false, Error),
    (2, CORRUPT_MESSAGE, true, Retriable),
    (3, UNKNOWN_TOPIC_OR_PARTITION, true, Retriable),
    (4, INVALID_FETCH_SIZE, false, Error),
    (5, LEADER_NOT_AVAILABLE, true, Retriable),
    (6, NOT_LEADER_OR_FOLLOWER, true, Retriable),
    (7, REQUEST_TIMED_OUT, true, Retriable),
    (8, BROKER_NOT_AVAILABLE, false, Error),
    (9, REPLICA_NOT_AVAILABLE, true, Retriable),
    (10, MESSAGE_TOO_LARGE, false, Abortable),
    (11, STALE_CONTROLLER_EPOCH, false, Error),
    (12, OFFSET_METADATA_TOO_LARGE, false, Error),
    (13, NETWORK_EXCEPTION, true, Retriable),
    (14, COORDINATOR_LOAD_IN_PROGRESS, true, Retriable),
    (15, COORDINATOR_NOT_AVAILABLE, true, Retriable),
    (16, NOT_COORDINATOR, true, Retriable),
    (17, INVALID_TOPIC_EXCEPTION, false, Error),
    (18, RECORD_LIST_TOO_LARGE, false, Abortable),
    (19, NOT_ENOUGH_REPLICAS, true, Retriable),
    (20, NOT_ENOUGH_REPLICAS_AFTER_APPEND, true, Retriable),
    (21, INVALID_REQUIRED_ACKS, false, Error),
    (22, ILLEGAL_GENERATION, false, Abortable),
    (23, INCONSISTENT_GROUP_PROTOCOL, false, Error),
    (24, INVALID_GROUP_ID, false, Error),
    (25, UNKNOWN_MEMBER_ID, false, Abortable),
    (26, INVALID_SESSION_TIMEOUT, false, Error),
    (27, REBALANCE_IN_PROGRESS, false, Error),
    (28, INVALID_COMMIT_OFFSET_SIZE, false, Error),
    (29, TOPIC_AUTHORIZATION_FAILED, false, Abortable),
    (30, GROUP_AUTHORIZATION_FAILED, false, Abortable),
    (31, CLUSTER_AUTHORIZATION_FAILED, false, Fatal),
    (32, INVALID_TIMESTAMP, false, Abortable),
    (33, UNSUPPORTED_SASL_MECHANISM, false, Fatal),
    (34, ILLEGAL_SASL_STATE, false, Fatal),
    (35, UNSUPPORTED_VERSION, false, Fatal),
    (36, TOPIC_ALREADY_EXISTS, false, Error),
    (37, INVALID_PARTITIONS, false, Error),
    (38, INVALID_REPLICATION_FACTOR, false, Error),
    (39, INVALID_REPLICA_ASSIGNMENT, false, Error),
    (40, INVALID_CONFIG, false, Error),
    (41, NOT_CONTROLLER, true, Retriable),
    (42, INVALID_REQUEST, false, Error),
    (43, UNSUPPORTED_FOR_MESSAGE_FORMAT, false, Fatal),
    (44, POLICY_VIOLATION, false, Abortable),
    (45, OUT_OF_ORDER_SEQUENCE_NUMBER, false, Abortable),
    (46, DUPLICATE_SEQUENCE_NUMBER, false, Error),
    (47, INVALID_PRODUCER_EPOCH, false, Fatal),
    (48, INVALID_TXN_STATE, false, Fatal),
    (49, INVALID_PRODUCER_ID_MAPPING, false, Fatal),
    (50, INVALID_TRANSACTION_TIMEOUT, false, Fatal),
    (51, CONCURRENT_TRANSACTIONS, true, Retriable),
    (52, TRANSACTION_COORDINATOR_FENCED, false, Fatal),
    (53, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, false, Fatal),
    (54, SECURITY_DISABLED, false, Error),
    (55, OPERATION_NOT_ATTEMPTED, false, Error),
    (56, KAFKA_STORAGE_ERROR, true, Retriable),
    (57, LOG_DIR_NOT_FOUND, false, Error),
    (58, SASL_AUTHENTICATION_FAILED, false, Fatal),
    (59, UNKNOWN_PRODUCER_ID, false, Abortable),
    (60, REASSIGNMENT_IN_PROGRESS, false, Error),
    (61, DELEGATION_TOKEN_AUTH_DISABLED, false, Error),
    (62, DELEGATION_TOKEN_NOT_FOUND, false, Error),
    (63, DELEGATION_TOKEN_OWNER_MISMATCH, false, Error),
    (64, DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, false, Error),
    (65, DELEGATION_TOKEN_AUTHORIZATION_FAILED, false, Error),
    (66, DELEGATION_TOKEN_EXPIRED, false, Error),
    (67, INVALID_PRINCIPAL_TYPE, false, Error),
    (68, NON_EMPTY_GROUP, false, Error),
    (69, GROUP_ID_NOT_FOUND, false, Error),
    (70, FETCH_SESSION_ID_NOT_FOUND, true, Retriable),
    (71, INVALID_FETCH_SESSION_EPOCH, true, Retriable),
    (72, LISTENER_NOT_FOUND, true, Retriable),
    (73, TOPIC_DELETION_DISABLED, false, Error),
    (74, FENCED_LEADER_EPOCH, true, Retriable),
    (75, UNKNOWN_LEADER_EPOCH, true, Retriable),
    (76, UNSUPPORTED_COMPRESSION_TYPE, false, Error),
    (77, STALE_BROKER_EPOCH, false, Error),
    (78, OFFSET_NOT_AVAILABLE, true, Retriable),
    (79, MEMBER_ID_REQUIRED, false, Error),
    (80, PREFERRED_LEADER_NOT_AVAILABLE, true, Retriable),
    (81, GROUP_MAX_SIZE_REACHED, false, Error),
    (82, FENCED_INSTANCE_ID, false, Fatal),
    (83, ELIGIBLE_LEADERS_NOT_AVAILABLE, true, Retriable),
    (84, ELECTION_NOT_NEEDED, true, Retriable),
    (85, NO_REASSIGNMENT_IN_PROGRESS, false, Error),
    (86, GROUP_SUBSCRIBED_TO_TOPIC, false, Error),
    (87, INVALID_RECORD, false, Abortable),
    (88, UNSTABLE_OFFSET_COMMIT, true, Retriable),
    (89, THROTTLING_QUOTA_EXCEEDED, true, Retriable),
    (90, PRODUCER_FENCED, false, Fatal),
    (91, RESOURCE_NOT_FOUND, false, Error),
    (92, DUPLICATE_RESOURCE, false, Error),
    (93, UNACCEPTABLE_CREDENTIAL, false, Error),
    (94, INCONSISTENT_VOTER_SET, false, Error),
    (95, INVALID_UPDATE_VERSION, false, Error),
    (96, FEATURE_UPDATE_FAILED, false, Error),
    (97, PRINCIPAL_DESERIALIZATION_FAILURE, false, Error),
    (98, SNAPSHOT_NOT_FOUND, false, Error),
    (99, POSITION_OUT_OF_RANGE, false, Error),
    (100, UNKNOWN_TOPIC_ID, true, Retriable),
    (101, DUPLICATE_BROKER_REGISTRATION, false, Error),
    (102, BROKER_ID_NOT_REGISTERED, false, Error),
    (103, INCONSISTENT_TOPIC_ID, true, Retriable),
    (104, INCONSISTENT_CLUSTER_ID, false, Error),
    (105, TRANSACTIONAL_ID_NOT_FOUND, false, Error),
    (106, FETCH_SESSION_TOPIC_ID_ERROR, true, Retriable),
    (107, INELIGIBLE_REPLICA, false, Error),
    (108, NEW_LEADER_ELECTED, false, Error),
    (109, OFFSET_MOVED_TO_TIERED_STORAGE, false, Error),
    (110, FENCED_MEMBER_EPOCH, false, Error),
    (111, UNRELEASED_INSTANCE_ID, false, Error),
    (112, UNSUPPORTED_ASSIGNOR, false, Error),
    (113, STALE_MEMBER_EPOCH, false, Error),
    (114, MISMATCHED_ENDPOINT_TYPE, false, Error),
    (115, UNSUPPORTED_ENDPOINT_TYPE, false, Error),
    (116, UNKNOWN_CONTROLLER_ID, false, Error),
    (117, UNKNOWN_SUBSCRIPTION_ID, false, Error),
    (118, TELEMETRY_TOO_LARGE, false, Error),
    (119, INVALID_REGISTRATION, false, Error),
    (120, TRANSACTION_ABORTABLE, false, Abortable),
}

impl ErrorCode {
    /// Whether this is `NONE`.
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// `Ok(())` for `NONE`, else `Err(self)`.
    pub fn check(self) -> Result<(), ErrorCode> {
        if self.is_ok() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl From<i16> for ErrorCode {
    fn from(c: i16) -> Self {
        ErrorCode(c)
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}({})", self.0),
            None => write!(f, "UNKNOWN_ERROR_CODE({})", self.0),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_complete_and_consistent() {
        assert_eq!(ErrorCode::ALL.len(), 122, "codes -1..=120");
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(c.0, i as i16 - 1, "codes are contiguous");
            assert!(c.name().is_some());
            // Everything Kafka calls retriable, we retry; nothing else.
            assert_eq!(c.is_retriable(), c.class() == ErrorClass::Retriable, "{c}");
        }
    }

    #[test]
    fn classes_of_the_transaction_errors() {
        assert_eq!(ErrorCode::PRODUCER_FENCED.class(), ErrorClass::Fatal);
        assert_eq!(ErrorCode::INVALID_PRODUCER_EPOCH.class(), ErrorClass::Fatal);
        assert_eq!(ErrorCode::TRANSACTION_ABORTABLE.class(), ErrorClass::Abortable);
        assert_eq!(ErrorCode::CONCURRENT_TRANSACTIONS.class(), ErrorClass::Retriable);
        assert_eq!(ErrorCode::NONE.class(), ErrorClass::None);
        assert_eq!(ErrorCode(999).class(), ErrorClass::Error);
        assert_eq!(format!("{}", ErrorCode(51)), "CONCURRENT_TRANSACTIONS(51)");
    }
}
