//! Output buffers shared by every codec: the caller-buffer size check of the
//! `compress_into` functions, and the budget through which every decoder appends, so
//! that no decoder can grow its output (or its allocation) past the caller's limit.

use std::cell::RefCell;

use crate::CodecError;

/// Refuses a caller buffer smaller than the worst-case compressed size.
pub(crate) fn check_capacity(available: usize, bound: usize) -> Result<(), CodecError> {
    if available < bound {
        return Err(CodecError::InvalidArgument(format!(
            "output buffer must hold at least {bound} bytes, got {available}"
        )));
    }
    Ok(())
}

/// Runs a `compress_into`-style function on a fresh buffer of `bound` bytes and returns
/// what it wrote, trimmed.
pub(crate) fn compress_to_vec(
    bound: usize,
    compress_into: impl FnOnce(&mut [u8]) -> Result<usize, CodecError>,
) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![0u8; bound];
    let written = compress_into(&mut out)?;
    out.truncate(written);
    out.shrink_to_fit();
    Ok(out)
}

/// Smallest output window a coder is offered.
const MIN_WINDOW: usize = 4 << 10;

/// Output window for a call that was given `input_len` bytes: in proportion to the
/// input, within `[4 KiB, max]`. Coders loop while a window fills, so this only trades
/// call count against zeroing and allocating room a small write never uses.
pub(crate) fn window_for(input_len: usize, max: usize) -> usize {
    input_len
        .saturating_mul(4)
        .clamp(MIN_WINDOW, max.max(MIN_WINDOW))
}

/// How many more bytes a decoder may append before it has exceeded its caller's limit.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    limit: usize,
    used: usize,
}

impl Budget {
    /// A budget of `limit` bytes. Encoders use `usize::MAX`.
    pub(crate) fn new(limit: usize) -> Self {
        Budget { limit, used: 0 }
    }

    /// The limit this budget was created with.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes still allowed.
    pub(crate) fn remaining(&self) -> usize {
        self.limit - self.used
    }

    fn exceeded(&self) -> CodecError {
        CodecError::OutputLimit { limit: self.limit }
    }

    /// Refuses up front a size that a header declares, before any memory is spent on
    /// it. Declared sizes are never trusted further: decoders stay bounded regardless.
    pub(crate) fn check_declared(&self, size: u64) -> Result<(), CodecError> {
        match usize::try_from(size) {
            Ok(size) if size <= self.remaining() => Ok(()),
            _ => Err(self.exceeded()),
        }
    }

    fn charge(&mut self, written: usize) -> Result<(), CodecError> {
        if written > self.remaining() {
            return Err(self.exceeded());
        }
        self.used += written;
        Ok(())
    }

    /// Appends to `out` whatever `fill` writes into a zeroed window of at most `want`
    /// bytes; `fill` returns how many bytes it wrote and any value to pass on.
    ///
    /// The window is at most one byte longer than what remains: a decoder that fills
    /// that byte has proven its output too large, and it was never stored past it.
    pub(crate) fn fill<T>(
        &mut self,
        out: &mut Vec<u8>,
        want: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(usize, T), CodecError>,
    ) -> Result<T, CodecError> {
        let ceiling = self.remaining().saturating_add(1);
        let window = want.min(ceiling);
        let start = out.len();
        reserve_within(out, window, ceiling);
        out.resize(start + window, 0);
        let result = fill(&mut out[start..]);
        let (written, value) = match result {
            Ok((written, value)) => (written.min(window), value),
            Err(err) => {
                out.truncate(start);
                return Err(err);
            }
        };
        out.truncate(start + written);
        if let Err(err) = self.charge(written) {
            out.truncate(start);
            return Err(err);
        }
        Ok(value)
    }

    /// Appends bytes that are stored verbatim in the stream (uncompressed chunks).
    pub(crate) fn extend(&mut self, out: &mut Vec<u8>, data: &[u8]) -> Result<(), CodecError> {
        let ceiling = self.remaining();
        self.charge(data.len())?;
        reserve_within(out, data.len(), ceiling);
        out.extend_from_slice(data);
        Ok(())
    }
}

/// Makes room for `additional` bytes, growing geometrically as `Vec` does but never
/// past `ceiling` bytes beyond the current end: the allocation stays within the budget.
fn reserve_within(out: &mut Vec<u8>, additional: usize, ceiling: usize) {
    let spare = out.capacity() - out.len();
    if spare >= additional {
        return;
    }
    let grow = out.len().clamp(additional, ceiling.max(additional));
    out.reserve_exact(grow);
}

