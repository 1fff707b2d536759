import test, { type ExecutionContext } from 'ava'

import { configFromEnv, InvalidArgumentError, OptimizationLayer, serveGateway, type ServedGateway } from 'optlayer'

import { listen, send, type Reply } from './helpers/gateway'

let layers = 0

interface Served {
  served: ServedGateway
  layer: OptimizationLayer<unknown, unknown>
  /** Times the processor ran. */
  runs(): number
}

/** `optlayer serve` with an `OptimizationLayer` on `/process`, behind the native front or not. */
async function serve(
  t: ExecutionContext,
  native: boolean,
  rateLimit: false | { limit: number } = false,
): Promise<Served> {
  let runs = 0
  const layer = new OptimizationLayer<unknown, unknown>({
    name: `front-process-${++layers}`,
    processor: async (data) => {
      runs++
      return { echo: data, padding: 'compressible '.repeat(200) }
    },
    cache: { l2: { maxBytes: 4 << 20 }, defaultTtlMs: 60_000 },
    cacheKey: (userKey, data) => `${userKey}:${JSON.stringify(data)}`,
    rateLimit: rateLimit && { algorithm: 'sliding-log', limit: rateLimit.limit, windowMs: 60_000 },
  })
  await layer.start()
  const backend = await listen((_req, res) => res.end('backend'))
  const config = configFromEnv({
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_PORT: '0',
    ...(native ? { NATIVE_FRONT: '1' } : {}),
  })
  const served = await serveGateway({
    ...config,
    gateway: { backends: [{ url: backend.url }] },
    process: layer.handler(),
    processLayer: layer,
    nativeFront: config.gateway.nativeFront,
    server: { log: () => {} },
  })
  t.teardown(async () => {
    await served.close()
    await layer.stop()
    await backend.close()
  })
  return { served, layer, runs: () => runs }
}

function post(served: Served, body: string, headers: Record<string, string> = {}): Promise<Reply> {
  return send(`${served.served.url.origin}/process`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers },
    body,
  })
}

/** What must agree between the two fronts (date, request id and connection fields may differ). */
function comparable(reply: Reply): unknown {
  const fields = ['content-type', 'content-encoding', 'content-length', 'vary', 'retry-after', 'ratelimit-limit']
  return {
    status: reply.status,
    fields: Object.fromEntries(fields.map((name) => [name, reply.headers[name]])),
    body: reply.body,
  }
}

function processHits(served: Served): number {
  return served.served.server.nativeFront?.stats().processHits ?? 0
}

test('native front: /process answers agree with the node:http listener; a repeated request is answered natively', async (t) => {
  const plain = await serve(t, false)
  const fronted = await serve(t, true)
  const requests: Array<[string, Record<string, string>]> = [
    ['{"a":1}', { 'x-api-key': 'alice' }],
    ['{"a":1}', { 'x-api-key': 'alice' }],
    ['{"a":1}', { 'x-api-key': 'alice', 'accept-encoding': 'gzip' }],
    ['{"a":1}', { 'x-api-key': 'alice', 'accept-encoding': 'gzip' }],
    ['{"a":1}', { 'x-api-key': 'alice', accept: 'application/msgpack' }],
    ['{"a":1}', { 'x-api-key': 'alice', accept: 'application/msgpack' }],
    ['{"a":1}', {}],
    ['{"a":1}', {}],
    ['{"a":2}', { 'x-api-key': 'bob' }],
    ['{"a":2}', { 'x-api-key': 'bob' }],
    ['{"a":', { 'x-api-key': 'bob' }],
  ]
  for (const [body, headers] of requests) {
    const a = await post(plain, body, headers)
    const b = await post(fronted, body, headers)
    t.deepEqual(comparable(b), comparable(a), `${body} ${JSON.stringify(headers)}`)
    t.truthy(b.headers['x-request-id'])
  }
  // Every second request of a pair is the front's, the malformed one the handler's (a 400).
  t.is(processHits(fronted), 5)
  t.is(fronted.runs(), plain.runs())
  // The front's answers are the layer's hits.
  t.deepEqual(fronted.layer.stats().requests, plain.layer.stats().requests)
  const echoed = await post(fronted, '{"a":1}', { 'x-api-key': 'alice', 'x-request-id': 'req-7' })
  t.is(echoed.headers['x-request-id'], 'req-7')
  t.is(processHits(fronted), 6)
  const metrics = (await send(`${fronted.served.server.adminUrl!.origin}/metrics`)).body.toString()
  t.regex(metrics, /optlayer_front_process_hits_total\{port="\d+"\} 6\n/)
  const { hit } = fronted.layer.stats().requests
  t.true(
    metrics.includes(`optlayer_layer_requests_total{layer="${fronted.layer.name}",outcome="hit"} ${hit}\n`),
    metrics,
  )
})

