//! The store's API on one thread: lookups, writes, errors, TTL on a fake clock, eviction,
//! counters and the registry.

use std::sync::Arc;
use std::time::Duration;

use optlayer_cache::{
    named, ByteCache, CacheConfig, CacheError, CacheStats, FakeClock, ENTRY_OVERHEAD,
};

fn store(max_bytes: u64) -> (ByteCache<FakeClock>, FakeClock) {
    let clock = FakeClock::new(1_000);
    let cache = ByteCache::with_clock(CacheConfig::with_max_bytes(max_bytes), clock.clone())
        .expect("valid config");
    (cache, clock)
}

fn cost(key: &[u8], value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64 + ENTRY_OVERHEAD
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn a_value_reads_back_through_every_lookup() {
    let (cache, _) = store(1 << 20);
    cache.insert(b"k", b"hello", None).expect("insert");
    let mut buf = [0u8; 16];
    assert_eq!(cache.get_into(b"k", &mut buf), Some(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(cache.get(b"k").as_deref(), Some(&b"hello"[..]));
    assert_eq!(cache.get_with(b"k", |v| v.len()), Some(5));
    assert!(cache.contains(b"k"));
    assert_eq!(cache.get(b"other"), None);
    assert!(!cache.contains(b"other"));
}

#[test]
fn a_buffer_too_small_gets_the_length_and_no_bytes() {
    let (cache, _) = store(1 << 20);
    cache.insert(b"k", &[7u8; 100], None).expect("insert");
    let mut small = [0u8; 10];
    assert_eq!(cache.get_into(b"k", &mut small), Some(100));
    assert_eq!(small, [0u8; 10], "nothing copied");
    let mut big = vec![0u8; 100];
    assert_eq!(cache.get_into(b"k", &mut big), Some(100));
    assert_eq!(big, vec![7u8; 100]);
}

#[test]
fn empty_values_are_values() {
    let (cache, _) = store(1 << 20);
    cache.insert(b"k", b"", None).expect("insert");
    assert_eq!(cache.get_into(b"k", &mut []), Some(0));
    assert_eq!(cache.stats().bytes, cost(b"k", b""));
}

#[test]
fn an_insert_replaces_and_the_budget_counts_the_new_cost() {
    let (cache, _) = store(1 << 20);
    cache.insert(b"k", b"first", None).expect("insert");
    cache
        .insert(b"k", b"the second value", None)
        .expect("replace");
    assert_eq!(cache.get(b"k").as_deref(), Some(&b"the second value"[..]));
    let stats = cache.stats();
    assert_eq!(stats.entries, 1);
    assert_eq!(stats.bytes, cost(b"k", b"the second value"));
    assert_eq!(stats.inserts, 2);
    assert_eq!(
        stats.evictions + stats.rejected + stats.expired,
        0,
        "a replacement is no loss"
    );
}

#[test]
fn remove_and_clear_empty_the_store_but_keep_the_counters() {
    let (cache, _) = store(1 << 20);
    for i in 0..100u32 {
        cache.insert(&i.to_le_bytes(), b"v", None).expect("insert");
    }
    assert!(cache.remove(&7u32.to_le_bytes()));
    assert!(!cache.remove(&7u32.to_le_bytes()));
    assert_eq!(cache.len(), 99);
    cache.clear();
    assert!(cache.is_empty());
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.bytes, stats.inserts), (0, 0, 100));
}

#[test]
fn lookups_are_counted_and_contains_is_not() {
    let (cache, _) = store(1 << 20);
    cache.insert(b"a", b"1", None).expect("insert");
    let mut buf = [0u8; 4];
    cache.get_into(b"a", &mut buf);
    cache.get_into(b"a", &mut buf);
    cache.get_into(b"b", &mut buf);
    cache.contains(b"a");
    cache.contains(b"b");
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.inserts), (2, 1, 1));
}

