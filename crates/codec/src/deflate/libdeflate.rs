//! libdeflate, the whole-buffer DEFLATE implementation (about twice zlib's speed on
//! both sides): per-thread compressors per level, and a per-thread decompressor.
//!
//! Compression goes through libdeflater's safe `Compressor`. Decompression calls the
//! library's `*_decompress_ex` functions directly, because only they report how much
//! input a stream consumed, which is how a second gzip member or trailing garbage is
//! told apart from the end of the data.

use std::alloc::{handle_alloc_error, Layout};
use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr::{self, NonNull};

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_deflate_compress_bound,
    libdeflate_deflate_decompress_ex, libdeflate_free_decompressor, libdeflate_gzip_compress_bound,
    libdeflate_gzip_decompress_ex, libdeflate_result,
    libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE, libdeflate_result_LIBDEFLATE_SUCCESS,
    libdeflate_zlib_compress_bound, libdeflate_zlib_decompress_ex,
};
use libdeflater::{CompressionLvl, Compressor};

use super::Format;
use crate::CodecError;

thread_local! {
    /// Indexed by level. A compressor holds its level's match-finder tables, so
    /// building one per call would cost more than compressing a small payload.
    static COMPRESSORS: RefCell<Vec<Option<Compressor>>> = const { RefCell::new(Vec::new()) };
    static DECOMPRESSOR: Decompressor = Decompressor::new();
}

/// Worst-case compressed size of `len` bytes at any level.
pub(super) fn compress_bound(format: Format, len: usize) -> usize {
    let bound = match format {
        Format::Gzip => libdeflate_gzip_compress_bound,
        Format::Zlib => libdeflate_zlib_compress_bound,
        Format::Raw => libdeflate_deflate_compress_bound,
    };
    // SAFETY: a null compressor is documented to mean "any compressor this build can
    // allocate"; the call only computes a number.
    unsafe { bound(ptr::null_mut(), len) }
}

/// Compresses `input` into `out`, which holds at least [`compress_bound`] bytes.
pub(super) fn compress(
    format: Format,
    input: &[u8],
    out: &mut [u8],
    level: i32,
) -> Result<usize, CodecError> {
    let slot = usize::try_from(level).map_err(|_| level_error(level))?;
    COMPRESSORS.with_borrow_mut(|compressors| {
        if compressors.len() <= slot {
            compressors.resize_with(slot + 1, || None);
        }
        let compressor = match &mut compressors[slot] {
            Some(compressor) => compressor,
            empty => empty.insert(Compressor::new(
                CompressionLvl::new(level).map_err(|_| level_error(level))?,
            )),
        };
        match format {
            Format::Gzip => compressor.gzip_compress(input, out),
            Format::Zlib => compressor.zlib_compress(input, out),
            Format::Raw => compressor.deflate_compress(input, out),
        }
        .map_err(|err| CodecError::InvalidArgument(err.to_string()))
    })
}

fn level_error(level: i32) -> CodecError {
    CodecError::InvalidArgument(format!(
        "libdeflate level must be between 0 and 12, got {level}"
    ))
}

/// Why libdeflate stopped short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shortfall {
    /// The output did not fit the buffer.
    Space,
    /// The input is not a valid stream (or is truncated).
    Corrupt,
}

/// Decodes the one stream (or gzip member) at the start of `input` into `out`.
/// Returns the input bytes consumed and the output bytes written.
pub(super) fn decompress_one(
    format: Format,
    input: &[u8],
    out: &mut [u8],
) -> Result<(usize, usize), Shortfall> {
    DECOMPRESSOR.with(|decompressor| decompressor.decompress(format, input, out))
}

/// An owned `libdeflate_decompressor`. It is stateless between calls and only used
/// through a thread-local, so sharing it within the thread is sound.
struct Decompressor(NonNull<libdeflate_decompressor>);

impl Decompressor {
    fn new() -> Self {
        // SAFETY: no preconditions; a null result means the allocation failed.
        let raw = unsafe { libdeflate_alloc_decompressor() };
        match NonNull::new(raw) {
            Some(raw) => Decompressor(raw),
            None => handle_alloc_error(Layout::new::<[u8; 1 << 14]>()),
        }
    }

    fn decompress(
        &self,
        format: Format,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), Shortfall> {
        let decompress = match format {
            Format::Gzip => libdeflate_gzip_decompress_ex,
            Format::Zlib => libdeflate_zlib_decompress_ex,
            Format::Raw => libdeflate_deflate_decompress_ex,
        };
        let (mut consumed, mut written) = (0usize, 0usize);
        // SAFETY: the decompressor is live and owned by this thread; the input and
        // output pointers come from slices of the lengths passed alongside them; the
        // two counters are valid for writes.
        let result: libdeflate_result = unsafe {
            decompress(
                self.0.as_ptr(),
                input.as_ptr().cast::<c_void>(),
                input.len(),
                out.as_mut_ptr().cast::<c_void>(),
                out.len(),
                &mut consumed,
                &mut written,
            )
        };
        if result == libdeflate_result_LIBDEFLATE_SUCCESS {
            Ok((consumed, written))
        } else if result == libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE {
            Err(Shortfall::Space)
        } else {
            Err(Shortfall::Corrupt)
        }
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by `libdeflate_alloc_decompressor` and freed only here.
        unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}
