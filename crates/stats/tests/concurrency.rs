//! Many threads recording into one histogram while others read and merge: nothing is lost,
//! reads only ever grow, and the result equals a brute-force computation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use optlayer_stats::{HistogramConfig, LatencyHistogram, Snapshot};

const THREADS: u64 = 8;
/// Fewer under Miri, which is orders of magnitude slower.
const PER_THREAD: u64 = if cfg!(miri) { 200 } else { 100_000 };

/// The value thread `t` records at step `i`: distinct per thread, spread over five decades.
fn value(t: u64, i: u64) -> u64 {
    1_000 + ((i * 7_919 + t * 104_729) % 1_000_000) * (1 + t * 13)
}

#[test]
fn concurrent_recording_loses_nothing() {
    let histogram = Arc::new(LatencyHistogram::new(HistogramConfig::default()).expect("valid"));
    let done = Arc::new(AtomicBool::new(false));
    // A reader snapshots throughout: counts never go backwards and are never torn.
    let reader = {
        let (histogram, done) = (Arc::clone(&histogram), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut last = 0;
            let mut reads = 0;
            while !done.load(Ordering::Acquire) {
                let snapshot = histogram.snapshot();
                assert!(snapshot.count() >= last, "count went backwards");
                let mut all = [0];
                snapshot.cumulative_counts(&[u64::MAX], &mut all);
                assert_eq!(all[0], snapshot.count(), "counters and total disagree");
                last = snapshot.count();
                reads += 1;
            }
            reads
        })
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let histogram = Arc::clone(&histogram);
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    histogram.record(value(t, i) as f64);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer");
    }
    done.store(true, Ordering::Release);
    assert!(reader.join().expect("reader") > 0);

    let snapshot = histogram.snapshot();
    let mut exact: Vec<u64> = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |i| value(t, i)))
        .collect();
    exact.sort_unstable();
    assert_eq!(snapshot.count(), THREADS * PER_THREAD);
    assert_eq!(
        snapshot.sum(),
        exact.iter().map(|&v| u128::from(v)).sum::<u128>()
    );
    assert_eq!(
        (snapshot.min(), snapshot.max()),
        (exact.first().copied(), exact.last().copied())
    );
    for quantile in [0.5, 0.9, 0.99, 0.999] {
        let rank = ((quantile * exact.len() as f64).ceil() as usize).max(1);
        let reported = snapshot.value_at_quantile(quantile).expect("recorded");
        assert!(
            snapshot.counts_equivalent(reported, exact[rank - 1]),
            "q{quantile}: {reported} vs {}",
            exact[rank - 1]
        );
    }
}

#[test]
fn merges_and_resets_race_safely_with_recording() {
    let histogram = Arc::new(LatencyHistogram::new(HistogramConfig::default()).expect("valid"));
    let wire = {
        let other = LatencyHistogram::new(HistogramConfig::default()).expect("valid");
        for i in 0..1_000 {
            other.record(f64::from(i) * 1e4);
        }
        other.snapshot().serialize()
    };
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (histogram, wire) = (Arc::clone(&histogram), wire.clone());
            std::thread::spawn(move || {
                for i in 0..PER_THREAD / 10 {
                    match (t, i % 500) {
                        (0, 0) => histogram.merge_bytes(&wire).expect("own format"),
                        (1, 250) => histogram.reset(),
                        _ => {
                            histogram.record((i * 1_000) as f64);
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    // Whatever interleaving happened, the histogram is consistent with itself.
    let snapshot = histogram.snapshot();
    let restored = Snapshot::deserialize(&snapshot.serialize()).expect("own format");
    assert_eq!(restored.count(), snapshot.count());
    let mut all = [0];
    snapshot.cumulative_counts(&[u64::MAX], &mut all);
    assert_eq!(all[0], snapshot.count());
}
