//! Local rate limiters of `optlayer-ratelimit`, one class for every algorithm.
//!
//! A decision crosses back as a boolean, with the three numbers beside it written into a
//! `Float64Array` the limiter shares with JavaScript once, at construction: creating an
//! object natively costs ~900 ns here, against ~10 ns for JavaScript to build it from the
//! array. The key is copied into a stack buffer, not a `String`, to spare an allocation.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use optlayer_ratelimit::{
    named, Algorithm, CapPolicy, Decision, FixedWindow, Gcra, KeyedLimiter, LimitError, Quota,
    SlidingLog, SlidingWindow, StoreConfig, TokenBucket,
};

use crate::errors::Failure;
use crate::handles::{self, Handle, HandleTable};
use crate::keys;
use crate::raw_call::{self, raw_fn, RawResult};
use crate::shared_view::{JsView, SharedView};

/// The algorithms; the TypeScript layer maps `'token-bucket'` and the like to these.
#[napi]
pub enum LimiterAlgorithm {
    TokenBucket,
    Gcra,
    SlidingWindow,
    SlidingLog,
    FixedWindow,
}

/// What happens to a new key when the store holds `maxKeys` keys.
#[napi]
pub enum LimiterCapPolicy {
    RejectNew,
    EvictIdle,
    AllowUntracked,
}

/// Options of a [`NativeRateLimiter`], validated by the TypeScript layer and again here.
#[napi(object)]
pub struct LimiterOptions {
    pub algorithm: LimiterAlgorithm,
    pub limit: f64,
    pub window_ms: f64,
    pub burst: f64,
    pub max_keys: f64,
    pub at_cap: LimiterCapPolicy,
    pub shards: u32,
    pub max_key_length: u32,
    /// Threads of the process that open the same name share one store.
    pub name: Option<String>,
}

/// The counters of a store; read on scrapes, never on the hot path.
#[napi(object)]
pub struct LimiterStats {
    pub keys: f64,
    pub evictions: f64,
    pub rejected_at_cap: f64,
    pub allowed_untracked: f64,
    pub allowed: f64,
    pub denied: f64,
}

enum Store {
    TokenBucket(Arc<KeyedLimiter<TokenBucket>>),
    Gcra(Arc<KeyedLimiter<Gcra>>),
    SlidingWindow(Arc<KeyedLimiter<SlidingWindow>>),
    SlidingLog(Arc<KeyedLimiter<SlidingLog>>),
    FixedWindow(Arc<KeyedLimiter<FixedWindow>>),
}

macro_rules! each_store {
    ($store:expr, $limiter:ident => $body:expr) => {
        match $store {
            Store::TokenBucket($limiter) => $body,
            Store::Gcra($limiter) => $body,
            Store::SlidingWindow($limiter) => $body,
            Store::SlidingLog($limiter) => $body,
            Store::FixedWindow($limiter) => $body,
        }
    };
}

fn open<A: Algorithm + PartialEq>(
    name: Option<&str>,
    algorithm: A,
    config: StoreConfig,
) -> std::result::Result<Arc<KeyedLimiter<A>>, LimitError> {
    match name {
        Some(name) => named(name, algorithm, config),
        None => KeyedLimiter::new(algorithm, config).map(Arc::new),
    }
}

impl Store {
    fn new(options: &LimiterOptions, window: Duration) -> std::result::Result<Self, LimitError> {
        // `as` saturates (NaN to 0), and the crate rejects 0 and out-of-range values.
        let quota = Quota::new(options.limit as u64, window)?.with_burst(options.burst as u64)?;
        let config = StoreConfig {
            max_keys: options.max_keys as usize,
            at_cap: match options.at_cap {
                LimiterCapPolicy::RejectNew => CapPolicy::RejectNew,
                LimiterCapPolicy::EvictIdle => CapPolicy::EvictIdle,
                LimiterCapPolicy::AllowUntracked => CapPolicy::AllowUntracked,
            },
            shards: options.shards as usize,
            max_key_len: options.max_key_length as usize,
        };
        let name = options.name.as_deref();
        Ok(match options.algorithm {
            LimiterAlgorithm::TokenBucket => {
                Store::TokenBucket(open(name, TokenBucket::new(quota), config)?)
            }
            LimiterAlgorithm::Gcra => Store::Gcra(open(name, Gcra::new(quota), config)?),
            LimiterAlgorithm::SlidingWindow => {
                Store::SlidingWindow(open(name, SlidingWindow::new(quota)?, config)?)
            }
            LimiterAlgorithm::SlidingLog => {
                Store::SlidingLog(open(name, SlidingLog::new(quota)?, config)?)
            }
            LimiterAlgorithm::FixedWindow => {
                Store::FixedWindow(open(name, FixedWindow::new(quota)?, config)?)
            }
        })
    }

