//! Boundaries of the two bucket algorithms. Token bucket and GCRA must admit exactly the
//! same requests, so each scenario runs against both.

use optlayer_ratelimit::{Algorithm, Gcra, Quota, TokenBucket};

use crate::support::{allowed, denied, ms, quota, Key};

fn both(scenario: impl Fn(&mut dyn FnMut(Quota) -> Box<dyn BucketKey>)) {
    scenario(&mut |q| Box::new(Key::new(TokenBucket::new(q))));
    scenario(&mut |q| Box::new(Key::new(Gcra::new(q))));
}

/// The part of [`Key`] the scenarios use, object-safe so one scenario serves both.
trait BucketKey {
    fn at(&mut self, at_ms: u64, cost: u64) -> optlayer_ratelimit::Decision;
    fn at_ns(&mut self, at_ns: u64, cost: u64) -> optlayer_ratelimit::Decision;
    fn burst(&mut self, at_ms: u64, count: usize) -> Vec<optlayer_ratelimit::Decision>;
    fn over_capacity(&mut self, cost: u64) -> &'static str;
}

impl<A: Algorithm> BucketKey for Key<A> {
    fn at(&mut self, at_ms: u64, cost: u64) -> optlayer_ratelimit::Decision {
        Key::at(self, at_ms, cost)
    }
    fn at_ns(&mut self, at_ns: u64, cost: u64) -> optlayer_ratelimit::Decision {
        Key::at_ns(self, at_ns, cost)
    }
    fn burst(&mut self, at_ms: u64, count: usize) -> Vec<optlayer_ratelimit::Decision> {
        Key::burst(self, at_ms, count)
    }
    fn over_capacity(&mut self, cost: u64) -> &'static str {
        self.algorithm
            .decide(&mut self.state, 0, cost)
            .expect_err("over capacity")
            .code()
    }
}

#[test]
fn admits_the_burst_then_one_per_interval_with_exact_retry() {
    both(|make| {
        let mut key = make(quota(10, 1000));
        let first = key.burst(0, 10);
        for (i, d) in first.iter().enumerate() {
            assert_eq!(*d, allowed(9 - i as u64, 100 * (i as u64 + 1)));
        }
        assert_eq!(key.at(0, 1), denied(0, 100, 1000));
        assert_eq!(key.at(99, 1), denied(0, 1, 901));
        assert_eq!(key.at(100, 1), allowed(0, 1000));
        assert_eq!(key.at(100, 1), denied(0, 100, 1000));
    });
}

#[test]
fn a_fractional_interval_is_kept_exactly() {
    // 3 per second: one unit every 333.33… ms, so the third arrives at exactly 1000 ms.
    both(|make| {
        let mut key = make(quota(3, 1000));
        assert!(key.burst(0, 3).iter().all(|d| d.allowed));
        assert_eq!(key.at(0, 1), denied(0, 334, 1000));
        assert!(!key.at(333, 1).allowed);
        assert_eq!(key.at(334, 1), allowed(0, 1000));
        assert_eq!(key.at(334, 1).retry_after_ms, 333, "next unit at 666.67 ms");
        assert!(!key.at(666, 1).allowed);
        assert!(key.at(667, 1).allowed);
        assert!(!key.at_ns(ms(1000) - 1, 1).allowed);
        assert_eq!(
            key.at(1000, 1),
            allowed(0, 1000),
            "exactly 3 admitted in (0, 1000]"
        );
    });
}

#[test]
fn a_request_of_cost_n_waits_for_its_missing_units() {
    both(|make| {
        let mut key = make(quota(10, 1000));
        assert_eq!(key.at(0, 7), allowed(3, 700));
        assert_eq!(key.at(0, 5), denied(3, 200, 700));
        assert_eq!(key.at(199, 5), denied(4, 1, 501));
        assert_eq!(key.at(200, 5), allowed(0, 1000));
        assert_eq!(
            key.at(200, 0),
            allowed(0, 1000),
            "cost 0 asks without consuming"
        );
    });
}

#[test]
fn a_cost_above_capacity_is_an_error_not_a_denial() {
    both(|make| {
        let mut key = make(quota(10, 1000).with_burst(20).expect("valid"));
        assert_eq!(key.over_capacity(21), "ERR_OPTLAYER_COST_EXCEEDS_CAPACITY");
        assert_eq!(
            key.over_capacity(u64::MAX),
            "ERR_OPTLAYER_COST_EXCEEDS_CAPACITY"
        );
        assert_eq!(key.at(0, 20), allowed(0, 2000), "the whole burst at once");
    });
}

#[test]
fn burst_above_limit_refills_at_the_limit_rate() {
    both(|make| {
        let mut key = make(quota(10, 1000).with_burst(30).expect("valid"));
        assert!(key.burst(0, 30).iter().all(|d| d.allowed));
        assert_eq!(key.at(0, 1), denied(0, 100, 3000));
        assert_eq!(
            key.at(1000, 10),
            allowed(0, 3000),
            "one window refills `limit`, not the burst"
        );
        assert_eq!(
            key.at(4000, 0),
            allowed(30, 0),
            "full again after burst / limit windows"
        );
    });
}

#[test]
fn burst_below_limit_caps_the_bucket() {
    both(|make| {
        let mut key = make(quota(10, 1000).with_burst(2).expect("valid"));
        assert_eq!(key.at(5000, 2), allowed(0, 200));
        assert_eq!(key.at(5000, 1), denied(0, 100, 200));
    });
}

#[test]
fn a_frozen_clock_refills_nothing() {
    both(|make| {
        let mut key = make(quota(5, 1000));
        let decisions = key.burst(42, 100);
        assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 5);
        assert!(decisions[5..].iter().all(|d| *d == denied(0, 200, 1000)));
    });
}

#[test]
fn long_idle_periods_refill_without_overflow() {
    both(|make| {
        let mut key = make(
            quota(u64::from(u32::MAX), 1)
                .with_burst(u64::from(u32::MAX))
                .expect("valid"),
        );
        assert!(key.at(0, u64::from(u32::MAX)).allowed);
        assert_eq!(key.at_ns(u64::MAX / 2, 0).remaining, u64::from(u32::MAX));
        let mut key = make(quota(1, 1000));
        assert!(key.at(0, 1).allowed);
        assert_eq!(key.at_ns(u64::MAX, 1), allowed(0, 1000));
        assert!(
            !key.at_ns(u64::MAX, 1).allowed,
            "the end of time is not a free pass"
        );
    });
}
