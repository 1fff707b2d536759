//! Exactness against brute force on known data, recording edge cases, serialization,
//! merging, windows and the named registry.

use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use optlayer_stats::{named, HistogramConfig, LatencyHistogram, Recorded, Snapshot, StatsError};

const QUANTILES: [f64; 10] = [0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0];

/// xorshift64*: a fixed-seed generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Data sets in nanoseconds: uniform, log-uniform over six decades, heavy duplicates, a
/// handful of values, values below the lowest discernible one and fractional values.
fn data_sets() -> Vec<(&'static str, Vec<f64>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    vec![
        (
            "uniform",
            (0..20_000).map(|_| (rng.unit() * 5e7).round()).collect(),
        ),
        (
            "log-uniform",
            (0..20_000)
                .map(|_| (1_000.0 * 10f64.powf(6.0 * rng.unit())).round())
                .collect(),
        ),
        (
            "duplicates",
            (0..10_000).map(|i| [1_500.0, 2e6, 7e9][i % 3]).collect(),
        ),
        ("few", vec![5e6, 1e3, 3e9]),
        ("one", vec![123_456_789.0]),
        (
            "sub-microsecond",
            (0..1_000).map(|i| (i % 1_000) as f64).collect(),
        ),
        ("fractional", (0..5_000).map(|_| rng.unit() * 1e6).collect()),
    ]
}

fn filled(values: &[f64]) -> LatencyHistogram {
    let histogram = LatencyHistogram::new(HistogramConfig::default()).expect("valid config");
    for &value in values {
        assert_eq!(histogram.record(value), Recorded::Exact);
    }
    histogram
}

fn sorted(values: &[f64]) -> Vec<u64> {
    let mut exact: Vec<u64> = values.iter().map(|v| v.round() as u64).collect();
    exact.sort_unstable();
    exact
}

