//! Streaming zstd for Node streams: one context per stream, frames without a declared
//! size (the encoder cannot know it), each flush ending a block so the peer can
//! decode everything written so far.

use zstd::zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd::zstd_safe::{self, CCtx, DCtx, InBuffer, OutBuffer};

use super::{configure, encoder_error, prepare_dctx, window_log_max, StreamState};
use crate::output::{window_for, Budget};
use crate::CodecError;

fn context_error() -> CodecError {
    CodecError::InvalidArgument("zstd could not allocate a context".to_owned())
}

/// Push-style zstd compressor producing one frame.
pub(crate) struct ZstdEncoder {
    cctx: CCtx<'static>,
}

impl ZstdEncoder {
    /// A compressor at `level` (validated by the caller) and optional window.
    pub(crate) fn new(level: i32, window_log: Option<u32>) -> Result<Self, CodecError> {
        let mut cctx = CCtx::try_create().ok_or_else(context_error)?;
        configure(&mut cctx, level, window_log)?;
        Ok(ZstdEncoder { cctx })
    }

    /// Runs the compressor over `input` with `directive` until it has taken all the
    /// input and, for flush and end, emitted everything.
    fn run(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        directive: ZSTD_EndDirective,
    ) -> Result<(), CodecError> {
        let mut src = InBuffer::around(input);
        loop {
            out.reserve(window_for(
                input.len() - src.pos(),
                zstd_safe::CCtx::out_size(),
            ));
            let mut dst = OutBuffer::around_pos(out, out.len());
            let pending = self
                .cctx
                .compress_stream2(&mut dst, &mut src, directive)
                .map_err(encoder_error)?;
            let taken = src.pos() == input.len();
            let done = match directive {
                ZSTD_EndDirective::ZSTD_e_continue => taken,
                _ => taken && pending == 0,
            };
            if done {
                return Ok(());
            }
        }
    }

    /// Compresses `input`, appending whatever output is ready.
    pub(crate) fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.run(input, out, ZSTD_EndDirective::ZSTD_e_continue)
    }

    /// Emits everything written so far.
    pub(crate) fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.run(&[], out, ZSTD_EndDirective::ZSTD_e_flush)
    }

    /// Ends the frame (with its checksum).
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.run(&[], out, ZSTD_EndDirective::ZSTD_e_end)
    }
}

/// Push-style zstd decompressor of any number of frames, bounded by its budget.
pub(crate) struct ZstdDecoder {
    dctx: DCtx<'static>,
    state: StreamState,
}

impl ZstdDecoder {
    /// A decoder that refuses to produce more than `max_output` bytes in total.
    pub(crate) fn new(max_output: usize) -> Result<Self, CodecError> {
        let mut dctx = DCtx::try_create().ok_or_else(context_error)?;
        prepare_dctx(&mut dctx, max_output, window_log_max(max_output))?;
        Ok(ZstdDecoder {
            dctx,
            state: StreamState::new(Budget::new(max_output)),
        })
    }

    /// Decodes `input`, appending the output it yields.
    pub(crate) fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.state.decode(&mut self.dctx, input, out)
    }

    /// Checks that the input ended on a frame boundary.
    pub(crate) fn finish(&self) -> Result<(), CodecError> {
        self.state.finish()
    }
}