    fn decide(
        &self,
        key: &[u8],
        cost: u64,
        now_ns: Option<u64>,
    ) -> std::result::Result<Decision, LimitError> {
        each_store!(self, limiter => match now_ns {
            Some(now_ns) => limiter.allow_at(key, cost, now_ns),
            None => limiter.allow(key, cost),
        })
    }
}

/// The window of `window_ms` milliseconds. A window has no "unlimited" meaning, so one that
/// is not a `Duration` (negative, NaN, infinite, or beyond about 5.8 × 10^14 years) is
/// refused here rather than panicking; the crate bounds the rest.
fn window(window_ms: f64) -> std::result::Result<Duration, Failure> {
    Duration::try_from_secs_f64(window_ms / 1e3).map_err(|_| {
        Failure::invalid_argument(format_args!(
            "invalid windowMs: expected a positive number, got {window_ms}"
        ))
    })
}

/// Numbers beside each decision: `[remaining, retryAfterMs, resetMs]`.
const SCRATCH_LEN: usize = 3;

/// One open limiter of this thread.
struct Entry {
    store: Store,
    /// The numbers of the latest decision, shared with JavaScript.
    scratch: SharedView<f64>,
    max_key_len: usize,
}

thread_local! {
    /// The limiters opened on this thread, addressed by handle.
    ///
    /// Why a table and raw functions instead of methods on the class: napi-rs 3.16 wraps
    /// every `&self` method call in borrow tracking that takes a process-wide mutex and
    /// allocates, 530 ns per decision as measured here; the raw functions of
    /// [`NativeRateLimiter::decisions`] carry the handle as their bound data instead (see
    /// `raw_call.rs` and `handles.rs`).
    static LIMITERS: RefCell<HandleTable<Entry>> = RefCell::default();
}

/// A keyed local rate limiter: millions of keys off the V8 heap, shared by the
/// worker_threads that open the same name. Decisions go through the functions of
/// [`NativeRateLimiter::decisions`]; the object owns the limiter's lifetime.
#[napi]
pub struct NativeRateLimiter {
    handle: Handle,
    /// Lets `scratch()` hand out the view even after the limiter is closed.
    scratch: JsView<f64>,
}

#[napi]
impl NativeRateLimiter {
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: LimiterOptions) -> Result<Self> {
        let window = window(options.window_ms).map_err(|f| f.into_napi(&env))?;
        let store = Store::new(&options, window).map_err(|e| Failure::from(e).into_napi(&env))?;
        let scratch = SharedView::new(SCRATCH_LEN);
        let js_scratch = scratch.js();
        let entry = Entry {
            store,
            scratch,
            max_key_len: options.max_key_length as usize,
        };
        let handle = LIMITERS.with_borrow_mut(|table| table.insert(entry));
        let handle = handle.ok_or_else(|| handles::too_many("rate limiters").into_napi(&env))?;
        Ok(NativeRateLimiter {
            handle,
            scratch: js_scratch,
        })
    }

    /// The view JavaScript reads each decision's numbers from; call once.
    #[napi(catch_unwind)]
    pub fn scratch(&self) -> Float64Array {
        self.scratch.to_js()
    }

    /// The decision functions of this limiter: `allow(key, cost)` decides now,
    /// `allowAt(key, cost, nowMs)` on the caller's clock (tests, simulations). Each returns
    /// whether the request was admitted and writes `[remaining, retryAfterMs, resetMs]`
    /// into the scratch view. Once the limiter is closed they throw `ERR_OPTLAYER_CLOSED`.
    #[napi(
        catch_unwind,
        ts_return_type = "{ allow(key: string, cost: number): boolean; allowAt(key: string, cost: number, nowMs: number): boolean }"
    )]
    pub fn decisions(&self, env: Env) -> Result<Object<'static>> {
        raw_call::bound_functions(
            &env,
            self.handle,
            &[("allow", raw_allow), ("allowAt", raw_allow_at)],
        )
    }

    /// Forgets the idle keys of up to `shards` shards; returns how many keys went.
    #[napi(catch_unwind)]
    pub fn sweep(&self, shards: u32) -> f64 {
        self.with_store(0.0, |store| {
            each_store!(store, limiter => {
                let turns = (shards as usize).min(limiter.config().shards);
                (0..turns).map(|_| limiter.sweep()).sum::<usize>() as f64
            })
        })
    }

    /// Keys tracked now.
    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> f64 {
        self.with_store(
            0.0,
            |store| each_store!(store, limiter => limiter.len() as f64),
        )
    }

    /// The store's counters (zero once closed).
    #[napi(catch_unwind)]
    pub fn stats(&self) -> LimiterStats {
        let s = self.with_store(
            Default::default(),
            |store| each_store!(store, limiter => limiter.stats()),
        );
        LimiterStats {
            keys: s.keys as f64,
            evictions: s.evictions as f64,
            rejected_at_cap: s.rejected_at_cap as f64,
            allowed_untracked: s.allowed_untracked as f64,
            allowed: s.allowed as f64,
            denied: s.denied as f64,
        }
    }

    /// Lets go of the store (a named store lives on while other threads hold it); later
    /// decisions through the handle fail.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        close(self.handle);
    }
}

