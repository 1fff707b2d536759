import { createServer, request, type Server } from 'node:http'

import test from 'ava'

import {
  AbortError,
  ClosedError,
  DistributedCache,
  InvalidArgumentError,
  MetricsCollector,
  NoBackendError,
  OptimizationLayer,
  OverloadedError,
  RateLimitedError,
  TimeoutError,
} from 'optlayer'

import { startStandalone } from './helpers/redis'
import { closeAfterAll, listen, openLayer as open, postJson, send } from './helpers/layer-http'
import { waitFor } from './helpers/wait'

closeAfterAll(test)

/** A promise released by hand: a processor blocked until the spec lets it go. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { opened, open }
}

/** A JSON backend answering `{ backend, echo }`, and 200 to its health checks (GET). */
function backend(id: string): Server {
  return createServer((req, res) => {
    if (req.method === 'GET') return void res.end('ok')
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const text = JSON.stringify({ backend: id, echo: JSON.parse(Buffer.concat(chunks).toString()) })
      res.writeHead(200, { 'content-type': 'application/json' }).end(text)
    })
  })
}

function kill(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

test('identical concurrent requests run the processor once; later ones are hits', async (t) => {
  let runs = 0
  const release = gate()
  const metrics = new MetricsCollector({ defaultMetrics: false })
  t.teardown(() => metrics.close())
  const layer = open({
    name: 'pipeline',
    metrics,
    processor: async (data: { a: number; b: number }) => {
      runs++
      await release.opened
      return { sum: data.a + data.b }
    },
  })
  const calls = Array.from({ length: 50 }, () => layer.processRequest('user-1', { a: 1, b: 2 }))
  await waitFor('the one run to start', () => runs === 1)
  release.open()
  const results = await Promise.all(calls)
  t.true(results.every((r) => r.sum === 3))
  t.is(runs, 1)
  // Key order does not change the data, so it does not change the cache key.
  t.deepEqual(await layer.processRequest('user-1', { b: 2, a: 1 }), { sum: 3 })
  t.is(runs, 1)
  await layer.processRequest('user-1', { a: 2, b: 2 })
  t.is(runs, 2)
  // Another user's identical data is another user's result.
  await layer.processRequest('user-2', { a: 1, b: 2 })
  t.is(runs, 3)
  t.deepEqual(layer.stats(), { requests: { hit: 50, miss: 3, limited: 0, error: 0, shed: 0 }, inFlight: 0 })
  const text = await layer.metrics.expose()
  t.regex(text, /optlayer_layer_requests_total\{layer="pipeline",outcome="hit"\} 50/)
  t.regex(text, /optlayer_request_duration_seconds_count\{outcome="ok"\} 53/)
})

test('a cacheKey option decides which requests share a result', async (t) => {
  let runs = 0
  const layer = open({
    processor: (data: { id: number; noise: number }) => ++runs + data.id,
    cacheKey: (_user, data) => `item:${data.id}`,
  })
  t.is(await layer.processRequest('u', { id: 10, noise: 1 }), 11)
  t.is(await layer.processRequest('v', { id: 10, noise: 2 }), 11)
  t.is(await layer.processRequest('v', { id: 10, noise: 2 }, { cacheKey: 'other' }), 12)
  t.is(runs, 2)
})

test('a user key over its limit is refused with RateLimitedError and retryAfterMs', async (t) => {
  const layer = open({
    processor: (n: number) => n * 2,
    rateLimit: { algorithm: 'sliding-log', limit: 2, windowMs: 60_000 },
  })
  t.is(await layer.processRequest('alice', 1), 2)
  t.is(await layer.processRequest('alice', 2), 4)
  const error = await t.throwsAsync(layer.processRequest('alice', 1), { instanceOf: RateLimitedError })
  t.is(error.code, 'ERR_OPTLAYER_RATE_LIMITED')
  t.true(error.retryAfterMs > 0 && error.retryAfterMs <= 60_000)
  t.is(await layer.processRequest('bob', 1), 2)
  t.is(layer.stats().requests.limited, 1)
})

test('a full queue sheds the request at once with OverloadedError', async (t) => {
  const release = gate()
  let started = 0
  const layer = open({
    processor: async (n: number) => {
      started++
      await release.opened
      return n
    },
    queue: { maxWorkers: 1, queueSize: 1 },
    overloadRetryAfterMs: 2500,
  })
  const running = layer.processRequest('u', 1)
  await waitFor('the first request to run', () => started === 1)
  const queued = layer.processRequest('u', 2)
  await waitFor('the second request to wait in the queue', () => layer.queue.stats().depth.Normal === 1)
  t.false(layer.ready().ok)
  t.false(layer.ready().checks.queue)
  const error = await t.throwsAsync(layer.processRequest('u', 3), { instanceOf: OverloadedError })
  t.is(error.code, 'ERR_OPTLAYER_OVERLOADED')
  t.is(error.retryAfterMs, 2500)
  release.open()
  t.deepEqual(await Promise.all([running, queued]), [1, 2])
  t.is(layer.stats().requests.shed, 1)
})

test('work past the queue timeout rejects with TimeoutError and aborts its signal', async (t) => {
  let aborted = false
  const layer = open({
    processor: (_data: unknown, { signal }) =>
      new Promise((_resolve, reject) =>
        signal.addEventListener('abort', () => {
          aborted = true
          reject(signal.reason)
        }),
      ),
    queue: { timeoutMs: 50 },
  })
  await t.throwsAsync(layer.processRequest('u', 'slow'), { instanceOf: TimeoutError })
  t.true(aborted)
  t.is(layer.stats().requests.error, 1)
})

test('an aborted signal rejects the request with AbortError', async (t) => {
  const release = gate()
  const layer = open({ processor: async (n: number) => (await release.opened, n) })
  const controller = new AbortController()
  const call = layer.processRequest('u', 1, { signal: controller.signal })
  controller.abort()
  await t.throwsAsync(call, { instanceOf: AbortError })
  await t.throwsAsync(layer.processRequest('u', 2, { signal: AbortSignal.abort() }), { instanceOf: AbortError })
  release.open()
})

test('backends: a miss is POSTed to a backend, a dead one is routed around, none left is NoBackendError', async (t) => {
  const a = backend('a')
  const b = backend('b')
  const [urlA, urlB] = await Promise.all([listen(a), listen(b)])
  const layer = open<unknown, { backend: string; echo: unknown }>({
    backends: [
      { id: 'a', url: urlA },
      { id: 'b', url: urlB },
    ],
    backendPath: '/compute',
    balancer: { healthCheck: { path: '/health', intervalMs: 50, unhealthyThreshold: 1 } },
    rateLimit: false,
  })
  await layer.start()
  t.true(layer.ready().checks.backends)
  const first = await Promise.all([1, 2, 3, 4].map((n) => layer.processRequest('u', { n })))
  t.deepEqual(first[0]!.echo, { n: 1 })
  t.deepEqual(new Set(first.map((r) => r.backend)), new Set(['a', 'b']))
  await kill(a)
  const after = await Promise.all([5, 6, 7, 8].map((n) => layer.processRequest('u', { n })))
  t.true(after.every((r) => r.backend === 'b'))
  await kill(b)
  const error = await t.throwsAsync(layer.processRequest('u', { n: 9 }), { instanceOf: NoBackendError })
  t.is(error.code, 'ERR_OPTLAYER_NO_BACKEND')
  await waitFor('readiness to see no backend left', () => layer.ready().checks.backends === false)
  t.false(layer.ready().ok)
  t.true(layer.health().ok)
})

test('handler(): JSON in and out, the user key header, 429 with Retry-After and RateLimit-* headers', async (t) => {
  const layer = open({
    processor: (data: { n: number }) => ({ doubled: data.n * 2 }),
    rateLimit: { algorithm: 'sliding-log', limit: 2, windowMs: 60_000 },
  })
  const url = await listen(createServer(layer.handler()))
  const ok = await postJson(url, { n: 21 }, { 'x-api-key': 'k1' })
  t.is(ok.status, 200)
  t.regex(ok.headers['content-type'] ?? '', /^application\/json/)
  t.deepEqual(JSON.parse(ok.body.toString()), { doubled: 42 })
  t.is((await postJson(url, { n: 1 }, { 'x-api-key': 'k1' })).status, 200)
  const limited = await postJson(url, { n: 1 }, { 'x-api-key': 'k1' })
  t.is(limited.status, 429)
  t.truthy(Number(limited.headers['retry-after']) >= 1)
  t.is(limited.headers['ratelimit-limit'], '2')
  t.is(limited.headers['ratelimit-remaining'], '0')
  t.truthy(limited.headers['ratelimit-reset'])
  // Another key, and no key at all (the client address), each have their own limit.
  t.is((await postJson(url, { n: 1 }, { 'x-api-key': 'k2' })).status, 200)
  t.is((await postJson(url, { n: 1 })).status, 200)
})

test('handler(): bodies too large, not JSON, malformed, and methods other than POST', async (t) => {
  let runs = 0
  const layer = open({ processor: () => ++runs, maxBodyBytes: 1024, rateLimit: false })
  const url = await listen(createServer(layer.handler()))
  const big = JSON.stringify({ pad: 'x'.repeat(4096) })
  const declared = await send(url, { headers: { 'content-type': 'application/json' }, body: big })
  t.is(declared.status, 413)
  // Chunked: no Content-Length to refuse it on, so the limit is applied as the body arrives.
  const chunked = await send(url, {
    headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    body: big,
  })
  t.is(chunked.status, 413)
  t.is((await send(url, { headers: { 'content-type': 'text/plain' }, body: '{}' })).status, 415)
  t.is((await send(url, { headers: { 'content-type': 'application/json' }, body: '{"a":' })).status, 400)
  const get = await send(url, { method: 'GET' })
  t.is(get.status, 405)
  t.is(get.headers.allow, 'POST')
  t.is(runs, 0)
  t.is((await postJson(url, { small: true })).status, 200)
})

test('handler(): overload 503, timeout 504, no backend 502, failures 500 without their message', async (t) => {
  const release = gate()
  let started = 0
  const busy = open({
    processor: async (data: { wait?: boolean; fail?: boolean }, { signal }) => {
      if (data.fail === true) throw new Error('secret internal detail')
      if (data.wait === true) {
        await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
      }
      started++
      await release.opened
      return 'done'
    },
    queue: { maxWorkers: 1, queueSize: 1, timeoutMs: 5_000 },
    rateLimit: false,
  })
  const busyUrl = await listen(createServer(busy.handler()))
  const running = postJson(busyUrl, { n: 1 })
  await waitFor('the first request to run', () => started === 1)
  const queued = postJson(busyUrl, { n: 2 })
  await waitFor('the second request to queue', () => busy.queue.stats().depth.Normal === 1)
  const shed = await postJson(busyUrl, { n: 3 })
  t.is(shed.status, 503)
  t.is(shed.headers['retry-after'], '1')
  release.open()
  t.deepEqual(
    (await Promise.all([running, queued])).map((r) => r.status),
    [200, 200],
  )
  const failed = await postJson(busyUrl, { fail: true })
  t.is(failed.status, 500)
  t.false(failed.body.toString().includes('secret'))

  const slow = open({
    processor: (_data: unknown, { signal }) =>
      new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    queue: { timeoutMs: 50 },
    rateLimit: false,
  })
  t.is((await postJson(await listen(createServer(slow.handler())), { n: 1 })).status, 504)

  const nowhere = open({ backends: [{ id: 'gone', url: 'http://127.0.0.1:1' }], rateLimit: false })
  t.is((await postJson(await listen(createServer(nowhere.handler())), { n: 1 })).status, 502)
})

test('handler(): a client that goes away gets no answer and the listener carries on', async (t) => {
  let started = 0
  const layer = open({
    processor: (data: unknown, { signal }) => {
      if (data === 'next') return 'ok'
      started++
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    },
    queue: { timeoutMs: 60_000 },
    rateLimit: false,
  })
  const url = await listen(createServer(layer.handler()))
  const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } })
  req.on('error', () => {})
  req.end('{"n":1}')
  await waitFor('the work to start', () => started === 1)
  req.destroy()
  await waitFor('the request to end as aborted', () => layer.stats().requests.error === 1)
  t.is(layer.stats().inFlight, 0)
  const next = await postJson(url, 'next')
  t.is(next.status, 200)
  t.is(JSON.parse(next.body.toString()), 'ok')
})

