//! The concurrent histogram: HDR counters split into a few mutex-guarded shards.
//!
//! Why shards and mutexes rather than one atomic array: an uncontended lock costs two
//! atomic operations, cheaper than the atomic read-modify-writes on the counter, total,
//! minimum, maximum and sum that a lock-free record would need; and reads merge the shards
//! into a [`Snapshot`], which a scrape needs anyway. Each thread records into the shard its
//! slot number picks and moves on to another shard only when that one is busy, so up to
//! `shards` recording threads hardly ever wait.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use hdrhistogram::Histogram;
use parking_lot::{Mutex, MutexGuard};

use crate::config::HistogramConfig;
use crate::error::StatsError;
use crate::snapshot::{merge_into, Snapshot, Totals};

/// What became of a recorded value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded as given (rounded to the nearest integer, halves up).
    Exact,
    /// Above the highest trackable value: recorded as that value and counted as clamped.
    Clamped,
    /// NaN, negative or infinite: not recorded, counted as invalid.
    Invalid,
}

/// Keeps each shard's lock on its own cache lines, so threads recording into neighbouring
/// shards do not invalidate each other's lines.
#[repr(align(128))]
struct Padded<T>(T);

/// One shard: its counters, allocated on first use, and its exact totals.
struct Shard {
    counts: Option<Histogram<u64>>,
    totals: Totals,
}

/// A latency histogram that any number of threads record into at once.
///
/// Values are `f64` in the histogram's unit (see [`HistogramConfig`]), rounded to the
/// nearest integer (halves up). Recording never fails or panics: NaN, negative and infinite values are
/// counted as invalid, values above the range are clamped and counted. Reads go through a
/// [`Snapshot`].
///
/// ```
/// use optlayer_stats::{HistogramConfig, LatencyHistogram};
///
/// let histogram = LatencyHistogram::new(HistogramConfig::default())?;
/// for micros in 1..=1000 {
///     histogram.record(micros as f64 * 1_000.0); // nanoseconds
/// }
/// let snapshot = histogram.snapshot();
/// assert_eq!(snapshot.count(), 1000);
/// let p99 = snapshot.value_at_quantile(0.99).unwrap_or(0);
/// assert!(snapshot.counts_equivalent(p99, 990_000));
/// # Ok::<(), optlayer_stats::StatsError>(())
/// ```
pub struct LatencyHistogram {
    config: HistogramConfig,
    /// An empty histogram of the configured shape: cloned for new shards and snapshots.
    template: Histogram<u64>,
    shards: Box<[Padded<Mutex<Shard>>]>,
}

/// Hands each thread a slot number once; the slot picks the thread's home shard.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// Marks a thread whose slot is not assigned yet.
const NO_SLOT: usize = usize::MAX;

thread_local! {
    // A `const` initializer and a type without drop glue make this a plain TLS read, with
    // none of the lazy-initialization checks of other thread-locals.
    static SLOT: Cell<usize> = const { Cell::new(NO_SLOT) };
}

/// This thread's slot number, assigned on first use.
#[inline]
fn slot() -> usize {
    SLOT.with(|slot| {
        let mut value = slot.get();
        if value == NO_SLOT {
            value = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % (NO_SLOT - 1);
            slot.set(value);
        }
        value
    })
}

impl LatencyHistogram {
    /// An empty histogram; errors as [`HistogramConfig::validate`].
    pub fn new(config: HistogramConfig) -> Result<Self, StatsError> {
        let template = Snapshot::new(&config)?.counts;
        let shards = (0..config.shards)
            .map(|_| {
                Padded(Mutex::new(Shard {
                    counts: None,
                    totals: Totals::default(),
                }))
            })
            .collect();
        Ok(LatencyHistogram {
            config,
            template,
            shards,
        })
    }

    /// The configuration the histogram was built with.
    pub fn config(&self) -> &HistogramConfig {
        &self.config
    }

    /// Records one value.
    #[inline]
    pub fn record(&self, value: f64) -> Recorded {
        self.record_n(value, 1)
    }

