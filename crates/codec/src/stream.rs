//! Streaming compression and decompression, for Node `Transform` streams: data is
//! pushed in chunks of any size and output appended as it becomes available.

use crate::brotli::{BrotliDecoder, BrotliEncoder, DEFAULT_WINDOW_LOG};
use crate::deflate::{DeflateDecoder, DeflateEncoder, Format};
use crate::lz4::{Lz4Decoder, Lz4Encoder};
use crate::snappy::{FramedDecoder, FramedEncoder};
use crate::zstd::{ZstdDecoder, ZstdEncoder};
use crate::{Codec, CodecError, CompressParams};

fn not_streamable(codec: Codec) -> CodecError {
    CodecError::InvalidArgument(format!(
        "{codec} cannot be streamed (its header states the total length); use snappy-framed"
    ))
}

/// Where a stream is in its life. Calls after the end, or after an error, are
/// refused rather than producing a damaged stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Finished,
    Failed,
}

impl Phase {
    fn check(self, what: &str) -> Result<(), CodecError> {
        match self {
            Phase::Open => Ok(()),
            Phase::Finished => Err(CodecError::InvalidArgument(format!(
                "the {what} is finished"
            ))),
            Phase::Failed => Err(CodecError::InvalidArgument(format!(
                "the {what} failed earlier and cannot continue"
            ))),
        }
    }

    /// Runs one step, moving to `Failed` if it fails and to `then` if it succeeds.
    fn step(
        &mut self,
        what: &str,
        then: Phase,
        f: impl FnOnce() -> Result<(), CodecError>,
    ) -> Result<(), CodecError> {
        self.check(what)?;
        match f() {
            Ok(()) => {
                *self = then;
                Ok(())
            }
            Err(err) => {
                *self = Phase::Failed;
                Err(err)
            }
        }
    }
}

/// The large coder states are boxed, so an `Encoder` stays small to move around.
enum EncoderKind {
    Deflate(DeflateEncoder),
    SnappyFramed(Box<FramedEncoder>),
    Zstd(ZstdEncoder),
    Brotli(Box<BrotliEncoder>),
    Lz4(Lz4Encoder),
}

/// A streaming compressor producing one stream of its codec.
///
/// Output equals what the codec's one-shot decoder (and the reference tool) reads;
/// it is not byte-identical to one-shot compression (streams omit the content size,
/// and deflate levels 10–12 run as 9).
pub struct Encoder {
    kind: EncoderKind,
    phase: Phase,
}

impl Encoder {
    /// A compressor for `codec` with `params` validated as for
    /// [`compress`](crate::compress). Snappy's raw format is refused.
    pub fn new(codec: Codec, params: &CompressParams) -> Result<Self, CodecError> {
        let level = codec.level(params)?;
        let window_log = codec.window_log(params)?;
        let kind = match codec {
            Codec::Gzip => EncoderKind::Deflate(DeflateEncoder::new(Format::Gzip, level)),
            Codec::Deflate => EncoderKind::Deflate(DeflateEncoder::new(Format::Zlib, level)),
            Codec::DeflateRaw => EncoderKind::Deflate(DeflateEncoder::new(Format::Raw, level)),
            Codec::Snappy => return Err(not_streamable(codec)),
            Codec::SnappyFramed => EncoderKind::SnappyFramed(Box::new(FramedEncoder::new())),
            Codec::Zstd => EncoderKind::Zstd(ZstdEncoder::new(level, window_log)?),
            Codec::Brotli => EncoderKind::Brotli(Box::new(BrotliEncoder::new(
                level,
                window_log.unwrap_or(DEFAULT_WINDOW_LOG),
            )?)),
            Codec::Lz4 => EncoderKind::Lz4(Lz4Encoder::new()),
        };
        Ok(Encoder {
            kind,
            phase: Phase::Open,
        })
    }

    /// Compresses `input`, appending to `out` whatever output is ready (possibly
    /// nothing: encoders buffer).
    pub fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let kind = &mut self.kind;
        self.phase.step("encoder", Phase::Open, || match kind {
            EncoderKind::Deflate(encoder) => encoder.write(input, out),
            EncoderKind::SnappyFramed(encoder) => encoder.write(input, out),
            EncoderKind::Zstd(encoder) => encoder.write(input, out),
            EncoderKind::Brotli(encoder) => encoder.write(input, out),
            EncoderKind::Lz4(encoder) => encoder.write(input, out),
        })
    }

    /// Appends everything written so far in a form the peer can decode now (a sync
    /// flush, a finished block or chunk). Flushing often costs ratio.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let kind = &mut self.kind;
        self.phase.step("encoder", Phase::Open, || match kind {
            EncoderKind::Deflate(encoder) => encoder.flush(out),
            EncoderKind::SnappyFramed(encoder) => encoder.flush(out),
            EncoderKind::Zstd(encoder) => encoder.flush(out),
            EncoderKind::Brotli(encoder) => encoder.flush(out),
            EncoderKind::Lz4(encoder) => encoder.flush(out),
        })
    }

    /// Ends the stream, appending its remaining output and trailer. The encoder
    /// accepts no calls afterwards.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let kind = &mut self.kind;
        self.phase.step("encoder", Phase::Finished, || match kind {
            EncoderKind::Deflate(encoder) => encoder.finish(out),
            EncoderKind::SnappyFramed(encoder) => encoder.finish(out),
            EncoderKind::Zstd(encoder) => encoder.finish(out),
            EncoderKind::Brotli(encoder) => encoder.finish(out),
            EncoderKind::Lz4(encoder) => encoder.finish(out),
        })
    }
}