test('stop() finishes the work in flight, refuses new calls, closes what it created, and is idempotent', async (t) => {
  const release = gate()
  let started = 0
  const cache = new DistributedCache<number>({ name: 'ready-made' })
  const layer = open({
    processor: async (n: number) => {
      started++
      await release.opened
      return n * 10
    },
    cache,
  })
  t.deepEqual(layer.ready(), { ok: false, checks: { started: false, accepting: true, queue: true } })
  await layer.start()
  await layer.start()
  t.deepEqual(layer.ready(), { ok: true, checks: { started: true, accepting: true, queue: true } })
  const inFlight = layer.processRequest('u', 1, { cacheKey: 'stop:1' })
  await waitFor('the work to start', () => started === 1)
  const stopping = layer.stop({ timeoutMs: 10_000 })
  t.is(layer.stop(), stopping)
  t.false(layer.health().ok)
  t.false(layer.ready().ok)
  await t.throwsAsync(layer.processRequest('u', 2), { instanceOf: ClosedError })
  release.open()
  t.is(await inFlight, 10)
  t.deepEqual(await stopping, { drained: true, aborted: 0 })
  t.deepEqual(await layer.stop(), { drained: true, aborted: 0 })
  t.true(layer.queue.closing)
  t.true(layer.metrics.closed)
  // The cache was given ready-made: it is left open, with the result the layer stored.
  t.is(await cache.get('stop:1'), 10)
  await cache.close()
})

