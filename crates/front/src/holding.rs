//! A response body that keeps something alive until hyper has sent it on or dropped it:
//! an admission permit, a connection's mark that a request is being answered.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// `body`, holding `held` until it is dropped.
pub(crate) struct Holding<B, T> {
    body: B,
    _held: T,
}

impl<B, T> Holding<B, T> {
    pub(crate) fn new(body: B, held: T) -> Self {
        Holding { body, _held: held }
    }
}

impl<B: Body<Data = Bytes> + Unpin, T: Unpin> Body for Holding<B, T> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
