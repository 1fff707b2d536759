//! GCRA, the generic cell rate algorithm (ATM Forum Traffic Management Specification 4.0,
//! "virtual scheduling"; popularised for HTTP APIs by Brandur Leach's "Rate limiting,
//! cells, and GCRA" and redis-cell).
//!
//! Units are emitted every `T = window / limit`; the state is one timestamp, the
//! theoretical arrival time (TAT) at which the key would be back to empty-handed if it
//! kept to the rate. A request of cost n at time t is conforming when
//! `max(TAT, t) + n·T − t ≤ burst·T`, which for n = 1 is the classic `TAT − t ≤ τ` with a
//! burst tolerance `τ = (burst − 1)·T`; a conforming request moves TAT to
//! `max(TAT, t) + n·T`. This is the token bucket of [`crate::TokenBucket`] stored as a
//! single time (the bucket is full from TAT on), so both admit the same requests.
//!
//! A `now_ns` earlier than a previous one makes GCRA stricter, never looser; the keyed
//! store never passes one.

use crate::algorithm::Algorithm;
use crate::decision::Decision;
use crate::error::LimitError;
use crate::quota::{div_rem, saturate, Quota};

/// GCRA with emission interval `quota.window() / quota.limit()` and room for
/// `quota.burst()` units at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    quota: Quota,
}

/// Per-key state of [`Gcra`]: the theoretical arrival time, exactly
/// `tat_ns + tat_rem / limit` nanoseconds. 16 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcraState {
    /// Whole nanoseconds of the TAT.
    tat_ns: u64,
    /// The fraction of a nanosecond, in scaled units: below `limit`.
    tat_rem: u32,
}

impl Gcra {
    /// GCRA enforcing `quota`.
    pub fn new(quota: Quota) -> Self {
        Gcra { quota }
    }

    fn tat(&self, state: &GcraState) -> u128 {
        self.quota.scaled_ns(state.tat_ns) + u128::from(state.tat_rem)
    }
}

impl Algorithm for Gcra {
    type State = GcraState;

    fn quota(&self) -> &Quota {
        &self.quota
    }

    fn new_state(&self) -> GcraState {
        GcraState::default()
    }

    fn decide(
        &self,
        state: &mut GcraState,
        now_ns: u64,
        cost: u64,
    ) -> Result<Decision, LimitError> {
        let now_ns = self.quota.check_request(cost, now_ns)?;
        let q = &self.quota;
        let now = q.scaled_ns(now_ns);
        let tat = self.tat(state).max(now);
        let next = tat + q.scaled_tokens(cost);
        let capacity = q.scaled_capacity();
        // Time the key is ahead of the rate: `capacity − ahead` is what is left.
        let ahead = next - now;
        if ahead <= capacity {
            let (tat_ns, tat_rem) = div_rem(next, u64::from(q.limit().get()));
            *state = GcraState {
                tat_ns: saturate(tat_ns),
                // The remainder is below the limit, a u32.
                tat_rem: tat_rem as u32,
            };
            // ⌈ahead / limit⌉ from the quotient at hand, sparing a division.
            let ahead_ns = (tat_ns - u128::from(now_ns)) + u128::from(tat_rem > 0);
            Ok(Decision::allowed(
                q.whole_tokens(capacity - ahead),
                saturate(ahead_ns),
            ))
        } else {
            let ahead_now = tat - now;
            Ok(Decision::denied(
                q.whole_tokens(capacity.saturating_sub(ahead_now)),
                q.ns_ceil(ahead - capacity),
                q.ns_ceil(ahead_now),
            ))
        }
    }

    fn idle_at(&self, state: &GcraState) -> u64 {
        state.tat_ns.saturating_add(u64::from(state.tat_rem > 0))
    }
}
