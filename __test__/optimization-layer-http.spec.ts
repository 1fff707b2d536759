import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'

import test from 'ava'
import { pack, unpack } from 'msgpackr'

import {
  Compressor,
  InvalidArgumentError,
  OptimizationLayer,
  UnavailableError,
  type LayerAccessLogEntry,
} from 'optlayer'

import { backend, closeAfterAll, listen, openLayer as open, postJson, send } from './helpers/layer-http'
import { waitFor } from './helpers/wait'

closeAfterAll(test)

test('handler(): a user key header longer than 512 bytes is a 400, not a 500', async (t) => {
  let runs = 0
  const layer = open({ processor: () => ++runs })
  const url = await listen(createServer(layer.handler()))
  const reply = await postJson(url, { n: 1 }, { 'x-api-key': 'k'.repeat(600) })
  t.is(reply.status, 400)
  t.is(JSON.parse(reply.body.toString()).error, 'bad_request')
  t.is(runs, 0)
  t.is((await postJson(url, { n: 1 }, { 'x-api-key': 'k'.repeat(100) })).status, 200)
})

test('handler(): a processor refusing the data answers 4xx with its message; any other failure is a bare 500', async (t) => {
  const layer = open({
    processor: (data: { kind?: string }) => {
      if (data.kind === 'invalid') throw new InvalidArgumentError('kind must be a colour')
      if (data.kind === 'conflict') throw Object.assign(new Error('already ordered'), { statusCode: 409 })
      if (data.kind === 'broken') throw Object.assign(new Error('disk on fire'), { status: 503 })
      throw new Error('secret detail')
    },
    rateLimit: false,
  })
  const url = await listen(createServer(layer.handler()))
  const answers = []
  for (const kind of ['invalid', 'conflict', 'broken', 'other']) {
    const reply = await postJson(url, { kind })
    answers.push([reply.status, JSON.parse(reply.body.toString())])
  }
  t.deepEqual(answers, [
    [400, { error: 'bad_request', message: 'kind must be a colour' }],
    [409, { error: 'bad_request', message: 'already ordered' }],
    [500, { error: 'internal_error', message: 'internal error' }],
    [500, { error: 'internal_error', message: 'internal error' }],
  ])
})

test('backends: a 4xx is the answer, sent back with its status and body and not retried elsewhere', async (t) => {
  let hits = 0
  const refuse = (): Server =>
    backend((_body, res) => {
      hits++
      res.writeHead(422, { 'content-type': 'application/json' }).end('{"why":"no such item"}')
    })
  const [a, b] = await Promise.all([listen(refuse()), listen(refuse())])
  const layer = open({
    backends: [
      { id: 'a', url: a },
      { id: 'b', url: b },
    ],
    rateLimit: false,
  })
  const url = await listen(createServer(layer.handler()))
  const reply = await postJson(url, { item: 7 })
  t.is(reply.status, 422)
  t.deepEqual(JSON.parse(reply.body.toString()), { why: 'no such item' })
  t.regex(reply.headers['content-type'] ?? '', /^application\/json/)
  t.is(hits, 1)
})

test('backends: a body past maxBackendBodyBytes is refused with 502 without reading it all', async (t) => {
  let finished = false
  let closedEarly = false
  const chunk = Buffer.alloc(64 * 1024, 'a')
  const huge = backend((_body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    let sent = 0
    const pump = (): void => {
      // 64 MiB in all; the layer must give up after 64 KiB.
      while (sent < 1024 && res.write(chunk)) sent++
      if (sent >= 1024) {
        finished = true
        res.end()
      } else res.once('drain', pump)
    }
    res.on('close', () => {
      if (!res.writableFinished) closedEarly = true
    })
    pump()
  })
  const hugeUrl = await listen(huge)
  const layer = open({ backends: [{ id: 'huge', url: hugeUrl }], maxBackendBodyBytes: 65_536, rateLimit: false })
  const url = await listen(createServer(layer.handler()))
  const reply = await postJson(url, { n: 1 })
  t.is(reply.status, 502)
  t.is(JSON.parse(reply.body.toString()).error, 'bad_gateway')
  await waitFor('the backend connection to be cut', () => closedEarly, 10_000, 20)
  t.false(finished)
})

