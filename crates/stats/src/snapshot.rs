//! A merged, read-only view of a histogram: what scrapes read, what is serialized and what
//! fleets merge.

use hdrhistogram::Histogram;

use crate::config::HistogramConfig;
use crate::error::StatsError;

/// Exact totals kept beside the HDR counters, which only know values to their precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Sum of the recorded (rounded, clamped) values; a `u128` cannot overflow in practice.
    pub sum: u128,
    /// Smallest recorded value, `u64::MAX` while nothing was recorded.
    pub min: u64,
    /// Largest recorded value, 0 while nothing was recorded.
    pub max: u64,
    /// Values refused: NaN, negative or infinite.
    pub invalid: u64,
    /// Values above the highest trackable value, recorded as that value.
    pub clamped: u64,
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            sum: 0,
            min: u64::MAX,
            max: 0,
            invalid: 0,
            clamped: 0,
        }
    }
}

impl Totals {
    pub(crate) fn merge(&mut self, other: &Totals) {
        self.sum = self.sum.saturating_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.invalid = self.invalid.saturating_add(other.invalid);
        self.clamped = self.clamped.saturating_add(other.clamped);
    }
}

/// Everything a histogram recorded up to one moment, merged from its shards.
///
/// Quantiles, the minimum and the maximum are within the histogram's precision (a value is
/// reported as the highest value equivalent to it, capped by the exact maximum); the count,
/// sum and mean are exact, except for [`Snapshot::delta_since`] windows, whose minimum and
/// maximum come from the counters too.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) counts: Histogram<u64>,
    pub(crate) totals: Totals,
}

impl Snapshot {
    /// An empty snapshot of the given shape.
    pub fn new(config: &HistogramConfig) -> Result<Self, StatsError> {
        config.validate()?;
        let counts = Histogram::new_with_bounds(
            config.lowest_discernible,
            config.highest_trackable,
            config.significant_figures,
        )
        .map_err(|e| StatsError::invalid("config", "a range hdrhistogram accepts", e))?;
        Ok(Snapshot {
            counts,
            totals: Totals::default(),
        })
    }

    pub(crate) fn from_parts(counts: Histogram<u64>, totals: Totals) -> Self {
        Snapshot { counts, totals }
    }

    /// Values recorded (invalid ones excluded).
    pub fn count(&self) -> u64 {
        self.counts.len()
    }

    /// Sum of the values recorded, as recorded (rounded to integers, clamped).
    pub fn sum(&self) -> u128 {
        self.totals.sum
    }

    /// Smallest value recorded, if any.
    pub fn min(&self) -> Option<u64> {
        (self.count() > 0).then_some(self.totals.min)
    }

    /// Largest value recorded, if any.
    pub fn max(&self) -> Option<u64> {
        (self.count() > 0).then_some(self.totals.max)
    }

    /// Arithmetic mean of the values recorded, if any: exact, from the sum.
    pub fn mean(&self) -> Option<f64> {
        let count = self.count();
        (count > 0).then(|| self.totals.sum as f64 / count as f64)
    }

