//! The gateway's rate limit, applied by the front to the hits it answers: the same keyed
//! store the gateway's in-process limiter decides with, the same key and the same fields.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body_util::Full;
use optlayer_ratelimit::{Decision, LimitError};

/// A keyed limiter the front can ask (the binding wraps the gateway limiter's store).
pub trait Limiter: Send + Sync {
    /// Decides one request for `key`, given as the store holds keys.
    fn decide(&self, key: &[u8]) -> Result<Decision, LimitError>;
}

/// A network, as `TRUSTED_PROXIES` lists them.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    pub address: IpAddr,
    pub prefix: u8,
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_matches(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let bits = usize::from(prefix).min(net.len() * 8);
    let (whole, rest) = (bits / 8, bits % 8);
    if net[..whole] != ip[..whole] {
        return false;
    }
    rest == 0 || (net[whole] ^ ip[whole]) >> (8 - rest) == 0
}

/// A keyed limiter and its quota's limit: per request, the fields of an admission or the 429.
pub struct Quota {
    pub limiter: Arc<dyn Limiter>,
    /// The quota's limit, the `RateLimit-Limit` field.
    pub limit: u64,
}

impl Quota {
    /// Decides one request for `key`, given as the store holds keys (see [`store_key`]).
    pub(crate) fn verdict(&self, key: &[u8]) -> Verdict {
        let Ok(decision) = self.limiter.decide(key) else {
            return Verdict::Relay;
        };
        let fields = [
            (LIMIT, HeaderValue::from(self.limit)),
            (REMAINING, HeaderValue::from(decision.remaining)),
            (RESET, HeaderValue::from(decision.reset_ms.div_ceil(1000))),
        ];
        if decision.allowed {
            return Verdict::Allowed(fields);
        }
        Verdict::Denied(too_many_requests(fields, decision.retry_after_ms))
    }
}

/// A key as the store holds it: the binding passes a JavaScript string's UTF-16 code units,
/// and Node reads field values as Latin-1, one code unit per byte.
pub(crate) fn store_key(text: &[u8]) -> Vec<u8> {
    text.iter()
        .flat_map(|&byte| u16::from(byte).to_ne_bytes())
        .collect()
}

/// The gateway's limit as the front applies it.
pub struct FrontLimit {
    pub quota: Quota,
    /// The request field holding an API key (`key:<value>`); without one the key is the
    /// client address (`ip:<address>`).
    pub api_key_header: HeaderName,
    /// Peers whose `X-Forwarded-For` names the client: their requests go to the gateway,
    /// which walks that field.
    pub trusted_proxies: Vec<Network>,
}

/// What the limit says of a request the front could answer.
pub(crate) enum Verdict {
    /// Admitted: these fields go on the answer.
    Allowed([(HeaderName, HeaderValue); 3]),
    /// Over the limit: this 429 is the answer.
    Denied(Response<Full<Bytes>>),
    /// The gateway must decide (a trusted proxy's request, a failing limiter).
    Relay,
}

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

impl FrontLimit {
    pub(crate) fn check(&self, headers: &HeaderMap, peer: IpAddr) -> Verdict {
        if self.trusted_proxies.iter().any(|net| net.contains(peer)) {
            return Verdict::Relay;
        }
        self.quota.verdict(&store_key(&self.key(headers, peer)))
    }

    /// `key:<API key>` (its lines joined with `", "`), else `ip:<client address>`.
    fn key(&self, headers: &HeaderMap, peer: IpAddr) -> Vec<u8> {
        let mut text: Vec<u8> = Vec::with_capacity(64);
        let mut values = headers.get_all(&self.api_key_header).iter();
        match values.next() {
            Some(first) if !first.is_empty() => {
                text.extend_from_slice(b"key:");
                text.extend_from_slice(first.as_bytes());
                for more in values {
                    text.extend_from_slice(b", ");
                    text.extend_from_slice(more.as_bytes());
                }
            }
            _ => {
                text.extend_from_slice(b"ip:");
                // As the gateway writes it: an IPv4-mapped address as plain IPv4.
                text.extend_from_slice(peer.to_canonical().to_string().as_bytes());
            }
        }
        text
    }
}