test('start() rejects with UnavailableError when the configured Redis cannot be reached in time', async (t) => {
  const layer = open({
    processor: () => 1,
    redis: { url: 'redis://127.0.0.1:1' },
    startTimeoutMs: 300,
  })
  const error = await t.throwsAsync(layer.start(), { instanceOf: UnavailableError })
  t.regex(error.message, /redis/i)
  t.false(layer.ready().checks.started)
})

test('handler(): a user key of up to 512 bytes is served, and keeps its results apart from other keys', async (t) => {
  let runs = 0
  const layer = open({ processor: (data: { n: number }) => ({ n: data.n, run: ++runs }), rateLimit: false })
  const url = await listen(createServer(layer.handler()))
  const long = 'k'.repeat(512)
  const first = await postJson(url, { n: 1 }, { 'x-api-key': long })
  t.is(first.status, 200)
  t.deepEqual(JSON.parse(first.body.toString()), { n: 1, run: 1 })
  t.deepEqual(JSON.parse((await postJson(url, { n: 1 }, { 'x-api-key': long })).body.toString()), { n: 1, run: 1 })
  const other = await postJson(url, { n: 1 }, { 'x-api-key': `${'k'.repeat(511)}j` })
  t.deepEqual(JSON.parse(other.body.toString()), { n: 1, run: 2 })
})

test('handler(): each request counts once against the limit, whether a miss that waits or a hit answered at once', async (t) => {
  let runs = 0
  const layer = open({
    processor: async (data: { n: number }) => {
      await new Promise((resolve) => setTimeout(resolve, 5))
      return { n: data.n, run: ++runs }
    },
    rateLimit: { algorithm: 'sliding-log', limit: 3, windowMs: 60_000 },
  })
  const url = await listen(createServer(layer.handler()))
  const key = { 'x-api-key': 'counted' }
  const statuses = []
  for (const n of [1, 1, 2, 2]) statuses.push((await postJson(url, { n }, key)).status)
  t.deepEqual(statuses, [200, 200, 200, 429])
  t.is(runs, 2)
  t.like(layer.stats().requests, { hit: 1, miss: 2, limited: 1 })
})

test('handler(): MessagePack and octet-stream bodies; the response follows the request unless Accept asks', async (t) => {
  const layer = open({
    processor: (data: unknown) =>
      Buffer.isBuffer(data) ? Buffer.concat([Buffer.from('got:'), data]) : { echo: data, when: new Date(0) },
    rateLimit: false,
  })
  const url = await listen(createServer(layer.handler()))
  for (const type of ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack']) {
    const reply = await send(url, { headers: { 'content-type': type }, body: pack({ n: 1, list: [1, 2] }) })
    t.is(reply.status, 200, type)
    t.is(reply.headers['content-type'], 'application/msgpack')
    // MessagePack keeps the Date that JSON would have turned into a string.
    t.deepEqual(unpack(reply.body), { echo: { n: 1, list: [1, 2] }, when: new Date(0) })
  }
  const asJson = await send(url, {
    headers: { 'content-type': 'application/msgpack', accept: 'application/json' },
    body: pack({ n: 2 }),
  })
  t.regex(asJson.headers['content-type'] ?? '', /^application\/json/)
  t.deepEqual(JSON.parse(asJson.body.toString()), { echo: { n: 2 }, when: new Date(0).toISOString() })
  const asMsgpack = await postJson(url, { n: 3 }, { accept: 'application/json;q=0.5, application/msgpack' })
  t.deepEqual(unpack(asMsgpack.body), { echo: { n: 3 }, when: new Date(0) })
  const bytes = await send(url, {
    headers: { 'content-type': 'application/octet-stream' },
    body: Buffer.from([0, 1, 2, 255]),
  })
  t.is(bytes.status, 200)
  t.is(bytes.headers['content-type'], 'application/octet-stream')
  t.deepEqual(bytes.body, Buffer.concat([Buffer.from('got:'), Buffer.from([0, 1, 2, 255])]))
})

