//! The keyed store: one limiter state per key, for millions of keys, shared by threads.
//!
//! # Layout
//!
//! `shards` hash tables (hashbrown's `HashTable`), each behind its own `parking_lot`
//! mutex on its own cache lines. A decision on a tracked key hashes the key, locks one
//! shard, finds the slot, runs the algorithm and unlocks: no allocation and no shared
//! atomic on that path (counters live in the shard, under its lock).
//!
//! # Keys are stored as 64-bit hashes
//!
//! A slot holds the key's 64-bit hash (foldhash's quality variant, seeded at random per
//! store) instead of the key, which keeps a slot at 24–32 bytes whatever the key's length
//! and spares an allocation per key. The cost: two keys with the same hash share one
//! budget. Among n keys the chance of any such pair is about n²/2^65: 3·10⁻⁸ at 1M keys,
//! 3·10⁻⁶ at 10M. Because the seed is secret and random, an outsider cannot aim a key at
//! another's hash by computation; foldhash is not a cryptographic MAC, so a
//! determined attacker who can observe timing for a long time is outside this design.
//! The shard is taken from bits 48–55 of the hash, clear of the bits hashbrown uses to
//! place and tag entries (the low bits and the top 7).
//!
//! # Memory per key
//!
//! A slot is 8 bytes of hash plus the state, padded to 8: 32 bytes for the token bucket,
//! 24 for GCRA and the window counters, 40 plus the log's buffer for the sliding log.
//! hashbrown adds a control byte per bucket and keeps its tables between 7/16 and 7/8
//! full, so a key costs `(slot + 1) / load`: 38–75 bytes for the token bucket, 29–57 for
//! the others. Measured (`tests/memory.rs`): 69.2 and 52.4 bytes at 1M keys, 55.4 and
//! 41.9 at 10M.
//!
//! # Eviction
//!
//! A key whose state is back to full ([`Algorithm::idle_at`] has passed) decides exactly
//! as an unknown key, so it can be forgotten. [`KeyedLimiter::sweep`] forgets the idle
//! keys of one shard per call; a shard about to grow first forgets its own idle keys; and
//! a request that would leave its key idle (a cost of 0) is never stored. Each shard keeps
//! a lower bound of its entries' idle times, so a pass is made only when it can evict.
//! `max_keys` caps the tracked keys, and [`CapPolicy`] says what happens at the cap. At
//! the cap, [`CapPolicy::EvictIdle`] scans the new key's shard for idle keys, then not
//! again for 1 µs per key the shard kept: new keys could otherwise make every request
//! pay for a scan.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::algorithm::Algorithm;
use crate::config::{CapPolicy, StoreConfig};
use crate::decision::Decision;
use crate::error::LimitError;
use crate::shard::{Shard, ShardState};
use crate::stats::Stats;
use optlayer_clock::{Clock, MonotonicClock};

/// Bits of the hash below the shard index (see the module docs).
const SHARD_SHIFT: u32 = 48;

/// A rate limiter keeping one state of algorithm `A` per key, timed by clock `C`.
///
/// `Send + Sync`: share it behind an `Arc` (or open it by name with [`crate::named`]).
pub struct KeyedLimiter<A: Algorithm, C: Clock = MonotonicClock> {
    algorithm: A,
    clock: C,
    config: StoreConfig,
    hasher: foldhash::quality::RandomState,
    shards: Box<[Shard<A::State>]>,
    /// Keys tracked across all shards; at most `config.max_keys`.
    keys: AtomicUsize,
    /// The next shard [`KeyedLimiter::sweep`] visits (modulo the shard count).
    sweep_cursor: AtomicUsize,
}

impl<A: Algorithm> KeyedLimiter<A, MonotonicClock> {
    /// A store timed by the process's [`MonotonicClock`].
    ///
    /// Errors when `config` is out of range (see [`StoreConfig`]).
    pub fn new(algorithm: A, config: StoreConfig) -> Result<Self, LimitError> {
        Self::with_clock(algorithm, config, MonotonicClock)
    }
}

impl<A: Algorithm, C: Clock> KeyedLimiter<A, C> {
    /// A store timed by `clock` (a [`crate::FakeClock`] in tests).
    ///
    /// Errors when `config` is out of range (see [`StoreConfig`]).
    pub fn with_clock(algorithm: A, config: StoreConfig, clock: C) -> Result<Self, LimitError> {
        config.validate()?;
        Ok(KeyedLimiter {
            algorithm,
            clock,
            config,
            hasher: foldhash::quality::RandomState::default(),
            shards: (0..config.shards).map(|_| Shard::new()).collect(),
            keys: AtomicUsize::new(0),
            sweep_cursor: AtomicUsize::new(0),
        })
    }

