use optlayer_ratelimit::{
    Algorithm, CapPolicy, Decision, FixedWindow, Gcra, KeyedLimiter, LimitError, SlidingLog,
    SlidingWindow, StoreConfig, TokenBucket,
};

use crate::{bucket_store, ms, quota, store, sweep_all};

fn key(i: usize) -> String {
    format!("user:{i}")
}

#[test]
fn the_store_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<KeyedLimiter<TokenBucket>>();
    shared::<KeyedLimiter<SlidingLog>>();
}

#[test]
fn every_key_has_its_own_budget() {
    let (limiter, _clock) = bucket_store(StoreConfig::default());
    for i in 0..20_000 {
        let admitted = (0..12)
            .filter(|_| limiter.allow(key(i), 1).expect("valid").allowed)
            .count();
        assert_eq!(admitted, 10, "key {i}");
    }
    assert_eq!(limiter.len(), 20_000);
    let stats = limiter.stats();
    assert_eq!(
        (stats.keys, stats.allowed, stats.denied),
        (20_000, 200_000, 40_000)
    );
}

#[test]
fn keys_are_bytes_compared_whole() {
    let (limiter, _clock) = bucket_store(StoreConfig::default());
    assert!(limiter.allow("ab", 10).expect("valid").allowed);
    assert!(!limiter.allow(b"ab".as_slice(), 1).expect("valid").allowed);
    assert!(limiter.allow("abc", 10).expect("valid").allowed);
    assert!(limiter.allow(String::from("a"), 10).expect("valid").allowed);
}

