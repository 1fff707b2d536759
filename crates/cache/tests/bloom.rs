//! The bloom filter: no false negatives, a measured false-positive rate within tolerance
//! of the configured one, concurrent inserts, argument errors.

use std::thread;

use optlayer_cache::BloomFilter;

fn key(prefix: &str, i: u64) -> Vec<u8> {
    format!("{prefix}:{i}").into_bytes()
}

/// Inserts `items` keys, then measures the false-positive rate on 4× as many others.
fn measured_rate(items: u64, rate: f64) -> f64 {
    let filter = BloomFilter::new(items, rate).expect("valid");
    for i in 0..items {
        filter.insert(&key("in", i));
    }
    for i in 0..items {
        assert!(filter.contains(&key("in", i)), "false negative");
    }
    let probes = 4 * items;
    let false_positives = (0..probes)
        .filter(|&i| filter.contains(&key("out", i)))
        .count();
    false_positives as f64 / probes as f64
}

#[test]
fn the_false_positive_rate_is_what_was_asked_for() {
    for (items, rate) in [(100_000, 0.01), (100_000, 0.001), (20_000, 0.05)] {
        let measured = measured_rate(items, rate);
        println!("{items} items at {rate}: measured {measured:.5}");
        // 400k probes: the binomial noise is well under 10 % of the rate at 0.1 %.
        assert!(
            measured <= rate * 1.2 && measured >= rate * 0.5,
            "{items} items at {rate}: measured {measured}"
        );
    }
}

#[test]
fn the_size_follows_the_formula() {
    let filter = BloomFilter::new(1_000_000, 0.01).expect("valid");
    // -n ln p / ln² 2 = 9.59 bits per item; 7 probes.
    let bits_per_item = filter.num_bits() as f64 / 1e6;
    assert!((9.5..9.8).contains(&bits_per_item), "{bits_per_item}");
    assert_eq!(filter.num_hashes(), 7);
    assert_eq!(
        (filter.expected_items(), filter.false_positive_rate()),
        (1_000_000, 0.01)
    );
}

#[test]
fn threads_insert_concurrently_and_nothing_is_lost() {
    let filter = BloomFilter::new(80_000, 0.01).expect("valid");
    thread::scope(|scope| {
        for t in 0..4 {
            let filter = &filter;
            scope.spawn(move || {
                for i in 0..20_000 {
                    filter.insert(&key(&format!("t{t}"), i));
                }
            });
        }
    });
    for t in 0..4 {
        for i in 0..20_000 {
            assert!(filter.contains(&key(&format!("t{t}"), i)));
        }
    }
    // Distinct keys, counted when their bits were not all set yet: a few false positives
    // at insert time go uncounted.
    let len = filter.len();
    assert!((79_000..=80_000).contains(&len), "{len}");
    let estimate = filter.estimated_false_positive_rate();
    assert!((0.008..0.012).contains(&estimate), "{estimate}");
}

#[test]
fn insert_reports_keys_already_present_and_clear_forgets_them() {
    let filter = BloomFilter::new(100, 0.01).expect("valid");
    assert!(filter.is_empty());
    assert!(!filter.insert(b"a"));
    assert!(filter.insert(b"a"));
    assert_eq!(filter.len(), 1);
    filter.clear();
    assert!(!filter.contains(b"a"));
    assert!(filter.is_empty());
}

#[test]
fn bad_arguments_are_errors_with_codes() {
    for (items, rate, option) in [
        (0, 0.01, "expected_items"),
        (100, 0.0, "false_positive_rate"),
        (100, 1.0, "false_positive_rate"),
        (100, f64::NAN, "false_positive_rate"),
        (u64::MAX / 2, 1e-9, "expected_items"),
    ] {
        let err = BloomFilter::new(items, rate).expect_err(option);
        assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
        assert!(
            err.to_string().starts_with(&format!("invalid {option}")),
            "{err}"
        );
    }
}