test('handler(): a malformed MessagePack body is a 400 with a JSON error; other types are 415', async (t) => {
  let runs = 0
  const layer = open({ processor: () => ++runs, rateLimit: false })
  const url = await listen(createServer(layer.handler()))
  // An array announced with two elements that ends after one.
  const bad = await send(url, { headers: { 'content-type': 'application/msgpack' }, body: Buffer.from([0x92, 0x01]) })
  t.is(bad.status, 400)
  t.deepEqual(JSON.parse(bad.body.toString()), { error: 'bad_request', message: 'the body is not valid MessagePack' })
  const empty = await send(url, { headers: { 'content-type': 'application/msgpack' }, body: Buffer.alloc(0) })
  t.is(empty.status, 400)
  const text = await send(url, { headers: { 'content-type': 'text/plain' }, body: 'hi' })
  t.is(text.status, 415)
  t.is(JSON.parse(text.body.toString()).error, 'unsupported_media_type')
  t.is(runs, 0)
})

const decoders: Record<string, (body: Buffer) => Buffer> = {
  zstd: (body) => Compressor.decompress(body, 'zstd'),
  br: (body) => brotliDecompressSync(body),
  gzip: (body) => gunzipSync(body),
  deflate: (body) => inflateSync(body),
}

test('handler(): responses are compressed by Accept-Encoding above compressMinBytes, with Vary', async (t) => {
  const layer = open({
    processor: (data: { size: number }) => ({ text: 'optlayer '.repeat(data.size) }),
    compressMinBytes: 512,
    rateLimit: false,
  })
  const url = await listen(createServer(layer.handler()))
  const large = { size: 1000 }
  const expected = { text: 'optlayer '.repeat(1000) }
  for (const [accept, coding] of [
    ['zstd, br, gzip', 'zstd'],
    ['gzip, br;q=0.9', 'gzip'],
    ['br', 'br'],
    ['deflate;q=0.5, gzip;q=0', 'deflate'],
    ['*', 'zstd'],
  ] as const) {
    const reply = await postJson(url, large, { 'accept-encoding': accept })
    t.is(reply.status, 200)
    t.is(reply.headers['content-encoding'], coding, accept)
    t.regex(reply.headers.vary ?? '', /Accept-Encoding/)
    t.is(Number(reply.headers['content-length']), reply.body.length)
    t.true(reply.body.length < 9000)
    t.deepEqual(JSON.parse(decoders[coding]!(reply.body).toString()), expected)
  }
  // Below the threshold, without the header, or with only identity: sent as it is.
  const small = await postJson(url, { size: 10 }, { 'accept-encoding': 'gzip' })
  t.is(small.headers['content-encoding'], undefined)
  t.regex(small.headers.vary ?? '', /Accept-Encoding/)
  t.is((await postJson(url, large)).headers['content-encoding'], undefined)
  t.is((await postJson(url, large, { 'accept-encoding': 'identity' })).headers['content-encoding'], undefined)
  t.is((await postJson(url, large, { 'accept-encoding': 'gzip;q=0, compress' })).headers['content-encoding'], undefined)
})

test('handler(): identity refused is honoured with a coding if any, else 406', async (t) => {
  let runs = 0
  const layer = open({ processor: () => ({ run: ++runs }), rateLimit: false })
  const url = await listen(createServer(layer.handler()))
  // A small body is compressed anyway when the client accepts nothing else.
  const forced = await postJson(url, { n: 1 }, { 'accept-encoding': 'gzip, identity;q=0' })
  t.is(forced.status, 200)
  t.is(forced.headers['content-encoding'], 'gzip')
  t.deepEqual(JSON.parse(gunzipSync(forced.body).toString()), { run: 1 })
  for (const accept of ['identity;q=0', '*;q=0', 'compress, *;q=0']) {
    const refused = await postJson(url, { n: 2 }, { 'accept-encoding': accept })
    t.is(refused.status, 406, accept)
    t.is(JSON.parse(refused.body.toString()).error, 'not_acceptable')
  }
  // identity named with a weight overrides the wildcard's refusal.
  t.is((await postJson(url, { n: 3 }, { 'accept-encoding': '*;q=0, identity' })).status, 200)
  t.is(runs, 2)
})

