//! Options of a [`crate::ByteCache`] and the sizes derived from them.

use crate::error::CacheError;

/// Options of a [`crate::ByteCache`]; every field has a documented default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheConfig {
    /// The budget, in bytes: the sum of the entries' costs (key + value +
    /// [`crate::ENTRY_OVERHEAD`]) never exceeds it. At least 1,024. Default 256 MiB.
    pub max_bytes: u64,
    /// The most independently locked shards: a power of two from 1 to 1,024. The store
    /// uses fewer when the budget is small, so that every shard holds at least 1 MiB (see
    /// [`crate::ByteCache::shards`]). More shards mean less contention between threads,
    /// shorter pauses while a shard's table grows or is swept, but a smaller largest entry
    /// (a shard's budget). Default 64.
    pub shards: usize,
    /// Longest key accepted, in bytes; longer (and empty) keys are an error on insert and
    /// a miss on lookup. From 1 to 2^32 - 1. Default 4,096.
    pub max_key_len: usize,
    /// The expected cost of an entry, which sizes the policy's memory of recently evicted
    /// keys: half as many keys as `max_bytes / estimated_entry_bytes`, 48 bytes each,
    /// outside the budget. Too low wastes that memory on large entries; too high makes the
    /// policy forget evicted keys sooner and admit returning keys less readily. At least 1.
    /// Default 256.
    pub estimated_entry_bytes: u64,
}

impl CacheConfig {
    /// The most shards a store may have.
    pub const MAX_SHARDS: usize = 1024;
    /// The smallest budget a shard is given when the store picks its shard count.
    pub const MIN_SHARD_BYTES: u64 = 1 << 20;
    /// The smallest `max_bytes` accepted.
    pub const MIN_BYTES: u64 = 1024;

    /// A configuration with this budget and every other option at its default.
    pub fn with_max_bytes(max_bytes: u64) -> Self {
        CacheConfig {
            max_bytes,
            ..CacheConfig::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), CacheError> {
        if self.max_bytes < Self::MIN_BYTES {
            return Err(CacheError::invalid(
                "max_bytes",
                "at least 1024",
                self.max_bytes,
            ));
        }
        if !self.shards.is_power_of_two() || self.shards > Self::MAX_SHARDS {
            return Err(CacheError::invalid(
                "shards",
                "a power of two from 1 to 1024",
                self.shards,
            ));
        }
        if self.max_key_len == 0 || u32::try_from(self.max_key_len).is_err() {
            return Err(CacheError::invalid(
                "max_key_len",
                "from 1 to 4294967295",
                self.max_key_len,
            ));
        }
        if self.estimated_entry_bytes == 0 {
            return Err(CacheError::invalid(
                "estimated_entry_bytes",
                "at least 1",
                self.estimated_entry_bytes,
            ));
        }
        Ok(())
    }

    /// The shard count the store uses: `shards`, lowered to a power of two that leaves
    /// every shard at least [`CacheConfig::MIN_SHARD_BYTES`] (and at least 1).
    pub(crate) fn effective_shards(&self) -> usize {
        let by_budget = (self.max_bytes / Self::MIN_SHARD_BYTES).max(1);
        // The largest power of two not above `by_budget`.
        let by_budget = 1u64 << (63 - by_budget.leading_zeros());
        usize::try_from(by_budget).map_or(self.shards, |b| b.min(self.shards))
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 256 << 20,
            shards: 64,
            max_key_len: 4096,
            estimated_entry_bytes: 256,
        }
    }
}
