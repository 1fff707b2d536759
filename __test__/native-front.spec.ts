import { once } from 'node:events'
import { connect, createServer, type AddressInfo } from 'node:net'
import { createGzip } from 'node:zlib'

import test, { type ExecutionContext } from 'ava'

import {
  ConfigError,
  configFromEnv,
  type GatewayOptions,
  InvalidArgumentError,
  NativeFront,
  serveGateway,
  type ServedGateway,
} from 'optlayer'

import { listen, send, type Reply, type TestServer } from './helpers/gateway'
import { waitFor } from './helpers/wait'

/**
 * The backend's `/slow/<group>` requests by group: how many arrived, and the answers of those not answered yet. Specs
 * run concurrently, so each holds and releases a group of its own.
 */
const slowGroups = new Map<string, SlowGroup>()

interface SlowGroup {
  arrivals: number
  held: (() => void)[]
}

function slowGroup(group: string): SlowGroup {
  let found = slowGroups.get(group)
  if (found === undefined) {
    found = { arrivals: 0, held: [] }
    slowGroups.set(group, found)
  }
  return found
}

/** How many `/slow/<group>` requests the backend has received. */
function slowArrivals(group: string): number {
  return slowGroup(group).arrivals
}

/** Answers the `/slow/<group>` requests held so far: the spec decides when, whatever the machine's load. */
function releaseSlow(group: string): void {
  for (const answer of slowGroup(group).held.splice(0)) answer()
}

