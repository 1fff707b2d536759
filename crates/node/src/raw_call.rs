//! Hand-registered N-API callbacks, for the few calls on a per-request hot path.
//!
//! napi-rs 3.16 wraps every generated export that takes arguments in borrow tracking
//! (a thread-local scope, an `Arc`, an allocation and a mutex), about 150 ns per call
//! here: more than a rate-limit decision's whole budget. These callbacks read their
//! arguments with raw N-API instead and share one discipline, enforced by
//! `tests/exports_catch_unwind.rs`: every `extern "C"` callback runs its body through
//! [`raw_call`], which turns a failure into a thrown error with its code and a panic
//! into an internal error, so nothing unwinds into V8.

use std::mem::MaybeUninit;
use std::ptr;

use napi::bindgen_prelude::{Env, JsObjectValue, Object, Unknown};
use napi::sys;

use crate::errors::{contain, Failure};

/// The body of a raw callback: a JavaScript value, or the failure to throw.
pub type RawResult = Result<sys::napi_value, Failure>;

/// The signature N-API calls a raw callback with.
pub type RawCallback =
    unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// Runs `body`; throws its failure (or a caught panic) as a JavaScript error with `code`.
///
/// # Safety
/// `env` must be the environment of the running callback.
pub unsafe fn raw_call(env: sys::napi_env, body: impl FnOnce() -> RawResult) -> sys::napi_value {
    match contain(body) {
        Ok(value) => value,
        Err(failure) => {
            // SAFETY: forwarded from the caller.
            unsafe { throw(env, &failure) };
            ptr::null_mut()
        }
    }
}

/// Throws `failure` as an `Error` with its `code`; if even that fails, the environment is
/// tearing down and nothing could catch it anyway.
unsafe fn throw(env: sys::napi_env, failure: &Failure) {
    let mut code = ptr::null_mut();
    let mut message = ptr::null_mut();
    let mut error = ptr::null_mut();
    // SAFETY: every pointer passed is valid for the call; lengths match the strings.
    unsafe {
        if sys::napi_create_string_utf8(
            env,
            failure.code.as_ptr().cast(),
            failure.code.len() as isize,
            &mut code,
        ) == sys::Status::napi_ok
            && sys::napi_create_string_utf8(
                env,
                failure.message.as_ptr().cast(),
                failure.message.len() as isize,
                &mut message,
            ) == sys::Status::napi_ok
            && sys::napi_create_error(env, code, message, &mut error) == sys::Status::napi_ok
        {
            sys::napi_throw(env, error);
        }
    }
}

/// The first `N` arguments of the call (`undefined` where fewer were passed) and the
/// number the function was bound to (see [`bound_functions`]).
///
/// # Safety
/// `env` and `info` must be those of the running callback.
pub unsafe fn args<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Result<([sys::napi_value; N], usize), Failure> {
    let mut argv = [ptr::null_mut(); N];
    let mut argc = N;
    let mut data = ptr::null_mut();
    // SAFETY: `argv` holds `argc` slots.
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        )
    };
    internal(status, "napi_get_cb_info")?;
    if argc < N {
        let mut undefined = ptr::null_mut();
        // SAFETY: a plain value query.
        internal(
            unsafe { sys::napi_get_undefined(env, &mut undefined) },
            "napi_get_undefined",
        )?;
        argv[argc..].fill(undefined);
    }
    Ok((argv, data as usize))
}

/// A number argument as `f64`; `what` names it in the error for any other type.
///
/// # Safety
/// `env` and `value` must belong to the running callback.
pub unsafe fn number(
    env: sys::napi_env,
    value: sys::napi_value,
    what: &str,
) -> Result<f64, Failure> {
    let mut out = 0.0;
    // SAFETY: `out` is a valid destination.
    expect(
        unsafe { sys::napi_get_value_double(env, value, &mut out) },
        what,
        "a number",
    )
    .map(|()| out)
}

