//! Brotli compression: one-shot into a caller buffer, and push-style streaming.

use brotli::enc::encode::{
    BrotliEncoderMaxCompressedSize, BrotliEncoderOperation, BrotliEncoderParameter,
    BrotliEncoderStateStruct,
};
use brotli::enc::StandardAlloc;
use brotli::interface::{PredictionModeContextMap, StaticCommand};
use brotli::{InputPair, InputReferenceMut};

use super::stored::{stored_len, write_stored};
use crate::output::check_capacity;
use crate::CodecError;

type State = BrotliEncoderStateStruct<StandardAlloc>;

fn encoder_error() -> CodecError {
    CodecError::InvalidArgument("brotli encoder failed".to_owned())
}

fn new_state(quality: i32, window_log: u32, size_hint: Option<usize>) -> Result<State, CodecError> {
    let mut state = State::new(StandardAlloc::default());
    let mut set = |param, value: u32| {
        if state.set_parameter(param, value) {
            Ok(())
        } else {
            Err(encoder_error())
        }
    };
    set(
        BrotliEncoderParameter::BROTLI_PARAM_QUALITY,
        quality.unsigned_abs(),
    )?;
    set(BrotliEncoderParameter::BROTLI_PARAM_LGWIN, window_log)?;
    if let Some(hint) = size_hint {
        set(
            BrotliEncoderParameter::BROTLI_PARAM_SIZE_HINT,
            u32::try_from(hint).unwrap_or(u32::MAX),
        )?;
    }
    Ok(state)
}

/// One call of the encoder: returns the input bytes taken and output bytes written.
fn step(
    state: &mut State,
    op: BrotliEncoderOperation,
    input: &[u8],
    dst: &mut [u8],
) -> Result<(usize, usize), CodecError> {
    let (mut available_in, mut in_offset) = (input.len(), 0);
    let (mut available_out, mut out_offset) = (dst.len(), 0);
    let mut total_out = None;
    let mut no_callback = |_: &mut PredictionModeContextMap<InputReferenceMut>,
                           _: &mut [StaticCommand],
                           _: InputPair,
                           _: &mut StandardAlloc| ();
    let ok = state.compress_stream(
        op,
        &mut available_in,
        input,
        &mut in_offset,
        &mut available_out,
        dst,
        &mut out_offset,
        &mut total_out,
        &mut no_callback,
    );
    if ok {
        Ok((in_offset, out_offset))
    } else {
        Err(encoder_error())
    }
}

/// Worst-case compressed size of `len` bytes (the library's bound).
pub(crate) fn compress_bound(len: usize) -> usize {
    BrotliEncoderMaxCompressedSize(len)
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
    let mut state = new_state(quality, window_log, Some(input.len()))?;
    let (taken, written) = step(
        &mut state,
        BrotliEncoderOperation::BROTLI_OPERATION_FINISH,
        input,
        out,
    )?;
    if taken == input.len() && state.is_finished() {
        return Ok(written);
    }
    check_capacity(out.len(), stored_len(input.len()))?;
    Ok(write_stored(input, out))
}

/// Push-style brotli compressor producing one stream.
pub(crate) struct BrotliEncoder {
    state: State,
}

impl BrotliEncoder {
    /// A compressor at `quality` and `window_log` (validated by the caller).
    pub(crate) fn new(quality: i32, window_log: u32) -> Result<Self, CodecError> {
        Ok(BrotliEncoder {
            state: new_state(quality, window_log, None)?,
        })
    }

    /// Runs `op` until the input is taken and the encoder holds no more output (and,
    /// for finish, the stream is complete). The encoder works in its own buffer, from
    /// which output is copied: no room is set aside for calls that produce nothing.
    fn run(
        &mut self,
        op: BrotliEncoderOperation,
        mut input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        loop {
            let (taken, _) = step(&mut self.state, op, input, &mut [])?;
            input = &input[taken..];
            let before = out.len();
            while self.state.has_more_output() {
                let mut size = 0;
                let pending = self.state.take_output(&mut size);
                out.extend_from_slice(pending.get(..size).unwrap_or(pending));
            }
            let complete = match op {
                BrotliEncoderOperation::BROTLI_OPERATION_FINISH => self.state.is_finished(),
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
        self.run(BrotliEncoderOperation::BROTLI_OPERATION_PROCESS, input, out)
    }

    /// Emits everything written so far.
    pub(crate) fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.run(BrotliEncoderOperation::BROTLI_OPERATION_FLUSH, &[], out)
    }

    /// Ends the stream.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.run(BrotliEncoderOperation::BROTLI_OPERATION_FINISH, &[], out)
    }
}
