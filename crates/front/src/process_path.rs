//! `POST /process` answered by the front when the layer's handler answered the very same
//! request before and its result is still the one the layer's cache holds.
//!
//! The front cannot decode the body or work out the layer's cache key (the data's canonical
//! JSON, or a key function of the user's): the layer publishes, beside the answer it sent,
//! everything of the request it read — the user key, `Content-Type`, `Accept`,
//! `Accept-Encoding` and the body's bytes — and the L2 record the result came from. A later
//! request equal in all of these gets the same answer as long as L2 still holds that record,
//! byte for byte, and it is fresh: a new value, a refresh, an expiry or an invalidation
//! changes or removes the record, and the request goes to the layer again.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use optlayer_cache::ByteCache;

use crate::error::FrontError;
use crate::fast_path::{
    f64_at, now_ms, request_id, Answer, RECORD_FRESH_UNTIL, RECORD_NEGATIVE, REQUEST_ID,
};
use crate::forms::{parse_fields, push_part, single, FormLimits, FormTable, FORM_OVERHEAD};
use crate::limit::{store_key, Quota, Verdict};

/// What the front needs to answer the layer's path: where it is, how the layer names its
/// users, its cache's L2 store and its rate limit.
pub struct ProcessBacking {
    /// The path the layer's handler serves (`/process`); the query is not read.
    pub path: String,
    /// The request field naming the user; without it the user is the client address.
    pub user_header: HeaderName,
    /// The layer cache's L2 store, where its results' records are.
    pub store: Arc<ByteCache>,
    /// The layer's rate limit per user key, when it has one that decides in process.
    pub quota: Option<Quota>,
    /// Bodies longer than this are relayed unread.
    pub max_body_bytes: usize,
}

/// What the layer publishes: one answer of its handler, and the request it answered.
#[derive(Debug, Clone)]
pub struct ProcessFormInput {
    /// The user key the layer used (the field's value, or the client address as the relay
    /// gave it), one byte per Latin-1 character.
    pub user: Vec<u8>,
    pub content_type: Option<Vec<u8>>,
    pub accept: Option<Vec<u8>>,
    pub accept_encoding: Option<Vec<u8>>,
    /// The request body.
    pub body: Bytes,
    /// The key of the result in the layer cache's L2 store, as the store holds it.
    pub l2_key: Vec<u8>,
    /// The L2 record the result came from, as it was when the answer was sent.
    pub record: Vec<u8>,
    /// Every field of the answer but `X-Request-Id`, `Content-Length` included.
    pub fields: Vec<(String, String)>,
    pub response: Bytes,
}

/// A published answer, checked and ready to send.
#[derive(Debug)]
pub(crate) struct ProcessForm {
    l2_key: Box<[u8]>,
    record: Box<[u8]>,
    fields: Vec<(HeaderName, HeaderValue)>,
    response: Bytes,
    /// The user key as the limiter's store holds keys.
    limit_key: Box<[u8]>,
}

/// The published answers of the layer's path.
#[derive(Debug)]
pub struct ProcessForms {
    table: FormTable<ProcessForm>,
}

/// A record's flags byte and fresh-until time (see `fast_path.rs`).
const RECORD_MIN_LEN: usize = RECORD_FRESH_UNTIL + 8;

impl ProcessForms {
    pub fn new(limits: FormLimits) -> Self {
        ProcessForms {
            table: FormTable::new(limits),
        }
    }

    /// Adds or replaces the answer to the request `input` describes. Refuses a field that is
    /// not valid HTTP, a record that is not a value's, and an answer larger than the budget.
    pub fn publish(&self, input: ProcessFormInput) -> Result<(), FrontError> {
        if input.record.len() < RECORD_MIN_LEN || input.record[0] & RECORD_NEGATIVE != 0 {
            return Err(FrontError::InvalidForm(
                "the record is not a stored value".into(),
            ));
        }
        let (fields, fields_cost) = parse_fields(&input.fields)?;
        let key = request_key(
            &input.user,
            input.content_type.as_deref(),
            input.accept.as_deref(),
            input.accept_encoding.as_deref(),
            &input.body,
        );
        let limit_key = store_key(&input.user).into_boxed_slice();
        let cost = FORM_OVERHEAD
            + key.len()
            + input.l2_key.len()
            + input.record.len()
            + fields_cost
            + input.response.len()
            + limit_key.len();
        let form = ProcessForm {
            l2_key: input.l2_key.into_boxed_slice(),
            record: input.record.into_boxed_slice(),
            fields,
            response: input.response,
            limit_key,
        };
        self.table.insert(key, form, cost)
    }

    pub fn clear(&self) {
        self.table.clear();
    }

    pub fn usage(&self) -> (usize, usize) {
        self.table.usage()
    }

