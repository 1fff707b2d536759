//! The front end to end: a real socket in, a stand-in gateway on a Unix socket behind it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use optlayer_cache::{ByteCache, CacheConfig};
use optlayer_front::{
    Backing, FormInput, Front, FrontConfig, LatencySink, ProcessBacking, ProcessFormInput,
};

/// A stand-in for the gateway: answers each request with its own head as the body, or
/// `answer` when given, keeping connections alive.
struct Gateway {
    path: PathBuf,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    let unique = format!(
        "optlayer-front-test-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos()
    );
    let dir = std::env::temp_dir().join(unique);
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}

fn gateway() -> Gateway {
    let dir = temp_dir();
    let path = dir.0.join("gateway.sock");
    let listener = UnixListener::bind(&path).expect("bind unix socket");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut writer = stream;
                while let Some((head, body)) = read_message(&mut reader) {
                    let mut echo = head.into_bytes();
                    echo.extend_from_slice(&body);
                    let reply = format!("HTTP/1.1 200 OK\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\ncontent-length: {}\r\n\r\n", echo.len());
                    if writer
                        .write_all(reply.as_bytes())
                        .and_then(|()| writer.write_all(&echo))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Gateway { path, _dir: dir }
}

/// A head (lines up to the blank one) and a `content-length` body; `None` at the end.
fn read_message(reader: &mut impl BufRead) -> Option<(String, Vec<u8>)> {
    let head = read_head(reader)?;
    let length = header(&head, "content-length").map_or(0, |v| v.parse().expect("length"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// The lines of a head, up to the blank one.
fn read_head(reader: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    Some(head)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn start(upstream: PathBuf, store: Option<Arc<ByteCache>>) -> Front {
    start_recording(upstream, store, Arc::new(Latencies::default()))
}

/// A front on a free loopback port answering from `store`, recording its latencies in `latency`.
fn start_recording(
    upstream: PathBuf,
    store: Option<Arc<ByteCache>>,
    latency: Arc<dyn LatencySink>,
) -> Front {
    let config = FrontConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), upstream);
    let backing = Backing {
        store,
        latency: Some(latency),
        ..Backing::default()
    };
    Front::start(config, backing).expect("start")
}

/// Counts what the front records.
#[derive(Default)]
struct Latencies(std::sync::atomic::AtomicU64);

impl LatencySink for Latencies {
    fn record(&self, elapsed: Duration) {
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

fn connect(front: &Front) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(front.local_addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    BufReader::new(stream)
}

/// Sends `request` and reads one response: status line and fields, then the body.
fn exchange(conn: &mut BufReader<TcpStream>, request: &str) -> (String, Vec<u8>) {
    conn.get_mut().write_all(request.as_bytes()).expect("write");
    read_message(conn).expect("a response")
}

fn status(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line")
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
        * 1000.0
}

/// An L2 record as the cache writes it around a stored response: flags (bytes value),
/// fresh-until, then the response's magic, version, flags, status and times.
fn record(request_time: f64, response_time: f64) -> Vec<u8> {
    let mut r = vec![8u8];
    r.extend_from_slice(&(now_ms() + 60_000.0).to_le_bytes());
    r.extend_from_slice(b"OLHR");
    r.extend_from_slice(&[1, 0]);
    r.extend_from_slice(&200u16.to_le_bytes());
    r.extend_from_slice(&request_time.to_le_bytes());
    r.extend_from_slice(&response_time.to_le_bytes());
    r.extend_from_slice(&[0; 16]);
    r
}

fn store() -> Arc<ByteCache> {
    let config = CacheConfig {
        max_bytes: 1 << 20,
        shards: 1,
        ..CacheConfig::default()
    };
    Arc::new(ByteCache::new(config).expect("store"))
}

fn form(target: &str, accept: Option<&str>, fresh_for_ms: f64) -> FormInput {
    FormInput {
        target: target.to_owned(),
        accept_encoding: accept.map(str::to_owned),
        l2_key: b"http:r:/page".to_vec(),
        request_time: 1_000.0,
        response_time: 2_000.0,
        fresh_until: now_ms() + fresh_for_ms,
        initial_age_ms: 0.0,
        status: 200,
        head_only: false,
        fields: vec![
            ("content-type".into(), "text/plain".into()),
            ("x-cache".into(), "HIT".into()),
            ("content-length".into(), "5".into()),
        ],
        body: Bytes::from_static(b"hello"),
        etag: Some("\"p1\"".into()),
        // Sun, 06 Nov 1994 08:49:37 GMT
        last_modified_ms: 784_111_777_000.0,
        not_modified_fields: vec![
            ("etag".into(), "\"p1\"".into()),
            ("x-cache".into(), "HIT".into()),
        ],
        vary: Vec::new(),
        vary_index: None,
    }
}

const GET_PAGE: &str = "GET /page HTTP/1.1\r\nhost: x\r\n\r\n";

/// Whether the front answered `GET /page` itself, with the published body.
fn answered_natively(conn: &mut BufReader<TcpStream>) -> bool {
    exchange(conn, GET_PAGE).1 == b"hello"
}

/// Puts the record of a stored `/page` with these times where the published forms point.
fn hold_page(cache: &ByteCache, response_time: f64) {
    cache
        .insert(b"http:r:/page", &record(1_000.0, response_time), None)
        .expect("insert");
}

#[test]
fn relays_with_the_clients_address_in_place_of_a_claimed_one() {
    let gateway = gateway();
    let front = start(gateway.path.clone(), None);
    let mut conn = connect(&front);
    let (head, body) = exchange(
        &mut conn,
        "GET /a?b=1 HTTP/1.1\r\nhost: x\r\nx-optlayer-peer: 6.6.6.6\r\n\r\n",
    );
    assert_eq!(status(&head), 200);
    assert_eq!(
        header(&head, "keep-alive"),
        Some("timeout=5"),
        "the front's own idle limit in place of the gateway connection's"
    );
    let seen = String::from_utf8(body).expect("text");
    assert!(seen.starts_with("GET /a?b=1 HTTP/1.1\r\n"), "{seen}");
    assert_eq!(header(&seen, "x-optlayer-peer"), Some("127.0.0.1"));
    assert!(!seen.contains("6.6.6.6"));
    // A body goes through, and the connection serves the next request.
    let (head, body) = exchange(
        &mut conn,
        "POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nxyz",
    );
    assert_eq!(status(&head), 200);
    assert!(body.ends_with(b"\r\nxyz") || body.ends_with(b"xyz"));
    let stats = front.stats();
    assert_eq!((stats.relayed, stats.hits, stats.relay_failures), (2, 0, 0));
}

#[test]
fn answers_a_published_hit_while_the_store_holds_its_response() {
    let gateway = gateway();
    let cache = store();
    hold_page(&cache, 2_000.0);
    let latencies = Arc::new(Latencies::default());
    let front = start_recording(
        gateway.path.clone(),
        Some(Arc::clone(&cache)),
        latencies.clone(),
    );
    front
        .publish(form("/page", None, 60_000.0))
        .expect("publish");
    front
        .publish(form("/page", Some("gzip"), 60_000.0))
        .expect("publish");
    let mut conn = connect(&front);

    let (head, body) = exchange(
        &mut conn,
        "GET /page HTTP/1.1\r\nhost: x\r\nx-request-id: abc\r\n\r\n",
    );
    assert_eq!(status(&head), 200);
    assert_eq!(body, b"hello");
    assert_eq!(header(&head, "x-cache"), Some("HIT"));
    assert_eq!(header(&head, "x-request-id"), Some("abc"));
    assert_eq!(header(&head, "keep-alive"), Some("timeout=5"));
    let age: u64 = header(&head, "age")
        .expect("age")
        .parse()
        .expect("whole seconds");
    assert!(
        age >= (now_ms() - 2_000.0) as u64 / 1000 - 1,
        "age grows from the response time"
    );
    // HEAD: the GET's fields, no body (the next response follows the head at once).
    conn.get_mut()
        .write_all(b"HEAD /page HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("write");
    let head = read_head(&mut conn).expect("a head");
    assert_eq!(status(&head), 200);
    assert_eq!(header(&head, "content-length"), Some("5"));
    let id = header(&head, "x-request-id").expect("a request id");
    assert_eq!(id.len(), 36, "a new UUID: {id}");
    let (_, body) = exchange(
        &mut conn,
        "GET /page HTTP/1.1\r\nhost: x\r\naccept-encoding: gzip\r\n\r\n",
    );
    assert_eq!(body, b"hello");
    assert_eq!(front.stats().hits, 3);
    // Each native answer's latency recorded; relayed ones are the gateway's to record.
    assert_eq!(latencies.0.load(std::sync::atomic::Ordering::Relaxed), 3);

    // Asked differently, the gateway answers.
    for request in [
        "GET /page HTTP/1.1\r\nhost: x\r\naccept-encoding: br\r\n\r\n",
        "GET /page HTTP/1.1\r\nhost: x\r\ncache-control: no-cache\r\n\r\n",
        "GET /page?x HTTP/1.1\r\nhost: x\r\n\r\n",
        "POST /page HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
    ] {
        let (_, body) = exchange(&mut conn, request);
        assert_ne!(body, b"hello", "{request}");
    }
    assert_eq!(front.stats().hits, 3);

    // The store holding another response (or none) makes the form unusable.
    hold_page(&cache, 3_000.0);
    assert!(!answered_natively(&mut conn));
    hold_page(&cache, 2_000.0);
    assert!(answered_natively(&mut conn));
    cache.remove(b"http:r:/page");
    assert!(!answered_natively(&mut conn));
}

/// Conditions are answered natively by the gateway's rules: for `If-None-Match`, `*` or a tag
/// equal to the stored one by weak comparison gets the 304 and its fields, another tag the
/// full answer; without it, an `If-Modified-Since` at or after the stored date gets the 304.
#[test]
fn conditions_are_answered_with_the_gateways_304() {
    let gateway = gateway();
    let cache = store();
    hold_page(&cache, 2_000.0);
    let front = start(gateway.path.clone(), Some(cache));
    front
        .publish(form("/page", None, 60_000.0))
        .expect("publish");
    let mut conn = connect(&front);
    for tags in ["\"p1\"", "W/\"p1\"", "\"a\", W/\"p1\"", "*", " * "] {
        let request = format!("GET /page HTTP/1.1\r\nhost: x\r\nif-none-match: {tags}\r\n\r\n");
        conn.get_mut().write_all(request.as_bytes()).expect("write");
        let head = read_head(&mut conn).expect("a head");
        assert_eq!(status(&head), 304, "{tags}");
        assert_eq!(header(&head, "etag"), Some("\"p1\""));
        assert_eq!(header(&head, "content-type"), None, "only the 304's fields");
        assert!(header(&head, "age").is_some());
    }
    // Two lines read as one list.
    let (head, _) = exchange(
        &mut conn,
        "GET /page HTTP/1.1\r\nhost: x\r\nif-none-match: \"a\"\r\nif-none-match: \"p1\"\r\n\r\n",
    );
    assert_eq!(status(&head), 304);
    for tags in ["\"p2\"", "p1", "\"p1", "\"p 1\""] {
        let request = format!("GET /page HTTP/1.1\r\nhost: x\r\nif-none-match: {tags}\r\n\r\n");
        let (head, body) = exchange(&mut conn, &request);
        assert_eq!(
            (status(&head), body.as_slice()),
            (200, &b"hello"[..]),
            "{tags}"
        );
    }
    assert_eq!(front.stats().hits, 10);
    // Without If-None-Match, If-Modified-Since: a 304 at or after the stored Last-Modified.
    let since =
        |date: &str| format!("GET /page HTTP/1.1\r\nhost: x\r\nif-modified-since: {date}\r\n\r\n");
    for date in [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Thu, 01 Jan 2099 00:00:00 GMT",
    ] {
        conn.get_mut()
            .write_all(since(date).as_bytes())
            .expect("write");
        assert_eq!(
            status(&read_head(&mut conn).expect("a head")),
            304,
            "{date}"
        );
    }
    let (head, body) = exchange(&mut conn, &since("Sun, 06 Nov 1994 08:49:36 GMT"));
    assert_eq!((status(&head), body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(front.stats().hits, 13);
    // An obsolete form, a malformed date or a repeated field: the gateway's to read.
    for request in [
        since("Sunday, 06-Nov-94 08:49:37 GMT"),
        since("Sun Nov  6 08:49:37 1994"),
        since("Sun, 06 Nov 1994 08:49:37 UTC"),
        since("yesterday"),
        "GET /page HTTP/1.1\r\nhost: x\r\nif-modified-since: Sun, 06 Nov 1994 08:49:37 GMT\r\nif-modified-since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n".into(),
    ] {
        let (_, body) = exchange(&mut conn, &request);
        assert!(String::from_utf8_lossy(&body).starts_with("GET /page"), "{request}");
    }
    assert_eq!(front.stats().hits, 13);
}

#[test]
fn a_stale_form_or_a_closing_front_relays() {
    let gateway = gateway();
    let cache = store();
    hold_page(&cache, 2_000.0);
    let front = start(gateway.path.clone(), Some(cache));
    front.publish(form("/page", None, -1.0)).expect("publish");
    let mut conn = connect(&front);
    assert!(!answered_natively(&mut conn));
    front
        .publish(form("/page", None, 60_000.0))
        .expect("publish");
    assert!(answered_natively(&mut conn));
    front.set_closing();
    assert!(!answered_natively(&mut conn));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let gateway = gateway();
    let front = start(gateway.path.clone(), None);
    let mut conn = connect(&front);
    conn.get_mut()
        .write_all(b"GET /one HTTP/1.1\r\nhost: x\r\n\r\nGET /two HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("write");
    let (_, first) = read_message(&mut conn).expect("first");
    let (_, second) = read_message(&mut conn).expect("second");
    assert!(first.starts_with(b"GET /one "));
    assert!(second.starts_with(b"GET /two "));
}

#[test]
fn malformed_and_oversized_heads_are_refused() {
    let gateway = gateway();
    let front = start(gateway.path.clone(), None);
    let (head, _) = exchange(&mut connect(&front), "GARBAGE\r\n\r\n");
    assert_eq!(status(&head), 400);
    let huge = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let mut conn = connect(&front);
    let _ = conn.get_mut().write_all(huge.as_bytes());
    let (head, _) = read_message(&mut conn).expect("a response");
    assert_eq!(status(&head), 431);
    assert_eq!(front.stats().relayed, 0);
}

#[test]
fn an_unreachable_gateway_is_a_502_in_the_gateways_error_shape() {
    let dir = temp_dir();
    let front = start(dir.0.join("nobody.sock"), None);
    let (head, body) = exchange(&mut connect(&front), "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(status(&head), 502);
    assert!(String::from_utf8(body)
        .expect("json")
        .contains(r#""code":"bad_gateway""#));
    assert_eq!(front.stats().relay_failures, 1);
}

#[test]
fn close_waits_for_nothing_when_idle_and_refuses_new_connections() {
    let gateway = gateway();
    let mut front = start(gateway.path.clone(), None);
    let address = front.local_addr();
    front.close(Duration::from_secs(5));
    assert!(TcpStream::connect(address).is_err());
    front.close(Duration::from_secs(5));
}

/// Request heads mangled at random (bytes flipped, line breaks and separators thrown in,
/// cut short) get an answer or a closed connection, never a crash or a hang, and the
/// front goes on serving.
#[test]
fn mangled_request_heads_are_answered_or_closed() {
    let gateway = gateway();
    let front = start(gateway.path.clone(), Some(store()));
    let valid =
        b"GET /page?x=1 HTTP/1.1\r\nhost: x\r\naccept-encoding: gzip\r\nx-request-id: r1\r\n\r\n";
    let noise = [b'\r', b'\n', b':', b' ', 0, 0xff, b'/', b'%', b'\t', b'H'];
    // A fixed xorshift sequence: the same cases every run.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..200 {
        let mut bytes = valid.to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % bytes.len();
            match next() % 3 {
                0 => bytes[at] = noise[(next() as usize) % noise.len()],
                1 => bytes.insert(at, noise[(next() as usize) % noise.len()]),
                _ => bytes.truncate(at.max(1)),
            }
        }
        let mut stream = TcpStream::connect(front.local_addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let _ = stream.write_all(&bytes);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        // Ends with the connection closing; a timeout here is a hang, and fails the test.
        std::io::Read::read_to_end(&mut stream, &mut answer).expect("the front answers or closes");
    }
    let (head, _) = exchange(
        &mut connect(&front),
        "GET /after HTTP/1.1\r\nhost: x\r\n\r\n",
    );
    assert_eq!(status(&head), 200);
    assert_eq!(front.stats().panics, 0);
}

/// A client that starts a request head and stalls (slowloris) is cut off once the head
/// timeout passes, and keeps nothing of the front's.
#[test]
fn a_stalled_request_head_is_cut_off() {
    let gateway = gateway();
    let mut config = FrontConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), gateway.path.clone());
    config.headers_timeout = Duration::from_millis(200);
    let front = Front::start(config, Backing::default()).expect("start");
    let mut stream = TcpStream::connect(front.local_addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
        .expect("write");
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut answer).expect("closed, not timed out");
    assert!(started.elapsed() < Duration::from_secs(5));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while front.stats().open_connections > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(front.stats().open_connections, 0);
}

/// Whether the front has closed `conn` (a read ends) within `within`.
fn closed_within(conn: &mut BufReader<TcpStream>, within: Duration) -> bool {
    conn.get_ref()
        .set_read_timeout(Some(within))
        .expect("timeout");
    let mut byte = [0u8; 1];
    let closed = matches!(std::io::Read::read(conn, &mut byte), Ok(0));
    conn.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    closed
}

/// The head limit runs from a request's first byte; a kept-alive connection waiting for its
/// next request has the (longer) idle limit, and is closed once that passes.
#[test]
fn an_idle_connection_has_its_own_limit_apart_from_the_heads() {
    let gateway = gateway();
    let mut config = FrontConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), gateway.path.clone());
    config.headers_timeout = Duration::from_millis(300);
    config.idle_timeout = Duration::from_millis(1500);
    let front = Front::start(config, Backing::default()).expect("start");
    let mut conn = connect(&front);
    let (head, _) = exchange(&mut conn, GET_PAGE);
    assert_eq!(header(&head, "keep-alive"), Some("timeout=1"));
    // Idle past the head limit: the connection still serves.
    assert!(!closed_within(&mut conn, Duration::from_millis(800)));
    assert_eq!(status(&exchange(&mut conn, GET_PAGE).0), 200);
    // A head begun and stalled is cut at the head limit, long before the idle one.
    conn.get_mut()
        .write_all(b"GET /page HTTP/1.1\r\n")
        .expect("write");
    let started = std::time::Instant::now();
    assert!(closed_within(&mut conn, Duration::from_secs(5)));
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    // Left idle, a connection is closed at the idle limit.
    let mut idle = connect(&front);
    assert_eq!(status(&exchange(&mut idle, GET_PAGE).0), 200);
    let started = std::time::Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(5)));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

/// A sink that panics on every record: a fault inside a connection's task.
struct Panicking;

impl LatencySink for Panicking {
    fn record(&self, _: Duration) {
        panic!("injected fault");
    }
}

/// A panic in a connection's task closes that connection and is counted; the front goes on.
#[test]
fn a_panic_in_a_connection_is_contained_and_counted() {
    let gateway = gateway();
    let cache = store();
    hold_page(&cache, 2_000.0);
    let front = start_recording(gateway.path.clone(), Some(cache), Arc::new(Panicking));
    front
        .publish(form("/page", None, 60_000.0))
        .expect("publish");
    let mut conn = connect(&front);
    conn.get_mut()
        .write_all(b"GET /page HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("write");
    let mut answer = Vec::new();
    std::io::Read::read_to_end(&mut conn, &mut answer).expect("closed");
    assert!(answer.is_empty(), "no answer from the failed task");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while front.stats().panics == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(front.stats().panics, 1);
    let mut after = connect(&front);
    let (head, _) = exchange(&mut after, "GET /other HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(status(&head), 200);
    // The failed connection's count went with it; only `after` is open.
    assert_eq!(front.stats().open_connections, 1);
}

/// A layer result's L2 record: flags (none: a value), fresh-until, the serialized value.
fn result_record(value: &[u8], fresh_for_ms: f64) -> Vec<u8> {
    let mut r = vec![0u8];
    r.extend_from_slice(&(now_ms() + fresh_for_ms).to_le_bytes());
    r.extend_from_slice(value);
    r
}

const RESULT_KEY: &[u8] = b"alice:digest";

/// Decides every request as `.1` says, recording the keys asked for.
struct Limiter(std::sync::Mutex<Vec<Vec<u8>>>, bool);

impl optlayer_front::Limiter for Limiter {
    fn decide(
        &self,
        key: &[u8],
    ) -> Result<optlayer_ratelimit::Decision, optlayer_ratelimit::LimitError> {
        self.0.lock().expect("lock").push(key.to_vec());
        Ok(optlayer_ratelimit::Decision {
            allowed: self.1,
            remaining: 0,
            retry_after_ms: 1500,
            reset_ms: 2000,
        })
    }
}

/// A front answering `/process` from `store`, relaying to `upstream`.
fn start_process(
    upstream: PathBuf,
    store: Arc<ByteCache>,
    quota: Option<optlayer_front::Quota>,
    headers_timeout: Duration,
) -> Front {
    let mut config = FrontConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), upstream);
    config.headers_timeout = headers_timeout;
    let process = ProcessBacking {
        path: "/process".into(),
        user_header: http::HeaderName::from_static("x-user-key"),
        store,
        quota,
        max_body_bytes: 64,
    };
    let backing = Backing {
        process: Some(process),
        ..Backing::default()
    };
    Front::start(config, backing).expect("start")
}

fn process_form(user: &str, record: Vec<u8>) -> ProcessFormInput {
    ProcessFormInput {
        user: user.as_bytes().to_vec(),
        content_type: Some(b"application/json".to_vec()),
        accept: None,
        accept_encoding: None,
        body: Bytes::from_static(br#"{"x":1}"#),
        l2_key: RESULT_KEY.to_vec(),
        record,
        fields: vec![
            ("content-type".into(), "application/json".into()),
            ("content-length".into(), "7".into()),
            ("vary".into(), "Accept, Accept-Encoding".into()),
        ],
        response: Bytes::from_static(br#"{"y":2}"#),
    }
}

fn post_process(extra: &str, body: &str) -> String {
    format!(
        "POST /process HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn answers_a_published_process_result_while_its_record_holds() {
    let gateway = gateway();
    let cache = store();
    let held = result_record(b"stored value", 60_000.0);
    cache.insert(RESULT_KEY, &held, None).expect("insert");
    let front = start_process(
        gateway.path.clone(),
        Arc::clone(&cache),
        None,
        Duration::from_secs(60),
    );
    let mut conn = connect(&front);
    let alice = post_process("x-user-key: alice\r\n", r#"{"x":1}"#);

    // Nothing published: relayed unread, the body whole.
    let (_, seen) = exchange(&mut conn, &alice);
    assert!(seen.ends_with(br#"{"x":1}"#));
    assert_eq!(front.process_record(RESULT_KEY), Some(held.clone()));
    front
        .publish_process(process_form("alice", held.clone()))
        .expect("publish");
    front
        .publish_process(process_form("127.0.0.1", held.clone()))
        .expect("publish");

    let (head, body) = exchange(&mut conn, &alice);
    assert_eq!(status(&head), 200);
    assert_eq!(body, br#"{"y":2}"#);
    assert_eq!(header(&head, "vary"), Some("Accept, Accept-Encoding"));
    assert_eq!(header(&head, "x-request-id").map(str::len), Some(36));
    // Without the field, the user is the client address.
    let (_, body) = exchange(&mut conn, &post_process("", r#"{"x":1}"#));
    assert_eq!(body, br#"{"y":2}"#);
    assert_eq!(front.stats().process_hits, 2);

    // Anything the layer reads differing: relayed, with the body the front read first.
    for request in [
        post_process("x-user-key: bob\r\n", r#"{"x":1}"#),
        post_process("x-user-key: alice\r\n", r#"{"x":2}"#),
        post_process("x-user-key: alice\r\naccept: application/msgpack\r\n", r#"{"x":1}"#),
        post_process("x-user-key: alice\r\naccept-encoding: gzip\r\n", r#"{"x":1}"#),
        post_process("x-user-key: alice\r\nx-user-key: alice\r\n", r#"{"x":1}"#),
        post_process("x-user-key: alice\r\n", &"y".repeat(65)),
        "POST /process HTTP/1.1\r\nhost: x\r\nx-user-key: alice\r\ntransfer-encoding: chunked\r\n\r\n7\r\n{\"x\":1}\r\n0\r\n\r\n".into(),
    ] {
        let (head, seen) = exchange(&mut conn, &request);
        assert_eq!(status(&head), 200, "{request}");
        assert_ne!(seen, br#"{"y":2}"#, "{request}");
        assert!(String::from_utf8_lossy(&seen).contains("POST /process"), "{request}");
    }
    let (_, seen) = exchange(
        &mut conn,
        &post_process("x-user-key: alice\r\n", r#"{"x":2}"#),
    );
    assert!(seen.ends_with(br#"{"x":2}"#), "the read body relayed whole");
    assert_eq!(front.stats().process_hits, 2);

    // The record replaced (a new value, a refresh) or gone: the layer answers again.
    cache
        .insert(RESULT_KEY, &result_record(b"stored value", 60_000.0), None)
        .expect("insert");
    assert_ne!(exchange(&mut conn, &alice).1, br#"{"y":2}"#);
    cache.insert(RESULT_KEY, &held, None).expect("insert");
    assert_eq!(exchange(&mut conn, &alice).1, br#"{"y":2}"#);
    cache.remove(RESULT_KEY);
    assert_ne!(exchange(&mut conn, &alice).1, br#"{"y":2}"#);
    // A record past its fresh-until is not answered either.
    let expired = result_record(b"stored value", -1.0);
    cache.insert(RESULT_KEY, &expired, None).expect("insert");
    front
        .publish_process(process_form("alice", expired))
        .expect("publish");
    assert_ne!(exchange(&mut conn, &alice).1, br#"{"y":2}"#);
    assert_eq!(front.stats().process_hits, 3);
}

#[test]
fn a_process_result_is_limited_by_the_layers_quota_per_user() {
    let gateway = gateway();
    let cache = store();
    let held = result_record(b"v", 60_000.0);
    cache.insert(RESULT_KEY, &held, None).expect("insert");
    let limiter = Arc::new(Limiter(std::sync::Mutex::new(Vec::new()), false));
    let quota = optlayer_front::Quota {
        limiter: limiter.clone(),
        limit: 5,
    };
    let front = start_process(
        gateway.path.clone(),
        cache,
        Some(quota),
        Duration::from_secs(60),
    );
    front
        .publish_process(process_form("alice", held))
        .expect("publish");
    let mut conn = connect(&front);
    let (head, body) = exchange(
        &mut conn,
        &post_process("x-user-key: alice\r\nx-request-id: r-1\r\n", r#"{"x":1}"#),
    );
    assert_eq!(status(&head), 429);
    assert_eq!(header(&head, "retry-after"), Some("2"));
    assert_eq!(header(&head, "ratelimit-limit"), Some("5"));
    assert_eq!(header(&head, "x-request-id"), Some("r-1"));
    assert!(String::from_utf8_lossy(&body).contains("too_many_requests"));
    let utf16: Vec<u8> = "alice".encode_utf16().flat_map(u16::to_ne_bytes).collect();
    assert_eq!(*limiter.0.lock().expect("lock"), vec![utf16]);
    assert_eq!(front.stats().process_limited, 1);
}

/// A body slower than the head timeout is not waited for: what arrived goes to the gateway
/// ahead of the rest.
#[test]
fn a_slow_process_body_is_relayed_as_it_comes() {
    let gateway = gateway();
    let cache = store();
    let held = result_record(b"v", 60_000.0);
    cache.insert(RESULT_KEY, &held, None).expect("insert");
    let front = start_process(
        gateway.path.clone(),
        cache,
        None,
        Duration::from_millis(200),
    );
    front
        .publish_process(process_form("alice", held))
        .expect("publish");
    let mut conn = connect(&front);
    let request = post_process("x-user-key: alice\r\n", r#"{"x":1}"#);
    let (first, last) = request.split_at(request.len() - 3);
    conn.get_mut().write_all(first.as_bytes()).expect("write");
    std::thread::sleep(Duration::from_millis(400));
    conn.get_mut().write_all(last.as_bytes()).expect("write");
    let (head, seen) = read_message(&mut conn).expect("a response");
    assert_eq!(status(&head), 200);
    assert!(
        seen.ends_with(br#"{"x":1}"#),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    assert_eq!(front.stats().process_hits, 0);
}

#[test]
fn a_front_without_a_process_path_refuses_its_answers() {
    let gateway = gateway();
    let front = start(gateway.path.clone(), None);
    assert!(front
        .publish_process(process_form("alice", result_record(b"v", 1e3)))
        .is_err());
    assert_eq!(front.process_record(RESULT_KEY), None);
}
