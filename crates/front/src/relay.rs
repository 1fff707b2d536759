//! Requests the front does not answer go to the JavaScript gateway over a Unix socket, one
//! connection per client connection, bodies streamed both ways with hyper's back-pressure.
//!
//! Why a socket rather than calls into JavaScript: the gateway is a `node:http` listener,
//! and handing it a request as HTTP keeps every one of its behaviours (streaming, client
//! aborts, limits, shutdown) without a second implementation of Node's request objects.
//! One upstream connection per client connection keeps requests in order and makes a
//! client leaving visible to the gateway as its connection closing.

use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE, EXPECT, TRANSFER_ENCODING};
use http::{Request, Response, StatusCode, Version};
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use crate::admission::Relayed;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

/// The header that tells the gateway the client's address; the front always replaces it, so
/// a client cannot choose its own. The gateway believes it only on connections from a front.
pub const PEER_HEADER: HeaderName = HeaderName::from_static("x-optlayer-peer");
pub(crate) const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// What the front sends a client: a form's bytes or the gateway's streamed response.
pub(crate) type FrontBody = Either<Full<Bytes>, Relayed>;

/// A request body as relayed: what the front read of it first (to look for a published
/// answer), then the rest as the client sends it.
pub(crate) struct RelayBody {
    read: Option<Bytes>,
    rest: Incoming,
}

impl RelayBody {
    pub(crate) fn unread(body: Incoming) -> Self {
        RelayBody {
            read: None,
            rest: body,
        }
    }

    pub(crate) fn resumed(read: Bytes, rest: Incoming) -> Self {
        RelayBody {
            read: Some(read).filter(|bytes| !bytes.is_empty()),
            rest,
        }
    }
}

impl Body for RelayBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some(read) = this.read.take() {
            return Poll::Ready(Some(Ok(Frame::data(read))));
        }
        Pin::new(&mut this.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.read.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let read = self.read.as_ref().map_or(0, |bytes| bytes.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + read);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + read);
        }
        hint
    }
}

/// The gateway connection of one client connection, opened when first needed.
pub(crate) struct Upstream {
    path: Arc<Path>,
    connection: Option<Connection>,
}

struct Connection {
    sender: SendRequest<RelayBody>,
    /// The task driving the connection, aborted (closing the socket) when the client
    /// connection ends or leaves a request unfinished.
    driver: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Why a relay failed before the gateway answered.
pub(crate) enum RelayError {
    /// The gateway's socket could not be reached.
    Unreachable,
    /// The connection failed while the request was sent or its response awaited.
    Broken,
    /// The client's request body could not be read (malformed chunking, cut short): the
    /// client's fault, not the gateway's.
    BadRequestBody,
}

impl Upstream {
    pub(crate) fn new(path: Arc<Path>) -> Self {
        Upstream {
            path,
            connection: None,
        }
    }

    /// Sends `req` from `peer` to the gateway and returns its response, streaming.
    ///
    /// The connection is held by this call while the request is out: if the call is
    /// dropped unfinished (the client left), the connection closes with it, so the gateway
    /// sees the client go and cancels what it started for it.
    pub(crate) async fn send(
        &mut self,
        mut req: Request<RelayBody>,
        peer: IpAddr,
    ) -> Result<Response<Incoming>, RelayError> {
        prepare_request(&mut req, peer);
        // One retry, on a fresh connection, when the idle one had closed before the request
        // went out (the gateway's keep-alive timeout passed): hyper hands the request back.
        for _ in 0..2 {
            let mut connection = match self.connection.take() {
                Some(c) if !c.sender.is_closed() => c,
                _ => self.connect().await?,
            };
            if connection.sender.ready().await.is_err() {
                continue;
            }
            match connection.sender.try_send_request(req).await {
                Ok(response) => {
                    self.connection = Some(connection);
                    return Ok(prepare_response(response));
                }
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) => req = unsent,
                    // hyper reports the request body's own stream failing as a user error.
                    None if failed.error().is_user() => return Err(RelayError::BadRequestBody),
                    None => return Err(RelayError::Broken),
                },
            }
        }
        // The gateway closed a fresh connection too before the request went out.
        Err(RelayError::Unreachable)
    }

    async fn connect(&self) -> Result<Connection, RelayError> {
        let stream = UnixStream::connect(&*self.path)
            .await
            .map_err(|_| RelayError::Unreachable)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| RelayError::Broken)?;
        let driver = tokio::spawn(async move {
            // Its error is the request's: `send` reports it.
            let _ = connection.await;
        });
        Ok(Connection { sender, driver })
    }
}

/// The request as the gateway gets it: the client's address in [`PEER_HEADER`], HTTP/1.1
/// (the connection to the gateway is kept alive whatever the client speaks), and no
/// `Expect` (the front answered `100 Continue` itself when it began reading the body).
fn prepare_request(req: &mut Request<RelayBody>, peer: IpAddr) {
    *req.version_mut() = Version::HTTP_11;
    let headers = req.headers_mut();
    headers.remove(EXPECT);
    let address = HeaderValue::try_from(peer.to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
    headers.insert(PEER_HEADER, address);
}

/// The gateway's response as the client gets it: the front frames it for the client's
/// connection, so the gateway connection's own framing and keep-alive fields go, except a
/// `Connection: close`, which closes the client's connection too (the gateway is closing).
fn prepare_response(mut response: Response<Incoming>) -> Response<Incoming> {
    let headers = response.headers_mut();
    let close = headers.get_all(CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    });
    headers.remove(CONNECTION);
    headers.remove(KEEP_ALIVE);
    headers.remove(TRANSFER_ENCODING);
    if close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The front's own error answer, in the gateway's shape: `{ "error": { "code", "message" } }`.
pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response<FrontBody> {
    let body = format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#);
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