    fn is_empty(&self) -> bool {
        self.table.usage().0 == 0
    }
}

/// The body's length when the front should read it before deciding: a POST to the layer's
/// path with a `Content-Length` within the bound, while answers are published. A chunked
/// body, or fields the key could not tell apart (repeated), go to the gateway unread.
pub(crate) fn body_to_read<B>(
    req: &Request<B>,
    backing: &ProcessBacking,
    forms: &ProcessForms,
) -> Option<usize> {
    if req.method() != Method::POST || req.uri().path() != backing.path || forms.is_empty() {
        return None;
    }
    let headers = req.headers();
    let length: usize = single(headers, &http::header::CONTENT_LENGTH)??
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    let repeated = |name: &HeaderName| single(headers, name).is_none();
    if length > backing.max_body_bytes
        || headers.contains_key(http::header::TRANSFER_ENCODING)
        || [
            &CONTENT_TYPE,
            &ACCEPT,
            &ACCEPT_ENCODING,
            &backing.user_header,
        ]
        .into_iter()
        .any(repeated)
    {
        return None;
    }
    Some(length)
}

/// The body, when it arrives whole within `patience`; otherwise what was read of it, to be
/// relayed ahead of the rest.
pub(crate) enum ReadBody {
    Whole(Bytes),
    Partial(Bytes),
    /// The client's body failed (cut short).
    Failed,
}

pub(crate) async fn read_body(body: &mut Incoming, length: usize, patience: Duration) -> ReadBody {
    let deadline = tokio::time::Instant::now() + patience;
    let mut read = BytesMut::with_capacity(length);
    loop {
        // `frame()` takes nothing until it is ready: dropping it at the deadline loses no data.
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return ReadBody::Partial(read.freeze()),
            Ok(None) => return ReadBody::Whole(read.freeze()),
            Ok(Some(Err(_))) => return ReadBody::Failed,
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    read.extend_from_slice(&data);
                }
            }
        }
    }
}

/// The published answer to this request, after the layer's rate limit when there is one;
/// `None` when the layer must answer.
pub(crate) fn answer(
    headers: &HeaderMap,
    body: &[u8],
    peer: IpAddr,
    backing: &ProcessBacking,
    forms: &ProcessForms,
) -> Option<Answer> {
    let peer_text;
    let user = match single(headers, &backing.user_header)? {
        Some(given) if !given.is_empty() => given.as_bytes(),
        _ => {
            // As the relay tells the layer the client's address.
            peer_text = peer.to_string();
            peer_text.as_bytes()
        }
    };
    let value = |name: &HeaderName| single(headers, name).flatten().map(HeaderValue::as_bytes);
    let key = request_key(
        user,
        value(&CONTENT_TYPE),
        value(&ACCEPT),
        value(&ACCEPT_ENCODING),
        body,
    );
    let form = forms.table.get(&key)?;
    if !still_stored(&backing.store, &form) {
        return None;
    }
    let request_id = request_id(headers);
    if let Some(quota) = &backing.quota {
        match quota.verdict(&form.limit_key) {
            // The layer's answers carry no limit fields when they admit.
            Verdict::Allowed(_) => {}
            Verdict::Relay => return None,
            Verdict::Denied(mut refusal) => {
                refusal.headers_mut().insert(REQUEST_ID, request_id);
                return Some(Answer::Limited(refusal));
            }
        }
    }
    let mut response = Response::new(Full::new(form.response.clone()));
    *response.status_mut() = StatusCode::OK;
    let fields = response.headers_mut();
    fields.reserve(form.fields.len() + 1);
    fields.insert(REQUEST_ID, request_id);
    for (name, value) in &form.fields {
        fields.append(name.clone(), value.clone());
    }
    Some(Answer::Hit(response))
}

/// Whether L2 still holds the record the answer was made from, and it is fresh.
fn still_stored(store: &ByteCache, form: &ProcessForm) -> bool {
    let now = now_ms();
    store
        .get_with(&form.l2_key, |record| {
            *record == *form.record && f64_at(record, RECORD_FRESH_UNTIL) > now
        })
        .unwrap_or(false)
}

/// Each part length-prefixed, absent apart from empty (see [`push_part`]): no two requests
/// share a key.
fn request_key(
    user: &[u8],
    content_type: Option<&[u8]>,
    accept: Option<&[u8]>,
    accept_encoding: Option<&[u8]>,
    body: &[u8],
) -> Box<[u8]> {
    let parts = [
        Some(user),
        content_type,
        accept,
        accept_encoding,
        Some(body),
    ];
    let mut key = Vec::with_capacity(parts.iter().flatten().map(|p| p.len() + 5).sum());
    for part in parts {
        push_part(&mut key, part);
    }
    key.into_boxed_slice()
}
