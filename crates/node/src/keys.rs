//! Reading string keys out of V8 for the raw callbacks, without touching the heap.

use std::mem::MaybeUninit;

use napi::sys;

use crate::errors::Failure;
use crate::raw_call;

/// Keys up to this many UTF-16 units are read without touching the heap.
const STACK_KEY_UNITS: usize = 512;

/// Runs `use_key` on the bytes of string `key`, or returns `too_long(len, max_len)` when
/// its UTF-8 form is longer than `max_len` bytes.
///
/// Why UTF-16: V8 copies a string out as UTF-16 with a plain copy or widening, while UTF-8
/// needs an encoding pass, about a third of a rate-limit decision's instructions for a
/// short key. Stores hash and compare the bytes they are given, so the form only has to be
/// the same in every thread: the UTF-16 form of a key is at most twice its UTF-8 length.
/// The length limit stays in UTF-8 bytes, as documented and as Redis counts.
///
/// # Safety
/// `env` and `key` must belong to the running callback.
pub unsafe fn with_key<T>(
    env: sys::napi_env,
    key: sys::napi_value,
    max_len: usize,
    too_long: impl FnOnce(usize, usize) -> Failure,
    use_key: impl FnOnce(&[u8]) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let mut stack = [MaybeUninit::<u16>::uninit(); STACK_KEY_UNITS + 1];
    let mut heap = Vec::new();
    // A key of more UTF-16 units than `max_len` has more UTF-8 bytes too, so that many
    // units (plus napi's NUL) tell every key the store accepts from one too long.
    let size = max_len.saturating_add(1);
    let buf: &mut [MaybeUninit<u16>] = if size <= stack.len() {
        &mut stack[..size]
    } else {
        heap.resize(size, MaybeUninit::uninit());
        &mut heap
    };
    // SAFETY: forwarded from the caller.
    let key = unsafe { read_key(env, key, buf, max_len, too_long)? };
    use_key(key)
}

/// Reads `key` as UTF-16 into `buf` (room for `max_len` units and a NUL) and returns its
/// bytes.
///
/// # Safety
/// `env` and `key` must belong to the running callback.
unsafe fn read_key(
    env: sys::napi_env,
    key: sys::napi_value,
    buf: &mut [MaybeUninit<u16>],
    max_len: usize,
    too_long: impl FnOnce(usize, usize) -> Failure,
) -> Result<&[u8], Failure> {
    let room = buf.len();
    // SAFETY: forwarded from the caller.
    let (text, units) = unsafe { raw_call::utf16(env, key, buf, "key")? };
    // Most keys are short enough that even 3 bytes a unit fits; only longer ones are measured.
    if units.saturating_mul(3) > max_len {
        let len = if units + 1 == room {
            // The buffer is full, so the key may be longer than what was copied: measure all
            // of it (rare, and only for keys near or over the limit).
            // SAFETY: forwarded from the caller.
            let (_, all) = unsafe { raw_call::utf16(env, key, &mut [], "key")? };
            let mut whole = vec![MaybeUninit::uninit(); all + 1];
            // SAFETY: forwarded from the caller.
            let (whole, _) = unsafe { raw_call::utf16(env, key, &mut whole, "key")? };
            utf8_len(whole)
        } else {
            utf8_len(text)
        };
        if len > max_len {
            return Err(too_long(len, max_len));
        }
    }
    // SAFETY: a `u16` slice is readable as twice as many bytes.
    Ok(unsafe { std::slice::from_raw_parts(text.as_ptr().cast::<u8>(), text.len() * 2) })
}

/// Bytes of the UTF-8 form of UTF-16 `text` (a lone surrogate counts 3, as its replacement).
fn utf8_len(text: &[u16]) -> usize {
    text.iter()
        .map(|&unit| match unit {
            0..=0x7f => 1,
            0x80..=0x7ff => 2,
            // Each half of a surrogate pair counts 2: 4 bytes a pair.
            0xd800..=0xdfff => 2,
            _ => 3,
        })
        .sum()
}