    /// Decides a request of `cost` units for `key` now, by the store's clock.
    ///
    /// Errors when the key is empty or longer than `max_key_len`
    /// ([`LimitError::InvalidKey`]) or the cost exceeds the capacity
    /// ([`LimitError::CostExceedsCapacity`]).
    pub fn allow(&self, key: impl AsRef<[u8]>, cost: u64) -> Result<Decision, LimitError> {
        self.allow_at(key, cost, self.clock.now_ns())
    }

    /// Decides a request at `now_ns` instead of the store's clock, for a caller that owns
    /// time (a test clock on the JavaScript side). Readings must share one origin; one
    /// earlier than a shard has already seen counts as that later time.
    ///
    /// Errors as [`KeyedLimiter::allow`].
    pub fn allow_at(
        &self,
        key: impl AsRef<[u8]>,
        cost: u64,
        now_ns: u64,
    ) -> Result<Decision, LimitError> {
        let key = key.as_ref();
        if key.is_empty() || key.len() > self.config.max_key_len {
            return Err(LimitError::InvalidKey {
                len: key.len(),
                max: self.config.max_key_len,
            });
        }
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shard(hash).lock();
        let now_ns = shard.observe(now_ns);
        if let Some(state) = shard.get_mut(hash) {
            let decision = self.algorithm.decide(state, now_ns, cost)?;
            shard.stats.record(&decision);
            return Ok(decision);
        }
        let mut state = self.algorithm.new_state();
        let decision = self.algorithm.decide(&mut state, now_ns, cost)?;
        let idle_at = self.algorithm.idle_at(&state);
        if idle_at <= now_ns {
            // Nothing consumed: the key would be evicted at once, so it is not stored.
            shard.stats.record(&decision);
            return Ok(decision);
        }
        Ok(self.track_new(&mut shard, hash, state, idle_at, decision, now_ns))
    }

    /// Stores a new key's state, or applies the cap policy when the store is full.
    fn track_new(
        &self,
        shard: &mut ShardState<A::State>,
        hash: u64,
        state: A::State,
        idle_at: u64,
        decision: Decision,
        now_ns: u64,
    ) -> Decision {
        let room = self.reserve_key()
            || (self.config.at_cap == CapPolicy::EvictIdle
                && self.uncount(shard.evict_idle_for_room(&self.algorithm, now_ns)) > 0
                && self.reserve_key());
        let decision = if room {
            self.uncount(shard.insert(&self.algorithm, hash, state, idle_at, now_ns));
            decision
        } else if self.config.at_cap == CapPolicy::AllowUntracked {
            shard.stats.allowed_untracked += 1;
            decision
        } else {
            shard.stats.rejected_at_cap += 1;
            // A new key is turned away for one window: a hint, as no state promises more.
            let window = self.algorithm.quota().window_ns();
            Decision::denied(0, window, window)
        };
        shard.stats.record(&decision);
        decision
    }

    /// Counts one more key if the cap allows it.
    fn reserve_key(&self) -> bool {
        let max = self.config.max_keys;
        self.keys
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Uncounts `evicted` keys; returns it.
    fn uncount(&self, evicted: usize) -> usize {
        if evicted > 0 {
            self.keys.fetch_sub(evicted, Ordering::Relaxed);
        }
        evicted
    }

    fn shard(&self, hash: u64) -> &Shard<A::State> {
        let index = (hash >> SHARD_SHIFT) as usize & (self.shards.len() - 1);
        &self.shards[index]
    }

    /// Forgets the idle keys of the next shard in turn, by the store's clock; returns how
    /// many. The work per call is one shard (`1/shards` of the keys), and none at all when
    /// no key of that shard can be idle yet: call it from a timer, `shards` calls
    /// covering every key.
    pub fn sweep(&self) -> usize {
        self.sweep_at(self.clock.now_ns())
    }

    /// [`KeyedLimiter::sweep`] at `now_ns` instead of the store's clock.
    pub fn sweep_at(&self, now_ns: u64) -> usize {
        let index = self.sweep_cursor.fetch_add(1, Ordering::Relaxed) & (self.shards.len() - 1);
        let mut shard = self.shards[index].lock();
        let now_ns = shard.observe(now_ns);
        self.uncount(shard.evict_idle(&self.algorithm, now_ns))
    }

    /// The store's counters, summed over the shards (each shard is read under its lock;
    /// the sum is not one atomic snapshot).
    pub fn stats(&self) -> Stats {
        let mut total = Stats::default();
        for shard in self.shards.iter() {
            total += shard.lock().stats();
        }
        total
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.keys.load(Ordering::Relaxed)
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The algorithm, with its quota.
    pub fn algorithm(&self) -> &A {
        &self.algorithm
    }

    /// The store's options.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The store's clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

impl<A: Algorithm + fmt::Debug, C: Clock> fmt::Debug for KeyedLimiter<A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("algorithm", &self.algorithm)
            .field("config", &self.config)
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}
