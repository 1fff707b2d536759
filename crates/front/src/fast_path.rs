//! The requests the front answers itself: a plain GET or HEAD whose published form is
//! fresh and whose stored response the L2 store still holds.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT_ENCODING, AGE, IF_MODIFIED_SINCE, IF_NONE_MATCH,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use optlayer_cache::ByteCache;

use crate::forms::{Form, Forms, Published};
use crate::limit::{FrontLimit, Verdict};

/// How the front answered a request itself.
pub(crate) enum Answer {
    /// A published hit.
    Hit(Response<Full<Bytes>>),
    /// A hit the rate limit refused: 429.
    Limited(Response<Full<Bytes>>),
}

/// Request fields that ask for more than a plain hit (ranges, the client's own cache
/// directives): the gateway's full cached path answers those. Conditions are answered here.
const NOT_PLAIN: [&str; 3] = ["range", "cache-control", "pragma"];

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The L2 record around a stored response: a flags byte and the entry's fresh-until time
/// (f64, epoch ms), then the stored response, which starts with its magic, version, flags
/// and status, then its request and response times. The layout is the cache's and the
/// gateway's stored format (`src/cache/record.ts`, `src/gateway/http-cache/stored-response.ts`).
pub(crate) const RECORD_NEGATIVE: u8 = 1;
pub(crate) const RECORD_FRESH_UNTIL: usize = 1;
const RESPONSE_MAGIC: (usize, [u8; 4]) = (9, *b"OLHR");
const RESPONSE_REQUEST_TIME: usize = 17;
const RESPONSE_RESPONSE_TIME: usize = 25;
const RECORD_MIN_LEN: usize = 33;

/// The response for `req` from a published form, after the rate limit when there is one;
/// `None` when the gateway must answer.
pub(crate) fn answer<B>(
    req: &Request<B>,
    peer: IpAddr,
    forms: &Forms,
    store: &ByteCache,
    limit: Option<&FrontLimit>,
    closing: bool,
) -> Option<Answer> {
    if closing {
        return None;
    }
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return None,
    };
    let uri = req.uri();
    if uri.scheme().is_some() {
        return None;
    }
    let target = uri.path_and_query()?.as_str();
    if !target.starts_with('/') {
        return None;
    }
    let headers = req.headers();
    if NOT_PLAIN.iter().any(|name| headers.contains_key(*name)) {
        return None;
    }
    let condition = Condition::of(headers)?;
    let published = with_joined_lines(headers, &ACCEPT_ENCODING, |accept| {
        forms.get(target.as_bytes(), accept, headers)
    })?;
    let Published::Form(form) = &*published else {
        return None;
    };
    if form.head_only && !head {
        return None;
    }
    let now = now_ms();
    if now >= form.fresh_until || !still_stored(store, form, now) {
        return None;
    }
    let request_id = request_id(headers);
    let limited = match limit.map(|limit| limit.check(headers, peer)) {
        None => None,
        Some(Verdict::Allowed(fields)) => Some(fields),
        Some(Verdict::Relay) => return None,
        Some(Verdict::Denied(mut refusal)) => {
            refusal.headers_mut().insert(REQUEST_ID, request_id);
            return Some(Answer::Limited(refusal));
        }
    };
    let not_modified = form.status.is_success()
        && match condition {
            Condition::None => false,
            Condition::NoneMatch => none_match(headers, form),
            Condition::ModifiedSince(since) => form.last_modified_ms <= since,
        };
    let mut response = respond(form, head, not_modified, now, request_id);
    if let Some(fields) = limited {
        response
            .headers_mut()
            .extend(fields.map(|(name, value)| (Some(name), value)));
    }
    Some(Answer::Hit(response))
}

/// Runs `read` on the request's field `name` as the gateway saw it: absent, the one line, or
/// its lines joined with `", "` (as Node joins them).
fn with_joined_lines<R>(
    headers: &HeaderMap,
    name: &HeaderName,
    read: impl FnOnce(Option<&[u8]>) -> R,
) -> R {
    let mut lines = headers.get_all(name).iter();
    let Some(first) = lines.next() else {
        return read(None);
    };
    let Some(second) = lines.next() else {
        return read(Some(first.as_bytes()));
    };
    let mut joined = Vec::with_capacity(first.len() + second.len() + 2);
    joined.extend_from_slice(first.as_bytes());
    for line in std::iter::once(second).chain(lines) {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(line.as_bytes());
    }
    read(Some(&joined))
}

