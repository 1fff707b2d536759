//! A validated rate: `limit` units per `window`, with a `burst` (capacity).
//!
//! Exact arithmetic: one unit is emitted every `window / limit` nanoseconds, which is rarely
//! a whole number (1000 ms / 3). Rounding it would make boundaries drift by up to `limit`
//! nanoseconds per window, so the bucket algorithms work in *scaled time* instead: one
//! nanosecond is `limit` scaled units and one token is `window_ns` scaled units. Every
//! quantity is then an integer, held in `u128` while computing (the largest, `burst ×
//! window`, is below 2^94).

use std::num::NonZeroU32;
use std::time::Duration;

use crate::error::LimitError;

/// The longest window, and the longest time a bucket may take to refill from empty:
/// 2^62 ns (146 years).
pub const MAX_PERIOD_NS: u64 = 1 << 62;

/// The latest time the algorithms tell apart: 2^63 ns (292 years after the clock's
/// origin); later times count as this one. With [`MAX_PERIOD_NS`] it keeps every sum of
/// a time and a period inside `u64`.
pub const LAST_INSTANT_NS: u64 = 1 << 63;

/// A rate of `limit` units per `window`, able to admit `burst` units at once.
///
/// `burst` defaults to `limit`. Only the bucket algorithms (token bucket, GCRA) accept
/// another burst; the window algorithms admit exactly `limit` per window and reject a
/// quota whose burst differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    limit: NonZeroU32,
    window_ns: u64,
    burst: NonZeroU32,
}

impl Quota {
    /// `limit` units per `window`, with a burst of `limit`.
    ///
    /// Errors when `limit` is 0 or above `u32::MAX`, or `window` is under 1 ns or above
    /// [`MAX_PERIOD_NS`].
    pub fn new(limit: u64, window: Duration) -> Result<Self, LimitError> {
        let limit = positive_u32("limit", limit)?;
        let window_ns = u64::try_from(window.as_nanos())
            .ok()
            .filter(|ns| (1..=MAX_PERIOD_NS).contains(ns))
            .ok_or_else(|| {
                LimitError::invalid("window", "from 1 ns to 2^62 ns", format_args!("{window:?}"))
            })?;
        Ok(Quota {
            limit,
            window_ns,
            burst: limit,
        })
    }

    /// The same rate with a capacity of `burst` units.
    ///
    /// Errors when `burst` is 0 or above `u32::MAX`, or when refilling `burst` units would
    /// take longer than [`MAX_PERIOD_NS`].
    pub fn with_burst(self, burst: u64) -> Result<Self, LimitError> {
        let burst = positive_u32("burst", burst)?;
        let quota = Quota { burst, ..self };
        if quota.ns_ceil(quota.scaled_tokens(u64::from(burst.get()))) > MAX_PERIOD_NS {
            return Err(LimitError::invalid(
                "burst",
                "burst × window / limit of at most 2^62 ns",
                burst,
            ));
        }
        Ok(quota)
    }

    /// Units admitted per window.
    pub fn limit(&self) -> NonZeroU32 {
        self.limit
    }

    /// The window.
    pub fn window(&self) -> Duration {
        Duration::from_nanos(self.window_ns)
    }

    /// The window in nanoseconds (at least 1).
    pub fn window_ns(&self) -> u64 {
        self.window_ns
    }

    /// Units admitted at once: the capacity of the bucket algorithms.
    pub fn burst(&self) -> NonZeroU32 {
        self.burst
    }

    /// The window algorithms count `limit` per window and have no separate burst.
    pub(crate) fn require_burst_equals_limit(self) -> Result<Self, LimitError> {
        if self.burst != self.limit {
            return Err(LimitError::invalid(
                "burst",
                "no burst other than limit for fixed and sliding windows (use token-bucket or gcra for bursts)",
                self.burst,
            ));
        }
        Ok(self)
    }

    /// Validates a request: errors when `cost` exceeds the burst (such a request could
    /// never be admitted); otherwise returns `now_ns` limited to [`LAST_INSTANT_NS`].
    pub(crate) fn check_request(&self, cost: u64, now_ns: u64) -> Result<u64, LimitError> {
        let capacity = u64::from(self.burst.get());
        if cost > capacity {
            return Err(LimitError::CostExceedsCapacity { cost, capacity });
        }
        Ok(now_ns.min(LAST_INSTANT_NS))
    }

    /// `ns` nanoseconds in scaled units.
    pub(crate) fn scaled_ns(&self, ns: u64) -> u128 {
        u128::from(ns) * u128::from(self.limit.get())
    }

    /// `tokens` units in scaled units (saturating: only a cost above capacity can get near).
    pub(crate) fn scaled_tokens(&self, tokens: u64) -> u128 {
        u128::from(tokens).saturating_mul(u128::from(self.window_ns))
    }

    /// The capacity (`burst` units) in scaled units.
    pub(crate) fn scaled_capacity(&self) -> u128 {
        self.scaled_tokens(u64::from(self.burst.get()))
    }

    /// Whole units in a scaled amount (floor).
    pub(crate) fn whole_tokens(&self, scaled: u128) -> u64 {
        saturate(div_rem(scaled, self.window_ns).0)
    }

    /// Nanoseconds covering a scaled duration (ceiling, so waiting that long suffices).
    pub(crate) fn ns_ceil(&self, scaled: u128) -> u64 {
        let (ns, rem) = div_rem(scaled, u64::from(self.limit.get()));
        saturate(ns + u128::from(rem > 0))
    }
}

fn positive_u32(name: &'static str, value: u64) -> Result<NonZeroU32, LimitError> {
    u32::try_from(value)
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| LimitError::invalid(name, "an integer from 1 to 4294967295", value))
}

/// `n / d` and `n % d` for a non-zero `d`. A 128-bit division is a library call several
/// times slower than a 64-bit one, and on the hot path `n` nearly always fits in 64 bits.
pub(crate) fn div_rem(n: u128, d: u64) -> (u128, u64) {
    match u64::try_from(n) {
        Ok(n) => (u128::from(n / d), n % d),
        // The remainder is below `d`, a u64.
        Err(_) => (n / u128::from(d), (n % u128::from(d)) as u64),
    }
}

/// A `u128` as `u64`, saturating; only configurations at the edges of time reach the cap.
pub(crate) fn saturate(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}
