//! ns per operation of the store beside the `lru` crate (alone, and behind a mutex as a
//! store shared by threads must be), and hit ratios at equal budgets on seeded traces,
//! with Belady's optimal as the ceiling.
//!
//! The hit-ratio table is printed first (it is computed once, not timed): Zipf 0.8 and
//! 1.0 over 1M keys at budgets of 1 % and 10 % of the keys, the same Zipf 1.0 with a scan
//! of 10k never-seen keys every 20k requests, and a recency-biased sliding window.
//! Set `OPTLAYER_BENCH_RATIOS=0` to skip it.
//!
//! Lookups walk 100k resident keys (16-byte keys, 100-byte values) in a Zipf 1.0 order,
//! so the popular ones stay in the CPU caches, as in a real service.

#[path = "../../cache/tests/support/trace.rs"]
mod trace;

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion};
use optlayer_cache::{ByteCache, CacheConfig, ENTRY_OVERHEAD};
use parking_lot::Mutex;

const RESIDENT: usize = 100_000;
const VALUE_LEN: usize = 100;

fn config_for(entries: usize, value_len: usize) -> CacheConfig {
    let cost = (16 + value_len) as u64 + ENTRY_OVERHEAD;
    CacheConfig {
        estimated_entry_bytes: cost,
        ..CacheConfig::with_max_bytes(entries as u64 * cost)
    }
}

