//! The store: keys hashed once, spread over shards, each shard a locked policy table.

use std::fmt;
use std::hash::BuildHasher;
use std::time::Duration;

use crate::config::CacheConfig;
use crate::entry::{Stored, ENTRY_OVERHEAD, NEVER};
use crate::error::CacheError;
use crate::shard::{Shard, HOT_ALLOCATION};
use crate::stats::CacheStats;
use optlayer_clock::{Clock, MonotonicClock};

/// The shard is taken from the hash bits from 32 up, clear of the low bits hashbrown uses
/// to place an entry in a shard's table and of the top 7 it uses as the entry's tag.
const SHARD_SHIFT: u32 = 32;

/// A concurrent cache of byte values under byte-string keys, bounded by a byte budget,
/// with per-entry TTL, timed by clock `C`. See the crate docs for the design.
///
/// `Send + Sync`: share it behind an `Arc` (or open it by name with [`crate::named`]).
pub struct ByteCache<C: Clock = MonotonicClock> {
    config: CacheConfig,
    clock: C,
    /// Seeded at random per store, so that nobody can aim keys at one hash chain.
    hasher: foldhash::quality::RandomState,
    shards: Box<[Shard]>,
    /// The largest cost one entry may have: a shard's main-queue budget.
    max_entry_cost: u64,
}

impl ByteCache<MonotonicClock> {
    /// A store timed by the process's [`MonotonicClock`].
    ///
    /// Errors when `config` is out of range (see [`CacheConfig`]).
    pub fn new(config: CacheConfig) -> Result<Self, CacheError> {
        Self::with_clock(config, MonotonicClock)
    }
}

impl<C: Clock> ByteCache<C> {
    /// A store timed by `clock` (a [`crate::FakeClock`] in tests).
    ///
    /// Errors when `config` is out of range (see [`CacheConfig`]).
    pub fn with_clock(config: CacheConfig, clock: C) -> Result<Self, CacheError> {
        config.validate()?;
        let shard_count = config.effective_shards();
        // Rounded down, so that the shards' budgets never add up to more than max_bytes.
        let shard_capacity = config.max_bytes / shard_count as u64;
        let shards = (0..shard_count)
            .map(|_| Shard::new(shard_capacity, config.estimated_entry_bytes))
            .collect::<Result<Box<[Shard]>, CacheError>>()?;
        // quick_cache refuses an entry heavier than a shard's main queue; computed as it does.
        let max_entry_cost = (shard_capacity as f64 * HOT_ALLOCATION) as u64;
        Ok(ByteCache {
            config,
            clock,
            hasher: foldhash::quality::RandomState::default(),
            shards,
            max_entry_cost,
        })
    }

    /// Copies the value of `key` into `buf` and returns its length, or `None` on a miss.
    ///
    /// When the value is longer than `buf`, nothing is copied and the length returned
    /// exceeds `buf.len()`: grow the buffer and call again. No allocation either way,
    /// which lets the binding copy into one reused JavaScript buffer.
    pub fn get_into(&self, key: &[u8], buf: &mut [u8]) -> Option<usize> {
        self.get_with(key, |value| {
            if let Some(dst) = buf.get_mut(..value.len()) {
                dst.copy_from_slice(value);
            }
            value.len()
        })
    }

    /// Runs `read` on the value of `key` and returns its result, or `None` on a miss.
    ///
    /// `read` runs under the shard's read lock: keep it short, and never call back into
    /// this store from it (a write to the same shard would wait for the lock forever).
    pub fn get_with<R>(&self, key: &[u8], read: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let hash = self.hasher.hash_one(key);
        self.shard(hash).get_with(hash, key, &self.clock, read)
    }

