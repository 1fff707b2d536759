//! The native HTTP front (`optlayer-front`): options, published hits and counters.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use optlayer_front::{
    Admission, Backing, FormInput, Front, FrontConfig, FrontError, FrontLimit, FrontStats, Network,
    ProcessBacking, ProcessFormInput, Quota,
};

use crate::cache::NativeCache;
use crate::errors::{contain, Failure};
use crate::ratelimit::NativeRateLimiter;
use crate::stats::NativeHistogram;

/// Options of a [`NativeFront`]; the TypeScript layer validates and defaults them.
#[napi(object)]
pub struct NativeFrontOptions {
    pub host: String,
    pub port: u32,
    pub reuse_port: bool,
    /// The Unix socket the gateway listens on for relayed requests.
    pub upstream: String,
    pub threads: u32,
    pub max_header_bytes: u32,
    pub headers_timeout_ms: f64,
    pub keep_alive_timeout_ms: f64,
    pub max_connections: u32,
    pub max_forms: u32,
    pub max_form_bytes: f64,
    /// With a limiter: the quota's limit (`RateLimit-Limit`).
    pub limit: Option<f64>,
    /// With a limiter: the request field holding an API key, lower-case.
    pub api_key_header: Option<String>,
    /// With a limiter: `address/prefix` networks whose requests go to the gateway.
    pub trusted_proxies: Option<Vec<String>>,
    /// The gateway's bound on requests in flight, held on what the front relays.
    pub max_in_flight: Option<u32>,
    /// With `max_in_flight`: the refusal's `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<f64>,
    /// With `max_in_flight`: paths never refused (probes, metrics).
    pub exempt_paths: Option<Vec<String>>,
    /// With `max_in_flight`: the bound follows the gateway's latency below it, keeping the
    /// mean near this many times its unqueued latency.
    pub latency_tolerance: Option<f64>,
    /// With a process store: the path of the layer's handler (`/process`).
    pub process_path: Option<String>,
    /// With a process store: the request field naming the user, lower-case.
    pub user_key_header: Option<String>,
    /// With a process store: longer bodies are relayed unread.
    pub max_process_body_bytes: Option<f64>,
    /// With a process limiter: the layer's quota's limit (`RateLimit-Limit`).
    pub process_limit: Option<f64>,
}

/// A result the layer's handler answered, published for the front to answer the same
/// request alike while the layer's L2 store holds the record it came from.
#[napi(object)]
pub struct PublishedResult {
    /// The user key the handler used; Latin-1 (a field's value or an address).
    pub user: String,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub accept_encoding: Option<String>,
    pub body: Buffer,
    /// The result's key in the layer cache's L2 store, as the cache passes it to the store.
    pub l2_key: String,
    /// Field names and values, one flat list.
    pub fields: Vec<String>,
    pub response: Buffer,
}

/// A hit the gateway answered, published for the front to answer alike.
#[napi(object)]
pub struct PublishedHit {
    pub target: String,
    pub accept_encoding: Option<String>,
    /// The stored response's key in the L2 store, as the cache passes it to the store.
    pub l2_key: String,
    pub request_time: f64,
    pub response_time: f64,
    pub fresh_until: f64,
    pub initial_age_ms: f64,
    pub status: u32,
    pub head_only: bool,
    /// Field names and values, one flat list.
    pub fields: Vec<String>,
    pub body: Buffer,
    /// The stored entity tag's opaque part (quotes included), when it has one.
    pub etag: Option<String>,
    /// When it was last modified (epoch ms), as `If-Modified-Since` is compared with it.
    pub last_modified_ms: f64,
    /// The fields of its 304, one flat list (no `Age`, no `X-Request-Id`).
    pub not_modified_fields: Vec<String>,
    /// For a response that varies: the fields named by its `Vary`, lower-case.
    pub vary_names: Vec<String>,
    /// The request's value of each (`null`: absent), as the gateway read it.
    pub vary_values: Vec<Option<String>>,
    /// For a response that varies: the key of the vary index record it was found through.
    pub vary_index_key: Option<String>,
}

/// Counters of a [`NativeFront`].
#[napi(object)]
pub struct NativeFrontStats {
    pub connections: f64,
    pub open_connections: f64,
    pub hits: f64,
    pub limited: f64,
    pub process_hits: f64,
    pub process_limited: f64,
    pub shed: f64,
    pub relayed: f64,
    pub relay_failures: f64,
    pub panics: f64,
    pub forms: f64,
    pub form_bytes: f64,
    pub in_flight_limit: f64,
}

