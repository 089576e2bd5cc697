//! Record data: the `records` fields of Produce requests and Fetch responses.
//!
//! - [`batch`]: RecordBatch v2 (magic 2), encode and decode, CRC32C checked.
//! - [`legacy`]: message sets v0/v1 (magic 0 and 1), decode only, including
//!   compressed wrapper messages.
//! - [`control`]: the commit/abort markers of transactions.
//!
//! [`RecordSet::parse`] walks a `records` blob of either kind. A Fetch may
//! end in a partial batch (the broker cuts at the byte limit): that tail is
//! reported in [`RecordSet::truncated_tail`], not as an error.

pub mod batch;
pub mod control;
pub mod legacy;
mod view;

use bytes::Bytes;

pub use batch::{record_body_len, seal_batch, write_record, BatchHeader, Record, RecordBatch, RecordHeader, TimestampType, BATCH_HEADER_LEN};
pub use control::{ControlRecord, ControlRecordType};
pub use legacy::LegacyMessage;
pub use view::{BatchView, RecordRef, Records};

use crate::error::DecodeError;

/// Limits that keep decoding of untrusted record data bounded.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// The most bytes one compressed batch may inflate to.
    pub max_decompressed: usize,
    /// The most bytes all compressed batches of one record set (one
    /// partition of a fetch) may inflate to together: many small batches
    /// each under `max_decompressed` must not add up without bound.
    pub max_decompressed_total: usize,
    /// Whether to verify checksums (leave on; off only for benchmarks of
    /// the parser itself).
    pub verify_crc: bool,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // Kafka's default max.message.bytes is about 1 MiB; compressed data
        // of that size can legitimately inflate a lot, so allow 64 MiB.
        // A fetch partition is at most max.partition.fetch.bytes (1 MiB by
        // default) of compressed data; 256 MiB of it inflated is already a
        // compression ratio of 256.
        DecodeLimits { max_decompressed: 64 * 1024 * 1024, max_decompressed_total: 256 * 1024 * 1024, verify_crc: true }
    }
}

/// One entry of a records blob.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// A v2 record batch.
    V2(RecordBatch),
    /// A legacy message (magic 0 or 1), with a compressed wrapper already
    /// expanded into its inner messages.
    Legacy(Vec<LegacyMessage>),
}

/// The parsed content of a `records` field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordSet {
    /// Every complete batch, in order.
    pub batches: Vec<Batch>,
    /// Bytes at the end that did not form a complete batch.
    pub truncated_tail: usize,
}

impl RecordSet {
    /// Parses every batch in `data`. Keys, values and header values of
    /// uncompressed batches are slices of `data`.
    pub fn parse(data: Bytes, limits: &DecodeLimits) -> Result<RecordSet, DecodeError> {
        let mut set = RecordSet::default();
        let mut pos = 0usize;
        let mut left = limits.max_decompressed_total;
        while pos < data.len() {
            let rest = &data[pos..];
            // Both formats start with offset int64, length int32, and have
            // the magic byte at offset 16.
            if rest.len() < 17 {
                set.truncated_tail = rest.len();
                break;
            }
            let len = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
            if len < 0 {
                return Err(DecodeError::InvalidLength { what: "batch length", length: i64::from(len) });
            }
            let total = 12 + len as usize;
            if total > rest.len() {
                set.truncated_tail = rest.len();
                break;
            }
            let one = data.slice(pos..pos + total);
            // This batch may inflate to what is left of the total budget.
            let this = DecodeLimits { max_decompressed: limits.max_decompressed.min(left), ..*limits };
            let over_total = |e: DecodeError| {
                if this.max_decompressed < limits.max_decompressed && matches!(e, DecodeError::Compression(_)) {
                    DecodeError::Compression(format!("the record set inflates past its total limit of {} bytes", limits.max_decompressed_total))
                } else {
                    e
                }
            };
            let inflated = match rest[16] {
                2 => {
                    let (b, n) = RecordBatch::decode_counting(one, &this).map_err(over_total)?;
                    set.batches.push(Batch::V2(b));
                    n
                }
                0 | 1 => {
                    let (m, n) = legacy::decode_entry_counting(one, &this).map_err(over_total)?;
                    set.batches.push(Batch::Legacy(m));
                    n
                }
                m => return Err(DecodeError::Corrupt(format!("unknown magic {m}"))),
            };
            left = left.saturating_sub(inflated);
            pos += total;
        }
        Ok(set)
    }
}