    /// A copy of the value of `key`, or `None` on a miss.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get_with(key, <[u8]>::to_vec)
    }

    /// Looks up `keys` in order (as many as `lens` has room for) and packs the values
    /// found into `out`, back to back: `lens[i]` gets the length of key i's value, or
    /// `None` on a miss, so the values' offsets are the running sums of the lengths.
    ///
    /// Returns the bytes all the values need. When that exceeds `out.len()`, the values
    /// from the first one that did not fit onwards were not copied (their lengths are
    /// still reported): grow `out` and call again. One call, no allocation.
    pub fn get_many_into<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k [u8]>,
        out: &mut [u8],
        lens: &mut [Option<usize>],
    ) -> usize {
        let mut needed = 0usize;
        let mut fits = true;
        for (key, len) in keys.into_iter().zip(lens.iter_mut()) {
            *len = self.get_with(key, |value| {
                let end = needed + value.len();
                match out.get_mut(needed..end) {
                    Some(dst) if fits => dst.copy_from_slice(value),
                    _ => fits = false,
                }
                value.len()
            });
            needed += len.unwrap_or(0);
        }
        needed
    }

    /// Stores `value` under `key`, replacing any previous value, to expire after `ttl`
    /// (never with `None`). The entry may be dropped at once by the admission policy when
    /// the store is full and the key has not been seen lately: a cache, not a map.
    ///
    /// Errors when the key is empty or longer than `max_key_len`
    /// ([`CacheError::InvalidKey`]), when `ttl` is zero ([`CacheError::InvalidArgument`]),
    /// or when the entry costs more than [`ByteCache::max_entry_cost`]
    /// ([`CacheError::EntryTooLarge`], after removing the key's previous value).
    pub fn insert(
        &self,
        key: &[u8],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        self.check_key(key)?;
        let ttl_ns = match ttl {
            None => None,
            Some(ttl) if ttl.is_zero() => {
                return Err(CacheError::invalid(
                    "ttl",
                    "a positive duration, or none",
                    "0 ms",
                ))
            }
            Some(ttl) => Some(u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX)),
        };
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash);
        let cost = (key.len() as u64)
            .saturating_add(value.len() as u64)
            .saturating_add(ENTRY_OVERHEAD);
        if cost > self.max_entry_cost {
            shard.remove(hash, key);
            return Err(CacheError::EntryTooLarge {
                cost,
                max: self.max_entry_cost,
            });
        }
        let now_ns = self.clock.now_ns();
        let deadline = ttl_ns.map_or(NEVER, |ttl| now_ns.saturating_add(ttl));
        shard.insert(hash, Stored::new(key, value, deadline), now_ns);
        Ok(())
    }

    /// Removes the entry of `key`; returns whether there was one (expired or not).
    pub fn remove(&self, key: &[u8]) -> bool {
        let hash = self.hasher.hash_one(key);
        self.shard(hash).remove(hash, key)
    }

    /// Whether `key` has a live entry. Unlike a lookup, this neither counts as a hit or a
    /// miss nor makes the entry more likely to stay.
    pub fn contains(&self, key: &[u8]) -> bool {
        let hash = self.hasher.hash_one(key);
        self.shard(hash).contains(hash, key, &self.clock)
    }

    /// Removes every entry (one shard at a time: a concurrent insert may survive it).
    /// The counters are kept.
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            shard.clear();
        }
    }

    /// Removes every expired entry now, shard by shard, and returns how many. Never needed
    /// for correctness (lookups ignore expired entries, and each insert removes a few that
    /// are due); it gives the memory back at once, e.g. from a timer while inserts are
    /// rare. A shard's write lock is held for at most 1,024 removals at a time.
    pub fn purge_expired(&self) -> u64 {
        let now_ns = self.clock.now_ns();
        self.shards.iter().map(|shard| shard.sweep(now_ns)).sum()
    }

    /// The store's counters, summed over the shards (each read under its lock; the sum is
    /// not one atomic snapshot).
    pub fn stats(&self) -> CacheStats {
        let mut total = CacheStats::default();
        for shard in self.shards.iter() {
            total += shard.stats();
        }
        total
    }

    /// Entries held now, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.shards.iter().map(Shard::len).sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The largest cost (key + value + [`ENTRY_OVERHEAD`]) an entry may have: 97 % of a
    /// shard's budget, `max_bytes / shards`.
    pub fn max_entry_cost(&self) -> u64 {
        self.max_entry_cost
    }

    /// The number of shards in use (see [`CacheConfig::shards`]).
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The store's options.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The store's clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    fn check_key(&self, key: &[u8]) -> Result<(), CacheError> {
        if key.is_empty() || key.len() > self.config.max_key_len {
            return Err(CacheError::InvalidKey {
                len: key.len(),
                max: self.config.max_key_len,
            });
        }
        Ok(())
    }

    fn shard(&self, hash: u64) -> &Shard {
        let index = (hash >> SHARD_SHIFT) as usize & (self.shards.len() - 1);
        &self.shards[index]
    }
}

impl<C: Clock> fmt::Debug for ByteCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteCache")
            .field("config", &self.config)
            .field("shards", &self.shards.len())
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}
