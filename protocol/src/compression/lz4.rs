//! LZ4 in the standard frame format, which Kafka uses for magic 1 and 2
//! (independent 64 KiB blocks, like the Java client's KafkaLZ4BlockOutputStream).
//!
//! Magic-0 messages were written with a miscomputed frame-header checksum by
//! old Java clients; those are not accepted (the broker down-converts them).

use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

use crate::error::{DecodeError, EncodeError};

pub(super) fn encoder<W: Write>(w: W) -> FrameEncoder<W> {
    let info = FrameInfo::new().block_size(BlockSize::Max64KB).block_mode(BlockMode::Independent);
    FrameEncoder::with_frame_info(info, w)
}

pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
    let mut enc = encoder(out.writer());
    enc.write_all(input).map_err(|e| EncodeError::Compression(e.to_string()))?;
    enc.finish().map_err(|e| EncodeError::Compression(e.to_string()))?;
    Ok(())
}

pub(super) fn decompress(input: &[u8], max: usize) -> Result<Bytes, DecodeError> {
    super::read_bounded(FrameDecoder::new(input), max, "lz4")
}
