//! Result bytes of synchronous calls handed to JavaScript as a Buffer Node allocates.
//!
//! napi-rs turns a `Vec<u8>` into an external Buffer without a copy, but Node frees such a
//! Buffer's bytes only from a callback it queues on the event loop once the Buffer is
//! collected, and tells V8 nothing of their size. Code that does not yield (a synchronous
//! loop over large bodies, a benchmark's sample) then keeps every result alive, and each new
//! one is a fresh mapping whose pages fault in. Measured, decompressing a 4 MiB zlib body in
//! a loop: 1.0-1.3 GiB resident and 122-155 results/s with external Buffers, 142 MiB and
//! 191/s with a copy into a Buffer of Node's (node:zlib: 113 MiB, 100/s); the copy is
//! cheaper than the page faults it saves, and the vector it copies from is freed at once
//! and reused by the next call.
//!
//! Results of the `*Async` calls stay external Buffers (napi-rs's `Buffer::from`): a copy
//! would run on the event loop those calls keep free (a 64 MiB result would hold it for
//! milliseconds), and their callers yield to it, so the freeing callbacks run.

use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;

/// Bytes returned to JavaScript as a `Buffer` (declared as `Buffer` in TypeScript through
/// each export's `ts_return_type`).
pub struct OwnedBuffer(pub Vec<u8>);

impl TypeName for OwnedBuffer {
    fn type_name() -> &'static str {
        "Buffer"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for OwnedBuffer {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> Result<sys::napi_value> {
        let bytes = value.0;
        let mut result = ptr::null_mut();
        // SAFETY: copies `len` initialised bytes; the vector is dropped afterwards.
        check_status!(unsafe {
            sys::napi_create_buffer_copy(
                env,
                bytes.len(),
                bytes.as_ptr().cast(),
                ptr::null_mut(),
                &mut result,
            )
        })?;
        Ok(result)
    }
}
