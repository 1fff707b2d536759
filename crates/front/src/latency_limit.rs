//! A bound on relayed requests in flight that follows the gateway's latency.
//!
//! Saturated, a relayed request waits behind the others in flight: latency is in flight ÷
//! throughput (Little's law). A fixed bound therefore sets the admitted latency by the host's
//! speed: twelve in flight kept the overload scenario's admitted p99 within 1.2-1.4x of its
//! half-load figure where the gateway served 7k req/s, and let it reach 2.5-3x where it served
//! 3k. This controller moves the bound so the mean latency of what the front relays stays near
//! `tolerance` times a baseline, as the gradient controllers of Envoy's adaptive concurrency
//! filter and Netflix's concurrency-limits do: each window,
//! `limit ← limit × clamp(tolerance × baseline ÷ mean, ½, 2) + 1`, within [`MIN_LIMIT`] and
//! the configured ceiling.
//!
//! The baseline is the least window mean seen while nothing was refused; while the gate
//! refuses (saturated, every window queued), it is measured with the bound pinned at
//! [`MIN_LIMIT`] over [`MEASURE_SAMPLES`] requests admitted under that bound (those still
//! queued from the bound before would measure the queue), again after [`REMEASURE`].
//!
//! What it cannot do: where latency comes from contention for the cores rather than from the
//! gateway's queue, a lower bound does not lower it. In the overload scenario, where the load
//! generator shares the machine's two cores, it kept the relayed mean near twice the unqueued
//! 0.4-0.8 ms with a bound between 6 and 30, while the probe's p99 still rose 2.5x.
//!
//! Written here rather than taken from a crate: those on offer wrap a tower `Service` or a
//! reqwest client, while the front decides entry before it relays and samples at the head of
//! the gateway's response.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The least bound it sets (the ceiling, if that is lower): enough to keep the gateway busy
/// while one response is written and the next request read.
const MIN_LIMIT: usize = 3;
/// How long a window gathers samples before the bound moves.
const WINDOW: Duration = Duration::from_millis(100);
/// Fewer samples than this and a window goes on gathering: one slow request must not halve
/// the bound.
const MIN_SAMPLES: u32 = 16;
/// Requests the baseline is measured over while the bound is pinned.
const MEASURE_SAMPLES: u32 = 32;
/// A baseline older than this is measured again (while saturated) or replaced by the next
/// window's mean (otherwise): the gateway's unqueued latency moves with its work.
const REMEASURE: Duration = Duration::from_secs(5);

/// The bound in force and what moves it.
#[derive(Debug)]
pub(crate) struct LatencyLimit {
    ceiling: usize,
    tolerance: f64,
    /// The bound [`crate::admission::Gate::enter`] reads.
    limit: AtomicUsize,
    /// Whether a request was refused since the last window closed.
    refused: AtomicBool,
    /// Counts the measurements begun: a measurement takes only requests admitted under it,
    /// not those still queued from the bound before.
    generation: AtomicU64,
    control: Mutex<Control>,
}

#[derive(Debug)]
struct Control {
    limit: f64,
    baseline: Option<Duration>,
    baseline_at: Instant,
    /// While the baseline is measured: the bound to return to.
    measuring: Option<f64>,
    window_start: Instant,
    sum: Duration,
    count: u32,
}

impl Control {
    fn restart_window(&mut self, now: Instant) {
        self.window_start = now;
        self.sum = Duration::ZERO;
        self.count = 0;
    }

    fn mean(&self) -> Duration {
        self.sum / self.count.max(1)
    }
}

impl LatencyLimit {
    /// Starts at `ceiling`: nothing is known of the gateway yet.
    pub(crate) fn new(ceiling: usize, tolerance: f64, now: Instant) -> Self {
        LatencyLimit {
            ceiling,
            tolerance,
            limit: AtomicUsize::new(ceiling),
            refused: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            control: Mutex::new(Control {
                limit: ceiling as f64,
                baseline: None,
                baseline_at: now,
                measuring: None,
                window_start: now,
                sum: Duration::ZERO,
                count: 0,
            }),
        }
    }