impl From<FrontStats> for NativeFrontStats {
    fn from(s: FrontStats) -> Self {
        NativeFrontStats {
            connections: s.connections as f64,
            open_connections: s.open_connections as f64,
            hits: s.hits as f64,
            limited: s.limited as f64,
            process_hits: s.process_hits as f64,
            process_limited: s.process_limited as f64,
            shed: s.shed as f64,
            relayed: s.relayed as f64,
            relay_failures: s.relay_failures as f64,
            panics: s.panics as f64,
            forms: s.forms as f64,
            form_bytes: s.form_bytes as f64,
            in_flight_limit: s.in_flight_limit as f64,
        }
    }
}

/// An HTTP/1.1 server on a thread of its own: published hits answered there, every other
/// request relayed to the gateway's Unix socket.
#[napi]
pub struct NativeFront {
    /// Taken by `close`. Every method takes `&self`: napi-rs refuses any call on an object
    /// while a `&mut self` call's borrow is active, and `close` returns before its work ends.
    front: Mutex<Option<Front>>,
}

#[napi]
impl NativeFront {
    /// Binds and starts serving; hits are read from `store` (the gateway cache's L2), limited
    /// by `limiter`, and their latency recorded into `latency` (milliseconds). With
    /// `process_store` (the layer cache's L2), the layer's published results are answered
    /// too, limited by `process_limiter`.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        options: NativeFrontOptions,
        store: Option<&NativeCache>,
        limiter: Option<&NativeRateLimiter>,
        latency: Option<&NativeHistogram>,
        process_store: Option<&NativeCache>,
        process_limiter: Option<&NativeRateLimiter>,
    ) -> Result<Self> {
        let fail = |failure: Failure| failure.into_napi(&env);
        let ip: IpAddr = options.host.parse().map_err(|_| {
            fail(Failure::invalid_argument(format!(
                "invalid host: expected an IP address, got {}",
                options.host
            )))
        })?;
        let port = u16::try_from(options.port).map_err(|_| {
            fail(Failure::invalid_argument(format!(
                "invalid port: {}",
                options.port
            )))
        })?;
        let mut config =
            FrontConfig::new(SocketAddr::new(ip, port), PathBuf::from(&options.upstream));
        config.reuse_port = options.reuse_port;
        config.threads = options.threads as usize;
        config.max_header_bytes = options.max_header_bytes as usize;
        config.headers_timeout =
            Duration::from_secs_f64(options.headers_timeout_ms.clamp(0.0, 1e12) / 1000.0);
        config.idle_timeout =
            Duration::from_secs_f64(options.keep_alive_timeout_ms.clamp(0.0, 1e12) / 1000.0);
        config.max_connections = options.max_connections as usize;
        config.forms.max_entries = options.max_forms as usize;
        config.forms.max_bytes = options.max_form_bytes.clamp(0.0, usize::MAX as f64) as usize;
        config.admission = options.max_in_flight.map(|max| Admission {
            max_in_flight: max as usize,
            retry_after: Duration::from_secs_f64(
                options.retry_after_ms.unwrap_or(0.0).clamp(0.0, 1e12) / 1000.0,
            ),
            exempt_paths: options.exempt_paths.clone().unwrap_or_default(),
            latency_tolerance: options.latency_tolerance,
        });
        // Each given object must still be open: a closed one has nothing to share.
        let open = |what: &str| {
            fail(Failure::invalid_argument(format!(
                "invalid {what}: it is closed"
            )))
        };
        let store = store
            .map(|cache| cache.shared_store().ok_or_else(|| open("store")))
            .transpose()?;
        let limit = limiter
            .map(|limiter| front_limit(&options, limiter).map_err(fail))
            .transpose()?;
        let latency = latency
            .map(|histogram| histogram.shared_sink().ok_or_else(|| open("latency")))
            .transpose()?;
        let process = process_store
            .map(|cache| {
                let store = cache.shared_store().ok_or_else(|| open("processStore"))?;
                process_backing(&options, store, process_limiter).map_err(fail)
            })
            .transpose()?;
        let backing = Backing {
            store,
            limit,
            latency,
            process,
        };
        let front = Front::start(config, backing).map_err(|e| fail(front_failure(e)))?;
        Ok(NativeFront {
            front: Mutex::new(Some(front)),
        })
    }

    /// The port it listens on.
    #[napi(getter, catch_unwind)]
    pub fn port(&self) -> u32 {
        self.with_front(0, |f| u32::from(f.local_addr().port()))
    }

    /// Adds or replaces a published hit.
    #[napi(catch_unwind)]
    pub fn publish(&self, env: Env, hit: PublishedHit) -> Result<()> {
        let PublishedHit {
            target,
            accept_encoding,
            l2_key,
            request_time,
            response_time,
            fresh_until,
            initial_age_ms,
            status,
            head_only,
            fields,
            body,
            etag,
            last_modified_ms,
            not_modified_fields,
            vary_names,
            vary_values,
            vary_index_key,
        } = hit;
        if vary_names.len() != vary_values.len() {
            return Err(Failure::invalid_argument(
                "invalid varyValues: expected one per name of varyNames",
            )
            .into_napi(&env));
        }
        let pairs = field_pairs(fields).map_err(|f| f.into_napi(&env))?;
        let not_modified_fields =
            field_pairs(not_modified_fields).map_err(|f| f.into_napi(&env))?;
        let vary_index_key = vary_index_key.map(|key| store_key(&key));
        self.with_front(Ok(()), |front| {
            // A vary index record gone already: the hit is not published.
            let vary_index = match vary_index_key {
                None => None,
                Some(key) => match front.stored_record(&key) {
                    Some(record) => Some((key, record)),
                    None => return Ok(()),
                },
            };
            let input = FormInput {
                target,
                accept_encoding,
                l2_key: store_key(&l2_key),
                request_time,
                response_time,
                fresh_until,
                initial_age_ms,
                status: u16::try_from(status).unwrap_or(0),
                head_only,
                fields: pairs,
                body: bytes::Bytes::copy_from_slice(&body),
                etag,
                last_modified_ms,
                not_modified_fields,
                vary: vary_names.into_iter().zip(vary_values).collect(),
                vary_index,
            };
            front
                .publish(input)
                .map_err(|e| front_failure(e).into_napi(&env))
        })
    }

    /// Adds or replaces a published result; false (nothing published) when the layer's L2
    /// store no longer holds its record.
    #[napi(catch_unwind)]
    pub fn publish_result(&self, env: Env, result: PublishedResult) -> Result<bool> {
        let PublishedResult {
            user,
            content_type,
            accept,
            accept_encoding,
            body,
            l2_key,
            fields,
            response,
        } = result;
        let fields = field_pairs(fields).map_err(|f| f.into_napi(&env))?;
        let l2_key = store_key(&l2_key);
        self.with_front(Ok(false), |front| {
            // Absent stays absent; present, it must be Latin-1.
            let field = |value: Option<String>| match value {
                None => Some(None),
                Some(text) => latin1(&text).map(Some),
            };
            let (Some(user), Some(content_type), Some(accept), Some(accept_encoding)) = (
                latin1(&user),
                field(content_type),
                field(accept),
                field(accept_encoding),
            ) else {
                return Ok(false);
            };
            let Some(record) = front.process_record(&l2_key) else {
                return Ok(false);
            };
            let input = ProcessFormInput {
                user,
                content_type,
                accept,
                accept_encoding,
                body: bytes::Bytes::copy_from_slice(&body),
                l2_key,
                record,
                fields,
                response: bytes::Bytes::copy_from_slice(&response),
            };
            front
                .publish_process(input)
                .map(|()| true)
                .map_err(|e| front_failure(e).into_napi(&env))
        })
    }

    /// Drops every published hit and result.
    #[napi(catch_unwind)]
    pub fn clear(&self) {
        self.with_front((), Front::clear);
    }

    /// Sends every later request to the gateway.
    #[napi(catch_unwind)]
    pub fn set_closing(&self) {
        self.with_front((), Front::set_closing);
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> NativeFrontStats {
        NativeFrontStats::from(self.with_front(Default::default(), Front::stats))
    }

    /// Stops accepting, lets open requests finish within `graceMs`, then cuts the rest; on
    /// the libuv pool, since it waits for the front's thread. Resolves with its last counters.
    #[napi(catch_unwind, ts_return_type = "Promise<NativeFrontStats>")]
    pub fn close(&self, grace_ms: f64) -> AsyncTask<CloseFront> {
        let front = self
            .front
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        AsyncTask::new(CloseFront {
            front,
            grace: Duration::from_secs_f64(grace_ms.clamp(0.0, 1e9) / 1000.0),
        })
    }
}

