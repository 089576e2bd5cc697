//! The consumer protocol's embedded messages: the subscription a member
//! puts in JoinGroup's protocol metadata and the assignment the leader puts
//! in SyncGroup, each prefixed by its int16 version.
//!
//! A newer version than we know is read with our newest layout, as Kafka
//! does: later versions only append fields.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription, Message};
use crate::wire::Reader;

fn encode<M: Message>(m: &M, version: i16) -> Result<Bytes, EncodeError> {
    let mut b = BytesMut::new();
    b.put_i16(version);
    m.encode(&mut b, version)?;
    Ok(b.freeze())
}

fn decode<M: Message>(data: Bytes) -> Result<(M, i16), DecodeError> {
    let mut r = Reader::new(data);
    let version = r.i16()?;
    if version < M::MIN_VERSION {
        return Err(DecodeError::UnsupportedVersion { what: M::NAME, version });
    }
    // Newer versions append fields: read what we know, ignore the rest.
    let m = M::read_from(&mut r, version.min(M::MAX_VERSION))?;
    if version <= M::MAX_VERSION {
        r.finish()?;
    }
    Ok((m, version))
}

/// Encodes a subscription with its version prefix.
pub fn encode_subscription(s: &ConsumerProtocolSubscription, version: i16) -> Result<Bytes, EncodeError> {
    encode(s, version)
}

/// Decodes a subscription; returns it and the version it was written at.
pub fn decode_subscription(data: Bytes) -> Result<(ConsumerProtocolSubscription, i16), DecodeError> {
    decode(data)
}

/// Encodes an assignment with its version prefix.
pub fn encode_assignment(a: &ConsumerProtocolAssignment, version: i16) -> Result<Bytes, EncodeError> {
    encode(a, version)
}

/// Decodes an assignment; returns it and the version it was written at.
pub fn decode_assignment(data: Bytes) -> Result<(ConsumerProtocolAssignment, i16), DecodeError> {
    decode(data)
}
