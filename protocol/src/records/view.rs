//! A lazy view of a v2 record batch, for the consumer's hot path.
//!
//! [`RecordBatch::decode`] turns every record into owned parts: each key,
//! value and header value becomes a `Bytes` (an atomic reference count up
//! and down) and each record with headers allocates a vector, about 130 ns
//! per record. [`BatchView`] checks the batch once (framing, CRC, inflating
//! compressed records within the limits) and then reads records on demand
//! as borrowed slices of that one buffer: no allocation and no reference
//! counting per record. A caller that wants to keep a part takes it as
//! `Bytes` (a slice of the batch's buffer, still no copy).
//!
//! Errors in a record (a bad length, a count that does not match) surface
//! from the iterator as typed errors; a record never reads outside its
//! own length.

use bytes::Bytes;

use super::batch::Opened;
use super::{DecodeLimits, RecordBatch};
use crate::error::DecodeError;

/// A v2 batch, checked and inflated, whose records are read lazily.
#[derive(Debug, Clone)]
pub struct BatchView {
    header: RecordBatch,
    count: i32,
    records: Bytes,
}

impl BatchView {
    /// Checks and opens exactly one batch occupying all of `data`.
    pub fn parse(data: Bytes, limits: &DecodeLimits) -> Result<BatchView, DecodeError> {
        let Opened { batch, count, records, .. } = RecordBatch::open(data, limits)?;
        Ok(BatchView { header: batch, count, records })
    }

    /// The batch's header fields (its `records` is empty): offsets,
    /// timestamps, producer id and epoch, flags.
    pub fn header(&self) -> &RecordBatch {
        &self.header
    }

    /// The number of records the header announces.
    pub fn count(&self) -> i32 {
        self.count
    }

    /// The records, in order.
    pub fn records(&self) -> Records<'_> {
        Records { view: self, pos: 0, left: self.count }
    }
}

/// The records of a [`BatchView`], each read when asked for.
pub struct Records<'a> {
    view: &'a BatchView,
    pos: usize,
    left: i32,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordRef<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let buf = &self.view.records[..];
        if self.left == 0 {
            if self.pos != buf.len() {
                // Reported once, then the iterator ends.
                let extra = buf.len() - self.pos;
                self.pos = buf.len();
                return Some(Err(DecodeError::Corrupt(format!("{extra} bytes after the last record of the batch"))));
            }
            return None;
        }
        self.left -= 1;
        match read_record(self.view, buf, self.pos) {
            Ok((r, end)) => {
                self.pos = end;
                Some(Ok(r))
            }
            Err(e) => {
                // No way to find the next record after a broken one.
                self.left = 0;
                self.pos = buf.len();
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

/// One record, borrowed from its batch's buffer.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    view: &'a BatchView,
    /// Record attributes (unused by Kafka today).
    pub attributes: i8,
    /// Timestamp minus the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Offset minus the batch's base offset.
    pub offset_delta: i32,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [u8],
    header_count: i32,
}

impl<'a> RecordRef<'a> {
    /// The record's absolute offset.
    pub fn offset(&self) -> i64 {
        self.view.header.base_offset + i64::from(self.offset_delta)
    }

    /// The record's timestamp (the batch's, for log-append-time topics).
    pub fn timestamp(&self) -> i64 {
        match self.view.header.timestamp_type() {
            super::TimestampType::LogAppendTime => self.view.header.max_timestamp,
            super::TimestampType::CreateTime => self.view.header.base_timestamp + self.timestamp_delta,
        }
    }

    /// The key, or null.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// The value, or null (a tombstone).
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// The key as `Bytes` sharing the batch's buffer (no copy).
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.key.map(|k| self.view.records.slice_ref(k))
    }

    /// The value as `Bytes` sharing the batch's buffer (no copy).
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.map(|v| self.view.records.slice_ref(v))
    }

    /// The number of headers.
    pub fn header_count(&self) -> usize {
        self.header_count as usize
    }

    /// The headers, as (key, value) slices; already checked when the
    /// record was read, so iterating cannot fail.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a {
        let buf = self.headers;
        let mut pos = 0;
        (0..self.header_count).map_while(move |_| {
            let (key, p) = sized(buf, pos, "header key").ok()?;
            let (value, p) = sized(buf, p, "header value").ok()?;
            pos = p;
            Some((key.unwrap_or_default(), value))
        })
    }
}

/// Reads the record at `pos`; returns it and the position after it.
fn read_record<'a>(view: &'a BatchView, buf: &'a [u8], pos: usize) -> Result<(RecordRef<'a>, usize), DecodeError> {
    let (len, p) = varint(buf, pos)?;
    let len = usize::try_from(len).map_err(|_| DecodeError::InvalidLength { what: "record", length: i64::from(len) })?;
    let end = p.checked_add(len).filter(|e| *e <= buf.len()).ok_or(DecodeError::InvalidLength { what: "record", length: len as i64 })?;
    // Everything below reads inside the record's own bytes.
    let rec = &buf[..end];
    let attributes = *rec.get(p).ok_or(DecodeError::Truncated { what: "record attributes", needed: 1, remaining: 0 })? as i8;
    let (timestamp_delta, p) = varlong(rec, p + 1)?;
    let (offset_delta, p) = varint(rec, p)?;
    let (key, p) = sized(rec, p, "record key")?;
    let (value, p) = sized(rec, p, "record value")?;
    let (header_count, p) = varint(rec, p)?;
    if header_count < 0 {
        return Err(DecodeError::InvalidLength { what: "header count", length: i64::from(header_count) });
    }
    let headers_start = p;
    let mut q = p;
    for _ in 0..header_count {
        let (k, next) = sized(rec, q, "header key")?;
        if k.is_none() {
            return Err(DecodeError::UnexpectedNull { field: "header key" });
        }
        let (_, next) = sized(rec, next, "header value")?;
        q = next;
    }
    if q != end {
        return Err(DecodeError::Corrupt(format!("record length {len} does not match its content")));
    }
    let r = RecordRef { view, attributes, timestamp_delta, offset_delta, key, value, headers: &rec[headers_start..end], header_count };
    Ok((r, end))
}

