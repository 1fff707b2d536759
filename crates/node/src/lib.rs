//! The napi-rs binding of optlayer: argument conversion and error mapping only.
//!
//! Rule for every export: `#[napi(catch_unwind)]`, so a panic in a synchronous call
//! becomes a JavaScript error instead of aborting the process; work that runs on the
//! libuv pool goes through [`errors::contain`], because a panic there would unwind
//! through napi's `extern "C"` callback and abort. Hand-registered callbacks are declared
//! only with `raw_call::raw_fn!`, which does the same for them. `tests/exports_catch_unwind.rs`
//! checks the first and the last rule on the parsed sources.

// napi-derive registers exports only outside `cfg(test)`, so a test build sees them unused.
#![cfg_attr(test, allow(dead_code))]

mod bloom;
mod cache;
mod codec;
mod errors;
mod front;
mod handles;
mod hash_ring;
mod keys;
mod owned_buffer;
mod panic_probe;
mod queue;
mod ratelimit;
mod raw_call;
mod shared_view;
mod stats;
mod stream;
mod zstd;
