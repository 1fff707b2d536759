//! Deliberate panics, so the tests can prove a native panic reaches JavaScript as an
//! error with a code instead of aborting the process. Not part of the public API.

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
