//! Deterministic request traces for hit-ratio tests and benches: a seeded Zipf generator,
//! Zipf with scans, a recency-biased trace, and Belady's optimal hit ratio as the ceiling.
//! Shared by `tests/hit_ratio.rs` and `benches/cache.rs`.

#![allow(dead_code)] // each includer uses a subset

use std::collections::{BTreeSet, HashMap};

/// SplitMix64: tiny, seeded, good enough to draw trace keys.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(s) over ranks 0..n (rank 0 the most popular), by inverting the CDF.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(s);
            cdf.push(total);
        }
        for p in &mut cdf {
            *p /= total;
        }
        Zipf { cdf }
    }

    pub fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.next_f64();
        self.cdf.partition_point(|&p| p < u).min(self.cdf.len() - 1) as u64
    }
}

/// `len` Zipf(s) requests over `n` keys.
pub fn zipf(n: usize, s: f64, len: usize, seed: u64) -> Vec<u64> {
    let zipf = Zipf::new(n, s);
    let mut rng = Rng::new(seed);
    (0..len).map(|_| zipf.sample(&mut rng)).collect()
}

/// Zipf(s) requests over `n` keys, interrupted every `every` requests by a scan of
/// `scan_len` keys never requested before (ids from `n` up): `len` requests in all.
pub fn zipf_with_scans(
    n: usize,
    s: f64,
    len: usize,
    every: usize,
    scan_len: usize,
    seed: u64,
) -> Vec<u64> {
    let zipf = Zipf::new(n, s);
    let mut rng = Rng::new(seed);
    let mut next_scan_key = n as u64;
    let mut trace = Vec::with_capacity(len);
    let mut since_scan = 0;
    while trace.len() < len {
        if since_scan == every {
            since_scan = 0;
            for _ in 0..scan_len.min(len - trace.len()) {
                trace.push(next_scan_key);
                next_scan_key += 1;
            }
            continue;
        }
        trace.push(zipf.sample(&mut rng));
        since_scan += 1;
    }
    trace
}

/// A recency-biased trace: requests fall uniformly in a window of `window` keys that
/// slides forward by one key every `step` requests, so recent keys are the likely ones
/// and frequency says little (LRU's best case).
pub fn sliding_window(window: u64, step: u64, len: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    (0..len as u64)
        .map(|i| i / step + rng.next_u64() % window)
        .collect()
}

/// Belady's optimal hit ratio for `trace` with room for `capacity` equal-sized entries
/// (evict the entry needed furthest in the future; admit every miss).
pub fn belady(trace: &[u64], capacity: usize) -> f64 {
    let mut next_use = vec![usize::MAX; trace.len()];
    let mut last: HashMap<u64, usize> = HashMap::new();
    for (i, key) in trace.iter().enumerate().rev() {
        if let Some(&j) = last.get(key) {
            next_use[i] = j;
        }
        last.insert(*key, i);
    }
    let mut cached: HashMap<u64, usize> = HashMap::new(); // key -> its next use
    let mut by_next: BTreeSet<(usize, u64)> = BTreeSet::new();
    let mut hits = 0usize;
    for (i, &key) in trace.iter().enumerate() {
        if let Some(next) = cached.get_mut(&key) {
            hits += 1;
            by_next.remove(&(*next, key));
            *next = next_use[i];
            by_next.insert((next_use[i], key));
            continue;
        }
        if next_use[i] == usize::MAX {
            continue; // never used again: caching it cannot help
        }
        if cached.len() == capacity {
            let Some(&(furthest, victim)) = by_next.iter().next_back() else {
                continue;
            };
            if furthest <= next_use[i] {
                continue; // every cached entry is needed sooner than this one
            }
            by_next.remove(&(furthest, victim));
            cached.remove(&victim);
        }
        cached.insert(key, next_use[i]);
        by_next.insert((next_use[i], key));
    }
    hits as f64 / trace.len() as f64
}

/// The key bytes of trace id `id`: 16 bytes.
pub fn key(id: u64) -> [u8; 16] {
    let mut key = *b"key:000000000000";
    let mut id = id;
    for digit in key[4..].iter_mut().rev() {
        *digit = b'0' + (id % 10) as u8;
        id /= 10;
    }
    key
}