/// Whether L2 still holds the response `form` was made from, fresh as a cache entry: the
/// same request and response times mean the same response (a newer one, a revalidation or
/// an invalidation changes or removes the entry); for a response that varies, the vary
/// index it was found through too, unchanged.
fn still_stored(store: &ByteCache, form: &Form, now: f64) -> bool {
    let index_holds = form.vary_index.as_ref().is_none_or(|index| {
        store
            .get_with(&index.key, |record| *record == *index.bytes)
            .unwrap_or(false)
    });
    index_holds
        && store
            .get_with(&form.l2_key, |record| {
                record.len() >= RECORD_MIN_LEN
                    && record[0] & RECORD_NEGATIVE == 0
                    && f64_at(record, RECORD_FRESH_UNTIL) > now
                    && record[RESPONSE_MAGIC.0..RESPONSE_MAGIC.0 + 4] == RESPONSE_MAGIC.1
                    && f64_at(record, RESPONSE_REQUEST_TIME).to_bits()
                        == form.request_time.to_bits()
                    && f64_at(record, RESPONSE_RESPONSE_TIME).to_bits()
                        == form.response_time.to_bits()
            })
            .unwrap_or(false)
}

pub(crate) fn f64_at(bytes: &[u8], at: usize) -> f64 {
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[at..at + 8]);
    f64::from_le_bytes(le)
}

/// The condition a request puts on its answer, by the gateway's rules (RFC 9110 §13.2.2):
/// `If-None-Match` when present, else `If-Modified-Since`.
enum Condition {
    None,
    NoneMatch,
    /// The date, epoch ms.
    ModifiedSince(f64),
}

impl Condition {
    /// `None` (the gateway decides) for an `If-Modified-Since` that is repeated or not an
    /// IMF-fixdate this parser and the gateway's both read the same way: the obsolete forms
    /// (two-digit years) and out-of-range fields are left to the gateway.
    fn of(headers: &HeaderMap) -> Option<Condition> {
        if headers.contains_key(IF_NONE_MATCH) {
            return Some(Condition::NoneMatch);
        }
        let mut lines = headers.get_all(IF_MODIFIED_SINCE).iter();
        let Some(since) = lines.next() else {
            return Some(Condition::None);
        };
        if lines.next().is_some() {
            return None;
        }
        let text = std::str::from_utf8(since.as_bytes()).ok()?.trim();
        if text.len() != IMF_FIXDATE_LEN || !text.ends_with(" GMT") || text.as_bytes()[3] != b',' {
            return None;
        }
        let at = httpdate::parse_http_date(text).ok()?;
        let ms = at.duration_since(UNIX_EPOCH).ok()?.as_millis() as f64;
        Some(Condition::ModifiedSince(ms))
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
const IMF_FIXDATE_LEN: usize = 29;

/// Whether the request's `If-None-Match` makes its answer a 304, by the gateway's rule (RFC
/// 9110 §13.1.2): `*`, or a listed tag equal to the stored one by weak comparison.
fn none_match(headers: &HeaderMap, form: &Form) -> bool {
    with_joined_lines(headers, &IF_NONE_MATCH, |list| {
        let Some(list) = list else {
            return false;
        };
        list.trim_ascii() == b"*"
            || form
                .etag
                .as_deref()
                .is_some_and(|stored| entity_tags(list).any(|opaque| opaque == stored))
    })
}

/// The opaque parts (quotes included) of the well-formed entity tags in an `If-None-Match`
/// list: each `"…"` (after an optional `W/`) is taken to its closing quote, and kept if its
/// characters are those RFC 9110 §8.8.3 allows.
fn entity_tags(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = list;
    std::iter::from_fn(move || loop {
        let open = rest.iter().position(|&b| b == b'"')?;
        let after = &rest[open + 1..];
        let close = after.iter().position(|&b| b == b'"')?;
        let tag = &rest[open..open + close + 2];
        rest = &after[close + 1..];
        if tag[1..tag.len() - 1]
            .iter()
            .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return Some(tag);
        }
    })
}

fn respond(
    form: &Form,
    head: bool,
    not_modified: bool,
    now: f64,
    request_id: HeaderValue,
) -> Response<Full<Bytes>> {
    let body = if head || not_modified {
        Bytes::new()
    } else {
        form.body.clone()
    };
    let mut response = Response::new(Full::new(body));
    let fields = if not_modified {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        &form.not_modified_fields
    } else {
        *response.status_mut() = form.status;
        &form.fields
    };
    let headers = response.headers_mut();
    headers.reserve(fields.len() + 2);
    for (name, value) in fields {
        headers.append(name.clone(), value.clone());
    }
    let age_ms = form.initial_age_ms + (now - form.response_time).max(0.0);
    headers.insert(AGE, HeaderValue::from((age_ms / 1000.0).floor() as u64));
    headers.insert(REQUEST_ID, request_id);
    response
}

/// The request's own `X-Request-Id` when it is visible ASCII of at most 200 bytes (safe to
/// log and forward, the gateway's rule), else a new UUID.
pub(crate) fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(given) = headers.get(REQUEST_ID) {
        let bytes = given.as_bytes();
        if (1..=200).contains(&bytes.len()) && bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return given.clone();
        }
    }
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// Now, in epoch milliseconds, as the gateway's times are.
pub(crate) fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
