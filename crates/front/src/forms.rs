//! Responses the JavaScript gateway answered as plain fresh cache hits, published so that
//! the front answers the same requests itself.
//!
//! The front does not apply the caching rules: the gateway has already decided, for one
//! request target and one `Accept-Encoding` value, which stored response and coding answer
//! it, until when it stays fresh, and every field sent with it. What the front checks per
//! request is cheap and enough to stay correct: that the form is still fresh, and that the
//! L2 store still holds the very response the form was made from (see `fast_path.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use parking_lot::RwLock;

use crate::error::FrontError;

/// What the gateway publishes: one stored response as sent for one request target and
/// `Accept-Encoding` value.
#[derive(Debug, Clone)]
pub struct FormInput {
    /// The request target exactly as received (origin form: path and query).
    pub target: String,
    /// The request's `Accept-Encoding` (lines joined with `", "`), or none.
    pub accept_encoding: Option<String>,
    /// The key of the stored response in the L2 store, as the store holds it.
    pub l2_key: Vec<u8>,
    /// The stored response's request and response times (epoch ms): together they tell
    /// that the L2 entry is still the response this form was made from.
    pub request_time: f64,
    pub response_time: f64,
    /// Epoch ms before which it is fresh for a request without cache directives.
    pub fresh_until: f64,
    /// Its age (ms) when it arrived; `Age` grows from there by the time since `response_time`.
    pub initial_age_ms: f64,
    pub status: u16,
    /// It answered a HEAD: it may not answer a GET.
    pub head_only: bool,
    /// Every field but `Age` and `X-Request-Id`, `Content-Length` included.
    pub fields: Vec<(String, String)>,
    pub body: Bytes,
    /// The stored response's entity tag, quotes included, without `W/`: an `If-None-Match`
    /// naming it (by weak comparison) is answered 304.
    pub etag: Option<String>,
    /// When it was last modified (epoch ms: its `Last-Modified`, else `Date`, else its
    /// arrival): an `If-Modified-Since` at or after it is answered 304.
    pub last_modified_ms: f64,
    /// The fields of that 304 but `Age` and `X-Request-Id` (RFC 9110 §15.4.5).
    pub not_modified_fields: Vec<(String, String)>,
    /// A response that varies: the request fields its `Vary` names (lower-case), each with
    /// the value the gateway read (none: absent). Requests with other values, or with one of
    /// these fields repeated, go to the gateway.
    pub vary: Vec<(String, Option<String>)>,
    /// With `vary`: the key and bytes of the vary index record the gateway found the
    /// response through, which must stay as they are (a new index is a new set of variants).
    pub vary_index: Option<(Vec<u8>, Vec<u8>)>,
}

/// A published form, checked and ready to send.
#[derive(Debug)]
pub struct Form {
    pub(crate) l2_key: Box<[u8]>,
    pub(crate) request_time: f64,
    pub(crate) response_time: f64,
    pub(crate) fresh_until: f64,
    pub(crate) initial_age_ms: f64,
    pub(crate) status: StatusCode,
    pub(crate) head_only: bool,
    pub(crate) fields: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
    pub(crate) etag: Option<Box<[u8]>>,
    pub(crate) last_modified_ms: f64,
    pub(crate) not_modified_fields: Vec<(HeaderName, HeaderValue)>,
    pub(crate) vary_index: Option<HeldRecord>,
}

/// An L2 record that must stay as it was: its key and its bytes.
#[derive(Debug)]
pub(crate) struct HeldRecord {
    pub(crate) key: Box<[u8]>,
    pub(crate) bytes: Box<[u8]>,
}

/// What a target and `Accept-Encoding` lead to: a form, or the fields its variants differ by.
#[derive(Debug)]
pub(crate) enum Published {
    Form(Form),
    Varies(Box<[HeaderName]>),
}

/// Bounds of a [`Forms`] table.
#[derive(Debug, Clone, Copy)]
pub struct FormLimits {
    pub max_entries: usize,
    pub max_bytes: usize,
}

/// The published forms by request target and `Accept-Encoding`, and for a response that
/// varies, by the values of the fields it varies on too.
#[derive(Debug)]
pub struct Forms {
    table: FormTable<Published>,
}

/// Per-form bookkeeping counted besides its key, fields and body.
pub(crate) const FORM_OVERHEAD: usize = 160;

