//! Helpers shared by the algorithm tests.

use std::time::Duration;

use optlayer_ratelimit::{Algorithm, Decision, Quota};

/// Nanoseconds in `n` milliseconds.
pub const fn ms(n: u64) -> u64 {
    n * 1_000_000
}

/// `limit` per `window_ms`, burst = limit.
pub fn quota(limit: u64, window_ms: u64) -> Quota {
    Quota::new(limit, Duration::from_millis(window_ms)).expect("valid quota")
}

/// One key's state and the algorithm deciding it.
pub struct Key<A: Algorithm> {
    pub algorithm: A,
    pub state: A::State,
}

impl<A: Algorithm> Key<A> {
    pub fn new(algorithm: A) -> Self {
        let state = algorithm.new_state();
        Key { algorithm, state }
    }

    /// Decides `cost` at `at_ms` milliseconds.
    pub fn at(&mut self, at_ms: u64, cost: u64) -> Decision {
        self.at_ns(ms(at_ms), cost)
    }

    pub fn at_ns(&mut self, at_ns: u64, cost: u64) -> Decision {
        self.algorithm
            .decide(&mut self.state, at_ns, cost)
            .expect("cost within capacity")
    }

    /// Whether `cost` would be admitted at `at_ms`, without consuming.
    pub fn would_allow(&self, at_ms: u64, cost: u64) -> bool {
        let mut probe = self.state.clone();
        self.algorithm
            .decide(&mut probe, ms(at_ms), cost)
            .expect("cost within capacity")
            .allowed
    }

    /// Decisions of `count` requests of cost 1 at `at_ms`.
    pub fn burst(&mut self, at_ms: u64, count: usize) -> Vec<Decision> {
        (0..count).map(|_| self.at(at_ms, 1)).collect()
    }
}

pub fn allowed(remaining: u64, reset_ms: u64) -> Decision {
    Decision {
        allowed: true,
        remaining,
        retry_after_ms: 0,
        reset_ms,
    }
}

pub fn denied(remaining: u64, retry_after_ms: u64, reset_ms: u64) -> Decision {
    Decision {
        allowed: false,
        remaining,
        retry_after_ms,
        reset_ms,
    }
}

/// A small deterministic generator (SplitMix64), so failures replay.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}
