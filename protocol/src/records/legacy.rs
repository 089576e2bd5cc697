//! Legacy message sets, magic 0 and 1 (Kafka before 0.11), read only.
//!
//! ```text
//! offset int64 | messageSize int32 | crc uint32 (CRC-32 of the rest)
//! magic int8 | attributes int8 | timestamp int64 (magic 1 only)
//! key bytes (int32 length) | value bytes (int32 length)
//! ```
//!
//! A compressed message is a wrapper whose value is a compressed message
//! set. With magic 1 the inner offsets are relative and the wrapper carries
//! the absolute offset of the last inner message; with magic 0 they are
//! absolute. A wrapper with log-append time gives its timestamp to all.

use bytes::Bytes;

use super::DecodeLimits;
use crate::compression::Compression;
use crate::error::DecodeError;
use crate::wire::Reader;

/// One message of a legacy message set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyMessage {
    /// The absolute offset.
    pub offset: i64,
    /// 0 or 1.
    pub magic: i8,
    /// Codec (bits 0-2) and, for magic 1, timestamp type (bit 3).
    pub attributes: i8,
    /// The timestamp (magic 1), or `None` (magic 0).
    pub timestamp: Option<i64>,
    /// The key, or null.
    pub key: Option<Bytes>,
    /// The value, or null.
    pub value: Option<Bytes>,
}

const LOG_APPEND_TIME_BIT: i8 = 0x08;

fn decode_one(data: Bytes, limits: &DecodeLimits) -> Result<LegacyMessage, DecodeError> {
    let full = data.clone();
    let mut r = Reader::new(data);
    let offset = r.i64()?;
    let size = r.i32()?;
    if size < 0 || size as usize != r.remaining() {
        return Err(DecodeError::InvalidLength { what: "message size", length: i64::from(size) });
    }
    let stored = r.u32()?;
    if limits.verify_crc {
        let mut crc = flate2::Crc::new();
        crc.update(&full[16..]);
        if crc.sum() != stored {
            return Err(DecodeError::CrcMismatch { stored, computed: crc.sum() });
        }
    }
    let magic = r.i8()?;
    if !(0..=1).contains(&magic) {
        return Err(DecodeError::Corrupt(format!("legacy message with magic {magic}")));
    }
    let attributes = r.i8()?;
    let timestamp = if magic == 1 { Some(r.i64()?) } else { None };
    let key = r.nullable_bytes(false, "message key")?;
    let value = r.nullable_bytes(false, "message value")?;
    r.finish()?;
    Ok(LegacyMessage { offset, magic, attributes, timestamp, key, value })
}

/// Splits a message set into its complete entries, ignoring a partial tail.
fn entries(data: &Bytes) -> Result<Vec<Bytes>, DecodeError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while data.len() - pos >= 12 {
        let len = i32::from_be_bytes([data[pos + 8], data[pos + 9], data[pos + 10], data[pos + 11]]);
        if len < 0 {
            return Err(DecodeError::InvalidLength { what: "message size", length: i64::from(len) });
        }
        let end = pos + 12 + len as usize;
        if end > data.len() {
            break;
        }
        out.push(data.slice(pos..end));
        pos = end;
    }
    Ok(out)
}

/// Decodes one entry of a message set; a compressed wrapper is expanded to
/// its inner messages with absolute offsets.
pub fn decode_entry(data: Bytes, limits: &DecodeLimits) -> Result<Vec<LegacyMessage>, DecodeError> {
    decode_entry_counting(data, limits).map(|(m, _)| m)
}

/// [`decode_entry`], also returning how many bytes a compressed wrapper
/// inflated to (0 otherwise).
pub(crate) fn decode_entry_counting(data: Bytes, limits: &DecodeLimits) -> Result<(Vec<LegacyMessage>, usize), DecodeError> {
    let msg = decode_one(data, limits)?;
    let codec = Compression::from_attributes(i16::from(msg.attributes))?;
    if codec == Compression::None {
        return Ok((vec![msg], 0));
    }
    let compressed = msg.value.clone().ok_or(DecodeError::Corrupt("compressed wrapper without a value".into()))?;
    let inner_set = codec.decompress(&compressed, limits.max_decompressed)?;
    let inflated = inner_set.len();
    let mut inner = Vec::new();
    for e in entries(&inner_set)? {
        let m = decode_one(e, limits)?;
        if m.attributes & 0x7 != 0 {
            return Err(DecodeError::Corrupt("nested compressed message".into()));
        }
        inner.push(m);
    }
    if msg.magic == 1 {
        // Crafted offsets must not overflow: an absolute offset outside
        // i64 is corrupt data.
        let overflow = || DecodeError::Corrupt("legacy message offsets out of range".into());
        let last_relative = inner.last().map(|m| m.offset).unwrap_or(0);
        let shift = msg.offset.checked_sub(last_relative).ok_or_else(overflow)?;
        for m in &mut inner {
            m.offset = m.offset.checked_add(shift).ok_or_else(overflow)?;
            if msg.attributes & LOG_APPEND_TIME_BIT != 0 {
                m.timestamp = msg.timestamp;
            }
        }
    }
    Ok((inner, inflated))
}
