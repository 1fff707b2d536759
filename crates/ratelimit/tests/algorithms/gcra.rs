//! What is particular to GCRA; the boundaries it shares with the token bucket are in
//! `bucket.rs`.

use optlayer_ratelimit::{Algorithm, Gcra, TokenBucket};

use crate::support::{ms, quota, Key};

#[test]
fn a_clock_stepping_back_makes_it_stricter_never_looser() {
    let mut key = Key::new(Gcra::new(quota(10, 1000)));
    assert!(key.burst(1000, 10).iter().all(|d| d.allowed));
    let back = key.at(900, 1);
    assert!(!back.allowed);
    assert_eq!(back.retry_after_ms, 200, "measured from the earlier time");
    assert!(key.at(1100, 1).allowed);
}

#[test]
fn the_token_bucket_treats_a_clock_stepping_back_as_no_time_passing() {
    let mut key = Key::new(TokenBucket::new(quota(10, 1000)));
    assert!(key.burst(1000, 10).iter().all(|d| d.allowed));
    assert_eq!(key.at(900, 1).retry_after_ms, 100);
    assert!(!key.at(1099, 1).allowed);
    assert!(key.at(1100, 1).allowed);
}

#[test]
fn idle_at_is_the_theoretical_arrival_time() {
    let mut key = Key::new(Gcra::new(quota(3, 1000)));
    assert_eq!(key.algorithm.idle_at(&key.state), 0);
    key.at(10, 1);
    // TAT = 10 ms + 333.33… ms, rounded up to the nanosecond.
    assert_eq!(key.algorithm.idle_at(&key.state), ms(10) + 333_333_334);
}
