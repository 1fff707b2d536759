//! Token bucket with continuous refill.
//!
//! A bucket holds up to `burst` tokens and gains `limit` tokens per `window`, continuously
//! (fractions of a token accrue, as in Go's `x/time/rate` and Bucket4j's greedy refill); a
//! request of cost n is admitted when n tokens are present, and takes them. The state is
//! the textbook pair (level, time of last update); the level is refilled lazily when the
//! key is next seen.
//!
//! It admits exactly what [`crate::Gcra`] admits for the same quota (GCRA is this bucket
//! written as a single timestamp); the two differ in state size and in which form a
//! reader finds natural. Levels are exact integers in the scaled units described in `quota.rs`.

use crate::algorithm::Algorithm;
use crate::decision::Decision;
use crate::error::LimitError;
use crate::quota::{div_rem, Quota};

/// Token bucket: capacity `quota.burst()`, refilled at `quota.limit()` per `quota.window()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    quota: Quota,
}

/// Per-key state of a [`TokenBucket`]: the level at the last update, in whole tokens plus
/// a remainder in scaled units (`level = tokens × window_ns + fraction`). 24 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucketState {
    /// When the level was last brought up to date; never moves back.
    updated_ns: u64,
    /// The fractional token, in scaled units: below `window_ns`.
    fraction: u64,
    /// Whole tokens: at most the burst.
    tokens: u32,
}

impl TokenBucket {
    /// A token bucket enforcing `quota`.
    pub fn new(quota: Quota) -> Self {
        TokenBucket { quota }
    }

    /// The level of `state` brought up to `now_ns` (scaled units), and that time.
    fn refill(&self, state: &TokenBucketState, now_ns: u64) -> (u128, u64) {
        let now_ns = now_ns.max(state.updated_ns);
        let stored = self.quota.scaled_tokens(u64::from(state.tokens)) + u128::from(state.fraction);
        let refill = self.quota.scaled_ns(now_ns - state.updated_ns);
        (
            stored
                .saturating_add(refill)
                .min(self.quota.scaled_capacity()),
            now_ns,
        )
    }
}

impl Algorithm for TokenBucket {
    type State = TokenBucketState;

    fn quota(&self) -> &Quota {
        &self.quota
    }

    fn new_state(&self) -> TokenBucketState {
        TokenBucketState {
            updated_ns: 0,
            fraction: 0,
            tokens: self.quota.burst().get(),
        }
    }

    fn decide(
        &self,
        state: &mut TokenBucketState,
        now_ns: u64,
        cost: u64,
    ) -> Result<Decision, LimitError> {
        let now_ns = self.quota.check_request(cost, now_ns)?;
        let q = &self.quota;
        let (mut level, now_ns) = self.refill(state, now_ns);
        let need = q.scaled_tokens(cost);
        let allowed = level >= need;
        if allowed {
            level -= need;
        }
        let (tokens, fraction) = div_rem(level, q.window_ns());
        *state = TokenBucketState {
            updated_ns: now_ns,
            // The level is at most the capacity, so the whole part is at most the burst.
            tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
            fraction,
        };
        let remaining = u64::from(state.tokens);
        let reset_ns = q.ns_ceil(q.scaled_capacity() - level);
        Ok(if allowed {
            Decision::allowed(remaining, reset_ns)
        } else {
            Decision::denied(remaining, q.ns_ceil(need - level), reset_ns)
        })
    }

    fn idle_at(&self, state: &TokenBucketState) -> u64 {
        let (level, at) = self.refill(state, state.updated_ns);
        at.saturating_add(self.quota.ns_ceil(self.quota.scaled_capacity() - level))
    }
}
