//! optlayer's native HTTP/1.1 front.
//!
//! It owns the listening socket and the client connections (hyper on a small tokio
//! runtime). A plain GET or HEAD whose response the JavaScript gateway has published as a
//! fresh hit, and which the shared L2 store still holds, is answered here without entering
//! JavaScript; every other request is relayed to the gateway over a Unix socket and its
//! response streamed back. The gateway keeps every caching rule: it decides what a hit
//! looks like, and the front sends exactly that (see `forms.rs`).
//!
//! Why hyper: profiled under the load test's cached case (81k requests/s, `perf` on the
//! front's thread), 74% of the thread's time is the kernel's socket work (one read and one
//! `writev` per request, epoll), 20% is this crate and hyper together, 5% libc. A leaner
//! parser could win back part of that fifth at most; hyper brings keep-alive, pipelining,
//! `Expect: 100-continue`, chunked bodies, head limits and timeouts, and graceful shutdown,
//! each tested upstream.

mod admission;
mod config;
mod connection_clock;
mod error;
mod fast_path;
mod forms;
mod holding;
mod latency_limit;
mod limit;
mod process_path;
mod relay;
mod server;
mod stats;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use optlayer_cache::ByteCache;
use tokio::sync::oneshot;

pub use admission::Admission;
pub use config::FrontConfig;
pub use error::FrontError;
pub use forms::{FormInput, FormLimits};
pub use limit::{FrontLimit, Limiter, Network, Quota};
pub use process_path::{ProcessBacking, ProcessFormInput};
pub use relay::PEER_HEADER;
pub use server::LatencySink;
pub use stats::FrontStats;

use forms::Forms;
use process_path::ProcessForms;
use server::Shared;
use stats::Counters;

/// What a front answers from.
#[derive(Default)]
pub struct Backing {
    /// The gateway cache's L2 store, read for published hits; without one, every request is
    /// relayed.
    pub store: Option<Arc<ByteCache>>,
    /// The gateway's rate limit, applied to the hits the front answers.
    pub limit: Option<FrontLimit>,
    /// Where the latency of each request the front answers itself is recorded (the gateway
    /// records the ones it answers).
    pub latency: Option<Arc<dyn LatencySink>>,
    /// The layer's `/process`, answered from the results it publishes; without it, relayed.
    pub process: Option<ProcessBacking>,
}

/// A running front. Dropping it closes it at once (no grace period); [`Front::close`] lets
/// open requests finish first.
pub struct Front {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<Duration>>,
    thread: Option<JoinHandle<()>>,
}

impl Front {
    /// Binds `config.listen` and starts serving on a thread of its own, with what it
    /// answers from (see [`Backing`]).
    pub fn start(config: FrontConfig, backing: Backing) -> Result<Front, FrontError> {
        let Backing {
            store,
            limit,
            latency,
            process,
        } = backing;
        config.validate()?;
        let listener =
            server::bind(&config).map_err(|err| FrontError::Listen(config.listen, err))?;
        let local_addr = listener.local_addr()?;
        let runtime = if config.threads == 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(config.threads)
                .thread_name("optlayer-front")
                .enable_all()
                .build()?
        };
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared {
            forms: Forms::new(config.forms),
            store,
            limit,
            process,
            process_forms: ProcessForms::new(config.forms),
            gate: config.admission.clone().map(admission::Gate::new),
            latency,
            counters: Counters::default(),
            closing: AtomicBool::new(false),
            upstream: Arc::from(config.upstream.as_path()),
            keep_alive: server::keep_alive_value(config.idle_timeout),
            config,
        });
        let (stop, stopped) = oneshot::channel();
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("optlayer-front".into())
            .spawn(move || runtime.block_on(server::serve(listener, serving, stopped)))?;
        Ok(Front {
            shared,
            local_addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on (the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The gateway's Unix socket it relays to.
    pub fn upstream(&self) -> &Path {
        &self.shared.upstream
    }

    /// Adds or replaces a published hit (see [`FormInput`]).
    pub fn publish(&self, input: FormInput) -> Result<(), FrontError> {
        self.shared.forms.publish(input)
    }

    /// Adds or replaces a published answer of the layer's path (see [`ProcessFormInput`]);
    /// refused without a [`ProcessBacking`].
    pub fn publish_process(&self, input: ProcessFormInput) -> Result<(), FrontError> {
        if self.shared.process.is_none() {
            return Err(FrontError::InvalidForm(
                "this front answers no process path".into(),
            ));
        }
        self.shared.process_forms.publish(input)
    }

    /// The record under `l2_key` in the gateway cache's L2 store, as it holds it now.
    pub fn stored_record(&self, l2_key: &[u8]) -> Option<Vec<u8>> {
        self.shared.store.as_ref()?.get_with(l2_key, <[u8]>::to_vec)
    }

    /// The layer's result record under `l2_key`, as its L2 store holds it now: what a
    /// published answer is checked against.
    pub fn process_record(&self, l2_key: &[u8]) -> Option<Vec<u8>> {
        let process = self.shared.process.as_ref()?;
        process.store.get_with(l2_key, <[u8]>::to_vec)
    }

    /// Drops every published answer: the next requests go to the gateway, which publishes again.
    pub fn clear(&self) {
        self.shared.forms.clear();
        self.shared.process_forms.clear();
    }

    /// From now on every request goes to the gateway (which answers as a closing gateway).
    pub fn set_closing(&self) {
        self.shared.closing.store(true, Relaxed);
    }

    pub fn stats(&self) -> FrontStats {
        let (forms, bytes) = self.shared.forms.usage();
        let (process_forms, process_bytes) = self.shared.process_forms.usage();
        let in_flight_limit = self.shared.gate.as_ref().map_or(0, |gate| gate.limit());
        self.shared.counters.snapshot(
            (forms + process_forms, bytes + process_bytes),
            in_flight_limit,
        )
    }

    /// Stops accepting, lets open requests finish within `grace`, cuts the rest and waits
    /// for the front's thread to end. Later calls do nothing.
    pub fn close(&mut self, grace: Duration) {
        self.set_closing();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(grace);
        }
        if let Some(thread) = self.thread.take() {
            // A panic of the serving loop itself has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.close(Duration::ZERO);
    }
}
