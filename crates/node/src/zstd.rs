use napi::bindgen_prelude::*;
use napi_derive::napi;
use optlayer_codec::zstd;

use crate::errors::{contain, Failure};

/// JavaScript numbers carry sizes; the TypeScript layer has validated them, and a
/// float-to-int `as` saturates, so no value here can wrap.
fn byte_limit(max_output_bytes: f64) -> usize {
    max_output_bytes as usize
}

/// Compresses into a caller-owned buffer of at least `compressBound` bytes and returns
/// the compressed length: no Buffer is created on the native side.
#[napi(catch_unwind)]
pub fn zstd_compress_into(
    env: Env,
    input: &[u8],
    mut output: BufferSlice,
    level: i32,
) -> Result<u32> {
    contain(|| zstd::compress_into(input, &mut output, level))
        .map(|n| n as u32)
        .map_err(|f| f.into_napi(&env))
}

/// Compresses into a new Buffer; for inputs whose bound exceeds the caller's scratch.
#[napi(catch_unwind)]
pub fn zstd_compress(env: Env, input: &[u8], level: i32) -> Result<Buffer> {
    contain(|| zstd::compress(input, level))
        .map(Buffer::from)
        .map_err(|f| f.into_napi(&env))
}

/// Decompresses into a caller-owned buffer. Returns the length written, or -1 when the
/// output does not fit `output` (call `zstdDecompress` then).
#[napi(catch_unwind)]
pub fn zstd_decompress_into(
    env: Env,
    input: &[u8],
    mut output: BufferSlice,
    max_output_bytes: f64,
) -> Result<i64> {
    contain(|| zstd::decompress_into(input, &mut output, byte_limit(max_output_bytes)))
        .map(|n| n.map_or(-1, |n| n as i64))
        .map_err(|f| f.into_napi(&env))
}

/// Decompresses into a new Buffer of exactly the output size.
#[napi(catch_unwind)]
pub fn zstd_decompress(env: Env, input: &[u8], max_output_bytes: f64) -> Result<Buffer> {
    contain(|| zstd::decompress(input, byte_limit(max_output_bytes)))
        .map(Buffer::from)
        .map_err(|f| f.into_napi(&env))
}

pub enum ZstdJob {
    Compress { level: i32 },
    Decompress { max_output_bytes: usize },
}

/// One zstd call on the libuv thread pool. The input stays referenced (and must not be
/// mutated by the caller) until the promise settles.
pub struct ZstdTask {
    input: Uint8Array,
    job: ZstdJob,
}

impl Task for ZstdTask {
    type Output = std::result::Result<Vec<u8>, Failure>;
    type JsValue = Buffer;

    fn compute(&mut self) -> Result<Self::Output> {
        let input: &[u8] = &self.input;
        Ok(match self.job {
            ZstdJob::Compress { level } => contain(|| zstd::compress(input, level)),
            ZstdJob::Decompress { max_output_bytes } => {
                contain(|| zstd::decompress(input, max_output_bytes))
            }
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map(Buffer::from).map_err(|f| f.into_napi(&env))
    }
}

/// Compresses on the libuv thread pool; `signal` cancels the work if it has not started.
#[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
pub fn zstd_compress_async(
    input: Uint8Array,
    level: i32,
    signal: Option<AbortSignal>,
) -> AsyncTask<ZstdTask> {
    let job = ZstdJob::Compress { level };
    AsyncTask::with_optional_signal(ZstdTask { input, job }, signal)
}

/// Decompresses on the libuv thread pool; `signal` cancels the work if it has not started.
#[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
pub fn zstd_decompress_async(
    input: Uint8Array,
    max_output_bytes: f64,
    signal: Option<AbortSignal>,
) -> AsyncTask<ZstdTask> {
    let job = ZstdJob::Decompress {
        max_output_bytes: byte_limit(max_output_bytes),
    };
    AsyncTask::with_optional_signal(ZstdTask { input, job }, signal)
}
