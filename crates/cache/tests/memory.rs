//! Bytes per entry of the store, measured by a counting global allocator (requested
//! bytes) and by the process's resident memory, for small entries (16-byte keys and
//! values), where the per-entry overhead matters most.
//!
//! `cargo test -p optlayer-cache --release --test memory -- --nocapture` prints the
//! figures for 1M entries; set `OPTLAYER_MEMORY_ENTRIES` for another count. Unoptimised
//! builds default to 250k entries to keep `cargo test` quick. It is the only test in this
//! binary so that no other test's allocations are counted.

use optlayer_cache::{ByteCache, CacheConfig, ENTRY_OVERHEAD};
use optlayer_test_support::{live, resident, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_small_entry_costs_about_its_accounted_overhead() {
    let default_entries = if cfg!(debug_assertions) {
        250_000
    } else {
        1_000_000
    };
    let entries: usize = std::env::var("OPTLAYER_MEMORY_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_entries);
    let keys: Vec<[u8; 16]> = (0..entries as u64)
        .map(|i| {
            let mut key = [b'k'; 16];
            key[8..].copy_from_slice(&i.to_le_bytes());
            key
        })
        .collect();
    let value = [7u8; 16];
    let (heap_before, rss_before) = (live(), resident());
    // Room for every entry: none is evicted, and the ghost memory is sized for them.
    let config = CacheConfig {
        estimated_entry_bytes: 16 + 16 + ENTRY_OVERHEAD,
        ..CacheConfig::with_max_bytes(entries as u64 * 256)
    };
    let cache = ByteCache::new(config).expect("valid config");
    for key in &keys {
        cache.insert(key, &value, None).expect("insert");
    }
    assert_eq!(cache.len(), entries);
    let heap = (live() - heap_before) as f64 / entries as f64 - 32.0;
    let rss = (resident() - rss_before) as f64 / entries as f64 - 32.0;
    println!(
        "{entries} entries of 16 + 16 bytes, {} shards: overhead beyond key and value {heap:.1} bytes of heap, {rss:.1} bytes resident (accounted: {ENTRY_OVERHEAD})",
        cache.shards()
    );
    // Tables grow by doubling, so the figure depends on where the count falls between
    // two sizes: allow a quarter more than the accounted overhead.
    assert!(
        heap <= ENTRY_OVERHEAD as f64 * 1.25,
        "{heap:.1} bytes of heap per entry"
    );
}
