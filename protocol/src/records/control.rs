//! Control records: the transaction markers a coordinator writes to every
//! partition of a transaction when it commits or aborts.
//!
//! Key: `version int16 (0) | type int16 (0 abort, 1 commit)`.
//! Value: `version int16 (0) | coordinatorEpoch int32`.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::wire::Reader;

/// The kind of marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlRecordType {
    /// The transaction was aborted.
    Abort,
    /// The transaction was committed.
    Commit,
}

/// A decoded transaction marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRecord {
    /// Commit or abort.
    pub kind: ControlRecordType,
    /// The epoch of the coordinator that wrote it.
    pub coordinator_epoch: i32,
}

impl ControlRecord {
    /// Decodes a control record from its key and value.
    pub fn decode(key: &Bytes, value: Option<&Bytes>) -> Result<ControlRecord, DecodeError> {
        let mut k = Reader::new(key.clone());
        let _version = k.i16()?;
        let kind = match k.i16()? {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            t => return Err(DecodeError::Corrupt(format!("unknown control record type {t}"))),
        };
        let coordinator_epoch = match value {
            Some(v) if v.len() >= 6 => {
                let mut r = Reader::new(v.clone());
                r.i16()?;
                r.i32()?
            }
            _ => -1,
        };
        Ok(ControlRecord { kind, coordinator_epoch })
    }

    /// The record key.
    pub fn key(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(4);
        b.put_i16(0);
        b.put_i16(match self.kind {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
        });
        b.freeze()
    }

    /// The record value.
    pub fn value(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(6);
        b.put_i16(0);
        b.put_i32(self.coordinator_epoch);
        b.freeze()
    }
}
