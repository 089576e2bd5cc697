//! A producer batch: records are encoded into the batch's own buffer as
//! they arrive, behind 61 bytes kept free for the header; the header (with
//! producer id, epoch and sequence) and the CRC are written when the batch
//! is sent, so the records are encoded once and never copied (uncompressed),
//! or compressed once when the batch closes.

use std::time::Instant;

use ferrokafka_protocol::bytes::{Bytes, BytesMut};
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::records::{record_body_len, seal_batch, write_record, BatchHeader, RecordHeader, BATCH_HEADER_LEN};
use ferrokafka_protocol::wire::varint_len;
use tokio::sync::oneshot;

use super::RecordMetadata;
use crate::error::{Error, Result};

pub type Delivery = oneshot::Sender<Result<RecordMetadata>>;

/// A batch still taking records.
pub struct OpenBatch {
    buf: BytesMut,
    pub count: i32,
    base_ts: i64,
    max_ts: i64,
    pub created: Instant,
    pub deliveries: Vec<(Delivery, i64)>,
    /// Bytes of `buffer.memory` this batch holds.
    pub reserved: usize,
}

/// Encoded size of a record in a batch (a safe upper bound for the deltas).
pub fn record_size(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[RecordHeader]) -> usize {
    let body = record_body_len(i64::MAX, i32::MAX, key, value, headers);
    varint_len(body as i32) + body
}

impl OpenBatch {
    pub fn new(capacity: usize) -> OpenBatch {
        let mut buf = BytesMut::with_capacity(capacity.max(BATCH_HEADER_LEN + 64));
        buf.resize(BATCH_HEADER_LEN, 0);
        OpenBatch { buf, count: 0, base_ts: 0, max_ts: i64::MIN, created: Instant::now(), deliveries: Vec::new(), reserved: 0 }
    }

    /// Bytes the batch takes so far (uncompressed).
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// Appends a record; `ts` is its timestamp. On failure the delivery
    /// comes back so the caller can report the error on it.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        ts: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
        delivery: Delivery,
        reserved: usize,
    ) -> std::result::Result<(), (Error, Delivery)> {
        let base = if self.count == 0 { ts } else { self.base_ts };
        if let Err(e) = write_record(&mut self.buf, ts - base, self.count, key, value, headers) {
            return Err((Error::Encode(e), delivery));
        }
        self.base_ts = base;
        self.max_ts = self.max_ts.max(ts);
        self.count += 1;
        self.deliveries.push((delivery, ts));
        self.reserved += reserved;
        Ok(())
    }

    /// Closes the batch: compresses the records if asked. The header is
    /// written later, by [`SealedBatch::encode`]. If compression fails the
    /// records are failed with the error.
    pub fn close(self, codec: Compression, level: Option<i32>) -> Result<SealedBatch> {
        let buf = if codec == Compression::None {
            self.buf
        } else {
            let records = &self.buf[BATCH_HEADER_LEN..];
            let mut out = BytesMut::with_capacity(BATCH_HEADER_LEN + records.len() / 2);
            out.resize(BATCH_HEADER_LEN, 0);
            if let Err(e) = codec.compress(records, level, &mut out) {
                let err = Error::Encode(e);
                for (d, _) in self.deliveries {
                    let _ = d.send(Err(err.clone()));
                }
                return Err(err);
            }
            out
        };
        Ok(SealedBatch {
            raw: Some(buf),
            stamped: Bytes::new(),
            attributes: codec.id(),
            count: self.count,
            base_ts: self.base_ts,
            max_ts: self.max_ts,
            created: self.created,
            deliveries: self.deliveries,
            reserved: self.reserved,
        })
    }
}

/// A closed batch, ready to be stamped and sent.
pub struct SealedBatch {
    /// The buffer before its first stamp.
    raw: Option<BytesMut>,
    /// The stamped batch, shared with the requests that carry it.
    stamped: Bytes,
    attributes: i16,
    pub count: i32,
    base_ts: i64,
    max_ts: i64,
    pub created: Instant,
    pub deliveries: Vec<(Delivery, i64)>,
    pub reserved: usize,
}

impl SealedBatch {
    /// Wire size.
    pub fn size(&self) -> usize {
        self.raw.as_ref().map(|b| b.len()).unwrap_or(self.stamped.len())
    }

    /// Writes the header for this producer id, epoch and base sequence and
    /// returns the batch bytes. Called again (rarely) when the sequence
    /// changes after an epoch bump.
    pub fn encode(&mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> Result<Bytes> {
        let h = BatchHeader {
            base_offset: 0,
            partition_leader_epoch: -1,
            attributes: self.attributes,
            last_offset_delta: self.count - 1,
            base_timestamp: self.base_ts,
            max_timestamp: self.max_ts,
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            count: self.count,
        };
        // First stamp: in place, then frozen without a copy. A later
        // re-stamp (new epoch or sequence, rare) copies once.
        let mut buf = match self.raw.take() {
            Some(b) => b,
            None => BytesMut::from(&self.stamped[..]),
        };
        seal_batch(&mut buf, &h)?;
        self.stamped = buf.freeze();
        Ok(self.stamped.clone())
    }

    /// Completes every record: offsets from `base_offset` (or -1 when the
    /// broker gave none), timestamps from the records or the broker's
    /// log-append time.
    pub fn complete(self, topic: &std::sync::Arc<str>, partition: i32, base_offset: i64, log_append_time: i64) {
        for (i, (d, ts)) in self.deliveries.into_iter().enumerate() {
            let _ = d.send(Ok(RecordMetadata {
                topic: topic.clone(),
                partition,
                offset: if base_offset >= 0 { base_offset + i as i64 } else { -1 },
                timestamp: if log_append_time >= 0 { log_append_time } else { ts },
            }));
        }
    }

    /// Fails every record with `err`.
    pub fn fail(self, err: Error) {
        for (d, _) in self.deliveries {
            let _ = d.send(Err(err.clone()));
        }
    }
}