/** A backend with a cacheable page, a large compressible one, one never stored and an echo of what it was sent. */
async function backend(): Promise<TestServer> {
  const large = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}` })) })
  return listen((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
    if (path === '/page') {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60', etag: '"p1"' })
      return res.end('a cached page')
    }
    if (path === '/varies') {
      const language = req.headers['accept-language'] ?? 'none'
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60', vary: 'Accept-Language' })
      return res.end(`in ${language}`)
    }
    if (path === '/large') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' })
      return res.end(large)
    }
    if (path === '/short') {
      // Three seconds: Date's whole seconds can age a response by up to one on arrival.
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=3' })
      return res.end(`short ${Date.now()}`)
    }
    if (path === '/no-store') {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
      return res.end('fresh every time')
    }
    if (path.startsWith('/slow/')) {
      const group = slowGroup(path.slice('/slow/'.length))
      group.arrivals++
      group.held.push(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('slow'))
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      res.writeHead(path === '/missing' ? 404 : 200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          body: Buffer.concat(chunks).toString(),
          realIp: req.headers['x-real-ip'],
          forwardedFor: req.headers['x-forwarded-for'],
          peerField: req.headers['x-optlayer-peer'] ?? null,
        }),
      )
    })
  })
}

async function serve(
  upstream: string,
  env: Record<string, string>,
  gateway: Partial<GatewayOptions> = {},
): Promise<ServedGateway> {
  const config = configFromEnv({ PORT: '0', HOST: '127.0.0.1', ADMIN_PORT: '0', ...env })
  return serveGateway({
    ...config,
    gateway: {
      backends: [{ url: upstream }],
      trustedProxies: config.gateway.trustedProxies.map((network) => `${network.address}/${network.prefix}`),
      ...gateway,
    },
    nativeFront: config.gateway.nativeFront,
    server: { log: () => {} },
  })
}

/** A backend, and the gateway in front of it twice: on its own `node:http` listener and behind the native front. */
async function bothFronts(
  t: ExecutionContext,
  env: Record<string, string> = {},
  gateway: Partial<GatewayOptions> = {},
): Promise<{ plain: ServedGateway; fronted: ServedGateway }> {
  const upstream = await backend()
  t.teardown(() => upstream.close())
  const plain = await serve(upstream.url, env, gateway)
  t.teardown(() => plain.close())
  const fronted = await serve(upstream.url, { ...env, NATIVE_FRONT: 'true' }, gateway)
  t.teardown(() => fronted.close())
  return { plain, fronted }
}

/** What must agree between the two fronts (date, age, request id and connection fields may differ). */
function comparable(reply: Reply): unknown {
  const h = reply.headers
  const fields = [
    'content-type',
    'content-encoding',
    'content-length',
    'cache-control',
    'etag',
    'vary',
    'x-cache',
    'via',
  ]
  return { status: reply.status, fields: Object.fromEntries(fields.map((name) => [name, h[name]])), body: reply.body }
}

test('native front: the same answers as the node:http listener, request for request, hits answered natively', async (t) => {
  const { plain, fronted } = await bothFronts(t)
  const front = fronted.server.nativeFront
  if (front === undefined) return t.fail('no native front')

  const gzip = { 'accept-encoding': 'gzip' }
  const steps: Array<[string, { method?: string; headers?: Record<string, string>; body?: string }]> = [
    ['/page', {}],
    ['/page', {}],
    ['/page', {}],
    ['/page', { method: 'HEAD' }],
    ['/page', { headers: { 'if-none-match': '"p1"' } }],
    ['/page', { headers: { 'if-none-match': 'W/"p1"' } }],
    ['/page', { headers: { 'if-none-match': '"other", "p1"' } }],
    ['/page', { headers: { 'if-none-match': '"other"' } }],
    ['/page', { headers: { 'if-none-match': '*' } }],
    ['/page', { method: 'HEAD', headers: { 'if-none-match': '"p1"' } }],
    ['/page', { headers: { 'if-modified-since': new Date(Date.now() + 3_600_000).toUTCString() } }],
    ['/page', { headers: { 'if-modified-since': new Date(86_400_000).toUTCString() } }],
    ['/page', { headers: { 'if-modified-since': 'Friday, 02-Jan-70 00:00:00 GMT' } }],
    ['/page', { headers: { 'cache-control': 'no-cache' } }],
    ['/large', { headers: gzip }],
    ['/large', { headers: gzip }],
    ['/large', { headers: gzip }],
    ['/large', { headers: gzip }],
    ['/large', {}],
    ['/large', {}],
    ['/no-store', {}],
    ['/no-store', {}],
    ['/echo', { method: 'POST', body: 'posted' }],
    ['/missing', {}],
    ['/ready', {}],
  ]
  for (const [path, options] of steps) {
    const a = await send(`${plain.url.origin}${path}`, options)
    const b = await send(`${fronted.url.origin}${path}`, options)
    t.deepEqual(
      comparable(b),
      comparable(a),
      `${options.method ?? 'GET'} ${path} ${JSON.stringify(options.headers ?? {})}`,
    )
    t.regex(String(b.headers['x-request-id']), /^[\x21-\x7e]+$/)
  }
  const stats = front.stats()
  // At least /page's third request, the HEAD, the six If-None-Match ones and the two
  // If-Modified-Since ones in IMF-fixdate form; /large's depend on when its gzip form was stored.
  t.true(stats.hits >= 10, `${stats.hits} native hits`)
  t.is(stats.relayFailures, 0)
  t.deepEqual(fronted.gateway.stats().requests, plain.gateway.stats().requests, JSON.stringify(stats))
  // The no-cache request revalidated /page, storing it anew, and the gateway published the
  // new response as it stored it: the front answers the next request.
  const native = await send(`${fronted.url.origin}/page`)
  t.is(native.headers['x-cache'], 'HIT')
  t.regex(String(native.headers.age), /^\d+$/)
  t.is(front.stats().hits, stats.hits + 1)
  // Cleared, the front relays /page once more; the gateway publishes it again as it answers.
  front.clear()
  t.is((await send(`${fronted.url.origin}/page`)).headers['x-cache'], 'HIT')
  t.is(front.stats().hits, stats.hits + 1)
  t.is((await send(`${fronted.url.origin}/page`)).headers['x-cache'], 'HIT')
  t.is(front.stats().hits, stats.hits + 2)
  const metrics = (await send(`${fronted.server.adminUrl!.origin}/metrics`)).body.toString()
  t.true(metrics.includes(`optlayer_front_hits_total{port="${front.port}"} ${stats.hits + 2}`), metrics)
  t.regex(metrics, /optlayer_front_relayed_total\{port="\d+"\} \d+/)
  // The front's answers are the server's requests too: counted, and timed in the histogram.
  const served = fronted.server.metrics.getSystemMetrics().requests.total
  const relayed = front.stats().relayed
  t.true(served >= relayed + front.stats().hits, `${served} requests, ${relayed} relayed`)
  t.true(fronted.server.metrics.requestLatency.ok.snapshot().count >= front.stats().hits)
})

test('native front: a response that varies is answered natively per value of the fields it varies on', async (t) => {
  const { plain, fronted } = await bothFronts(t)
  const french = { 'accept-language': 'fr' }
  const steps: Array<Record<string, string | string[]>> = [
    french,
    french,
    french,
    {},
    {},
    {},
    { 'accept-language': 'de' },
  ]
  steps.push(french, { 'accept-language': ['fr', 'fr'] }, { 'if-none-match': '"none"', ...french })
  for (const headers of steps) {
    const a = await send(`${plain.url.origin}/varies`, { headers })
    const b = await send(`${fronted.url.origin}/varies`, { headers })
    t.deepEqual(comparable(b), comparable(a), JSON.stringify(headers))
  }
  // The third French request, the third without the field and the later French ones.
  t.true((fronted.server.nativeFront?.stats().hits ?? 0) >= 3)
  t.deepEqual(fronted.gateway.stats().requests, plain.gateway.stats().requests)
  t.is((await send(`${fronted.url.origin}/varies`, { headers: french })).body.toString(), 'in fr')
  t.is((await send(`${fronted.url.origin}/varies`)).body.toString(), 'in none')
})

test('native front: the gateway sees the client address; a claimed one is ignored and never forwarded', async (t) => {
  const upstream = await backend()
  t.teardown(() => upstream.close())
  for (const env of [{ NATIVE_FRONT: 'true' }, {}] as Record<string, string>[]) {
    const served = await serve(upstream.url, env)
    t.teardown(() => served.close())
    const echo = (await send(`${served.url.origin}/echo`, { headers: { 'x-optlayer-peer': '6.6.6.6' } })).json()
    t.is(echo.realIp, '127.0.0.1', JSON.stringify(env))
    t.is(echo.forwardedFor, '127.0.0.1')
    t.is(echo.peerField, null)
  }
})

test('native front: a fresh entry that went stale goes back to the gateway', async (t) => {
  const upstream = await backend()
  t.teardown(() => upstream.close())
  const served = await serve(upstream.url, { NATIVE_FRONT: 'true' })
  t.teardown(() => served.close())
  const url = `${served.url.origin}/short`
  const first = await send(url)
  // Published as it is stored, which may come just after the answer.
  await waitFor('the response to be published', () => (served.server.nativeFront?.stats().forms ?? 0) > 0)
  t.is((await send(url)).body.toString(), first.body.toString())
  t.is((await send(url)).body.toString(), first.body.toString())
  t.is(served.server.nativeFront?.stats().hits, 2)
  await new Promise((resolve) => setTimeout(resolve, 4100))
  const later = await send(url)
  t.not(later.body.toString(), first.body.toString())
  t.is(later.headers['x-cache'], 'MISS')
})

test("native front: the rate limit holds on its hits, with the gateway's counts, fields and 429", async (t) => {
  const { plain, fronted } = await bothFronts(t, { RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_TYPE: 'sliding-log' })
  const limitFields = (reply: Reply): unknown => ({
    status: reply.status,
    limit: reply.headers['ratelimit-limit'],
    remaining: reply.headers['ratelimit-remaining'],
    // Whole seconds of a time measured from each limiter's own first request: ±1.
    retrying: reply.headers['retry-after'] !== undefined,
    type: reply.headers['content-type'],
    error: reply.status === 429 ? reply.json().error : undefined,
  })
  let firstPairMs = 0
  for (let i = 0; i < 7; i++) {
    const pairStarted = performance.now()
    const a = await send(`${plain.url.origin}/page`)
    const b = await send(`${fronted.url.origin}/page`)
    const pairMs = performance.now() - pairStarted
    if (i === 0) firstPairMs = pairMs
    t.deepEqual(limitFields(b), limitFields(a), `request ${i + 1}`)
    // Each window runs from its limiter's first request: the two differ by at most how far apart the
    // requests of the first pair and of this one were, on a loaded machine more than a second.
    const slackS = 1 + Math.ceil((firstPairMs + pairMs) / 1000)
    const apartS = Math.abs(Number(b.headers['retry-after'] ?? 0) - Number(a.headers['retry-after'] ?? 0))
    t.true(apartS <= slackS, `Retry-After ${apartS} s apart, at most ${slackS}`)
  }
  // Another API key is another count, answered by the front at once (the hit is published).
  const keyed = await send(`${fronted.url.origin}/page`, { headers: { 'x-api-key': 'k1' } })
  t.is(keyed.status, 200)
  t.is(keyed.headers['ratelimit-remaining'], '4')
  const stats = fronted.server.nativeFront?.stats()
  t.true((stats?.hits ?? 0) >= 3, JSON.stringify(stats))
  t.true((stats?.limited ?? 0) >= 1, JSON.stringify(stats))
  const counts = (served: ServedGateway) => {
    const { hit, miss, limited } = served.gateway.stats().requests
    return { hit, miss, limited }
  }
  t.deepEqual(counts(fronted), { ...counts(plain), hit: counts(plain).hit + 1 })
})

test('native front: behind trusted proxies, or with a limiter deciding elsewhere, the gateway answers every request', async (t) => {
  const upstream = await backend()
  t.teardown(() => upstream.close())
  const proxied = await serve(upstream.url, {
    NATIVE_FRONT: 'true',
    RATE_LIMIT_PER_MINUTE: '2',
    RATE_LIMIT_TYPE: 'sliding-log',
    TRUSTED_PROXIES: '127.0.0.0/8',
  })
  t.teardown(() => proxied.close())
  // Each client behind the proxy has its own count: the gateway walks X-Forwarded-For.
  for (const client of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) {
    for (let i = 0; i < 2; i++) {
      const reply = await send(`${proxied.url.origin}/page`, { headers: { 'x-forwarded-for': client } })
      t.is(reply.status, 200, client)
    }
  }
  t.is((await send(`${proxied.url.origin}/page`, { headers: { 'x-forwarded-for': '10.0.0.1' } })).status, 429)
  t.is(proxied.server.nativeFront?.stats().hits, 0)
  const adaptive = await serve(upstream.url, {
    NATIVE_FRONT: 'true',
    RATE_LIMIT_PER_MINUTE: '100',
    RATE_LIMIT_ADAPTIVE: 'true',
  })
  t.teardown(() => adaptive.close())
  for (let i = 0; i < 4; i++) t.is((await send(`${adaptive.url.origin}/page`)).status, 200)
  t.is(adaptive.server.nativeFront?.stats().hits, 0)
})

test("native front: past the gateway's bound on requests in flight it refuses natively with the gateway's 503; probes still answer", async (t) => {
  const { plain, fronted } = await bothFronts(t, {}, { maxInFlight: 2, retryAfterMs: 2_500 })
  const refusal = (reply: Reply): unknown => ({
    ...(comparable(reply) as object),
    retryAfter: reply.headers['retry-after'],
    requestId: reply.headers['x-request-id'],
  })
  const answers = []
  for (const served of [plain, fronted]) {
    const before = slowArrivals('bound')
    // Two targets: the gateway sends concurrent misses of one target upstream once.
    const busy = [send(`${served.url.origin}/slow/bound?a`), send(`${served.url.origin}/slow/bound?b`)]
    await waitFor('both slow requests at the backend', () => slowArrivals('bound') >= before + 2)
    const refused = await send(`${served.url.origin}/no-store`, { headers: { 'x-request-id': 'over-1' } })
    t.is(refused.status, 503, served === plain ? 'node:http' : 'native front')
    t.deepEqual(refused.json(), { error: { code: 'overloaded', message: 'too many requests in flight; retry later' } })
    t.is((await send(`${served.url.origin}/health`)).status, 200, 'a probe is never refused')
    releaseSlow('bound')
    t.deepEqual(
      (await Promise.all(busy)).map((reply) => reply.status),
      [200, 200],
    )
    t.is((await send(`${served.url.origin}/no-store`)).status, 200, 'admitted again once the slow ones finished')
    t.is(served.gateway.stats().requests.shed, 1)
    answers.push(refusal(refused))
  }
  t.deepEqual(answers[1], answers[0])
  t.like(answers[0], { retryAfter: '3', requestId: 'over-1' })
  t.like(fronted.server.nativeFront?.stats(), { shed: 1 })
  const metrics = await (await fetch(`${fronted.server.adminUrl?.origin}/metrics`)).text()
  t.regex(metrics, /optlayer_front_shed_total\{port="\d+"\} 1\b/)
})

test('native front: with a latency tolerance its bound comes down under a queue and returns once the queue clears', async (t) => {
  // One request at a time, 3 ms each: latency grows with what waits in flight, as on a saturated gateway.
  let queue = Promise.resolve()
  const upstream = await listen((_req, res) => {
    queue = queue.then(
      () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            res.writeHead(200, { 'cache-control': 'no-store' }).end('ok')
            resolve()
          }, 3),
        ),
    )
  })
  t.teardown(() => upstream.close())
  const served = await serve(upstream.url, { NATIVE_FRONT: 'true' }, { maxInFlight: 32, latencyTolerancePercent: 100 })
  t.teardown(() => served.close())
  const bound = (): number => served.server.nativeFront?.stats().inFlightLimit ?? NaN
  t.is(bound(), 32, 'it starts at the ceiling')

  // Past the ceiling, so the front refuses, measures the unqueued latency and lowers the bound.
  const statuses = new Map<number, number>()
  let calling = true
  const caller = async (): Promise<void> => {
    while (calling) {
      const { status } = await send(`${served.url.origin}/queued`)
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
    }
  }
  const callers = Array.from({ length: 64 }, caller)
  await waitFor('the bound to come down', () => bound() < 16, 30_000)
  calling = false
  await Promise.all(callers)
  t.deepEqual([...statuses.keys()].sort(), [200, 503], 'served and refused, nothing else')

  // One caller: latency is the unqueued figure again, and the bound climbs back to the ceiling.
  await waitFor(
    'the bound to return to the ceiling',
    async () => (await send(`${served.url.origin}/queued`)).status === 200 && bound() === 32,
    30_000,
    0,
  )
  const metrics = await (await fetch(`${served.server.adminUrl?.origin}/metrics`)).text()
  t.regex(metrics, /optlayer_front_in_flight_limit\{port="\d+"\} 32\b/)
})

test('native front: close lets a relayed request in flight finish, then refuses connections', async (t) => {
  const upstream = await backend()
  t.teardown(() => upstream.close())
  const served = await serve(upstream.url, { NATIVE_FRONT: 'true' })
  const url = served.url.origin
  const before = slowArrivals('close')
  const inFlight = send(`${url}/slow/close`)
  // Closed once the request is with the backend (a closing gateway refuses new ones: 503).
  await waitFor('the request to reach the backend', () => slowArrivals('close') > before)
  const closing = served.close()
  releaseSlow('close')
  await closing
  const reply = await inFlight
  t.is(reply.status, 200)
  t.is(reply.body.toString(), 'slow')
  await t.throwsAsync(send(`${url}/page`))
})

test('native front: streams a large upload and download through both hops', async (t) => {
  const size = 8 * 1024 * 1024
  const upstream = await listen((req, res) => {
    let received = 0
    req.on('data', (chunk: Buffer) => (received += chunk.length))
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-received': String(received) })
      const gzip = createGzip({ level: 1 })
      gzip.pipe(res)
      gzip.end(Buffer.alloc(size, 7))
    })
  })
  t.teardown(() => upstream.close())
  const served = await serve(upstream.url, { NATIVE_FRONT: 'true' })
  t.teardown(() => served.close())
  const reply = await send(`${served.url.origin}/upload`, { method: 'PUT', body: Buffer.alloc(size, 1) })
  t.is(reply.status, 200)
  t.is(reply.headers['x-received'], String(size))
  t.true(reply.body.length > 0)
})

test('native front: Expect: 100-continue and a chunked body reach the gateway whole', async (t) => {
  const upstream = await backend()
  t.teardown(() => upstream.close())
  const served = await serve(upstream.url, { NATIVE_FRONT: 'true' })
  t.teardown(() => served.close())
  const socket = connect(Number(served.url.port), '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  let received = ''
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
  socket.write('POST /echo HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ntransfer-encoding: chunked\r\n\r\n')
  await waitFor('100 Continue', () => received.startsWith('HTTP/1.1 100 Continue\r\n'))
  socket.write('5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n')
  await waitFor('the answer', () => received.includes('"method":"POST"'))
  const json = received.slice(received.indexOf('{'))
  t.regex(received, /HTTP\/1\.1 200 OK\r\n/)
  t.is(JSON.parse(json.slice(0, json.lastIndexOf('}') + 1)).body, 'hello world')
})

test('native front: HTTP_MAX_HEADER_SIZE and HTTP_HEADERS_TIMEOUT_MS hold on it; a malformed chunked body is a 400', async (t) => {
  const upstream = await backend()
  t.teardown(() => upstream.close())
  const served = await serve(upstream.url, {
    NATIVE_FRONT: 'true',
    HTTP_HEADERS_TIMEOUT_MS: '500',
    HTTP_MAX_HEADER_SIZE: '8192',
  })
  t.teardown(() => served.close())
  const port = Number(served.url.port)
  const open = async (): Promise<{
    socket: ReturnType<typeof connect>
    received: () => string
    startedAt: number
  }> => {
    // Before connecting: the front times the head from its accept, which a busy event loop hears of late.
    const startedAt = performance.now()
    const socket = connect(port, '127.0.0.1')
    t.teardown(() => socket.destroy())
    await once(socket, 'connect')
    let text = ''
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')))
    return { socket, received: () => text, startedAt }
  }
  // Past HTTP_MAX_HEADER_SIZE (the front's own default is 16 KiB).
  t.is((await send(`${served.url.origin}/page`, { headers: { 'x-big': 'a'.repeat(10_000) } })).status, 431)
  // A head still arriving after HTTP_HEADERS_TIMEOUT_MS is cut (the front's own default is 60 s).
  const slow = await open()
  slow.socket.write('GET /page HTTP/1.1\r\nhost: x\r\n')
  await once(slow.socket, 'close')
  const elapsedMs = performance.now() - slow.startedAt
  t.true(elapsedMs >= 400 && elapsedMs < 5_000, `cut after ${elapsedMs} ms`)
  // The client's body failing while it is relayed is the client's fault: 400, not 502.
  const chunked = await open()
  chunked.socket.write('POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n')
  await waitFor('the answer', () => chunked.received().includes('}'))
  t.regex(chunked.received(), /^HTTP\/1\.1 400 /)
  t.regex(chunked.received(), /"code":"bad_request"/)
})

test('native front: the default puts it in wherever it can serve, else node:http serves alone', (t) => {
  const front = (env: Record<string, string>) => configFromEnv(env).gateway.nativeFront
  t.deepEqual(front({}), { threads: 1 })
  t.deepEqual(front({ NATIVE_FRONT: 'auto', NATIVE_FRONT_THREADS: '2', HOST: '::' }), { threads: 2 })
  t.deepEqual(front({ WORKERS: '2', PORT: '8080' }), { threads: 1 })
  // A host name, a head buffer smaller than the front's, workers sharing an ephemeral port.
  t.is(front({ HOST: 'localhost' }), false)
  t.is(front({ HTTP_MAX_HEADER_SIZE: '4096' }), false)
  t.is(front({ WORKERS: '2', PORT: '0' }), false)
  t.deepEqual(front({ NATIVE_FRONT: 'true', WORKERS: '2', PORT: '0' }), { threads: 1 })
  // The boolean spellings it had stay valid.
  for (const off of ['false', 'FALSE', '0']) t.is(front({ NATIVE_FRONT: off }), false, off)
  for (const on of ['true', 'True', '1']) t.deepEqual(front({ NATIVE_FRONT: on }), { threads: 1 }, on)
})

test('native front: a port in use is refused in the words node:http uses (EADDRINUSE)', async (t) => {
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => holder.close())
  const { port } = holder.address() as AddressInfo
  t.throws(() => new NativeFront({ port, host: '127.0.0.1', upstream: '/nonexistent' }), {
    message: new RegExp(`listen EADDRINUSE: .* 127\\.0\\.0\\.1:${port}$`),
  })
})

test('native front: bad configuration stops start-up naming the variable or option', async (t) => {
  t.throws(() => configFromEnv({ NATIVE_FRONT: 'yes' }), { instanceOf: ConfigError, message: /NATIVE_FRONT/ })
  t.throws(() => configFromEnv({ NATIVE_FRONT: 'true', HOST: 'localhost' }), {
    instanceOf: ConfigError,
    message: /HOST must be an IP address with NATIVE_FRONT=true/,
  })
  t.is(configFromEnv({ NATIVE_FRONT: 'true', HOST: '::' }).gateway.nativeFront !== false, true)
  t.throws(() => configFromEnv({ NATIVE_FRONT: 'true', HTTP_MAX_HEADER_SIZE: '4096' }), {
    instanceOf: ConfigError,
    message: /HTTP_MAX_HEADER_SIZE must be at least 8192 with NATIVE_FRONT=true/,
  })
  t.throws(() => configFromEnv({ NATIVE_FRONT: 'true', NATIVE_FRONT_THREADS: '0' }), {
    instanceOf: ConfigError,
    message: /NATIVE_FRONT_THREADS/,
  })
  t.throws(() => new NativeFront({ port: 0, host: '127.0.0.1', upstream: '/nonexistent' }, { threads: 65 }), {
    instanceOf: InvalidArgumentError,
    message: /threads/,
  })
  t.throws(() => new NativeFront({ port: 0, host: '127.0.0.1', upstream: '/x' }, { reusePort: 'yes' } as never), {
    instanceOf: InvalidArgumentError,
    message: /reusePort/,
  })
  t.throws(() => new NativeFront({ port: 0, host: 'localhost', upstream: '/nonexistent' }), {
    instanceOf: InvalidArgumentError,
    message: /host/,
  })
  t.throws(() => new NativeFront({ port: 0, host: '127.0.0.1', upstream: '/x' }, { maxHeaderBytes: 10 } as never), {
    instanceOf: InvalidArgumentError,
    message: /maxHeaderBytes/,
  })
})
