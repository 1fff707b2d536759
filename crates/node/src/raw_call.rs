//! Hand-registered N-API callbacks, for the few calls on a per-request hot path.
//!
//! napi-rs 3.16 wraps every generated export that takes arguments in borrow tracking
//! (a thread-local scope, an `Arc`, an allocation and a mutex), about 150 ns per call
//! here: more than a rate-limit decision's whole budget. These callbacks read their
//! arguments with raw N-API instead and share one discipline: each is declared with
//! [`raw_fn!`], the only `extern "C" fn` of this crate (`tests/exports_catch_unwind.rs`
//! parses the sources to check it), which runs the body through [`raw_call`]: a failure
//! becomes a thrown error with its code and a panic an internal error, so nothing unwinds
//! into V8.

use std::mem::MaybeUninit;
use std::ptr;

use napi::bindgen_prelude::{Env, JsObjectValue, Object, Unknown};
use napi::sys;

use crate::errors::{contain, Failure};
use crate::handles::Handle;

/// The body of a raw callback: a JavaScript value, or the failure to throw.
pub type RawResult = Result<sys::napi_value, Failure>;

/// The signature N-API calls a raw callback with.
pub type RawCallback =
    unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// Declares `unsafe extern "C" fn $name`, a raw callback reading `$n` arguments into the
/// pattern `$args` and the handle it was bound to (see [`bound_functions`]) into
/// `$handle`, then evaluating `$body` (a [`RawResult`]) through [`raw_call`].
///
/// The body runs in an unsafe block: N-API gave it its own `env` and arguments, which is
/// what the `unsafe fn`s of this module require, and JavaScript does not run while it
/// does unless the body calls into it.
macro_rules! raw_fn {
    ($(#[$meta:meta])* $name:ident, $n:literal, |$env:ident, $args:pat_param, $handle:pat_param| $body:expr) => {
        $(#[$meta])*
        unsafe extern "C" fn $name(
            $env: ::napi::sys::napi_env,
            info: ::napi::sys::napi_callback_info,
        ) -> ::napi::sys::napi_value {
            // SAFETY: N-API passes this callback's own `env` and `info`.
            unsafe {
                $crate::raw_call::raw_call($env, || {
                    let ($args, $handle) = $crate::raw_call::args::<$n>($env, info)?;
                    $body
                })
            }
        }
    };
}
pub(crate) use raw_fn;

/// Runs `body`; throws its failure (or a caught panic) as a JavaScript error with `code`.
/// Callbacks call it through [`raw_fn!`].
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

#[cfg(test)]
thread_local! {
    /// What [`throw`] was given last: unit tests run without a JavaScript engine.
    static THROWN: std::cell::RefCell<Option<Failure>> = const { std::cell::RefCell::new(None) };
}

/// Unit tests have no engine to throw into: they read the failure from [`THROWN`].
#[cfg(test)]
unsafe fn throw(_env: sys::napi_env, failure: &Failure) {
    THROWN.set(Some(Failure {
        code: failure.code,
        message: failure.message.clone(),
    }));
}

/// Throws `failure` as an `Error` with its `code`; if even that fails, the environment is
/// tearing down and nothing could catch it anyway.
#[cfg(not(test))]
unsafe fn throw(env: sys::napi_env, failure: &Failure) {
    let mut code = ptr::null_mut();
    let mut message = ptr::null_mut();
    let mut error = ptr::null_mut();
    // SAFETY: every pointer passed is valid for the call; lengths match the strings.
    unsafe {
        if sys::napi_create_string_utf8(
            env,
            failure.code.as_str().as_ptr().cast(),
            failure.code.as_str().len() as isize,
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
) -> Result<([sys::napi_value; N], Handle), Failure> {
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
    // `data` is never a pointer: it is the handle `function` stored, see `handles::Handle`.
    Ok((argv, data as usize as Handle))
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

/// The bytes of a `Uint8Array` (or `Buffer`) argument, borrowed from V8 for the call.
///
/// # Safety
/// `env` and `value` must belong to the running callback, and the slice must not outlive
/// it (nor be held across a call into JavaScript that could detach the buffer).
pub unsafe fn bytes<'a>(
    env: sys::napi_env,
    value: sys::napi_value,
    what: &str,
) -> Result<&'a [u8], Failure> {
    let mut kind = sys::TypedarrayType::int8_array;
    let mut len = 0usize;
    let mut data = ptr::null_mut();
    // SAFETY: every destination is valid; the array buffer and offset are not asked for.
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env,
            value,
            &mut kind,
            &mut len,
            &mut data,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    expect(status, what, "a Uint8Array")?;
    if kind != sys::TypedarrayType::uint8_array {
        return expect(sys::Status::napi_invalid_arg, what, "a Uint8Array").map(|()| &[][..]);
    }
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: V8 reports `len` bytes at `data` for a live, attached Uint8Array.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

/// The length of an array argument.
///
/// # Safety
/// `env` and `value` must belong to the running callback.
pub unsafe fn array_length(
    env: sys::napi_env,
    value: sys::napi_value,
    what: &str,
) -> Result<u32, Failure> {
    let mut len = 0u32;
    // SAFETY: `len` is a valid destination.
    expect(
        unsafe { sys::napi_get_array_length(env, value, &mut len) },
        what,
        "an array",
    )
    .map(|()| len)
}

/// Element `index` of an array argument.
///
/// # Safety
/// `env` and `array` must belong to the running callback.
pub unsafe fn element(env: sys::napi_env, array: sys::napi_value, index: u32) -> RawResult {
    let mut out = ptr::null_mut();
    // SAFETY: `out` is a valid destination.
    internal(
        unsafe { sys::napi_get_element(env, array, index, &mut out) },
        "napi_get_element",
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
    handle: Handle,
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
    Err(Failure::invalid_argument(format_args!(
        "invalid {what}: expected {kind}"
    )))
}

/// A failure of N-API itself (the environment is tearing down, say).
fn internal(status: sys::napi_status, call: &str) -> Result<(), Failure> {
    if status == sys::Status::napi_ok {
        return Ok(());
    }
    Err(Failure::internal(format_args!(
        "{call} failed with status {status}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thrown() -> Option<Failure> {
        THROWN.take()
    }

    #[test]
    fn a_panic_in_a_raw_callback_is_thrown_as_an_internal_error() {
        // SAFETY: the test build's `throw` never touches `env`.
        let value = unsafe { raw_call(ptr::null_mut(), || panic!("boom in a callback")) };
        assert!(value.is_null(), "a throwing callback returns no value");
        let failure = thrown().expect("the panic was thrown");
        assert_eq!(failure.code.as_str(), "ERR_OPTLAYER_INTERNAL");
        assert!(
            failure.message.contains("boom in a callback"),
            "{failure:?}"
        );
    }

    #[test]
    fn a_failure_of_a_raw_callback_is_thrown_with_its_code() {
        // SAFETY: as above.
        let value = unsafe {
            raw_call(ptr::null_mut(), || {
                Err(crate::handles::closed("the rate limiter"))
            })
        };
        assert!(value.is_null());
        let failure = thrown().expect("the failure was thrown");
        assert_eq!(failure.code.as_str(), "ERR_OPTLAYER_CLOSED");
        assert_eq!(failure.message, "the rate limiter is closed");
    }

    #[test]
    fn a_successful_raw_callback_throws_nothing() {
        // SAFETY: as above.
        let value = unsafe { raw_call(ptr::null_mut(), undefined) };
        assert!(value.is_null(), "undefined travels as NULL");
        assert!(thrown().is_none());
    }
}
