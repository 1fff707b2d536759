//! Tests of the keyed store: keys, eviction, the key cap, stats, threads and the registry.

mod concurrency;
mod keyed;
mod registry;

use std::time::Duration;

use optlayer_ratelimit::{Algorithm, FakeClock, KeyedLimiter, Quota, StoreConfig, TokenBucket};

/// Nanoseconds in `n` milliseconds.
pub const fn ms(n: u64) -> u64 {
    n * 1_000_000
}

pub fn quota(limit: u64, window_ms: u64) -> Quota {
    Quota::new(limit, Duration::from_millis(window_ms)).expect("valid quota")
}

/// A store of `algorithm` on a fake clock at 0, and the clock.
pub fn store<A: Algorithm>(
    algorithm: A,
    config: StoreConfig,
) -> (KeyedLimiter<A, FakeClock>, FakeClock) {
    let clock = FakeClock::new(0);
    (
        KeyedLimiter::with_clock(algorithm, config, clock.clone()).expect("valid config"),
        clock,
    )
}

/// A token bucket of 10 per second (one unit per 100 ms).
pub fn bucket_store(config: StoreConfig) -> (KeyedLimiter<TokenBucket, FakeClock>, FakeClock) {
    store(TokenBucket::new(quota(10, 1000)), config)
}

/// Sweeps every shard once; returns the keys evicted.
pub fn sweep_all<A: Algorithm>(limiter: &KeyedLimiter<A, FakeClock>) -> usize {
    (0..limiter.config().shards).map(|_| limiter.sweep()).sum()
}
