use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of a front, readable while it runs.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connections: AtomicU64,
    pub open_connections: AtomicU64,
    pub hits: AtomicU64,
    pub limited: AtomicU64,
    pub process_hits: AtomicU64,
    pub process_limited: AtomicU64,
    pub shed: AtomicU64,
    pub relayed: AtomicU64,
    pub relay_failures: AtomicU64,
    pub panics: AtomicU64,
}

/// A snapshot of a front's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrontStats {
    /// Connections accepted.
    pub connections: u64,
    /// Connections open now.
    pub open_connections: u64,
    /// Requests answered by the front itself (fresh cache hits).
    pub hits: u64,
    /// Hits the rate limit refused (answered 429 by the front).
    pub limited: u64,
    /// Requests to the layer's path answered by the front itself (published results).
    pub process_hits: u64,
    /// Such requests the layer's rate limit refused (answered 429 by the front).
    pub process_limited: u64,
    /// Requests refused with 503 past the gateway's bound on requests in flight.
    pub shed: u64,
    /// Requests relayed to the gateway.
    pub relayed: u64,
    /// Relayed requests the gateway could not be reached for (answered 502).
    pub relay_failures: u64,
    /// Connection tasks that panicked (each closed its connection; the front went on).
    pub panics: u64,
    /// Published answers held (hits and the layer's results), and their bytes.
    pub forms: u64,
    pub form_bytes: u64,
    /// The bound on relayed requests in flight now (0: none): `max_in_flight`, or below it
    /// where the bound follows the gateway's latency.
    pub in_flight_limit: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self, forms: (usize, usize), in_flight_limit: usize) -> FrontStats {
        FrontStats {
            connections: self.connections.load(Relaxed),
            open_connections: self.open_connections.load(Relaxed),
            hits: self.hits.load(Relaxed),
            limited: self.limited.load(Relaxed),
            process_hits: self.process_hits.load(Relaxed),
            process_limited: self.process_limited.load(Relaxed),
            shed: self.shed.load(Relaxed),
            relayed: self.relayed.load(Relaxed),
            relay_failures: self.relay_failures.load(Relaxed),
            panics: self.panics.load(Relaxed),
            forms: forms.0 as u64,
            form_bytes: forms.1 as u64,
            in_flight_limit: in_flight_limit as u64,
        }
    }
}
