//! Streaming round trips with odd chunk sizes; streamed output is standard (the
//! one-shot decoder reads it) and one-shot output streams back.

mod common;

use common::{data, Shape};
use optlayer_codec::{compress, decompress, Codec, CompressParams, Decoder, Encoder};

const STREAMABLE: [Codec; 7] = [
    Codec::Gzip,
    Codec::Deflate,
    Codec::DeflateRaw,
    Codec::SnappyFramed,
    Codec::Zstd,
    Codec::Brotli,
    Codec::Lz4,
];

fn encode_in_chunks(codec: Codec, input: &[u8], chunk: usize, params: &CompressParams) -> Vec<u8> {
    let mut encoder = Encoder::new(codec, params).expect("encoder");
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        encoder.write(piece, &mut out).expect("write");
    }
    encoder.finish(&mut out).expect("finish");
    out
}

fn decode_in_chunks(codec: Codec, packed: &[u8], chunk: usize, limit: usize) -> Vec<u8> {
    let mut decoder = Decoder::new(codec, limit).expect("decoder");
    let mut out = Vec::new();
    for piece in packed.chunks(chunk.max(1)) {
        // A fresh buffer per call, as a Node transform hands each chunk on.
        let mut produced = Vec::new();
        decoder.write(piece, &mut produced).expect("write");
        out.extend_from_slice(&produced);
    }
    decoder.finish(&mut out).expect("finish");
    out
}

#[test]
fn streams_round_trip_with_odd_chunk_sizes() {
    let input = data(Shape::Json, 100 << 10);
    for codec in STREAMABLE {
        for chunk in [1, 7, 64 << 10] {
            // One-byte writes are slow in a debug build: keep them to a smaller input.
            let input = if chunk == 1 {
                &input[..8 << 10]
            } else {
                &input[..]
            };
            let packed = encode_in_chunks(codec, input, chunk, &CompressParams::default());
            assert_eq!(
                decode_in_chunks(codec, &packed, chunk, input.len()),
                input,
                "{codec} chunk {chunk}"
            );
            assert_eq!(
                decompress(codec, &packed, input.len()).expect("one-shot decodes streamed"),
                input,
                "{codec} chunk {chunk}"
            );
        }
    }
}

#[test]
fn one_shot_output_decodes_as_a_stream() {
    for codec in STREAMABLE {
        for shape in [Shape::Text, Shape::Random, Shape::Zeros] {
            let input = data(shape, 300 << 10);
            let packed = compress(codec, &input, &CompressParams::default()).expect("compress");
            for chunk in [7, 4096, 64 << 10] {
                assert_eq!(
                    decode_in_chunks(codec, &packed, chunk, input.len()),
                    input,
                    "{codec} {shape:?} chunk {chunk}"
                );
            }
        }
    }
}

#[test]
fn empty_streams_are_valid_streams() {
    for codec in STREAMABLE {
        let packed = encode_in_chunks(codec, &[], 1, &CompressParams::default());
        assert!(!packed.is_empty(), "{codec}");
        assert_eq!(
            decompress(codec, &packed, 0).expect("empty"),
            b"",
            "{codec}"
        );
        assert_eq!(decode_in_chunks(codec, &packed, 1, 0), b"", "{codec}");
    }
}

#[test]
fn flush_makes_everything_written_so_far_decodable() {
    for codec in STREAMABLE {
        let mut encoder = Encoder::new(codec, &CompressParams::default()).expect("encoder");
        let mut decoder = Decoder::new(codec, 1 << 20).expect("decoder");
        let mut decoded = Vec::new();
        let mut expected = Vec::new();
        for round in 0..5 {
            let message = data(Shape::Text, 1000 + round * 17);
            let mut packed = Vec::new();
            encoder.write(&message, &mut packed).expect("write");
            encoder.flush(&mut packed).expect("flush");
            decoder.write(&packed, &mut decoded).expect("decode");
            expected.extend_from_slice(&message);
            assert_eq!(decoded, expected, "{codec} round {round}");
        }
        let mut tail = Vec::new();
        encoder.finish(&mut tail).expect("finish");
        decoder.write(&tail, &mut decoded).expect("tail");
        decoder.finish(&mut decoded).expect("end");
        assert_eq!(decoded, expected, "{codec}");
    }
}

#[test]
fn stream_levels_and_windows_apply() {
    let input = data(Shape::Json, 50 << 10);
    for codec in STREAMABLE {
        for level in common::levels(codec) {
            let packed = encode_in_chunks(codec, &input, 10_000, &common::params(level));
            assert_eq!(
                decompress(codec, &packed, input.len()).expect("decode"),
                input,
                "{codec} {level}"
            );
        }
    }
    for codec in [Codec::Zstd, Codec::Brotli] {
        let params = CompressParams {
            level: None,
            window_log: Some(16),
        };
        let packed = encode_in_chunks(codec, &input, 10_000, &params);
        assert_eq!(
            decompress(codec, &packed, input.len()).expect("decode"),
            input,
            "{codec}"
        );
    }
}

#[test]
fn stream_decoders_fail_typed_on_truncation_and_emptiness() {
    let input = data(Shape::Text, 20_000);
    for codec in STREAMABLE {
        let packed = compress(codec, &input, &CompressParams::default()).expect("compress");
        let mut decoder = Decoder::new(codec, 1 << 20).expect("decoder");
        let mut out = Vec::new();
        decoder
            .write(&packed[..packed.len() / 2], &mut out)
            .expect("first half is fine");
        let err = common::failure(decoder.finish(&mut out), "truncated");
        assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT", "{codec}");

        let mut decoder = Decoder::new(codec, 1 << 20).expect("decoder");
        let err = common::failure(decoder.finish(&mut out), "empty");
        assert_eq!(err.code(), "ERR_OPTLAYER_CORRUPT_INPUT", "{codec}");
    }
}
