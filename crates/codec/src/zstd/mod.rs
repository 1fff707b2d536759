//! Zstandard (RFC 8878) through the reference C library.
//!
//! Contexts are cached per thread: creating a zstd context costs far more than
//! compressing a small payload, so one-shot helpers that allocate one per call
//! lose to us exactly where per-call overhead matters. Frames carry their content size
//! and a checksum, as zstd(1) writes them.
//!
//! Beyond plain frames: [dictionaries](train_dictionary) for small similar payloads,
//! and [patches](compress_patch) that encode a new version against a reference.
//!
//! Decoding is bounded by the caller's `max_output`, which also bounds the window a
//! streamed frame may demand: a frame never needs a window larger than the output it
//! may produce, so the decoder accepts windows up to the next power of two above
//! `max_output` (never less than zstd's default limit, 128 MiB) and refuses larger
//! ones with [`CodecError::OutputLimit`].

use std::cell::RefCell;
use std::ops::RangeInclusive;

use zstd::zstd_safe::zstd_sys::{self, ZSTD_ErrorCode};
use zstd::zstd_safe::{
    self, CCtx, CParameter, DCtx, DParameter, InBuffer, OutBuffer, ResetDirective,
};

use crate::output::{window_for, Budget};
use crate::CodecError;

mod dict;
mod patch;
mod stream;

pub use dict::{compress_with_dictionary, decompress_with_dictionary, train_dictionary};
pub use patch::{compress_patch, decompress_patch};
pub(crate) use stream::{ZstdDecoder, ZstdEncoder};

/// Level used when the caller passes none (zstd's own default).
pub const DEFAULT_LEVEL: i32 = 3;

/// Output is decoded in windows of this size (zstd's recommended output buffer).
const CHUNK: usize = 128 << 10;

/// The densest zstd block, a 128 KiB run in four bytes, expands by this factor: a
/// declared size beyond `input.len()` times it is no reason to allocate.
const MAX_RATIO: usize = 1 << 15;

