//! Threads hammering one store: the budget holds at every moment, values are never torn,
//! no update is lost, and every entry that leaves is counted once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use optlayer_cache::{ByteCache, CacheConfig, FakeClock};

const THREADS: u64 = 8;

/// Runs `work(thread index)` on `THREADS` threads at once, plus `watch` on one more
/// until they are done.
fn on_threads(work: impl Fn(u64) + Sync, watch: impl Fn() + Send) {
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let done = &done;
        scope.spawn(move || {
            while !done.load(Ordering::Relaxed) {
                watch();
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let work = &work;
                scope.spawn(move || work(t))
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker");
        }
        done.store(true, Ordering::Relaxed);
    });
}

/// A value whose every byte is `tag`, of a length that depends on `tag`: a torn read
/// (bytes of two writes) shows as mixed bytes or a wrong length.
fn value(tag: u8) -> Vec<u8> {
    vec![tag; 20 + usize::from(tag) * 3]
}

fn is_whole(value: &[u8]) -> bool {
    value.first().is_some_and(|&tag| {
        value.len() == 20 + usize::from(tag) * 3 && value.iter().all(|&b| b == tag)
    })
}

#[test]
fn mixed_traffic_keeps_the_budget_and_never_tears_a_value() {
    let max_bytes = 256 * 1024;
    let cache = ByteCache::new(CacheConfig {
        shards: 1,
        ..CacheConfig::with_max_bytes(max_bytes)
    })
    .expect("valid");
    let more_cache = ByteCache::new(CacheConfig::with_max_bytes(8 << 20)).expect("valid");
    for store in [&cache, &more_cache] {
        let budget = store.config().max_bytes;
        let reads = AtomicU64::new(0);
        on_threads(
            |t| {
                let mut buf = [0u8; 1024];
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for _ in 0..50_000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = ((x >> 20) % 5_000).to_le_bytes();
                    match x % 10 {
                        0..=5 => {
                            reads.fetch_add(1, Ordering::Relaxed);
                            if let Some(len) = store.get_into(&key, &mut buf) {
                                assert!(is_whole(&buf[..len]), "torn read");
                            }
                        }
                        6..=8 => store
                            .insert(&key, &value((x >> 32) as u8), None)
                            .expect("insert"),
                        _ => {
                            store.remove(&key);
                        }
                    }
                }
            },
            || {
                let stats = store.stats();
                assert!(
                    stats.bytes <= budget,
                    "{} bytes over a budget of {budget}",
                    stats.bytes
                );
            },
        );
        let stats = store.stats();
        assert_eq!(stats.entries as usize, store.len());
        assert!(stats.bytes <= budget);
        assert_eq!(stats.hits + stats.misses, reads.load(Ordering::Relaxed));
        assert!(stats.hits > 0, "{stats:?}");
        // The small store is full all along; the large one never is.
        assert_eq!(
            stats.evictions + stats.rejected > 0,
            budget == max_bytes,
            "{stats:?}"
        );
    }
}

#[test]
fn no_update_is_lost_and_readers_never_see_a_version_go_back() {
    // Room for every key: nothing is evicted, so every key must hold its last write.
    let cache = ByteCache::new(CacheConfig::with_max_bytes(64 << 20)).expect("valid");
    const KEYS_PER_THREAD: u64 = 200;
    const VERSIONS: u64 = 50;
    let key = |t: u64, k: u64| (t * KEYS_PER_THREAD + k).to_le_bytes();
    thread::scope(|scope| {
        // Writers: thread t owns keys t*200.., writes versions 1..=50 to each in turn.
        for t in 0..THREADS / 2 {
            let cache = &cache;
            scope.spawn(move || {
                for version in 1..=VERSIONS {
                    for k in 0..KEYS_PER_THREAD {
                        cache
                            .insert(&key(t, k), &version.to_le_bytes(), None)
                            .expect("insert");
                    }
                }
            });
        }
        // Readers: each follows one writer's keys and checks versions only grow.
        for t in 0..THREADS / 2 {
            let cache = &cache;
            scope.spawn(move || {
                let mut seen = vec![0u64; KEYS_PER_THREAD as usize];
                let mut buf = [0u8; 8];
                for _ in 0..20 {
                    for k in 0..KEYS_PER_THREAD {
                        if cache.get_into(&key(t, k), &mut buf) == Some(8) {
                            let version = u64::from_le_bytes(buf);
                            assert!(version >= seen[k as usize], "version went back");
                            seen[k as usize] = version;
                        }
                    }
                }
            });
        }
    });
    let mut buf = [0u8; 8];
    for t in 0..THREADS / 2 {
        for k in 0..KEYS_PER_THREAD {
            assert_eq!(cache.get_into(&key(t, k), &mut buf), Some(8));
            assert_eq!(u64::from_le_bytes(buf), VERSIONS, "lost update");
        }
    }
    let stats = cache.stats();
    assert_eq!(stats.evictions + stats.rejected, 0);
    assert_eq!(stats.inserts, THREADS / 2 * KEYS_PER_THREAD * VERSIONS);
}

#[test]
fn every_entry_that_leaves_is_counted_once_while_time_passes() {
    let clock = FakeClock::new(0);
    let cache = ByteCache::with_clock(
        CacheConfig {
            shards: 4,
            ..CacheConfig::with_max_bytes(4 << 20)
        },
        clock.clone(),
    )
    .expect("valid");
    const PER_THREAD: u64 = 10_000;
    on_threads(
        |t| {
            let mut buf = [0u8; 64];
            for i in 0..PER_THREAD {
                // Distinct keys, no removes: every insert ends up held, evicted, rejected
                // or expired.
                let key = (t * PER_THREAD + i).to_le_bytes();
                let ttl = Duration::from_millis(1 + (i % 50));
                cache
                    .insert(&key, &[t as u8; 40], Some(ttl))
                    .expect("insert");
                let back = (t * PER_THREAD + i / 2).to_le_bytes();
                cache.get_into(&back, &mut buf);
                // Each worker moves time on too: the watcher alone may not be scheduled
                // before fast workers finish, and then nothing would expire.
                if i % 64 == 0 {
                    clock.advance(Duration::from_micros(100));
                }
            }
        },
        || {
            clock.advance(Duration::from_micros(50));
            thread::yield_now();
        },
    );
    let stats = cache.stats();
    assert_eq!(
        THREADS * PER_THREAD,
        stats.entries + stats.evictions + stats.rejected + stats.expired,
        "{stats:?}"
    );
    assert!(stats.expired > 0, "{stats:?}");
    clock.advance(Duration::from_secs(1));
    cache.purge_expired();
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.bytes), (0, 0), "{stats:?}");
    assert_eq!(
        THREADS * PER_THREAD,
        stats.evictions + stats.rejected + stats.expired
    );
}
