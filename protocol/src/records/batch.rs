//! RecordBatch v2 (magic 2), the only format Kafka writes since 0.11.
//!
//! ```text
//! baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 (2)
//! crc uint32  -- CRC-32C of everything from attributes to the end
//! attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64
//! producerId int64 | producerEpoch int16 | baseSequence int32 | records count int32
//! records (compressed together when attributes say so), each:
//!   length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
//!   keyLength varint | key | valueLength varint | value
//!   headers count varint | (keyLength varint | key | valueLength varint | value)*
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::DecodeLimits;
use crate::compression::{Compression, Compressor};
use crate::error::{DecodeError, EncodeError};
use crate::wire::{put_varint, put_varlong, varint_len, varlong_len, Reader};

/// Offset of the attributes field: the CRC covers from here to the end.
const CRC_START: usize = 21;
/// Size of everything before the first record.
pub const BATCH_HEADER_LEN: usize = 61;
/// The smallest encoded record (all varints one byte, no key, value or headers).
const MIN_RECORD_LEN: usize = 7;
/// Bytes of encoded records staged before they are handed to a codec.
const STAGE: usize = 16 * 1024;

const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// Whether batch timestamps were set by the producer or by the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Set by the producer (`CreateTime`).
    CreateTime,
    /// Set by the broker on append (`LogAppendTime`).
    LogAppendTime,
}

/// A record header: a string key (kept as raw bytes) and a nullable value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// The key, UTF-8 by contract (see [`RecordHeader::key_str`]).
    pub key: Bytes,
    /// The value, or null.
    pub value: Option<Bytes>,
}

impl RecordHeader {
    /// A header from a key and value.
    pub fn new(key: impl Into<Bytes>, value: Option<Bytes>) -> Self {
        RecordHeader { key: key.into(), value }
    }

    /// The key as a string, if it is valid UTF-8.
    pub fn key_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.key)
    }
}

/// One record of a v2 batch, with its offset and timestamp relative to the batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Record attributes (unused by Kafka so far; kept for exact re-encoding).
    pub attributes: i8,
    /// Timestamp minus the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Offset minus the batch's base offset.
    pub offset_delta: i32,
    /// The key, or null.
    pub key: Option<Bytes>,
    /// The value, or null (a tombstone).
    pub value: Option<Bytes>,
    /// The headers.
    pub headers: Vec<RecordHeader>,
}

impl Record {
    /// Size of the record body (everything after its length varint).
    fn body_len(&self) -> usize {
        record_body_len(self.timestamp_delta, self.offset_delta, self.key.as_deref(), self.value.as_deref(), &self.headers)
    }

    /// Writes the record, length prefix included.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        write_record_with(buf, self.attributes, self.timestamp_delta, self.offset_delta, self.key.as_deref(), self.value.as_deref(), &self.headers)
            .map(|_| ())
    }

    /// Reads one record (length prefix included) from `r`. Keys, values
    /// and header values are slices of `r`'s buffer.
    pub fn decode(r: &mut Reader) -> Result<Record, DecodeError> {
        let len = r.varint()?;
        if len < 0 || len as usize > r.remaining() {
            return Err(DecodeError::InvalidLength { what: "record", length: i64::from(len) });
        }
        // Decode in place (no sub-buffer per record) and check the length
        // at the end.
        let end = r.position() + len as usize;
        let attributes = r.i8()?;
        let timestamp_delta = r.varlong()?;
        let offset_delta = r.varint()?;
        let key = varint_bytes(r, "record key")?;
        let value = varint_bytes(r, "record value")?;
        let count = r.varint()?;
        let left = end.saturating_sub(r.position());
        if count < 0 || count as usize > left / 2 {
            return Err(DecodeError::InvalidLength { what: "header count", length: i64::from(count) });
        }
        // Reserve only what the bytes could fill in memory (see records).
        let mut headers = Vec::with_capacity((count as usize).min(left / std::mem::size_of::<RecordHeader>()));
        for _ in 0..count {
            let key = varint_bytes(r, "header key")?.ok_or(DecodeError::UnexpectedNull { field: "header key" })?;
            let value = varint_bytes(r, "header value")?;
            headers.push(RecordHeader { key, value });
        }
        if r.position() != end {
            return Err(DecodeError::Corrupt(format!("record length {len} does not match its content")));
        }
        Ok(Record { attributes, timestamp_delta, offset_delta, key, value, headers })
    }
}