#[test]
fn bad_keys_and_ttls_are_errors_with_codes() {
    let (cache, _) = store(1 << 20);
    let empty = cache.insert(b"", b"v", None).expect_err("empty key");
    assert_eq!(empty, CacheError::InvalidKey { len: 0, max: 4096 });
    assert_eq!(empty.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    let long = cache
        .insert(&[b'k'; 4097], b"v", None)
        .expect_err("long key");
    assert_eq!(long.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    assert!(
        long.to_string().contains("at most 4096 bytes, got 4097"),
        "{long}"
    );
    let ttl = cache
        .insert(b"k", b"v", Some(Duration::ZERO))
        .expect_err("zero ttl");
    assert_eq!(ttl.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    assert!(ttl.to_string().contains("invalid ttl"), "{ttl}");
    // Lookups of keys that can never be stored are plain misses.
    assert_eq!(cache.get(b""), None);
    assert_eq!(cache.get(&[b'k'; 4097]), None);
    assert!(cache.is_empty());
}

#[test]
fn an_entry_larger_than_a_shard_is_refused_and_its_old_value_removed() {
    let (cache, _) = store(1 << 20);
    assert_eq!(cache.shards(), 1);
    let max = cache.max_entry_cost();
    assert_eq!(max, ((1u64 << 20) as f64 * 0.97) as u64);
    let fits = vec![0u8; (max - ENTRY_OVERHEAD - 1) as usize];
    cache.insert(b"k", &fits, None).expect("largest entry");
    assert_eq!(cache.get(b"k").map(|v| v.len()), Some(fits.len()));
    let too_big = vec![0u8; fits.len() + 1];
    let err = cache.insert(b"k", &too_big, None).expect_err("too large");
    assert_eq!(err, CacheError::EntryTooLarge { cost: max + 1, max });
    assert_eq!(err.code(), "ERR_OPTLAYER_VALUE_TOO_LARGE");
    assert_eq!(cache.get(b"k"), None, "no stale value after a failed write");
}

#[test]
fn configs_out_of_range_are_errors_naming_the_option() {
    let base = CacheConfig::default();
    let cases = [
        (
            CacheConfig {
                max_bytes: 1023,
                ..base
            },
            "max_bytes",
        ),
        (CacheConfig { shards: 3, ..base }, "shards"),
        (
            CacheConfig {
                shards: 2048,
                ..base
            },
            "shards",
        ),
        (
            CacheConfig {
                max_key_len: 0,
                ..base
            },
            "max_key_len",
        ),
        (
            CacheConfig {
                estimated_entry_bytes: 0,
                ..base
            },
            "estimated_entry_bytes",
        ),
    ];
    for (config, option) in cases {
        let err = ByteCache::new(config).expect_err(option);
        assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
        assert!(
            err.to_string()
                .starts_with(&format!("invalid {option}: expected")),
            "{err}"
        );
    }
}

#[test]
fn small_budgets_get_fewer_shards() {
    let shards = |max_bytes| {
        ByteCache::new(CacheConfig::with_max_bytes(max_bytes))
            .expect("valid")
            .shards()
    };
    assert_eq!(shards(1024), 1);
    assert_eq!(shards(3 << 20), 2);
    assert_eq!(shards(256 << 20), 64);
    let few = CacheConfig {
        shards: 4,
        ..CacheConfig::with_max_bytes(1 << 30)
    };
    assert_eq!(ByteCache::new(few).expect("valid").shards(), 4);
}

#[test]
fn an_entry_lives_for_its_ttl_and_not_a_nanosecond_more() {
    let (cache, clock) = store(1 << 20);
    cache.insert(b"k", b"v", Some(SECOND)).expect("insert");
    cache.insert(b"forever", b"v", None).expect("insert");
    clock.advance(SECOND - Duration::from_nanos(1));
    assert!(cache.contains(b"k"));
    assert_eq!(cache.get(b"k").as_deref(), Some(&b"v"[..]));
    clock.advance(Duration::from_nanos(1));
    assert!(!cache.contains(b"k"));
    assert_eq!(cache.get(b"k"), None);
    clock.advance(Duration::from_secs(1_000_000));
    assert!(cache.get(b"forever").is_some());
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.expired), (2, 1, 1));
    assert_eq!(stats.entries, 1, "the expired entry was removed on access");
}

#[test]
fn a_fresh_value_replaces_an_expired_one() {
    let (cache, clock) = store(1 << 20);
    cache.insert(b"k", b"old", Some(SECOND)).expect("insert");
    clock.advance(2 * SECOND);
    cache.insert(b"k", b"new", Some(SECOND)).expect("insert");
    assert_eq!(cache.get(b"k").as_deref(), Some(&b"new"[..]));
    assert_eq!(cache.stats().expired, 0, "replaced, not expired");
}

#[test]
fn a_clock_stepping_back_never_expires_an_entry_early() {
    let (cache, clock) = store(1 << 20);
    clock.set_ns(10_000_000_000);
    cache.insert(b"k", b"v", Some(SECOND)).expect("insert");
    clock.set_ns(0);
    assert!(cache.get(b"k").is_some());
}

#[test]
fn each_insert_removes_a_few_expired_entries() {
    let (cache, clock) = store(1 << 20);
    for i in 0..100u32 {
        cache
            .insert(&i.to_le_bytes(), b"v", Some(SECOND))
            .expect("insert");
    }
    cache.insert(b"no ttl", b"v", None).expect("insert");
    clock.advance(2 * SECOND);
    assert_eq!(cache.len(), 101, "nothing runs in the background");
    cache.insert(b"trigger", b"v", None).expect("insert");
    assert_eq!(cache.stats().expired, 8);
    for i in 0..12u32 {
        cache
            .insert(&(1000 + i).to_le_bytes(), b"v", None)
            .expect("insert");
    }
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.expired), (14, 100));
}

