//! Properties every algorithm must have, on random request sequences:
//! - `retry_after_ms` is exact: the same request is admitted that many milliseconds later
//!   and denied one millisecond sooner;
//! - `reset_ms` is exact: the key is idle (back to new) then and not one millisecond sooner;
//! - an idle state decides exactly as a new one (what makes eviction invisible);
//! - deciding never moves `idle_at` earlier, unless it had already passed (what the
//!   store's eviction bound relies on);
//! - token bucket and GCRA give identical decisions.

use optlayer_ratelimit::{
    Algorithm, FixedWindow, Gcra, Quota, SlidingLog, SlidingWindow, TokenBucket,
};

use crate::support::{ms, Key, Rng};

/// Random quotas with windows in whole milliseconds, including rates whose interval is
/// not a whole number of nanoseconds.
fn random_quota(rng: &mut Rng, with_burst: bool) -> Quota {
    let limit = rng.range(1, 12);
    let q = crate::support::quota(limit, rng.range(1, 3000));
    if with_burst {
        q.with_burst(rng.range(1, 20)).expect("valid")
    } else {
        q
    }
}

/// Makes a key of one algorithm with a random quota.
type Maker = fn(&mut Rng) -> Box<dyn Probe>;

/// Runs `check` on random sequences for every algorithm.
fn for_each_algorithm(check: impl Fn(&mut Rng, Maker)) {
    let makers: [Maker; 5] = [
        |rng| Box::new(Key::new(TokenBucket::new(random_quota(rng, true)))),
        |rng| Box::new(Key::new(Gcra::new(random_quota(rng, true)))),
        |rng| {
            Box::new(Key::new(
                SlidingLog::new(random_quota(rng, false)).expect("valid"),
            ))
        },
        |rng| {
            Box::new(Key::new(
                SlidingWindow::new(random_quota(rng, false)).expect("valid"),
            ))
        },
        |rng| {
            Box::new(Key::new(
                FixedWindow::new(random_quota(rng, false)).expect("valid"),
            ))
        },
    ];
    for (seed, make) in makers.iter().enumerate() {
        let mut rng = Rng::new(seed as u64);
        check(&mut rng, *make);
    }
}

/// What the properties need of a key, object-safe so one check serves every algorithm.
trait Probe {
    fn capacity(&self) -> u64;
    fn decide_ms(&mut self, at_ms: u64, cost: u64) -> optlayer_ratelimit::Decision;
    fn would_allow(&self, at_ms: u64, cost: u64) -> bool;
    fn idle_at(&self) -> u64;
    /// Decisions of the state and of a new one agree over a random follow-up sequence.
    fn same_as_new_from(&self, rng: &mut Rng, at_ms: u64) -> bool;
    fn name(&self) -> &'static str;
}

impl<A: Algorithm> Probe for Key<A> {
    fn capacity(&self) -> u64 {
        self.algorithm.capacity()
    }
    fn decide_ms(&mut self, at_ms: u64, cost: u64) -> optlayer_ratelimit::Decision {
        self.at(at_ms, cost)
    }
    fn would_allow(&self, at_ms: u64, cost: u64) -> bool {
        Key::would_allow(self, at_ms, cost)
    }
    fn idle_at(&self) -> u64 {
        self.algorithm.idle_at(&self.state)
    }
    fn same_as_new_from(&self, rng: &mut Rng, at_ms: u64) -> bool {
        let (mut old, mut new) = (self.state.clone(), self.algorithm.new_state());
        let mut t = at_ms;
        (0..20).all(|_| {
            t += rng.range(0, 300);
            let cost = rng.range(0, self.algorithm.capacity());
            let a = self
                .algorithm
                .decide(&mut old, ms(t), cost)
                .expect("within capacity");
            let b = self
                .algorithm
                .decide(&mut new, ms(t), cost)
                .expect("within capacity");
            a == b
        })
    }
    fn name(&self) -> &'static str {
        std::any::type_name::<A>()
    }
}

/// Steps of a random sequence: a time in ms (moving by uneven gaps) and a cost.
fn steps(rng: &mut Rng, count: usize) -> Vec<(u64, u64, u64)> {
    let mut t = rng.range(0, 5000);
    (0..count)
        .map(|_| {
            t += match rng.range(0, 9) {
                0 => rng.range(0, 5000),
                1..=3 => 0,
                _ => rng.range(0, 200),
            };
            (t, rng.next(), rng.next())
        })
        .collect()
}

#[test]
fn retry_after_is_the_exact_wait() {
    for_each_algorithm(|rng, make| {
        for _ in 0..40 {
            let mut key = make(rng);
            for (t, a, _) in steps(rng, 60) {
                let cost = 1 + a % key.capacity();
                let d = key.decide_ms(t, cost);
                if d.allowed {
                    assert_eq!(d.retry_after_ms, 0);
                    continue;
                }
                assert!(d.retry_after_ms >= 1, "{}", key.name());
                assert!(
                    key.would_allow(t + d.retry_after_ms, cost),
                    "{} at {t}: {d:?}",
                    key.name()
                );
                assert!(
                    !key.would_allow(t + d.retry_after_ms - 1, cost),
                    "{} at {t}: {d:?}",
                    key.name()
                );
            }
        }
    });
}

#[test]
fn reset_is_the_exact_time_to_idle() {
    for_each_algorithm(|rng, make| {
        for _ in 0..40 {
            let mut key = make(rng);
            for (t, a, _) in steps(rng, 60) {
                let d = key.decide_ms(t, a % (key.capacity() + 1));
                assert!(
                    key.idle_at() <= ms(t + d.reset_ms),
                    "{} at {t}: {d:?}",
                    key.name()
                );
                if d.reset_ms > 0 {
                    assert!(
                        key.idle_at() > ms(t + d.reset_ms - 1),
                        "{} at {t}: {d:?}",
                        key.name()
                    );
                }
            }
        }
    });
}

#[test]
fn an_idle_state_decides_as_a_new_one() {
    for_each_algorithm(|rng, make| {
        for _ in 0..40 {
            let mut key = make(rng);
            for (t, a, b) in steps(rng, 40) {
                key.decide_ms(t, a % (key.capacity() + 1));
                // The store never goes back in time, so nor does this check.
                let idle_ms = key.idle_at().div_ceil(ms(1)).max(t);
                let later = idle_ms + b % 1000;
                assert!(
                    key.same_as_new_from(rng, later),
                    "{} idle from {idle_ms} ms",
                    key.name()
                );
            }
        }
    });
}

#[test]
fn deciding_never_moves_idle_at_earlier_unless_it_passed() {
    for_each_algorithm(|rng, make| {
        for _ in 0..40 {
            let mut key = make(rng);
            for (t, a, _) in steps(rng, 80) {
                let before = key.idle_at();
                key.decide_ms(t, a % (key.capacity() + 1));
                assert!(
                    key.idle_at() >= before || before <= ms(t),
                    "{} at {t}",
                    key.name()
                );
            }
        }
    });
}

#[test]
fn token_bucket_and_gcra_decide_alike() {
    let mut rng = Rng::new(99);
    for _ in 0..300 {
        let quota = random_quota(&mut rng, true);
        let mut bucket = Key::new(TokenBucket::new(quota));
        let mut gcra = Key::new(Gcra::new(quota));
        for (t, a, _) in steps(&mut rng, 50) {
            let cost = a % (u64::from(quota.burst().get()) + 1);
            assert_eq!(
                bucket.at(t, cost),
                gcra.at(t, cost),
                "{quota:?} at {t} ms, cost {cost}"
            );
        }
    }
}
