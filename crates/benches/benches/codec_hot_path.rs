//! The binding's hot path: `compress_into` and `decompress_into` of a 16 KiB JSON
//! response in a reused 32 KiB buffer, for every codec at its default level; then
//! brotli's qualities (which decided its default) and the 1 MiB one-shot paths
//! (libdeflate into a buffer against zlib-rs streaming for zlib and raw DEFLATE).
//!
//! `cargo bench -p optlayer-codec`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use optlayer_codec::{
    compress, compress_into, decompress, decompress_into, zstd, Codec, CompressParams,
};

#[path = "../../codec/tests/common/mod.rs"]
mod common;

fn hot_path(c: &mut Criterion) {
    let input = common::data(common::Shape::Json, 16 << 10);
    let mut scratch = vec![0u8; 32 << 10];
    let mut group = c.benchmark_group("16KiB-json");
    group.throughput(Throughput::Bytes(input.len() as u64));
    for codec in Codec::ALL {
        let params = CompressParams::default();
        group.bench_function(BenchmarkId::new("compress_into", codec), |b| {
            b.iter(|| compress_into(codec, black_box(&input), &mut scratch, &params))
        });
        let packed = compress(codec, &input, &params).expect("compress");
        group.bench_function(BenchmarkId::new("decompress_into", codec), |b| {
            b.iter(|| decompress_into(codec, black_box(&packed), &mut scratch, 1 << 20))
        });
    }
    group.finish();
}

fn brotli_qualities(c: &mut Criterion) {
    let input = common::data(common::Shape::Json, 16 << 10);
    let mut scratch = vec![0u8; 32 << 10];
    let mut group = c.benchmark_group("16KiB-json-brotli");
    group.throughput(Throughput::Bytes(input.len() as u64));
    for quality in [1, 4, 5, 6, 9, 11] {
        let params = CompressParams::with_level(quality);
        group.bench_function(BenchmarkId::new("quality", quality), |b| {
            b.iter(|| compress_into(Codec::Brotli, black_box(&input), &mut scratch, &params))
        });
    }
    group.finish();
}

fn large_decode(c: &mut Criterion) {
    let input = common::data(common::Shape::Json, 1 << 20);
    let mut out = vec![0u8; input.len()];
    let mut group = c.benchmark_group("1MiB-json");
    group.throughput(Throughput::Bytes(input.len() as u64));
    for codec in [Codec::Gzip, Codec::Deflate, Codec::Zstd, Codec::Lz4] {
        let packed = compress(codec, &input, &CompressParams::default()).expect("compress");
        group.bench_function(BenchmarkId::new("decompress", codec), |b| {
            b.iter(|| decompress(codec, black_box(&packed), 2 << 20))
        });
        group.bench_function(BenchmarkId::new("decompress_into", codec), |b| {
            b.iter(|| decompress_into(codec, black_box(&packed), &mut out, 2 << 20))
        });
    }
    group.finish();
}

fn zstd_dictionary(c: &mut Criterion) {
    let mut rng = common::Rng::new(3);
    let samples: Vec<Vec<u8>> = (0..300)
        .map(|i| common::json_record(&mut rng, i).into_bytes())
        .collect();
    let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
    let dictionary = zstd::train_dictionary(&refs, 16 << 10).expect("train");
    let doc = common::json_record(&mut rng, 10_000).into_bytes();
    let mut group = c.benchmark_group("zstd-small-doc");
    group.bench_function("plain", |b| b.iter(|| zstd::compress(black_box(&doc), 3)));
    group.bench_function("dictionary", |b| {
        b.iter(|| zstd::compress_with_dictionary(black_box(&doc), &dictionary, 3))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = hot_path, brotli_qualities, large_decode, zstd_dictionary
}
criterion_main!(benches);
