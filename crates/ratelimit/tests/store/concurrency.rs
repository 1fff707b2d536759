//! Threads hammering one store: nothing is admitted beyond what the algorithm allows, and
//! no update is lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use optlayer_ratelimit::{
    Algorithm, CapPolicy, Clock, FakeClock, FixedWindow, Gcra, KeyedLimiter, SlidingLog,
    SlidingWindow, StoreConfig, TokenBucket,
};

use crate::{ms, quota, store};

const THREADS: usize = 8;

/// Runs `work(thread index)` on `THREADS` threads at once.
fn on_threads(work: impl Fn(usize) + Sync) {
    thread::scope(|scope| {
        for t in 0..THREADS {
            let work = &work;
            scope.spawn(move || work(t));
        }
    });
}

#[test]
fn with_a_frozen_clock_exactly_the_capacity_is_admitted_on_one_key() {
    fn check<A: Algorithm>(algorithm: A) {
        let capacity = algorithm.capacity();
        let (limiter, _clock) = store(algorithm, StoreConfig::default());
        let admitted = AtomicU64::new(0);
        on_threads(|t| {
            for i in 0..5000 {
                let cost = 1 + (t + i) as u64 % 3;
                if limiter.allow("hot", cost).expect("valid").allowed {
                    admitted.fetch_add(cost, Ordering::Relaxed);
                }
            }
        });
        // Costs 1..=3 in every order: the last units are always taken by some cost 1.
        assert_eq!(
            admitted.load(Ordering::Relaxed),
            capacity,
            "{}",
            std::any::type_name::<A>()
        );
        let stats = limiter.stats();
        assert_eq!(stats.allowed + stats.denied, (THREADS * 5000) as u64);
    }
    let q = quota(1000, 1000);
    check(TokenBucket::new(q));
    check(Gcra::new(q));
    check(SlidingLog::new(q).expect("valid"));
    check(SlidingWindow::new(q).expect("valid"));
    check(FixedWindow::new(q).expect("valid"));
}

#[test]
fn with_a_frozen_clock_every_key_admits_exactly_its_capacity() {
    let (limiter, _clock) = store(Gcra::new(quota(50, 1000)), StoreConfig::default());
    let keys: Vec<String> = (0..2000).map(|i| format!("tenant-{i}")).collect();
    let admitted: Vec<AtomicU64> = (0..keys.len()).map(|_| AtomicU64::new(0)).collect();
    on_threads(|t| {
        // Each thread walks all keys from its own offset, 30 passes: 240 tries per key.
        for pass in 0..30 {
            for i in 0..keys.len() {
                let k = (i * 7 + t * 251 + pass * 13) % keys.len();
                if limiter.allow(&keys[k], 1).expect("valid").allowed {
                    admitted[k].fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    assert!(admitted.iter().all(|a| a.load(Ordering::Relaxed) == 50));
    let stats = limiter.stats();
    assert_eq!((stats.keys, stats.allowed), (2000, 2000 * 50));
}

#[test]
fn with_a_moving_clock_admissions_stay_within_the_rate() {
    // 100 per second, burst 20, while a thread moves time by 1 ms steps for 2 seconds.
    let q = quota(100, 1000).with_burst(20).expect("valid");
    let (limiter, clock) = store(TokenBucket::new(q), StoreConfig::default());
    let limiter = Arc::new(limiter);
    let admitted = AtomicU64::new(0);
    let ticker_clock = clock.clone();
    thread::scope(|scope| {
        scope.spawn(move || {
            for _ in 0..2000 {
                ticker_clock.advance_ms(1);
                thread::yield_now();
            }
        });
        for _ in 0..THREADS {
            let (limiter, admitted, clock) = (&limiter, &admitted, &clock);
            scope.spawn(move || {
                while clock.now_ns() < ms(2000) {
                    if limiter.allow("k", 1).expect("valid").allowed {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let total = admitted.load(Ordering::Relaxed);
    // burst + 100/s × 2 s is the most a token bucket can admit in 2 s.
    assert!(total <= 20 + 200, "{total}");
    // How much more depends on how often the workers ran (units beyond the burst are lost
    // while no one asks), so only the burst is certain.
    assert!(total >= 20, "{total}");
}

#[test]
fn the_key_cap_holds_under_concurrent_inserts() {
    let config = StoreConfig {
        max_keys: 1000,
        at_cap: CapPolicy::RejectNew,
        ..StoreConfig::default()
    };
    let limiter: KeyedLimiter<FixedWindow, FakeClock> = KeyedLimiter::with_clock(
        FixedWindow::new(quota(5, 1000)).expect("valid"),
        config,
        FakeClock::new(ms(1)),
    )
    .expect("valid");
    on_threads(|t| {
        for i in 0..500 {
            limiter.allow(format!("{t}-{i}"), 1).expect("valid");
        }
    });
    let stats = limiter.stats();
    assert_eq!(
        (stats.keys, stats.allowed, stats.rejected_at_cap),
        (1000, 1000, 3000)
    );
    assert_eq!(limiter.len(), 1000);
}