/// Size of a record body (after its length varint) with these parts.
pub fn record_body_len(timestamp_delta: i64, offset_delta: i32, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[RecordHeader]) -> usize {
    let opt = |b: Option<&[u8]>| match b {
        None => 1,
        Some(b) => varint_len(b.len() as i32) + b.len(),
    };
    1 + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + opt(key)
        + opt(value)
        + varint_len(headers.len() as i32)
        + headers.iter().map(|h| varint_len(h.key.len() as i32) + h.key.len() + opt(h.value.as_deref())).sum::<usize>()
}

/// Appends one record, length prefix included, straight from its parts
/// (no intermediate [`Record`]): the producer's one-pass append.
pub fn write_record(
    buf: &mut impl BufMut,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[RecordHeader],
) -> Result<usize, EncodeError> {
    write_record_with(buf, 0, timestamp_delta, offset_delta, key, value, headers)
}

/// [`write_record`] with explicit record attributes (kept as decoded, so
/// re-encoding a decoded record is exact).
fn write_record_with(
    buf: &mut impl BufMut,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[RecordHeader],
) -> Result<usize, EncodeError> {
    let body = record_body_len(timestamp_delta, offset_delta, key, value, headers);
    let body_i32 = i32::try_from(body).map_err(|_| EncodeError::TooLong { what: "record", length: body })?;
    put_varint(buf, body_i32);
    buf.put_i8(attributes);
    put_varlong(buf, timestamp_delta);
    put_varint(buf, offset_delta);
    put_opt_slice(buf, key);
    put_opt_slice(buf, value);
    put_varint(buf, headers.len() as i32);
    for h in headers {
        put_varint(buf, h.key.len() as i32);
        buf.put_slice(&h.key);
        put_opt_slice(buf, h.value.as_deref());
    }
    Ok(varint_len(body_i32) + body)
}

fn put_opt_slice(buf: &mut impl BufMut, b: Option<&[u8]>) {
    match b {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.put_slice(b);
        }
    }
}

/// A batch's header fields (all but the length, magic and CRC, which are
/// derived). Producers fill in the producer id, epoch and sequence when a
/// batch is sent; base offset and leader epoch are the broker's (0 and -1
/// from a producer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// The leader epoch that appended the batch.
    pub partition_leader_epoch: i32,
    /// Codec, timestamp type, transactional flag.
    pub attributes: i16,
    /// Records minus one.
    pub last_offset_delta: i32,
    /// First record's timestamp.
    pub base_timestamp: i64,
    /// Largest timestamp.
    pub max_timestamp: i64,
    /// Producer id or -1.
    pub producer_id: i64,
    /// Producer epoch or -1.
    pub producer_epoch: i16,
    /// First sequence or -1.
    pub base_sequence: i32,
    /// Number of records.
    pub count: i32,
}

/// Writes the 61-byte header into the front of `batch` (which holds the
/// header space followed by the encoded, possibly compressed, records) and
/// computes the CRC-32C: what turns a producer's buffer into a valid batch
/// without copying the records.
pub fn seal_batch(batch: &mut [u8], h: &BatchHeader) -> Result<(), EncodeError> {
    if batch.len() < BATCH_HEADER_LEN {
        return Err(EncodeError::TooLong { what: "batch header space", length: batch.len() });
    }
    let len = i32::try_from(batch.len() - 12).map_err(|_| EncodeError::TooLong { what: "record batch", length: batch.len() })?;
    let mut w = &mut batch[..BATCH_HEADER_LEN];
    w.put_i64(h.base_offset);
    w.put_i32(len);
    w.put_i32(h.partition_leader_epoch);
    w.put_i8(2);
    w.put_u32(0);
    w.put_i16(h.attributes);
    w.put_i32(h.last_offset_delta);
    w.put_i64(h.base_timestamp);
    w.put_i64(h.max_timestamp);
    w.put_i64(h.producer_id);
    w.put_i16(h.producer_epoch);
    w.put_i32(h.base_sequence);
    w.put_i32(h.count);
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

fn varint_bytes(r: &mut Reader, what: &'static str) -> Result<Option<Bytes>, DecodeError> {
    let n = r.varint()?;
    match n {
        -1 => Ok(None),
        n if n < 0 => Err(DecodeError::InvalidLength { what, length: i64::from(n) }),
        n => r.bytes(n as usize, what).map(Some),
    }
}

/// A batch checked and inflated, its records not yet decoded.
pub(crate) struct Opened {
    /// The header fields (no records).
    pub batch: RecordBatch,
    /// The record count from the header (checked against the bytes).
    pub count: i32,
    /// The records' bytes, inflated.
    pub records: Bytes,
    /// Bytes inflated (0 when uncompressed).
    pub inflated: usize,
}

/// A v2 record batch with its records decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// Offset of the first record.
    pub base_offset: i64,
    /// The leader epoch that appended the batch (-1 from producers).
    pub partition_leader_epoch: i32,
    /// Codec, timestamp type, transactional and control flags.
    pub attributes: i16,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// The records.
    pub records: Vec<Record>,
}