    /// The bound in force.
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Relaxed)
    }

    /// The generation a request admitted now belongs to, for [`LatencyLimit::sample`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// Notes that a request was refused: the gateway is saturated.
    pub(crate) fn refused(&self) {
        if !self.refused.load(Relaxed) {
            self.refused.store(true, Relaxed);
        }
    }

    /// Takes the latency of one relayed request (admission to the head of its response),
    /// admitted in `generation`.
    pub(crate) fn sample(&self, latency: Duration, generation: u64, now: Instant) {
        // A panic elsewhere cannot leave the control half-updated in a way that matters: it
        // holds figures only, so a poisoned lock is taken as it is.
        let mut c = self.control.lock().unwrap_or_else(|e| e.into_inner());
        if c.measuring.is_some() && generation != self.generation() {
            return;
        }
        c.sum += latency;
        c.count += 1;
        if let Some(resume) = c.measuring {
            if c.count >= MEASURE_SAMPLES {
                c.baseline = Some(c.mean());
                c.baseline_at = now;
                c.measuring = None;
                self.set(&mut c, resume);
                c.restart_window(now);
                self.refused.store(false, Relaxed);
            }
            return;
        }
        if now.duration_since(c.window_start) < WINDOW || c.count < MIN_SAMPLES {
            return;
        }
        let mean = c.mean();
        c.restart_window(now);
        let stale = now.duration_since(c.baseline_at) >= REMEASURE;
        let baseline = if self.refused.swap(false, Relaxed) {
            match c.baseline {
                Some(baseline) if !stale => baseline,
                _ => {
                    c.measuring = Some(c.limit);
                    self.generation.fetch_add(1, Relaxed);
                    self.set(&mut c, MIN_LIMIT as f64);
                    return;
                }
            }
        } else {
            let least = match c.baseline {
                Some(baseline) if !stale => baseline.min(mean),
                _ => {
                    c.baseline_at = now;
                    mean
                }
            };
            c.baseline = Some(least);
            least
        };
        let gradient = (self.tolerance * baseline.as_secs_f64() / mean.as_secs_f64().max(1e-9))
            .clamp(0.5, 2.0);
        let next = c.limit * gradient + 1.0;
        self.set(&mut c, next);
    }

    fn set(&self, c: &mut Control, limit: f64) {
        c.limit = limit.clamp(MIN_LIMIT.min(self.ceiling) as f64, self.ceiling as f64);
        self.limit.store(c.limit as usize, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feeds `windows` windows of `per_window` samples, each latency from `latency(limit)`,
    /// refusing in each when `saturated`.
    fn run(
        limit: &LatencyLimit,
        now: &mut Instant,
        windows: u32,
        saturated: bool,
        latency: impl Fn(usize) -> Duration,
    ) {
        for _ in 0..windows {
            if saturated {
                limit.refused();
            }
            for _ in 0..MEASURE_SAMPLES {
                *now += WINDOW / MEASURE_SAMPLES;
                limit.sample(latency(limit.limit()), limit.generation(), *now);
            }
        }
    }

    /// A gateway that serves one request at a time in `service`: saturated, latency grows
    /// with the bound.
    fn queued(service: Duration) -> impl Fn(usize) -> Duration {
        move |in_flight| service * in_flight as u32
    }

    #[test]
    fn a_saturated_gateway_gets_a_bound_near_its_tolerance_of_the_unqueued_latency() {
        let mut now = Instant::now();
        let limit = LatencyLimit::new(64, 2.0, now);
        run(&limit, &mut now, 100, true, queued(MS));
        // Measured at 3 in flight (3 ms), tolerated to 6 ms: 6 in flight and the +1 probe.
        assert!((5..=8).contains(&limit.limit()), "{}", limit.limit());
    }

    #[test]
    fn a_slower_gateway_gets_the_same_bound_not_a_longer_queue() {
        let mut now = Instant::now();
        let fast = LatencyLimit::new(64, 2.0, now);
        run(&fast, &mut now, 100, true, queued(MS / 4));
        let slow = LatencyLimit::new(64, 2.0, now);
        run(&slow, &mut now, 100, true, queued(MS));
        assert!(fast.limit().abs_diff(slow.limit()) <= 1);
    }

    #[test]
    fn latency_within_tolerance_keeps_the_ceiling() {
        let mut now = Instant::now();
        let limit = LatencyLimit::new(64, 2.0, now);
        run(&limit, &mut now, 50, false, |_| MS);
        run(&limit, &mut now, 50, true, |_| MS);
        assert_eq!(limit.limit(), 64);
    }

    #[test]
    fn a_backend_slow_whatever_the_load_raises_the_baseline_instead_of_starving() {
        let mut now = Instant::now();
        let limit = LatencyLimit::new(64, 2.0, now);
        run(&limit, &mut now, 20, false, |_| MS);
        // Every request now takes 20 ms, however few are in flight: after the next
        // measurement the bound climbs back.
        run(&limit, &mut now, 200, true, |_| 20 * MS);
        assert_eq!(limit.limit(), 64);
    }

    #[test]
    fn the_bound_returns_to_the_ceiling_once_the_queue_is_gone() {
        let mut now = Instant::now();
        let limit = LatencyLimit::new(64, 2.0, now);
        run(&limit, &mut now, 100, true, queued(MS));
        assert!(limit.limit() < 10);
        run(&limit, &mut now, 100, false, |_| MS);
        assert_eq!(limit.limit(), 64);
    }

    #[test]
    fn a_measurement_ignores_requests_admitted_under_the_bound_before_it() {
        let mut now = Instant::now();
        let limit = LatencyLimit::new(64, 2.0, now);
        limit.refused();
        let queued_before = limit.generation();
        for _ in 0..MEASURE_SAMPLES {
            now += WINDOW / MEASURE_SAMPLES;
            limit.sample(64 * MS, queued_before, now);
        }
        assert_eq!(limit.limit(), MIN_LIMIT, "measuring");
        // The 64 queued before the measurement answer now: not the unqueued latency.
        for _ in 0..64 {
            limit.sample(64 * MS, queued_before, now);
        }
        assert_eq!(limit.limit(), MIN_LIMIT, "still measuring");
        for _ in 0..MEASURE_SAMPLES {
            limit.sample(3 * MS, limit.generation(), now);
        }
        run(&limit, &mut now, 40, true, queued(MS));
        assert!((5..=8).contains(&limit.limit()), "{}", limit.limit());
    }

    #[test]
    fn never_above_a_ceiling_below_the_least_bound() {
        let mut now = Instant::now();
        let limit = LatencyLimit::new(2, 2.0, now);
        run(&limit, &mut now, 50, true, queued(MS));
        assert_eq!(limit.limit(), 2);
    }
}
