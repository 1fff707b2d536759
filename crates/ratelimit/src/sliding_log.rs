//! Sliding window log: the exact sliding window.
//!
//! Each admitted unit's time is kept; a request of cost n at time t is admitted when the
//! units admitted in `(t − window, t]` plus n are at most `limit`. It never admits more
//! than `limit` in any window-long interval, and never denies what that rule allows. The
//! price is memory: up to `limit` timestamps (8 bytes each) per active key, so prefer
//! [`crate::SlidingWindow`] for large limits or many keys.

use std::collections::VecDeque;

use crate::algorithm::Algorithm;
use crate::decision::Decision;
use crate::error::LimitError;
use crate::quota::Quota;

/// The exact sliding window: at most `quota.limit()` units in any `quota.window()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingLog {
    quota: Quota,
}

/// Per-key state of [`SlidingLog`]: the times of the units admitted in the last window,
/// oldest first, one entry per unit (a request of cost n adds n). Never longer than
/// `limit`; the buffer grows geometrically up to `limit` entries and no further.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlidingLogState(VecDeque<u64>);

impl SlidingLogState {
    /// Units in the log as of the last decision (expired ones are dropped when the key is
    /// next decided).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the log holds no unit.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl SlidingLog {
    /// The exact sliding window for `quota`.
    ///
    /// Errors when the quota's burst differs from its limit.
    pub fn new(quota: Quota) -> Result<Self, LimitError> {
        Ok(SlidingLog {
            quota: quota.require_burst_equals_limit()?,
        })
    }

    /// When a unit admitted at `at_ns` stops counting.
    fn expiry(&self, at_ns: u64) -> u64 {
        at_ns.saturating_add(self.quota.window_ns())
    }
}

impl Algorithm for SlidingLog {
    type State = SlidingLogState;

    fn quota(&self) -> &Quota {
        &self.quota
    }

    fn new_state(&self) -> SlidingLogState {
        SlidingLogState::default()
    }

    fn decide(
        &self,
        state: &mut SlidingLogState,
        now_ns: u64,
        cost: u64,
    ) -> Result<Decision, LimitError> {
        let now_ns = self.quota.check_request(cost, now_ns)?;
        let log = &mut state.0;
        let now_ns = now_ns.max(log.back().copied().unwrap_or(0));
        while log.front().is_some_and(|&at| self.expiry(at) <= now_ns) {
            log.pop_front();
        }
        let limit = u64::from(self.quota.limit().get());
        // Both are at most `limit`, which fits u32 and so usize.
        let used = log.len() as u64;
        let until_empty =
            |log: &VecDeque<u64>| log.back().map_or(0, |&at| self.expiry(at) - now_ns);
        if used + cost <= limit {
            let len = log.len() + cost as usize;
            if log.capacity() < len {
                let grown = len.max(log.capacity() * 2).min(limit as usize);
                log.reserve_exact(grown - log.len());
            }
            log.extend(std::iter::repeat_n(now_ns, cost as usize));
            return Ok(Decision::allowed(limit - used - cost, until_empty(log)));
        }
        // The request fits once the oldest `used + cost − limit` units have expired.
        let wait = log
            .get((used + cost - limit - 1) as usize)
            .map_or(0, |&at| self.expiry(at) - now_ns);
        Ok(Decision::denied(limit - used, wait, until_empty(log)))
    }

    fn idle_at(&self, state: &SlidingLogState) -> u64 {
        state.0.back().map_or(0, |&at| self.expiry(at))
    }
}
