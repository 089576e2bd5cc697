//! Every request and response this crate speaks, generated at build time
//! from the declarations in `protocol/schema/*.kmsg` (one file per message,
//! each field with its version ranges, nullability and tags).
//!
//! Each message is a module holding its top-level struct and its nested
//! structs; the top-level struct implements [`Message`]. [`RequestBody`] and
//! [`ResponseBody`] dispatch on [`ApiKey`].
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use ferrokafka_protocol::messages::{Message, MetadataRequest};
//! use ferrokafka_protocol::wire::Reader;
//!
//! let req = MetadataRequest { topics: None, ..Default::default() };
//! let mut buf = BytesMut::new();
//! req.encode(&mut buf, 12).unwrap();
//! let back = MetadataRequest::decode(&mut Reader::new(buf.freeze()), 12).unwrap();
//! assert_eq!(back, req);
//! ```

use bytes::BytesMut;

use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;

/// What every generated module imports.
pub(crate) mod prelude {
    pub use super::Message;
    pub use crate::error::{DecodeError, EncodeError};
    pub use crate::wire::{
        put_array_len, put_nullable_bytes, put_nullable_string, put_tagged_fields, RawTaggedField, Reader, Uuid,
    };
    pub use bytes::{BufMut, Bytes, BytesMut};

    /// Passes a value through, or fails when it is null at a version where
    /// the field is not nullable.
    pub fn check_null<T>(v: Option<T>, nullable: bool, field: &'static str, version: i16) -> Result<Option<T>, EncodeError> {
        if v.is_none() && !nullable {
            Err(EncodeError::NullNotAllowed { field, version })
        } else {
            Ok(v)
        }
    }
}

/// A top-level request, response or embedded data message.
pub trait Message: Sized + Default + Clone + PartialEq + std::fmt::Debug {
    /// The message name as Kafka spells it (`ProduceRequest`).
    const NAME: &'static str;
    /// The API key, for requests and responses.
    const API_KEY: Option<i16>;
    /// The lowest version declared.
    const MIN_VERSION: i16;
    /// The highest version declared.
    const MAX_VERSION: i16;

    /// Whether `version` uses the flexible (compact, tagged) encoding.
    fn is_flexible(version: i16) -> bool;

    /// Encodes without checking the version range.
    fn write_to(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError>;

    /// Decodes without checking the version range.
    fn read_from(r: &mut Reader, version: i16) -> Result<Self, DecodeError>;

    /// Encodes the body at `version` into `buf`.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        if !(Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version) {
            return Err(EncodeError::UnsupportedVersion { what: Self::NAME, version });
        }
        self.write_to(buf, version)
    }

    /// Decodes a body at `version` from `r` (which may hold more after it).
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        if !(Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version) {
            return Err(DecodeError::UnsupportedVersion { what: Self::NAME, version });
        }
        Self::read_from(r, version)
    }
}

include!(concat!(env!("OUT_DIR"), "/messages.rs"));