/// Boxed like [`EncoderKind`].
enum DecoderKind {
    Deflate(DeflateDecoder),
    SnappyFramed(FramedDecoder),
    Zstd(ZstdDecoder),
    Brotli(Box<BrotliDecoder>),
    Lz4(Box<Lz4Decoder>),
}

/// A streaming decompressor, bounded like every decoder of this crate: the total
/// output may not exceed `max_output`.
///
/// Accepts what the one-shot decoder accepts (concatenated gzip members, zstd and
/// lz4 frames), split into chunks at any byte. After an error, `out` may hold output
/// of the failing call that precedes the error.
pub struct Decoder {
    kind: DecoderKind,
    phase: Phase,
}

impl Decoder {
    /// A decompressor for `codec` that fails with [`CodecError::OutputLimit`] once its
    /// total output would exceed `max_output` bytes. Snappy's raw format is refused.
    pub fn new(codec: Codec, max_output: usize) -> Result<Self, CodecError> {
        let kind = match codec {
            Codec::Gzip => DecoderKind::Deflate(DeflateDecoder::new(Format::Gzip, max_output)),
            Codec::Deflate => DecoderKind::Deflate(DeflateDecoder::new(Format::Zlib, max_output)),
            Codec::DeflateRaw => DecoderKind::Deflate(DeflateDecoder::new(Format::Raw, max_output)),
            Codec::Snappy => return Err(not_streamable(codec)),
            Codec::SnappyFramed => DecoderKind::SnappyFramed(FramedDecoder::new(max_output)),
            Codec::Zstd => DecoderKind::Zstd(ZstdDecoder::new(max_output)?),
            Codec::Brotli => DecoderKind::Brotli(Box::new(BrotliDecoder::new(max_output))),
            Codec::Lz4 => DecoderKind::Lz4(Box::new(Lz4Decoder::new(max_output))),
        };
        Ok(Decoder {
            kind,
            phase: Phase::Open,
        })
    }

    /// Decodes `input`, appending the output it yields to `out`. Fails with
    /// [`CodecError::OutputLimit`] once the total output exceeds the limit, and with
    /// [`CodecError::CorruptInput`] on invalid data.
    pub fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let kind = &mut self.kind;
        self.phase.step("decoder", Phase::Open, || match kind {
            DecoderKind::Deflate(decoder) => decoder.write(input, out),
            DecoderKind::SnappyFramed(decoder) => decoder.write(input, out),
            DecoderKind::Zstd(decoder) => decoder.write(input, out),
            DecoderKind::Brotli(decoder) => decoder.write(input, out),
            DecoderKind::Lz4(decoder) => decoder.write(input, out),
        })
    }

    /// Ends decoding: [`CodecError::CorruptInput`] if the input was empty or stopped
    /// inside a stream. Decoders produce all output in `write`, so `out` is
    /// untouched; it is taken for symmetry with [`Encoder::finish`].
    pub fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), CodecError> {
        let kind = &self.kind;
        self.phase.step("decoder", Phase::Finished, || match kind {
            DecoderKind::Deflate(decoder) => decoder.finish(),
            DecoderKind::SnappyFramed(decoder) => decoder.finish(),
            DecoderKind::Zstd(decoder) => decoder.finish(),
            DecoderKind::Brotli(decoder) => decoder.finish(),
            DecoderKind::Lz4(decoder) => decoder.finish(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn streams_can_move_to_the_thread_pool() {
        assert_send::<Encoder>();
        assert_send::<Decoder>();
    }

    #[test]
    fn calls_after_finish_or_failure_are_refused() {
        let mut encoder = Encoder::new(Codec::Gzip, &CompressParams::default()).expect("new");
        let mut out = Vec::new();
        encoder.finish(&mut out).expect("finish");
        let err = encoder.write(b"late", &mut out).expect_err("finished");
        assert_eq!(err.to_string(), "invalid argument: the encoder is finished");

        let mut decoder = Decoder::new(Codec::Gzip, 100).expect("new");
        decoder.write(b"not gzip", &mut out).expect_err("corrupt");
        let err = decoder.finish(&mut out).expect_err("failed");
        assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    }

    #[test]
    fn raw_snappy_is_not_streamable() {
        assert!(Encoder::new(Codec::Snappy, &CompressParams::default()).is_err());
        assert!(Decoder::new(Codec::Snappy, 1).is_err());
    }
}
