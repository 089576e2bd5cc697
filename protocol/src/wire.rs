//! Kafka's primitive types: fixed-width integers, varints, strings, byte
//! arrays, arrays and tagged-field sections, in their classic and compact
//! (flexible-version) forms.
//!
//! Reading goes through [`Reader`], a cursor over a [`Bytes`] buffer: byte
//! fields come back as slices of that buffer (no copy), and every length is
//! checked against what is left before anything is allocated.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};

/// A 128-bit UUID as Kafka sends it (topic ids, directory ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID, Kafka's "no id".
    pub const ZERO: Uuid = Uuid([0; 16]);
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A tagged field this crate does not know, kept so that it is re-encoded
/// exactly as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTaggedField {
    /// The tag number.
    pub tag: u32,
    /// The field's bytes, without the tag and size prefix.
    pub data: Bytes,
}

/// A read cursor over a received buffer.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
    pos: usize,
}

macro_rules! read_fixed {
    ($name:ident, $ty:ty, $n:expr) => {
        #[doc = concat!("Reads a big-endian `", stringify!($ty), "`.")]
        pub fn $name(&mut self) -> Result<$ty, DecodeError> {
            let s = self.take_slice($n, stringify!($ty))?;
            let mut a = [0u8; $n];
            a.copy_from_slice(s);
            Ok(<$ty>::from_be_bytes(a))
        }
    };
}

impl Reader {
    /// A reader over the whole of `buf`.
    pub fn new(buf: Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when everything has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> Bytes {
        self.buf.slice(self.pos..)
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless everything was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }

    fn need(&self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        if n > self.remaining() {
            Err(DecodeError::Truncated { what, needed: n, remaining: self.remaining() })
        } else {
            Ok(())
        }
    }

    fn take_slice(&mut self, n: usize, what: &'static str) -> Result<&[u8], DecodeError> {
        self.need(n, what)?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes the next `n` bytes as a zero-copy slice.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        self.need(n, what)?;
        let b = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    /// Takes the next `n` bytes as a reader of their own.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader, DecodeError> {
        Ok(Reader::new(self.bytes(n, what)?))
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        self.need(n, what)?;
        self.pos += n;
        Ok(())
    }

    read_fixed!(i8, i8, 1);
    read_fixed!(i16, i16, 2);
    read_fixed!(u16, u16, 2);
    read_fixed!(i32, i32, 4);
    read_fixed!(u32, u32, 4);
    read_fixed!(i64, i64, 8);
    read_fixed!(f64, f64, 8);

    /// Reads a boolean (any non-zero byte is true, as in the Java client).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.i8()? != 0)
    }