/// Nearest rank: the ⌈q × n⌉-th smallest value (the first for q = 0).
fn exact_quantile(sorted: &[u64], quantile: f64) -> u64 {
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

#[test]
fn quantiles_match_brute_force_within_precision() {
    for (name, values) in data_sets() {
        let snapshot = filled(&values).snapshot();
        let exact = sorted(&values);
        let mut out = [None; QUANTILES.len()];
        snapshot.values_at_quantiles(&QUANTILES, &mut out);
        for (&quantile, reported) in QUANTILES.iter().zip(out) {
            let reported = reported.expect("values were recorded");
            let expected = exact_quantile(&exact, quantile);
            assert!(
                snapshot.counts_equivalent(reported, expected),
                "{name}: q{quantile} reported {reported}, exact {expected}"
            );
            // 3 significant figures, and the microsecond floor of the default shape.
            let error = reported.abs_diff(expected) as f64;
            assert!(
                error <= (expected as f64 / 1000.0).max(1023.0),
                "{name}: q{quantile} reported {reported}, exact {expected}"
            );
        }
        // The extremes are exact, and so are the 0 and 1 quantiles.
        assert_eq!(snapshot.value_at_quantile(0.0), exact.first().copied());
        assert_eq!(snapshot.value_at_quantile(1.0), exact.last().copied());
    }
}

#[test]
fn quantiles_in_any_order_and_out_of_range() {
    let snapshot = filled(&data_sets()[1].1).snapshot();
    let shuffled = [0.99, 0.5, 1.5, f64::NAN, -1.0, 0.9];
    let mut out = [None; 6];
    snapshot.values_at_quantiles(&shuffled, &mut out);
    assert_eq!(out[0], snapshot.value_at_quantile(0.99));
    assert_eq!(out[1], snapshot.value_at_quantile(0.5));
    assert_eq!(out[2], snapshot.max(), "above 1 reads as 1");
    assert_eq!(out[3], None, "NaN has no quantile");
    assert_eq!(out[4], snapshot.min(), "below 0 reads as 0");
    assert_eq!(out[5], snapshot.value_at_quantile(0.9));
    let empty = LatencyHistogram::new(HistogramConfig::default())
        .expect("valid config")
        .snapshot();
    assert_eq!(empty.value_at_quantile(0.5), None);
    assert_eq!((empty.min(), empty.max(), empty.mean()), (None, None, None));
}

#[test]
fn count_sum_extremes_and_mean_are_exact() {
    for (name, values) in data_sets() {
        let snapshot = filled(&values).snapshot();
        let exact = sorted(&values);
        let sum: u128 = exact.iter().map(|&v| u128::from(v)).sum();
        assert_eq!(snapshot.count(), exact.len() as u64, "{name}");
        assert_eq!(snapshot.sum(), sum, "{name}");
        assert_eq!(snapshot.min(), exact.first().copied(), "{name}");
        assert_eq!(snapshot.max(), exact.last().copied(), "{name}");
        let mean = snapshot.mean().expect("values were recorded");
        assert!((mean - sum as f64 / exact.len() as f64).abs() < 1e-6 * mean.max(1.0));
        assert_eq!((snapshot.invalid(), snapshot.clamped()), (0, 0));
    }
}

#[test]
fn cumulative_counts_match_brute_force_within_precision() {
    // Prometheus-style bounds in nanoseconds, deliberately unsorted.
    let bounds: Vec<u64> = [5e6, 1e5, 2.5e8, 1e6, 0.0, 1e10, 5e5, 2.5e6, 1e7, 1e9, 1e3]
        .iter()
        .map(|&b| b as u64)
        .collect();
    for (name, values) in data_sets() {
        let snapshot = filled(&values).snapshot();
        let exact = sorted(&values);
        let mut out = vec![0; bounds.len()];
        snapshot.cumulative_counts(&bounds, &mut out);
        for (&bound, &reported) in bounds.iter().zip(&out) {
            let at_most = exact.iter().filter(|&&v| v <= bound).count() as u64;
            // Values in the bound's own bucket count with it.
            let with_bucket = exact
                .iter()
                .filter(|&&v| v <= bound || snapshot.counts_equivalent(v, bound))
                .count() as u64;
            assert_eq!(reported, with_bucket, "{name}: le {bound}");
            assert!(reported >= at_most, "{name}: le {bound}");
        }
        let mut all = [0];
        snapshot.cumulative_counts(&[u64::MAX], &mut all);
        assert_eq!(all[0], snapshot.count(), "{name}");
    }
}

#[test]
fn bad_values_are_counted_never_recorded_and_never_panic() {
    let config = HistogramConfig {
        highest_trackable: 1_000_000,
        ..HistogramConfig::default()
    };
    let histogram = LatencyHistogram::new(config).expect("valid config");
    for bad in [f64::NAN, -1.0, -1e-9, f64::NEG_INFINITY, f64::INFINITY] {
        assert_eq!(histogram.record(bad), Recorded::Invalid, "{bad}");
    }
    assert_eq!(histogram.record(-0.0), Recorded::Exact);
    assert_eq!(histogram.record(1_000_000.4), Recorded::Exact);
    assert_eq!(histogram.record(5e6), Recorded::Clamped);
    assert_eq!(histogram.record(1e300), Recorded::Clamped);
    assert_eq!(histogram.record_n(2e6, 3), Recorded::Clamped);
    assert_eq!(histogram.record_n(10.0, 0), Recorded::Exact);
    let snapshot = histogram.snapshot();
    assert_eq!(snapshot.invalid(), 5);
    assert_eq!(snapshot.clamped(), 5);
    assert_eq!(snapshot.count(), 7, "clamped values are recorded");
    assert_eq!(snapshot.max(), Some(1_000_000));
    assert_eq!(snapshot.min(), Some(0));
    assert_eq!(snapshot.sum(), 6 * 1_000_000);
}

#[test]
fn serialization_round_trips_exactly() {
    for (name, values) in data_sets() {
        let histogram = filled(&values);
        histogram.record(f64::NAN);
        histogram.record(1e20);
        let snapshot = histogram.snapshot();
        let restored = Snapshot::deserialize(&snapshot.serialize()).expect("own format");
        assert_eq!(restored.count(), snapshot.count(), "{name}");
        assert_eq!(restored.sum(), snapshot.sum(), "{name}");
        assert_eq!(
            (restored.min(), restored.max()),
            (snapshot.min(), snapshot.max())
        );
        assert_eq!((restored.invalid(), restored.clamped()), (1, 1), "{name}");
        for quantile in QUANTILES {
            assert_eq!(
                restored.value_at_quantile(quantile),
                snapshot.value_at_quantile(quantile),
                "{name}: q{quantile}"
            );
        }
        assert_eq!(restored.config(), snapshot.config());
    }
    let empty = LatencyHistogram::new(HistogramConfig::default())
        .expect("valid config")
        .snapshot();
    let restored = Snapshot::deserialize(&empty.serialize()).expect("own format");
    assert_eq!((restored.count(), restored.min()), (0, None));
}

#[test]
fn plain_and_compressed_v2_from_other_libraries_are_read() {
    let values = &data_sets()[1].1;
    let snapshot = filled(values).snapshot();
    let plain = Snapshot::deserialize(&snapshot.serialize_v2()).expect("plain V2");
    let mut compressed = Vec::new();
    let hdr = {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1_000, 3_600_000_000_000, 3)
            .expect("valid shape");
        for &v in values {
            h.record(v as u64).expect("in range");
        }
        h
    };
    V2DeflateSerializer::new()
        .serialize(&hdr, &mut compressed)
        .expect("serializes");
    let inflated = Snapshot::deserialize(&compressed).expect("compressed V2");
    for read in [&plain, &inflated] {
        assert_eq!(read.count(), snapshot.count());
        for quantile in QUANTILES {
            let (a, b) = (
                read.value_at_quantile(quantile).expect("recorded"),
                snapshot.value_at_quantile(quantile).expect("recorded"),
            );
            assert!(snapshot.counts_equivalent(a, b), "q{quantile}: {a} vs {b}");
        }
        // Without the envelope the sum is estimated from bucket midpoints.
        let error = (read.sum() as f64 - snapshot.sum() as f64).abs();
        assert!(error <= snapshot.sum() as f64 * 1e-3);
    }
}

