//! Fixed window counter.
//!
//! Time is cut into windows `[k·window, (k+1)·window)` of the clock; each key counts the
//! units admitted in the current window and admits while the count stays within `limit`.
//! It is the cheapest algorithm, and the loosest: a burst at the end of one window and
//! another at the start of the next can admit up to `2·limit` in a window-long interval.

use crate::algorithm::Algorithm;
use crate::decision::Decision;
use crate::error::LimitError;
use crate::quota::Quota;

/// At most `quota.limit()` units per aligned `quota.window()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedWindow {
    quota: Quota,
}

/// Per-key state of [`FixedWindow`]. 16 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixedWindowState {
    /// Index k of the window counted in; never moves back.
    window: u64,
    /// Units admitted in that window: at most `limit`.
    count: u32,
}

impl FixedWindow {
    /// A fixed window counter for `quota`.
    ///
    /// Errors when the quota's burst differs from its limit.
    pub fn new(quota: Quota) -> Result<Self, LimitError> {
        Ok(FixedWindow {
            quota: quota.require_burst_equals_limit()?,
        })
    }

    /// The start of window `index` (saturating at the end of time).
    fn start(&self, index: u64) -> u64 {
        index.saturating_mul(self.quota.window_ns())
    }
}

impl Algorithm for FixedWindow {
    type State = FixedWindowState;

    fn quota(&self) -> &Quota {
        &self.quota
    }

    fn new_state(&self) -> FixedWindowState {
        FixedWindowState::default()
    }

    fn decide(
        &self,
        state: &mut FixedWindowState,
        now_ns: u64,
        cost: u64,
    ) -> Result<Decision, LimitError> {
        let now_ns = self.quota.check_request(cost, now_ns)?;
        let now_ns = now_ns.max(self.start(state.window));
        let index = now_ns / self.quota.window_ns();
        if index != state.window {
            *state = FixedWindowState {
                window: index,
                count: 0,
            };
        }
        let limit = u64::from(self.quota.limit().get());
        let until_next = self.start(index.saturating_add(1)) - now_ns;
        let count = u64::from(state.count);
        if count + cost <= limit {
            // Within the limit, which is a u32.
            state.count = (count + cost) as u32;
            let reset = if state.count > 0 { until_next } else { 0 };
            Ok(Decision::allowed(limit - count - cost, reset))
        } else {
            Ok(Decision::denied(limit - count, until_next, until_next))
        }
    }

    fn idle_at(&self, state: &FixedWindowState) -> u64 {
        if state.count == 0 {
            return 0;
        }
        self.start(state.window.saturating_add(1))
    }
}
