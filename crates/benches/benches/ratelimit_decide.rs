//! ns per decision of the keyed store: on one hot key, and on 1M tracked keys (the keys
//! are walked in order, but their hashes scatter the lookups over the tables, so most
//! miss the CPU caches, as with many real clients).
//!
//! `allow` includes reading the monotonic clock; `allow_at` takes the time as an argument,
//! which isolates the store and the algorithm.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use optlayer_ratelimit::{
    Algorithm, FixedWindow, Gcra, KeyedLimiter, Quota, SlidingLog, SlidingWindow, StoreConfig,
    TokenBucket,
};

const MANY: usize = 1_000_000;

/// 1,000 per second: the hot key runs dry and is mostly denied, as under attack.
fn quota() -> Quota {
    Quota::new(1_000, Duration::from_secs(1)).expect("valid quota")
}

/// 1,000 per hour: none of the 1M keys goes idle (and is evicted) while the bench runs.
fn slow_quota() -> Quota {
    Quota::new(1_000, Duration::from_secs(3600)).expect("valid quota")
}

fn store<A: Algorithm>(algorithm: A) -> KeyedLimiter<A> {
    let config = StoreConfig {
        max_keys: 2 * MANY,
        ..StoreConfig::default()
    };
    KeyedLimiter::new(algorithm, config).expect("valid config")
}

fn one_key<A: Algorithm>(c: &mut Criterion, name: &str, algorithm: A) {
    let limiter = store(algorithm);
    c.bench_function(&format!("1 key/{name}/allow"), |b| {
        b.iter(|| limiter.allow(black_box("user:123456"), 1))
    });
    c.bench_function(&format!("1 key/{name}/allow_at"), |b| {
        b.iter(|| limiter.allow_at(black_box("user:123456"), 1, 5_000_000_000))
    });
}

fn many_keys<A: Algorithm>(c: &mut Criterion, name: &str, algorithm: A) {
    let limiter = store(algorithm);
    let keys: Vec<String> = (0..MANY).map(|i| format!("user:{i}")).collect();
    for key in &keys {
        let _ = limiter.allow(key, 1);
    }
    assert_eq!(limiter.len(), MANY, "every key tracked");
    let mut next = 0;
    c.bench_function(&format!("1M keys/{name}/allow"), |b| {
        b.iter(|| {
            next = (next + 1) % MANY;
            limiter.allow(&keys[next], 1)
        })
    });
}

fn decide(c: &mut Criterion) {
    one_key(c, "token-bucket", TokenBucket::new(quota()));
    one_key(c, "gcra", Gcra::new(quota()));
    one_key(
        c,
        "sliding-window",
        SlidingWindow::new(quota()).expect("valid"),
    );
    one_key(c, "fixed-window", FixedWindow::new(quota()).expect("valid"));
    one_key(c, "sliding-log", SlidingLog::new(quota()).expect("valid"));
    many_keys(c, "token-bucket", TokenBucket::new(slow_quota()));
    many_keys(c, "gcra", Gcra::new(slow_quota()));
    many_keys(
        c,
        "sliding-window",
        SlidingWindow::new(slow_quota()).expect("valid"),
    );
    many_keys(
        c,
        "fixed-window",
        FixedWindow::new(slow_quota()).expect("valid"),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = decide
}
criterion_main!(benches);