thread_local! {
    static CCTX: RefCell<CCtx<'static>> = RefCell::new(CCtx::create());
    static DCTX: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

/// Levels the library accepts: negative levels trade ratio for speed; 0 means the default.
pub fn level_range() -> RangeInclusive<i32> {
    zstd_safe::min_c_level()..=zstd_safe::max_c_level()
}

/// Window logs the library accepts on this platform.
pub(crate) fn window_log_range() -> RangeInclusive<u32> {
    let max = if cfg!(target_pointer_width = "64") {
        zstd_sys::ZSTD_WINDOWLOG_MAX_64
    } else {
        zstd_sys::ZSTD_WINDOWLOG_MAX_32
    };
    zstd_sys::ZSTD_WINDOWLOG_MIN..=max
}

/// Largest possible compressed size of `len` input bytes.
pub fn compress_bound(len: usize) -> usize {
    zstd_safe::compress_bound(len)
}

fn check_level(level: i32) -> Result<(), CodecError> {
    let range = level_range();
    if range.contains(&level) {
        Ok(())
    } else {
        Err(CodecError::InvalidArgument(format!(
            "zstd level must be between {} and {}, got {level}",
            range.start(),
            range.end()
        )))
    }
}

fn library_error(code: usize) -> String {
    zstd_safe::get_error_name(code).to_owned()
}

fn encoder_error(code: usize) -> CodecError {
    CodecError::InvalidArgument(library_error(code))
}

/// Smallest `n` with `2^n >= size`.
fn log2_ceil(size: usize) -> u32 {
    size.max(1)
        .checked_next_power_of_two()
        .map_or(usize::BITS, |power| power.trailing_zeros())
}

/// Largest window a decoder accepts when it may produce `max_output` bytes.
fn window_log_max(max_output: usize) -> u32 {
    log2_ceil(max_output).clamp(
        zstd_sys::ZSTD_WINDOWLOG_LIMIT_DEFAULT,
        *window_log_range().end(),
    )
}

/// A decoding failure: a window beyond the limit is an output-size matter (a larger
/// `max_output` accepts it), anything else is corrupt input.
fn decoder_error(code: usize, max_output: usize) -> CodecError {
    // SAFETY: a pure function of its argument.
    let kind = unsafe { zstd_sys::ZSTD_getErrorCode(code) };
    if kind == ZSTD_ErrorCode::ZSTD_error_frameParameter_windowTooLarge {
        CodecError::OutputLimit { limit: max_output }
    } else {
        CodecError::CorruptInput(library_error(code))
    }
}

/// Runs `f` with this thread's compression context, reset to checksummed frames at
/// `level` with no dictionary left from an earlier call.
fn with_cctx<R>(
    level: i32,
    window_log: Option<u32>,
    f: impl FnOnce(&mut CCtx<'static>) -> Result<R, CodecError>,
) -> Result<R, CodecError> {
    CCTX.with_borrow_mut(|cctx| {
        cctx.reset(ResetDirective::SessionAndParameters)
            .map_err(encoder_error)?;
        configure(cctx, level, window_log)?;
        f(cctx)
    })
}

/// Applies the parameters every frame of ours gets.
fn configure(cctx: &mut CCtx<'_>, level: i32, window_log: Option<u32>) -> Result<(), CodecError> {
    cctx.set_parameter(CParameter::CompressionLevel(level))
        .map_err(encoder_error)?;
    // Four bytes buy detection of corruption that would otherwise decode to wrong data.
    cctx.set_parameter(CParameter::ChecksumFlag(true))
        .map_err(encoder_error)?;
    if let Some(window_log) = window_log {
        cctx.set_parameter(CParameter::WindowLog(window_log))
            .map_err(encoder_error)?;
    }
    Ok(())
}

/// Runs `f` with this thread's decompression context, reset (no dictionary left from
/// an earlier call) and limited to the window `max_output` can justify.
fn with_dctx<R>(
    max_output: usize,
    f: impl FnOnce(&mut DCtx<'static>) -> Result<R, CodecError>,
) -> Result<R, CodecError> {
    DCTX.with_borrow_mut(|dctx| {
        prepare_dctx(dctx, max_output, window_log_max(max_output))?;
        f(dctx)
    })
}

fn prepare_dctx(dctx: &mut DCtx<'_>, max_output: usize, window_log: u32) -> Result<(), CodecError> {
    let fail = |code| decoder_error(code, max_output);
    dctx.reset(ResetDirective::SessionAndParameters)
        .map_err(fail)?;
    dctx.set_parameter(DParameter::WindowLogMax(window_log))
        .map_err(fail)?;
    Ok(())
}

/// Compresses `input` into one zstd frame that records its content size.
pub fn compress(input: &[u8], level: i32) -> Result<Vec<u8>, CodecError> {
    compress_with_window(input, level, None)
}

/// [`compress`] with an explicit window log (see [`crate::CompressParams::window_log`]).
pub(crate) fn compress_with_window(
    input: &[u8],
    level: i32,
    window_log: Option<u32>,
) -> Result<Vec<u8>, CodecError> {
    check_level(level)?;
    let mut out = Vec::with_capacity(compress_bound(input.len()));
    with_cctx(level, window_log, |cctx| {
        cctx.compress2(&mut out, input).map_err(encoder_error)
    })?;
    Ok(out)
}

/// Compresses `input` into `out`, which must hold at least [`compress_bound`] bytes.
/// Returns the number of bytes written.
pub fn compress_into(input: &[u8], out: &mut [u8], level: i32) -> Result<usize, CodecError> {
    compress_into_with_window(input, out, level, None)
}

/// [`compress_into`] with an explicit window log.
pub(crate) fn compress_into_with_window(
    input: &[u8],
    out: &mut [u8],
    level: i32,
    window_log: Option<u32>,
) -> Result<usize, CodecError> {
    check_level(level)?;
    crate::output::check_capacity(out.len(), compress_bound(input.len()))?;
    with_cctx(level, window_log, |cctx| {
        cctx.compress2(out, input).map_err(encoder_error)
    })
}

/// Total decompressed size declared by the frame headers, if every frame declares one.
fn declared_size(input: &[u8]) -> Result<Option<u64>, CodecError> {
    // The library reads zero frames as zero bytes; zstd(1) calls empty input an error.
    if input.is_empty() {
        return Err(CodecError::CorruptInput(
            "empty input holds no zstd frame".to_owned(),
        ));
    }
    zstd_safe::find_decompressed_size(input)
        .map_err(|_| CodecError::CorruptInput("not a sequence of zstd frames".to_owned()))
}

fn decompress_exact(
    dctx: &mut DCtx<'_>,
    input: &[u8],
    out: &mut [u8],
    max_output: usize,
) -> Result<usize, CodecError> {
    let written = dctx
        .decompress(&mut *out, input)
        .map_err(|code| decoder_error(code, max_output))?;
    if written != out.len() {
        return Err(CodecError::CorruptInput(format!(
            "frame declared {} bytes but held {written}",
            out.len()
        )));
    }
    Ok(written)
}

/// Decodes every frame in `input` with a prepared context (plain, dictionary or
/// prefix), refusing outputs above `max_output` bytes.
fn decode_frames(
    dctx: &mut DCtx<'_>,
    input: &[u8],
    max_output: usize,
) -> Result<Vec<u8>, CodecError> {
    let budget = Budget::new(max_output);
    let plausible = input.len().saturating_mul(MAX_RATIO) as u64;
    match declared_size(input)? {
        Some(size) if size <= plausible => {
            budget.check_declared(size)?;
            let mut out = vec![0u8; size as usize];
            decompress_exact(dctx, input, &mut out, max_output)?;
            Ok(out)
        }
        // Frames written by streaming encoders may omit their size (and a size no
        // input this short can hold is a lie): decode incrementally, so a bomb costs
        // at most `max_output` bytes.
        _ => {
            let mut out = Vec::new();
            let mut state = StreamState::new(budget);
            state.decode(dctx, input, &mut out)?;
            state.finish()?;
            Ok(out)
        }
    }
}

/// Progress of incremental decoding: the budget, and whether the input so far ends on
/// a frame boundary.
#[derive(Debug)]
struct StreamState {
    budget: Budget,
    at_frame_end: bool,
    seen_input: bool,
}

impl StreamState {
    fn new(budget: Budget) -> Self {
        StreamState {
            budget,
            at_frame_end: true,
            seen_input: false,
        }
    }

    /// Decodes all of `input`, appending the output.
    fn decode(
        &mut self,
        dctx: &mut DCtx<'_>,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        self.seen_input |= !input.is_empty();
        let mut src = InBuffer::around(input);
        let limit = self.budget.limit();
        let mut want = window_for(input.len(), CHUNK);
        loop {
            let before = src.pos();
            let (hint, produced, window) = self.budget.fill(out, want, |dst| {
                let window = dst.len();
                let mut dst = OutBuffer::around(dst);
                let hint = dctx
                    .decompress_stream(&mut dst, &mut src)
                    .map_err(|code| decoder_error(code, limit))?;
                Ok((dst.pos(), (hint, dst.pos(), window)))
            })?;
            if src.pos() > before || produced > 0 {
                self.at_frame_end = hint == 0;
            }
            // A full window may hide more output; otherwise all input has been taken.
            if produced == window {
                want = want.saturating_mul(2).min(CHUNK);
            } else if src.pos() == input.len() {
                return Ok(());
            }
            if produced == 0 && src.pos() == before {
                return Err(CodecError::CorruptInput("zstd decoder stalled".to_owned()));
            }
        }
    }

    fn finish(&self) -> Result<(), CodecError> {
        if !self.seen_input {
            return Err(CodecError::CorruptInput(
                "empty input holds no zstd frame".to_owned(),
            ));
        }
        if !self.at_frame_end {
            return Err(CodecError::CorruptInput("truncated zstd frame".to_owned()));
        }
        Ok(())
    }
}

/// Decompresses a sequence of zstd frames, refusing outputs above `max_output` bytes.
pub fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CodecError> {
    with_dctx(max_output, |dctx| decode_frames(dctx, input, max_output))
}

/// Decodes frames that omit their size with the thread's cached context, writing into
/// `out`. Returns `Ok(None)` when the output outgrows `out`.
fn decompress_streaming_into(
    dctx: &mut DCtx<'_>,
    input: &[u8],
    out: &mut [u8],
    max_output: usize,
) -> Result<Option<usize>, CodecError> {
    let corrupt = |code| decoder_error(code, max_output);
    let mut src = InBuffer::around(input);
    let mut dst = OutBuffer::around(out);
    loop {
        let before = (src.pos(), dst.pos());
        let hint = dctx
            .decompress_stream(&mut dst, &mut src)
            .map_err(corrupt)?;
        let frame_done = hint == 0;
        if frame_done && src.pos() == input.len() {
            return Ok(Some(dst.pos()));
        }
        // A full output may still let the frame finish (its checksum needs no room), so
        // only a call that moves nothing decides between "outgrew `out`" and "truncated".
        if (src.pos(), dst.pos()) == before {
            return if dst.pos() == dst.capacity() {
                Ok(None)
            } else {
                Err(CodecError::CorruptInput("truncated zstd frame".to_owned()))
            };
        }
    }
}

/// Decompresses into `out` when the whole output fits it (the allocation-free path).
///
/// Returns `Ok(None)` when the output is larger than `out` but within the limit, so the
/// caller can fall back to [`decompress`].
pub fn decompress_into(
    input: &[u8],
    out: &mut [u8],
    max_output: usize,
) -> Result<Option<usize>, CodecError> {
    with_dctx(max_output, |dctx| match declared_size(input)? {
        Some(size) => {
            Budget::new(max_output).check_declared(size)?;
            match out.get_mut(..size as usize) {
                Some(dst) => decompress_exact(dctx, input, dst, max_output).map(Some),
                None => Ok(None),
            }
        }
        None => {
            let window = out.len().min(max_output);
            match decompress_streaming_into(dctx, input, &mut out[..window], max_output)? {
                Some(n) => Ok(Some(n)),
                None if window == max_output => Err(CodecError::OutputLimit { limit: max_output }),
                None => Ok(None),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| b"optlayer zstd sample "[i % 21]).collect()
    }

    fn streamed(input: &[u8]) -> Vec<u8> {
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("encoder");
        encoder.write_all(input).expect("write");
        encoder.finish().expect("finish")
    }

    #[test]
    fn round_trips_every_size_class() {
        for len in [0, 1, 7, 100, 4096, 1 << 20] {
            let input = sample(len);
            let packed = compress(&input, DEFAULT_LEVEL).expect("compress");
            assert_eq!(decompress(&packed, len).expect("decompress"), input);
        }
    }

    #[test]
    fn round_trips_at_the_level_extremes() {
        let input = sample(10_000);
        for level in [*level_range().start(), -1, 0, 1, 19, *level_range().end()] {
            let packed = compress(&input, level).expect("compress");
            assert_eq!(decompress(&packed, input.len()).expect("decompress"), input);
        }
    }

    #[test]
    fn rejects_levels_out_of_range() {
        let err = compress(b"x", level_range().end() + 1).expect_err("level");
        assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    }

    #[test]
    fn compress_into_matches_compress() {
        let input = sample(3000);
        let mut out = vec![0u8; compress_bound(input.len())];
        let n = compress_into(&input, &mut out, 5).expect("compress_into");
        assert_eq!(&out[..n], compress(&input, 5).expect("compress").as_slice());
    }

    #[test]
    fn compress_into_refuses_a_short_buffer() {
        let mut out = [0u8; 4];
        let err = compress_into(&sample(100), &mut out, 3).expect_err("short");
        assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    }

    #[test]
    fn corrupt_and_truncated_input_are_typed_errors() {
        let packed = compress(&sample(5000), 3).expect("compress");
        for bad in [
            &b"not zstd at all"[..],
            &packed[..packed.len() / 2],
            &packed[..3],
            &[][..],
        ] {
            let err = decompress(bad, 1 << 20).expect_err("corrupt");
            assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT", "{bad:?}");
        }
        let mut flipped = packed.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        let err = decompress(&flipped, 1 << 20).expect_err("checksum");
        assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT");
    }

    #[test]
    fn declared_bomb_is_refused_before_allocating() {
        let packed = compress(&vec![0u8; 10 << 20], 3).expect("compress");
        let err = decompress(&packed, 1 << 20).expect_err("bomb");
        assert_eq!(err, CodecError::OutputLimit { limit: 1 << 20 });
    }

    #[test]
    fn streamed_frames_without_size_are_bounded() {
        let packed = streamed(&vec![7u8; 2 << 20]);
        assert_eq!(declared_size(&packed).expect("size"), None);
        assert_eq!(decompress(&packed, 2 << 20).expect("fits").len(), 2 << 20);
        let err = decompress(&packed, (2 << 20) - 1).expect_err("bomb");
        assert_eq!(err.code(), "ERR_OPTLAYER_OUTPUT_LIMIT");
        let err = decompress(&packed[..packed.len() - 1], 4 << 20).expect_err("cut");
        assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT");
    }

    #[test]
    fn streamed_frames_decode_into_a_caller_buffer() {
        let input = sample(5000);
        let packed = streamed(&input);
        let mut out = vec![0u8; 8000];
        assert_eq!(decompress_into(&packed, &mut out, 1 << 20), Ok(Some(5000)));
        assert_eq!(&out[..5000], input.as_slice());
        let mut small = vec![0u8; 4999];
        assert_eq!(decompress_into(&packed, &mut small, 1 << 20), Ok(None));
        assert_eq!(decompress_into(&packed, &mut out, 5000), Ok(Some(5000)));
        let mut exact = vec![0u8; 5000];
        assert_eq!(
            decompress_into(&packed, &mut exact, 1 << 20),
            Ok(Some(5000))
        );
        let err = decompress_into(&packed, &mut out, 4999).expect_err("limit");
        assert_eq!(err.code(), "ERR_OPTLAYER_OUTPUT_LIMIT");
        let err = decompress_into(&packed[..packed.len() - 3], &mut out, 1 << 20).expect_err("cut");
        assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT");
        // The cached context recovers from the failed call above.
        assert_eq!(decompress_into(&packed, &mut out, 1 << 20), Ok(Some(5000)));
    }

    #[test]
    fn concatenated_frames_decode_as_one() {
        let mut packed = compress(b"hello ", 3).expect("a");
        packed.extend(compress(b"world", 3).expect("b"));
        assert_eq!(decompress(&packed, 100).expect("both"), b"hello world");
        packed.extend(streamed(b"!"));
        assert_eq!(decompress(&packed, 100).expect("mixed"), b"hello world!");
    }

    #[test]
    fn decompress_into_reports_when_output_does_not_fit() {
        let input = sample(1000);
        let packed = compress(&input, 3).expect("compress");
        let mut small = [0u8; 10];
        assert_eq!(decompress_into(&packed, &mut small, 1 << 20), Ok(None));
        let mut big = vec![0u8; 2000];
        assert_eq!(decompress_into(&packed, &mut big, 1 << 20), Ok(Some(1000)));
        assert_eq!(&big[..1000], input.as_slice());
        let err = decompress_into(&packed, &mut big, 999).expect_err("limit");
        assert_eq!(err.code(), "ERR_OPTLAYER_OUTPUT_LIMIT");
    }

    #[test]
    fn windows_beyond_what_the_limit_justifies_are_an_output_limit() {
        let input = sample(1 << 20);
        let packed = compress_with_window(&input, 3, Some(28)).expect("compress");
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("encoder");
        encoder.window_log(28).expect("window");
        encoder.write_all(&input).expect("write");
        let streamed = encoder.finish().expect("finish");
        // Content size known: the window needs no buffer, the frame decodes.
        assert_eq!(decompress(&packed, 1 << 20).expect("sized"), input);
        let err = decompress(&streamed, 1 << 20).expect_err("window");
        assert_eq!(err, CodecError::OutputLimit { limit: 1 << 20 });
        assert_eq!(decompress(&streamed, 1 << 28).expect("allowed"), input);
    }

    #[test]
    fn window_limit_follows_the_output_limit() {
        assert_eq!(window_log_max(0), 27);
        assert_eq!(window_log_max(64 << 20), 27);
        assert_eq!(window_log_max((1 << 29) + 1), 30);
        assert_eq!(window_log_max(usize::MAX), *window_log_range().end());
    }

    #[test]
    fn contexts_are_safe_across_threads() {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let input = sample(100 + t * 1000 + i);
                        let packed = compress(&input, (i % 10) as i32).expect("compress");
                        assert_eq!(decompress(&packed, input.len()).expect("dec"), input);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("thread");
        }
    }
}
