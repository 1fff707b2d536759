//! Every codec through one set of exports, selected by [`Codec`]. Hot calls take numbers
//! and caller-owned buffers; only the allocating fallbacks create Buffers natively.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use optlayer_codec::{self as codec, CompressParams};

use crate::errors::{contain, Failure};
use crate::owned_buffer::OwnedBuffer;

/// The formats of `optlayer-codec`; the TypeScript layer maps names such as `'br'` to these.
#[napi]
pub enum Codec {
    Gzip,
    Deflate,
    DeflateRaw,
    Snappy,
    SnappyFramed,
    Zstd,
    Brotli,
    Lz4,
}

impl From<Codec> for codec::Codec {
    fn from(value: Codec) -> Self {
        match value {
            Codec::Gzip => codec::Codec::Gzip,
            Codec::Deflate => codec::Codec::Deflate,
            Codec::DeflateRaw => codec::Codec::DeflateRaw,
            Codec::Snappy => codec::Codec::Snappy,
            Codec::SnappyFramed => codec::Codec::SnappyFramed,
            Codec::Zstd => codec::Codec::Zstd,
            Codec::Brotli => codec::Codec::Brotli,
            Codec::Lz4 => codec::Codec::Lz4,
        }
    }
}

/// JavaScript numbers carry sizes; the TypeScript layer has validated them, and a
/// float-to-int `as` saturates, so no value here can wrap.
pub fn byte_limit(max_output_bytes: f64) -> usize {
    max_output_bytes as usize
}

fn params(level: Option<i32>, window_log: Option<u32>) -> CompressParams {
    CompressParams { level, window_log }
}

/// Compresses into a caller-owned buffer of at least the codec's bound and returns the
/// compressed length: no Buffer is created on the native side.
#[napi(catch_unwind)]
pub fn compress_into(
    env: Env,
    codec: Codec,
    input: &[u8],
    mut output: BufferSlice,
    level: Option<i32>,
    window_log: Option<u32>,
) -> Result<u32> {
    let params = params(level, window_log);
    contain(|| codec::compress_into(codec.into(), input, &mut output, &params))
        .map(|n| n as u32)
        .map_err(|f| f.into_napi(&env))
}

/// Compresses into a new Buffer; for inputs too large for the caller's scratch.
#[napi(catch_unwind, ts_return_type = "Buffer")]
pub fn compress(
    env: Env,
    codec: Codec,
    input: &[u8],
    level: Option<i32>,
    window_log: Option<u32>,
) -> Result<OwnedBuffer> {
    let params = params(level, window_log);
    contain(|| codec::compress(codec.into(), input, &params))
        .map(OwnedBuffer)
        .map_err(|f| f.into_napi(&env))
}

/// Decompresses into a caller-owned buffer. Returns the length written, or -1 when the
/// output does not fit `output` (call `decompress` then).
#[napi(catch_unwind)]
pub fn decompress_into(
    env: Env,
    codec: Codec,
    input: &[u8],
    mut output: BufferSlice,
    max_output_bytes: f64,
) -> Result<i64> {
    let max = byte_limit(max_output_bytes);
    contain(|| codec::decompress_into(codec.into(), input, &mut output, max))
        .map(|n| n.map_or(-1, |n| n as i64))
        .map_err(|f| f.into_napi(&env))
}

/// Decompresses into a new Buffer of exactly the output size.
#[napi(catch_unwind, ts_return_type = "Buffer")]
pub fn decompress(
    env: Env,
    codec: Codec,
    input: &[u8],
    max_output_bytes: f64,
) -> Result<OwnedBuffer> {
    contain(|| codec::decompress(codec.into(), input, byte_limit(max_output_bytes)))
        .map(OwnedBuffer)
        .map_err(|f| f.into_napi(&env))
}

enum Job {
    Compress(CompressParams),
    Decompress { max_output: usize },
}

/// One codec call on the libuv thread pool, on its own copy of the input.
///
/// Why a copy: a borrowed `Uint8Array` does not keep its bytes alive. The caller may
/// transfer or detach the buffer while the task runs (`structuredClone` with `transfer`,
/// `postMessage`, `ArrayBuffer.prototype.transfer`), and once the new owner is collected
/// the pool thread would read freed memory. One memcpy on the JavaScript thread costs far
/// less than the compression it feeds, and only inputs above the inline threshold of the
/// TypeScript layer (16 KiB) come here.
pub struct CodecTask {
    codec: codec::Codec,
    input: Vec<u8>,
    job: Job,
}

impl Task for CodecTask {
    type Output = std::result::Result<Vec<u8>, Failure>;
    type JsValue = Buffer;

    fn compute(&mut self) -> Result<Self::Output> {
        let input: &[u8] = &self.input;
        Ok(match &self.job {
            Job::Compress(params) => contain(|| codec::compress(self.codec, input, params)),
            Job::Decompress { max_output } => {
                contain(|| codec::decompress(self.codec, input, *max_output))
            }
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map(Buffer::from).map_err(|f| f.into_napi(&env))
    }
}

/// Compresses on the libuv thread pool; `signal` cancels the work if it has not started.
#[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
pub fn compress_async(
    codec: Codec,
    input: &[u8],
    level: Option<i32>,
    window_log: Option<u32>,
    signal: Option<AbortSignal>,
) -> AsyncTask<CodecTask> {
    let job = Job::Compress(params(level, window_log));
    let task = CodecTask {
        codec: codec.into(),
        input: input.to_vec(),
        job,
    };
    AsyncTask::with_optional_signal(task, signal)
}

/// Decompresses on the libuv thread pool; `signal` cancels the work if it has not started.
#[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
pub fn decompress_async(
    codec: Codec,
    input: &[u8],
    max_output_bytes: f64,
    signal: Option<AbortSignal>,
) -> AsyncTask<CodecTask> {
    let job = Job::Decompress {
        max_output: byte_limit(max_output_bytes),
    };
    let task = CodecTask {
        codec: codec.into(),
        input: input.to_vec(),
        job,
    };
    AsyncTask::with_optional_signal(task, signal)
}

/// The worst-case compressed size of `length` input bytes.
#[napi(catch_unwind)]
pub fn compress_bound(codec: Codec, length: f64) -> f64 {
    codec::compress_bound(codec.into(), byte_limit(length)) as f64
}
