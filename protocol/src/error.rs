//! Errors of the codec itself: bytes that cannot be decoded, values that
//! cannot be encoded at the requested version.
//!
//! These are distinct from Kafka's own error codes (see [`crate::ErrorCode`]),
//! which travel *inside* well-formed messages.

use std::fmt;

/// Why a buffer could not be decoded.
///
/// Every decoder in this crate returns this instead of panicking, and checks
/// lengths and counts against the bytes actually present before allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ended before the value did.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length or count was negative (and not the `-1` null marker where null is allowed).
    InvalidLength {
        /// What was being read.
        what: &'static str,
        /// The length found.
        length: i64,
    },
    /// A null was found where the schema forbids one at this version.
    UnexpectedNull {
        /// The field.
        field: &'static str,
    },
    /// A varint ran over its maximum width.
    VarintTooLong,
    /// A string was not valid UTF-8.
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// The version is not one this message declares.
    UnsupportedVersion {
        /// The message or API name.
        what: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// An API key this crate does not know.
    UnknownApiKey(i16),
    /// A tagged field's declared size did not match what its value used.
    TaggedFieldSize {
        /// The tag.
        tag: u32,
    },
    /// Bytes were left over after a complete message.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A record batch or message failed its checksum.
    CrcMismatch {
        /// The checksum stored in the data.
        stored: u32,
        /// The checksum computed over the data.
        computed: u32,
    },
    /// A record batch or message is malformed in a way other than the above.
    Corrupt(String),
    /// Decompression failed, or would produce more than the allowed bytes.
    Compression(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { what, needed, remaining } => {
                write!(f, "truncated {what}: needed {needed} bytes, {remaining} left")
            }
            DecodeError::InvalidLength { what, length } => write!(f, "invalid length {length} for {what}"),
            DecodeError::UnexpectedNull { field } => write!(f, "null value for non-nullable field {field}"),
            DecodeError::VarintTooLong => write!(f, "varint longer than its maximum width"),
            DecodeError::InvalidUtf8 { field } => write!(f, "field {field} is not valid UTF-8"),
            DecodeError::UnsupportedVersion { what, version } => write!(f, "{what} has no version {version}"),
            DecodeError::UnknownApiKey(k) => write!(f, "unknown API key {k}"),
            DecodeError::TaggedFieldSize { tag } => write!(f, "tagged field {tag} does not match its declared size"),
            DecodeError::TrailingBytes { count } => write!(f, "{count} bytes left over after the message"),
            DecodeError::CrcMismatch { stored, computed } => {
                write!(f, "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            DecodeError::Corrupt(m) => write!(f, "corrupt data: {m}"),
            DecodeError::Compression(m) => write!(f, "decompression failed: {m}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The version is not one this message declares.
    UnsupportedVersion {
        /// The message or API name.
        what: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// A field that does not exist at this version holds a non-default value,
    /// and the schema does not mark it ignorable: sending the message would
    /// silently drop information (the Java client raises the same error).
    FieldNotSupported {
        /// The field.
        field: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// A null in a field that is not nullable at this version.
    NullNotAllowed {
        /// The field.
        field: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// A string, byte array or array longer than its length prefix can say.
    TooLong {
        /// The field.
        what: &'static str,
        /// Its length.
        length: usize,
    },
    /// Compression failed.
    Compression(String),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::UnsupportedVersion { what, version } => write!(f, "{what} has no version {version}"),
            EncodeError::FieldNotSupported { field, version } => {
                write!(f, "field {field} is set but does not exist at version {version}")
            }
            EncodeError::NullNotAllowed { field, version } => {
                write!(f, "field {field} is null but not nullable at version {version}")
            }
            EncodeError::TooLong { what, length } => write!(f, "{what} of length {length} is too long to encode"),
            EncodeError::Compression(m) => write!(f, "compression failed: {m}"),
        }
    }
}

impl std::error::Error for EncodeError {}
