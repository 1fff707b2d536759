//! Latency histograms of `optlayer-stats`.
//!
//! JavaScript speaks milliseconds (`f64`); the histograms count nanoseconds, so a
//! sub-millisecond latency keeps its precision. Recording goes through a raw function
//! bound to the histogram (see `raw_call.rs`): one number in, nothing created, nothing
//! returned. Reads happen at scrape time and write every figure into a caller-owned
//! `Float64Array` in one call, because an object built natively costs ~900 ns here and a
//! Float64Array read from JavaScript ~1 ns an element.

use std::cell::RefCell;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use optlayer_stats::{named, HistogramConfig, LatencyHistogram, Snapshot};

use crate::errors::Failure;
use crate::handles::{self, Handle, HandleTable};
use crate::raw_call::{self, raw_fn};

/// Nanoseconds a millisecond: the histograms' unit over JavaScript's.
const NS_PER_MS: f64 = 1e6;

/// Figures [`NativeHistogram::read`] writes before the quantiles: count, sum, min, max,
/// mean, stddev (milliseconds but the counts), invalid, clamped.
#[napi]
pub const HISTOGRAM_STAT_FIELDS: u32 = 8;

/// Options of a [`NativeHistogram`], validated by the TypeScript layer and again here.
#[napi(object)]
pub struct HistogramOptions {
    /// Smallest latency told apart from 0, in ms (rounded to whole nanoseconds).
    pub lowest_ms: f64,
    /// Largest latency recorded as is, in ms; longer ones are clamped and counted.
    pub highest_ms: f64,
    /// Decimal digits kept for every value, 0 to 5.
    pub significant_figures: u32,
    /// Independently locked shards, 1 to 64.
    pub shards: u32,
    /// Threads of the process that open the same name share one histogram.
    pub name: Option<String>,
}

thread_local! {
    /// The histograms opened on this thread, addressed by the handle their raw record
    /// function is bound to (see `handles.rs` for why a table and not a pointer).
    static HISTOGRAMS: RefCell<HandleTable<Arc<LatencyHistogram>>> = RefCell::default();
}

/// An HDR latency histogram off the V8 heap, shared by the worker_threads that open the
/// same name. Values are recorded through [`NativeHistogram::recorders`]; the object owns
/// the histogram's lifetime.
#[napi]
pub struct NativeHistogram {
    handle: Handle,
}

