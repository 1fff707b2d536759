use std::sync::Arc;
use std::thread;

use optlayer_ratelimit::{named, CapPolicy, FixedWindow, Gcra, StoreConfig, TokenBucket};

use crate::quota;

// The registry is process-wide and tests run in parallel: each test uses its own names.

#[test]
fn threads_opening_one_name_share_one_store() {
    let open = || {
        named(
            "registry-shared",
            TokenBucket::new(quota(3, 60_000)),
            StoreConfig::default(),
        )
        .expect("open")
    };
    let first = open();
    let others: Vec<_> = (0..4)
        .map(|_| thread::spawn(open))
        .map(|h| h.join().expect("thread"))
        .collect();
    assert!(others.iter().all(|other| Arc::ptr_eq(&first, other)));
    let admitted = others
        .iter()
        .filter(|limiter| limiter.allow("k", 1).expect("valid").allowed)
        .count();
    assert_eq!(admitted, 3, "one budget for all");
}

#[test]
fn another_configuration_under_an_open_name_is_an_error() {
    let _open = named(
        "registry-mismatch",
        Gcra::new(quota(10, 1000)),
        StoreConfig::default(),
    )
    .expect("open");
    let other_quota = named(
        "registry-mismatch",
        Gcra::new(quota(11, 1000)),
        StoreConfig::default(),
    );
    let other_algorithm = named(
        "registry-mismatch",
        TokenBucket::new(quota(10, 1000)),
        StoreConfig::default(),
    );
    let other_store = named(
        "registry-mismatch",
        Gcra::new(quota(10, 1000)),
        StoreConfig {
            at_cap: CapPolicy::RejectNew,
            ..StoreConfig::default()
        },
    );
    for result in [
        other_quota.map(|_| ()),
        other_algorithm.map(|_| ()),
        other_store.map(|_| ()),
    ] {
        let err = result.expect_err("mismatch");
        assert_eq!(err.code(), "ERR_OPTLAYER_CONFIG_MISMATCH");
        assert!(err
            .to_string()
            .starts_with("limiter 'registry-mismatch' is already open"));
    }
}

#[test]
fn a_name_no_one_holds_starts_afresh() {
    let first = named(
        "registry-fresh",
        Gcra::new(quota(1, 60_000)),
        StoreConfig::default(),
    )
    .expect("open");
    assert!(first.allow("k", 1).expect("valid").allowed);
    drop(first);
    let again = named(
        "registry-fresh",
        Gcra::new(quota(2, 60_000)),
        StoreConfig::default(),
    )
    .expect("reopen");
    assert!(again.is_empty());
}

#[test]
fn an_invalid_configuration_is_reported_and_not_registered() {
    let invalid = StoreConfig {
        shards: 6,
        ..StoreConfig::default()
    };
    let err = named(
        "registry-invalid",
        FixedWindow::new(quota(1, 1000)).expect("valid"),
        invalid,
    )
    .expect_err("invalid");
    assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    assert!(named(
        "registry-invalid",
        FixedWindow::new(quota(1, 1000)).expect("valid"),
        StoreConfig::default()
    )
    .is_ok());
}
