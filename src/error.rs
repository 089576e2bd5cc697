//! The client's error type. Every error carries its Kafka class (see
//! [`ErrorClass`]): retriable, abortable, fatal, or a plain error.

use std::fmt;

use ferrokafka_protocol::{ApiKey, DecodeError, EncodeError, ErrorClass, ErrorCode};

/// Anything that can go wrong in the client.
#[derive(Debug, Clone)]
pub enum Error {
    /// The broker answered with a Kafka error code.
    Kafka(ErrorCode),
    /// A connection could not be made or broke.
    Io(String),
    /// No answer in time.
    Timeout(&'static str),
    /// The broker sent bytes that do not decode.
    Protocol(DecodeError),
    /// A request could not be encoded at the negotiated version.
    Encode(EncodeError),
    /// The broker speaks no version of an API the client needs.
    UnsupportedApi {
        /// The API.
        api: ApiKey,
        /// The broker's range, if it has the API at all.
        broker: Option<(i16, i16)>,
    },
    /// A setting is missing, unknown or out of range.
    Config(String),
    /// The client was closed.
    Closed,
    /// The buffer for unsent records stayed full for `max.block.ms`.
    BufferFull,
    /// A record is larger than `max.request.size` or `buffer.memory`.
    RecordTooLarge {
        /// Its encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The record failed after an attempt that got no definite answer: it
    /// may or may not be in the log (the inner error is the last one seen:
    /// a delivery timeout, or an out-of-order answer to its resend).
    PossiblyWritten(Box<Error>),
    /// An earlier fatal error made the producer unusable.
    Fatal(Box<Error>),
}

impl Error {
    /// The Kafka class of this error: what the caller should do.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Kafka(code) => code.class(),
            Error::Io(_) | Error::Timeout(_) => ErrorClass::Retriable,
            Error::Protocol(_) | Error::Encode(_) => ErrorClass::Error,
            Error::UnsupportedApi { .. } | Error::Fatal(_) => ErrorClass::Fatal,
            Error::Config(_) | Error::Closed | Error::RecordTooLarge { .. } => ErrorClass::Error,
            Error::BufferFull => ErrorClass::Retriable,
            Error::PossiblyWritten(_) => ErrorClass::Error,
        }
    }

    /// Whether retrying may succeed.
    pub fn is_retriable(&self) -> bool {
        self.class() == ErrorClass::Retriable
    }

    /// The Kafka error code, if this is one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka(c) => Some(*c),
            Error::PossiblyWritten(e) | Error::Fatal(e) => e.code(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kafka(c) => write!(f, "broker error {c}"),
            Error::Io(e) => write!(f, "connection error: {e}"),
            Error::Timeout(what) => write!(f, "timed out: {what}"),
            Error::Protocol(e) => write!(f, "malformed response: {e}"),
            Error::Encode(e) => write!(f, "cannot encode request: {e}"),
            Error::UnsupportedApi { api, broker: Some((min, max)) } => {
                write!(f, "no common version of {}: broker speaks {min}-{max}", api.name())
            }
            Error::UnsupportedApi { api, broker: None } => write!(f, "the broker does not speak {}", api.name()),
            Error::Config(e) => write!(f, "configuration error: {e}"),
            Error::Closed => write!(f, "the client is closed"),
            Error::BufferFull => write!(f, "buffer.memory stayed full for max.block.ms"),
            Error::RecordTooLarge { size, limit } => write!(f, "record of {size} bytes exceeds the limit of {limit}"),
            Error::PossiblyWritten(e) => write!(f, "failed after an attempt without a definite answer ({e}); it may be in the log"),
            Error::Fatal(e) => write!(f, "fatal: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ErrorCode> for Error {
    fn from(c: ErrorCode) -> Self {
        Error::Kafka(c)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Protocol(e)
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
