//! zstd beyond plain frames: dictionaries for small similar payloads, and patches that
//! encode a new version against a reference (the `zstd --patch-from` idea).

use napi::bindgen_prelude::*;
use napi_derive::napi;
use optlayer_codec::zstd;

use crate::codec::byte_limit;
use crate::errors::contain;
use crate::owned_buffer::OwnedBuffer;

/// Trains a dictionary of at most `maxSizeBytes` from sample payloads.
#[napi(catch_unwind, ts_return_type = "Buffer")]
pub fn zstd_train_dictionary(
    env: Env,
    samples: Vec<Uint8Array>,
    max_size_bytes: u32,
) -> Result<OwnedBuffer> {
    let samples: Vec<&[u8]> = samples.iter().map(|s| &s[..]).collect();
    contain(|| zstd::train_dictionary(&samples, max_size_bytes as usize))
        .map(OwnedBuffer)
        .map_err(|f| f.into_napi(&env))
}

/// Compresses with a dictionary; the same dictionary is needed to decompress.
#[napi(catch_unwind, ts_return_type = "Buffer")]
pub fn zstd_compress_with_dictionary(
    env: Env,
    input: &[u8],
    dictionary: &[u8],
    level: i32,
) -> Result<OwnedBuffer> {
    contain(|| zstd::compress_with_dictionary(input, dictionary, level))
        .map(OwnedBuffer)
        .map_err(|f| f.into_napi(&env))
}

/// Decompresses a frame made with `dictionary`, refusing outputs above the limit.
#[napi(catch_unwind, ts_return_type = "Buffer")]
pub fn zstd_decompress_with_dictionary(
    env: Env,
    input: &[u8],
    dictionary: &[u8],
    max_output_bytes: f64,
) -> Result<OwnedBuffer> {
    contain(|| zstd::decompress_with_dictionary(input, dictionary, byte_limit(max_output_bytes)))
        .map(OwnedBuffer)
        .map_err(|f| f.into_napi(&env))
}

/// Encodes `next` as a patch against `reference`.
#[napi(catch_unwind, ts_return_type = "Buffer")]
pub fn zstd_compress_patch(
    env: Env,
    next: &[u8],
    reference: &[u8],
    level: i32,
) -> Result<OwnedBuffer> {
    contain(|| zstd::compress_patch(next, reference, level))
        .map(OwnedBuffer)
        .map_err(|f| f.into_napi(&env))
}

/// Rebuilds the new version from a patch and the same reference.
#[napi(catch_unwind, ts_return_type = "Buffer")]
pub fn zstd_decompress_patch(
    env: Env,
    patch: &[u8],
    reference: &[u8],
    max_output_bytes: f64,
) -> Result<OwnedBuffer> {
    contain(|| zstd::decompress_patch(patch, reference, byte_limit(max_output_bytes)))
        .map(OwnedBuffer)
        .map_err(|f| f.into_napi(&env))
}
