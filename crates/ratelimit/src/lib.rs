//! Local rate limiters for optlayer: pure Rust, no Node.js knowledge.
//!
//! # Algorithms
//!
//! Each decides a request of cost n (AllowN) and answers with a [`Decision`]
//! (`allowed`, `remaining`, `retry_after_ms`, `reset_ms`):
//!
//! | algorithm | state per key | admits |
//! |---|---|---|
//! | [`TokenBucket`] | 24 bytes | `burst` at once, refilled at `limit` per `window` |
//! | [`Gcra`] | 16 bytes | the same as the token bucket, stored as one timestamp |
//! | [`SlidingLog`] | up to `8 × limit` bytes | exactly `limit` in any window-long interval |
//! | [`SlidingWindow`] | 16 bytes | `limit` per window, weighted over two windows (bound in its docs) |
//! | [`FixedWindow`] | 16 bytes | `limit` per aligned window |
//!
//! A rate is a [`Quota`], validated when built; a cost above the capacity is an error
//! ([`LimitError::CostExceedsCapacity`]), never a silent denial. Every error has a stable
//! [`LimitError::code`].
//!
//! # Keys, time and sharing
//!
//! [`KeyedLimiter`] keeps one state per key in a sharded, bounded store with idle-key
//! eviction and a key cap ([`StoreConfig`], [`CapPolicy`], [`Stats`]). Time comes from a
//! [`Clock`]: [`MonotonicClock`] in production, [`FakeClock`] in tests, which never sleep.
//! [`named`] shares one store between all threads of a process that open the same name.
//!
//! ```
//! use std::time::Duration;
//! use optlayer_ratelimit::{FakeClock, KeyedLimiter, Quota, StoreConfig, TokenBucket};
//!
//! let quota = Quota::new(10, Duration::from_secs(1))?;
//! let clock = FakeClock::new(0);
//! let limiter = KeyedLimiter::with_clock(TokenBucket::new(quota), StoreConfig::default(), clock.clone())?;
//! assert!(limiter.allow("user-1", 10)?.allowed);
//! let denied = limiter.allow("user-1", 1)?;
//! assert_eq!((denied.allowed, denied.retry_after_ms), (false, 100));
//! clock.advance_ms(100);
//! assert!(limiter.allow("user-1", 1)?.allowed);
//! # Ok::<(), optlayer_ratelimit::LimitError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod algorithm;
mod config;
mod decision;
mod error;
mod fixed_window;
mod gcra;
mod keyed;
mod quota;
mod registry;
mod shard;
mod sliding_log;
mod sliding_window;
mod stats;
mod token_bucket;

pub use algorithm::Algorithm;
pub use config::{CapPolicy, StoreConfig};
pub use decision::Decision;
pub use error::LimitError;
pub use fixed_window::{FixedWindow, FixedWindowState};
pub use gcra::{Gcra, GcraState};
pub use keyed::KeyedLimiter;
pub use optlayer_clock::{Clock, FakeClock, MonotonicClock};
pub use quota::{Quota, LAST_INSTANT_NS, MAX_PERIOD_NS};
pub use registry::named;
pub use sliding_log::{SlidingLog, SlidingLogState};
pub use sliding_window::{SlidingWindow, SlidingWindowState};
pub use stats::Stats;
pub use token_bucket::{TokenBucket, TokenBucketState};
