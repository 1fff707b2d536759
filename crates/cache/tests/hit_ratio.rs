//! The admission policy against LRU at equal budgets, on short seeded traces: better on
//! Zipf, much better when scans are mixed in, and no worse than 0.95× LRU where recency
//! is all that matters. `benches/cache.rs` measures the same on longer traces.

#[path = "support/trace.rs"]
mod trace;

use std::num::NonZeroUsize;

use optlayer_cache::{ByteCache, CacheConfig, ENTRY_OVERHEAD};

const VALUE: [u8; 16] = [7; 16];

/// Hit ratio of a store with room for `entries` entries of the trace's size, filled on
/// every miss.
fn ours(trace: &[u64], entries: usize) -> f64 {
    let cost = 16 + VALUE.len() as u64 + ENTRY_OVERHEAD;
    let config = CacheConfig {
        estimated_entry_bytes: cost,
        ..CacheConfig::with_max_bytes(entries as u64 * cost)
    };
    let cache = ByteCache::new(config).expect("valid");
    let mut buf = [0u8; 16];
    let mut hits = 0;
    for &id in trace {
        let key = trace::key(id);
        if cache.get_into(&key, &mut buf).is_some() {
            hits += 1;
        } else {
            cache.insert(&key, &VALUE, None).expect("insert");
        }
    }
    hits as f64 / trace.len() as f64
}

fn lru(trace: &[u64], entries: usize) -> f64 {
    let mut cache = lru::LruCache::new(NonZeroUsize::new(entries).expect("non-zero"));
    let mut hits = 0;
    for &id in trace {
        if cache.get(&id).is_some() {
            hits += 1;
        } else {
            cache.put(id, VALUE);
        }
    }
    hits as f64 / trace.len() as f64
}

#[test]
fn zipf_beats_lru() {
    for s in [0.8, 1.0] {
        let trace = trace::zipf(100_000, s, 400_000, 7);
        let (ours, lru) = (ours(&trace, 1_000), lru(&trace, 1_000));
        println!("zipf {s} at 1 %: ours {ours:.3}, lru {lru:.3}");
        assert!(ours >= lru + 0.04, "zipf {s}: ours {ours:.3}, lru {lru:.3}");
    }
}

#[test]
fn zipf_with_scans_beats_lru_by_far() {
    let trace = trace::zipf_with_scans(100_000, 1.0, 400_000, 10_000, 5_000, 7);
    let (ours, lru) = (ours(&trace, 1_000), lru(&trace, 1_000));
    println!("zipf 1.0 + scans at 1 %: ours {ours:.3}, lru {lru:.3}");
    assert!(ours >= lru + 0.05, "ours {ours:.3}, lru {lru:.3}");
}

#[test]
fn recency_alone_costs_little() {
    let trace = trace::sliding_window(2_000, 20, 400_000, 7);
    let (ours, lru) = (ours(&trace, 1_000), lru(&trace, 1_000));
    println!("sliding window: ours {ours:.3}, lru {lru:.3}");
    assert!(ours >= 0.95 * lru, "ours {ours:.3}, lru {lru:.3}");
}