impl Forms {
    pub fn new(limits: FormLimits) -> Self {
        Forms {
            table: FormTable::new(limits),
        }
    }

    /// Adds or replaces the form of `input.target` and `input.accept_encoding`. Refuses a
    /// status or field that is not valid HTTP, and a form larger than the whole budget.
    pub fn publish(&self, input: FormInput) -> Result<(), FrontError> {
        let status = StatusCode::from_u16(input.status)
            .map_err(|_| FrontError::InvalidForm(format!("status {}", input.status)))?;
        let (fields, fields_cost) = parse_fields(&input.fields)?;
        let (not_modified_fields, not_modified_cost) = parse_fields(&input.not_modified_fields)?;
        let base = form_key(
            input.target.as_bytes(),
            input.accept_encoding.as_deref().map(str::as_bytes),
        );
        let mut names = Vec::with_capacity(input.vary.len());
        for (name, _) in &input.vary {
            names.push(
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| FrontError::InvalidForm(format!("vary name {name:?}")))?,
            );
        }
        let key = if input.vary.is_empty() {
            base.clone()
        } else {
            let values = input
                .vary
                .iter()
                .map(|(_, v)| v.as_deref().map(str::as_bytes));
            variant_key(&base, values)
        };
        let etag = input.etag.map(|tag| tag.into_bytes().into_boxed_slice());
        let vary_index = input.vary_index.map(|(key, bytes)| HeldRecord {
            key: key.into_boxed_slice(),
            bytes: bytes.into_boxed_slice(),
        });
        let cost = FORM_OVERHEAD
            + input.body.len()
            + input.l2_key.len()
            + fields_cost
            + not_modified_cost
            + etag.as_ref().map_or(0, |tag| tag.len())
            + vary_index
                .as_ref()
                .map_or(0, |i| i.key.len() + i.bytes.len())
            + key.len();
        let form = Form {
            l2_key: input.l2_key.into_boxed_slice(),
            request_time: input.request_time,
            response_time: input.response_time,
            fresh_until: input.fresh_until,
            initial_age_ms: input.initial_age_ms,
            status,
            head_only: input.head_only,
            fields,
            body: input.body,
            etag,
            last_modified_ms: input.last_modified_ms,
            not_modified_fields,
            vary_index,
        };
        if !names.is_empty() {
            let cost =
                FORM_OVERHEAD + base.len() + names.iter().map(|n| n.as_str().len()).sum::<usize>();
            self.table
                .insert(base, Published::Varies(names.into()), cost)?;
        }
        self.table.insert(key, Published::Form(form), cost)
    }

    /// The form for a request target, `Accept-Encoding` value and fields, if published:
    /// `None` as well when a field its response varies on is repeated.
    pub(crate) fn get(
        &self,
        target: &[u8],
        accept_encoding: Option<&[u8]>,
        headers: &HeaderMap,
    ) -> Option<Arc<Published>> {
        let base = form_key(target, accept_encoding);
        let found = self.table.get(&base)?;
        let Published::Varies(names) = &*found else {
            return Some(found);
        };
        let mut values = Vec::with_capacity(names.len());
        for name in names.iter() {
            values.push(single(headers, name)?.map(HeaderValue::as_bytes));
        }
        self.table.get(&variant_key(&base, values.into_iter()))
    }

    /// Drops every form.
    pub fn clear(&self) {
        self.table.clear();
    }

    /// Forms held, and their bytes.
    pub fn usage(&self) -> (usize, usize) {
        self.table.usage()
    }
}

/// Published answers by key, bounded in entries and bytes.
///
/// Once full it starts over rather than tracking recency: an answer dropped costs one
/// request through the gateway, which publishes it again, and recency bookkeeping would
/// cost every hit a write under the lock.
#[derive(Debug)]
pub(crate) struct FormTable<F> {
    limits: FormLimits,
    table: RwLock<Table<F>>,
}

#[derive(Debug)]
struct Table<F> {
    by_key: HashMap<Box<[u8]>, (Arc<F>, usize), foldhash::fast::RandomState>,
    bytes: usize,
}

impl<F> FormTable<F> {
    pub(crate) fn new(limits: FormLimits) -> Self {
        FormTable {
            limits,
            table: RwLock::new(Table {
                by_key: HashMap::default(),
                bytes: 0,
            }),
        }
    }

