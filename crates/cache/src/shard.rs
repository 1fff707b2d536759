//! One shard of the store: `quick_cache`'s single-threaded policy behind our own
//! reader-writer lock, with the TTL bookkeeping and the counters.
//!
//! Why not `quick_cache::sync::Cache`, which shards and locks by itself: its `get` must
//! return an owned value, so reading a value without copying it would need a reference
//! count per entry, two more atomic operations per hit and one more allocation or pointer
//! per entry. Under our own lock a hit copies the value straight into the caller's buffer
//! while holding the read lock, and the shard's TTL state is updated under the same write
//! lock as its table.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use quick_cache::unsync::Cache;
use quick_cache::OptionsBuilder;

use crate::entry::{Hooks, KeyHashBuilder, Outcome, Stored, Weigh, NEVER};
use crate::error::CacheError;
use crate::stats::CacheStats;
use optlayer_clock::Clock;

/// The share of a shard's budget for entries read at least twice; the rest is the
/// probationary queue where new entries wait for a second access. quick_cache's default,
/// which suits Zipf-like traffic; lower values favour recency.
pub(crate) const HOT_ALLOCATION: f64 = 0.97;

/// Due entries of the expiry index an insert removes, at most: enough to keep up with
/// inserts (each adds at most one record) and to catch up after a lull, while bounding
/// the insert's extra time to a few microseconds (a removal costs ~0.5 µs, most of it
/// cache misses).
const SWEEP_PER_INSERT: usize = 8;

/// Due entries [`Shard::sweep`] removes per hold of the write lock, so that an explicit
/// purge of a large shard never stalls its readers for long.
const SWEEP_PER_LOCK: usize = 1024;

/// The expiry index holds at most this many records per entry of the shard (plus
/// `EXPIRY_INDEX_SLACK`): records of entries replaced, removed or evicted stay until they
/// are due, and this bounds them under heavy churn with long TTLs. An entry inserted while
/// the index is full is not indexed: it still expires on access, the policy evicts it
/// first once nobody reads it, and the next [`Shard::sweep`] rebuilds the index.
const EXPIRY_INDEX_PER_ENTRY: usize = 2;
const EXPIRY_INDEX_SLACK: usize = 1024;

type Table = Cache<u64, Stored, Weigh, KeyHashBuilder, Hooks>;

/// A shard, aligned so that neighbouring shards' locks and counters never share a cache
/// line (two lines, as the adjacent-line prefetcher pulls pairs).
#[repr(align(128))]
pub(crate) struct Shard {
    state: RwLock<ShardState>,
    /// Updated under the read lock, so atomic; the other counters live under the write
    /// lock.
    hits: AtomicU64,
    misses: AtomicU64,
}

struct ShardState {
    table: Table,
    /// (deadline, hash) of the entries inserted with a TTL, earliest first: the work list
    /// of sweeps, which never scan the table. A record may be stale (its entry replaced,
    /// removed or evicted); a sweep then finds no expired entry under the hash and moves
    /// on. 16 bytes per record, outside the budget.
    expiry: BinaryHeap<Reverse<(u64, u64)>>,
    /// Whether an entry with a TTL was left out of the full index since it was last built.
    unindexed: bool,
    inserts: u64,
    evictions: u64,
    rejected: u64,
    expired: u64,
}

