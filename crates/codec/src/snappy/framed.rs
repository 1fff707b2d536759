//! The framing format's chunks, and its encoder: a stream identifier, then each
//! block of at most 64 KiB as a compressed chunk, or as an uncompressed one when
//! compression saves less than an eighth.

use snap::raw::{max_compress_len, Encoder};

use super::{encoder_error, with_encoder};
use crate::output::{check_capacity, Budget};
use crate::CodecError;

/// The stream identifier chunk, which opens every stream.
pub(super) const STREAM_IDENTIFIER: &[u8; 10] = b"\xff\x06\x00\x00sNaPpY";
/// Largest uncompressed block a chunk may carry.
pub(super) const MAX_BLOCK: usize = 1 << 16;
/// Chunk type byte and 24-bit length.
pub(super) const HEADER_LEN: usize = 4;
/// Masked CRC-32C of the uncompressed block, leading the data chunks.
pub(super) const CHECKSUM_LEN: usize = 4;

pub(super) const COMPRESSED: u8 = 0x00;
pub(super) const UNCOMPRESSED: u8 = 0x01;
pub(super) const IDENTIFIER: u8 = 0xff;

/// The checksum the format stores: CRC-32C, rotated and offset so that checksumming
/// data that embeds checksums stays robust.
pub(super) fn masked_crc(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

/// Space one chunk of `block_len` bytes may take while being written.
fn chunk_bound(block_len: usize) -> usize {
    HEADER_LEN + CHECKSUM_LEN + max_compress_len(block_len)
}

/// Worst-case framed size of `len` bytes.
pub(crate) fn compress_bound(len: usize) -> usize {
    let (full, tail) = (len / MAX_BLOCK, len % MAX_BLOCK);
    let tail_bound = if tail == 0 { 0 } else { chunk_bound(tail) };
    (full.saturating_mul(chunk_bound(MAX_BLOCK)))
        .saturating_add(tail_bound)
        .saturating_add(STREAM_IDENTIFIER.len())
}

/// Writes `block` (1 to [`MAX_BLOCK`] bytes) as one chunk at the start of `dst`,
/// which holds at least `chunk_bound(block.len())` bytes.
fn write_chunk(encoder: &mut Encoder, block: &[u8], dst: &mut [u8]) -> Result<usize, CodecError> {
    let crc = masked_crc(block);
    let (head, body) = dst.split_at_mut(HEADER_LEN + CHECKSUM_LEN);
    let packed = encoder.compress(block, body).map_err(encoder_error)?;
    let (kind, len) = if packed < block.len() - block.len() / 8 {
        (COMPRESSED, packed)
    } else {
        body[..block.len()].copy_from_slice(block);
        (UNCOMPRESSED, block.len())
    };
    let chunk_len = u32::try_from(CHECKSUM_LEN + len).map_err(|_| {
        CodecError::InvalidArgument(format!("snappy chunk of {len} bytes is too long"))
    })?;
    head[0] = kind;
    head[1..4].copy_from_slice(&chunk_len.to_le_bytes()[..3]);
    head[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(HEADER_LEN + CHECKSUM_LEN + len)
}

/// Compresses `input` as one framed stream into `out` (at least [`compress_bound`]).
pub(crate) fn compress_into(input: &[u8], out: &mut [u8]) -> Result<usize, CodecError> {
    check_capacity(out.len(), compress_bound(input.len()))?;
    let mut written = STREAM_IDENTIFIER.len();
    out[..written].copy_from_slice(STREAM_IDENTIFIER);
    with_encoder(|encoder| {
        for block in input.chunks(MAX_BLOCK) {
            written += write_chunk(encoder, block, &mut out[written..])?;
        }
        Ok(written)
    })
}

/// Push-style framed encoder: buffers input up to a whole block, so chunks stay full
/// however small the writes are.
#[derive(Debug)]
pub(crate) struct FramedEncoder {
    encoder: Encoder,
    pending: Vec<u8>,
    started: bool,
}

impl FramedEncoder {
    pub(crate) fn new() -> Self {
        FramedEncoder {
            encoder: Encoder::new(),
            pending: Vec::new(),
            started: false,
        }
    }

    /// Opens the stream on first use, so even an empty stream is a valid one.
    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(STREAM_IDENTIFIER);
            self.started = true;
        }
    }

    fn emit(encoder: &mut Encoder, block: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        Budget::new(usize::MAX).fill(out, chunk_bound(block.len()), |dst| {
            write_chunk(encoder, block, dst).map(|written| (written, ()))
        })
    }

    /// Compresses `input`, emitting every block it completes.
    pub(crate) fn write(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.start(out);
        if !self.pending.is_empty() {
            let take = (MAX_BLOCK - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() < MAX_BLOCK {
                return Ok(());
            }
            Self::emit(&mut self.encoder, &self.pending, out)?;
            self.pending.clear();
        }
        let mut blocks = input.chunks_exact(MAX_BLOCK);
        for block in &mut blocks {
            Self::emit(&mut self.encoder, block, out)?;
        }
        self.pending.extend_from_slice(blocks.remainder());
        Ok(())
    }

    /// Emits the buffered partial block as a chunk of its own.
    pub(crate) fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.start(out);
        if !self.pending.is_empty() {
            Self::emit(&mut self.encoder, &self.pending, out)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Ends the stream. The format has no end marker, so this is a flush.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.flush(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASKED_CHECK: u32 = 0xc78a_b0e5;

    #[test]
    fn masked_crc_matches_the_format_description() {
        // CRC-32C("123456789") is 0xe3069283 (RFC 3720); the format description masks
        // it as ((crc >> 15) | (crc << 17)) + 0xa282ead8.
        assert_eq!(masked_crc(b"123456789"), MASKED_CHECK);
    }

    #[test]
    fn incompressible_blocks_are_stored() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..1000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        let mut out = vec![0u8; compress_bound(noise.len())];
        let n = compress_into(&noise, &mut out).expect("compress");
        assert_eq!(out[10], UNCOMPRESSED);
        assert_eq!(n, 10 + 8 + noise.len());
    }
}
