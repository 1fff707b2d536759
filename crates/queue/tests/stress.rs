//! Many threads pushing and popping at once: every id comes out exactly once, the bound is
//! never exceeded, and blocked pushes are all woken.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use optlayer_queue::{PriorityQueue, QueueConfig, WhenFull};

const PRODUCERS: u64 = 8;
const CONSUMERS: usize = 8;
const PER_PRODUCER: u64 = if cfg!(miri) { 100 } else { 50_000 };

fn run(config: QueueConfig, blocking: bool) {
    let capacity = config.capacity;
    let q = Arc::new(PriorityQueue::new(config).expect("valid config"));
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = Arc::clone(&q);
            let peak = Arc::clone(&peak);
            thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    let id = p * PER_PRODUCER + i;
                    let level = (id % 4) as usize;
                    if blocking {
                        // Long enough never to time out while consumers run.
                        while q.push(id, level).is_err() {}
                    } else {
                        while q.try_push(id, level).is_err() {
                            thread::yield_now();
                        }
                    }
                    peak.fetch_max(q.len(), Ordering::Relaxed);
                }
            })
        })
        .collect();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let q = Arc::clone(&q);
            let done = Arc::clone(&done);
            let seen = Arc::clone(&seen);
            thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    match q.pop() {
                        Some(id) => mine.push(id),
                        None if done.load(Ordering::Acquire) && q.is_empty() => break,
                        None => thread::yield_now(),
                    }
                }
                seen.lock().expect("unpoisoned").extend(mine);
            })
        })
        .collect();
    for handle in producers {
        handle.join().expect("producer finished");
    }
    done.store(true, Ordering::Release);
    for handle in consumers {
        handle.join().expect("consumer finished");
    }
    let seen = seen.lock().expect("unpoisoned");
    let total = (PRODUCERS * PER_PRODUCER) as usize;
    assert_eq!(seen.len(), total, "no id lost or duplicated in count");
    let unique: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), total, "no id duplicated");
    assert!(unique.iter().all(|&id| id < PRODUCERS * PER_PRODUCER));
    assert!(peak.load(Ordering::Relaxed) <= capacity, "bound exceeded");
    assert!(q.is_empty());
    assert_eq!(q.stats().levels, [0; 4]);
}

#[test]
fn many_producers_and_consumers_lose_and_duplicate_nothing() {
    run(
        QueueConfig {
            capacity: 64,
            ..QueueConfig::default()
        },
        false,
    );
}

#[test]
fn blocked_pushes_are_all_woken_and_admitted() {
    run(
        QueueConfig {
            capacity: 16,
            when_full: WhenFull::Wait(Duration::from_secs(60)),
            ..QueueConfig::default()
        },
        true,
    );
}

#[test]
fn per_producer_order_holds_within_a_level() {
    // One consumer: ids of one producer at one level come out in the order pushed.
    let q = Arc::new(PriorityQueue::new(QueueConfig::default()).expect("valid config"));
    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                for i in 0..2_000u64 {
                    while q.try_push(p << 32 | i, (p % 4) as usize).is_err() {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let mut last = [None::<u64>; 4];
    let mut got = 0;
    while got < 8_000 {
        if let Some(id) = q.pop() {
            let (p, i) = ((id >> 32) as usize, id & 0xffff_ffff);
            assert!(last[p].is_none_or(|prev| prev < i), "out of order");
            last[p] = Some(i);
            got += 1;
        }
    }
    for handle in producers {
        handle.join().expect("producer finished");
    }
}
