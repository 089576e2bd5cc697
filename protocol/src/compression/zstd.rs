//! Zstandard; level 1-22, default 3 (the Java client's default).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};

pub(super) fn compress(input: &[u8], level: Option<i32>, out: &mut BytesMut) -> Result<(), EncodeError> {
    zstd::stream::copy_encode(input, out.writer(), level.unwrap_or(3))
        .map_err(|e| EncodeError::Compression(e.to_string()))
}

pub(super) fn decompress(input: &[u8], max: usize) -> Result<Bytes, DecodeError> {
    let dec = zstd::stream::read::Decoder::with_buffer(input)
        .map_err(|e| DecodeError::Compression(format!("zstd: {e}")))?;
    super::read_bounded(dec, max, "zstd")
}
