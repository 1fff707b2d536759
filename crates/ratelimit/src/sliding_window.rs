//! Sliding window counter: the weighted two-window approximation of a sliding window
//! (as described by Cloudflare, "How we built rate limiting capable of scaling to
//! millions of domains", 2017).
//!
//! Time is cut into aligned windows as in [`crate::FixedWindow`]; a key keeps the count of
//! the previous window and of the current one, and at a fraction f of the way through the
//! current window estimates the last window-long interval as
//! `previous·(1 − f) + current`, i.e. it assumes the previous window's units were spread
//! evenly. A request of cost n is admitted when that estimate plus n is at most `limit`.
//! 16 bytes per key, against up to `8·limit` for the exact [`crate::SlidingLog`].
//!
//! # Approximation bound
//!
//! Each aligned window admits at most `limit` (the estimate is at least `current`). For
//! any admission at fraction f = e/window into a window whose predecessor admitted `p`,
//! the exact count of units admitted in the window-long interval ending then is at most
//! `limit + ⌊p·e / window⌋`: the estimate charged the predecessor `p·(1 − f)`, and at most
//! all `p` of its units can really lie in the interval. So the overshoot over the exact
//! sliding window is at most `p·f < limit` (strictly below `2·limit` in all), reached only
//! when the previous window's units bunched at its end; with evenly spread traffic it is at
//! most a unit or two of rounding. It can also under-admit, by at most `p·(1 − f)`, when
//! they bunched at its start.

use crate::algorithm::Algorithm;
use crate::decision::Decision;
use crate::error::LimitError;
use crate::quota::{div_rem, saturate, Quota};

/// The weighted two-window approximation of at most `quota.limit()` units per sliding
/// `quota.window()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindow {
    quota: Quota,
}

/// Per-key state of [`SlidingWindow`]. 16 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlidingWindowState {
    /// Index k of the current window; never moves back.
    window: u64,
    /// Units admitted in window k − 1: at most `limit`.
    previous: u32,
    /// Units admitted in window k: at most `limit`.
    current: u32,
}

impl SlidingWindow {
    /// A sliding window counter for `quota`.
    ///
    /// Errors when the quota's burst differs from its limit.
    pub fn new(quota: Quota) -> Result<Self, LimitError> {
        Ok(SlidingWindow {
            quota: quota.require_burst_equals_limit()?,
        })
    }

    /// The start of window `index` (saturating at the end of time).
    fn start(&self, index: u64) -> u64 {
        index.saturating_mul(self.quota.window_ns())
    }

    /// The earliest offset into a window at which `count` units weighted by the part of
    /// the window still to come fit in `budget` (scaled by the window):
    /// the least e with `count·(window − e) ≤ budget`.
    fn fits_from(&self, budget: u128, count: u32) -> u64 {
        let window = self.quota.window_ns();
        if count == 0 {
            return 0;
        }
        window - saturate(div_rem(budget, u64::from(count)).0).min(window)
    }
}

impl Algorithm for SlidingWindow {
    type State = SlidingWindowState;

    fn quota(&self) -> &Quota {
        &self.quota
    }

    fn new_state(&self) -> SlidingWindowState {
        SlidingWindowState::default()
    }

    fn decide(
        &self,
        state: &mut SlidingWindowState,
        now_ns: u64,
        cost: u64,
    ) -> Result<Decision, LimitError> {
        let now_ns = self.quota.check_request(cost, now_ns)?;
        let window = self.quota.window_ns();
        let now_ns = now_ns.max(self.start(state.window));
        let index = now_ns / window;
        if index != state.window {
            let previous = if index == state.window + 1 {
                state.current
            } else {
                0
            };
            *state = SlidingWindowState {
                window: index,
                previous,
                current: 0,
            };
        }
        let elapsed = now_ns - self.start(index);
        let w = u128::from(window);
        let limit = u64::from(self.quota.limit().get());
        let (previous, current) = (u128::from(state.previous), u64::from(state.current));
        // The estimate, scaled by the window so it stays an integer.
        let used = previous * u128::from(window - elapsed) + u128::from(current) * w;
        let ceiling = u128::from(limit) * w;
        if used + u128::from(cost) * w <= ceiling {
            // Within the limit, which is a u32.
            state.current = (current + cost) as u32;
            let left = ceiling - used - u128::from(cost) * w;
            return Ok(Decision::allowed(
                self.quota.whole_tokens(left),
                self.idle_at(state).saturating_sub(now_ns),
            ));
        }
        let wait = if current + cost <= limit {
            // The previous window's weight must fade, within this window.
            self.fits_from(u128::from(limit - current - cost) * w, state.previous)
                .saturating_sub(elapsed)
        } else {
            // This window is spent: wait for the next, where it weighs as the previous one.
            (window - elapsed) + self.fits_from(u128::from(limit - cost) * w, state.current)
        };
        let left = ceiling.saturating_sub(used);
        Ok(Decision::denied(
            self.quota.whole_tokens(left),
            wait,
            self.idle_at(state).saturating_sub(now_ns),
        ))
    }

    fn idle_at(&self, state: &SlidingWindowState) -> u64 {
        // A window's count weighs until the end of the window after it.
        let windows_left = if state.current > 0 {
            2
        } else if state.previous > 0 {
            1
        } else {
            return 0;
        };
        self.start(state.window.saturating_add(windows_left))
    }
}
