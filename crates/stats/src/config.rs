use crate::error::StatsError;

/// Most shards a histogram may have: more would only multiply its memory.
pub const MAX_SHARDS: usize = 64;

/// Most significant figures HDR histograms support.
pub const MAX_SIGNIFICANT_FIGURES: u8 = 5;

/// Most counters one shard may hold (32 MiB of `u64`, enough for 5 significant figures from
/// 1 µs to 1 h in nanoseconds): a bound on what a configuration, or a serialized histogram
/// from elsewhere, can make this process allocate.
pub const MAX_COUNTS: usize = 1 << 22;

/// The range, precision and sharding of a [`crate::LatencyHistogram`].
///
/// Values are unsigned integers in a unit the caller chooses; the defaults assume
/// nanoseconds and cover request latency: 1 µs to 1 h at 3 significant figures, so every
/// value from 1 µs up is reported within 0.1 % of itself (below 1 µs, to the microsecond).
///
/// Memory: each shard that has recorded a value holds [`HistogramConfig::counts_len`]
/// `u64` counters, `8 × (b + 1) × 2^(m−1)` bytes where `2^m ≥ 2 × 10^significant_figures`
/// is the sub-bucket count and `b` the number of power-of-two buckets needed to reach
/// `highest_trackable` from `2^m × 2^⌊log2 lowest_discernible⌋`. The defaults make that
/// 24,576 counters, 192 KiB a shard; shards are allocated on first use, so a histogram
/// recorded from one thread holds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramConfig {
    /// Smallest value told apart from 0; values below it are recorded at that resolution.
    /// At least 1.
    pub lowest_discernible: u64,
    /// Largest value recorded as is; larger ones are clamped to it and counted. At least
    /// twice `lowest_discernible`.
    pub highest_trackable: u64,
    /// Decimal digits of precision kept for every value, 0 to 5.
    pub significant_figures: u8,
    /// Independently locked parts the threads record into, 1 to [`MAX_SHARDS`]. A thread
    /// records into its own shard unless another thread holds it, so contention stays low up
    /// to this many recording threads.
    pub shards: usize,
}

impl Default for HistogramConfig {
    fn default() -> Self {
        HistogramConfig {
            lowest_discernible: 1_000,
            highest_trackable: 3_600_000_000_000,
            significant_figures: 3,
            shards: 4,
        }
    }
}

impl HistogramConfig {
    /// Checks every field; see each field for what it accepts.
    pub fn validate(&self) -> Result<(), StatsError> {
        if self.lowest_discernible < 1 || self.lowest_discernible > u64::MAX / 2 {
            return Err(StatsError::invalid(
                "lowest_discernible",
                "an integer from 1 to 2^63 - 1",
                self.lowest_discernible,
            ));
        }
        if self.highest_trackable / 2 < self.lowest_discernible {
            return Err(StatsError::invalid(
                "highest_trackable",
                "at least twice lowest_discernible",
                self.highest_trackable,
            ));
        }
        if self.significant_figures > MAX_SIGNIFICANT_FIGURES {
            return Err(StatsError::invalid(
                "significant_figures",
                "an integer from 0 to 5",
                self.significant_figures,
            ));
        }
        if self.shards == 0 || self.shards > MAX_SHARDS {
            return Err(StatsError::invalid(
                "shards",
                "an integer from 1 to 64",
                self.shards,
            ));
        }
        match self.counts_len() {
            Some(len) if len <= MAX_COUNTS => Ok(()),
            _ => Err(StatsError::invalid(
                "highest_trackable",
                "a range and precision needing at most 2^22 counters (lower significant_figures or narrow the range)",
                format!(
                    "{} to {} at {} figures",
                    self.lowest_discernible, self.highest_trackable, self.significant_figures
                ),
            )),
        }
    }

    /// Counters one shard holds, computed as `hdrhistogram` sizes its array; `None` when the
    /// range and precision cannot be represented in 64-bit values.
    pub fn counts_len(&self) -> Option<usize> {
        if self.lowest_discernible == 0 || self.significant_figures > MAX_SIGNIFICANT_FIGURES {
            return None;
        }
        // Single-unit resolution is kept up to 2 × 10^figures, rounded up to a power of two.
        let largest = 2 * 10_u64.pow(u32::from(self.significant_figures));
        let sub_bucket_magnitude = u64::BITS - (largest - 1).leading_zeros();
        let unit_magnitude = u64::BITS - 1 - self.lowest_discernible.leading_zeros();
        if unit_magnitude + sub_bucket_magnitude > 63 {
            return None;
        }
        let mut smallest_untrackable = 1_u64 << (sub_bucket_magnitude + unit_magnitude);
        let mut buckets = 1_usize;
        while smallest_untrackable <= self.highest_trackable {
            if smallest_untrackable > u64::MAX / 2 {
                buckets += 1;
                break;
            }
            smallest_untrackable <<= 1;
            buckets += 1;
        }
        Some((buckets + 1) << (sub_bucket_magnitude - 1))
    }

    /// Bytes of counters one shard holds once it has recorded a value.
    pub fn bytes_per_shard(&self) -> usize {
        self.counts_len().unwrap_or(0) * std::mem::size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use hdrhistogram::Histogram;

    use super::*;

    #[test]
    fn counts_len_matches_hdrhistogram() {
        let shapes = [
            (1, 2, 0),
            (1, 3_600_000_000, 3),
            (1_000, 3_600_000_000_000, 3),
            (1_000, 3_600_000_000_000, 5),
            (1_000_000, 60_000_000_000, 2),
            (7, 1 << 40, 4),
            (1, u64::MAX, 3),
            (1 << 40, u64::MAX, 1),
        ];
        // Under Miri the widest shapes (millions of counters allocated and counted by
        // hdrhistogram) take minutes; the narrow ones exercise the same arithmetic.
        let checked = if cfg!(miri) {
            &shapes[..3]
        } else {
            &shapes[..]
        };
        for &(low, high, figures) in checked {
            let config = HistogramConfig {
                lowest_discernible: low,
                highest_trackable: high,
                significant_figures: figures,
                shards: 1,
            };
            let hdr = Histogram::<u64>::new_with_bounds(low, high, figures).expect("valid shape");
            assert_eq!(
                config.counts_len(),
                Some(hdr.distinct_values()),
                "{low}..{high} at {figures}"
            );
        }
        assert_eq!(HistogramConfig::default().bytes_per_shard(), 192 * 1024);
    }

    #[test]
    fn validate_names_the_field() {
        let bad = |change: fn(&mut HistogramConfig)| {
            let mut config = HistogramConfig::default();
            change(&mut config);
            match config.validate() {
                Err(StatsError::InvalidArgument { name, .. }) => name,
                other => panic!("expected an invalid argument, got {other:?}"),
            }
        };
        assert_eq!(bad(|c| c.lowest_discernible = 0), "lowest_discernible");
        assert_eq!(bad(|c| c.highest_trackable = 1_999), "highest_trackable");
        assert_eq!(bad(|c| c.significant_figures = 6), "significant_figures");
        assert_eq!(bad(|c| c.shards = 0), "shards");
        assert_eq!(bad(|c| c.shards = MAX_SHARDS + 1), "shards");
        // 5 figures from 1 ns to 2^64 would need more counters than a shard may hold.
        assert_eq!(
            bad(|c| {
                c.lowest_discernible = 1;
                c.highest_trackable = u64::MAX;
                c.significant_figures = 5;
            }),
            "highest_trackable"
        );
        assert_eq!(HistogramConfig::default().validate(), Ok(()));
    }
}