/// A varint-length-prefixed byte string (-1: null) at `pos`.
fn sized<'a>(buf: &'a [u8], pos: usize, what: &'static str) -> Result<(Option<&'a [u8]>, usize), DecodeError> {
    let (n, p) = varint(buf, pos)?;
    match n {
        -1 => Ok((None, p)),
        n if n < 0 => Err(DecodeError::InvalidLength { what, length: i64::from(n) }),
        n => {
            let end = p.checked_add(n as usize).filter(|e| *e <= buf.len()).ok_or(DecodeError::InvalidLength { what, length: i64::from(n) })?;
            Ok((Some(&buf[p..end]), end))
        }
    }
}

fn uvarint(buf: &[u8], mut pos: usize, max_bytes: usize) -> Result<(u64, usize), DecodeError> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        let b = *buf.get(pos).ok_or(DecodeError::Truncated { what: "varint", needed: 1, remaining: 0 })?;
        pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, pos));
        }
    }
    Err(DecodeError::VarintTooLong)
}

fn varint(buf: &[u8], pos: usize) -> Result<(i32, usize), DecodeError> {
    let (u, p) = uvarint(buf, pos, 5)?;
    let u = u32::try_from(u).map_err(|_| DecodeError::VarintTooLong)?;
    Ok((((u >> 1) as i32) ^ -((u & 1) as i32), p))
}

fn varlong(buf: &[u8], pos: usize) -> Result<(i64, usize), DecodeError> {
    let (u, p) = uvarint(buf, pos, 10)?;
    Ok((((u >> 1) as i64) ^ -((u & 1) as i64), p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::Compression;
    use crate::records::RecordHeader;
    use bytes::BytesMut;

    fn sample(codec: Compression, n: usize) -> Bytes {
        let mut b = RecordBatch::from_records((0..n).map(|i| {
            let key = (i % 3 != 0).then(|| Bytes::from(format!("k{i}")));
            let value = (i % 5 != 4).then(|| Bytes::from(vec![(i % 251) as u8; i % 300]));
            let headers = (0..i % 4).map(|h| RecordHeader::new(format!("h{h}"), (h % 2 == 0).then(|| Bytes::from(format!("v{i}"))))).collect();
            (1_000 + i as i64 * 3, key, value, headers)
        }));
        b.base_offset = 500;
        b.set_compression(codec);
        let mut buf = BytesMut::new();
        b.encode(&mut buf, None).unwrap();
        buf.freeze()
    }

    #[test]
    fn the_view_reads_what_the_eager_decoder_reads() {
        for codec in Compression::ALL {
            let data = sample(codec, 200);
            let eager = RecordBatch::decode(data.clone(), &DecodeLimits::default()).unwrap();
            let view = BatchView::parse(data, &DecodeLimits::default()).unwrap();
            assert_eq!(view.count() as usize, eager.records.len());
            let lazy: Vec<RecordRef<'_>> = view.records().collect::<Result<_, _>>().unwrap();
            assert_eq!(lazy.len(), eager.records.len(), "{codec:?}");
            for (l, e) in lazy.iter().zip(&eager.records) {
                assert_eq!(l.offset(), eager.offset_of(e));
                assert_eq!(l.timestamp(), eager.timestamp_of(e));
                assert_eq!(l.key(), e.key.as_deref());
                assert_eq!(l.value(), e.value.as_deref());
                assert_eq!(l.key_bytes(), e.key);
                assert_eq!(l.value_bytes(), e.value);
                let headers: Vec<(&[u8], Option<&[u8]>)> = l.headers().collect();
                let want: Vec<(&[u8], Option<&[u8]>)> = e.headers.iter().map(|h| (&h.key[..], h.value.as_deref())).collect();
                assert_eq!(headers, want);
                assert_eq!(l.header_count(), e.headers.len());
            }
        }
    }

    #[test]
    fn broken_records_are_errors_never_panics() {
        // Corrupt every byte of the records area in turn (CRC off, so the
        // damage reaches the record reader).
        let data = sample(Compression::None, 20);
        let limits = DecodeLimits { verify_crc: false, ..Default::default() };
        for i in 61..data.len() {
            for bad in [0x00u8, 0x7f, 0x80, 0xff] {
                let mut d = data.to_vec();
                d[i] = bad;
                if let Ok(view) = BatchView::parse(Bytes::from(d), &limits) {
                    // Every item is a record or an error; the iterator ends.
                    let n = view.records().take(1000).count();
                    assert!(n <= 21, "{n} items from 20 records");
                }
            }
        }
    }

    #[test]
    fn a_count_beyond_the_records_is_an_error() {
        let mut d = sample(Compression::None, 5).to_vec();
        // Claim one record more than there is (record count at offset 57).
        d[57..61].copy_from_slice(&6i32.to_be_bytes());
        let view = BatchView::parse(Bytes::from(d), &DecodeLimits { verify_crc: false, ..Default::default() }).unwrap();
        let items: Vec<_> = view.records().collect();
        assert_eq!(items.len(), 6);
        assert!(items[..5].iter().all(|r| r.is_ok()));
        assert!(items[5].is_err());
    }
}
