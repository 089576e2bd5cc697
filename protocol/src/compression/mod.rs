//! The four codecs Kafka uses for record batches, behind one interface.
//!
//! Decompression is always bounded: the caller names the most bytes it will
//! accept, and a stream that would inflate past that (a decompression bomb)
//! is an error, not an allocation.

mod gzip;
mod lz4;
mod snappy;
mod stream;
mod zstd;

pub use stream::Compressor;

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};

/// A record batch compression codec (attributes bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy; written in the xerial framing the Java client uses, read in
    /// both that framing and raw.
    Snappy,
    /// LZ4 in the standard LZ4 frame format (Kafka's for magic >= 1).
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// Every codec, `None` first.
    pub const ALL: [Compression; 5] =
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

    /// The codec of a batch's attributes (lowest three bits).
    pub fn from_attributes(attributes: i16) -> Result<Compression, DecodeError> {
        Ok(match attributes & 0x7 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(DecodeError::Corrupt(format!("unknown compression codec {other}"))),
        })
    }

    /// The codec's id in batch attributes.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec's name as `compression.type` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Parses a `compression.type` value.
    pub fn from_name(name: &str) -> Option<Compression> {
        Compression::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// Compresses `input`, appending to `out`. `level` is the codec's own
    /// scale (gzip 0-9, zstd 1-22); `None` takes the Java client's default.
    /// Snappy and LZ4 have no levels here and ignore it.
    pub fn compress(self, input: &[u8], level: Option<i32>, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Compression::None => {
                out.extend_from_slice(input);
                Ok(())
            }
            Compression::Gzip => gzip::compress(input, level, out),
            Compression::Snappy => snappy::compress(input, out),
            Compression::Lz4 => lz4::compress(input, out),
            Compression::Zstd => zstd::compress(input, level, out),
        }
    }

    /// Decompresses `input`, failing if the output would exceed `max_output` bytes.
    pub fn decompress(self, input: &[u8], max_output: usize) -> Result<Bytes, DecodeError> {
        match self {
            Compression::None => {
                if input.len() > max_output {
                    return Err(too_large(max_output));
                }
                Ok(Bytes::copy_from_slice(input))
            }
            Compression::Gzip => gzip::decompress(input, max_output),
            Compression::Snappy => snappy::decompress(input, max_output),
            Compression::Lz4 => lz4::decompress(input, max_output),
            Compression::Zstd => zstd::decompress(input, max_output),
        }
    }
}

/// The error for output past the caller's limit.
pub(crate) fn too_large(max: usize) -> DecodeError {
    DecodeError::Compression(format!("decompressed data exceeds the limit of {max} bytes"))
}

/// Reads a decompressing stream to its end, at most `max` bytes.
///
/// The buffer grows by doubling but never past `max + 1` bytes (the one
/// byte more is how a stream that runs over is told apart from one that
/// ends exactly at the limit), so the limit bounds memory, not just output:
/// `read_to_end` would double a full `max`-byte buffer to `2 * max` only to
/// learn that the stream had ended.
pub(crate) fn read_bounded(mut reader: impl std::io::Read, max: usize, codec: &str) -> Result<Bytes, DecodeError> {
    const FIRST: usize = 8 * 1024;
    let ceiling = max.saturating_add(1);
    let mut out: Vec<u8> = Vec::new();
    let mut len = 0;
    loop {
        if len == out.len() {
            if len == ceiling {
                return Err(too_large(max));
            }
            let grow = out.len().max(FIRST).min(ceiling - len);
            out.reserve_exact(grow);
            out.resize(len + grow, 0);
        }
        match reader.read(&mut out[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DecodeError::Compression(format!("{codec}: {e}"))),
        }
    }
    if len > max {
        return Err(too_large(max));
    }
    out.truncate(len);
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let input: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for c in Compression::ALL {
            let mut out = BytesMut::new();
            c.compress(&input, None, &mut out).unwrap();
            let back = c.decompress(&out, input.len()).unwrap();
            assert_eq!(&back[..], &input[..], "{c:?}");
        }
    }

    #[test]
    fn decompression_past_the_limit_is_an_error() {
        let input = vec![0u8; 1 << 20];
        for c in Compression::ALL {
            let mut out = BytesMut::new();
            c.compress(&input, None, &mut out).unwrap();
            assert!(matches!(c.decompress(&out, 1000), Err(DecodeError::Compression(_))), "{c:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let junk = [0x82u8, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff];
        for c in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            assert!(c.decompress(&junk, 1 << 20).is_err(), "{c:?}");
            assert!(c.decompress(&[1, 2, 3], 1 << 20).is_err(), "{c:?}");
        }
    }

    #[test]
    fn levels_change_the_output() {
        let input: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 13) as u8).collect();
        for c in [Compression::Gzip, Compression::Zstd] {
            let (mut fast, mut best) = (BytesMut::new(), BytesMut::new());
            c.compress(&input, Some(1), &mut fast).unwrap();
            c.compress(&input, Some(9), &mut best).unwrap();
            assert_ne!(fast, best, "{c:?}");
            assert_eq!(&c.decompress(&best, input.len()).unwrap()[..], &input[..]);
        }
    }
}