/// Largest scratch buffer a thread keeps between calls; larger ones are freed.
const SCRATCH_KEEP: usize = 1 << 20;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Implements `decompress_into` for decoders that append to a `Vec`: decodes into a
/// reused per-thread buffer bounded by `out.len()` (or `max_output` if smaller), then
/// copies. Returns `Ok(None)` when the output outgrows `out` but not `max_output`.
pub(crate) fn decode_via_scratch(
    out: &mut [u8],
    max_output: usize,
    decode: impl FnOnce(&mut Vec<u8>, Budget) -> Result<(), CodecError>,
) -> Result<Option<usize>, CodecError> {
    let limit = out.len().min(max_output);
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        let result = match decode(scratch, Budget::new(limit)) {
            Ok(()) => {
                out[..scratch.len()].copy_from_slice(scratch);
                Ok(Some(scratch.len()))
            }
            Err(CodecError::OutputLimit { .. }) if limit < max_output => Ok(None),
            Err(CodecError::OutputLimit { .. }) => {
                Err(CodecError::OutputLimit { limit: max_output })
            }
            Err(err) => Err(err),
        };
        if scratch.capacity() > SCRATCH_KEEP {
            *scratch = Vec::new();
        }
        result
    })
}

/// Collects records (headers, chunks, blocks) that a streaming decoder needs whole but
/// that may arrive split across `write` calls. A record lying whole in the input is
/// handed out in place; only split records are copied.
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    pending: Vec<u8>,
    /// The last record handed out came from `pending`, which must be emptied next.
    handed_out: bool,
}

impl Reassembly {
    /// Takes the next `len` bytes from `input` (advancing it) when they are all there,
    /// counting bytes kept from earlier calls; otherwise keeps what there is.
    pub(crate) fn take<'r, 'i: 'r>(
        &'r mut self,
        input: &mut &'i [u8],
        len: usize,
    ) -> Option<&'r [u8]> {
        if self.handed_out {
            self.pending.clear();
            self.handed_out = false;
        }
        if self.pending.is_empty() && input.len() >= len {
            let (record, rest) = input.split_at(len);
            *input = rest;
            return Some(record);
        }
        let missing = len.saturating_sub(self.pending.len());
        let (part, rest) = input.split_at(missing.min(input.len()));
        self.pending.extend_from_slice(part);
        *input = rest;
        if self.pending.len() < len {
            return None;
        }
        self.handed_out = true;
        Some(&self.pending)
    }

    /// Whether a record was started but not completed.
    pub(crate) fn is_partial(&self) -> bool {
        !self.handed_out && !self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_refuses_the_byte_past_the_limit() {
        let mut budget = Budget::new(10);
        let mut out = b"prefix".to_vec();
        let err = budget
            .fill(&mut out, 100, |dst| {
                assert_eq!(dst.len(), 11);
                dst.fill(1);
                Ok((dst.len(), ()))
            })
            .expect_err("limit");
        assert_eq!(err, CodecError::OutputLimit { limit: 10 });
        assert_eq!(out, b"prefix");
        budget
            .fill(&mut out, 100, |_| Ok((10, ())))
            .expect("exactly the limit");
        assert_eq!(out.len(), 16);
        assert_eq!(budget.remaining(), 0);
    }

    #[test]
    fn growth_stays_within_the_budget() {
        let mut budget = Budget::new(1000);
        let mut out = Vec::new();
        for _ in 0..10 {
            budget
                .fill(&mut out, 100, |dst| Ok((dst.len().min(100), ())))
                .expect("fits");
        }
        assert!(out.capacity() <= 1001, "capacity {}", out.capacity());
    }

    #[test]
    fn declared_sizes_beyond_the_budget_are_refused() {
        let budget = Budget::new(5);
        assert!(budget.check_declared(5).is_ok());
        assert!(budget.check_declared(6).is_err());
        assert!(budget.check_declared(u64::MAX).is_err());
    }

    #[test]
    fn reassembly_hands_out_records_split_across_calls() {
        let mut parts = Reassembly::default();
        let mut input: &[u8] = b"ab";
        assert_eq!(parts.take(&mut input, 4), None);
        assert!(parts.is_partial());
        let mut input: &[u8] = b"cdefg";
        assert_eq!(parts.take(&mut input, 4), Some(&b"abcd"[..]));
        assert_eq!(parts.take(&mut input, 2), Some(&b"ef"[..]));
        assert_eq!(input, b"g");
        assert!(!parts.is_partial());
    }

    #[test]
    fn short_buffers_are_refused_by_name() {
        let err = check_capacity(3, 4).expect_err("short");
        assert_eq!(
            err.to_string(),
            "invalid argument: output buffer must hold at least 4 bytes, got 3"
        );
    }
}