test('native front: a result deleted, replaced or expired in the cache is answered by the handler again', async (t) => {
  const fronted = await serve(t, true)
  const first = await post(fronted, '{"n":1}', { 'x-api-key': 'carol' })
  t.is(first.status, 200)
  t.is((await post(fronted, '{"n":1}', { 'x-api-key': 'carol' })).status, 200)
  t.is(processHits(fronted), 1)
  t.is(fronted.runs(), 1)
  await fronted.layer.cache.delete('carol:{"n":1}')
  const after = await post(fronted, '{"n":1}', { 'x-api-key': 'carol' })
  t.deepEqual(after.json(), first.json())
  t.is(fronted.runs(), 2, 'the processor ran again: the front did not answer from the deleted result')
  t.is(processHits(fronted), 1)
  // Replaced under the same key: the new value is what the next request gets.
  await fronted.layer.cache.set('carol:{"n":1}', { replaced: true })
  t.deepEqual((await post(fronted, '{"n":1}', { 'x-api-key': 'carol' })).json(), { replaced: true })
  t.deepEqual((await post(fronted, '{"n":1}', { 'x-api-key': 'carol' })).json(), { replaced: true })
  t.is(processHits(fronted), 2)
  // Stopping the layer withdraws everything published: the handler answers 503.
  await fronted.layer.stop()
  t.is((await post(fronted, '{"n":1}', { 'x-api-key': 'carol' })).status, 503)
  t.is(processHits(fronted), 2)
})

test("native front: the layer's rate limit holds on the answers it publishes, with the handler's 429", async (t) => {
  const plain = await serve(t, false, { limit: 3 })
  const fronted = await serve(t, true, { limit: 3 })
  for (let i = 0; i < 5; i++) {
    const a = await post(plain, '{"q":1}', { 'x-api-key': 'dave' })
    const b = await post(fronted, '{"q":1}', { 'x-api-key': 'dave' })
    const shape = (reply: Reply): unknown => ({
      status: reply.status,
      limit: reply.headers['ratelimit-limit'],
      remaining: reply.headers['ratelimit-remaining'],
      retrying: reply.headers['retry-after'] !== undefined,
      error: reply.status === 429 ? reply.json().error : undefined,
    })
    t.deepEqual(shape(b), shape(a), `request ${i + 1}`)
  }
  const stats = fronted.served.server.nativeFront?.stats()
  t.is(stats?.processHits, 2)
  t.is(stats?.processLimited, 2)
  t.deepEqual(fronted.layer.stats().requests, plain.layer.stats().requests)
  // Another user is another count.
  t.is((await post(fronted, '{"q":1}', { 'x-api-key': 'erin' })).status, 200)
})

test('listenNative: the layer behind the native front answers repeated requests itself; other paths 404, probes answer', async (t) => {
  let runs = 0
  const layer = new OptimizationLayer<unknown, unknown>({
    name: `front-process-${++layers}`,
    processor: async (data) => {
      runs++
      return { echo: data }
    },
    cache: { l2: { maxBytes: 4 << 20 } },
  })
  await layer.start()
  const listener = await layer.listenNative({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => {
    await listener.close()
    await layer.stop()
  })
  const post = (): Promise<Reply> =>
    send(`${listener.url.origin}/process`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '7' },
      body: '{"a":1}',
    })
  const first = await post()
  const second = await post()
  t.is(first.status, 200)
  t.deepEqual(first.json(), { echo: { a: 1 } })
  t.deepEqual(second.json(), first.json())
  t.is(listener.front.stats().processHits, 1)
  t.is(runs, 1)
  t.is((await send(`${listener.url.origin}/other`)).status, 404)
  t.is((await send(`${listener.url.origin}/health`)).status, 200)
  t.is((await send(`${listener.url.origin}/ready`)).status, 200)
  await t.throwsAsync(layer.listenNative({ port: 0, path: 'process' }), { instanceOf: InvalidArgumentError })
})