test('stop({ drain: false }) aborts the work in flight with ClosedError', async (t) => {
  const layer = open({
    processor: (_n: number, { signal }) =>
      new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
  })
  const call = layer.processRequest('u', 1)
  await waitFor('the work to run', () => layer.queue.stats().running === 1)
  t.deepEqual(await layer.stop({ drain: false }), { drained: false, aborted: 1 })
  await t.throwsAsync(call, { instanceOf: ClosedError })
})

test('bad options are refused, naming the option', (t) => {
  const processor = (): number => 1
  const refuse = (options: unknown, message: RegExp): void => {
    t.throws(() => new OptimizationLayer(options as never), { instanceOf: InvalidArgumentError, message })
  }
  refuse({ processor, ttl: 5 }, /unknown option 'ttl'/)
  refuse({ processor, cache: { defaultTtl: 5 } }, /unknown option 'defaultTtl'/)
  refuse({ processor, rateLimit: { limt: 5 } }, /unknown option 'limt'/)
  refuse({ processor, queue: { maxWorker: 5 } }, /unknown option 'maxWorker'/)
  refuse({ processor, queue: { workerModule: 'x.js' } }, /workerModule/)
  refuse({ processor, rateLimit: { redis: { url: 'redis://127.0.0.1:1' } } }, /rateLimit\.redis/)
  refuse({}, /processor, backends/)
  refuse({ processor, backends: [{ id: 'a', url: 'http://127.0.0.1:1' }] }, /not both/)
  refuse({ backends: [{ id: 'a', url: 'http://127.0.0.1:1' }], upstream: { timeoutMs: 5 } }, /timeoutMs/)
  refuse({ processor, backendAttempts: 0 }, /backendAttempts/)
  refuse({ processor, maxBodyBytes: -1 }, /maxBodyBytes/)
  refuse({ processor, userKeyHeader: 'bad header' }, /userKeyHeader/)
})

