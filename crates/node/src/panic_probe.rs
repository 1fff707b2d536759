//! Deliberate panics: a test hook proving, through the real N-API path of the release
//! addon, that a native panic reaches JavaScript as a typed error (`ERR_OPTLAYER_INTERNAL`)
//! instead of aborting the process. Not part of the public API: the TypeScript package does
//! not re-export them.
//!
//! Why they ship: what is being proved is the release build's unwinding (`panic = "unwind"`
//! with LTO) and napi-rs's handling of it; a debug-only or feature-gated build would prove
//! it for another binary. They cannot crash the process: each panics only inside the net
//! that catches it (`catch_unwind` on the export, [`contain`] on the pool thread), which
//! is exactly what the specs assert, and neither touches any state.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::{contain, Failure};

/// Panics inside a synchronous export.
#[napi(catch_unwind, js_name = "__panicProbeSync")]
pub fn panic_probe_sync() -> Result<()> {
    panic!("panic probe (sync)");
}

pub struct PanicProbeTask;

impl Task for PanicProbeTask {
    type Output = std::result::Result<(), Failure>;
    type JsValue = ();

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(contain(|| -> std::result::Result<(), Failure> {
            panic!("panic probe (thread pool)")
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map_err(|f| f.into_napi(&env))
    }
}

/// Panics on a libuv pool thread.
#[napi(
    catch_unwind,
    js_name = "__panicProbeAsync",
    ts_return_type = "Promise<void>"
)]
pub fn panic_probe_async() -> AsyncTask<PanicProbeTask> {
    AsyncTask::new(PanicProbeTask)
}