impl Default for RecordBatch {
    fn default() -> Self {
        RecordBatch {
            base_offset: 0,
            partition_leader_epoch: -1,
            attributes: 0,
            last_offset_delta: -1,
            base_timestamp: -1,
            max_timestamp: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records: Vec::new(),
        }
    }
}

impl RecordBatch {
    /// The batch's codec.
    pub fn compression(&self) -> Result<Compression, DecodeError> {
        Compression::from_attributes(self.attributes)
    }

    /// Sets the codec bits.
    pub fn set_compression(&mut self, c: Compression) {
        self.attributes = (self.attributes & !0x7) | c.id();
    }

    /// Create time or log-append time.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// Sets the transactional flag.
    pub fn set_transactional(&mut self, on: bool) {
        self.set_bit(TRANSACTIONAL_BIT, on);
    }

    /// Whether the batch holds a control record (a transaction marker).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Sets the control flag.
    pub fn set_control(&mut self, on: bool) {
        self.set_bit(CONTROL_BIT, on);
    }

    fn set_bit(&mut self, bit: i16, on: bool) {
        if on {
            self.attributes |= bit
        } else {
            self.attributes &= !bit
        }
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Absolute offset of `record`.
    pub fn offset_of(&self, record: &Record) -> i64 {
        self.base_offset + i64::from(record.offset_delta)
    }

    /// Absolute timestamp of `record` (the batch max for log-append time).
    pub fn timestamp_of(&self, record: &Record) -> i64 {
        match self.timestamp_type() {
            TimestampType::LogAppendTime => self.max_timestamp,
            TimestampType::CreateTime => self.base_timestamp + record.timestamp_delta,
        }
    }

    /// Builds a batch from `(timestamp, key, value, headers)` records with
    /// consecutive offsets from 0, computing the deltas and the last offset
    /// and max timestamp fields.
    pub fn from_records(
        records: impl IntoIterator<Item = (i64, Option<Bytes>, Option<Bytes>, Vec<RecordHeader>)>,
    ) -> RecordBatch {
        let mut b = RecordBatch::default();
        for (i, (ts, key, value, headers)) in records.into_iter().enumerate() {
            if i == 0 {
                b.base_timestamp = ts;
            }
            b.max_timestamp = b.max_timestamp.max(ts);
            b.records.push(Record {
                attributes: 0,
                timestamp_delta: ts - b.base_timestamp,
                offset_delta: i as i32,
                key,
                value,
                headers,
            });
        }
        b.last_offset_delta = b.records.len() as i32 - 1;
        b
    }

    /// Appends the encoded batch to `buf`: the header is written with
    /// placeholders, the records after it (through the codec when the
    /// attributes ask for one), and the length and CRC-32C are patched in.
    pub fn encode(&self, buf: &mut BytesMut, level: Option<i32>) -> Result<(), EncodeError> {
        let codec = Compression::from_attributes(self.attributes)
            .map_err(|e| EncodeError::Compression(e.to_string()))?;
        let count = i32::try_from(self.records.len())
            .map_err(|_| EncodeError::TooLong { what: "record count", length: self.records.len() })?;
        let start = buf.len();
        // Header space first; `seal_batch` fills it in once the records,
        // and so the length and CRC, are known.
        buf.resize(start + BATCH_HEADER_LEN, 0);
        if codec == Compression::None {
            buf.reserve(self.records.iter().map(|r| r.body_len() + 5).sum());
            for r in &self.records {
                r.encode(buf)?;
            }
        } else {
            // Records stream through the codec into `buf`; a small staging
            // buffer batches them so the codec sees few large writes.
            let mut stage = BytesMut::with_capacity(STAGE);
            let mut z = Compressor::new(codec, level, buf)?;
            for r in &self.records {
                r.encode(&mut stage)?;
                if stage.len() >= STAGE {
                    z.write(&stage)?;
                    stage.clear();
                }
            }
            z.write(&stage)?;
            z.finish()?;
        }
        let header = BatchHeader {
            base_offset: self.base_offset,
            partition_leader_epoch: self.partition_leader_epoch,
            attributes: self.attributes,
            last_offset_delta: self.last_offset_delta,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            count,
        };
        seal_batch(&mut buf[start..], &header)
    }

    /// Checks one batch's framing and CRC, reads its header and inflates
    /// its records (within `limits`), without decoding them: the part the
    /// eager decoder and the lazy [`BatchView`](super::BatchView) share.
    pub(crate) fn open(data: Bytes, limits: &DecodeLimits) -> Result<Opened, DecodeError> {
        let full = data.clone();
        let mut r = Reader::new(data);
        let base_offset = r.i64()?;
        let len = r.i32()?;
        if len < 0 || len as usize != r.remaining() {
            return Err(DecodeError::InvalidLength { what: "batch length", length: i64::from(len) });
        }
        if (len as usize) < BATCH_HEADER_LEN - 12 {
            return Err(DecodeError::Corrupt(format!("batch length {len} is shorter than a batch header")));
        }
        let partition_leader_epoch = r.i32()?;
        let magic = r.i8()?;
        if magic != 2 {
            return Err(DecodeError::Corrupt(format!("expected magic 2, found {magic}")));
        }
        let stored = r.u32()?;
        if limits.verify_crc {
            let computed = crc32c::crc32c(&full[CRC_START..]);
            if computed != stored {
                return Err(DecodeError::CrcMismatch { stored, computed });
            }
        }
        let batch = RecordBatch {
            base_offset,
            partition_leader_epoch,
            attributes: r.i16()?,
            last_offset_delta: r.i32()?,
            base_timestamp: r.i64()?,
            max_timestamp: r.i64()?,
            producer_id: r.i64()?,
            producer_epoch: r.i16()?,
            base_sequence: r.i32()?,
            records: Vec::new(),
        };
        let count = r.i32()?;
        if count < 0 {
            return Err(DecodeError::InvalidLength { what: "record count", length: i64::from(count) });
        }
        let codec = batch.compression()?;
        let (records, inflated) = if codec == Compression::None {
            (r.peek_rest(), 0)
        } else {
            let out = codec.decompress(&r.peek_rest(), limits.max_decompressed)?;
            let n = out.len();
            (out, n)
        };
        if count as usize > records.len() / MIN_RECORD_LEN {
            return Err(DecodeError::InvalidLength { what: "record count", length: i64::from(count) });
        }
        Ok(Opened { batch, count, records, inflated })
    }

    /// Decodes exactly one batch occupying all of `data`, checking its CRC
    /// and decompressing within `limits`.
    pub fn decode(data: Bytes, limits: &DecodeLimits) -> Result<RecordBatch, DecodeError> {
        Self::decode_counting(data, limits).map(|(b, _)| b)
    }

    /// [`decode`](Self::decode), also returning how many bytes the records
    /// inflated to (0 when uncompressed), for a record set's total budget.
    pub(crate) fn decode_counting(data: Bytes, limits: &DecodeLimits) -> Result<(RecordBatch, usize), DecodeError> {
        let Opened { batch: mut b, count, records, inflated } = Self::open(data, limits)?;
        let mut recs = Reader::new(records);
        // The count is checked against the bytes at the minimum record
        // size; reserve no more memory than those bytes (a Record is far
        // larger than its minimal encoding), and grow if they really hold more.
        b.records.reserve_exact((count as usize).min(recs.remaining() / std::mem::size_of::<Record>()));
        for _ in 0..count {
            b.records.push(Record::decode(&mut recs)?);
        }
        if !recs.is_empty() {
            return Err(DecodeError::Corrupt(format!("{} bytes after the last record of the batch", recs.remaining())));
        }
        Ok((b, inflated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RecordBatch {
        let mut b = RecordBatch::from_records((0..10).map(|i| {
            (
                1_700_000_000_000 + i,
                if i % 3 == 0 { None } else { Some(Bytes::from(format!("key-{i}"))) },
                Some(Bytes::from(vec![i as u8; 100])),
                vec![RecordHeader::new("h", Some(Bytes::from_static(b"v"))), RecordHeader::new("n", None)],
            )
        }));
        b.producer_id = 42;
        b.producer_epoch = 3;
        b.base_sequence = 7;
        b
    }

    #[test]
    fn batches_round_trip_with_every_codec() {
        for c in Compression::ALL {
            let mut b = sample();
            b.set_compression(c);
            let mut buf = BytesMut::new();
            b.encode(&mut buf, None).unwrap();
            let back = RecordBatch::decode(buf.freeze(), &DecodeLimits::default()).unwrap();
            assert_eq!(back, b, "{c:?}");
        }
    }

    #[test]
    fn large_batches_stream_through_every_codec() {
        // 300 KiB of records: many staging flushes and snappy blocks.
        let b0 = RecordBatch::from_records((0..150).map(|i| {
            (i, Some(Bytes::from(format!("k{i}"))), Some(Bytes::from(vec![(i % 7) as u8; 2048])), Vec::new())
        }));
        for c in Compression::ALL {
            let mut b = b0.clone();
            b.set_compression(c);
            let mut buf = BytesMut::new();
            b.encode(&mut buf, Some(1)).unwrap();
            assert_eq!(RecordBatch::decode(buf.freeze(), &DecodeLimits::default()).unwrap(), b, "{c:?}");
        }
    }

    #[test]
    fn a_producer_built_batch_equals_an_encoded_one() {
        // write_record + seal_batch (the producer's one-pass path) must give
        // exactly what RecordBatch::encode gives.
        let b = sample();
        let mut want = BytesMut::new();
        b.encode(&mut want, None).unwrap();
        let mut buf = BytesMut::new();
        buf.resize(BATCH_HEADER_LEN, 0);
        for r in &b.records {
            write_record(&mut buf, r.timestamp_delta, r.offset_delta, r.key.as_deref(), r.value.as_deref(), &r.headers).unwrap();
        }
        let h = BatchHeader {
            base_offset: 0,
            partition_leader_epoch: -1,
            attributes: b.attributes,
            last_offset_delta: b.last_offset_delta,
            base_timestamp: b.base_timestamp,
            max_timestamp: b.max_timestamp,
            producer_id: b.producer_id,
            producer_epoch: b.producer_epoch,
            base_sequence: b.base_sequence,
            count: b.records.len() as i32,
        };
        seal_batch(&mut buf, &h).unwrap();
        assert_eq!(buf, want);
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let mut buf = BytesMut::new();
        sample().encode(&mut buf, None).unwrap();
        let last = buf.len() - 1;
        buf[last] ^= 1;
        assert!(matches!(
            RecordBatch::decode(buf.freeze(), &DecodeLimits::default()),
            Err(DecodeError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn uncompressed_values_are_slices_of_the_input() {
        let mut buf = BytesMut::new();
        sample().encode(&mut buf, None).unwrap();
        let input = buf.freeze();
        let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
        let back = RecordBatch::decode(input.clone(), &DecodeLimits::default()).unwrap();
        for r in &back.records {
            let v = r.value.as_ref().unwrap();
            assert!(range.contains(&(v.as_ptr() as usize)), "value was copied");
        }
    }

    #[test]
    fn hostile_record_count_is_rejected() {
        let mut buf = BytesMut::new();
        RecordBatch::default().encode(&mut buf, None).unwrap();
        buf[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&buf[CRC_START..]);
        buf[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            RecordBatch::decode(buf.freeze(), &DecodeLimits::default()),
            Err(DecodeError::InvalidLength { .. })
        ));
    }
}
