//! What a shard stores per entry, and the hooks that plug it into `quick_cache`.
//!
//! An entry is one heap allocation, `[deadline: u64 LE][key length: u32 LE][key][value]`,
//! held in the policy's table under the key's 64-bit hash. Keeping the key beside the
//! value, instead of as the table's key, saves a second allocation per entry and lets a
//! lookup verify the key and copy the value from the same cache lines.

use std::hash::{BuildHasher, Hasher};

use quick_cache::{Lifecycle, Weighter};

/// Bytes added to the key and value lengths to make an entry's cost, which is what the
/// budget counts: the policy's 40-byte slot with its share of the table's index (about
/// 10 bytes), the allocation's 12-byte header and the allocator's rounding and
/// bookkeeping. Measured by `tests/memory.rs` with 16-byte keys and values, beyond key and
/// value: 87–91 bytes of resident memory per entry at 1–4M entries, and 73–113 bytes of
/// heap requested (the tables grow by doubling, and pages of capacity not yet used are
/// not resident).
pub const ENTRY_OVERHEAD: u64 = 96;

/// The deadline of an entry without a TTL.
pub(crate) const NEVER: u64 = u64::MAX;

const DEADLINE_LEN: usize = 8;
const HEADER_LEN: usize = DEADLINE_LEN + 4;

/// One entry: key, value and deadline in one allocation (see the module docs).
pub(crate) struct Stored(Box<[u8]>);

impl Stored {
    /// `key.len()` must fit in a u32 (the store's `max_key_len` guarantees it).
    pub(crate) fn new(key: &[u8], value: &[u8], deadline: u64) -> Self {
        let key_len = u32::try_from(key.len()).unwrap_or(u32::MAX);
        let mut buf = Vec::with_capacity(HEADER_LEN + key.len() + value.len());
        buf.extend_from_slice(&deadline.to_le_bytes());
        buf.extend_from_slice(&key_len.to_le_bytes());
        buf.extend_from_slice(key);
        buf.extend_from_slice(value);
        Stored(buf.into_boxed_slice())
    }

    /// When the entry expires, in the store clock's nanoseconds ([`NEVER`] without TTL).
    pub(crate) fn deadline(&self) -> u64 {
        self.0
            .first_chunk::<DEADLINE_LEN>()
            .map_or(NEVER, |b| u64::from_le_bytes(*b))
    }

    /// Whether the entry has expired at `now_ns`: it lives for `[insert, insert + ttl)`.
    pub(crate) fn expired_at(&self, now_ns: u64) -> bool {
        now_ns >= self.deadline()
    }

    fn key_len(&self) -> usize {
        self.0
            .get(DEADLINE_LEN..)
            .and_then(|rest| rest.first_chunk::<4>())
            .map_or(0, |b| u32::from_le_bytes(*b) as usize)
    }

    pub(crate) fn key(&self) -> &[u8] {
        self.0
            .get(HEADER_LEN..HEADER_LEN + self.key_len())
            .unwrap_or_default()
    }

    pub(crate) fn value(&self) -> &[u8] {
        self.0
            .get(HEADER_LEN + self.key_len()..)
            .unwrap_or_default()
    }

    /// Key + value + [`ENTRY_OVERHEAD`].
    pub(crate) fn cost(&self) -> u64 {
        (self.0.len() - HEADER_LEN) as u64 + ENTRY_OVERHEAD
    }
}

/// An entry weighs its cost.
#[derive(Clone, Copy, Default)]
pub(crate) struct Weigh;

impl Weighter<u64, Stored> for Weigh {
    fn weight(&self, _hash: &u64, stored: &Stored) -> u64 {
        stored.cost()
    }
}

/// The policy's table is keyed by hashes already computed by the store, so its hasher
/// passes them through.
#[derive(Clone, Copy, Default)]
pub(crate) struct KeyHashBuilder;

impl BuildHasher for KeyHashBuilder {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    /// Required by the trait; the table's keys are `u64`, hashed through `write_u64`.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Classifies the entries the policy lets go during one insert (see [`Outcome`]).
#[derive(Clone, Copy, Default)]
pub(crate) struct Hooks;

impl Lifecycle<u64, Stored> for Hooks {
    type RequestState = Outcome;

    fn on_evict_hot(&self, outcome: &mut Outcome, hash: u64, stored: Stored) {
        outcome.record(hash, &stored, true);
    }

    fn on_evict_cold(&self, outcome: &mut Outcome, hash: u64, stored: Stored) {
        outcome.record(hash, &stored, false);
    }
}

/// What one insert made the policy let go. `quick_cache` reports a replaced value through
/// the same hooks as an evicted one, so the insert names its own hash to tell them apart.
#[derive(Default)]
pub(crate) struct Outcome {
    /// The hash of the key being inserted.
    pub(crate) inserting: Option<u64>,
    /// The time of the insert, to tell expired entries from live ones.
    pub(crate) now_ns: u64,
    pub(crate) evicted: u64,
    pub(crate) rejected: u64,
    pub(crate) expired: u64,
}

impl Outcome {
    fn record(&mut self, hash: u64, stored: &Stored, hot: bool) {
        if self.inserting == Some(hash) {
            // The key's previous value, replaced: not a loss of an entry.
        } else if stored.expired_at(self.now_ns) {
            self.expired += 1;
        } else if hot {
            self.evicted += 1;
        } else {
            self.rejected += 1;
        }
    }
}
