//! Stateful encoders and decoders behind Node `Transform` streams. Each step runs on the
//! libuv pool; the TypeScript stream issues one step at a time, so the mutex is never
//! contended and only hands the state between pool threads.

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use optlayer_codec::{self as codec, CompressParams, Decoder, Encoder};

use crate::codec::{byte_limit, Codec};
use crate::errors::{contain, Failure};

enum Coder {
    Encode(Encoder),
    Decode(Decoder),
}

#[derive(Clone, Copy)]
enum Step {
    Write,
    Flush,
    Finish,
}

impl Coder {
    fn step(
        &mut self,
        step: Step,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), codec::CodecError> {
        match (self, step) {
            (Coder::Encode(e), Step::Write) => e.write(input, out),
            (Coder::Encode(e), Step::Flush) => e.flush(out),
            (Coder::Encode(e), Step::Finish) => e.finish(out),
            (Coder::Decode(d), Step::Write) => d.write(input, out),
            // A decoder emits everything it can on each write; there is nothing to flush.
            (Coder::Decode(_), Step::Flush) => Ok(()),
            (Coder::Decode(d), Step::Finish) => d.finish(out),
        }
    }
}

/// A compression or decompression stream in progress.
#[napi]
pub struct NativeCodecStream {
    coder: Arc<Mutex<Coder>>,
}

#[napi]
impl NativeCodecStream {
    /// A compressing stream.
    #[napi(factory, catch_unwind)]
    pub fn encoder(
        env: Env,
        codec: Codec,
        level: Option<i32>,
        window_log: Option<u32>,
    ) -> Result<Self> {
        let params = CompressParams { level, window_log };
        contain(|| Encoder::new(codec.into(), &params))
            .map(|e| Self::wrap(Coder::Encode(e)))
            .map_err(|f| f.into_napi(&env))
    }

    /// A decompressing stream whose total output may not exceed `maxOutputBytes`.
    #[napi(factory, catch_unwind)]
    pub fn decoder(env: Env, codec: Codec, max_output_bytes: f64) -> Result<Self> {
        contain(|| Decoder::new(codec.into(), byte_limit(max_output_bytes)))
            .map(|d| Self::wrap(Coder::Decode(d)))
            .map_err(|f| f.into_napi(&env))
    }

    fn wrap(coder: Coder) -> Self {
        Self {
            coder: Arc::new(Mutex::new(coder)),
        }
    }

    fn task(&self, step: Step, input: Vec<u8>) -> AsyncTask<StreamTask> {
        AsyncTask::new(StreamTask {
            coder: Arc::clone(&self.coder),
            step,
            input,
        })
    }

    /// Feeds a chunk; resolves with the output it produced (possibly empty). The chunk is
    /// copied first (see `codec::CodecTask` for why), so the caller may reuse or transfer
    /// its buffer at once.
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
    pub fn write(&self, chunk: &[u8]) -> AsyncTask<StreamTask> {
        self.task(Step::Write, chunk.to_vec())
    }

    /// Emits everything buffered so far as a decodable prefix (a sync flush).
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
    pub fn flush(&self) -> AsyncTask<StreamTask> {
        self.task(Step::Flush, Vec::new())
    }

    /// Ends the stream; for a decoder, fails if the input was truncated.
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
    pub fn finish(&self) -> AsyncTask<StreamTask> {
        self.task(Step::Finish, Vec::new())
    }
}

pub struct StreamTask {
    coder: Arc<Mutex<Coder>>,
    step: Step,
    /// The step's own copy of its chunk: nothing borrowed from JavaScript crosses to the pool.
    input: Vec<u8>,
}

impl Task for StreamTask {
    type Output = std::result::Result<Vec<u8>, Failure>;
    type JsValue = Buffer;

    fn compute(&mut self) -> Result<Self::Output> {
        let input: &[u8] = &self.input;
        let Ok(mut coder) = self.coder.lock() else {
            return Ok(Err(Failure::internal(
                "stream state is unusable after an earlier native panic",
            )));
        };
        let mut out = Vec::new();
        Ok(contain(|| coder.step(self.step, input, &mut out)).map(|()| out))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map(Buffer::from).map_err(|f| f.into_napi(&env))
    }
}
