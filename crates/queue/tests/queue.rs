//! Behaviour of one queue on one thread: order, bounds, weights, configuration.

use std::time::{Duration, Instant};

use optlayer_queue::{named, PriorityQueue, QueueConfig, QueueError, WhenFull};

fn queue(capacity: usize, weights: [u32; 4]) -> PriorityQueue {
    PriorityQueue::new(QueueConfig {
        capacity,
        weights,
        when_full: WhenFull::Reject,
    })
    .expect("valid config")
}

#[test]
fn each_level_is_fifo_and_pops_follow_the_weights() {
    let q = queue(100, [8, 4, 2, 1]);
    for id in 0..3 {
        q.push(10 + id, 1).expect("room");
        q.push(20 + id, 0).expect("room");
    }
    let order: Vec<u64> = std::iter::from_fn(|| q.pop()).collect();
    // Turns: Critical, High, Critical, Normal (empty: the most urgent level serves), …
    assert_eq!(order, [20, 10, 21, 22, 11, 12]);
    assert!(q.is_empty());
}

#[test]
fn over_a_cycle_each_busy_level_gets_exactly_its_weight() {
    let q = queue(1_000, [8, 4, 2, 1]);
    for id in 0..400u64 {
        q.push(id, (id % 4) as usize).expect("room");
    }
    let mut per_level = [0; 4];
    for _ in 0..15 * 6 {
        per_level[(q.pop().expect("queued") % 4) as usize] += 1;
    }
    assert_eq!(per_level, [48, 24, 12, 6]);
}

#[test]
fn a_critical_id_overtakes_queued_low_ones() {
    let q = queue(100, [8, 4, 2, 1]);
    for id in 0..10 {
        q.push(id, 3).expect("room");
    }
    q.push(99, 0).expect("room");
    assert_eq!(q.pop(), Some(99));
}

#[test]
fn full_queue_rejects_and_hands_the_id_back() {
    let q = queue(2, [1, 1, 1, 1]);
    q.push(1, 0).expect("room");
    q.push(2, 3).expect("room");
    assert_eq!(q.push(3, 1), Err(QueueError::Full { id: 3, capacity: 2 }));
    assert_eq!(q.stats().rejected, 1);
    assert_eq!(q.pop(), Some(1));
    q.push(3, 1).expect("a pop made room");
    assert_eq!(q.stats().levels, [0, 1, 0, 1]);
}

#[test]
fn a_waiting_push_times_out_when_nobody_pops() {
    let q = PriorityQueue::new(QueueConfig {
        capacity: 1,
        when_full: WhenFull::Wait(Duration::from_millis(30)),
        ..QueueConfig::default()
    })
    .expect("valid config");
    q.push(1, 2).expect("room");
    let started = Instant::now();
    assert!(matches!(q.push(2, 2), Err(QueueError::Full { id: 2, .. })));
    assert!(started.elapsed() >= Duration::from_millis(30));
}

#[test]
fn low_priority_gets_its_share_under_constant_critical_load() {
    let q = queue(1_000, [8, 4, 2, 1]);
    const LOW: u64 = 1 << 40;
    // Fewer under Miri, which interprets each pop for tens of milliseconds.
    let low_tasks: u64 = if cfg!(miri) { 10 } else { 100 };
    for id in 0..low_tasks {
        q.push(LOW + id, 3).expect("room");
    }
    // Critical work keeps arriving: one new Critical id per pop, so level 0 is never empty.
    for id in 0..10 {
        q.push(id, 0).expect("room");
    }
    let mut low = 0;
    for n in 0..15 * low_tasks {
        q.push(10 + n, 0).expect("room");
        if q.pop().expect("queued") >= LOW {
            low += 1;
        }
    }
    // 1 pop in 15 is Low's own, and High's and Normal's turns fall through to Critical.
    assert_eq!(
        low, low_tasks,
        "every Low task ran within 15 pops per Low task"
    );
}

#[test]
fn invalid_levels_and_configs_are_errors_with_codes() {
    let q = queue(4, [1, 1, 1, 1]);
    let err = q.push(1, 4).expect_err("level 4 does not exist");
    assert_eq!(err, QueueError::InvalidLevel { level: 4 });
    assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    assert!(q.is_empty(), "a refused push leaves nothing behind");
    for config in [
        QueueConfig {
            capacity: 0,
            ..QueueConfig::default()
        },
        QueueConfig {
            weights: [1, 0, 1, 1],
            ..QueueConfig::default()
        },
        QueueConfig {
            weights: [1, 1, 1, 1_001],
            ..QueueConfig::default()
        },
    ] {
        let err = PriorityQueue::new(config).expect_err("invalid");
        assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT", "{err}");
    }
}

#[test]
fn named_queues_are_shared_and_refuse_another_config() {
    let a = named("tests::shared", QueueConfig::default()).expect("opened");
    let b = named("tests::shared", QueueConfig::default()).expect("opened again");
    a.push(5, 2).expect("room");
    assert_eq!(b.pop(), Some(5));
    let other = QueueConfig {
        capacity: 7,
        ..QueueConfig::default()
    };
    let err = named("tests::shared", other.clone()).expect_err("mismatch");
    assert_eq!(err.code(), "ERR_OPTLAYER_CONFIG_MISMATCH");
    drop((a, b));
    let fresh = named("tests::shared", other).expect("every holder let go: a new queue");
    assert!(fresh.is_empty());
}