fn lookups(c: &mut Criterion) {
    let value = [1u8; VALUE_LEN];
    let keys: Vec<[u8; 16]> = (0..RESIDENT as u64).map(trace::key).collect();
    let order: Vec<usize> = trace::zipf(RESIDENT, 1.0, 1 << 16, 3)
        .into_iter()
        .map(|id| id as usize)
        .collect();
    let misses: Vec<[u8; 16]> = (0..1u64 << 16).map(|i| trace::key(1 << 40 | i)).collect();

    // Twice the room needed: every key stays resident.
    let ours = ByteCache::new(config_for(2 * RESIDENT, VALUE_LEN)).expect("valid");
    let mut alone = lru::LruCache::new(NonZeroUsize::new(RESIDENT).expect("non-zero"));
    let shared = Mutex::new(lru::LruCache::new(
        NonZeroUsize::new(RESIDENT).expect("non-zero"),
    ));
    for key in &keys {
        ours.insert(key, &value, None).expect("insert");
        alone.put(*key, value);
        shared.lock().put(*key, value);
    }
    assert_eq!(ours.len(), RESIDENT);

    let mut group = c.benchmark_group("get-hit 100 B");
    let mut buf = [0u8; 256];
    let mut i = 0;
    group.bench_function("ours get_into", |b| {
        b.iter(|| {
            i = (i + 1) & 0xffff;
            ours.get_into(black_box(&keys[order[i]]), &mut buf)
        })
    });
    group.bench_function("lru", |b| {
        b.iter(|| {
            i = (i + 1) & 0xffff;
            alone.get(black_box(&keys[order[i]])).map(|v| {
                buf[..v.len()].copy_from_slice(v);
                v.len()
            })
        })
    });
    group.bench_function("lru + mutex", |b| {
        b.iter(|| {
            i = (i + 1) & 0xffff;
            shared.lock().get(black_box(&keys[order[i]])).map(|v| {
                buf[..v.len()].copy_from_slice(v);
                v.len()
            })
        })
    });
    group.finish();

    // One key: the instructions alone, every line in the CPU's L1 cache.
    let mut group = c.benchmark_group("get-hit 100 B, one key");
    let one = &keys[12_345];
    group.bench_function("ours get_into", |b| {
        b.iter(|| ours.get_into(black_box(one), &mut buf))
    });
    group.bench_function("lru", |b| {
        b.iter(|| {
            alone.get(black_box(one)).map(|v| {
                buf[..v.len()].copy_from_slice(v);
                v.len()
            })
        })
    });
    group.bench_function("lru + mutex", |b| {
        b.iter(|| {
            shared.lock().get(black_box(one)).map(|v| {
                buf[..v.len()].copy_from_slice(v);
                v.len()
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("get-miss");
    group.bench_function("ours get_into", |b| {
        b.iter(|| {
            i = (i + 1) & 0xffff;
            ours.get_into(black_box(&misses[i]), &mut buf)
        })
    });
    group.bench_function("lru", |b| {
        b.iter(|| {
            i = (i + 1) & 0xffff;
            alone.get(black_box(&misses[i])).is_some()
        })
    });
    group.bench_function("lru + mutex", |b| {
        b.iter(|| {
            i = (i + 1) & 0xffff;
            shared.lock().get(black_box(&misses[i])).is_some()
        })
    });
    group.finish();
}

/// Inserts of never-seen keys into a full store: each one evicts (or is rejected).
fn inserts(c: &mut Criterion) {
    let value = [1u8; VALUE_LEN];
    let keys: Vec<[u8; 16]> = (0..1u64 << 20).map(trace::key).collect();
    let ours = ByteCache::new(config_for(RESIDENT, VALUE_LEN)).expect("valid");
    let mut alone = lru::LruCache::new(NonZeroUsize::new(RESIDENT).expect("non-zero"));
    let mut group = c.benchmark_group("insert 100 B, full store");
    let mut i = 0;
    group.bench_function("ours", |b| {
        b.iter(|| {
            i = (i + 1) & ((1 << 20) - 1);
            ours.insert(black_box(&keys[i]), &value, None)
        })
    });
    group.bench_function("lru", |b| {
        b.iter(|| {
            i = (i + 1) & ((1 << 20) - 1);
            alone.put(black_box(keys[i]), value)
        })
    });
    group.finish();
    let mut group = c.benchmark_group("insert 100 B, replace");
    group.bench_function(BenchmarkId::new("ours", "ttl"), |b| {
        b.iter(|| {
            i = (i + 1) & 0xffff;
            ours.insert(
                black_box(&keys[i & 1023]),
                &value,
                Some(Duration::from_secs(60)),
            )
        })
    });
    group.finish();
}

/// Hit ratio of the store with room for `entries` entries, filled on every miss.
fn ours_ratio(trace: &[u64], entries: usize) -> f64 {
    let cache = ByteCache::new(config_for(entries, 16)).expect("valid");
    let value = [7u8; 16];
    let mut buf = [0u8; 16];
    let hits = trace
        .iter()
        .filter(|&&id| {
            let key = trace::key(id);
            let hit = cache.get_into(&key, &mut buf).is_some();
            if !hit {
                cache.insert(&key, &value, None).expect("insert");
            }
            hit
        })
        .count();
    hits as f64 / trace.len() as f64
}

fn lru_ratio(trace: &[u64], entries: usize) -> f64 {
    let mut cache = lru::LruCache::new(NonZeroUsize::new(entries).expect("non-zero"));
    let hits = trace
        .iter()
        .filter(|&&id| {
            let hit = cache.get(&id).is_some();
            if !hit {
                cache.put(id, [7u8; 16]);
            }
            hit
        })
        .count();
    hits as f64 / trace.len() as f64
}

fn hit_ratios() {
    const KEYS: usize = 1_000_000;
    const LEN: usize = 2_000_000;
    let traces = [
        (
            "zipf 0.8",
            trace::zipf(KEYS, 0.8, LEN, 42),
            [KEYS / 100, KEYS / 10],
        ),
        (
            "zipf 1.0",
            trace::zipf(KEYS, 1.0, LEN, 42),
            [KEYS / 100, KEYS / 10],
        ),
        (
            "zipf 1.0 + scans",
            trace::zipf_with_scans(KEYS, 1.0, LEN, 20_000, 10_000, 42),
            [KEYS / 100, KEYS / 10],
        ),
        (
            "sliding window",
            trace::sliding_window(20_000, 20, LEN, 42),
            [10_000, 15_000],
        ),
    ];
    println!(
        "hit ratio at equal budgets ({LEN} requests; gap closed = (ours - lru) / (belady - lru))"
    );
    println!(
        "{:<18} {:>8} {:>7} {:>7} {:>7} {:>7} {:>10}",
        "trace", "entries", "ours", "lru", "diff", "belady", "gap closed"
    );
    for (name, trace, capacities) in &traces {
        for &entries in capacities {
            let (ours, lru, best) = (
                ours_ratio(trace, entries),
                lru_ratio(trace, entries),
                trace::belady(trace, entries),
            );
            println!(
                "{name:<18} {entries:>8} {ours:>7.4} {lru:>7.4} {:>+7.4} {best:>7.4} {:>9.0}%",
                ours - lru,
                100.0 * (ours - lru) / (best - lru)
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = lookups, inserts
}

fn main() {
    let listing = std::env::args().any(|a| a == "--list" || a == "--test");
    if !listing && std::env::var("OPTLAYER_BENCH_RATIOS").map_or(true, |v| v != "0") {
        hit_ratios();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
