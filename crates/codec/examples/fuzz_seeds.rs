//! Writes seed inputs for the fuzz targets (see `scripts/fuzz.sh`): a few small valid
//! streams of each codec, made by this crate, under `<dir>/<target>/`.
//!
//! Usage: `cargo run -p optlayer-codec --example fuzz_seeds -- fuzz/corpus`

use std::path::Path;
use std::{env, fs, io};

use optlayer_codec::{compress, Codec, CodecError, CompressParams, Encoder};

/// Fuzz target names, as in `fuzz/Cargo.toml`, with the codec each one decodes.
const TARGETS: [(&str, Codec); 8] = [
    ("gzip", Codec::Gzip),
    ("deflate", Codec::Deflate),
    ("deflate_raw", Codec::DeflateRaw),
    ("snappy", Codec::Snappy),
    ("snappy_framed", Codec::SnappyFramed),
    ("zstd", Codec::Zstd),
    ("brotli", Codec::Brotli),
    ("lz4", Codec::Lz4),
];

/// The stream target reads its codec from the first byte, in this order.
const STREAMABLE: [Codec; 7] = [
    Codec::Gzip,
    Codec::Deflate,
    Codec::DeflateRaw,
    Codec::SnappyFramed,
    Codec::Zstd,
    Codec::Brotli,
    Codec::Lz4,
];

fn samples() -> Vec<Vec<u8>> {
    let json = r#"{"id":1,"name":"alice","tags":["a","b"],"score":12.5,"active":true}"#;
    vec![
        Vec::new(),
        b"hello hello hello".to_vec(),
        json.repeat(20).into_bytes(),
        vec![0u8; 3000],
        (0u32..700)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect(),
    ]
}

fn streamed(codec: Codec, input: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut encoder = Encoder::new(codec, &CompressParams::default())?;
    let mut out = Vec::new();
    for chunk in input.chunks(500) {
        encoder.write(chunk, &mut out)?;
        encoder.flush(&mut out)?;
    }
    encoder.finish(&mut out)?;
    Ok(out)
}

fn write_seed(dir: &Path, name: String, bytes: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join(name), bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = env::args().nth(1).ok_or("usage: fuzz_seeds <corpus dir>")?;
    let root = Path::new(&root);
    for (target, codec) in TARGETS {
        for (i, sample) in samples().iter().enumerate() {
            let packed = compress(codec, sample, &CompressParams::default())?;
            write_seed(&root.join(target), format!("seed-{i}"), &packed)?;
        }
    }
    for (index, codec) in STREAMABLE.into_iter().enumerate() {
        for (i, sample) in samples().iter().enumerate() {
            let mut seed = vec![index as u8, i as u8];
            seed.extend(streamed(codec, sample)?);
            write_seed(
                &root.join("stream_decoder"),
                format!("seed-{index}-{i}"),
                &seed,
            )?;
        }
    }
    Ok(())
}
