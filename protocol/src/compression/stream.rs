//! Streaming compressors that write straight into the output buffer, so a
//! batch is encoded in one pass: records go through the codec into the
//! batch's own buffer, with no full uncompressed copy in between.

use std::io::Write;

use bytes::buf::Writer;
use bytes::{BufMut, BytesMut};
use flate2::write::GzEncoder;
use lz4_flex::frame::FrameEncoder;

use super::Compression;
use crate::error::EncodeError;

/// A codec writing into a `BytesMut`; call [`Compressor::finish`] at the end.
pub enum Compressor<'a> {
    /// gzip.
    Gzip(Box<GzEncoder<Writer<&'a mut BytesMut>>>),
    /// Snappy in xerial framing, compressed block by block.
    Snappy(Box<super::snappy::XerialWriter<'a>>),
    /// LZ4 frame.
    Lz4(Box<FrameEncoder<Writer<&'a mut BytesMut>>>),
    /// Zstandard.
    Zstd(Box<zstd::stream::write::Encoder<'static, Writer<&'a mut BytesMut>>>),
}

fn io_err(e: std::io::Error) -> EncodeError {
    EncodeError::Compression(e.to_string())
}

impl<'a> Compressor<'a> {
    /// A compressor for `codec` (not `None`) appending to `out`.
    pub fn new(codec: Compression, level: Option<i32>, out: &'a mut BytesMut) -> Result<Self, EncodeError> {
        Ok(match codec {
            Compression::None => return Err(EncodeError::Compression("no compressor for codec none".into())),
            Compression::Gzip => Compressor::Gzip(Box::new(GzEncoder::new(out.writer(), super::gzip::level(level)))),
            Compression::Snappy => Compressor::Snappy(Box::new(super::snappy::XerialWriter::new(out))),
            Compression::Lz4 => Compressor::Lz4(Box::new(super::lz4::encoder(out.writer()))),
            Compression::Zstd => Compressor::Zstd(Box::new(
                zstd::stream::write::Encoder::new(out.writer(), level.unwrap_or(3)).map_err(io_err)?,
            )),
        })
    }

    /// Feeds uncompressed bytes.
    pub fn write(&mut self, data: &[u8]) -> Result<(), EncodeError> {
        match self {
            Compressor::Gzip(w) => w.write_all(data).map_err(io_err),
            Compressor::Snappy(w) => w.write(data),
            Compressor::Lz4(w) => w.write_all(data).map_err(io_err),
            Compressor::Zstd(w) => w.write_all(data).map_err(io_err),
        }
    }

    /// Flushes the codec's trailer into the buffer.
    pub fn finish(self) -> Result<(), EncodeError> {
        match self {
            Compressor::Gzip(w) => w.finish().map(|_| ()).map_err(io_err),
            Compressor::Snappy(w) => (*w).finish(),
            Compressor::Lz4(w) => w.finish().map(|_| ()).map_err(|e| EncodeError::Compression(e.to_string())),
            Compressor::Zstd(w) => w.finish().map(|_| ()).map_err(io_err),
        }
    }
}
