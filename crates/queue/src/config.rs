//! The configuration of a [`PriorityQueue`](crate::PriorityQueue), validated at construction.

use std::time::Duration;

use crate::error::QueueError;

/// Priority levels: 0 (Critical), 1 (High), 2 (Normal), 3 (Low).
pub const LEVELS: usize = 4;

/// Largest capacity accepted: ids beyond it would not fit the admission counter's range on
/// 32-bit targets, and a queue that large is a configuration mistake.
pub const MAX_CAPACITY: usize = 1 << 30;

/// Largest weight of a level; the schedule holds `sum(weights)` entries.
pub const MAX_WEIGHT: u32 = 1_000;

/// What a push does when the queue holds `capacity` ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Fail at once with [`QueueError::Full`].
    Reject,
    /// Wait for a pop to make room, up to this long, then fail with [`QueueError::Full`].
    Wait(Duration),
}

/// Options of a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Most ids queued at once, across levels: 1 to [`MAX_CAPACITY`]. Default 10,000.
    pub capacity: usize,
    /// Share of pops each level is offered first, 1 to [`MAX_WEIGHT`] each: a level with work
    /// gets at least `weight / sum(weights)` of the pops. Default `[8, 4, 2, 1]`.
    pub weights: [u32; LEVELS],
    /// Back-pressure policy of [`PriorityQueue::push`](crate::PriorityQueue::push). Default
    /// [`WhenFull::Reject`].
    pub when_full: WhenFull,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            weights: [8, 4, 2, 1],
            when_full: WhenFull::Reject,
        }
    }
}

impl QueueConfig {
    pub(crate) fn validate(&self) -> Result<(), QueueError> {
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return Err(QueueError::InvalidConfig(format!(
                "capacity: expected 1 to {MAX_CAPACITY}, got {}",
                self.capacity
            )));
        }
        if let Some(w) = self.weights.iter().find(|w| !(1..=MAX_WEIGHT).contains(*w)) {
            return Err(QueueError::InvalidConfig(format!(
                "weights: expected each 1 to {MAX_WEIGHT}, got {w}"
            )));
        }
        Ok(())
    }
}