#[napi]
impl NativeHistogram {
    /// Opens a histogram, or the one of `options.name` when a thread of this process has it
    /// open (with other options: `ERR_OPTLAYER_CONFIG_MISMATCH`).
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: HistogramOptions) -> Result<Self> {
        let config = HistogramConfig {
            // `as` saturates (NaN to 0), and validation rejects what is out of range.
            lowest_discernible: (options.lowest_ms * NS_PER_MS).round() as u64,
            highest_trackable: (options.highest_ms * NS_PER_MS).round() as u64,
            significant_figures: u8::try_from(options.significant_figures).unwrap_or(u8::MAX),
            shards: options.shards as usize,
        };
        let histogram = match options.name.as_deref() {
            Some(name) => named(name, config),
            None => LatencyHistogram::new(config).map(Arc::new),
        }
        .map_err(|e| Failure::from(e).into_napi(&env))?;
        let handle = HISTOGRAMS.with_borrow_mut(|table| table.insert(histogram));
        let handle = handle.ok_or_else(|| handles::too_many("histograms").into_napi(&env))?;
        Ok(NativeHistogram { handle })
    }

    /// The hot-path functions of this histogram: `record(valueMs)` records one latency in
    /// milliseconds. A non-number throws `ERR_OPTLAYER_INVALID_ARGUMENT`; NaN, negative
    /// and infinite values are counted as invalid, values above the range clamped and
    /// counted. Once the histogram is closed it throws `ERR_OPTLAYER_CLOSED`.
    #[napi(catch_unwind, ts_return_type = "{ record(valueMs: number): void }")]
    pub fn recorders(&self, env: Env) -> Result<Object<'static>> {
        raw_call::bound_functions(&env, self.handle, &[("record", raw_record)])
    }

    /// Records the first `count` latencies (milliseconds) of `valuesMs` in one call, each as
    /// `record` would: for callers that buffer their records, one native call per batch.
    #[napi(catch_unwind)]
    pub fn record_many(&self, env: Env, values_ms: Float64ArraySlice, count: u32) -> Result<()> {
        self.with(&env, |histogram| {
            let values = values_ms.as_ref();
            for &value_ms in &values[..(count as usize).min(values.len())] {
                histogram.record(value_ms * NS_PER_MS);
            }
            Ok(())
        })
    }

    /// Writes count, sum, min, max, mean, stddev, invalid, clamped (the `HISTOGRAM_STAT_FIELDS`
    /// figures, latencies in ms) and then the value at each of `quantiles` (each in [0, 1])
    /// into `out`, in one call. With `since` (a `toBuffer()` of this histogram taken
    /// earlier) the figures are those of the values recorded after it. Figures of no values
    /// are NaN.
    #[napi(catch_unwind)]
    pub fn read(
        &self,
        env: Env,
        mut out: Float64ArraySlice,
        quantiles: Float64ArraySlice,
        since: Option<BufferSlice>,
    ) -> Result<()> {
        // Copied, so that `out` and `quantiles` may be views of one buffer.
        let quantiles = quantiles.as_ref().to_vec();
        self.with(&env, |histogram| {
            let snapshot = window(histogram, since.as_ref().map(|s| s.as_ref()))?;
            // SAFETY: no JavaScript runs during this call, so nothing else touches the view.
            fill(&snapshot, &quantiles, unsafe { out.as_mut() })
        })
    }

    /// Writes into `out[i]` how many values were at most `boundsMs[i]`, within the
    /// histogram's precision: the cumulative buckets of a Prometheus histogram. `since` as
    /// in [`NativeHistogram::read`].
    #[napi(catch_unwind)]
    pub fn cumulative_counts(
        &self,
        env: Env,
        bounds_ms: Float64ArraySlice,
        mut out: Float64ArraySlice,
        since: Option<BufferSlice>,
    ) -> Result<()> {
        let bounds: Vec<u64> = bounds_ms
            .as_ref()
            .iter()
            // `as` saturates: +Infinity counts everything, NaN and negatives nothing.
            .map(|&ms| (ms * NS_PER_MS).floor() as u64)
            .collect();
        self.with(&env, |histogram| {
            // SAFETY: no JavaScript runs during this call, so nothing else touches the view.
            let out = unsafe { out.as_mut() };
            if out.len() < bounds.len() {
                return Err(Failure::invalid_argument(format_args!(
                    "invalid out: expected room for {} counts, got {}",
                    bounds.len(),
                    out.len()
                )));
            }
            let snapshot = window(histogram, since.as_ref().map(|s| s.as_ref()))?;
            let mut counts = vec![0; bounds.len()];
            snapshot.cumulative_counts(&bounds, &mut counts);
            for (slot, count) in out.iter_mut().zip(counts) {
                *slot = count as f64;
            }
            Ok(())
        })
    }

    /// Everything recorded so far, serialized (HdrHistogram V2 inside optlayer's envelope
    /// of exact totals), for `merge` elsewhere or as a window start for `read`.
    #[napi(catch_unwind)]
    pub fn to_buffer(&self, env: Env) -> Result<Buffer> {
        self.with(&env, |histogram| {
            Ok(Buffer::from(histogram.snapshot().serialize()))
        })
    }

    /// Adds a serialized histogram (`toBuffer()` output, or plain or compressed HdrHistogram
    /// V2 from another library) into this one. Corrupt input throws
    /// `ERR_OPTLAYER_CORRUPT_INPUT` and changes nothing.
    #[napi(catch_unwind)]
    pub fn merge(&self, env: Env, data: BufferSlice) -> Result<()> {
        self.with(&env, |histogram| Ok(histogram.merge_bytes(data.as_ref())?))
    }

    /// Forgets everything recorded (for every thread sharing the histogram).
    #[napi(catch_unwind)]
    pub fn reset(&self, env: Env) -> Result<()> {
        self.with(&env, |histogram| {
            histogram.reset();
            Ok(())
        })
    }

    /// Bytes of counters the histogram holds now (shards allocate on first use).
    #[napi(catch_unwind)]
    pub fn allocated_bytes(&self, env: Env) -> Result<f64> {
        self.with(&env, |histogram| Ok(histogram.allocated_bytes() as f64))
    }

    /// Lets go of the histogram (a named one lives on while other threads hold it); later
    /// calls throw `ERR_OPTLAYER_CLOSED`.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        close(self.handle);
    }
}

