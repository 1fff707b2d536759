//! The bloom filter of `optlayer-cache`.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use optlayer_cache::BloomFilter;

use crate::errors::Failure;

/// A bloom filter over string keys: "certainly absent" or "probably present", at a false
/// positive rate chosen up front, lock-free and off the V8 heap.
#[napi]
pub struct NativeBloomFilter {
    filter: BloomFilter,
}

#[napi]
impl NativeBloomFilter {
    /// A filter sized for `expectedItems` keys at `falsePositiveRate` (0 < rate < 1).
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, expected_items: f64, false_positive_rate: f64) -> Result<Self> {
        let filter = BloomFilter::new(expected_items as u64, false_positive_rate)
            .map_err(|e| Failure::from(e).into_napi(&env))?;
        Ok(NativeBloomFilter { filter })
    }

    /// Adds `key`; returns whether it was (probably) there already.
    #[napi(catch_unwind)]
    pub fn add(&self, key: String) -> bool {
        self.filter.insert(key.as_bytes())
    }

    /// False when `key` was certainly never added.
    #[napi(catch_unwind)]
    pub fn has(&self, key: String) -> bool {
        self.filter.contains(key.as_bytes())
    }

    /// Forgets every key.
    #[napi(catch_unwind)]
    pub fn clear(&self) {
        self.filter.clear();
    }

    /// Keys added (an estimate once duplicates were added).
    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> f64 {
        self.filter.len() as f64
    }

    /// The false positive rate expected at the current fill.
    #[napi(catch_unwind)]
    pub fn estimated_false_positive_rate(&self) -> f64 {
        self.filter.estimated_false_positive_rate()
    }
}