    /// Adds or replaces the answer under `key`, `cost` bytes of the budget; refuses one
    /// larger than the whole budget.
    pub(crate) fn insert(&self, key: Box<[u8]>, form: F, cost: usize) -> Result<(), FrontError> {
        if cost > self.limits.max_bytes {
            return Err(FrontError::InvalidForm(format!(
                "{cost} bytes, over the forms' budget of {}",
                self.limits.max_bytes
            )));
        }
        let mut table = self.table.write();
        if let Some((_, old)) = table.by_key.remove(&key[..]) {
            table.bytes -= old;
        }
        if table.by_key.len() >= self.limits.max_entries
            || table.bytes + cost > self.limits.max_bytes
        {
            table.by_key.clear();
            table.bytes = 0;
        }
        table.bytes += cost;
        table.by_key.insert(key, (Arc::new(form), cost));
        Ok(())
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<Arc<F>> {
        self.table
            .read()
            .by_key
            .get(key)
            .map(|(form, _)| Arc::clone(form))
    }

    pub(crate) fn clear(&self) {
        let mut table = self.table.write();
        table.by_key.clear();
        table.bytes = 0;
    }

    pub(crate) fn usage(&self) -> (usize, usize) {
        let table = self.table.read();
        (table.by_key.len(), table.bytes)
    }
}

/// Fields as the gateway sent them, checked to be valid HTTP, and the bytes they hold.
pub(crate) fn parse_fields(
    given: &[(String, String)],
) -> Result<(Vec<(HeaderName, HeaderValue)>, usize), FrontError> {
    let mut fields = Vec::with_capacity(given.len());
    let mut cost = 0;
    for (name, value) in given {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| FrontError::InvalidForm(format!("field name {name:?}")))?;
        let header_value = HeaderValue::from_str(value)
            .map_err(|_| FrontError::InvalidForm(format!("value of field {name}")))?;
        cost += name.len() + value.len() + 32;
        fields.push((header_name, header_value));
    }
    Ok((fields, cost))
}

/// The key of one variant: its base key, a NUL (in neither a target nor a field value), then
/// each value (see [`push_part`]).
fn variant_key<'a>(base: &[u8], values: impl Iterator<Item = Option<&'a [u8]>>) -> Box<[u8]> {
    let mut key = Vec::with_capacity(base.len() + 32);
    key.extend_from_slice(base);
    key.push(0);
    for value in values {
        push_part(&mut key, value);
    }
    key.into_boxed_slice()
}

/// `Some(None)` when `name` is absent, `Some(value)` when it is there once, `None` when
/// repeated (Node would have joined or dropped the lines: not worth matching).
pub(crate) fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Option<Option<&'a HeaderValue>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    values.next().is_none().then_some(first)
}

/// Appends one part of a key so that no two sequences of parts make the same key: 0 for an
/// absent part, else 1, its length (u32, little-endian) and its bytes.
pub(crate) fn push_part(key: &mut Vec<u8>, part: Option<&[u8]>) {
    match part {
        None => key.push(0),
        Some(bytes) => {
            key.push(1);
            key.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            key.extend_from_slice(bytes);
        }
    }
}

