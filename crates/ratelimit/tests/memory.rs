//! Bytes per key of the keyed store, measured by a counting global allocator (requested
//! bytes; the allocator's own bookkeeping is not included, which matters only for the
//! sliding log's one allocation per key).
//!
//! `cargo test -p optlayer-ratelimit --release --test memory -- --nocapture` prints the
//! figures for 1M keys; set `OPTLAYER_MEMORY_KEYS=10000000` for 10M. Unoptimised builds
//! default to 250k keys to keep `cargo test` quick; with 64 shards, 250k and 1M keys fill
//! the tables alike (3,906 and 15,625 keys in 8,192 and 32,768 buckets), so the figure is
//! the same. It is the only test in this binary so that no other test's allocations are
//! counted.

use std::fmt::Write;
use std::time::Duration;

use optlayer_ratelimit::{
    Algorithm, FakeClock, FixedWindow, Gcra, KeyedLimiter, Quota, SlidingLog, SlidingWindow,
    StoreConfig, TokenBucket,
};
use optlayer_test_support::{live, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Tracks `keys` keys (each having spent one unit, so none is idle) and returns the bytes
/// per key the store holds.
fn bytes_per_key<A: Algorithm>(algorithm: A, keys: usize) -> f64 {
    let config = StoreConfig {
        max_keys: keys,
        ..StoreConfig::default()
    };
    let mut key = String::with_capacity(32);
    let before = live();
    // A frozen clock: with real time, keys inserted early would go idle and be evicted.
    let limiter =
        KeyedLimiter::with_clock(algorithm, config, FakeClock::new(0)).expect("valid config");
    for i in 0..keys {
        key.clear();
        write!(key, "user:{i}").expect("write to a String");
        assert!(limiter.allow(&key, 1).expect("valid").allowed);
    }
    assert_eq!(limiter.len(), keys);
    let held = live() - before;
    held as f64 / keys as f64
}

#[test]
fn a_key_costs_at_most_100_bytes() {
    let default_keys = if cfg!(debug_assertions) {
        250_000
    } else {
        1_000_000
    };
    let keys = std::env::var("OPTLAYER_MEMORY_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_keys);
    let q = Quota::new(100, Duration::from_secs(60)).expect("valid quota");
    let figures = [
        ("token-bucket", bytes_per_key(TokenBucket::new(q), keys)),
        ("gcra", bytes_per_key(Gcra::new(q), keys)),
        (
            "sliding-window",
            bytes_per_key(SlidingWindow::new(q).expect("valid"), keys),
        ),
        (
            "fixed-window",
            bytes_per_key(FixedWindow::new(q).expect("valid"), keys),
        ),
    ];
    let log = bytes_per_key(SlidingLog::new(q).expect("valid"), keys);
    for (name, bytes) in figures {
        println!("{name}: {bytes:.1} bytes/key at {keys} keys");
        assert!(bytes <= 100.0, "{name}: {bytes:.1} bytes/key");
    }
    // One unit logged per key; each further unit adds 8 bytes, up to `limit`.
    println!("sliding-log (1 unit per key): {log:.1} bytes/key at {keys} keys");
}
