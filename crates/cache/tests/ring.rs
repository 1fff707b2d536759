//! The hash ring: minimal remapping when nodes come and go, balance, weights, order
//! independence, failover order, argument errors.

use optlayer_cache::HashRing;

const KEYS: u64 = 100_000;

fn keys() -> impl Iterator<Item = Vec<u8>> {
    (0..KEYS).map(|i| format!("key:{i}").into_bytes())
}

fn ring(nodes: usize) -> HashRing {
    let mut ring = HashRing::default();
    for n in 0..nodes {
        ring.add(&format!("redis-{n}:6379"), 1).expect("add");
    }
    ring
}

fn owners(ring: &HashRing) -> Vec<String> {
    keys()
        .map(|k| ring.node_for(&k).expect("a node").to_owned())
        .collect()
}

#[test]
fn adding_a_node_moves_about_one_in_n_plus_one_keys_all_to_it() {
    for n in [1, 2, 3, 4, 5, 8, 10, 16, 20, 32] {
        let mut ring = ring(n);
        let before = owners(&ring);
        let new_node = format!("redis-{n}:6379");
        ring.add(&new_node, 1).expect("add");
        let after = owners(&ring);
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        assert!(
            before
                .iter()
                .zip(&after)
                .all(|(b, a)| b == a || *a == new_node),
            "a key moved between old nodes"
        );
        let ideal = KEYS as f64 / (n + 1) as f64;
        let ratio = moved as f64 / ideal;
        assert!(
            (1.0 / 1.2..=1.2).contains(&ratio),
            "{n} → {}: moved {ratio:.3}× the ideal",
            n + 1
        );
    }
}

#[test]
fn removing_a_node_moves_only_its_keys() {
    let mut ring = ring(10);
    let before = owners(&ring);
    assert!(ring.remove("redis-3:6379"));
    assert!(!ring.remove("redis-3:6379"));
    let after = owners(&ring);
    for (b, a) in before.iter().zip(&after) {
        assert!(b == a || b == "redis-3:6379");
        assert_ne!(a, "redis-3:6379");
    }
}

#[test]
fn nodes_share_keys_evenly_and_by_weight() {
    let ring = ring(10);
    let owners = owners(&ring);
    for n in 0..10 {
        let share = owners
            .iter()
            .filter(|o| **o == format!("redis-{n}:6379"))
            .count();
        let ratio = share as f64 / (KEYS as f64 / 10.0);
        assert!(
            (0.75..1.25).contains(&ratio),
            "node {n}: {ratio:.3}× an even share"
        );
    }
    let mut weighted = HashRing::default();
    weighted.add("small", 1).expect("add");
    weighted.add("big", 3).expect("add");
    let big = keys()
        .filter(|k| weighted.node_for(k) == Some("big"))
        .count();
    let ratio = big as f64 / (KEYS as f64 * 0.75);
    assert!(
        (0.9..1.1).contains(&ratio),
        "weight 3 of 4: {ratio:.3}× its share"
    );
}

#[test]
fn placement_depends_on_the_nodes_not_on_the_order_they_were_added() {
    let forward = ring(8);
    let mut backward = HashRing::default();
    for n in (0..8).rev() {
        backward.add(&format!("redis-{n}:6379"), 1).expect("add");
    }
    assert_eq!(owners(&forward), owners(&backward));
    // Placement is a fixed function of ids and keys (XXH64), stable across processes.
    assert_eq!(forward.node_for(b"user:42"), Some("redis-6:6379"));
}

#[test]
fn nodes_for_lists_every_node_once_owner_first() {
    let ring = ring(5);
    for key in keys().take(100) {
        let order: Vec<&str> = ring.nodes_for(&key).collect();
        assert_eq!(order.len(), 5);
        assert_eq!(Some(order[0]), ring.node_for(&key));
        let mut unique = order.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 5);
    }
    assert_eq!(HashRing::default().node_for(b"k"), None);
    assert_eq!(HashRing::default().nodes_for(b"k").count(), 0);
}

#[test]
fn changing_a_weight_keeps_one_entry_per_node() {
    let mut ring = ring(2);
    ring.add("redis-0:6379", 5).expect("reweight");
    assert_eq!(ring.len(), 2);
    assert_eq!(
        ring.nodes().collect::<Vec<_>>(),
        [("redis-0:6379", 5), ("redis-1:6379", 1)]
    );
}

#[test]
fn bad_arguments_are_errors_with_codes() {
    for err in [
        HashRing::new(0).expect_err("vnodes"),
        HashRing::new(4097).expect_err("vnodes"),
        HashRing::default().add("", 1).expect_err("node"),
        HashRing::default().add("a", 0).expect_err("weight"),
        HashRing::default().add("a", 1001).expect_err("weight"),
    ] {
        assert_eq!(err.code(), "ERR_OPTLAYER_INVALID_ARGUMENT");
    }
    assert!(HashRing::new(1).expect("valid").is_empty());
}
