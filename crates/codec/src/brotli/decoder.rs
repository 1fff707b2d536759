//! Brotli decompression, push-style and bounded: the decoder's ring buffer is sized by
//! the stream's window (at most 16 MiB in the standard format), and output is
//! produced into windows that never pass the caller's limit.

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};

use crate::output::{window_for, Budget};
use crate::CodecError;

type State = BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>;

/// Output is decoded in windows of this size.
const CHUNK: usize = 64 << 10;

fn new_state() -> State {
    State::new(
        StandardAlloc::default(),
        StandardAlloc::default(),
        StandardAlloc::default(),
    )
}

fn corrupt() -> CodecError {
    CodecError::CorruptInput("not a valid brotli stream".to_owned())
}

fn trailing() -> CodecError {
    CodecError::CorruptInput("data after the end of the brotli stream".to_owned())
}

/// One decoder call: returns the result, input bytes taken and output bytes written.
fn step(state: &mut State, input: &[u8], dst: &mut [u8]) -> (BrotliResult, usize, usize) {
    let (mut available_in, mut in_offset) = (input.len(), 0);
    let (mut available_out, mut out_offset) = (dst.len(), 0);
    let mut total_out = 0;
    let result = BrotliDecompressStream(
        &mut available_in,
        &mut in_offset,
        input,
        &mut available_out,
        &mut out_offset,
        dst,
        &mut total_out,
        state,
    );
    (result, in_offset, out_offset)
}

/// Push-style brotli decompressor, bounded by its budget.
pub(crate) struct BrotliDecoder {
    state: State,
    budget: Budget,
    done: bool,
    seen_input: bool,
}

impl BrotliDecoder {
    /// A decoder that refuses to produce more than `max_output` bytes in total.
    pub(crate) fn new(max_output: usize) -> Self {
        BrotliDecoder {
            state: new_state(),
            budget: Budget::new(max_output),
            done: false,
            seen_input: false,
        }
    }

    /// Decodes `input`, appending the output it yields.
    pub(crate) fn write(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.seen_input |= !input.is_empty();
        let mut want = window_for(input.len(), CHUNK);
        loop {
            if self.done {
                return if input.is_empty() {
                    Ok(())
                } else {
                    Err(trailing())
                };
            }
            let state = &mut self.state;
            let (result, taken, written) = self.budget.fill(out, want, |dst| {
                let (result, taken, written) = step(state, input, dst);
                Ok((written, (result, taken, written)))
            })?;
            input = &input[taken..];
            match result {
                BrotliResult::ResultSuccess => self.done = true,
                BrotliResult::NeedsMoreInput if input.is_empty() => return Ok(()),
                BrotliResult::ResultFailure => return Err(corrupt()),
                _ if taken == 0 && written == 0 => return Err(corrupt()),
                // Out of room: go round again, with more.
                _ => want = want.saturating_mul(2).min(CHUNK),
            }
        }
    }

    /// Checks that the stream ended.
    pub(crate) fn finish(&self) -> Result<(), CodecError> {
        if !self.seen_input {
            return Err(CodecError::CorruptInput(
                "empty input holds no brotli stream".to_owned(),
            ));
        }
        if !self.done {
            return Err(CodecError::CorruptInput(
                "truncated brotli stream".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Decompresses a whole stream, refusing outputs above `max_output` bytes.
pub(crate) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let mut decoder = BrotliDecoder::new(max_output);
    decoder.write(input, &mut out)?;
    decoder.finish()?;
    Ok(out)
}

/// Decompresses straight into `out` when the output fits it.
pub(crate) fn decompress_into(
    input: &[u8],
    out: &mut [u8],
    max_output: usize,
) -> Result<Option<usize>, CodecError> {
    let window = out.len().min(max_output);
    let (result, taken, written) = step(&mut new_state(), input, &mut out[..window]);
    match result {
        BrotliResult::ResultSuccess if taken == input.len() => Ok(Some(written)),
        BrotliResult::ResultSuccess => Err(trailing()),
        BrotliResult::NeedsMoreOutput if window < max_output => Ok(None),
        BrotliResult::NeedsMoreOutput => Err(CodecError::OutputLimit { limit: max_output }),
        BrotliResult::NeedsMoreInput => Err(CodecError::CorruptInput(
            "truncated brotli stream".to_owned(),
        )),
        BrotliResult::ResultFailure => Err(corrupt()),
    }
}