/// The target, then a line feed and the `Accept-Encoding` value when there is one: a target
/// holds no line feed, so "absent" and "empty" stay apart.
fn form_key(target: &[u8], accept_encoding: Option<&[u8]>) -> Box<[u8]> {
    let extra = accept_encoding.map_or(0, |a| a.len() + 1);
    let mut key = Vec::with_capacity(target.len() + extra);
    key.extend_from_slice(target);
    if let Some(accept) = accept_encoding {
        key.push(b'\n');
        key.extend_from_slice(accept);
    }
    key.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(target: &str, accept: Option<&str>, body: &'static [u8]) -> FormInput {
        FormInput {
            target: target.to_owned(),
            accept_encoding: accept.map(str::to_owned),
            l2_key: b"k".to_vec(),
            request_time: 1.0,
            response_time: 2.0,
            fresh_until: 3.0,
            initial_age_ms: 0.0,
            status: 200,
            head_only: false,
            fields: vec![("content-type".into(), "text/plain".into())],
            body: Bytes::from_static(body),
            etag: None,
            last_modified_ms: 0.0,
            not_modified_fields: Vec::new(),
            vary: Vec::new(),
            vary_index: None,
        }
    }

    /// The form a request without fields finds.
    fn get(f: &Forms, target: &[u8], accept: Option<&[u8]>) -> Option<Arc<Published>> {
        f.get(target, accept, &HeaderMap::new())
            .filter(|found| matches!(**found, Published::Form(_)))
    }

    impl Published {
        fn body(&self) -> Option<&Bytes> {
            match self {
                Published::Form(form) => Some(&form.body),
                Published::Varies(_) => None,
            }
        }
    }

    #[test]
    fn a_varying_response_is_found_by_the_values_of_its_fields() {
        let f = forms(16, 1 << 20);
        let variant = |language: Option<&str>, body: &'static [u8]| {
            let mut form = input("/a", None, body);
            form.vary = vec![("accept-language".into(), language.map(str::to_owned))];
            form
        };
        f.publish(variant(Some("fr"), b"bonjour")).expect("publish");
        f.publish(variant(None, b"hello")).expect("publish");
        let body = |languages: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for l in languages {
                headers.append("accept-language", HeaderValue::from_static(l));
            }
            f.get(b"/a", None, &headers)
                .and_then(|found| found.body().cloned())
        };
        assert_eq!(body(&["fr"]).as_deref(), Some(&b"bonjour"[..]));
        assert_eq!(body(&[]).as_deref(), Some(&b"hello"[..]));
        assert!(body(&["de"]).is_none());
        assert!(
            body(&["fr", "fr"]).is_none(),
            "a repeated field goes to the gateway"
        );
        // Published plain again, the target no longer varies.
        f.publish(input("/a", None, b"plain")).expect("publish");
        assert_eq!(body(&["fr"]).as_deref(), Some(&b"plain"[..]));
    }

    fn forms(max_entries: usize, max_bytes: usize) -> Forms {
        Forms::new(FormLimits {
            max_entries,
            max_bytes,
        })
    }

    #[test]
    fn keyed_by_target_and_accept_encoding() {
        let f = forms(16, 1 << 20);
        f.publish(input("/a", None, b"plain")).expect("publish");
        f.publish(input("/a", Some("gzip"), b"zipped"))
            .expect("publish");
        f.publish(input("/a", Some(""), b"empty accept"))
            .expect("publish");
        let body =
            |accept: Option<&[u8]>| get(&f, b"/a", accept).and_then(|form| form.body().cloned());
        assert_eq!(body(None).as_deref(), Some(&b"plain"[..]));
        assert_eq!(body(Some(b"gzip")).as_deref(), Some(&b"zipped"[..]));
        assert_eq!(body(Some(b"")).as_deref(), Some(&b"empty accept"[..]));
        assert!(get(&f, b"/a", Some(b"br")).is_none());
        assert!(get(&f, b"/b", None).is_none());
    }

    #[test]
    fn replacing_keeps_the_byte_count() {
        let f = forms(16, 1 << 20);
        f.publish(input("/a", None, b"one")).expect("publish");
        let (_, first) = f.usage();
        f.publish(input("/a", None, b"two")).expect("publish");
        assert_eq!(f.usage(), (1, first));
    }

    #[test]
    fn starts_over_when_full() {
        let f = forms(2, 1 << 20);
        f.publish(input("/a", None, b"a")).expect("publish");
        f.publish(input("/b", None, b"b")).expect("publish");
        f.publish(input("/c", None, b"c")).expect("publish");
        assert_eq!(f.usage().0, 1);
        assert!(get(&f, b"/c", None).is_some());
        assert!(get(&f, b"/a", None).is_none());
    }

    #[test]
    fn refuses_invalid_forms() {
        let f = forms(16, 1 << 20);
        let mut bad_name = input("/a", None, b"");
        bad_name.fields.push(("bad name".into(), "x".into()));
        assert!(matches!(
            f.publish(bad_name),
            Err(FrontError::InvalidForm(_))
        ));
        let mut bad_value = input("/a", None, b"");
        bad_value.fields.push(("x-a".into(), "line\nbreak".into()));
        assert!(matches!(
            f.publish(bad_value),
            Err(FrontError::InvalidForm(_))
        ));
        let mut bad_status = input("/a", None, b"");
        bad_status.status = 1000;
        assert!(matches!(
            f.publish(bad_status),
            Err(FrontError::InvalidForm(_))
        ));
        let small = forms(16, 100);
        assert!(matches!(
            small.publish(input("/a", None, &[0; 200])),
            Err(FrontError::InvalidForm(_))
        ));
        assert_eq!(f.usage().0, 0);
    }
}