/// The gateway's 429: the limit's fields, `Retry-After` in whole seconds (at least 1), and
/// a JSON body saying when to retry.
fn too_many_requests(
    fields: [(HeaderName, HeaderValue); 3],
    retry_after_ms: u64,
) -> Response<Full<Bytes>> {
    let body = format!(
        r#"{{"error":"too_many_requests","message":"rate limit exceeded; retry in {retry_after_ms} ms","retryAfterMs":{retry_after_ms}}}"#
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    for (name, value) in fields {
        headers.insert(name, value);
    }
    headers.insert(
        RETRY_AFTER,
        HeaderValue::from(retry_after_ms.div_ceil(1000).max(1)),
    );
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Recorder(Mutex<Vec<Vec<u8>>>, Decision);

    impl Limiter for Recorder {
        fn decide(&self, key: &[u8]) -> Result<Decision, LimitError> {
            self.0.lock().expect("lock").push(key.to_vec());
            Ok(self.1)
        }
    }

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_ne_bytes).collect()
    }

    fn limit(decision: Decision, trusted: Vec<Network>) -> (FrontLimit, Arc<Recorder>) {
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new()), decision));
        let limit = FrontLimit {
            quota: Quota {
                limiter: recorder.clone(),
                limit: 10,
            },
            api_key_header: HeaderName::from_static("x-api-key"),
            trusted_proxies: trusted,
        };
        (limit, recorder)
    }

    const ALLOWED: Decision = Decision {
        allowed: true,
        remaining: 7,
        retry_after_ms: 0,
        reset_ms: 1500,
    };
    const DENIED: Decision = Decision {
        allowed: false,
        remaining: 0,
        retry_after_ms: 250,
        reset_ms: 9000,
    };

    #[test]
    fn keys_by_api_key_else_by_address_as_the_store_holds_strings() {
        let (limit, recorder) = limit(ALLOWED, vec![]);
        let mut headers = HeaderMap::new();
        let peer: IpAddr = "10.1.2.3".parse().expect("ip");
        let Verdict::Allowed(fields) = limit.check(&headers, peer) else {
            panic!("allowed")
        };
        assert_eq!(fields[0].1, "10");
        assert_eq!(fields[1].1, "7");
        assert_eq!(fields[2].1, "2", "seconds rounded up");
        headers.insert(
            "x-api-key",
            HeaderValue::from_bytes(b"caf\xe9").expect("latin-1"),
        );
        let _ = limit.check(&headers, peer);
        headers.insert("x-api-key", HeaderValue::from_static(""));
        let _ = limit.check(&headers, "::1".parse().expect("ip"));
        headers.remove("x-api-key");
        let _ = limit.check(&headers, "::ffff:10.9.8.7".parse().expect("ip"));
        let keys = recorder.0.lock().expect("lock").clone();
        assert_eq!(
            keys,
            vec![
                utf16("ip:10.1.2.3"),
                utf16("key:café"),
                utf16("ip:::1"),
                utf16("ip:10.9.8.7")
            ]
        );
    }

    #[test]
    fn a_denial_is_the_gateways_429() {
        let (limit, _) = limit(DENIED, vec![]);
        let Verdict::Denied(response) =
            limit.check(&HeaderMap::new(), "10.0.0.1".parse().expect("ip"))
        else {
            panic!("denied")
        };
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        assert_eq!(response.headers()[RESET], "9");
    }

    #[test]
    fn a_trusted_proxys_request_goes_to_the_gateway() {
        let net = |text: &str, prefix| Network {
            address: text.parse().expect("ip"),
            prefix,
        };
        let (limit, recorder) = limit(ALLOWED, vec![net("10.0.0.0", 8), net("fd00::", 8)]);
        for peer in ["10.200.0.1", "::ffff:10.0.0.9", "fd12::1"] {
            assert!(
                matches!(
                    limit.check(&HeaderMap::new(), peer.parse().expect("ip")),
                    Verdict::Relay
                ),
                "{peer}"
            );
        }
        for peer in ["11.0.0.1", "fe00::1"] {
            assert!(
                matches!(
                    limit.check(&HeaderMap::new(), peer.parse().expect("ip")),
                    Verdict::Allowed(_)
                ),
                "{peer}"
            );
        }
        assert_eq!(recorder.0.lock().expect("lock").len(), 2);
    }
}
