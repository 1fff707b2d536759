//! A concurrent bloom filter sized by expected items and false-positive rate: a thin,
//! validated wrapper over `fastbloom`'s atomic filter.
//!
//! Why a crate: `fastbloom` is maintained, benchmarked and already does what this needs —
//! a standard bit array, k probes by double hashing (Kirsch–Mitzenmacher) from one 64-bit
//! hash, sizes from the textbook formulas, and an `AtomicBloomFilter` whose inserts are
//! relaxed atomic ORs, so threads share one filter without a lock. This wrapper adds
//! argument checks with error codes (the crate asserts), a size limit and a count of
//! distinct inserts.

use std::sync::atomic::{AtomicU64, Ordering};

use fastbloom::AtomicBloomFilter;

use crate::error::CacheError;

/// A set of byte strings that answers "maybe present" or "certainly absent".
///
/// `contains` never misses an inserted key; for a key never inserted it says yes with
/// probability about `false_positive_rate` while at most `expected_items` distinct keys
/// have been inserted, and more often beyond. Memory: about
/// `-expected_items × ln(rate) / ln(2)²` bits (1.2 bytes per item at 1 %, 1.8 at 0.1 %),
/// fixed at construction. The hash is seeded at random per filter, so a filter is not
/// portable between processes.
#[derive(Debug)]
pub struct BloomFilter {
    bits: AtomicBloomFilter,
    expected_items: u64,
    false_positive_rate: f64,
    /// Inserts of keys the filter did not already (seem to) contain.
    distinct: AtomicU64,
}

impl BloomFilter {
    /// The largest filter accepted: 1 GiB of bits.
    pub const MAX_BITS: u64 = 1 << 33;

    /// An empty filter for `expected_items` distinct keys at `false_positive_rate`.
    ///
    /// Errors when `expected_items` is 0, the rate is not strictly between 0 and 1, or
    /// the filter would exceed [`BloomFilter::MAX_BITS`].
    pub fn new(expected_items: u64, false_positive_rate: f64) -> Result<Self, CacheError> {
        if expected_items == 0 {
            return Err(CacheError::invalid(
                "expected_items",
                "at least 1",
                expected_items,
            ));
        }
        if !(false_positive_rate > 0.0 && false_positive_rate < 1.0) {
            return Err(CacheError::invalid(
                "false_positive_rate",
                "a number strictly between 0 and 1",
                false_positive_rate,
            ));
        }
        // The textbook size, checked here in floating point: fastbloom's own integer
        // arithmetic overflows for absurd sizes.
        let ln2 = std::f64::consts::LN_2;
        let bits = -(expected_items as f64) * false_positive_rate.ln() / (ln2 * ln2);
        if bits > Self::MAX_BITS as f64 {
            return Err(CacheError::invalid(
                "expected_items",
                "a filter of at most 1 GiB (fewer items or a higher false_positive_rate)",
                format!("{expected_items} items at {false_positive_rate}, {bits:.0} bits"),
            ));
        }
        let items = usize::try_from(expected_items).unwrap_or(usize::MAX);
        Ok(BloomFilter {
            bits: AtomicBloomFilter::with_false_pos(false_positive_rate).expected_items(items),
            expected_items,
            false_positive_rate,
            distinct: AtomicU64::new(0),
        })
    }

    /// Adds `key`; returns whether it may have been present already.
    pub fn insert(&self, key: &[u8]) -> bool {
        let present = self.bits.insert(key);
        if !present {
            self.distinct.fetch_add(1, Ordering::Relaxed);
        }
        present
    }

    /// Whether `key` may have been inserted (`false`: certainly not).
    pub fn contains(&self, key: &[u8]) -> bool {
        self.bits.contains(key)
    }

    /// Forgets every key. Inserts racing with it may survive.
    pub fn clear(&self) {
        self.bits.clear();
        self.distinct.store(0, Ordering::Relaxed);
    }

    /// Distinct keys inserted (a key whose bits were all set already, a false positive,
    /// is not counted, so this slightly undercounts).
    pub fn len(&self) -> u64 {
        self.distinct.load(Ordering::Relaxed)
    }

    /// Whether no key was inserted since creation or the last `clear`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The false-positive rate expected now, from [`BloomFilter::len`].
    pub fn estimated_false_positive_rate(&self) -> f64 {
        let items = usize::try_from(self.len()).unwrap_or(usize::MAX);
        self.bits.expected_false_pos(items)
    }

    /// Size of the bit array.
    pub fn num_bits(&self) -> usize {
        self.bits.num_bits()
    }

    /// Probes per key.
    pub fn num_hashes(&self) -> u32 {
        self.bits.num_hashes()
    }

    /// The items the filter was sized for.
    pub fn expected_items(&self) -> u64 {
        self.expected_items
    }

    /// The rate the filter was sized for.
    pub fn false_positive_rate(&self) -> f64 {
        self.false_positive_rate
    }
}
