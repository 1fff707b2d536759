//! Reference-based deltas, the `zstd --patch-from` idea: the new version is
//! compressed with the old one as a prefix (`ZSTD_CCtx_refPrefix`), so whatever the
//! two share costs a few bytes of match.
//!
//! As zstd(1) does, the window is widened to cover reference and input together
//! (`highbit(max(reference, input)) + 1`), and long-distance matching is enabled when
//! that window outgrows what the level's match finder can search. The decoder must
//! accept that window: it allows what `reference` and `max_output` justify, never less
//! than zstd's default.

use zstd::zstd_safe::zstd_sys::{self, ZSTD_strategy};
use zstd::zstd_safe::{CCtx, CParameter, DCtx};

use super::{
    check_level, configure, decode_frames, encoder_error, log2_ceil, prepare_dctx, window_log_max,
    window_log_range,
};
use crate::CodecError;

/// `highbit(size) + 1`, as zstd(1) computes the window for a patch, clamped to what
/// the library accepts.
fn patch_window_log(size: usize) -> u32 {
    let highbit = usize::BITS - size.max(1).leading_zeros() - 1;
    let range = window_log_range();
    (highbit + 1).clamp(*range.start(), *range.end())
}

/// Whether zstd(1) would switch long-distance matching on: the window exceeds the
/// span the level's chain (or binary tree) can search.
fn needs_long_distance(level: i32, input: usize, reference: usize, window_log: u32) -> bool {
    // SAFETY: a pure function of its arguments.
    let params = unsafe { zstd_sys::ZSTD_getCParams(level, input as u64, reference) };
    let tree = params.strategy as u32 >= ZSTD_strategy::ZSTD_btlazy2 as u32;
    let cycle_log = params.chainLog - u32::from(tree);
    window_log > cycle_log
}

fn context_error() -> CodecError {
    CodecError::InvalidArgument("zstd could not allocate a context".to_owned())
}

/// Compresses `new` against `reference`. The result decodes only with the same
/// reference, through [`decompress_patch`]; when the two share most of their content
/// it is a small fraction of `new`.
pub fn compress_patch(new: &[u8], reference: &[u8], level: i32) -> Result<Vec<u8>, CodecError> {
    check_level(level)?;
    let window_log = patch_window_log(new.len().max(reference.len()));
    let mut cctx = CCtx::try_create().ok_or_else(context_error)?;
    configure(&mut cctx, level, Some(window_log))?;
    if needs_long_distance(level, new.len(), reference.len(), window_log) {
        cctx.set_parameter(CParameter::EnableLongDistanceMatching(true))
            .map_err(encoder_error)?;
    }
    cctx.ref_prefix(reference).map_err(encoder_error)?;
    let mut out = Vec::with_capacity(super::compress_bound(new.len()));
    cctx.compress2(&mut out, new).map_err(encoder_error)?;
    Ok(out)
}

/// Rebuilds the new version from a patch made by [`compress_patch`] and the same
/// `reference`, refusing outputs above `max_output` bytes. Another reference is
/// [`CodecError::CorruptInput`] (the frame checksum fails).
pub fn decompress_patch(
    patch: &[u8],
    reference: &[u8],
    max_output: usize,
) -> Result<Vec<u8>, CodecError> {
    let mut dctx = DCtx::try_create().ok_or_else(context_error)?;
    let window_log = window_log_max(max_output)
        .max(log2_ceil(reference.len().max(max_output)).saturating_add(1))
        .min(*window_log_range().end());
    prepare_dctx(&mut dctx, max_output, window_log)?;
    dctx.ref_prefix(reference)
        .map_err(|code| super::decoder_error(code, max_output))?;
    decode_frames(&mut dctx, patch, max_output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_covers_reference_and_input() {
        assert_eq!(patch_window_log(0), 10);
        assert_eq!(patch_window_log(1 << 20), 21);
        assert_eq!(patch_window_log((1 << 20) + 1), 21);
        assert_eq!(patch_window_log(usize::MAX), *window_log_range().end());
    }

    #[test]
    fn long_distance_matching_turns_on_for_large_references() {
        assert!(needs_long_distance(
            3,
            1 << 20,
            1 << 20,
            patch_window_log(1 << 20)
        ));
        assert!(!needs_long_distance(3, 1000, 1000, patch_window_log(1000)));
    }
}