    /// Standard deviation of the values recorded, if any, within the histogram's precision.
    pub fn stdev(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.counts.stdev())
    }

    /// Values refused as NaN, negative or infinite.
    pub fn invalid(&self) -> u64 {
        self.totals.invalid
    }

    /// Values above the highest trackable value, recorded as that value.
    pub fn clamped(&self) -> u64 {
        self.totals.clamped
    }

    /// The shape this snapshot's counters have (with one shard).
    pub fn config(&self) -> HistogramConfig {
        HistogramConfig {
            lowest_discernible: self.counts.low(),
            highest_trackable: self.counts.high(),
            significant_figures: self.counts.sigfig(),
            shards: 1,
        }
    }

    /// The value below or at which the fraction `quantile` of the values lie (nearest rank:
    /// the ⌈quantile × count⌉-th smallest), within the histogram's precision. `quantile` is
    /// clamped to `[0, 1]`; `None` when nothing was recorded or `quantile` is NaN.
    pub fn value_at_quantile(&self, quantile: f64) -> Option<u64> {
        let mut out = [None];
        self.values_at_quantiles(&[quantile], &mut out);
        out[0]
    }

    /// [`Snapshot::value_at_quantile`] of every quantile, in any order, in one pass over the
    /// counters; writes `out[i]` for `quantiles[i]` (`out` must be as long).
    pub fn values_at_quantiles(&self, quantiles: &[f64], out: &mut [Option<u64>]) {
        out.fill(None);
        if self.count() == 0 {
            return;
        }
        let mut order: Vec<usize> = (0..quantiles.len().min(out.len()))
            .filter(|&i| !quantiles[i].is_nan())
            .collect();
        // hdrhistogram walks its counters once for quantiles given in ascending order.
        order.sort_by(|&a, &b| quantiles[a].total_cmp(&quantiles[b]));
        let sorted = order.iter().map(|&i| quantiles[i].clamp(0.0, 1.0));
        let (low, high) = (self.totals.min, self.totals.max);
        for (&i, value) in order.iter().zip(self.counts.value_at_quantiles(sorted)) {
            // The counters report a bucket's highest (or, at 0, lowest) equivalent value; the
            // exact extremes are tighter, and make the 0 and 1 quantiles exact.
            out[i] = Some(value.clamp(low.min(high), high));
        }
    }

    /// For each bound, how many values were at most that bound, within the histogram's
    /// precision (a value counts when the lowest value equivalent to it is at most the
    /// bound): the cumulative buckets of a Prometheus histogram. Bounds may come in any
    /// order; writes `out[i]` for `bounds[i]` (`out` must be as long).
    pub fn cumulative_counts(&self, bounds: &[u64], out: &mut [u64]) {
        let n = bounds.len().min(out.len());
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| bounds[i]);
        let mut next = 0;
        let mut running = 0_u64;
        for bucket in self.counts.iter_recorded() {
            let low = self.counts.lowest_equivalent(bucket.value_iterated_to());
            while next < n && bounds[order[next]] < low {
                out[order[next]] = running;
                next += 1;
            }
            running = running.saturating_add(bucket.count_at_value());
        }
        for &i in &order[next..] {
            out[i] = running;
        }
    }

    /// Adds `other` into this snapshot. Counters of the same shape add exactly; others are
    /// re-recorded value by value at this snapshot's precision, values above its range
    /// clamped and counted.
    pub fn merge(&mut self, other: &Snapshot) {
        merge_into(&mut self.counts, &mut self.totals, other);
    }

    /// Whether two values fall in the same bucket: equal within the histogram's precision.
    pub fn counts_equivalent(&self, a: u64, b: u64) -> bool {
        self.counts.equivalent(a, b)
    }

    /// What was recorded between `earlier` and this snapshot, both of the same histogram:
    /// the basis of sliding-window quantiles. When `earlier` holds values this snapshot does
    /// not (the histogram was reset in between) or has another shape, the whole of this
    /// snapshot is the window. The window's minimum and maximum come from the counters.
    pub fn delta_since(&self, earlier: &Snapshot) -> Snapshot {
        let covers = same_shape(&self.counts, &earlier.counts)
            && earlier
                .counts
                .iter_recorded()
                .all(|b| self.counts.count_at(b.value_iterated_to()) >= b.count_at_value());
        if !covers {
            return self.clone();
        }
        let mut counts = self.counts.clone();
        // Cannot fail after the check above; if it did, the whole snapshot is the answer.
        if counts.subtract(&earlier.counts).is_err() {
            return self.clone();
        }
        let empty = counts.is_empty();
        let totals = Totals {
            sum: self.totals.sum.saturating_sub(earlier.totals.sum),
            min: if empty {
                u64::MAX
            } else {
                counts.min().max(self.totals.min)
            },
            max: if empty {
                0
            } else {
                counts.max().min(self.totals.max)
            },
            invalid: self.totals.invalid.saturating_sub(earlier.totals.invalid),
            clamped: self.totals.clamped.saturating_sub(earlier.totals.clamped),
        };
        Snapshot { counts, totals }
    }
}

/// Whether two counter arrays have the same length and meaning, so they add index by index.
pub(crate) fn same_shape(a: &Histogram<u64>, b: &Histogram<u64>) -> bool {
    a.low() == b.low() && a.high() == b.high() && a.sigfig() == b.sigfig()
}

/// Adds `other` into counters and totals of any shape (see [`Snapshot::merge`]).
pub(crate) fn merge_into(counts: &mut Histogram<u64>, totals: &mut Totals, other: &Snapshot) {
    if same_shape(counts, &other.counts) && counts.add(&other.counts).is_ok() {
        totals.merge(&other.totals);
        return;
    }
    let high = counts.high();
    let mut clamped = 0_u64;
    for bucket in other.counts.iter_recorded() {
        // The middle of the bucket: the least biased stand-in for the values it holds.
        let value = other.counts.median_equivalent(bucket.value_iterated_to());
        let count = bucket.count_at_value();
        if value > high {
            clamped = clamped.saturating_add(count);
        }
        // Cannot fail: the value is clamped into range.
        let _ = counts.record_n(value.min(high), count);
    }
    let mut incoming = other.totals;
    incoming.clamped = incoming.clamped.saturating_add(clamped);
    incoming.max = incoming.max.min(high);
    incoming.min = incoming.min.min(high);
    incoming.sum = incoming
        .sum
        .min(u128::from(high) * u128::from(other.count()));
    totals.merge(&incoming);
}
