//! Latency histograms for optlayer: pure Rust, no Node.js knowledge.
//!
//! [`LatencyHistogram`] records `f64` values (nanoseconds by default) from any number of
//! threads into HDR histogram counters (the `hdrhistogram` crate): every value is kept to a
//! fixed number of significant figures over a range fixed at construction
//! ([`HistogramConfig`]; 1 µs to 1 h at 3 figures by default), in constant memory and
//! constant time per value. Recording never fails: NaN, negative and infinite values are
//! counted as invalid, values above the range are clamped and counted ([`Recorded`]).
//!
//! Reads take a [`Snapshot`]: quantiles in one pass (any list of them), count, exact sum
//! and mean, extremes, standard deviation, and cumulative counts at bucket bounds for
//! Prometheus histograms. Snapshots serialize to the HdrHistogram V2 format (inside an
//! envelope carrying the exact totals) and merge exactly with snapshots of the same shape,
//! which is how a fleet of processes adds up its latencies; [`Snapshot::delta_since`] gives
//! sliding windows. [`named`] shares one histogram between all threads of a process that
//! open the same name.
//!
//! ```
//! use optlayer_stats::{HistogramConfig, LatencyHistogram, Snapshot};
//!
//! let here = LatencyHistogram::new(HistogramConfig::default())?;
//! let there = LatencyHistogram::new(HistogramConfig::default())?;
//! here.record(2_000_000.0); // 2 ms in nanoseconds
//! there.record(4_000_000.0);
//! here.merge(&Snapshot::deserialize(&there.snapshot().serialize())?);
//! let fleet = here.snapshot();
//! assert_eq!((fleet.count(), fleet.sum()), (2, 6_000_000));
//! assert_eq!(fleet.max(), Some(4_000_000));
//! # Ok::<(), optlayer_stats::StatsError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
mod config;
mod error;
mod histogram;
mod registry;
mod snapshot;

pub use config::{HistogramConfig, MAX_COUNTS, MAX_SHARDS, MAX_SIGNIFICANT_FIGURES};
pub use error::StatsError;
pub use histogram::{LatencyHistogram, Recorded};
pub use registry::named;
pub use snapshot::Snapshot;
