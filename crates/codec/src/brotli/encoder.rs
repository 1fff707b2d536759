//! Brotli compression: one-shot into a caller buffer, and push-style streaming.

use brotlic::encode::{BrotliEncoder as Instance, BrotliEncoderOptions, BrotliOperation};
use brotlic::{Quality, WindowSize};

use super::stored::{stored_len, write_stored};
use crate::output::check_capacity;
use crate::CodecError;

fn encoder_error() -> CodecError {
    CodecError::InvalidArgument("brotli encoder failed".to_owned())
}

fn new_instance(
    quality: i32,
    window_log: u32,
    size_hint: Option<usize>,
) -> Result<Instance, CodecError> {
    let quality = u8::try_from(quality)
        .ok()
        .and_then(|q| Quality::new(q).ok())
        .ok_or_else(encoder_error)?;
    let window = u8::try_from(window_log)
        .ok()
        .and_then(|w| WindowSize::new(w).ok())
        .ok_or_else(encoder_error)?;
    let mut options = BrotliEncoderOptions::new();
    options.quality(quality).window_size(window);
    if let Some(hint) = size_hint {
        options.size_hint(u32::try_from(hint).unwrap_or(u32::MAX));
    }
    options.build().map_err(|_| encoder_error())
}

/// Worst-case compressed size of `len` bytes (the library's bound, valid at every
/// quality here: below quality 2 the one-shot call falls back to stored blocks, which fit it).
pub(crate) fn compress_bound(len: usize) -> usize {
    brotlic::compress_bound(len, Quality::best()).unwrap_or(0)
}

/// Compresses `input` as one stream into `out` (at least [`compress_bound`] bytes).
pub(crate) fn compress_into(
    input: &[u8],
    out: &mut [u8],
    quality: i32,
    window_log: u32,
) -> Result<usize, CodecError> {
    let bound = compress_bound(input.len());
    if bound == 0 {
        return Err(CodecError::InvalidArgument(format!(
            "brotli input of {} bytes is too large",
            input.len()
        )));
    }
    check_capacity(out.len(), bound)?;
    let mut instance = new_instance(quality, window_log, Some(input.len()))?;
    let result = instance
        .compress(input, out, BrotliOperation::Finish)
        .map_err(|_| encoder_error())?;
    if result.bytes_read == input.len() && instance.is_finished() {
        return Ok(result.bytes_written);
    }
    check_capacity(out.len(), stored_len(input.len()))?;
    Ok(write_stored(input, out))
}

/// Push-style brotli compressor producing one stream.
pub(crate) struct BrotliEncoder {
    instance: Instance,
}

impl BrotliEncoder {
    /// A compressor at `quality` and `window_log` (validated by the caller).
    pub(crate) fn new(quality: i32, window_log: u32) -> Result<Self, CodecError> {
        Ok(BrotliEncoder {
            instance: new_instance(quality, window_log, None)?,
        })
    }

    /// Runs `op` until the input is taken and the encoder holds no more output (and,
    /// for finish, the stream is complete). The encoder works in its own buffer, from
    /// which output is copied: no room is set aside for calls that produce nothing.
    fn run(
        &mut self,
        op: BrotliOperation,
        mut input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        loop {
            let taken = self
                .instance
                .give_input(input, op)
                .map_err(|_| encoder_error())?;
            input = &input[taken..];
            let before = out.len();
            // SAFETY: each slice is copied out before the next call to the encoder, which
            // is all `take_output` requires.
            while let Some(pending) = unsafe { self.instance.take_output() } {
                out.extend_from_slice(pending);
            }
            let complete = match op {
                BrotliOperation::Finish => self.instance.is_finished(),
                _ => true,
            };
            if input.is_empty() && complete {
                return Ok(());
            }
            if taken == 0 && out.len() == before {
                return Err(encoder_error());
            }
        }
    }

    /// Compresses `input`, appending whatever output is ready.
    pub(crate) fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.run(BrotliOperation::Process, input, out)
    }

    /// Emits everything written so far.
    pub(crate) fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.run(BrotliOperation::Flush, &[], out)
    }

    /// Ends the stream.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.run(BrotliOperation::Finish, &[], out)
    }
}
