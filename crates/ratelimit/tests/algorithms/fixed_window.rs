use optlayer_ratelimit::{Algorithm, FixedWindow};

use crate::support::{allowed, denied, ms, quota, Key};

fn fixed(limit: u64, window_ms: u64) -> Key<FixedWindow> {
    Key::new(FixedWindow::new(quota(limit, window_ms)).expect("valid"))
}

#[test]
fn admits_limit_per_aligned_window_and_retries_at_the_next() {
    let mut key = fixed(3, 1000);
    assert_eq!(key.at(250, 1), allowed(2, 750));
    assert_eq!(key.at(500, 1), allowed(1, 500));
    assert_eq!(key.at(600, 1), allowed(0, 400));
    assert_eq!(key.at(600, 1), denied(0, 400, 400));
    assert!(!key.at_ns(ms(1000) - 1, 1).allowed);
    assert_eq!(
        key.at(1000, 1),
        allowed(2, 1000),
        "a new window at exactly 1000 ms"
    );
}

#[test]
fn a_request_of_cost_n_fits_the_count_or_waits_for_the_next_window() {
    let mut key = fixed(5, 1000);
    assert_eq!(key.at(0, 4), allowed(1, 1000));
    assert_eq!(key.at(10, 2), denied(1, 990, 990));
    assert_eq!(key.at(10, 1), allowed(0, 990));
    assert_eq!(key.at(1000, 5), allowed(0, 1000));
    assert_eq!(
        key.at(2000, 0),
        allowed(5, 0),
        "cost 0 leaves an empty window full"
    );
    let err = key
        .algorithm
        .decide(&mut key.state, 0, 6)
        .expect_err("over capacity");
    assert_eq!(err.code(), "ERR_OPTLAYER_COST_EXCEEDS_CAPACITY");
}

#[test]
fn bursts_at_a_boundary_admit_twice_the_limit_in_a_moment() {
    let mut key = fixed(3, 1000);
    assert!(key.burst(999, 3).iter().all(|d| d.allowed));
    assert!(
        key.burst(1000, 3).iter().all(|d| d.allowed),
        "the documented looseness"
    );
    assert!(!key.at(1000, 1).allowed);
}

#[test]
fn a_frozen_clock_admits_exactly_the_limit() {
    let mut key = fixed(10, 60_000);
    let decisions = key.burst(30_000, 1000);
    assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 10);
}

#[test]
fn a_clock_stepping_back_stays_in_the_current_window() {
    let mut key = fixed(2, 1000);
    assert!(key.at(1500, 2).allowed);
    assert_eq!(
        key.at(500, 1),
        denied(0, 1000, 1000),
        "500 ms counts as the start of window 1"
    );
    assert!(key.at(2000, 1).allowed);
}

#[test]
fn long_idle_periods_start_a_fresh_window_without_overflow() {
    let mut key = fixed(2, 1000);
    assert!(key.at(0, 2).allowed);
    assert!(key.at_ns(u64::MAX, 2).allowed);
    assert!(!key.at_ns(u64::MAX, 1).allowed);
}
