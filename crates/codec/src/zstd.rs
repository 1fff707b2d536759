//! Zstandard (RFC 8878) through the reference C library.
//!
//! Contexts are cached per thread: creating a zstd context costs far more than
//! compressing a small payload, so one-shot helpers that allocate one per call
//! lose to us exactly where per-call overhead matters.

use std::cell::RefCell;
use std::io::Read;
use std::ops::RangeInclusive;

use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, InBuffer, OutBuffer, ResetDirective};

use crate::CodecError;

/// Level used when the caller passes none (zstd's own default).
pub const DEFAULT_LEVEL: i32 = 3;

thread_local! {
    static CCTX: RefCell<CCtx<'static>> = RefCell::new(checksumming_context());
    static DCTX: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

/// Frames carry a content checksum, as zstd(1) writes them: four bytes buy detection
/// of corruption that would otherwise decode to wrong data silently.
fn checksumming_context() -> CCtx<'static> {
    let mut cctx = CCtx::create();
    // Setting a boolean flag on a fresh context cannot fail.
    let _ = cctx.set_parameter(CParameter::ChecksumFlag(true));
    cctx
}

fn compress_with<C: zstd_safe::WriteBuf + ?Sized>(
    out: &mut C,
    input: &[u8],
    level: i32,
) -> Result<usize, CodecError> {
    CCTX.with_borrow_mut(|cctx| {
        cctx.set_parameter(CParameter::CompressionLevel(level))?;
        cctx.compress2(out, input)
    })
    .map_err(|code| CodecError::InvalidArgument(library_error(code)))
}

/// Levels the library accepts: negative levels trade ratio for speed; 0 means the default.
pub fn level_range() -> RangeInclusive<i32> {
    zstd_safe::min_c_level()..=zstd_safe::max_c_level()
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

/// Compresses `input` into one zstd frame that records its content size.
pub fn compress(input: &[u8], level: i32) -> Result<Vec<u8>, CodecError> {
    check_level(level)?;
    let mut out = Vec::with_capacity(compress_bound(input.len()));
    compress_with(&mut out, input, level)?;
    Ok(out)
}

/// Compresses `input` into `out`, which must hold at least [`compress_bound`] bytes.
/// Returns the number of bytes written.
pub fn compress_into(input: &[u8], out: &mut [u8], level: i32) -> Result<usize, CodecError> {
    check_level(level)?;
    let bound = compress_bound(input.len());
    if out.len() < bound {
        return Err(CodecError::InvalidArgument(format!(
            "output buffer must hold at least {bound} bytes, got {}",
            out.len()
        )));
    }
    compress_with(out, input, level)
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

fn check_limit(size: u64, max_output: usize) -> Result<usize, CodecError> {
    match usize::try_from(size) {
        Ok(size) if size <= max_output => Ok(size),
        _ => Err(CodecError::OutputLimit { limit: max_output }),
    }
}

fn decompress_exact(input: &[u8], out: &mut [u8]) -> Result<usize, CodecError> {
    let written = DCTX
        .with_borrow_mut(|dctx| dctx.decompress(&mut *out, input))
        .map_err(|code| CodecError::CorruptInput(library_error(code)))?;
    if written != out.len() {
        return Err(CodecError::CorruptInput(format!(
            "frame declared {} bytes but held {written}",
            out.len()
        )));
    }
    Ok(written)
}

/// Frames written by streaming encoders may omit their size: decode incrementally and
/// stop one byte past the limit, so a bomb costs at most `max_output` bytes.
fn decompress_streaming(input: &[u8], max_output: usize) -> Result<Vec<u8>, CodecError> {
    let decoder = zstd::stream::read::Decoder::with_buffer(input)
        .map_err(|err| CodecError::CorruptInput(err.to_string()))?;
    let mut out = Vec::new();
    let cap = u64::try_from(max_output)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    decoder
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|err| CodecError::CorruptInput(err.to_string()))?;
    if out.len() > max_output {
        return Err(CodecError::OutputLimit { limit: max_output });
    }
    Ok(out)
}

/// Decompresses a sequence of zstd frames, refusing outputs above `max_output` bytes.
pub fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CodecError> {
    match declared_size(input)? {
        Some(size) => {
            let mut out = vec![0u8; check_limit(size, max_output)?];
            decompress_exact(input, &mut out)?;
            Ok(out)
        }
        None => decompress_streaming(input, max_output),
    }
}

/// Decodes frames that omit their size with the thread's cached context, writing into
/// `out`. Returns `Ok(None)` when the output outgrows `out`.
fn decompress_streaming_into(input: &[u8], out: &mut [u8]) -> Result<Option<usize>, CodecError> {
    DCTX.with_borrow_mut(|dctx| {
        let corrupt = |code| CodecError::CorruptInput(library_error(code));
        dctx.reset(ResetDirective::SessionOnly).map_err(corrupt)?;
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
    })
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
    match declared_size(input)? {
        Some(size) => {
            let size = check_limit(size, max_output)?;
            match out.get_mut(..size) {
                Some(dst) => decompress_exact(input, dst).map(Some),
                None => Ok(None),
            }
        }
        None => {
            let window = out.len().min(max_output);
            match decompress_streaming_into(input, &mut out[..window])? {
                Some(n) => Ok(Some(n)),
                None if window == max_output => Err(CodecError::OutputLimit { limit: max_output }),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| b"optlayer zstd sample "[i % 21]).collect()
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
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("encoder");
        encoder.write_all(&vec![7u8; 2 << 20]).expect("write");
        let packed = encoder.finish().expect("finish");
        assert_eq!(declared_size(&packed).expect("size"), None);
        assert_eq!(decompress(&packed, 2 << 20).expect("fits").len(), 2 << 20);
        let err = decompress(&packed, (2 << 20) - 1).expect_err("bomb");
        assert_eq!(err.code(), "ERR_OPTLAYER_OUTPUT_LIMIT");
    }

    #[test]
    fn streamed_frames_decode_into_a_caller_buffer() {
        let input = sample(5000);
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("encoder");
        encoder.write_all(&input).expect("write");
        let packed = encoder.finish().expect("finish");
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
