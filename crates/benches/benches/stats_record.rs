//! ns per `record`: from one thread (the common case: one JavaScript thread per histogram)
//! and from four threads at once into one histogram (worker_threads sharing a named one),
//! with values spread over four decades as request latencies are.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use optlayer_stats::{HistogramConfig, LatencyHistogram};

/// Latencies from 10 µs to 100 ms in nanoseconds, log-uniform, from a fixed-seed generator.
fn latencies(count: usize) -> Vec<f64> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            10_000.0 * 10f64.powf(4.0 * unit)
        })
        .collect()
}

fn one_thread(c: &mut Criterion) {
    let histogram = LatencyHistogram::new(HistogramConfig::default()).expect("valid config");
    let values = latencies(4096);
    let mut next = 0;
    c.bench_function("record/1 thread", |b| {
        b.iter(|| {
            next = (next + 1) & 4095;
            histogram.record(black_box(values[next]))
        })
    });
}

fn four_threads(c: &mut Criterion) {
    const THREADS: usize = 4;
    let histogram = LatencyHistogram::new(HistogramConfig::default()).expect("valid config");
    let values = latencies(4096);
    c.bench_function("record/4 threads, per record", |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(THREADS as u64);
            let barrier = Barrier::new(THREADS);
            let elapsed: Vec<Duration> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|t| {
                        let (histogram, values, barrier) = (&histogram, &values, &barrier);
                        scope.spawn(move || {
                            barrier.wait();
                            let start = Instant::now();
                            for i in 0..per_thread as usize {
                                histogram.record(black_box(values[(i + t * 1024) & 4095]));
                            }
                            start.elapsed()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("recorder thread"))
                    .collect()
            });
            // Wall time of the slowest thread over all `iters` records: the throughput cost.
            elapsed.into_iter().max().unwrap_or_default()
        })
    });
}

criterion_group!(benches, one_thread, four_threads);
criterion_main!(benches);