    /// Reads a UUID.
    pub fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        let s = self.take_slice(16, "uuid")?;
        let mut a = [0u8; 16];
        a.copy_from_slice(s);
        Ok(Uuid(a))
    }

    /// Reads an unsigned varint of at most 32 bits.
    pub fn uvarint(&mut self) -> Result<u32, DecodeError> {
        let v = self.uvarlong_max(5)?;
        u32::try_from(v).map_err(|_| DecodeError::VarintTooLong)
    }

    /// Reads an unsigned varint of at most 64 bits.
    pub fn uvarlong(&mut self) -> Result<u64, DecodeError> {
        self.uvarlong_max(10)
    }

    fn uvarlong_max(&mut self, max_bytes: usize) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let b = *self.take_slice(1, "varint")?.first().unwrap_or(&0);
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong)
    }

    /// Reads a zig-zag signed varint (32 bits).
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
    }

    /// Reads a zig-zag signed varlong (64 bits).
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarlong()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Reads a length prefix: int16/int32 in classic form, unsigned varint
    /// minus one in compact form. `None` is the null marker (-1).
    fn length(&mut self, compact: bool, wide: bool, what: &'static str) -> Result<Option<usize>, DecodeError> {
        let n: i64 = if compact {
            i64::from(self.uvarint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        if n == -1 {
            Ok(None)
        } else if n < 0 {
            Err(DecodeError::InvalidLength { what, length: n })
        } else {
            let n = n as usize;
            self.need(n, what)?;
            Ok(Some(n))
        }
    }

    /// Reads a nullable string.
    pub fn nullable_string(&mut self, compact: bool, field: &'static str) -> Result<Option<String>, DecodeError> {
        match self.length(compact, false, field)? {
            None => Ok(None),
            Some(n) => {
                let s = self.take_slice(n, field)?;
                std::str::from_utf8(s)
                    .map(|s| Some(s.to_owned()))
                    .map_err(|_| DecodeError::InvalidUtf8 { field })
            }
        }
    }

    /// Reads a string that must not be null.
    pub fn string(&mut self, compact: bool, field: &'static str) -> Result<String, DecodeError> {
        self.nullable_string(compact, field)?.ok_or(DecodeError::UnexpectedNull { field })
    }

    /// Reads nullable bytes (int32 length in classic form) as a zero-copy slice.
    pub fn nullable_bytes(&mut self, compact: bool, field: &'static str) -> Result<Option<Bytes>, DecodeError> {
        match self.length(compact, true, field)? {
            None => Ok(None),
            Some(n) => self.bytes(n, field).map(Some),
        }
    }

    /// Reads bytes that must not be null.
    pub fn bytes_field(&mut self, compact: bool, field: &'static str) -> Result<Bytes, DecodeError> {
        self.nullable_bytes(compact, field)?.ok_or(DecodeError::UnexpectedNull { field })
    }

    /// Reads an array count. The count is checked against the bytes left
    /// (every element takes at least `min_elem` bytes), so a hostile count
    /// cannot make the caller allocate more than the buffer could hold.
    pub fn array_len(&mut self, compact: bool, min_elem: usize, field: &'static str) -> Result<Option<usize>, DecodeError> {
        let n: i64 = if compact { i64::from(self.uvarint()?) - 1 } else { i64::from(self.i32()?) };
        if n == -1 {
            return Ok(None);
        }
        if n < 0 {
            return Err(DecodeError::InvalidLength { what: field, length: n });
        }
        let n = n as usize;
        self.need(n.saturating_mul(min_elem.max(1)), field).map_err(|_| {
            DecodeError::InvalidLength { what: field, length: n as i64 }
        })?;
        Ok(Some(n))
    }

    /// Reads a tagged-field section, handing each field to `known`; the ones
    /// it does not take (returns `Ok(false)`) are kept raw.
    pub fn tagged_fields(
        &mut self,
        mut known: impl FnMut(u32, &mut Reader) -> Result<bool, DecodeError>,
    ) -> Result<Vec<RawTaggedField>, DecodeError> {
        let count = self.uvarint()? as usize;
        // Each tagged field takes at least two bytes (tag and size).
        self.need(count.saturating_mul(2), "tagged fields")?;
        let mut unknown = Vec::new();
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            let mut sub = self.sub(size, "tagged field")?;
            if known(tag, &mut sub)? {
                if !sub.is_empty() {
                    return Err(DecodeError::TaggedFieldSize { tag });
                }
            } else {
                unknown.push(RawTaggedField { tag, data: sub.peek_rest() });
            }
        }
        Ok(unknown)
    }
}

