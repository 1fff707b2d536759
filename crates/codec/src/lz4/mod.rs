//! LZ4 frame format (<https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md>),
//! which the `lz4` command-line tool reads and writes.
//!
//! Frames are written by `lz4_flex::frame` with 64 KiB independent blocks (decoding
//! fastest, lowest memory, and within 4% of linked 4 MiB blocks on JSON), a content
//! checksum as lz4(1) writes by default, and, for one-shot calls, the content size,
//! which lets a decoder refuse a bomb from the header. lz4_flex implements LZ4's fast
//! mode only, so there are no levels.
//!
//! Decoding is ours, on lz4_flex's block decoder: its frame reader pulls from
//! `io::Read`, which a push-style decoder fed by a Node stream cannot offer. See
//! [`decoder`] for what it accepts.

use std::io::Write;

use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};

use crate::output::check_capacity;
use crate::CodecError;

mod decoder;

pub(crate) use decoder::{decompress, decompress_into, Lz4Decoder};

/// Uncompressed size of a block.
const BLOCK: usize = 64 << 10;
/// Magic, FLG, BD, content size, header checksum.
const MAX_HEADER: usize = 4 + 2 + 8 + 1;
/// Block size word.
const BLOCK_HEADER: usize = 4;
/// End mark and content checksum.
const TRAILER: usize = 4 + 4;

fn frame_info(content_size: Option<u64>) -> FrameInfo {
    FrameInfo::new()
        .content_size(content_size)
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent)
        .content_checksum(true)
}

fn encoder_error(err: impl std::fmt::Display) -> CodecError {
    CodecError::InvalidArgument(format!("lz4 encoder failed: {err}"))
}

/// Worst-case frame size for `len` bytes: a block that does not shrink is stored.
pub(crate) fn compress_bound(len: usize) -> usize {
    (len.div_ceil(BLOCK) * BLOCK_HEADER)
        .saturating_add(len)
        .saturating_add(MAX_HEADER + TRAILER)
}

/// Compresses `input` as one frame into `out` (at least [`compress_bound`] bytes).
pub(crate) fn compress_into(input: &[u8], out: &mut [u8]) -> Result<usize, CodecError> {
    check_capacity(out.len(), compress_bound(input.len()))?;
    let capacity = out.len();
    let mut encoder = FrameEncoder::with_frame_info(frame_info(Some(input.len() as u64)), out);
    encoder.write_all(input).map_err(encoder_error)?;
    let rest = encoder.finish().map_err(encoder_error)?;
    Ok(capacity - rest.len())
}

/// Push-style frame compressor.
pub(crate) struct Lz4Encoder {
    inner: FrameEncoder<Vec<u8>>,
}

impl Lz4Encoder {
    pub(crate) fn new() -> Self {
        Lz4Encoder {
            inner: FrameEncoder::with_frame_info(frame_info(None), Vec::new()),
        }
    }

    /// Moves what the frame encoder wrote to `out`.
    fn drain(&mut self, out: &mut Vec<u8>) {
        out.append(self.inner.get_mut());
    }

    /// Compresses `input`, emitting every block it completes.
    pub(crate) fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.inner.write_all(input).map_err(encoder_error)?;
        self.drain(out);
        Ok(())
    }

    /// Emits the buffered partial block.
    pub(crate) fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.inner.flush().map_err(encoder_error)?;
        self.drain(out);
        Ok(())
    }

    /// Ends the frame: end mark and content checksum.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.inner.try_finish().map_err(encoder_error)?;
        self.drain(out);
        Ok(())
    }
}
