//! Properties every fuzz target checks, whatever the input: no panic (libFuzzer
//! reports one as a crash), no output beyond the limit, and the decoding paths of a
//! codec agreeing whenever they succeed.

use optlayer_codec::{compress, decompress, decompress_into, Codec, CompressParams, Decoder};

/// A small limit, so bombs are hit quickly.
pub const LIMIT: usize = 64 << 10;

/// Every codec `Decoder` accepts, indexed by the stream target's first byte.
pub const STREAMABLE: [Codec; 7] = [
    Codec::Gzip,
    Codec::Deflate,
    Codec::DeflateRaw,
    Codec::SnappyFramed,
    Codec::Zstd,
    Codec::Brotli,
    Codec::Lz4,
];

/// One-shot decoding of `data`: `decompress` within the limit, `decompress_into`
/// agreeing with it, and what decodes re-encoding to itself.
pub fn one_shot(codec: Codec, data: &[u8]) {
    let decoded = decompress(codec, data, LIMIT);
    if let Ok(out) = &decoded {
        assert!(
            out.len() <= LIMIT,
            "{codec}: {} bytes past the limit",
            out.len()
        );
    }
    let mut buffer = vec![0u8; 4096];
    match decompress_into(codec, data, &mut buffer, LIMIT) {
        Ok(Some(n)) => {
            assert!(n <= buffer.len());
            if let Ok(out) = &decoded {
                assert_eq!(out.as_slice(), &buffer[..n], "{codec}: into disagrees");
            }
        }
        Ok(None) => {
            if let Ok(out) = &decoded {
                assert!(out.len() > buffer.len(), "{codec}: fitting output refused");
            }
        }
        Err(_) => {}
    }
    if let Ok(out) = decoded {
        if out.len() <= 4096 {
            let packed = compress(codec, &out, &CompressParams::default()).expect("re-encode");
            let again = decompress(codec, &packed, out.len()).expect("decode our own");
            assert_eq!(again, out, "{codec}: round trip of decoded data");
        }
    }
}

/// Streaming decoding: the first byte picks the codec, the second seeds how the rest
/// is cut into chunks. Output never passes the limit, and a stream that decodes
/// agrees with the one-shot decoder when that succeeds too.
pub fn streaming(data: &[u8]) {
    let [pick, seed, rest @ ..] = data else {
        return;
    };
    let codec = STREAMABLE[usize::from(*pick) % STREAMABLE.len()];
    let Ok(mut decoder) = Decoder::new(codec, LIMIT) else {
        panic!("{codec}: decoder refused");
    };
    let mut out = Vec::new();
    let mut state = u32::from(*seed) | 1;
    let mut input = rest;
    let mut result = Ok(());
    while !input.is_empty() && result.is_ok() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let take = (state as usize % 97 + 1).min(input.len());
        result = decoder.write(&input[..take], &mut out);
        assert!(
            out.len() <= LIMIT,
            "{codec}: {} bytes past the limit",
            out.len()
        );
        input = &input[take..];
    }
    if result.is_ok() {
        result = decoder.finish(&mut out);
    }
    if result.is_ok() {
        if let Ok(one_shot) = decompress(codec, rest, LIMIT) {
            assert_eq!(one_shot, out, "{codec}: stream and one-shot disagree");
        }
    }
}