/// Writes an unsigned varint.
pub fn put_uvarint(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Writes a zig-zag signed varint.
pub fn put_varint(buf: &mut impl BufMut, v: i32) {
    put_uvarint(buf, u64::from(((v << 1) ^ (v >> 31)) as u32));
}

/// Writes a zig-zag signed varlong.
pub fn put_varlong(buf: &mut impl BufMut, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Number of bytes [`put_uvarint`] writes for `v`.
pub fn uvarint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Number of bytes [`put_varint`] writes for `v`.
pub fn varint_len(v: i32) -> usize {
    uvarint_len(u64::from(((v << 1) ^ (v >> 31)) as u32))
}

/// Number of bytes [`put_varlong`] writes for `v`.
pub fn varlong_len(v: i64) -> usize {
    uvarint_len(((v << 1) ^ (v >> 63)) as u64)
}

fn put_length(buf: &mut BytesMut, len: Option<usize>, compact: bool, wide: bool, what: &'static str) -> Result<(), EncodeError> {
    let too_long = |length| EncodeError::TooLong { what, length };
    match (len, compact) {
        (None, true) => buf.put_u8(0),
        (None, false) if wide => buf.put_i32(-1),
        (None, false) => buf.put_i16(-1),
        (Some(n), true) => {
            let n = u32::try_from(n).ok().and_then(|n| n.checked_add(1)).ok_or(too_long(n))?;
            put_uvarint(buf, u64::from(n))
        }
        (Some(n), false) if wide => buf.put_i32(i32::try_from(n).map_err(|_| too_long(n))?),
        (Some(n), false) => buf.put_i16(i16::try_from(n).map_err(|_| too_long(n))?),
    }
    Ok(())
}

/// Writes a nullable string.
pub fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>, compact: bool, field: &'static str) -> Result<(), EncodeError> {
    put_length(buf, s.map(str::len), compact, false, field)?;
    if let Some(s) = s {
        buf.put_slice(s.as_bytes());
    }
    Ok(())
}

/// Writes nullable bytes.
pub fn put_nullable_bytes(buf: &mut BytesMut, b: Option<&[u8]>, compact: bool, field: &'static str) -> Result<(), EncodeError> {
    put_length(buf, b.map(<[u8]>::len), compact, true, field)?;
    if let Some(b) = b {
        buf.put_slice(b);
    }
    Ok(())
}

/// Writes an array count (`None` is a null array).
pub fn put_array_len(buf: &mut BytesMut, len: Option<usize>, compact: bool, field: &'static str) -> Result<(), EncodeError> {
    put_length(buf, len, compact, true, field)
}

/// Writes a tagged-field section: `known` holds the encoded known fields,
/// `unknown` the preserved ones; they are written in ascending tag order.
pub fn put_tagged_fields(buf: &mut BytesMut, mut known: Vec<(u32, BytesMut)>, unknown: &[RawTaggedField]) {
    if known.is_empty() && unknown.is_empty() {
        buf.put_u8(0);
        return;
    }
    known.sort_by_key(|(t, _)| *t);
    put_uvarint(buf, (known.len() + unknown.len()) as u64);
    let mut k = known.iter().peekable();
    let mut u = unknown.iter().peekable();
    loop {
        let take_known = match (k.peek(), u.peek()) {
            (Some((kt, _)), Some(uf)) => *kt <= uf.tag,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let (tag, data): (u32, &[u8]) = if take_known {
            let (t, d) = k.next().expect("peeked");
            (*t, d)
        } else {
            let f = u.next().expect("peeked");
            (f.tag, &f.data)
        };
        put_uvarint(buf, u64::from(tag));
        put_uvarint(buf, data.len() as u64);
        buf.put_slice(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_their_edges() {
        for v in [0i32, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut b = BytesMut::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
            assert_eq!(Reader::new(b.freeze()).varint().unwrap(), v);
        }
        for v in [0i64, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_len(v));
            assert_eq!(Reader::new(b.freeze()).varlong().unwrap(), v);
        }
        // Zig-zag encodes -1 as 1 and 1 as 2 (protocol.html).
        let mut b = BytesMut::new();
        put_varint(&mut b, -1);
        put_varint(&mut b, 1);
        assert_eq!(&b[..], &[1, 2]);
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let mut r = Reader::new(Bytes::from_static(&[0xff; 11]));
        assert_eq!(r.uvarlong(), Err(DecodeError::VarintTooLong));
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x7f]));
        assert_eq!(r.uvarint(), Err(DecodeError::VarintTooLong));
    }

    #[test]
    fn hostile_lengths_are_rejected_before_allocation() {
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0]));
        assert!(matches!(r.nullable_bytes(false, "x"), Err(DecodeError::Truncated { .. })));
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]));
        assert!(matches!(r.array_len(false, 4, "x"), Err(DecodeError::InvalidLength { .. })));
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xfe]));
        assert!(matches!(r.nullable_string(false, "x"), Err(DecodeError::InvalidLength { .. })));
    }

    #[test]
    fn strings_in_both_forms() {
        for compact in [false, true] {
            let mut b = BytesMut::new();
            put_nullable_string(&mut b, Some("héllo"), compact, "s").unwrap();
            put_nullable_string(&mut b, None, compact, "s").unwrap();
            let mut r = Reader::new(b.freeze());
            assert_eq!(r.string(compact, "s").unwrap(), "héllo");
            assert_eq!(r.nullable_string(compact, "s").unwrap(), None);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn tagged_fields_are_written_in_tag_order() {
        let mut b = BytesMut::new();
        let known = vec![(3u32, BytesMut::from(&[9u8][..])), (0u32, BytesMut::from(&[7u8][..]))];
        let unknown = vec![RawTaggedField { tag: 1, data: Bytes::from_static(&[8]) }];
        put_tagged_fields(&mut b, known, &unknown);
        assert_eq!(&b[..], &[3, 0, 1, 7, 1, 1, 8, 3, 1, 9]);
    }
}
