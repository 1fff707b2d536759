//! Counters of a store.

use std::ops::AddAssign;

/// What a [`crate::ByteCache`] holds and has done since it was created (`clear` empties the
/// store but keeps the counters).
///
/// Every entry that leaves the store other than by `remove`, `clear` or replacement is
/// counted once, in `evictions`, `rejected` or `expired`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found a live entry (`get*`; a `get_into` whose buffer was too small
    /// counts too).
    pub hits: u64,
    /// Lookups that found nothing, or an expired entry.
    pub misses: u64,
    /// Successful inserts, replacements included.
    pub inserts: u64,
    /// Entries of the main (hot) queue evicted to make room: they had been read since
    /// they were admitted.
    pub evictions: u64,
    /// Entries dropped from the probationary (cold) queue before a second access: the
    /// admission policy's rejections, which is what keeps scans from flushing the cache.
    pub rejected: u64,
    /// Entries removed because their TTL had passed: on access, by sweeps, or when the
    /// policy picked an already expired entry to make room.
    pub expired: u64,
    /// The sum of the costs of the entries held now (key + value +
    /// [`crate::ENTRY_OVERHEAD`]), at most `max_bytes`.
    pub bytes: u64,
    /// Entries held now, expired ones not yet removed included.
    pub entries: u64,
}

impl AddAssign for CacheStats {
    fn add_assign(&mut self, other: CacheStats) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.inserts += other.inserts;
        self.evictions += other.evictions;
        self.rejected += other.rejected;
        self.expired += other.expired;
        self.bytes += other.bytes;
        self.entries += other.entries;
    }
}