impl NativeFront {
    /// `f` of the running front, or `closed` once it is closed.
    fn with_front<T>(&self, closed: T, f: impl FnOnce(&Front) -> T) -> T {
        let front = self.front.lock().unwrap_or_else(PoisonError::into_inner);
        front.as_ref().map_or(closed, f)
    }
}

/// [`NativeFront::close`]'s work.
pub struct CloseFront {
    front: Option<Front>,
    grace: Duration,
}

impl Task for CloseFront {
    type Output = std::result::Result<FrontStats, Failure>;
    type JsValue = NativeFrontStats;

    fn compute(&mut self) -> Result<Self::Output> {
        let front = self.front.take();
        let grace = self.grace;
        Ok(contain(|| {
            Ok::<_, Failure>(front.map_or_else(FrontStats::default, |mut front| {
                front.close(grace);
                front.stats()
            }))
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output
            .map(NativeFrontStats::from)
            .map_err(|f| f.into_napi(&env))
    }
}

/// The gateway's limit for the front: `limiter`'s store, and from `options` the quota's
/// limit, the API key field and the trusted networks.
fn front_limit(
    options: &NativeFrontOptions,
    limiter: &NativeRateLimiter,
) -> std::result::Result<FrontLimit, Failure> {
    let quota = quota(limiter, options.limit, "limit")?;
    let header = options.api_key_header.as_deref().unwrap_or("x-api-key");
    let api_key_header = http::HeaderName::from_bytes(header.as_bytes())
        .map_err(|_| Failure::invalid_argument(format!("invalid apiKeyHeader: {header}")))?;
    let mut trusted_proxies = Vec::new();
    for text in options.trusted_proxies.iter().flatten() {
        let network = text
            .split_once('/')
            .and_then(|(address, prefix)| {
                Some(Network {
                    address: address.parse().ok()?,
                    prefix: prefix.parse().ok()?,
                })
            })
            .ok_or_else(|| {
                Failure::invalid_argument(format!(
                    "invalid trustedProxies: expected address/prefix, got {text}"
                ))
            })?;
        trusted_proxies.push(network);
    }
    Ok(FrontLimit {
        quota,
        api_key_header,
        trusted_proxies,
    })
}

/// The layer's path for the front: where it is, its user field, its cache's L2 `store` and
/// its limiter's store with the quota's limit.
fn process_backing(
    options: &NativeFrontOptions,
    store: std::sync::Arc<optlayer_cache::ByteCache>,
    limiter: Option<&NativeRateLimiter>,
) -> std::result::Result<ProcessBacking, Failure> {
    let path = options
        .process_path
        .clone()
        .unwrap_or_else(|| "/process".into());
    if !path.starts_with('/') {
        return Err(Failure::invalid_argument(format!(
            "invalid processPath: expected a path starting with /, got {path}"
        )));
    }
    let header = options.user_key_header.as_deref().unwrap_or("x-user-key");
    let user_header = http::HeaderName::from_bytes(header.as_bytes())
        .map_err(|_| Failure::invalid_argument(format!("invalid userKeyHeader: {header}")))?;
    let quota = limiter
        .map(|limiter| quota(limiter, options.process_limit, "processLimit"))
        .transpose()?;
    let max_body = options.max_process_body_bytes.unwrap_or(16_384.0);
    Ok(ProcessBacking {
        path,
        user_header,
        store,
        quota,
        max_body_bytes: max_body.clamp(0.0, usize::MAX as f64) as usize,
    })
}

/// `limiter`'s store with the quota's `limit`.
fn quota(
    limiter: &NativeRateLimiter,
    limit: Option<f64>,
    name: &str,
) -> std::result::Result<Quota, Failure> {
    let limiter = limiter
        .shared_limiter()
        .ok_or_else(|| Failure::invalid_argument("invalid limiter: it is closed"))?;
    let limit = limit.unwrap_or(0.0);
    if !(limit >= 1.0 && limit <= u64::MAX as f64) {
        return Err(Failure::invalid_argument(format!(
            "invalid {name}: expected at least 1, got {limit}"
        )));
    }
    Ok(Quota {
        limiter,
        limit: limit as u64,
    })
}

/// `[name, value, name, value, …]` as pairs.
fn field_pairs(fields: Vec<String>) -> std::result::Result<Vec<(String, String)>, Failure> {
    if !fields.len().is_multiple_of(2) {
        return Err(Failure::invalid_argument(
            "invalid fields: expected name, value pairs",
        ));
    }
    let mut pairs = Vec::with_capacity(fields.len() / 2);
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// A field value as the request carried it: Node reads fields as Latin-1, one character per
/// byte; `None` for a character past U+00FF, which cannot have come from a field.
fn latin1(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

/// A key as the store holds it: the cache binding passes a key's UTF-16 code units (see
/// `keys.rs`), so the same string must become the same bytes here.
fn store_key(key: &str) -> Vec<u8> {
    key.encode_utf16().flat_map(u16::to_ne_bytes).collect()
}

fn front_failure(error: FrontError) -> Failure {
    match error {
        FrontError::InvalidConfig(_) | FrontError::InvalidForm(_) => {
            Failure::invalid_argument(error)
        }
        FrontError::Listen(..) | FrontError::Io(_) => Failure::internal(error),
    }
}
