//! ns per push + pop of the queue: one thread on one level, one thread on mixed levels, and
//! 4 producers feeding 4 consumers (on a 2-core machine that measures contention, not
//! parallel speed-up).

use std::hint::black_box;
use std::sync::Arc;
use std::thread;

use criterion::{criterion_group, criterion_main, Criterion};
use optlayer_queue::{PriorityQueue, QueueConfig};

fn queue() -> PriorityQueue {
    PriorityQueue::new(QueueConfig::default()).expect("valid config")
}

fn single_thread(c: &mut Criterion) {
    let q = queue();
    c.bench_function("push+pop, one level", |b| {
        b.iter(|| {
            q.try_push(black_box(1), 2).expect("room");
            black_box(q.pop())
        })
    });
    let q = queue();
    let mut n = 0u64;
    c.bench_function("push+pop, mixed levels, 64 queued", |b| {
        for id in 0..64 {
            q.try_push(id, (id % 4) as usize).expect("room");
        }
        b.iter(|| {
            n += 1;
            q.try_push(n, (n % 4) as usize).expect("room");
            black_box(q.pop())
        })
    });
}

fn contended(c: &mut Criterion) {
    const PER_THREAD: u64 = 10_000;
    const THREADS: u64 = 4;
    c.bench_function("4 producers x 4 consumers, 40k ids", |b| {
        b.iter(|| {
            let q = Arc::new(queue());
            let producers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let q = Arc::clone(&q);
                    thread::spawn(move || {
                        for i in 0..PER_THREAD {
                            while q.try_push(t * PER_THREAD + i, (i % 4) as usize).is_err() {
                                std::hint::spin_loop();
                            }
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..THREADS)
                .map(|_| {
                    let q = Arc::clone(&q);
                    thread::spawn(move || {
                        let mut got = 0;
                        while got < PER_THREAD {
                            if q.pop().is_some() {
                                got += 1;
                            } else {
                                thread::yield_now();
                            }
                        }
                    })
                })
                .collect();
            for handle in producers.into_iter().chain(consumers) {
                handle.join().expect("thread finished");
            }
        })
    });
}

criterion_group!(benches, single_thread, contended);
criterion_main!(benches);
