//! Counters of a keyed store.

use std::ops::AddAssign;

use crate::decision::Decision;

/// What a [`crate::KeyedLimiter`] has done since it was created. Errors (bad keys, costs
/// above capacity) are not decisions and are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Keys tracked now.
    pub keys: u64,
    /// Idle keys forgotten, by sweeps and by eviction on insert.
    pub evictions: u64,
    /// Requests of new keys denied because the store was at `max_keys`.
    pub rejected_at_cap: u64,
    /// Requests of new keys admitted without tracking because the store was at `max_keys`.
    pub allowed_untracked: u64,
    /// Requests admitted (including `allowed_untracked`).
    pub allowed: u64,
    /// Requests denied (including `rejected_at_cap`).
    pub denied: u64,
}

impl Stats {
    /// Counts one decision.
    pub(crate) fn record(&mut self, decision: &Decision) {
        if decision.allowed {
            self.allowed += 1;
        } else {
            self.denied += 1;
        }
    }
}

impl AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        self.keys += other.keys;
        self.evictions += other.evictions;
        self.rejected_at_cap += other.rejected_at_cap;
        self.allowed_untracked += other.allowed_untracked;
        self.allowed += other.allowed;
        self.denied += other.denied;
    }
}
