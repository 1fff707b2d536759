//! Buffers native code writes and JavaScript reads through a typed array handed out once,
//! so that a hot call returns a number instead of creating an object or a Buffer.
//!
//! Why this is sound, for every view of this crate:
//! - The buffer never moves or changes length: growing a view means making a new one (the
//!   old typed array stays valid, it is just no longer written).
//! - Rust writes it only through [`SharedView::as_mut_slice`], which takes `&mut self`:
//!   the owner (an entry of a thread-local handle table) is the only writer, and the
//!   borrow checker refuses two live slices of one view. Two views are two buffers.
//! - JavaScript reads it only through its typed array, on the same thread: it runs before
//!   or after a native call, never during one, as long as the call does not call back into
//!   JavaScript while it holds the slice (see [`SharedView::as_mut_slice`]). So no Rust
//!   reference is alive while JavaScript reads, and JavaScript never writes what Rust
//!   reads: Rust only writes.
//! - The memory is freed when both the owner and every typed array have let go; a
//!   [`JsView`] keeps it alive without giving any access to it.

use std::ptr::NonNull;
use std::sync::Arc;

use napi::bindgen_prelude::{Float64Array, Uint8Array};

/// The element types a view can hold, with the typed array JavaScript sees them through.
pub trait Element: Copy + Default + 'static {
    /// `Uint8Array` for bytes, `Float64Array` for numbers.
    type Array;

    /// A typed array over `len` elements at `data` that drops `keep` when V8 lets go.
    ///
    /// # Safety
    /// `data` must stay valid for `len` elements while `keep` lives.
    unsafe fn external(data: *mut Self, len: usize, keep: JsView<Self>) -> Self::Array;
}

impl Element for u8 {
    type Array = Uint8Array;

    unsafe fn external(data: *mut u8, len: usize, keep: JsView<u8>) -> Uint8Array {
        // SAFETY: forwarded from the caller; the finalizer drops `keep` last.
        unsafe { Uint8Array::with_external_data(data, len, move |_, _| drop(keep)) }
    }
}

impl Element for f64 {
    type Array = Float64Array;

    unsafe fn external(data: *mut f64, len: usize, keep: JsView<f64>) -> Float64Array {
        // SAFETY: as for `u8`.
        unsafe { Float64Array::with_external_data(data, len, move |_, _| drop(keep)) }
    }
}

/// The memory of a view: a boxed slice held by raw pointer, so that handing its address to
/// V8 creates no Rust reference.
struct Buffer<T> {
    data: NonNull<[T]>,
}

// SAFETY: the contents are touched only on the JavaScript thread that owns the view (see
// the module comment); another thread may at most hold or drop the last `Arc`, and
// dropping frees a slice of `Copy` elements without reading them.
unsafe impl<T: Send> Send for Buffer<T> {}
// SAFETY: `&Buffer` gives no access to the contents, only to the address.
unsafe impl<T: Sync> Sync for Buffer<T> {}

impl<T> Drop for Buffer<T> {
    fn drop(&mut self) {
        // SAFETY: `data` came from `Box::into_raw` in `SharedView::new` and is freed once.
        drop(unsafe { Box::from_raw(self.data.as_ptr()) });
    }
}

/// The writing side of a view: one per buffer, held by the object that fills it.
pub struct SharedView<T: Element> {
    buffer: Arc<Buffer<T>>,
}

impl<T: Element> SharedView<T> {
    /// A view of `len` default elements (zeros).
    pub fn new(len: usize) -> Self {
        let boxed = vec![T::default(); len].into_boxed_slice();
        let data = NonNull::from(Box::leak(boxed));
        SharedView {
            buffer: Arc::new(Buffer { data }),
        }
    }

    /// Elements in the view.
    pub fn len(&self) -> usize {
        self.buffer.data.len()
    }

    /// The view to write, for as long as `self` is borrowed.
    ///
    /// # Safety
    /// No JavaScript may run while the slice is alive: a typed array over this buffer could
    /// read it under a live `&mut`. A native call satisfies this unless it calls into
    /// JavaScript (reading an array element may run a getter) while holding the slice.
    pub unsafe fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: the buffer is valid while `self.buffer` lives; `&mut self` makes this the
        // only Rust reference to it (`JsView` never dereferences), and the caller keeps
        // JavaScript from reading it meanwhile.
        unsafe { &mut *self.buffer.data.as_ptr() }
    }

    /// A handle JavaScript views of this buffer are made from.
    pub fn js(&self) -> JsView<T> {
        JsView {
            buffer: Arc::clone(&self.buffer),
        }
    }
}

/// Keeps a view's memory alive and makes typed arrays over it; it never reads or writes
/// the contents, so any number may exist beside the [`SharedView`].
pub struct JsView<T: Element> {
    buffer: Arc<Buffer<T>>,
}

impl<T: Element> JsView<T> {
    /// A new typed array over the whole buffer.
    pub fn to_js(&self) -> T::Array {
        let data = self.buffer.data;
        // SAFETY: the typed array keeps a clone of the `Arc`, so the buffer outlives it.
        unsafe { T::external(data.as_ptr().cast::<T>(), data.len(), self.clone()) }
    }
}

impl<T: Element> Clone for JsView<T> {
    fn clone(&self) -> Self {
        JsView {
            buffer: Arc::clone(&self.buffer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_land_in_the_memory_a_js_view_keeps_alive() {
        let mut view = SharedView::<f64>::new(3);
        let keep = view.js();
        // SAFETY: no JavaScript in a unit test.
        unsafe { view.as_mut_slice() }.copy_from_slice(&[1.0, 2.0, 3.0]);
        assert_eq!(view.len(), 3);
        drop(view);
        // SAFETY: `keep` holds the buffer; nothing writes it any more.
        let read = unsafe { &*keep.buffer.data.as_ptr() };
        assert_eq!(read, &[1.0, 2.0, 3.0]);
    }

    #[test]
    fn an_empty_view_is_valid() {
        let mut view = SharedView::<u8>::new(0);
        // SAFETY: as above.
        assert!(unsafe { view.as_mut_slice() }.is_empty());
    }
}
