//! Options of the keyed store.

use crate::error::LimitError;

/// What a [`crate::KeyedLimiter`] does with a request for an unknown key when it already
/// tracks `max_keys` keys. Each outcome is counted in [`crate::Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CapPolicy {
    /// Deny the request (fail closed), counted in `rejected_at_cap`. Idle keys are only
    /// freed by [`crate::KeyedLimiter::sweep`].
    RejectNew,
    /// Evict the idle keys of the key's shard, then deny as `RejectNew` if that freed no
    /// room. The scan is made only when a key of the shard may have gone idle, and at most
    /// once per 1 µs per key of the shard, so a flood of new keys cannot make it costly.
    #[default]
    EvictIdle,
    /// Admit the request as a fresh key would be, without remembering it (fail open),
    /// counted in `allowed_untracked`.
    AllowUntracked,
}

/// Options of a [`crate::KeyedLimiter`]; every field has a documented default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreConfig {
    /// Most keys tracked at once: the bound on memory. Default 1,000,000.
    pub max_keys: usize,
    /// What happens to new keys at the cap. Default [`CapPolicy::EvictIdle`].
    pub at_cap: CapPolicy,
    /// Number of independently locked shards: a power of two from 1 to 256. More shards,
    /// less contention between threads and shorter pauses while a shard's table grows.
    /// Default 64.
    pub shards: usize,
    /// Longest key accepted, in bytes; longer (and empty) keys are an error. Default 512.
    pub max_key_len: usize,
}

impl StoreConfig {
    /// The most shards a store may have: the shard is taken from 8 bits of the key's hash.
    pub const MAX_SHARDS: usize = 256;

    pub(crate) fn validate(&self) -> Result<(), LimitError> {
        if self.max_keys == 0 {
            return Err(LimitError::invalid("max_keys", "at least 1", self.max_keys));
        }
        if !self.shards.is_power_of_two() || self.shards > Self::MAX_SHARDS {
            return Err(LimitError::invalid(
                "shards",
                "a power of two from 1 to 256",
                self.shards,
            ));
        }
        if self.max_key_len == 0 {
            return Err(LimitError::invalid(
                "max_key_len",
                "at least 1",
                self.max_key_len,
            ));
        }
        Ok(())
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_keys: 1_000_000,
            at_cap: CapPolicy::EvictIdle,
            shards: 64,
            max_key_len: 512,
        }
    }
}