#[test]
fn the_v2_header_of_hdr_histogram_js_is_read() {
    // hdr-histogram-js writes an offset of 1 and an integer 1 as the conversion ratio, and
    // ignores both when reading; anything else there stays refused.
    let snapshot = filled(&data_sets()[0].1).snapshot();
    let mut theirs = snapshot.serialize_v2();
    theirs[8..12].copy_from_slice(&1u32.to_be_bytes());
    theirs[32..40].copy_from_slice(&1u64.to_be_bytes());
    let read = Snapshot::deserialize(&theirs).expect("hdr-histogram-js header");
    assert_eq!(read.count(), snapshot.count());
    assert_eq!(read.value_at_quantile(0.5), snapshot.value_at_quantile(0.5));
    theirs[8..12].copy_from_slice(&2u32.to_be_bytes());
    assert!(
        Snapshot::deserialize(&theirs).is_err(),
        "a real offset is not ignored"
    );
}

#[test]
fn corrupt_input_is_an_error_never_a_panic_or_a_huge_allocation() {
    let good = filled(&data_sets()[0].1).snapshot().serialize();
    let corrupt = |bytes: &[u8]| match Snapshot::deserialize(bytes) {
        Err(e @ StatsError::CorruptInput { .. }) => e.code(),
        other => panic!("expected corrupt input, got {other:?}"),
    };
    assert_eq!(corrupt(&[]), "ERR_OPTLAYER_CORRUPT_INPUT");
    corrupt(b"hello world, not a histogram");
    corrupt(&good[..good.len() - 1]);
    corrupt(&good[..30]);
    let mut trailing = good.clone();
    trailing.push(0);
    corrupt(&trailing);
    // A header asking for 2^64 at 5 figures from 1: far beyond the counters a shard may hold.
    let mut huge = good.clone();
    huge[52 + 12..52 + 16].copy_from_slice(&5u32.to_be_bytes());
    huge[52 + 16..52 + 24].copy_from_slice(&1u64.to_be_bytes());
    huge[52 + 24..52 + 32].copy_from_slice(&u64::MAX.to_be_bytes());
    corrupt(&huge);
    // A payload length far beyond the bytes given.
    let mut long = good.clone();
    long[52 + 4..52 + 8].copy_from_slice(&u32::MAX.to_be_bytes());
    corrupt(&long);
    // Random damage anywhere: any answer but a panic.
    let mut rng = Rng(7);
    for _ in 0..5_000 {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.next() % 4 {
            let at = (rng.next() % bytes.len() as u64) as usize;
            bytes[at] = rng.next() as u8;
        }
        if let Ok(snapshot) = Snapshot::deserialize(&bytes) {
            let _ = snapshot.value_at_quantile(0.99);
            let _ = snapshot.mean();
        }
    }
}