/// Copies the UTF-16 of a string argument into `buf` (NUL-terminated) and returns the
/// units written; with an empty `buf`, returns an empty slice and the string's length.
/// `buf` need not be initialised: zeroing it would cost as much as the copy.
///
/// # Safety
/// `env` and `value` must belong to the running callback.
pub unsafe fn utf16<'a>(
    env: sys::napi_env,
    value: sys::napi_value,
    buf: &'a mut [MaybeUninit<u16>],
    what: &str,
) -> Result<(&'a [u16], usize), Failure> {
    let mut len = 0usize;
    let data = if buf.is_empty() {
        ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast::<u16>()
    };
    // SAFETY: `data` is null (a length query) or writable for `buf.len()` units.
    let status = unsafe { sys::napi_get_value_string_utf16(env, value, data, buf.len(), &mut len) };
    expect(status, what, "a string")?;
    let written = if buf.is_empty() { 0 } else { len };
    // SAFETY: napi initialised the first `written` units (at most `buf.len() - 1`).
    let text = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u16>(), written) };
    Ok((text, len))
}

/// A JavaScript boolean.
///
/// # Safety
/// `env` must be the environment of the running callback.
pub unsafe fn boolean(env: sys::napi_env, value: bool) -> RawResult {
    let mut out = ptr::null_mut();
    // SAFETY: a plain value query.
    internal(
        unsafe { sys::napi_get_boolean(env, value, &mut out) },
        "napi_get_boolean",
    )
    .map(|()| out)
}

/// A JavaScript number.
///
/// # Safety
/// `env` must be the environment of the running callback.
pub unsafe fn double(env: sys::napi_env, value: f64) -> RawResult {
    let mut out = ptr::null_mut();
    // SAFETY: a plain value creation.
    internal(
        unsafe { sys::napi_create_double(env, value, &mut out) },
        "napi_create_double",
    )
    .map(|()| out)
}

/// `undefined`, for callbacks with nothing to return: N-API turns a NULL result into
/// `undefined`, which spares a call into the engine.
pub fn undefined() -> RawResult {
    Ok(ptr::null_mut())
}

/// A JavaScript function calling `callback`, named `name`, that hands `bound` to every
/// call through [`args`]: a number in the data pointer's place, never dereferenced, so
/// the function owns nothing and needs no finalizer.
///
/// # Safety
/// `env` must be a live environment on its own thread.
unsafe fn function(
    env: sys::napi_env,
    name: &str,
    callback: sys::napi_callback,
    bound: usize,
) -> RawResult {
    let mut out = ptr::null_mut();
    // SAFETY: `name` is valid for its length; `bound` travels as an opaque pointer value.
    let status = unsafe {
        sys::napi_create_function(
            env,
            name.as_ptr().cast(),
            name.len() as isize,
            callback,
            bound as *mut std::ffi::c_void,
            &mut out,
        )
    };
    internal(status, "napi_create_function").map(|()| out)
}

/// An object holding one function per `(name, callback)`, each bound to `handle` (a slot
/// of a `handles::HandleTable`): how a class hands JavaScript its hot-path calls.
pub fn bound_functions(
    env: &Env,
    handle: u32,
    callbacks: &[(&str, RawCallback)],
) -> napi::Result<Object<'static>> {
    let mut functions = Object::new(env)?;
    for &(name, callback) in callbacks {
        // SAFETY: `env` is the environment of the calling export, on its own thread.
        let function = unsafe { function(env.raw(), name, Some(callback), handle as usize) }
            .map_err(|f| f.into_napi(env))?;
        // SAFETY: `function` was created in `env` just now.
        functions.set_named_property(name, unsafe {
            Unknown::from_raw_unchecked(env.raw(), function)
        })?;
    }
    Ok(functions)
}

/// An argument of the wrong type.
fn expect(status: sys::napi_status, what: &str, kind: &str) -> Result<(), Failure> {
    if status == sys::Status::napi_ok {
        return Ok(());
    }
    Err(Failure {
        code: "ERR_OPTLAYER_INVALID_ARGUMENT",
        message: format!("invalid {what}: expected {kind}"),
    })
}

/// A failure of N-API itself (the environment is tearing down, say).
fn internal(status: sys::napi_status, call: &str) -> Result<(), Failure> {
    if status == sys::Status::napi_ok {
        return Ok(());
    }
    Err(Failure {
        code: crate::errors::INTERNAL,
        message: format!("{call} failed with status {status}"),
    })
}