#[test]
fn empty_and_oversized_keys_are_errors_and_not_counted() {
    let config = StoreConfig {
        max_key_len: 8,
        ..StoreConfig::default()
    };
    let (limiter, _clock) = bucket_store(config);
    let empty = limiter.allow("", 1).expect_err("empty key");
    assert_eq!(empty, LimitError::InvalidKey { len: 0, max: 8 });
    assert_eq!(empty.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    assert_eq!(empty.to_string(), "invalid key: expected a non-empty key");
    let long = limiter.allow("123456789", 1).expect_err("long key");
    assert_eq!(
        long.to_string(),
        "invalid key: expected at most 8 bytes, got 9 bytes (raise maxKeyLength to accept it)"
    );
    assert!(limiter.allow("12345678", 1).is_ok());
    let stats = limiter.stats();
    assert_eq!((stats.keys, stats.allowed, stats.denied), (1, 1, 0));
}

#[test]
fn a_cost_above_capacity_is_an_error_and_stores_nothing() {
    let (limiter, _clock) = bucket_store(StoreConfig::default());
    let err = limiter.allow("k", 11).expect_err("over capacity");
    assert_eq!(
        err,
        LimitError::CostExceedsCapacity {
            cost: 11,
            capacity: 10
        }
    );
    assert_eq!(err.code(), "ERR_OPTLAYER_COST_EXCEEDS_CAPACITY");
    assert!(limiter.is_empty());
    assert_eq!(limiter.stats(), Default::default());
}

#[test]
fn asking_with_cost_zero_stores_nothing() {
    let (limiter, _clock) = bucket_store(StoreConfig::default());
    assert_eq!(
        limiter.allow("k", 0).expect("valid"),
        Decision {
            allowed: true,
            remaining: 10,
            retry_after_ms: 0,
            reset_ms: 0
        }
    );
    assert!(limiter.is_empty());
}

#[test]
fn idle_keys_are_swept_and_then_decide_as_new() {
    let (limiter, clock) = bucket_store(StoreConfig::default());
    for i in 0..1000 {
        limiter.allow(key(i), 1).expect("valid");
    }
    clock.set_ms(99);
    assert_eq!(sweep_all(&limiter), 0, "nothing is idle before 100 ms");
    clock.set_ms(100);
    assert_eq!(sweep_all(&limiter), 1000);
    let stats = limiter.stats();
    assert_eq!((stats.keys, stats.evictions), (0, 1000));
    assert_eq!(
        limiter.allow(key(7), 10).expect("valid").remaining,
        0,
        "a fresh, full bucket"
    );
}

#[test]
fn one_sweep_visits_one_shard() {
    let config = StoreConfig {
        shards: 16,
        ..StoreConfig::default()
    };
    let (limiter, clock) = bucket_store(config);
    for i in 0..1600 {
        limiter.allow(key(i), 1).expect("valid");
    }
    clock.set_ms(1000);
    let per_call: Vec<usize> = (0..16).map(|_| limiter.sweep()).collect();
    assert!(per_call.iter().all(|&n| n < 1600), "{per_call:?}");
    assert_eq!(per_call.iter().sum::<usize>(), 1600);
    assert!(limiter.is_empty());
}

#[test]
fn a_shard_about_to_grow_evicts_its_idle_keys_first() {
    let config = StoreConfig {
        shards: 1,
        ..StoreConfig::default()
    };
    let (limiter, clock) = bucket_store(config);
    for round in 0..20 {
        clock.set_ms(round * 1000);
        for i in 0..1000 {
            limiter
                .allow(key(round as usize * 1000 + i), 1)
                .expect("valid");
        }
    }
    let stats = limiter.stats();
    assert!(stats.evictions >= 15_000, "{stats:?}");
    assert!(stats.keys <= 5000, "{stats:?}");
}

#[test]
fn reject_new_denies_unknown_keys_at_the_cap_until_a_sweep() {
    let config = StoreConfig {
        max_keys: 100,
        at_cap: CapPolicy::RejectNew,
        ..StoreConfig::default()
    };
    let (limiter, clock) = bucket_store(config);
    for i in 0..100 {
        assert!(limiter.allow(key(i), 1).expect("valid").allowed);
    }
    let rejected = limiter.allow("newcomer", 1).expect("valid");
    assert_eq!(
        rejected,
        Decision {
            allowed: false,
            remaining: 0,
            retry_after_ms: 1000,
            reset_ms: 1000
        }
    );
    assert!(
        limiter.allow(key(5), 1).expect("valid").allowed,
        "known keys go on"
    );
    clock.set_ms(5000);
    assert!(
        !limiter.allow("newcomer", 1).expect("valid").allowed,
        "idle keys stay until swept"
    );
    sweep_all(&limiter);
    assert!(limiter.allow("newcomer", 1).expect("valid").allowed);
    let stats = limiter.stats();
    assert_eq!(
        (
            stats.rejected_at_cap,
            stats.allowed,
            stats.denied,
            stats.keys
        ),
        (2, 102, 2, 1)
    );
}

#[test]
fn evict_idle_makes_room_from_idle_keys_then_rejects() {
    let config = StoreConfig {
        max_keys: 100,
        at_cap: CapPolicy::EvictIdle,
        shards: 1,
        ..StoreConfig::default()
    };
    let (limiter, clock) = bucket_store(config);
    for i in 0..100 {
        limiter.allow(key(i), 1).expect("valid");
    }
    assert!(
        !limiter.allow("newcomer", 1).expect("valid").allowed,
        "no key is idle yet"
    );
    clock.set_ms(50);
    limiter.allow(key(0), 1).expect("valid");
    clock.set_ms(100);
    assert!(limiter.allow("newcomer", 1).expect("valid").allowed);
    let stats = limiter.stats();
    assert_eq!(
        (stats.keys, stats.evictions, stats.rejected_at_cap),
        (2, 99, 1)
    );
}

#[test]
fn evict_idle_scans_a_shard_for_room_at_most_once_per_cooldown() {
    let config = StoreConfig {
        max_keys: 100,
        at_cap: CapPolicy::EvictIdle,
        shards: 1,
        ..StoreConfig::default()
    };
    let (limiter, _clock) = bucket_store(config);
    let us = |n: u64| n * 1000;
    // Key i goes idle at 100 ms + i µs.
    for i in 0..100 {
        limiter.allow_at(key(i as usize), 1, us(i)).expect("valid");
    }
    assert!(
        limiter
            .allow_at("first", 1, ms(100))
            .expect("valid")
            .allowed,
        "key 0 made room"
    );
    // The scan kept 99 keys: no scan for 99 µs, though keys 1 to 10 are idle by now.
    assert!(
        !limiter
            .allow_at("second", 1, ms(100) + us(10))
            .expect("valid")
            .allowed
    );
    assert!(
        limiter
            .allow_at("second", 1, ms(100) + us(99))
            .expect("valid")
            .allowed
    );
    let stats = limiter.stats();
    assert_eq!(
        (stats.evictions, stats.rejected_at_cap, stats.keys),
        (100, 1, 2)
    );
}

#[test]
fn allow_untracked_fails_open_for_new_keys_and_counts_it() {
    let config = StoreConfig {
        max_keys: 10,
        at_cap: CapPolicy::AllowUntracked,
        ..StoreConfig::default()
    };
    let (limiter, _clock) = bucket_store(config);
    for i in 0..10 {
        limiter.allow(key(i), 10).expect("valid");
    }
    for _ in 0..50 {
        assert_eq!(limiter.allow("newcomer", 10).expect("valid").remaining, 0);
        assert!(
            limiter.allow("newcomer", 10).expect("valid").allowed,
            "untracked: never limited"
        );
    }
    assert!(
        !limiter.allow(key(3), 1).expect("valid").allowed,
        "tracked keys are still limited"
    );
    let stats = limiter.stats();
    assert_eq!(
        (
            stats.keys,
            stats.allowed_untracked,
            stats.allowed,
            stats.denied
        ),
        (10, 100, 110, 1)
    );
}

/// Through the store, every algorithm treats a clock stepping back as no time passing.
#[test]
fn a_clock_stepping_back_counts_as_no_time_passing_for_every_algorithm() {
    fn check<A: Algorithm>(algorithm: A) {
        let (limiter, clock) = store(algorithm, StoreConfig::default());
        clock.set_ms(1500);
        assert!(limiter.allow("k", 4).expect("valid").allowed);
        let at_1500 = limiter.allow("k", 1).expect("valid");
        clock.set_ms(700);
        assert_eq!(
            limiter.allow("k", 1).expect("valid"),
            at_1500,
            "{}",
            std::any::type_name::<A>()
        );
    }
    let q = quota(4, 1000);
    check(TokenBucket::new(q));
    check(Gcra::new(q));
    check(SlidingLog::new(q).expect("valid"));
    check(SlidingWindow::new(q).expect("valid"));
    check(FixedWindow::new(q).expect("valid"));
}

#[test]
fn allow_at_takes_the_callers_time() {
    let (limiter, _clock) = bucket_store(StoreConfig::default());
    assert!(limiter.allow_at("k", 10, ms(5000)).expect("valid").allowed);
    assert_eq!(
        limiter
            .allow_at("k", 1, ms(5050))
            .expect("valid")
            .retry_after_ms,
        50
    );
    assert!(limiter.allow_at("k", 1, ms(5100)).expect("valid").allowed);
}

#[test]
fn invalid_store_options_are_rejected() {
    let algorithm = TokenBucket::new(quota(1, 1000));
    for config in [
        StoreConfig {
            shards: 0,
            ..StoreConfig::default()
        },
        StoreConfig {
            shards: 3,
            ..StoreConfig::default()
        },
        StoreConfig {
            shards: 512,
            ..StoreConfig::default()
        },
        StoreConfig {
            max_keys: 0,
            ..StoreConfig::default()
        },
        StoreConfig {
            max_key_len: 0,
            ..StoreConfig::default()
        },
    ] {
        let err = KeyedLimiter::new(algorithm, config).expect_err("invalid");
        assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT", "{config:?}");
    }
    let err = KeyedLimiter::new(
        algorithm,
        StoreConfig {
            shards: 3,
            ..StoreConfig::default()
        },
    )
    .expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "invalid shards: expected a power of two from 1 to 256, got 3"
    );
    assert!(KeyedLimiter::new(
        algorithm,
        StoreConfig {
            shards: 1,
            ..StoreConfig::default()
        }
    )
    .is_ok());
}

#[test]
fn the_production_clock_moves_forward() {
    let limiter = KeyedLimiter::new(TokenBucket::new(quota(1, 60_000)), StoreConfig::default())
        .expect("valid");
    assert!(limiter.allow("k", 1).expect("valid").allowed);
    let denied = limiter.allow("k", 1).expect("valid");
    assert!(!denied.allowed && denied.retry_after_ms > 59_000 && denied.retry_after_ms <= 60_000);
    assert!(format!("{limiter:?}").contains("keys: 1"));
}