#[test]
fn a_replaced_entry_is_not_swept_by_its_old_deadline() {
    let (cache, clock) = store(1 << 20);
    cache.insert(b"k", b"short", Some(SECOND)).expect("insert");
    cache
        .insert(b"k", b"long", Some(10 * SECOND))
        .expect("replace");
    clock.advance(2 * SECOND);
    assert_eq!(cache.purge_expired(), 0);
    assert_eq!(cache.get(b"k").as_deref(), Some(&b"long"[..]));
    clock.advance(10 * SECOND);
    assert_eq!(cache.purge_expired(), 1);
}

#[test]
fn purge_expired_rebuilds_an_overflowed_expiry_index() {
    let (cache, clock) = store(64 * 1024); // room for ~640 small entries
                                           // Most of these are rejected or evicted and leave stale records behind, until the
                                           // index is full and later entries go unindexed.
    for i in 0..20_000u32 {
        cache
            .insert(&i.to_le_bytes(), b"v", Some(SECOND))
            .expect("insert");
    }
    let held = cache.len() as u64;
    clock.advance(2 * SECOND);
    assert_eq!(cache.purge_expired(), held);
    assert!(cache.is_empty());
    let stats = cache.stats();
    assert_eq!(20_000, stats.evictions + stats.rejected + stats.expired);
}

#[test]
fn purge_expired_removes_every_expired_entry_now() {
    let clock = FakeClock::new(0);
    let config = CacheConfig {
        shards: 8,
        ..CacheConfig::with_max_bytes(64 << 20)
    };
    let cache = ByteCache::with_clock(config, clock.clone()).expect("valid");
    for i in 0..1000u32 {
        let ttl = if i % 2 == 0 { SECOND } else { 10 * SECOND };
        cache
            .insert(&i.to_le_bytes(), b"v", Some(ttl))
            .expect("insert");
    }
    assert_eq!(cache.purge_expired(), 0);
    clock.advance(SECOND);
    assert_eq!(cache.purge_expired(), 500);
    assert_eq!(cache.len(), 500);
    clock.advance(10 * SECOND);
    assert_eq!(cache.purge_expired(), 500);
    assert_eq!(cache.stats().expired, 1000);
}

