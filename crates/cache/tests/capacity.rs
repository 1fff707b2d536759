//! No entry-count ceiling: 20,000,000 small entries in one store (a JavaScript `Map`
//! stops at 2^24 ≈ 16.7M). About 2.3 GB of budget and 2.1 GB resident; on the 2-core
//! development VM, shared with other builds, it took 33–48 s in a `cargo test` build and
//! ~18 s with `--release`. The only test of its binary, so that it does not run beside
//! other memory-hungry tests.

use std::time::Instant;

use optlayer_cache::{ByteCache, CacheConfig, ENTRY_OVERHEAD};

const ENTRIES: u64 = 20_000_000;

/// `user:<i>` in decimal.
fn key(i: u64, buf: &mut [u8; 25]) -> &[u8] {
    let mut start = buf.len();
    let mut rest = i;
    loop {
        start -= 1;
        buf[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    start -= 5;
    buf[start..start + 5].copy_from_slice(b"user:");
    &buf[start..]
}

#[test]
fn twenty_million_small_entries_fit() {
    let started = Instant::now();
    // "user:" + up to 8 digits + an 8-byte value + the overhead per entry, and 5 % more:
    // each shard has 1/64 of the budget, and keys do not spread exactly evenly.
    let cost = 13 + 8 + ENTRY_OVERHEAD;
    let config = CacheConfig {
        estimated_entry_bytes: cost,
        ..CacheConfig::with_max_bytes(ENTRIES * cost / 20 * 21)
    };
    let cache = ByteCache::new(config).expect("valid config");
    // Filled from as many threads as there are cores (two on the development VM).
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let cache = &cache;
            scope.spawn(move || {
                let mut buf = [0u8; 25];
                for i in (t..ENTRIES).step_by(threads as usize) {
                    cache
                        .insert(key(i, &mut buf), &i.to_le_bytes(), None)
                        .expect("insert");
                }
            });
        }
    });
    let filled = started.elapsed();
    let stats = cache.stats();
    assert_eq!(stats.entries, ENTRIES, "{stats:?}");
    assert_eq!(stats.evictions + stats.rejected, 0, "{stats:?}");
    assert!(stats.bytes <= config.max_bytes);
    let mut buf = [0u8; 25];
    let mut out = [0u8; 8];
    for i in (0..ENTRIES).step_by(9_973) {
        assert_eq!(cache.get_into(key(i, &mut buf), &mut out), Some(8));
        assert_eq!(u64::from_le_bytes(out), i);
    }
    assert_eq!(cache.get_into(b"user:20000000", &mut out), None);
    drop(cache);
    println!(
        "{ENTRIES} entries, {} bytes of budget used: filled in {:.1} s, {:.1} s in all",
        stats.bytes,
        filled.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
