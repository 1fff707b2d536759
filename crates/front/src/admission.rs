//! The gateway's bound on requests in flight, held by the front on the requests it relays.
//!
//! Why here as well as in the gateway: past its bound the gateway answers 503 at once, but
//! on its one event loop each refusal still costs a parse, a write and a turn of the loop,
//! and under a surge of twice what it can serve those refusals take the time the admitted
//! requests need (their p99 grew from 10 ms to over a second in the overload scenario of
//! `npm run chaos`). Refused here, an excess request never reaches the event loop.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HeaderValue, CACHE_CONTROL, RETRY_AFTER};
use http::{Response, StatusCode};
use hyper::body::Incoming;

use crate::fast_path::REQUEST_ID;
use crate::holding::Holding;
use crate::latency_limit::LatencyLimit;
use crate::relay::{error_response, FrontBody};

/// The bound the front holds on what it relays.
#[derive(Debug, Clone)]
pub struct Admission {
    /// Relayed requests in flight at once (from relay until the gateway's response has
    /// been sent on); past it the front answers 503 `overloaded`.
    pub max_in_flight: usize,
    /// The refusal's `Retry-After` (whole seconds, rounded up, at least 1).
    pub retry_after: Duration,
    /// Paths never refused (probes, metrics): they must answer however busy the gateway is.
    pub exempt_paths: Vec<String>,
    /// With a value, the bound follows the gateway's latency below `max_in_flight`, keeping
    /// the mean near this many times its unqueued latency (see [`LatencyLimit`]); without,
    /// the bound is `max_in_flight`.
    pub latency_tolerance: Option<f64>,
}

/// Whether a relay may start.
pub(crate) enum Entry {
    /// Within the bound: relay, holding the permit until the response is sent on.
    Admitted(Permit),
    /// An exempt path: relay without counting.
    Exempt,
    /// Over the bound: the answer is [`Gate::overloaded`].
    Refused,
}

/// An [`Admission`] and the count it bounds.
pub(crate) struct Gate {
    admission: Admission,
    in_flight: Arc<AtomicUsize>,
    adaptive: Option<Arc<LatencyLimit>>,
}

impl Gate {
    pub(crate) fn new(admission: Admission) -> Self {
        let adaptive = admission.latency_tolerance.map(|tolerance| {
            Arc::new(LatencyLimit::new(
                admission.max_in_flight,
                tolerance,
                Instant::now(),
            ))
        });
        Gate {
            admission,
            in_flight: Arc::new(AtomicUsize::new(0)),
            adaptive,
        }
    }

    /// The bound in force now.
    pub(crate) fn limit(&self) -> usize {
        self.adaptive
            .as_ref()
            .map_or(self.admission.max_in_flight, |a| a.limit())
    }

    pub(crate) fn enter(&self, path: &str) -> Entry {
        if self.admission.exempt_paths.iter().any(|p| p == path) {
            return Entry::Exempt;
        }
        let max = self.limit();
        let entered = self
            .in_flight
            .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1));
        match entered {
            Ok(_) => Entry::Admitted(Permit {
                in_flight: Arc::clone(&self.in_flight),
                adaptive: self.adaptive.as_ref().map(|a| Sample {
                    limit: Arc::clone(a),
                    generation: a.generation(),
                    entered: Instant::now(),
                }),
            }),
            Err(_) => {
                if let Some(adaptive) = &self.adaptive {
                    adaptive.refused();
                }
                Entry::Refused
            }
        }
    }

    /// The gateway's own 503 past its bound: the same code, message and fields.
    pub(crate) fn overloaded(&self, request_id: HeaderValue) -> Response<FrontBody> {
        let mut response = error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in flight; retry later",
        );
        let seconds = self.admission.retry_after.as_millis().div_ceil(1000).max(1);
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from(u64::try_from(seconds).unwrap_or(u64::MAX)),
        );
        headers.insert(REQUEST_ID, request_id);
        response
    }
}

/// One relayed request counted in flight until dropped.
pub(crate) struct Permit {
    in_flight: Arc<AtomicUsize>,
    /// Under an adaptive bound: what its latency sample needs.
    adaptive: Option<Sample>,
}

/// The adaptive bound a request was admitted under, in which generation, and when.
struct Sample {
    limit: Arc<LatencyLimit>,
    generation: u64,
    entered: Instant,
}

impl Permit {
    /// The gateway's response head has come: its latency moves an adaptive bound. (The body
    /// is not waited for: a long download is the client's pace, not the gateway's.)
    pub(crate) fn answered(&self) {
        if let Some(Sample {
            limit,
            generation,
            entered,
        }) = &self.adaptive
        {
            let now = Instant::now();
            limit.sample(now.duration_since(*entered), *generation, now);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Relaxed);
    }
}

/// The gateway's response body, holding the request's permit (if any) until hyper has sent
/// the body on or dropped it: the gateway counts a request in flight until then too.
pub(crate) type Relayed = Holding<Incoming, Option<Permit>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(max: usize) -> Gate {
        Gate::new(Admission {
            max_in_flight: max,
            retry_after: Duration::from_millis(1500),
            exempt_paths: vec!["/health".into()],
            latency_tolerance: None,
        })
    }

    #[test]
    fn admits_up_to_the_bound_and_again_once_a_permit_is_dropped() {
        let gate = gate(2);
        let Entry::Admitted(first) = gate.enter("/a") else {
            panic!("first admitted")
        };
        let Entry::Admitted(_second) = gate.enter("/a") else {
            panic!("second admitted")
        };
        assert!(matches!(gate.enter("/a"), Entry::Refused));
        let refusal = gate.overloaded(HeaderValue::from_static("id"));
        assert_eq!(refusal.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refusal.headers()[RETRY_AFTER], "2");
        assert_eq!(refusal.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(refusal.headers()[REQUEST_ID], "id");
        assert!(matches!(gate.enter("/health"), Entry::Exempt));
        drop(first);
        assert!(matches!(gate.enter("/a"), Entry::Admitted(_)));
    }
}
