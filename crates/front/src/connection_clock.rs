//! A connection's two time limits, kept apart: how long a request head may take once it has
//! begun (slowloris), and how long a kept-alive connection may wait for its next request.
//!
//! Why not hyper's `header_read_timeout`: it runs from the end of one response to the end of
//! the next request head, so it is the idle limit too, and a short head limit (a few seconds
//! against slowloris) closed idle keep-alive connections just as clients reused them. Node
//! keeps the two apart (`headersTimeout`, `keepAliveTimeout`), and so does this clock: the
//! connection's reads start a head's time, its requests and their responses mark when it is
//! busy and when it goes idle, and a watchdog ends the connection at whichever limit passes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicU8};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::holding::Holding;

/// What a connection is doing.
const HEAD: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// The phase of one connection and since when it is in it; shared by its reads, its
/// requests' response bodies and its watchdog, all on the connection's task.
pub(crate) struct ConnectionClock {
    opened: Instant,
    phase: AtomicU8,
    /// Nanoseconds from `opened` to the phase's start.
    since: AtomicU64,
    /// Requests whose responses are not yet sent.
    open_requests: AtomicU64,
    head_timeout: Duration,
    idle_timeout: Duration,
}

impl ConnectionClock {
    /// A new connection waits for its first request head from now.
    pub(crate) fn new(head_timeout: Duration, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(ConnectionClock {
            opened: Instant::now(),
            phase: AtomicU8::new(HEAD),
            since: AtomicU64::new(0),
            open_requests: AtomicU64::new(0),
            head_timeout,
            idle_timeout,
        })
    }

    fn enter(&self, phase: u8) {
        let elapsed = u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.since.store(elapsed, Relaxed);
        self.phase.store(phase, Relaxed);
    }

    /// A request head arrived whole: the connection is busy until its response is sent.
    pub(crate) fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.open_requests.fetch_add(1, Relaxed);
        self.phase.store(BUSY, Relaxed);
        RequestGuard(Arc::clone(self))
    }

    /// Bytes arrived: on an idle connection, the next request head has begun.
    fn read_some(&self) {
        if self.phase.load(Relaxed) == IDLE {
            self.enter(HEAD);
        }
    }

    /// When the current limit passes; `None` while a request is being answered.
    fn deadline(&self) -> Option<Instant> {
        let limit = match self.phase.load(Relaxed) {
            HEAD => self.head_timeout,
            IDLE => self.idle_timeout,
            _ => return None,
        };
        Some(self.opened + Duration::from_nanos(self.since.load(Relaxed)) + limit)
    }

    /// Resolves once the connection has waited past its limit for a request head or for its
    /// next request; never while a request is being answered.
    pub(crate) async fn expired(&self) {
        loop {
            // A phase only moves its deadline later: sleep to the one seen, then look again.
            let wake = self
                .deadline()
                .unwrap_or_else(|| Instant::now() + self.head_timeout.min(self.idle_timeout));
            tokio::time::sleep_until(wake).await;
            if self.deadline().is_some_and(|d| d <= Instant::now()) {
                return;
            }
        }
    }
}

/// Held by a response body until it is sent (or dropped): the last one to go leaves the
/// connection idle.
pub(crate) struct RequestGuard(Arc<ConnectionClock>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if self.0.open_requests.fetch_sub(1, Relaxed) == 1 {
            self.0.enter(IDLE);
        }
    }
}

/// A connection's socket, telling its clock when bytes arrive.
pub(crate) struct Watched<S> {
    inner: S,
    clock: Arc<ConnectionClock>,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S, clock: Arc<ConnectionClock>) -> Self {
        Watched { inner, clock }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.clock.read_some();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A response body holding its request's [`RequestGuard`] until hyper has sent it.
pub(crate) type Guarded<B> = Holding<B, RequestGuard>;

/// Runs `connection` until it ends or `clock` says it waited too long.
pub(crate) async fn within_limits(connection: impl Future<Output = ()>, clock: &ConnectionClock) {
    tokio::select! {
        () = connection => {}
        () = clock.expired() => {}
    }
}