test('bad call options are refused, naming the option, and leave the layer running', async (t) => {
  const layer = open({ processor: (n: number) => n })
  await t.throwsAsync(layer.processRequest('u', 1, { ttl: 5 } as never), {
    instanceOf: InvalidArgumentError,
    message: /unknown option 'ttl'/,
  })
  await t.throwsAsync(layer.processRequest('', 1), { instanceOf: InvalidArgumentError, message: /userKey/ })
  await t.throwsAsync(layer.stop({ drainTimeoutMs: 5 } as never), {
    instanceOf: InvalidArgumentError,
    message: /unknown option 'drainTimeoutMs'/,
  })
  t.is(await layer.processRequest('u', 7), 7)
})

test('Redis: two layers share the cache and the rate limit', async (t) => {
  const redis = await startStandalone()
  t.teardown(() => redis.stop())
  const runs: string[] = []
  const make = (name: string) =>
    open({
      name,
      redis: { url: redis.url },
      processor: (data: { q: string }) => {
        runs.push(name)
        return { answer: data.q.toUpperCase() }
      },
      cache: { namespace: 'layer-spec' },
      rateLimit: { algorithm: 'sliding-log', limit: 3, windowMs: 60_000, prefix: 'layer-spec:' },
    })
  const one = make('one')
  const two = make('two')
  // Registered after the server's teardown, so run before it: the layers close while Redis is up.
  t.teardown(() => Promise.all([one.stop(), two.stop()]))
  await Promise.all([one.start(), two.start()])
  t.deepEqual(await one.processRequest('u', { q: 'hello' }), { answer: 'HELLO' })
  t.deepEqual(await two.processRequest('u', { q: 'hello' }), { answer: 'HELLO' })
  t.deepEqual(runs, ['one'])
  t.is(two.stats().requests.hit, 1)
  await waitFor('both to see Redis', () => one.ready().checks.redis === true && two.ready().checks.redis === true)
  t.true(two.ready().ok)
  // Third request of the fleet: admitted; the fourth, on either layer, is over the shared limit.
  await two.processRequest('u', { q: 'again' })
  await t.throwsAsync(one.processRequest('u', { q: 'more' }), { instanceOf: RateLimitedError })
})