impl Shard {
    /// A shard holding entries of total cost up to `capacity`.
    pub(crate) fn new(capacity: u64, estimated_entry_bytes: u64) -> Result<Self, CacheError> {
        let estimated_items = usize::try_from(capacity / estimated_entry_bytes)
            .unwrap_or(usize::MAX)
            .max(1);
        let options = OptionsBuilder::new()
            .weight_capacity(capacity)
            .estimated_items_capacity(estimated_items)
            .hot_allocation(HOT_ALLOCATION)
            .build()
            .map_err(|e| CacheError::invalid("max_bytes", "a valid shard size", e))?;
        Ok(Shard {
            state: RwLock::new(ShardState {
                table: Table::with_options(options, Weigh, KeyHashBuilder, Hooks),
                expiry: BinaryHeap::new(),
                unindexed: false,
                inserts: 0,
                evictions: 0,
                rejected: 0,
                expired: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// Runs `read` on the value of `key` (hashed to `hash`) under the read lock, if the
    /// entry is there and alive. An expired entry found here is removed.
    pub(crate) fn get_with<R>(
        &self,
        hash: u64,
        key: &[u8],
        clock: &impl Clock,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Option<R> {
        let state = self.state.read();
        let found = state.table.get(&hash).filter(|stored| stored.key() == key);
        let Some(stored) = found else {
            drop(state);
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        // Entries without TTL, the common case, never read the clock.
        if stored.deadline() != NEVER {
            let now_ns = clock.now_ns();
            if stored.expired_at(now_ns) {
                drop(state);
                self.misses.fetch_add(1, Ordering::Relaxed);
                self.remove_expired(hash, key, now_ns);
                return None;
            }
        }
        let result = read(stored.value());
        drop(state);
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(result)
    }

    /// Whether `key` has a live entry, without touching its recency or the counters.
    pub(crate) fn contains(&self, hash: u64, key: &[u8], clock: &impl Clock) -> bool {
        let state = self.state.read();
        state.table.peek(&hash).is_some_and(|stored| {
            stored.key() == key
                && (stored.deadline() == NEVER || !stored.expired_at(clock.now_ns()))
        })
    }

    /// Inserts or replaces an entry at `now_ns`, then removes up to `SWEEP_PER_INSERT`
    /// entries of the shard that have expired.
    pub(crate) fn insert(&self, hash: u64, stored: Stored, now_ns: u64) {
        let deadline = stored.deadline();
        let mut outcome = Outcome {
            inserting: Some(hash),
            now_ns,
            ..Outcome::default()
        };
        let mut state = self.state.write();
        state
            .table
            .insert_with_lifecycle(hash, stored, &mut outcome);
        state.inserts += 1;
        state.evictions += outcome.evicted;
        state.rejected += outcome.rejected;
        state.expired += outcome.expired;
        let room = state.table.len() * EXPIRY_INDEX_PER_ENTRY + EXPIRY_INDEX_SLACK;
        if deadline != NEVER {
            if state.expiry.len() < room {
                state.expiry.push(Reverse((deadline, hash)));
            } else {
                state.unindexed = true;
            }
        }
        state.sweep(now_ns, SWEEP_PER_INSERT);
    }

    /// Removes the entry of `key`; returns whether there was one.
    pub(crate) fn remove(&self, hash: u64, key: &[u8]) -> bool {
        let mut state = self.state.write();
        state
            .table
            .remove_if(&hash, |stored| stored.key() == key)
            .is_some()
    }

    /// Removes the entry of `key` if it has expired at `now_ns` (a fresh value written
    /// since the lookup is kept).
    fn remove_expired(&self, hash: u64, key: &[u8], now_ns: u64) {
        let mut state = self.state.write();
        let removed = state
            .table
            .remove_if(&hash, |stored| {
                stored.key() == key && stored.expired_at(now_ns)
            })
            .is_some();
        state.expired += u64::from(removed);
    }

    /// Removes every entry expired at `now_ns`, taking the write lock for at most
    /// `SWEEP_PER_LOCK` records of the expiry index at a time; returns how many. If the
    /// index overflowed since it was built, it is rebuilt by one pass over the shard under
    /// the lock (~250 ns per entry).
    pub(crate) fn sweep(&self, now_ns: u64) -> u64 {
        let mut removed = 0;
        loop {
            let mut state = self.state.write();
            removed += state.sweep(now_ns, SWEEP_PER_LOCK);
            if !state.has_due(now_ns) {
                if state.unindexed {
                    removed += state.rebuild_expiry(now_ns);
                }
                return removed;
            }
        }
    }

    /// Removes every entry.
    pub(crate) fn clear(&self) {
        let mut state = self.state.write();
        state.table.clear();
        state.expiry.clear();
        state.unindexed = false;
    }

    pub(crate) fn len(&self) -> usize {
        self.state.read().table.len()
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let state = self.state.read();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            inserts: state.inserts,
            evictions: state.evictions,
            rejected: state.rejected,
            expired: state.expired,
            bytes: state.table.weight(),
            entries: state.table.len() as u64,
        }
    }
}

impl ShardState {
    /// Pops up to `budget` due records of the expiry index and removes their entries if
    /// they have expired (a record's entry may have been replaced by a fresh one, or be
    /// gone); returns how many entries were removed.
    fn sweep(&mut self, now_ns: u64, budget: usize) -> u64 {
        let mut removed = 0;
        for _ in 0..budget {
            if !self.has_due(now_ns) {
                break;
            }
            let Some(Reverse((_, hash))) = self.expiry.pop() else {
                break;
            };
            let gone = self
                .table
                .remove_if(&hash, |stored| stored.expired_at(now_ns))
                .is_some();
            removed += u64::from(gone);
        }
        self.expired += removed;
        removed
    }

    /// Removes every entry expired at `now_ns` in one pass over the table and rebuilds the
    /// expiry index from the entries kept, without stale records; returns how many were
    /// removed.
    fn rebuild_expiry(&mut self, now_ns: u64) -> u64 {
        let removed = Cell::new(0u64);
        let index = RefCell::new(Vec::with_capacity(self.expiry.len()));
        self.table.retain(|&hash, stored| {
            let deadline = stored.deadline();
            if deadline == NEVER {
                true
            } else if stored.expired_at(now_ns) {
                removed.set(removed.get() + 1);
                false
            } else {
                index.borrow_mut().push(Reverse((deadline, hash)));
                true
            }
        });
        self.expiry = BinaryHeap::from(index.into_inner());
        self.unindexed = false;
        self.expired += removed.get();
        removed.get()
    }

    /// Whether the expiry index has a record due at `now_ns`.
    fn has_due(&self, now_ns: u64) -> bool {
        self.expiry
            .peek()
            .is_some_and(|Reverse((deadline, _))| *deadline <= now_ns)
    }
}
