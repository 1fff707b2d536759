use std::time::Duration;

use optlayer_ratelimit::{
    FixedWindow, LimitError, Quota, SlidingLog, SlidingWindow, TokenBucket, MAX_PERIOD_NS,
};

use crate::support::quota;

fn code(result: Result<Quota, LimitError>) -> &'static str {
    result.expect_err("invalid quota").code()
}

#[test]
fn non_positive_or_oversized_values_are_rejected() {
    let second = Duration::from_secs(1);
    assert_eq!(code(Quota::new(0, second)), "ERR_OPTLAYER_INVALID_ARGUMENT");
    assert_eq!(
        code(Quota::new(u64::from(u32::MAX) + 1, second)),
        "ERR_OPTLAYER_INVALID_ARGUMENT"
    );
    assert_eq!(
        code(Quota::new(1, Duration::ZERO)),
        "ERR_OPTLAYER_INVALID_ARGUMENT"
    );
    assert_eq!(
        code(Quota::new(1, Duration::from_nanos(MAX_PERIOD_NS + 1))),
        "ERR_OPTLAYER_INVALID_ARGUMENT"
    );
    assert_eq!(
        code(quota(1, 1000).with_burst(0)),
        "ERR_OPTLAYER_INVALID_ARGUMENT"
    );
    // Refilling 2^32 − 1 units at 1 per 2^40 ns would take longer than MAX_PERIOD_NS.
    let slow = Quota::new(1, Duration::from_nanos(1 << 40)).expect("valid");
    assert_eq!(
        code(slow.with_burst(u64::from(u32::MAX))),
        "ERR_OPTLAYER_INVALID_ARGUMENT"
    );
    assert!(Quota::new(u64::from(u32::MAX), Duration::from_nanos(MAX_PERIOD_NS)).is_ok());
}

#[test]
fn messages_say_what_was_expected_and_what_came() {
    let err = Quota::new(0, Duration::from_secs(1)).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "invalid limit: expected an integer from 1 to 4294967295, got 0"
    );
    let err = Quota::new(5, Duration::ZERO).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "invalid window: expected from 1 ns to 2^62 ns, got 0ns"
    );
}

#[test]
fn accessors_return_the_configuration() {
    let q = quota(10, 2000).with_burst(25).expect("valid");
    assert_eq!(
        (q.limit().get(), q.window(), q.window_ns(), q.burst().get()),
        (10, Duration::from_secs(2), 2_000_000_000, 25)
    );
    assert_eq!(quota(10, 2000).burst().get(), 10, "burst defaults to limit");
}

#[test]
fn window_algorithms_reject_a_separate_burst() {
    let bursty = quota(10, 1000).with_burst(20).expect("valid");
    assert_eq!(
        FixedWindow::new(bursty).expect_err("burst").code(),
        "ERR_OPTLAYER_INVALID_ARGUMENT"
    );
    assert_eq!(
        SlidingWindow::new(bursty).expect_err("burst").code(),
        "ERR_OPTLAYER_INVALID_ARGUMENT"
    );
    assert_eq!(
        SlidingLog::new(bursty).expect_err("burst").code(),
        "ERR_OPTLAYER_INVALID_ARGUMENT"
    );
    let _bucket_accepts_it = TokenBucket::new(bursty);
}