test('handler(): X-Request-Id is kept when valid, generated otherwise, on results and errors alike', async (t) => {
  const layer = open({ processor: () => 'ok', rateLimit: false })
  const url = await listen(createServer(layer.handler()))
  t.is((await postJson(url, 1, { 'x-request-id': 'abc-123' })).headers['x-request-id'], 'abc-123')
  const generated = String((await postJson(url, 1)).headers['x-request-id'])
  t.regex(generated, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  const spaced = (await postJson(url, 1, { 'x-request-id': 'has space' })).headers['x-request-id']
  t.not(spaced, 'has space')
  t.is((await send(url, { method: 'GET', headers: { 'x-request-id': 'get-1' } })).headers['x-request-id'], 'get-1')
})

test('handler(): the log option gets one entry per request, with a digest of the user key and the cache outcome', async (t) => {
  const entries: LayerAccessLogEntry[] = []
  const layer = open({
    processor: (n: number) => n * 2,
    rateLimit: false,
    log: (entry) => {
      entries.push(entry)
      if (entry.status === 405) throw new Error('a broken log is ignored')
    },
  })
  const url = await listen(createServer(layer.handler()))
  await postJson(`${url}/process?x=1`, 21, { 'x-api-key': 'secret-key', 'x-request-id': 'r1' })
  await postJson(`${url}/process`, 21, { 'x-api-key': 'secret-key' })
  await send(url, { method: 'GET' })
  await waitFor('three log entries', () => entries.length === 3)
  const [miss, hit, get] = entries
  t.like(miss, { method: 'POST', path: '/process?x=1', status: 200, requestId: 'r1', cache: 'miss' })
  t.like(hit, { status: 200, cache: 'hit' })
  t.regex(miss!.userKey ?? '', /^[0-9a-f]{16}$/)
  t.is(miss!.userKey, hit!.userKey)
  t.false(JSON.stringify(entries).includes('secret-key'))
  t.true(miss!.ms >= 0)
  t.like(get, { method: 'GET', status: 405, cache: undefined, userKey: undefined })
  t.is((await postJson(url, 1)).status, 200)
})

test('the new options are validated, unknown ones refused', (t) => {
  const processor = (): number => 1
  const refuse = (options: Record<string, unknown>, message: RegExp): void => {
    t.throws(() => new OptimizationLayer({ processor, ...options } as never), {
      instanceOf: InvalidArgumentError,
      message,
    })
  }
  refuse({ compressMinBytes: -1 }, /compressMinBytes/)
  refuse({ compressMinBytes: 1.5 }, /compressMinBytes/)
  refuse({ maxBackendBodyBytes: 0 }, /maxBackendBodyBytes/)
  refuse({ startTimeoutMs: -5 }, /startTimeoutMs/)
  refuse({ log: 'stdout' }, /log/)
  refuse({ compressionMinBytes: 10 }, /unknown option 'compressionMinBytes'/)
})

test('backends: a 5xx is retried elsewhere; bytes go as octet-stream and MessagePack answers are read', async (t) => {
  const received: string[] = []
  const failing = backend((_body, res) => {
    received.push('failing')
    res.writeHead(503).end()
  })
  const working = backend((body, res) => {
    received.push('working')
    res.writeHead(200, { 'content-type': 'application/msgpack' }).end(pack({ length: body.length, at: new Date(5) }))
  })
  const [a, b] = await Promise.all([listen(failing), listen(working)])
  let contentType: string | undefined
  working.prependListener('request', (req) => (contentType = req.headers['content-type']))
  const layer = open<Buffer, { length: number; at: Date }>({
    backends: [
      { id: 'failing', url: a },
      { id: 'working', url: b },
    ],
    balancer: { algorithm: 'round-robin' },
    rateLimit: false,
  })
  const first = await layer.processRequest('u', Buffer.from([1, 2, 3]))
  const second = await layer.processRequest('u', Buffer.from([4, 5]))
  t.deepEqual(
    [first, second],
    [
      { length: 3, at: new Date(5) },
      { length: 2, at: new Date(5) },
    ],
  )
  t.is(contentType, 'application/octet-stream')
  t.true(received.includes('failing'))
})

/** A result that counts how often it is serialized to JSON (its method is not data: the cache stores `tag`). */
class Counted {
  constructor(
    readonly tag: string,
    private readonly serialized: { count: number },
  ) {}

  toJSON(): unknown {
    this.serialized.count++
    return { tag: this.tag, text: 'optlayer '.repeat(500) }
  }
}

function counted(tag: string, serialized: { count: number }): Counted {
  return new Counted(tag, serialized)
}

test('handler(): a hit reuses the body made for its result; a new value or encodedBodyCacheBytes 0 makes it again', async (t) => {
  // The cache serializes a new value too (msgpackr honours toJSON): only changes across hits are compared.
  const serialized = { count: 0 }
  let version = 0
  const layer = open({
    processor: () => counted(`v${++version}`, serialized),
    cacheKey: () => 'the-result',
    rateLimit: false,
  })
  const url = await listen(createServer(layer.handler()))
  const gzip = { 'accept-encoding': 'gzip' }
  const first = await postJson(url, { n: 1 }, gzip)
  t.is(first.headers['content-encoding'], 'gzip')
  const afterMiss = serialized.count
  const again = await postJson(url, { n: 1 }, gzip)
  t.deepEqual(again.body, first.body)
  t.is(serialized.count, afterMiss)
  // Another coding is another body, made once and kept too.
  t.is((await postJson(url, { n: 1 }, { 'accept-encoding': 'br' })).headers['content-encoding'], 'br')
  t.is(serialized.count, afterMiss + 1)
  await postJson(url, { n: 1 }, { 'accept-encoding': 'br' })
  t.is(serialized.count, afterMiss + 1)
  // The value replaced in the cache: its old body is not served.
  await layer.cache.delete('the-result')
  const fresh = await postJson(url, { n: 1 }, gzip)
  t.is(JSON.parse(gunzipSync(fresh.body).toString()).tag, 'v2')

  const plain = { count: 0 }
  const uncached = open({
    processor: () => counted('x', plain),
    encodedBodyCacheBytes: 0,
    rateLimit: false,
  })
  const uncachedUrl = await listen(createServer(uncached.handler()))
  await postJson(uncachedUrl, { n: 1 }, gzip)
  const beforeHit = plain.count
  await postJson(uncachedUrl, { n: 1 }, gzip)
  t.is(plain.count, beforeHit + 1)
})

test('start() rejects with UnavailableError while every backend is known down, and succeeds once one is back', async (t) => {
  const server = backend((_body, res) => res.end('{}'))
  const url = await listen(server)
  const port = Number(new URL(url).port)
  await new Promise<void>((resolve) => server.close(() => resolve()))
  const layer = open({
    backends: [{ id: 'later', url }],
    balancer: { healthCheck: { path: '/health', intervalMs: 50, unhealthyThreshold: 1, healthyThreshold: 1 } },
    startTimeoutMs: 200,
    rateLimit: false,
  })
  await waitFor('the health checks to see the backend down', () => layer.ready().checks.backends === false)
  const error = await t.throwsAsync(layer.start(), { instanceOf: UnavailableError })
  t.regex(error.message, /backend/)
  t.false(layer.ready().checks.started)
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  await waitFor('the health checks to see the backend back', () => layer.ready().checks.backends === true)
  await layer.start()
  t.true(layer.ready().ok)
})

test('start() rejects when Redis accepts connections but never answers', async (t) => {
  const silent = createNetServer(() => {})
  silent.listen(0, '127.0.0.1')
  await once(silent, 'listening')
  t.teardown(() => {
    silent.close()
  })
  const layer = open({
    processor: () => 1,
    redis: { url: `redis://127.0.0.1:${(silent.address() as AddressInfo).port}` },
    startTimeoutMs: 300,
  })
  const error = await t.throwsAsync(layer.start(), { instanceOf: UnavailableError })
  t.regex(error.message, /Redis/)
})
