//! Boundaries of the weighted two-window counter, and its approximation bound checked
//! against the exact sliding window.

use std::collections::VecDeque;

use optlayer_ratelimit::{Algorithm, SlidingWindow};

use crate::support::{allowed, denied, ms, quota, Key, Rng};

fn sliding(limit: u64, window_ms: u64) -> Key<SlidingWindow> {
    Key::new(SlidingWindow::new(quota(limit, window_ms)).expect("valid"))
}

#[test]
fn a_spent_window_weighs_on_the_next_one_as_it_fades() {
    let mut key = sliding(10, 1000);
    assert!(key.burst(0, 10).iter().all(|d| d.allowed));
    // At 1100 ms the previous window weighs 10 × 0.9 = 9: room for 1.
    assert_eq!(key.at(0, 1), denied(0, 1100, 2000));
    assert!(!key.at(1099, 1).allowed);
    // Window 1's count weighs until window 2 ends, at 3000 ms.
    assert_eq!(key.at(1100, 1), allowed(0, 1900));
    // The next unit fits when 10 × (1 − f) + 2 ≤ 10, i.e. at f = 0.2.
    assert_eq!(key.at(1100, 1), denied(0, 100, 1900));
    assert_eq!(key.at(1200, 1), allowed(0, 1800));
    assert_eq!(key.at(1900, 0), allowed(7, 1100));
}

#[test]
fn a_request_of_cost_n_waits_for_room_for_all_of_it() {
    let mut key = sliding(10, 1000);
    assert_eq!(key.at(500, 6), allowed(4, 1500));
    assert_eq!(
        key.at(1000, 5),
        denied(4, 167, 1000),
        "6 × (1 − f) + 5 ≤ 10 from f = 1/6"
    );
    assert!(!key.at(1166, 5).allowed);
    assert!(key.at(1167, 5).allowed);
    let err = key
        .algorithm
        .decide(&mut key.state, 0, 11)
        .expect_err("over capacity");
    assert_eq!(err.code(), "ERR_OPTLAYER_COST_EXCEEDS_CAPACITY");
}

#[test]
fn the_whole_limit_waits_for_both_windows_to_pass() {
    let mut key = sliding(4, 1000);
    assert!(key.at(300, 1).allowed);
    assert_eq!(key.at(300, 4), denied(3, 1700, 1700));
    assert!(!key.at_ns(ms(2000) - 1, 4).allowed);
    assert!(key.at(2000, 4).allowed);
}

#[test]
fn a_frozen_clock_admits_exactly_the_limit() {
    let mut key = sliding(7, 1000);
    let decisions = key.burst(123, 100);
    assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 7);
}

#[test]
fn a_clock_stepping_back_stays_in_the_current_window() {
    let mut key = sliding(2, 1000);
    assert!(key.at(1500, 2).allowed);
    assert!(!key.at(200, 1).allowed);
    assert!(
        key.at(2500, 1).allowed,
        "at 2500 ms the 2 of window 1 weigh 1"
    );
}

#[test]
fn long_idle_periods_clear_both_windows_without_overflow() {
    let mut key = sliding(2, 1000);
    assert!(key.at(0, 2).allowed);
    assert!(key.at_ns(u64::MAX, 2).allowed);
    assert!(!key.at_ns(u64::MAX, 1).allowed);
}

/// Units admitted in `(t − window, t]`, from a log of admissions.
fn exact_count(admitted: &VecDeque<(u64, u64)>, t: u64, window: u64) -> u64 {
    admitted
        .iter()
        .filter(|&&(at, _)| at + window > t)
        .map(|&(_, n)| n)
        .sum()
}

/// The bound stated in the module docs: at an admission at offset e into a window whose
/// predecessor admitted p, the exact count over the last window is at most
/// `limit + ⌊p·e / window⌋`, each aligned window admits at most `limit`, and any window-long
/// interval holds fewer than `2·limit`.
#[test]
fn the_approximation_bound_holds_on_random_traffic() {
    let (limit, window) = (20, ms(1000));
    for seed in 0..20 {
        let mut rng = Rng::new(seed);
        let mut key = sliding(limit, 1000);
        let mut admitted: VecDeque<(u64, u64)> = VecDeque::new();
        let mut t = 0;
        for _ in 0..3000 {
            // Bursty gaps: mostly short, sometimes long, so windows fill unevenly.
            t += if rng.range(0, 9) == 0 {
                rng.range(0, ms(900))
            } else {
                rng.range(0, ms(30))
            };
            let cost = rng.range(1, 3);
            let decision = key.at_ns(t, cost);
            while admitted
                .front()
                .is_some_and(|&(at, _)| at + 2 * window <= t)
            {
                admitted.pop_front();
            }
            if !decision.allowed {
                continue;
            }
            admitted.push_back((t, cost));
            let (index, e) = (t / window, t % window);
            let in_window = |k: u64| {
                admitted
                    .iter()
                    .filter(|&&(at, _)| at / window == k)
                    .map(|&(_, n)| n)
                    .sum::<u64>()
            };
            let previous = if index == 0 { 0 } else { in_window(index - 1) };
            assert!(in_window(index) <= limit);
            let exact = exact_count(&admitted, t, window);
            assert!(
                exact <= limit + previous * e / window,
                "seed {seed} at {t}: {exact} admitted"
            );
            assert!(exact < 2 * limit);
        }
    }
}

#[test]
fn bunched_traffic_reaches_the_overshoot_the_bound_allows() {
    let mut key = sliding(10, 1000);
    assert!(key.burst(999, 10).iter().all(|d| d.allowed));
    // At 1998 ms the 10 of window 0 weigh 10 × 0.002 = 0.02: room for 9 more, though all
    // 10 really are in the last second. The bound: 10 + ⌊10 × 998 / 1000⌋ = 19.
    let late = key.burst(1998, 10);
    assert_eq!(late.iter().filter(|d| d.allowed).count(), 9);
}
