//! Snappy. The Java client writes the xerial framing (a 16-byte header,
//! then blocks of int32 length + raw snappy); librdkafka reads and writes
//! both. We write xerial and read either.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};

const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// xerial's default block size (uncompressed bytes per block).
const BLOCK: usize = 32 * 1024;

pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
    let mut w = XerialWriter::new(out);
    for chunk in input.chunks(BLOCK) {
        w.block(chunk)?;
    }
    Ok(())
}

/// Writes the xerial header, then compresses each full 32 KiB block as it fills.
pub struct XerialWriter<'a> {
    out: &'a mut BytesMut,
    pending: Vec<u8>,
    enc: snap::raw::Encoder,
}

impl<'a> XerialWriter<'a> {
    pub(super) fn new(out: &'a mut BytesMut) -> Self {
        out.put_slice(&XERIAL_MAGIC);
        out.put_i32(1); // version
        out.put_i32(1); // minimum compatible version
        XerialWriter { out, pending: Vec::new(), enc: snap::raw::Encoder::new() }
    }

    fn block(&mut self, chunk: &[u8]) -> Result<(), EncodeError> {
        let out = &mut *self.out;
        let len_at = out.len();
        out.put_i32(0);
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(chunk.len()), 0);
        let n = self.enc.compress(chunk, &mut out[start..]).map_err(|e| EncodeError::Compression(e.to_string()))?;
        out.truncate(start + n);
        out[len_at..len_at + 4].copy_from_slice(&(n as i32).to_be_bytes());
        Ok(())
    }

    pub(super) fn write(&mut self, mut data: &[u8]) -> Result<(), EncodeError> {
        while !data.is_empty() {
            if self.pending.is_empty() && data.len() >= BLOCK {
                self.block(&data[..BLOCK])?;
                data = &data[BLOCK..];
                continue;
            }
            let take = (BLOCK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == BLOCK {
                let full = std::mem::take(&mut self.pending);
                self.block(&full)?;
                self.pending = full;
                self.pending.clear();
            }
        }
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<(), EncodeError> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.block(&rest)?;
        }
        Ok(())
    }
}

/// Snappy's best ratio: a three-byte copy element yields at most 64 bytes.
/// A raw block claiming more than this many bytes per input byte is lying.
const MAX_EXPANSION: usize = 22;

fn raw_block(block: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let err = |e: snap::Error| DecodeError::Compression(format!("snappy: {e}"));
    let n = snap::raw::decompress_len(block).map_err(err)?;
    if out.len().saturating_add(n) > max {
        return Err(super::too_large(max));
    }
    // The output buffer is sized from the block's own length claim before
    // anything is decoded; refuse claims the block cannot back, so a few
    // bytes cannot demand the whole limit.
    if n > block.len().saturating_mul(MAX_EXPANSION) {
        return Err(DecodeError::Compression(format!("snappy: a {}-byte block claims {n} bytes", block.len())));
    }
    let start = out.len();
    out.resize(start + n, 0);
    let written = snap::raw::Decoder::new().decompress(block, &mut out[start..]).map_err(err)?;
    out.truncate(start + written);
    Ok(())
}

pub(super) fn decompress(input: &[u8], max: usize) -> Result<Bytes, DecodeError> {
    let mut out = Vec::new();
    if input.len() >= 16 && input[..8] == XERIAL_MAGIC {
        let mut rest = &input[16..];
        while !rest.is_empty() {
            if rest.len() < 4 {
                return Err(DecodeError::Compression("snappy: truncated xerial block length".into()));
            }
            let n = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let n = usize::try_from(n).map_err(|_| DecodeError::Compression("snappy: negative block length".into()))?;
            let block = rest.get(4..4 + n).ok_or_else(|| DecodeError::Compression("snappy: truncated xerial block".into()))?;
            raw_block(block, max, &mut out)?;
            rest = &rest[4 + n..];
        }
    } else {
        raw_block(input, max, &mut out)?;
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_ratio_snappy_reaches_is_accepted() {
        // Zeros compress as long runs of 64-byte copies: the best case.
        let zeros = vec![0u8; 1 << 20];
        let block = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
        assert!(zeros.len() / block.len() > 20, "ratio {}", zeros.len() / block.len());
        assert_eq!(decompress(&block, 1 << 20).unwrap().len(), 1 << 20);
    }

    #[test]
    fn a_block_claiming_more_than_it_can_hold_is_refused() {
        // A length varint of 8 MiB and one literal byte: the output would
        // be allocated (8 MiB, zeroed) before decoding found the lie.
        let mut block = Vec::new();
        let mut n = 8u32 << 20;
        while n >= 0x80 {
            block.push((n as u8) | 0x80);
            n >>= 7;
        }
        block.push(n as u8);
        block.extend_from_slice(&[0, b'x']);
        match decompress(&block, 64 << 20) {
            Err(DecodeError::Compression(m)) => assert!(m.contains("claims"), "{m}"),
            other => panic!("expected the claim to be refused, got {other:?}"),
        }
    }
}
