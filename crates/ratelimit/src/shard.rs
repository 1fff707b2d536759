//! One shard of the keyed store: a hash table of per-key states behind one lock, with the
//! bookkeeping that makes eviction cheap.
//!
//! The table is keyed by the 64-bit hash of the key alone (see [`crate::KeyedLimiter`]),
//! so a slot is the hash plus the algorithm's state: 24 bytes for GCRA and the window
//! counters, 32 for the token bucket, plus hashbrown's one control byte per bucket.

use hashbrown::HashTable;
use parking_lot::{Mutex, MutexGuard};

use crate::algorithm::Algorithm;
use crate::stats::Stats;

/// A table no larger than this is never shrunk: shrinking it would save little.
const MIN_SHRINK_CAPACITY: usize = 64;

/// After a scan to make room at the key cap, the shard waits this long per entry it kept
/// before scanning for room again. A scan costs about 2 ns per entry, so however many new
/// keys arrive, such scans take at most ~0.2 % of a core per shard.
const ROOM_SCAN_COOLDOWN_NS_PER_KEY: u64 = 1_000;

/// One key's entry: the key's hash (its identity) and its state.
struct Slot<S> {
    hash: u64,
    state: S,
}

/// A shard, aligned so that neighbouring shards' locks never share a cache line (two
/// lines, as the adjacent-line prefetcher pulls pairs).
#[repr(align(128))]
pub(crate) struct Shard<S>(Mutex<ShardState<S>>);

impl<S> Shard<S> {
    pub(crate) fn new() -> Self {
        Shard(Mutex::new(ShardState {
            table: HashTable::new(),
            clock_high: 0,
            idle_floor: u64::MAX,
            room_scan_after: 0,
            stats: Stats::default(),
        }))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ShardState<S>> {
        self.0.lock()
    }
}

/// The contents of a shard.
pub(crate) struct ShardState<S> {
    table: HashTable<Slot<S>>,
    /// The latest time this shard has been given; decisions never see an earlier one, so
    /// a clock stepping back counts as no time passing.
    clock_high: u64,
    /// No entry can be idle before this time (`u64::MAX` when the shard is empty): a lower
    /// bound on the entries' `idle_at`, exact after each scan. Deciding moves an entry's
    /// `idle_at` only later, or from a time already passed (when this bound has passed
    /// too), so the bound stays valid without work on the hot path.
    idle_floor: u64,
    /// No scan for room at the key cap before this time (see
    /// `ROOM_SCAN_COOLDOWN_NS_PER_KEY`).
    room_scan_after: u64,
    /// This shard's counters; `keys` is filled in by [`ShardState::stats`].
    pub(crate) stats: Stats,
}

impl<S> ShardState<S> {
    /// `now_ns`, or the latest time seen if that is later; remembers it.
    pub(crate) fn observe(&mut self, now_ns: u64) -> u64 {
        self.clock_high = self.clock_high.max(now_ns);
        self.clock_high
    }

    /// The state of the key with this hash, if tracked.
    pub(crate) fn get_mut(&mut self, hash: u64) -> Option<&mut S> {
        self.table
            .find_mut(hash, |slot| slot.hash == hash)
            .map(|slot| &mut slot.state)
    }

    /// Tracks a key that is not in the table and becomes idle at `idle_at`. When the table
    /// is full, first evicts idle entries: growing costs a pass over the table anyway, and
    /// this may make it unnecessary. Returns how many entries were evicted.
    pub(crate) fn insert<A: Algorithm<State = S>>(
        &mut self,
        algorithm: &A,
        hash: u64,
        state: S,
        idle_at: u64,
        now_ns: u64,
    ) -> usize {
        let evicted = if self.table.len() == self.table.capacity() {
            self.evict_idle(algorithm, now_ns)
        } else {
            0
        };
        self.table
            .insert_unique(hash, Slot { hash, state }, |slot| slot.hash);
        self.idle_floor = self.idle_floor.min(idle_at);
        evicted
    }

    /// [`ShardState::evict_idle`] for a new key at the key cap, at most once per cooldown:
    /// each new key may trigger it, so its work is bounded in time, not per call.
    pub(crate) fn evict_idle_for_room<A: Algorithm<State = S>>(
        &mut self,
        algorithm: &A,
        now_ns: u64,
    ) -> usize {
        if now_ns < self.room_scan_after || now_ns < self.idle_floor {
            return 0;
        }
        let evicted = self.evict_idle(algorithm, now_ns);
        let cooldown = (self.table.len() as u64).saturating_mul(ROOM_SCAN_COOLDOWN_NS_PER_KEY);
        self.room_scan_after = now_ns.saturating_add(cooldown);
        evicted
    }

    /// Forgets every entry idle at `now_ns` (a full pass, made only when one may be idle)
    /// and gives memory back once the table is at most a quarter full. Returns how many
    /// entries were evicted.
    pub(crate) fn evict_idle<A: Algorithm<State = S>>(
        &mut self,
        algorithm: &A,
        now_ns: u64,
    ) -> usize {
        if now_ns < self.idle_floor {
            return 0;
        }
        let before = self.table.len();
        let mut floor = u64::MAX;
        self.table.retain(|slot| {
            let idle_at = algorithm.idle_at(&slot.state);
            let keep = idle_at > now_ns;
            if keep {
                floor = floor.min(idle_at);
            }
            keep
        });
        self.idle_floor = floor;
        let evicted = before - self.table.len();
        self.stats.evictions += evicted as u64;
        if self.table.capacity() > MIN_SHRINK_CAPACITY
            && self.table.len() <= self.table.capacity() / 4
        {
            self.table.shrink_to(self.table.len() * 2, |slot| slot.hash);
        }
        evicted
    }

    /// This shard's counters, with its key count.
    pub(crate) fn stats(&self) -> Stats {
        Stats {
            keys: self.table.len() as u64,
            ..self.stats
        }
    }
}