#[test]
fn merge_adds_exactly_like_recording_everything_in_one() {
    let sets = data_sets();
    let all: Vec<f64> = sets.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let one = filled(&all).snapshot();
    let fleet = LatencyHistogram::new(HistogramConfig::default()).expect("valid config");
    for (_, values) in &sets {
        let wire = filled(values).snapshot().serialize();
        fleet.merge_bytes(&wire).expect("own format");
    }
    let merged = fleet.snapshot();
    assert_eq!(merged.count(), one.count());
    assert_eq!(merged.sum(), one.sum());
    assert_eq!((merged.min(), merged.max()), (one.min(), one.max()));
    for quantile in QUANTILES {
        assert_eq!(
            merged.value_at_quantile(quantile),
            one.value_at_quantile(quantile)
        );
    }
    let mut snapshot = filled(&sets[0].1).snapshot();
    snapshot.merge(&filled(&sets[1].1).snapshot());
    assert_eq!(snapshot.count(), (sets[0].1.len() + sets[1].1.len()) as u64);
}

#[test]
fn merge_of_another_shape_clamps_and_counts() {
    let narrow = LatencyHistogram::new(HistogramConfig {
        highest_trackable: 1_000_000_000,
        ..HistogramConfig::default()
    })
    .expect("valid config");
    let wide = filled(&[5e5, 2e6, 5e9, 7e9]).snapshot();
    narrow.merge(&wide);
    let snapshot = narrow.snapshot();
    assert_eq!(snapshot.count(), 4);
    assert_eq!(snapshot.clamped(), 2, "the two values above 1 s");
    assert_eq!(snapshot.max(), Some(1_000_000_000));
    let p25 = snapshot.value_at_quantile(0.25).expect("recorded");
    assert!(snapshot.counts_equivalent(p25, 500_000), "{p25}");
}

#[test]
fn delta_since_gives_the_window() {
    let histogram = LatencyHistogram::new(HistogramConfig::default()).expect("valid config");
    let before: Vec<f64> = (1..=5_000).map(|i| i as f64 * 1e6).collect();
    let window: Vec<f64> = (1..=1_000).map(|i| i as f64 * 1e3).collect();
    for &v in &before {
        histogram.record(v);
    }
    let earlier = histogram.snapshot();
    for &v in &window {
        histogram.record(v);
    }
    histogram.record(f64::NAN);
    let delta = histogram.snapshot().delta_since(&earlier);
    let exact = sorted(&window);
    assert_eq!(delta.count(), 1_000);
    assert_eq!(
        delta.sum(),
        exact.iter().map(|&v| u128::from(v)).sum::<u128>()
    );
    assert_eq!(delta.invalid(), 1);
    for quantile in QUANTILES {
        let reported = delta.value_at_quantile(quantile).expect("recorded");
        assert!(
            delta.counts_equivalent(reported, exact_quantile(&exact, quantile)),
            "q{quantile}: {reported}"
        );
    }
    // After a reset the earlier snapshot is no longer a prefix: the window is everything.
    histogram.reset();
    histogram.record(42e6);
    let after_reset = histogram.snapshot().delta_since(&earlier);
    assert_eq!(after_reset.count(), 1);
    assert_eq!(after_reset.max(), Some(42_000_000));
}

#[test]
fn named_histograms_are_shared_and_checked() {
    let config = HistogramConfig::default();
    let a = named("stats-test-shared", config).expect("opens");
    let b = std::thread::spawn(move || {
        let b = named("stats-test-shared", config).expect("opens");
        b.record(1e6);
        b
    })
    .join()
    .expect("thread");
    a.record(2e6);
    assert_eq!(a.count(), 2);
    assert_eq!(b.count(), 2);
    let other = HistogramConfig {
        significant_figures: 2,
        ..config
    };
    assert_eq!(
        named("stats-test-shared", other).err().map(|e| e.code()),
        Some("ERR_OPTLAYER_CONFIG_MISMATCH")
    );
    drop((a, b));
    let fresh = named("stats-test-shared", other).expect("reopens once let go");
    assert_eq!(fresh.count(), 0);
}

#[test]
fn shards_are_allocated_on_first_use() {
    let histogram = LatencyHistogram::new(HistogramConfig::default()).expect("valid config");
    assert_eq!(histogram.allocated_bytes(), 0);
    histogram.record(1e6);
    assert_eq!(histogram.allocated_bytes(), 192 * 1024);
}
