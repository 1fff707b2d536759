//! The listening socket, the connections and their shutdown.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HeaderValue, CONNECTION};
use http::{Request, Response, StatusCode};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use optlayer_cache::ByteCache;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::admission::{Entry, Gate, Relayed};
use crate::config::FrontConfig;
use crate::connection_clock::{within_limits, ConnectionClock, Guarded, Watched};
use crate::fast_path::{self, request_id, Answer};
use crate::forms::Forms;
use crate::limit::FrontLimit;
use crate::process_path::{self, ProcessBacking, ProcessForms, ReadBody};
use crate::relay::{error_response, FrontBody, RelayBody, RelayError, Upstream, KEEP_ALIVE};
use crate::stats::Counters;

/// Where the front records how long its own answers took.
pub trait LatencySink: Send + Sync {
    /// One answer, `elapsed` from the request's head read to the answer made.
    fn record(&self, elapsed: Duration);
}

/// What every connection of a front shares.
pub(crate) struct Shared {
    pub(crate) forms: Forms,
    pub(crate) store: Option<Arc<ByteCache>>,
    pub(crate) limit: Option<FrontLimit>,
    /// The layer's `/process`, answered from `process_forms` when it has published them.
    pub(crate) process: Option<ProcessBacking>,
    pub(crate) process_forms: ProcessForms,
    /// The gateway's bound on requests in flight, held on what the front relays.
    pub(crate) gate: Option<Gate>,
    pub(crate) latency: Option<Arc<dyn LatencySink>>,
    pub(crate) counters: Counters,
    /// Set once the front or the gateway is closing: every request goes to the gateway,
    /// which answers it as a closing gateway does.
    pub(crate) closing: AtomicBool,
    pub(crate) upstream: Arc<Path>,
    /// `timeout=<s>`: see [`advertise_idle_timeout`].
    pub(crate) keep_alive: HeaderValue,
    pub(crate) config: FrontConfig,
}

/// Pending connections the kernel keeps for the front beyond those it serves.
const BACKLOG: i32 = 1024;
/// Pause after a failed accept (out of descriptors, say) before the next one.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// The listening socket: `SO_REUSEADDR`, and `SO_REUSEPORT` when asked for.
pub(crate) fn bind(config: &FrontConfig) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(config.listen),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    if config.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&config.listen.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Accepts and serves connections until `stop` gives the grace period, then lets open
/// requests finish within it and cuts what remains.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<Duration>,
) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(shared.config.max_connections));
    let mut tasks = JoinSet::new();
    let grace = loop {
        tokio::select! {
            grace = &mut stop => break grace.unwrap_or(Duration::ZERO),
            accepted = accept(&listener, &permits) => {
                let Some((stream, peer, permit)) = accepted else { continue };
                let connection = connection(stream, peer, Arc::clone(&shared), &graceful);
                tasks.spawn(async move {
                    connection.await;
                    drop(permit);
                });
            }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => count_panic(&shared, done),
        }
    };
    drop(listener);
    shared.closing.store(true, Relaxed);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
    tasks.abort_all();
    while let Some(done) = tasks.join_next().await {
        count_panic(&shared, done);
    }
}

fn count_panic(shared: &Shared, done: Result<(), tokio::task::JoinError>) {
    if done.is_err_and(|e| e.is_panic()) {
        shared.counters.panics.fetch_add(1, Relaxed);
    }
}

/// The next connection once one is allowed (`max_connections`); `None` after a failed accept.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let permit = Arc::clone(permits).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, peer)) => Some((stream, peer, permit)),
        Err(_) => {
            tokio::time::sleep(ACCEPT_RETRY).await;
            None
        }
    }
}

/// Serves one client connection: HTTP/1.1 with keep-alive and pipelining (answered in
/// order), the head size and time limits, the graceful shutdown's signal.
fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    graceful: &GracefulShutdown,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let _ = stream.set_nodelay(true);
    shared.counters.connections.fetch_add(1, Relaxed);
    let open = OpenConnection::new(Arc::clone(&shared));
    let upstream = Arc::new(Mutex::new(Upstream::new(Arc::clone(&shared.upstream))));
    let clock = ConnectionClock::new(shared.config.headers_timeout, shared.config.idle_timeout);
    let mut builder = http1::Builder::new();
    // The head and idle limits are the clock's: hyper's own would be both at once.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(shared.config.max_header_bytes);
    let peer = peer.ip();
    let requests = Arc::clone(&clock);
    let service = service_fn(move |req| {
        let shared = Arc::clone(&shared);
        let upstream = Arc::clone(&upstream);
        let request = requests.request_started();
        async move {
            let mut response = handle(req, peer, &shared, &upstream).await;
            advertise_idle_timeout(&mut response, &shared);
            Ok::<_, Infallible>(response.map(|body| Guarded::new(body, request)))
        }
    });
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&clock)));
    let served = graceful.watch(builder.serve_connection(io, service));
    async move {
        // Its error (a client gone, a malformed request: hyper answered 400 or 431) ends
        // this connection only.
        let served = async {
            let _ = served.await;
        };
        within_limits(served, &clock).await;
        drop(open);
    }
}

