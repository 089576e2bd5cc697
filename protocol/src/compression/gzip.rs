//! gzip, as java.util.zip writes it; level 1-9, default 6 (Deflater's default).

use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{read::MultiGzDecoder, write::GzEncoder};

use crate::error::{DecodeError, EncodeError};

pub(super) fn compress(input: &[u8], level: Option<i32>, out: &mut BytesMut) -> Result<(), EncodeError> {
    let level = flate2::Compression::new(level.unwrap_or(6).clamp(0, 9) as u32);
    let mut enc = GzEncoder::new(out.writer(), level);
    enc.write_all(input).and_then(|_| enc.finish().map(|_| ())).map_err(|e| EncodeError::Compression(e.to_string()))
}

pub(super) fn decompress(input: &[u8], max: usize) -> Result<Bytes, DecodeError> {
    super::read_bounded(MultiGzDecoder::new(input), max, "gzip")
}
