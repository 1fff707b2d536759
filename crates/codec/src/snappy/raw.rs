//! The raw block format: a varint length, then literals and copies.

use snap::raw::{decompress_len, max_compress_len, Decoder};

use super::{corrupt, encoder_error, with_encoder};
use crate::output::Budget;
use crate::CodecError;

/// A copy of up to 64 bytes costs at least 3 input bytes, so no valid block decodes
/// to more than this many times its own length.
const MAX_RATIO: usize = 22;

/// Worst-case compressed size of `len` bytes; 0 when `len` is beyond the format.
pub(crate) fn compress_bound(len: usize) -> usize {
    max_compress_len(len)
}

/// Compresses `input` into `out`, which holds at least [`compress_bound`] bytes.
pub(crate) fn compress_into(input: &[u8], out: &mut [u8]) -> Result<usize, CodecError> {
    if max_compress_len(input.len()) == 0 {
        return Err(CodecError::InvalidArgument(format!(
            "snappy input must be below 4 GiB, got {} bytes",
            input.len()
        )));
    }
    with_encoder(|encoder| encoder.compress(input, out)).map_err(encoder_error)
}

/// The length the block declares, refused when beyond `max_output` or beyond what
/// the block could possibly hold.
fn checked_len(input: &[u8], max_output: usize) -> Result<usize, CodecError> {
    let len = decompress_len(input).map_err(corrupt)?;
    Budget::new(max_output).check_declared(len as u64)?;
    if len > input.len().saturating_mul(MAX_RATIO) {
        return Err(CodecError::CorruptInput(format!(
            "snappy block declares {len} bytes, more than {} input bytes can hold",
            input.len()
        )));
    }
    Ok(len)
}

/// Decompresses one block, refusing outputs above `max_output` bytes.
pub(crate) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![0u8; checked_len(input, max_output)?];
    Decoder::new()
        .decompress(input, &mut out)
        .map_err(corrupt)?;
    Ok(out)
}

/// Decompresses into `out` when the declared length fits it.
pub(crate) fn decompress_into(
    input: &[u8],
    out: &mut [u8],
    max_output: usize,
) -> Result<Option<usize>, CodecError> {
    let len = checked_len(input, max_output)?;
    match out.get_mut(..len) {
        Some(dst) => Decoder::new()
            .decompress(input, dst)
            .map(Some)
            .map_err(corrupt),
        None => Ok(None),
    }
}
