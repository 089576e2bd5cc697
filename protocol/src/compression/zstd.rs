//! Zstandard; level 1-22, default 3 (the Java client's default).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};

pub(super) fn compress(input: &[u8], level: Option<i32>, out: &mut BytesMut) -> Result<(), EncodeError> {
    zstd::stream::copy_encode(input, out.writer(), level.unwrap_or(3))
        .map_err(|e| EncodeError::Compression(e.to_string()))
}

/// The largest window (log2) a frame may ask for when at most `max` bytes
/// may come out: a window larger than the output is never needed, but the
/// decoder allocates whatever a frame header declares (up to 2^27 by
/// default), so a tiny hostile frame could demand 128 MiB. Streaming
/// producers declare the window of their level (2^21 at the Java client's
/// default level 3, at most 2^23 below the "ultra" levels), so at least
/// 2^23 is always allowed.
fn window_log_max(max: usize) -> u32 {
    let needed = usize::BITS - max.saturating_sub(1).leading_zeros();
    needed.clamp(23, 27)
}

pub(super) fn decompress(input: &[u8], max: usize) -> Result<Bytes, DecodeError> {
    let mut dec = zstd::stream::read::Decoder::with_buffer(input)
        .map_err(|e| DecodeError::Compression(format!("zstd: {e}")))?;
    dec.window_log_max(window_log_max(max)).map_err(|e| DecodeError::Compression(format!("zstd: {e}")))?;
    super::read_bounded(dec, max, "zstd")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A frame whose header declares a 2^`log` window, with a little content.
    fn frame_with_window(log: u32) -> Vec<u8> {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.window_log(log).unwrap();
        enc.write_all(b"hello, kafka").unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn a_window_larger_than_the_output_limit_needs_is_refused() {
        // 32 MiB window, at most 1 MiB out: refused before allocating.
        assert!(decompress(&frame_with_window(25), 1 << 20).is_err());
        // The same frame with a 64 MiB limit (the client's default): fine.
        assert_eq!(&decompress(&frame_with_window(25), 64 << 20).unwrap()[..], b"hello, kafka");
        // Windows of the usual levels are always accepted.
        assert_eq!(&decompress(&frame_with_window(23), 1 << 10).unwrap()[..], b"hello, kafka");
    }

    #[test]
    fn window_bounds() {
        assert_eq!(window_log_max(1 << 20), 23);
        assert_eq!(window_log_max(64 << 20), 26);
        assert_eq!(window_log_max((64 << 20) + 1), 27);
        assert_eq!(window_log_max(usize::MAX), 27);
        assert_eq!(window_log_max(0), 23);
    }
}