/// The `Keep-Alive` value for an idle limit: whole seconds, at least 1.
pub(crate) fn keep_alive_value(idle_timeout: Duration) -> HeaderValue {
    let seconds = idle_timeout.as_secs().max(1);
    HeaderValue::try_from(format!("timeout={seconds}"))
        .unwrap_or_else(|_| HeaderValue::from_static("timeout=1"))
}

/// `Keep-Alive: timeout=<s>` on every response that keeps its connection open, `s` the
/// idle limit in whole seconds: told it, as `node:http` tells its own, clients close idle
/// connections before the front does rather than reuse one just as it closes.
fn advertise_idle_timeout(response: &mut Response<FrontBody>, shared: &Shared) {
    let headers = response.headers_mut();
    if !headers.contains_key(CONNECTION) {
        headers.insert(KEEP_ALIVE, shared.keep_alive.clone());
    }
}

/// Counts a connection as open until dropped: when it ends, and when its task is aborted
/// or panics too.
struct OpenConnection(Arc<Shared>);

impl OpenConnection {
    fn new(shared: Arc<Shared>) -> Self {
        shared.counters.open_connections.fetch_add(1, Relaxed);
        OpenConnection(shared)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.counters.open_connections.fetch_sub(1, Relaxed);
    }
}

async fn handle(
    req: Request<Incoming>,
    peer: IpAddr,
    shared: &Shared,
    upstream: &Mutex<Upstream>,
) -> Response<FrontBody> {
    let started = Instant::now();
    let closing = shared.closing.load(Relaxed);
    if let Some(store) = &shared.store {
        let limit = shared.limit.as_ref();
        if let Some(answer) = fast_path::answer(&req, peer, &shared.forms, store, limit, closing) {
            let counters = (&shared.counters.hits, &shared.counters.limited);
            return own_answer(shared, answer, counters, started);
        }
    }
    if let Some(process) = shared.process.as_ref().filter(|_| !closing) {
        if let Some(length) = process_path::body_to_read(&req, process, &shared.process_forms) {
            let (parts, mut body) = req.into_parts();
            let patience = shared.config.headers_timeout;
            let read = match process_path::read_body(&mut body, length, patience).await {
                ReadBody::Whole(read) => {
                    let forms = &shared.process_forms;
                    let found = process_path::answer(&parts.headers, &read, peer, process, forms);
                    if let Some(answer) = found {
                        let counters = (
                            &shared.counters.process_hits,
                            &shared.counters.process_limited,
                        );
                        return own_answer(shared, answer, counters, started);
                    }
                    read
                }
                ReadBody::Partial(read) => read,
                ReadBody::Failed => return bad_request_body(),
            };
            let req = Request::from_parts(parts, RelayBody::resumed(read, body));
            return relay(req, peer, shared, upstream).await;
        }
    }
    relay(req.map(RelayBody::unread), peer, shared, upstream).await
}

/// An answer the front made itself: counted as a hit or a refusal, its latency recorded.
fn own_answer(
    shared: &Shared,
    answer: Answer,
    (hits, limited): (&AtomicU64, &AtomicU64),
    started: Instant,
) -> Response<FrontBody> {
    let (response, counter) = match answer {
        Answer::Hit(hit) => (hit, hits),
        Answer::Limited(refusal) => (refusal, limited),
    };
    counter.fetch_add(1, Relaxed);
    if let Some(latency) = &shared.latency {
        latency.record(started.elapsed());
    }
    response.map(Either::Left)
}

fn bad_request_body() -> Response<FrontBody> {
    error_response(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "the request body could not be read",
    )
}

async fn relay(
    req: Request<RelayBody>,
    peer: IpAddr,
    shared: &Shared,
    upstream: &Mutex<Upstream>,
) -> Response<FrontBody> {
    let mut permit = None;
    // A closing gateway answers every request itself (503 with `Connection: close`).
    if let Some(gate) = shared
        .gate
        .as_ref()
        .filter(|_| !shared.closing.load(Relaxed))
    {
        match gate.enter(req.uri().path()) {
            Entry::Admitted(entered) => permit = Some(entered),
            Entry::Exempt => {}
            Entry::Refused => {
                shared.counters.shed.fetch_add(1, Relaxed);
                return gate.overloaded(request_id(req.headers()));
            }
        }
    }
    shared.counters.relayed.fetch_add(1, Relaxed);
    match upstream.lock().await.send(req, peer).await {
        Ok(response) => {
            if let Some(permit) = &permit {
                permit.answered();
            }
            response.map(|body| Either::Right(Relayed::new(body, permit)))
        }
        Err(RelayError::BadRequestBody) => bad_request_body(),
        Err(RelayError::Unreachable) => gateway_failed(shared, "the gateway could not be reached"),
        Err(RelayError::Broken) => gateway_failed(shared, "the gateway's connection failed"),
    }
}

/// A relay that failed on the gateway's side: counted, and answered 502.
fn gateway_failed(shared: &Shared, message: &str) -> Response<FrontBody> {
    shared.counters.relay_failures.fetch_add(1, Relaxed);
    error_response(StatusCode::BAD_GATEWAY, "bad_gateway", message)
}