    /// Records `count` occurrences of one value.
    pub fn record_n(&self, value: f64, count: u64) -> Recorded {
        let (value, outcome) = self.classify(value);
        if count == 0 {
            return outcome;
        }
        let mut shard = self.lock_shard();
        if outcome == Recorded::Invalid {
            shard.totals.invalid = shard.totals.invalid.saturating_add(count);
            return outcome;
        }
        let counts = shard.counts.get_or_insert_with(|| self.template.clone());
        if counts.record_n(value, count).is_err() {
            // Unreachable: `classify` keeps the value within the range.
            shard.totals.invalid = shard.totals.invalid.saturating_add(count);
            return Recorded::Invalid;
        }
        let totals = &mut shard.totals;
        totals.sum = totals
            .sum
            .saturating_add(u128::from(value) * u128::from(count));
        totals.min = totals.min.min(value);
        totals.max = totals.max.max(value);
        if outcome == Recorded::Clamped {
            totals.clamped = totals.clamped.saturating_add(count);
        }
        outcome
    }

    /// The integer to record for `value`, and whether it is as given, clamped or invalid.
    #[inline]
    fn classify(&self, value: f64) -> (u64, Recorded) {
        // NaN is in no range, so it fails this test too.
        if !(0.0..f64::INFINITY).contains(&value) {
            return (0, Recorded::Invalid);
        }
        // Half up: `f64::round` is a library call here, several times the cost of this add;
        // `as` saturates at u64::MAX, which the range check then clamps.
        let rounded = (value + 0.5) as u64;
        if rounded > self.config.highest_trackable {
            (self.config.highest_trackable, Recorded::Clamped)
        } else {
            (rounded, Recorded::Exact)
        }
    }

    /// This thread's home shard, or the first free one after it when the home shard is busy.
    #[inline]
    fn lock_shard(&self) -> MutexGuard<'_, Shard> {
        let n = self.shards.len();
        // The default shard counts are powers of two: a mask instead of a division.
        let home = if n.is_power_of_two() {
            slot() & (n - 1)
        } else {
            slot() % n
        };
        if let Some(guard) = self.shards[home].0.try_lock() {
            return guard;
        }
        let mut index = home;
        for _ in 1..n {
            index = if index + 1 == n { 0 } else { index + 1 };
            if let Some(guard) = self.shards[index].0.try_lock() {
                return guard;
            }
        }
        self.shards[home].0.lock()
    }

    /// Everything recorded so far, merged from the shards. Each shard is locked only while
    /// it is added, so recording goes on meanwhile.
    pub fn snapshot(&self) -> Snapshot {
        let mut counts = self.template.clone();
        let mut totals = Totals::default();
        for shard in self.shards.iter() {
            let shard = shard.0.lock();
            if let Some(shard_counts) = &shard.counts {
                // Cannot fail: same shape.
                if counts.add(shard_counts).is_err() {
                    totals.invalid = totals.invalid.saturating_add(shard_counts.len());
                }
            }
            totals.merge(&shard.totals);
        }
        Snapshot::from_parts(counts, totals)
    }

    /// Values recorded so far, without merging the counters.
    pub fn count(&self) -> u64 {
        self.shards
            .iter()
            .map(|shard| shard.0.lock().counts.as_ref().map_or(0, |c| c.len()))
            .fold(0, u64::saturating_add)
    }

    /// Adds a snapshot (another process's histogram, say) into this histogram; see
    /// [`Snapshot::merge`] for snapshots of another shape.
    pub fn merge(&self, snapshot: &Snapshot) {
        let mut shard = self.lock_shard();
        let Shard { counts, totals } = &mut *shard;
        let counts = counts.get_or_insert_with(|| self.template.clone());
        merge_into(counts, totals, snapshot);
    }

    /// Adds a serialized snapshot (see [`Snapshot::deserialize`]) into this histogram.
    pub fn merge_bytes(&self, bytes: &[u8]) -> Result<(), StatsError> {
        let snapshot = Snapshot::deserialize(bytes)?;
        self.merge(&snapshot);
        Ok(())
    }

    /// Forgets everything recorded; shards keep their memory for the next values.
    pub fn reset(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.0.lock();
            if let Some(counts) = &mut shard.counts {
                counts.reset();
            }
            shard.totals = Totals::default();
        }
    }

    /// Bytes of counters held now: the shards that have recorded.
    pub fn allocated_bytes(&self) -> usize {
        let used = self
            .shards
            .iter()
            .filter(|shard| shard.0.lock().counts.is_some())
            .count();
        used * self.config.bytes_per_shard()
    }
}
