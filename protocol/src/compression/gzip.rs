//! gzip, as java.util.zip writes it; level 1-9, default 6 (Deflater's default).

use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{read::MultiGzDecoder, write::GzEncoder};

use crate::error::{DecodeError, EncodeError};

pub(super) fn level(level: Option<i32>) -> flate2::Compression {
    flate2::Compression::new(level.unwrap_or(6).clamp(0, 9) as u32)
}

pub(super) fn compress(input: &[u8], level: Option<i32>, out: &mut BytesMut) -> Result<(), EncodeError> {
    let mut enc = GzEncoder::new(out.writer(), self::level(level));
    enc.write_all(input).and_then(|_| enc.finish().map(|_| ())).map_err(|e| EncodeError::Compression(e.to_string()))
}

pub(super) fn decompress(input: &[u8], max: usize) -> Result<Bytes, DecodeError> {
    super::read_bounded(MultiGzDecoder::new(input), max, "gzip")
}
