//! Model checks of the admission protocol under every interleaving loom explores:
//! `RUSTFLAGS="--cfg loom" cargo test -p optlayer-queue --test loom --release`.
#![cfg(loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::thread;
use optlayer_queue::{PriorityQueue, QueueConfig, WhenFull};

fn queue(capacity: usize, when_full: WhenFull) -> Arc<PriorityQueue> {
    Arc::new(
        PriorityQueue::new(QueueConfig {
            capacity,
            when_full,
            ..QueueConfig::default()
        })
        .expect("valid config"),
    )
}

#[test]
fn racing_pushes_never_exceed_the_bound() {
    loom::model(|| {
        let q = queue(1, WhenFull::Reject);
        let pushers: Vec<_> = (0..2)
            .map(|id| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.try_push(id, id as usize).is_ok())
            })
            .collect();
        let admitted = pushers
            .into_iter()
            .map(|h| h.join().expect("joined"))
            .filter(|ok| *ok)
            .count();
        assert_eq!(admitted, 1);
        assert!(q.pop().is_some());
        assert_eq!(q.pop(), None);
    });
}

#[test]
fn a_pop_racing_a_push_loses_nothing() {
    loom::model(|| {
        let q = queue(2, WhenFull::Reject);
        q.try_push(1, 3).expect("room");
        let pusher = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.try_push(2, 0).expect("room"))
        };
        let first = q.pop();
        pusher.join().expect("joined");
        let mut ids: Vec<u64> = first
            .into_iter()
            .chain(std::iter::from_fn(|| q.pop()))
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2]);
        assert!(q.is_empty());
    });
}

#[test]
fn a_waiting_push_is_woken_by_a_pop() {
    loom::model(|| {
        let q = queue(1, WhenFull::Wait(Duration::from_secs(3600)));
        q.push(1, 2).expect("room");
        let pusher = {
            let q = Arc::clone(&q);
            // Blocks until the pop below frees the only slot; a lost wake-up deadlocks, which
            // loom reports.
            thread::spawn(move || q.push(2, 2).expect("woken with room"))
        };
        assert_eq!(q.pop(), Some(1));
        pusher.join().expect("joined");
        assert_eq!(q.pop(), Some(2));
    });
}
