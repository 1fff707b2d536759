//! The answer to one request.

const NANOS_PER_MS: u64 = 1_000_000;

/// The outcome of a request of some cost.
///
/// Durations are whole milliseconds rounded up, so a caller that waits `retry_after_ms`
/// and asks again with the same cost is admitted (if nothing else consumed in between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request was admitted (and its cost consumed).
    pub allowed: bool,
    /// Whole units a further request could have right now, after this decision (the
    /// fractional part of a partly refilled bucket is left out, so it suits a
    /// `RateLimit-Remaining` header as is).
    pub remaining: u64,
    /// When denied: milliseconds until the same request would be admitted. 0 when allowed.
    pub retry_after_ms: u64,
    /// Milliseconds until the limiter is back to full for this key (bucket refilled,
    /// window passed); 0 when it is full now.
    pub reset_ms: u64,
}

impl Decision {
    /// An admitted request.
    pub(crate) fn allowed(remaining: u64, reset_ns: u64) -> Self {
        Decision {
            allowed: true,
            remaining,
            retry_after_ms: 0,
            reset_ms: ceil_ms(reset_ns),
        }
    }

    /// A denied request.
    pub(crate) fn denied(remaining: u64, retry_after_ns: u64, reset_ns: u64) -> Self {
        Decision {
            allowed: false,
            remaining,
            retry_after_ms: ceil_ms(retry_after_ns),
            reset_ms: ceil_ms(reset_ns),
        }
    }
}

fn ceil_ms(ns: u64) -> u64 {
    ns.div_ceil(NANOS_PER_MS)
}
