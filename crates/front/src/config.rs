use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::admission::Admission;
use crate::error::FrontError;
use crate::forms::FormLimits;

/// How a front listens, where it relays, and its limits.
#[derive(Debug, Clone)]
pub struct FrontConfig {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// `SO_REUSEPORT`, so that each worker process can run a front on one port.
    pub reuse_port: bool,
    /// The Unix socket the JavaScript gateway listens on for relayed requests.
    pub upstream: PathBuf,
    /// Runtime threads serving connections.
    pub threads: usize,
    /// Longest request head (request line and fields) in bytes: longer ones get 431.
    pub max_header_bytes: usize,
    /// Time a request head may take to arrive, from its first byte (from the opening, for a
    /// connection's first request): slowloris.
    pub headers_timeout: Duration,
    /// How long a kept-alive connection waits for its next request before it is closed.
    pub idle_timeout: Duration,
    /// Open client connections; more wait in the listen backlog.
    pub max_connections: usize,
    /// Budget of the published forms.
    pub forms: FormLimits,
    /// The gateway's bound on requests in flight, held on what the front relays; none: the
    /// gateway alone refuses.
    pub admission: Option<Admission>,
}

impl FrontConfig {
    /// A configuration with the defaults for everything but the addresses.
    pub fn new(listen: SocketAddr, upstream: PathBuf) -> Self {
        FrontConfig {
            listen,
            reuse_port: false,
            upstream,
            threads: 1,
            max_header_bytes: 16 * 1024,
            headers_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(5),
            max_connections: 10_000,
            forms: FormLimits {
                max_entries: 65_536,
                max_bytes: 64 << 20,
            },
            admission: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), FrontError> {
        let invalid = |what: &str| Err(FrontError::InvalidConfig(what.to_owned()));
        if !(1..=64).contains(&self.threads) {
            return invalid("threads: expected 1 to 64");
        }
        // hyper's read buffer cannot be smaller than 8 KiB.
        if !(8192..=1 << 20).contains(&self.max_header_bytes) {
            return invalid("maxHeaderBytes: expected 8192 to 1048576");
        }
        if self.headers_timeout.is_zero() {
            return invalid("headersTimeoutMs: expected more than 0");
        }
        if self.idle_timeout.is_zero() {
            return invalid("keepAliveTimeoutMs: expected more than 0");
        }
        if self.max_connections == 0 {
            return invalid("maxConnections: expected at least 1");
        }
        if self.forms.max_entries == 0 || self.forms.max_bytes == 0 {
            return invalid("forms: expected room for at least one entry and byte");
        }
        if self
            .admission
            .as_ref()
            .is_some_and(|a| a.max_in_flight == 0)
        {
            return invalid("maxInFlight: expected at least 1");
        }
        if self
            .admission
            .as_ref()
            .and_then(|a| a.latency_tolerance)
            .is_some_and(|t| !(t > 1.0 && t <= 100.0))
        {
            return invalid("latencyTolerance: expected more than 1, at most 100");
        }
        if self.upstream.as_os_str().is_empty() {
            return invalid("upstream: expected the path of a Unix socket");
        }
        Ok(())
    }
}