#[test]
fn the_budget_holds_and_every_lost_entry_is_counted_once() {
    let (cache, _) = store(64 * 1024);
    let value = [1u8; 100];
    let inserts = 5_000u32;
    for i in 0..inserts {
        cache
            .insert(&i.to_le_bytes(), &value, None)
            .expect("insert");
        assert!(cache.stats().bytes <= 64 * 1024);
    }
    let stats = cache.stats();
    assert!(stats.entries > 0 && stats.bytes > 60 * 1024, "{stats:?}");
    assert_eq!(
        u64::from(inserts),
        stats.entries + stats.evictions + stats.rejected + stats.expired,
        "{stats:?}"
    );
    assert!(
        stats.rejected > 0,
        "new keys never read are rejected: {stats:?}"
    );
}

#[test]
fn keys_read_often_survive_a_scan() {
    let (cache, _) = store(256 * 1024); // room for ~1,200 entries of 100 bytes
    let value = [1u8; 100];
    let hot: Vec<[u8; 4]> = (0..500u32).map(|i| i.to_le_bytes()).collect();
    for round in 0..3 {
        for key in &hot {
            if round == 0 {
                cache.insert(key, &value, None).expect("insert");
            } else {
                assert!(cache.get(key).is_some());
            }
        }
    }
    for i in 0..100_000u32 {
        cache
            .insert(&(1_000_000 + i).to_le_bytes(), &value, None)
            .expect("scan");
    }
    let kept = hot.iter().filter(|key| cache.contains(&key[..])).count();
    assert!(
        kept >= 490,
        "{kept} of 500 hot keys kept after a scan of 100k keys"
    );
}

#[test]
fn get_many_packs_values_back_to_back() {
    let (cache, _) = store(1 << 20);
    cache.insert(b"a", b"111", None).expect("insert");
    cache.insert(b"c", b"33333", None).expect("insert");
    let keys: [&[u8]; 3] = [b"a", b"b", b"c"];
    let mut out = [0u8; 8];
    let mut lens = [Some(99); 3];
    assert_eq!(cache.get_many_into(keys, &mut out, &mut lens), 8);
    assert_eq!(lens, [Some(3), None, Some(5)]);
    assert_eq!(&out, b"11133333");

    let mut small = [0u8; 6];
    assert_eq!(
        cache.get_many_into(keys, &mut small, &mut lens),
        8,
        "bytes needed"
    );
    assert_eq!(lens, [Some(3), None, Some(5)]);
    assert_eq!(
        &small[..3],
        b"111",
        "values before the first that did not fit are copied"
    );
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (4, 2));
}

#[test]
fn named_stores_are_shared_while_held() {
    let config = CacheConfig::with_max_bytes(1 << 20);
    let a = named("cache-test-shared", config).expect("open");
    let b = named("cache-test-shared", config).expect("open again");
    assert!(Arc::ptr_eq(&a, &b));
    a.insert(b"k", b"v", None).expect("insert");
    let other_thread = std::thread::spawn(move || {
        let c = named("cache-test-shared", config).expect("open");
        c.get(b"k")
    });
    assert_eq!(
        other_thread.join().expect("thread").as_deref(),
        Some(&b"v"[..])
    );

    let mismatch = named("cache-test-shared", CacheConfig::with_max_bytes(2 << 20))
        .expect_err("other options");
    assert_eq!(mismatch.code(), "ERR_OPTLAYER_CONFIG_MISMATCH");
    assert!(mismatch.to_string().contains("cache-test-shared"));

    drop((a, b));
    let fresh = named("cache-test-shared", CacheConfig::with_max_bytes(2 << 20))
        .expect("a released name starts afresh");
    assert!(fresh.is_empty());
    assert_eq!(
        named("cache-test-bad", CacheConfig::with_max_bytes(1))
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("ERR_OPTLAYER_INVALID_ARGUMENT")
    );
}

#[test]
fn stats_add_up() {
    let mut total = CacheStats {
        hits: 1,
        bytes: 10,
        ..CacheStats::default()
    };
    total += CacheStats {
        hits: 2,
        entries: 3,
        ..CacheStats::default()
    };
    assert_eq!((total.hits, total.bytes, total.entries), (3, 10, 3));
}
