//! The contract every rate-limiting algorithm fulfils, so the keyed store can hold any of
//! them.

use crate::decision::Decision;
use crate::error::LimitError;
use crate::quota::Quota;

/// A rate-limiting algorithm: its configuration lives in `self`, the per-key state in
/// [`Algorithm::State`], and a decision is a pure function of the two and the time.
pub trait Algorithm: Send + Sync + 'static {
    /// What the algorithm remembers about one key. Kept small: the keyed store holds one
    /// per active key.
    type State: Clone + Send + 'static;

    /// The rate this algorithm enforces.
    fn quota(&self) -> &Quota;

    /// The state of a key never seen before: full, nothing consumed.
    fn new_state(&self) -> Self::State;

    /// Decides a request of `cost` units at `now_ns` and, when admitted, consumes it.
    ///
    /// A cost of 0 asks without consuming. Errors with
    /// [`LimitError::CostExceedsCapacity`] when `cost` exceeds [`Algorithm::capacity`],
    /// whatever the state. Times past [`crate::LAST_INSTANT_NS`] count as that instant. A
    /// `now_ns` earlier than a previous call's never panics; the keyed store goes further
    /// and never passes one (see [`crate::KeyedLimiter`]).
    fn decide(
        &self,
        state: &mut Self::State,
        now_ns: u64,
        cost: u64,
    ) -> Result<Decision, LimitError>;

    /// The time from which `state` behaves exactly like [`Algorithm::new_state`] (all
    /// consumption replenished or out of the window), so the store may forget the key.
    /// Deciding at `now_ns` never makes it earlier, unless it was already at most `now_ns`;
    /// the store relies on that to skip eviction scans.
    fn idle_at(&self, state: &Self::State) -> u64;

    /// The largest cost a single request may have.
    fn capacity(&self) -> u64 {
        u64::from(self.quota().burst().get())
    }
}