impl NativeRateLimiter {
    fn with_store<T>(&self, closed: T, f: impl FnOnce(&Store) -> T) -> T {
        LIMITERS
            .with_borrow(|table| table.get(self.handle).map(|e| f(&e.store)))
            .unwrap_or(closed)
    }
}

impl NativeRateLimiter {
    /// The store, for the native HTTP front deciding with it; none once closed.
    pub(crate) fn shared_limiter(&self) -> Option<Arc<dyn optlayer_front::Limiter>> {
        self.with_store(None, |store| {
            Some(Arc::new(store.clone()) as Arc<dyn optlayer_front::Limiter>)
        })
    }
}

impl Clone for Store {
    fn clone(&self) -> Self {
        match self {
            Store::TokenBucket(l) => Store::TokenBucket(Arc::clone(l)),
            Store::Gcra(l) => Store::Gcra(Arc::clone(l)),
            Store::SlidingWindow(l) => Store::SlidingWindow(Arc::clone(l)),
            Store::SlidingLog(l) => Store::SlidingLog(Arc::clone(l)),
            Store::FixedWindow(l) => Store::FixedWindow(Arc::clone(l)),
        }
    }
}

impl optlayer_front::Limiter for Store {
    fn decide(&self, key: &[u8]) -> std::result::Result<Decision, LimitError> {
        Store::decide(self, key, 1, None)
    }
}

impl Drop for NativeRateLimiter {
    fn drop(&mut self) {
        close(self.handle);
    }
}

fn close(handle: Handle) {
    // The table may already be gone while a worker thread shuts down.
    let _ = LIMITERS.try_with(|table| table.borrow_mut().remove(handle));
}

raw_fn!(raw_allow, 2, |env, [key, cost], handle| decide(
    env, handle, key, cost, None
));

raw_fn!(raw_allow_at, 3, |env, [key, cost, now_ms], handle| {
    let now_ms = raw_call::number(env, now_ms, "nowMs")?;
    decide(env, handle, key, cost, Some((now_ms.max(0.0) * 1e6) as u64))
});

/// # Safety
/// `env` and the values must belong to the running callback.
unsafe fn decide(
    env: sys::napi_env,
    handle: Handle,
    key: sys::napi_value,
    cost: sys::napi_value,
    now_ns: Option<u64>,
) -> RawResult {
    // SAFETY: forwarded from the caller.
    let cost = unsafe { raw_call::number(env, cost, "cost")? };
    if !(cost >= 0.0 && cost.fract() == 0.0 && cost <= 9_007_199_254_740_991.0) {
        return Err(Failure::invalid_argument(format_args!(
            "invalid cost: expected a whole number from 0, got {cost}"
        )));
    }
    let allowed = LIMITERS.with_borrow_mut(|table| {
        let entry = table
            .get_mut(handle)
            .ok_or_else(|| handles::closed("the rate limiter"))?;
        let too_long = |len, max| LimitError::InvalidKey { len, max }.into();
        // SAFETY: forwarded from the caller.
        let decision = unsafe {
            keys::with_key(env, key, entry.max_key_len, too_long, |key| {
                Ok(entry.store.decide(key, cost as u64, now_ns)?)
            })?
        };
        // SAFETY: the key was read; nothing below calls into JavaScript.
        unsafe { entry.scratch.as_mut_slice() }.copy_from_slice(&[
            decision.remaining as f64,
            decision.retry_after_ms as f64,
            decision.reset_ms as f64,
        ]);
        Ok::<_, Failure>(decision.allowed)
    })?;
    // SAFETY: forwarded from the caller.
    unsafe { raw_call::boolean(env, allowed) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_that_is_not_a_duration_is_an_invalid_argument_instead_of_a_panic() {
        for ms in [
            1e300,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
            -1.0,
            f64::NEG_INFINITY,
        ] {
            let failure = window(ms).expect_err("refused");
            assert_eq!(
                failure.code.as_str(),
                "ERR_OPTLAYER_INVALID_ARGUMENT",
                "{ms}"
            );
        }
        assert_eq!(
            window(1500.0).expect("accepted"),
            Duration::from_millis(1500)
        );
    }
}
