//! Standard-format compression codecs for optlayer: gzip, zlib-wrapped and raw
//! DEFLATE, snappy (raw and framed), zstd, brotli and LZ4 frames.
//!
//! Every decoder is bounded: the caller states the largest output it accepts and a
//! larger result becomes [`CodecError::OutputLimit`] before the memory is spent.
//! Sizes declared by headers (gzip's ISIZE, snappy's length, zstd's and lz4's content
//! size) refuse a bomb early and size buffers, but are never trusted beyond that:
//! decoding stays capped whatever they say. Corrupt, truncated or empty input is
//! [`CodecError::CorruptInput`], never a panic.
//!
//! The hot path is [`compress_into`] and [`decompress_into`], which work in a caller's
//! buffer and keep per-thread coder state (zstd contexts, libdeflate compressors, the
//! snappy hash table) between calls. For every codec, [`compress_bound`] of 16 KiB is
//! below 32 KiB.
//!
//! | codec | one-shot | streaming |
//! |---|---|---|
//! | gzip, deflate, deflate-raw | libdeflate | zlib-rs (flate2) |
//! | snappy, snappy-framed | `snap` raw blocks, own framing | own framing |
//! | zstd | libzstd | libzstd |
//! | br | `brotli` | `brotli` |
//! | lz4 | `lz4_flex` frames, own decoder | same |
//!
//! This crate knows nothing of Node; `crates/node` converts its results.

mod brotli;
mod codec;
mod deflate;
mod error;
mod lz4;
mod output;
mod snappy;
mod stream;
pub mod zstd;

pub use codec::{Codec, CompressParams};
pub use error::CodecError;
pub use stream::{Decoder, Encoder};

use deflate::Format;

/// Default ceiling on the size of a decompressed output: 64 MiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 << 20;

/// Which module serves a codec: the three DEFLATE wrappers share one.
enum Route {
    Deflate(Format),
    Snappy,
    SnappyFramed,
    Zstd,
    Brotli,
    Lz4,
}

fn route(codec: Codec) -> Route {
    match codec {
        Codec::Gzip => Route::Deflate(Format::Gzip),
        Codec::Deflate => Route::Deflate(Format::Zlib),
        Codec::DeflateRaw => Route::Deflate(Format::Raw),
        Codec::Snappy => Route::Snappy,
        Codec::SnappyFramed => Route::SnappyFramed,
        Codec::Zstd => Route::Zstd,
        Codec::Brotli => Route::Brotli,
        Codec::Lz4 => Route::Lz4,
    }
}

/// Worst-case compressed size of `len` input bytes for `codec`, at any level: the
/// library's own bound where it has one (libdeflate, snappy, zstd, brotli), the
/// format's stored-block overhead otherwise. `compress_into` needs this much room.
/// Raw snappy cannot hold 4 GiB or more: its bound is 0 there.
pub fn compress_bound(codec: Codec, len: usize) -> usize {
    match route(codec) {
        Route::Deflate(format) => deflate::compress_bound(format, len),
        Route::Snappy => snappy::compress_bound(len),
        Route::SnappyFramed => snappy::framed_compress_bound(len),
        Route::Zstd => zstd::compress_bound(len),
        Route::Brotli => brotli::compress_bound(len),
        Route::Lz4 => lz4::compress_bound(len),
    }
}

/// Compresses `input` into a new buffer.
pub fn compress(
    codec: Codec,
    input: &[u8],
    params: &CompressParams,
) -> Result<Vec<u8>, CodecError> {
    if codec == Codec::Zstd {
        // zstd writes straight into spare capacity: no zeroed buffer to trim.
        let level = codec.level(params)?;
        return zstd::compress_with_window(input, level, codec.window_log(params)?);
    }
    output::compress_to_vec(compress_bound(codec, input.len()), |out| {
        compress_into(codec, input, out, params)
    })
}

/// Compresses `input` into `out` and returns the bytes written. Fails with
/// [`CodecError::InvalidArgument`] if `out` is shorter than [`compress_bound`].
pub fn compress_into(
    codec: Codec,
    input: &[u8],
    out: &mut [u8],
    params: &CompressParams,
) -> Result<usize, CodecError> {
    let level = codec.level(params)?;
    let window_log = codec.window_log(params)?;
    output::check_capacity(out.len(), compress_bound(codec, input.len()))?;
    match route(codec) {
        Route::Deflate(format) => deflate::compress_into(format, input, out, level),
        Route::Snappy => snappy::compress_into(input, out),
        Route::SnappyFramed => snappy::framed_compress_into(input, out),
        Route::Zstd => zstd::compress_into_with_window(input, out, level, window_log),
        Route::Brotli => brotli::compress_into(
            input,
            out,
            level,
            window_log.unwrap_or(brotli::DEFAULT_WINDOW_LOG),
        ),
        Route::Lz4 => lz4::compress_into(input, out),
    }
}

/// Decompresses `input` into a new buffer of exactly the output size, refusing
/// outputs above `max_output` bytes.
pub fn decompress(codec: Codec, input: &[u8], max_output: usize) -> Result<Vec<u8>, CodecError> {
    match route(codec) {
        Route::Deflate(format) => deflate::decompress(format, input, max_output),
        Route::Snappy => snappy::decompress(input, max_output),
        Route::SnappyFramed => snappy::framed_decompress(input, max_output),
        Route::Zstd => zstd::decompress(input, max_output),
        Route::Brotli => brotli::decompress(input, max_output),
        Route::Lz4 => lz4::decompress(input, max_output),
    }
}

/// Decompresses into `out` and returns the bytes written, or `Ok(None)` when the
/// output does not fit `out` but is within `max_output` (call [`decompress`] then).
/// Beyond `max_output` it is [`CodecError::OutputLimit`], as for [`decompress`].
pub fn decompress_into(
    codec: Codec,
    input: &[u8],
    out: &mut [u8],
    max_output: usize,
) -> Result<Option<usize>, CodecError> {
    match route(codec) {
        Route::Deflate(format) => deflate::decompress_into(format, input, out, max_output),
        Route::Snappy => snappy::decompress_into(input, out, max_output),
        Route::SnappyFramed => snappy::framed_decompress_into(input, out, max_output),
        Route::Zstd => zstd::decompress_into(input, out, max_output),
        Route::Brotli => brotli::decompress_into(input, out, max_output),
        Route::Lz4 => lz4::decompress_into(input, out, max_output),
    }
}
