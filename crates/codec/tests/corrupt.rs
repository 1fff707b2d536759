//! Corrupt, truncated, empty and random input: always a typed error (or, where the
//! format cannot tell, a prefix of the data), never a panic.

mod common;

use common::{data, Rng, Shape};
use optlayer_codec::{
    compress, decompress, decompress_into, Codec, CodecError, CompressParams, Decoder,
};

const LIMIT: usize = 1 << 20;

/// Formats whose checksum covers every output byte: a damaged stream that decodes
/// must decode to the original.
fn checksummed(codec: Codec) -> bool {
    !matches!(codec, Codec::DeflateRaw | Codec::Snappy | Codec::Brotli)
}

fn typed(err: &CodecError) -> bool {
    matches!(
        err,
        CodecError::CorruptInput(_) | CodecError::OutputLimit { .. }
    )
}

fn stream_decode(codec: Codec, input: &[u8], chunk: usize) -> Result<Vec<u8>, CodecError> {
    let mut decoder = Decoder::new(codec, LIMIT)?;
    let mut out = Vec::new();
    for piece in input.chunks(chunk) {
        decoder.write(piece, &mut out)?;
    }
    decoder.finish(&mut out)?;
    Ok(out)
}

/// Every way of decoding `input` (streaming in pieces of `chunk` bytes), checked
/// against `original`: errors are typed, and success is allowed only as `allowed` says.
fn check_all_decoders(
    codec: Codec,
    input: &[u8],
    chunk: usize,
    original: &[u8],
    allowed: impl Fn(&[u8]) -> bool,
) {
    let what = |how: &str| format!("{codec} {how}, {} input bytes", input.len());
    match decompress(codec, input, LIMIT) {
        Ok(out) => assert!(allowed(&out), "{}", what("decompress")),
        Err(err) => assert!(typed(&err), "{}: {err:?}", what("decompress")),
    }
    let mut buffer = vec![0u8; original.len() + 64];
    match decompress_into(codec, input, &mut buffer, LIMIT) {
        Ok(Some(n)) => assert!(allowed(&buffer[..n]), "{}", what("decompress_into")),
        Ok(None) => {}
        Err(err) => assert!(typed(&err), "{}: {err:?}", what("decompress_into")),
    }
    if codec.is_streamable() {
        match stream_decode(codec, input, chunk) {
            Ok(out) => assert!(allowed(&out), "{}", what("stream")),
            Err(err) => assert!(typed(&err), "{}: {err:?}", what("stream")),
        }
    }
}

#[test]
fn every_truncation_is_an_error() {
    let original = data(Shape::Text, 1500);
    for codec in Codec::ALL {
        let packed = compress(codec, &original, &CompressParams::default()).expect("compress");
        for cut in 0..packed.len() {
            // The snappy framing has no end marker: a stream cut between chunks is a
            // shorter stream. Everywhere else a cut is an error.
            let allowed = |out: &[u8]| codec == Codec::SnappyFramed && original.starts_with(out);
            check_all_decoders(codec, &packed[..cut], 1 + cut % 7, &original, allowed);
            if codec != Codec::SnappyFramed {
                let err = common::failure(decompress(codec, &packed[..cut], LIMIT), "cut");
                assert_eq!(
                    err.code(),
                    "ERR_OPTLAYER_CORRUPT_INPUT",
                    "{codec} cut at {cut}"
                );
            }
        }
    }
}

#[test]
fn every_flipped_byte_is_caught_or_harmless() {
    let original = data(Shape::Json, 1000);
    for codec in Codec::ALL {
        let packed = compress(codec, &original, &CompressParams::default()).expect("compress");
        for at in 0..packed.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut damaged = packed.clone();
                damaged[at] ^= flip;
                // Without a checksum a flip may decode to other data; with one, only
                // to the original (a flip in an unused header field). Snappy's chunk
                // types are not checksummed: a data chunk turned skippable vanishes.
                let allowed = |out: &[u8]| match codec {
                    Codec::SnappyFramed => original.starts_with(out),
                    _ => !checksummed(codec) || out == original,
                };
                check_all_decoders(codec, &damaged, 1 + at % 13, &original, allowed);
            }
        }
    }
}

#[test]
fn random_bytes_are_errors() {
    let mut rng = Rng::new(99);
    for codec in Codec::ALL {
        for len in [1, 2, 3, 4, 10, 100, 1000, 70_000] {
            for _ in 0..5 {
                let noise: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                check_all_decoders(codec, &noise, 1 + len % 13, &[], |_| !checksummed(codec));
            }
        }
    }
}

#[test]
fn empty_input_is_corrupt_everywhere() {
    for codec in Codec::ALL {
        let err = common::failure(decompress(codec, &[], LIMIT), "empty");
        assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT", "{codec}");
        let err = common::failure(decompress_into(codec, &[], &mut [0u8; 16], LIMIT), "empty");
        assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT", "{codec}");
        if codec.is_streamable() {
            let err = common::failure(stream_decode(codec, &[], 1), "empty");
            assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT", "{codec}");
        }
    }
}

#[test]
fn trailing_garbage_is_corrupt() {
    let original = data(Shape::Text, 3000);
    for codec in Codec::ALL {
        let mut packed = compress(codec, &original, &CompressParams::default()).expect("compress");
        packed.extend_from_slice(b"\x01garbage after the stream");
        check_all_decoders(codec, &packed, 7, &original, |_| false);
    }
}

#[test]
fn a_zero_limit_accepts_only_empty_output() {
    for codec in Codec::ALL {
        let empty = compress(codec, &[], &CompressParams::default()).expect("empty");
        assert_eq!(
            decompress(codec, &empty, 0).expect("nothing"),
            b"",
            "{codec}"
        );
        let one = compress(codec, b"x", &CompressParams::default()).expect("one");
        let err = common::failure(decompress(codec, &one, 0), "over");
        assert_eq!(err, CodecError::OutputLimit { limit: 0 }, "{codec}");
    }
}
