use optlayer_ratelimit::{Algorithm, SlidingLog};

use crate::support::{allowed, denied, quota, Key};

fn log(limit: u64, window_ms: u64) -> Key<SlidingLog> {
    Key::new(SlidingLog::new(quota(limit, window_ms)).expect("valid"))
}

#[test]
fn admits_limit_per_window_and_retries_when_the_oldest_expires() {
    let mut key = log(3, 1000);
    assert_eq!(key.at(0, 1), allowed(2, 1000));
    assert_eq!(key.at(100, 1), allowed(1, 1000));
    assert_eq!(key.at(200, 1), allowed(0, 1000));
    assert_eq!(key.at(300, 1), denied(0, 700, 900));
    assert_eq!(key.at(999, 1), denied(0, 1, 201));
    assert_eq!(
        key.at(1000, 1),
        allowed(0, 1000),
        "the unit of t=0 left the window at exactly 1000 ms"
    );
    assert_eq!(key.at(1000, 1), denied(0, 100, 1000));
}

#[test]
fn a_request_of_cost_n_waits_for_n_units_to_expire() {
    let mut key = log(3, 1000);
    assert_eq!(key.at(0, 2), allowed(1, 1000));
    assert_eq!(key.at(500, 1), allowed(0, 1000));
    assert_eq!(
        key.at(600, 2),
        denied(0, 400, 900),
        "both units of t=0 must go"
    );
    assert_eq!(key.at(1000, 2), allowed(0, 1000));
    assert_eq!(key.at(1000, 0), allowed(0, 1000));
}

#[test]
fn a_cost_above_the_limit_is_an_error() {
    let mut key = log(3, 1000);
    let err = key
        .algorithm
        .decide(&mut key.state, 0, 4)
        .expect_err("over capacity");
    assert_eq!(err.code(), "ERR_OPTLAYER_COST_EXCEEDS_CAPACITY");
    assert_eq!(key.at(0, 3), allowed(0, 1000));
}

#[test]
fn a_frozen_clock_admits_exactly_the_limit() {
    let mut key = log(4, 1000);
    let decisions = key.burst(7, 50);
    assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 4);
    assert!(decisions[4..].iter().all(|d| *d == denied(0, 1000, 1000)));
}

#[test]
fn a_clock_stepping_back_counts_as_no_time_passing() {
    let mut key = log(2, 1000);
    assert!(key.at(500, 2).allowed);
    assert_eq!(
        key.at(100, 1),
        denied(0, 1000, 1000),
        "measured from 500 ms"
    );
    assert!(!key.at(1499, 1).allowed);
    assert!(key.at(1500, 1).allowed);
}

#[test]
fn long_idle_periods_empty_the_log_without_overflow() {
    let mut key = log(2, 1000);
    assert!(key.at(0, 2).allowed);
    assert_eq!(
        key.at_ns(u64::MAX, 2),
        allowed(0, 1000),
        "times past 2^63 ns count as 2^63 ns"
    );
    assert!(!key.at_ns(u64::MAX, 1).allowed);
}

#[test]
fn the_log_never_holds_more_than_limit_entries() {
    let mut key = log(5, 1000);
    for t in 0..10_000 {
        key.at(t, 1 + t % 3);
        assert!(key.state.len() <= 5);
    }
}