impl NativeHistogram {
    /// Runs `f` on the open histogram, or fails with `ERR_OPTLAYER_CLOSED`.
    fn with<T>(
        &self,
        env: &Env,
        f: impl FnOnce(&LatencyHistogram) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        // Cloned out of the table so that `f` may take long without holding its borrow.
        let histogram = HISTOGRAMS.with_borrow(|table| table.get(self.handle).cloned());
        histogram
            .ok_or_else(|| handles::closed("the histogram"))
            .and_then(|histogram| f(&histogram))
            .map_err(|failure| failure.into_napi(env))
    }
}

impl NativeHistogram {
    /// The histogram as the native HTTP front records its answers into it; none once closed.
    pub(crate) fn shared_sink(&self) -> Option<Arc<dyn optlayer_front::LatencySink>> {
        let histogram = HISTOGRAMS.with_borrow(|table| table.get(self.handle).cloned())?;
        Some(Arc::new(HistogramSink(histogram)))
    }
}

/// A histogram the front records milliseconds into, from its own threads (recording is
/// thread-safe: the histogram is sharded).
struct HistogramSink(Arc<LatencyHistogram>);

impl optlayer_front::LatencySink for HistogramSink {
    fn record(&self, elapsed: std::time::Duration) {
        // Beyond the histogram's range is counted there (clamped); nothing to report back.
        let _ = self.0.record(elapsed.as_nanos() as f64);
    }
}

impl Drop for NativeHistogram {
    fn drop(&mut self) {
        close(self.handle);
    }
}

fn close(handle: Handle) {
    // The table may already be gone while a worker thread shuts down.
    let _ = HISTOGRAMS.try_with(|table| table.borrow_mut().remove(handle));
}

/// Everything recorded, or only what came after the serialized snapshot `since`.
fn window(
    histogram: &LatencyHistogram,
    since: Option<&[u8]>,
) -> std::result::Result<Snapshot, Failure> {
    let now = histogram.snapshot();
    Ok(match since {
        Some(bytes) => now.delta_since(&Snapshot::deserialize(bytes)?),
        None => now,
    })
}

/// Writes the figures of `snapshot` into `out` as [`NativeHistogram::read`] documents.
fn fill(
    snapshot: &Snapshot,
    quantiles: &[f64],
    out: &mut [f64],
) -> std::result::Result<(), Failure> {
    let fields = HISTOGRAM_STAT_FIELDS as usize;
    if out.len() < fields + quantiles.len() {
        return Err(Failure::invalid_argument(format_args!(
            "invalid out: expected room for {} figures, got {}",
            fields + quantiles.len(),
            out.len()
        )));
    }
    if let Some(bad) = quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(Failure::invalid_argument(format_args!(
            "invalid quantile: expected a number from 0 to 1, got {bad}"
        )));
    }
    let ms = |ns: u64| ns as f64 / NS_PER_MS;
    out[..fields].copy_from_slice(&[
        snapshot.count() as f64,
        snapshot.sum() as f64 / NS_PER_MS,
        snapshot.min().map_or(f64::NAN, ms),
        snapshot.max().map_or(f64::NAN, ms),
        snapshot.mean().map_or(f64::NAN, |ns| ns / NS_PER_MS),
        snapshot.stdev().map_or(f64::NAN, |ns| ns / NS_PER_MS),
        snapshot.invalid() as f64,
        snapshot.clamped() as f64,
    ]);
    let mut values = vec![None; quantiles.len()];
    snapshot.values_at_quantiles(quantiles, &mut values);
    for (slot, value) in out[fields..].iter_mut().zip(values) {
        *slot = value.map_or(f64::NAN, ms);
    }
    Ok(())
}

raw_fn!(raw_record, 1, |env, [value], handle| {
    let value_ms = raw_call::number(env, value, "valueMs")?;
    HISTOGRAMS.with_borrow(|table| {
        let histogram = table
            .get(handle)
            .ok_or_else(|| handles::closed("the histogram"))?;
        histogram.record(value_ms * NS_PER_MS);
        Ok::<_, Failure>(())
    })?;
    raw_call::undefined()
});
