import { once } from 'node:events'
import { request, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'

import test from 'ava'

import { Gateway, InvalidArgumentError, MetricsCollector, type GatewayOptions } from 'optlayer'

import { listen, refusingEndpoint, send, serveGatewayForSpec, type TestServer } from './helpers/gateway'
import { waitFor } from './helpers/wait'

const opened: { close(): Promise<unknown> }[] = []

test.after.always(async () => {
  await Promise.all(opened.map((o) => o.close().catch(() => {})))
})

async function backend(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const server = await listen(handler)
  opened.push(server)
  return server
}

/** A gateway on a free port in front of `options.backends`. */
async function gatewayFor(options: GatewayOptions): Promise<{ gateway: Gateway; url: string }> {
  const gateway = new Gateway(options)
  const server = await serveGatewayForSpec(gateway)
  opened.push(server, gateway)
  return { gateway, url: server.url }
}

/** Answers what it received: method, URL, headers and body length. */
function echo(req: IncomingMessage, res: ServerResponse): void {
  let bytes = 0
  req.on('data', (chunk: Buffer) => (bytes += chunk.length))
  req.on('end', () => {
    const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: bytes })
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(text)
  })
}

test('hop-by-hop headers are removed both ways; Via, X-Forwarded-* and X-Request-Id are set', async (t) => {
  let seen: IncomingMessage['headers'] = {}
  const origin = await backend((req, res) => {
    seen = req.headers
    res.writeHead(200, {
      'content-type': 'text/plain',
      connection: 'x-backend-secret',
      'x-backend-secret': 'for the gateway only',
      'keep-alive': 'timeout=77',
      'proxy-authenticate': 'Basic',
      'x-kept': 'yes',
      via: '1.1 origin-cache',
    })
    res.end('ok')
  })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }] })
  const reply = await send(`${url}/path?q=1`, {
    headers: {
      connection: 'x-client-hop, keep-alive',
      'x-client-hop': 'drop me',
      'keep-alive': 'timeout=10',
      te: 'trailers',
      'proxy-authorization': 'Basic c2VjcmV0',
      'x-end-to-end': 'kept',
      via: '1.0 client-proxy',
    },
  })
  t.is(reply.status, 200)
  t.is(reply.body.toString(), 'ok')
  for (const name of ['x-client-hop', 'keep-alive', 'te', 'proxy-authorization', 'transfer-encoding']) {
    t.is(seen[name], undefined, `${name} must not reach the backend`)
  }
  t.not(seen.connection, 'x-client-hop, keep-alive')
  t.is(seen['x-end-to-end'], 'kept')
  t.is(seen.via, '1.0 client-proxy, 1.1 optlayer')
  t.is(seen['x-forwarded-for'], '127.0.0.1')
  t.is(seen['x-forwarded-proto'], 'http')
  t.is(seen['x-forwarded-host'], new URL(url).host)
  t.is(seen.host, new URL(origin.url).host)
  t.regex(String(seen['x-request-id']), /^[0-9a-f-]{36}$/)
  t.is(reply.headers['x-request-id'], seen['x-request-id'])
  for (const name of ['x-backend-secret', 'proxy-authenticate']) {
    t.is(reply.headers[name], undefined, `${name} must not reach the client`)
  }
  // The gateway's own listener may send its Keep-Alive; the backend's must not pass.
  t.not(reply.headers['keep-alive'], 'timeout=77')
  t.is(reply.headers['x-kept'], 'yes')
  t.is(reply.headers.via, '1.1 origin-cache, 1.1 optlayer')
})

test('a request id given by the client is propagated and returned; a malformed one is replaced', async (t) => {
  const origin = await backend(echo)
  const { url } = await gatewayFor({ backends: [{ url: origin.url }] })
  const given = await send(`${url}/echo`, { headers: { 'x-request-id': 'trace-42' } })
  t.is(given.headers['x-request-id'], 'trace-42')
  t.is(given.json().headers['x-request-id'], 'trace-42')
  const malformed = await send(`${url}/echo`, { headers: { 'x-request-id': 'x'.repeat(300) } })
  t.regex(String(malformed.headers['x-request-id']), /^[0-9a-f-]{36}$/)
  t.is(malformed.json().headers['x-request-id'], malformed.headers['x-request-id'])
})

test('request bodies, methods and queries reach the backend', async (t) => {
  const origin = await backend(echo)
  const { url } = await gatewayFor({ backends: [{ url: origin.url }] })
  const reply = await send(`${url}/items?page=2`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: '{"a":1}',
  })
  const seen = reply.json()
  t.is(seen.method, 'PUT')
  t.is(seen.url, '/items?page=2')
  t.is(seen.bodyBytes, 7)
})

test('X-Forwarded-For is believed only from a trusted proxy: a spoofed one does not change the rate limit key', async (t) => {
  const origin = await backend(echo)
  const { url } = await gatewayFor({
    backends: [{ url: origin.url }],
    trustedProxies: ['127.0.0.2/32', 'fd00::/8'],
    rateLimit: { algorithm: 'sliding-log', limit: 2, windowMs: 60_000 },
  })
  // From an untrusted peer (127.0.0.1) every spoofed address counts as the peer itself.
  const untrusted = []
  for (const spoofed of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
    const headers = { 'x-forwarded-for': spoofed, 'x-real-ip': spoofed, forwarded: `for=${spoofed}` }
    untrusted.push(await send(`${url}/echo`, { headers, localAddress: '127.0.0.1' }))
  }
  t.deepEqual(
    untrusted.map((r) => r.status),
    [200, 200, 429],
  )
  t.is(untrusted[0]!.json().headers['x-forwarded-for'], '127.0.0.1')
  t.is(untrusted[0]!.json().headers['x-real-ip'], '127.0.0.1')
  t.is(untrusted[0]!.json().headers.forwarded, undefined)
  const limited = untrusted[2]!
  t.is(limited.headers['ratelimit-limit'], '2')
  t.is(limited.headers['ratelimit-remaining'], '0')
  t.truthy(Number(limited.headers['ratelimit-reset']) > 0)
  t.truthy(Number(limited.headers['retry-after']) >= 1)
  t.is(limited.json().error, 'too_many_requests')
  t.truthy(limited.headers['x-request-id'])
  t.is(untrusted[0]!.headers['ratelimit-remaining'], '1')

  // From the trusted proxy (127.0.0.2) the client is the first untrusted hop from the right.
  const viaProxy = (xff: string) =>
    send(`${url}/echo`, { headers: { 'x-forwarded-for': xff }, localAddress: '127.0.0.2' })
  const first = await viaProxy('203.0.113.5')
  t.is(first.status, 200)
  t.is(first.json().headers['x-forwarded-for'], '203.0.113.5, 127.0.0.2')
  t.is(first.json().headers['x-real-ip'], '203.0.113.5')
  // A client-written entry left of the real client is ignored; trusted hops on the right are skipped.
  t.is((await viaProxy('10.9.9.9, 203.0.113.5, 127.0.0.2')).status, 200)
  t.is((await viaProxy('203.0.113.5')).status, 429)
  t.is((await viaProxy('203.0.113.6')).status, 200)
  // An API key is its own key, whoever sends it.
  const keyed = await send(`${url}/echo`, { headers: { 'x-api-key': 'k-1' }, localAddress: '127.0.0.1' })
  t.is(keyed.status, 200)
})

test('/health and /ready are answered by the gateway and never limited', async (t) => {
  const origin = await backend(echo)
  const { url, gateway } = await gatewayFor({
    backends: [{ url: origin.url }],
    rateLimit: { algorithm: 'sliding-log', limit: 1, windowMs: 60_000 },
  })
  for (let i = 0; i < 3; i++) {
    t.is((await send(`${url}/health`)).status, 200)
    const ready = await send(`${url}/ready`)
    t.is(ready.status, 200)
    t.deepEqual(ready.json().checks, { accepting: true, backends: true, capacity: true })
  }
  t.deepEqual(gateway.health(), { ok: true, checks: { running: true } })
})

test('a client that goes away cancels the upstream request', async (t) => {
  let received = 0
  let closedUpstream = 0
  const origin = await backend((req) => {
    received++
    req.socket.once('close', () => closedUpstream++)
  })
  const { url, gateway } = await gatewayFor({ backends: [{ url: origin.url }] })
  const controller = new AbortController()
  const pending = send(`${url}/hang`, { signal: controller.signal })
  await waitFor('the backend to receive the request', () => received === 1)
  controller.abort()
  await t.throwsAsync(pending)
  await waitFor('the backend to see its connection closed', () => closedUpstream === 1)
  await waitFor('the gateway to finish the request', () => gateway.stats().inFlight === 0)
})

test('a client that goes away mid-download cancels the upstream request, compressed or not', async (t) => {
  let closedUpstream = 0
  const origin = await backend((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    // Streams until its connection closes: only a cancelled upstream request stops it.
    const timer = setInterval(() => res.write('x'.repeat(16 * 1024)), 5)
    req.socket.once('close', () => {
      clearInterval(timer)
      closedUpstream++
    })
  })
  const { url, gateway } = await gatewayFor({ backends: [{ url: origin.url }] })
  for (const [index, encoding] of ['identity', 'gzip'].entries()) {
    const download = await new Promise<IncomingMessage>((resolve, reject) => {
      request(`${url}/stream`, { agent: false, headers: { 'accept-encoding': encoding } }, resolve)
        .on('error', reject)
        .end()
    })
    t.is(download.statusCode, 200)
    t.is(download.headers['content-encoding'], encoding === 'gzip' ? 'gzip' : undefined)
    await once(download, 'data')
    download.destroy()
    await waitFor('the backend to see its connection closed', () => closedUpstream === index + 1)
    await waitFor('the gateway to finish the request', () => gateway.stats().inFlight === 0)
  }
  t.is(closedUpstream, 2)
})

test('a request whose client left while it waited for an upstream connection is never sent', async (t) => {
  const seen: string[] = []
  let release = (): void => {}
  const held = new Promise<void>((resolve) => (release = resolve))
  const origin = await backend((req, res) => {
    seen.push(req.url ?? '')
    void held.then(() => res.end('done'))
  })
  // One connection: the second request waits in undici's queue behind the first.
  const { url, gateway } = await gatewayFor({ backends: [{ url: origin.url }], upstream: { max: 1 } })
  const first = send(`${url}/first`)
  await waitFor('the backend to hold the first request', () => seen.length === 1)
  const controller = new AbortController()
  const queued = send(`${url}/queued`, { signal: controller.signal })
  await waitFor('the gateway to hold the second request', () => gateway.stats().inFlight === 2)
  controller.abort()
  await t.throwsAsync(queued)
  // The gateway must have seen the client leave before the connection frees up.
  await waitFor('the gateway to see the client leave', () => gateway.stats().inFlight === 1)
  release()
  t.is((await first).status, 200)
  await waitFor('the gateway to finish both requests', () => gateway.stats().inFlight === 0)
  const after = await send(`${url}/after`)
  t.is(after.status, 200)
  t.deepEqual(seen, ['/first', '/after'], 'the abandoned request never reached the backend')
})

test('a client that goes away mid-upload cancels the upstream request', async (t) => {
  let received = 0
  let closedUpstream = false
  const origin = await backend((req) => {
    req.on('data', (chunk: Buffer) => (received += chunk.length))
    req.socket.once('close', () => (closedUpstream = true))
  })
  const { url, gateway } = await gatewayFor({ backends: [{ url: origin.url }] })
  const upload = request(`${url}/upload`, { method: 'PUT', agent: false })
  upload.on('error', () => {})
  upload.write(Buffer.alloc(64 * 1024))
  await waitFor('the backend to receive the first bytes', () => received > 0)
  upload.destroy()
  await waitFor('the backend to see its connection closed', () => closedUpstream)
  await waitFor('the gateway to finish the request', () => gateway.stats().inFlight === 0)
  t.true(closedUpstream)
  t.true(received < 64 * 1024 + 1)
})

test('a backend that refuses connections gets 502 with a JSON body; a silent one 504', async (t) => {
  const gone = await refusingEndpoint()
  opened.push(gone)
  const refused = await gatewayFor({ backends: [{ url: gone.url }], maxAttempts: 1 })
  const bad = await send(`${refused.url}/x`)
  t.is(bad.status, 502)
  t.is(bad.headers['content-type'], 'application/json; charset=utf-8')
  t.is(bad.json().error.code, 'bad_gateway')
  t.is(typeof bad.json().error.message, 'string')
  t.truthy(bad.headers['x-request-id'])

  // A backend answering something that is not HTTP.
  const sockets = new Set<Socket>()
  const garbage = createNetServer((socket) => {
    sockets.add(socket)
    socket.end('HTTP/1.1 two hundred\r\n\r\n')
  })
  await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve))
  opened.push({
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => garbage.close(resolve))
    },
  })
  const malformed = await gatewayFor({
    backends: [{ url: `http://127.0.0.1:${(garbage.address() as AddressInfo).port}` }],
    maxAttempts: 1,
  })
  const badResponse = await send(`${malformed.url}/x`)
  t.is(badResponse.status, 502)
  t.is(badResponse.json().error.code, 'bad_gateway')

  const silent = await backend(() => {})
  const slow = await gatewayFor({ backends: [{ url: silent.url }], upstreamTimeoutMs: 200 })
  const timedOut = await send(`${slow.url}/x`)
  t.is(timedOut.status, 504)
  t.is(timedOut.json().error.code, 'gateway_timeout')
  t.is(slow.gateway.stats().requests.error, 1)
  t.is(slow.gateway.balancer.stats().backends[0]!.timeouts, 1)
})

test('a request waiting for a connection to its backend times out when its own wait ends, not once a connection frees', async (t) => {
  const silent = await backend(() => {})
  // One connection: the second request waits in the pool while the first holds it unanswered.
  const { url } = await gatewayFor({ backends: [{ url: silent.url }], upstream: { max: 1 }, upstreamTimeoutMs: 1_000 })
  const answeredAt = (path: string): Promise<number> =>
    send(`${url}${path}`).then((response) => {
      t.is(response.status, 504)
      return performance.now()
    })
  const [first, second] = await Promise.all([answeredAt('/holding'), answeredAt('/waiting')])
  // Timed from when a connection took it, the second would end a whole timeout after the first.
  t.true(second - first < 700, `the waiting request ended ${Math.round(second - first)} ms after the first`)
})

test('an upload slower than upstreamTimeoutMs is not cut: the wait for the answer starts once it is sent', async (t) => {
  const origin = await backend((req, res) => {
    let received = 0
    req.on('data', (chunk: Buffer) => (received += chunk.length))
    req.on('end', () => res.end(String(received)))
  })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }], upstreamTimeoutMs: 300 })
  const upload = request(`${url}/upload`, { method: 'PUT', agent: false })
  const answered = once(upload, 'response') as Promise<[IncomingMessage]>
  // Ten chunks 100 ms apart: the upload takes three times the timeout.
  for (let i = 0; i < 10; i++) {
    upload.write(Buffer.alloc(1024))
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  upload.end()
  const [response] = await answered
  let text = ''
  for await (const chunk of response) text += String(chunk)
  t.is(response.statusCode, 200)
  t.is(text, String(10 * 1024))
})

test('a body the backend stops sending is cut after upstreamTimeoutMs; a client slower than that is not', async (t) => {
  const large = Buffer.alloc(32 * 1024 * 1024, 'x')
  const origin = await backend((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' })
    // /stall: a first chunk, then nothing; /large: all of it, as fast as the gateway takes it.
    if (req.url === '/stall') res.write('first chunk')
    else res.end(large)
  })
  const { url, gateway } = await gatewayFor({ backends: [{ url: origin.url }], upstreamTimeoutMs: 300 })
  await t.throwsAsync(send(`${url}/stall`), { message: /aborted|socket hang up|ECONNRESET/ })
  await waitFor('the stalled request counted as failed', () => gateway.balancer.stats().backends[0]!.failures === 1)

  // The client reads nothing for three times the timeout: the gateway pauses the backend
  // meanwhile, and a gap it made itself is not the backend's.
  const download = request(`${url}/large`, { agent: false })
  download.end()
  const [response] = (await once(download, 'response')) as [IncomingMessage]
  response.pause()
  await new Promise((resolve) => setTimeout(resolve, 900))
  let received = 0
  for await (const chunk of response) received += (chunk as Buffer).length
  t.is(received, large.length)
})

test('past maxInFlight a request gets 503 with Retry-After at once', async (t) => {
  const held: ServerResponse[] = []
  const origin = await backend((_req, res) => held.push(res))
  const { url, gateway } = await gatewayFor({ backends: [{ url: origin.url }], maxInFlight: 2, retryAfterMs: 2_500 })
  const first = [send(`${url}/a`), send(`${url}/b`)]
  await waitFor('two requests held by the backend', () => held.length === 2)
  const shed = await send(`${url}/c`)
  t.is(shed.status, 503)
  t.is(shed.headers['retry-after'], '3')
  t.is(shed.json().error.code, 'overloaded')
  t.false(gateway.ready().checks.capacity)
  t.is((await send(`${url}/ready`)).status, 503)
  for (const res of held) res.end('done')
  t.deepEqual(
    (await Promise.all(first)).map((r) => r.status),
    [200, 200],
  )
  t.is(gateway.stats().requests.shed, 1)
})

test('a backend killed mid-load fails only its own in-flight requests; idempotent ones are retried elsewhere', async (t) => {
  const heldOnA: ServerResponse[] = []
  const a = await backend((req, res) => {
    req.resume()
    heldOnA.push(res)
  })
  const b = await backend((req, res) => {
    req.resume()
    req.on('end', () => res.end(`b:${req.method}`))
  })
  const { url } = await gatewayFor({
    backends: [{ url: a.url }, { url: b.url }],
    balancer: { algorithm: 'round-robin' },
  })
  const gets = Array.from({ length: 6 }, (_, i) => send(`${url}/get/${i}`))
  const posts = Array.from({ length: 6 }, (_, i) => send(`${url}/post/${i}`, { method: 'POST', body: 'payload' }))
  await waitFor('half the requests held by backend a', () => heldOnA.length === 6)
  await a.close()
  const getReplies = await Promise.all(gets)
  const postReplies = await Promise.all(posts)
  t.deepEqual(
    getReplies.map((r) => r.status),
    [200, 200, 200, 200, 200, 200],
  )
  t.true(getReplies.every((r) => r.body.toString() === 'b:GET'))
  const failed = postReplies.filter((r) => r.status === 502)
  const served = postReplies.filter((r) => r.status === 200)
  // Round robin sent each backend every other request; only those on a fail.
  t.is(failed.length + served.length, 6)
  t.true(failed.length > 0 && served.length > 0)
  t.true(served.every((r) => r.body.toString() === 'b:POST'))
  t.true(failed.every((r) => r.json().error.code === 'bad_gateway'))
})

test('a refused connection sends the request to another backend whatever its method: the dead one never saw it', async (t) => {
  const dead = await refusingEndpoint()
  opened.push(dead)
  const alive = await backend(echo)
  const { url, gateway } = await gatewayFor({
    backends: [{ url: dead.url }, { url: alive.url }],
    balancer: { algorithm: 'round-robin', outlierDetection: false, circuitBreaker: false },
  })
  const deadFailures = (): number => gateway.balancer.stats().backends.find((b) => b.url === dead.url)!.failures
  for (const method of ['PUT', 'POST']) {
    const before = deadFailures()
    const replies = []
    for (let i = 0; i < 4; i++) replies.push(await send(`${url}/${i}`, { method, body: 'x'.repeat(1000) }))
    t.deepEqual(
      replies.map((r) => [r.status, r.json().method, r.json().bodyBytes]),
      replies.map(() => [200, method, 1000]),
    )
    t.true(deadFailures() > before, `some ${method}s went to the dead backend first`)
  }
})

test('retries draw on the balancer retry budget: with none left, a refused GET is not retried', async (t) => {
  const dead = await refusingEndpoint()
  opened.push(dead)
  const alive = await backend(echo)
  const { url, gateway } = await gatewayFor({
    backends: [{ url: dead.url }, { url: alive.url }],
    balancer: {
      algorithm: 'round-robin',
      outlierDetection: false,
      circuitBreaker: false,
      retryBudget: { ratio: 0, minRetriesPerSecond: 0 },
    },
    cache: false,
  })
  const replies = []
  for (let i = 0; i < 4; i++) replies.push(await send(`${url}/get/${i}`))
  const statuses = replies.map((r) => r.status)
  const failed = statuses.filter((s) => s === 502).length
  t.true(failed >= 1, `statuses ${statuses.join(' ')}`)
  t.true(
    statuses.every((s) => s === 200 || s === 502),
    `statuses ${statuses.join(' ')}: ${replies.map((r) => r.body.toString()).join(' | ')}`,
  )
  // Every request that met the dead backend first asked for a retry and was refused one.
  const budget = gateway.balancer.stats().retryBudget
  t.is(budget.retries, 0)
  t.is(budget.refused, failed)
})

test('close() lets requests in flight finish, answers new ones 503 and is idempotent', async (t) => {
  const held: ServerResponse[] = []
  const origin = await backend((_req, res) => held.push(res))
  const { url, gateway } = await gatewayFor({ backends: [{ url: origin.url }] })
  const inFlight = send(`${url}/slow`)
  await waitFor('the backend to hold the request', () => held.length === 1)
  const closing = gateway.close({ timeoutMs: 30_000 })
  t.is(gateway.close(), closing)
  const refused = await send(`${url}/new`)
  t.is(refused.status, 503)
  t.is(refused.json().error.code, 'closing')
  t.false(gateway.ready().ok)
  let closed = false
  void closing.then(() => (closed = true))
  held[0]!.end('finished')
  const reply = await inFlight
  t.is(reply.status, 200)
  t.is(reply.body.toString(), 'finished')
  await closing
  t.true(closed)
})

test('close() cuts what is still in flight after its timeout', async (t) => {
  const origin = await backend(() => {})
  const { url, gateway } = await gatewayFor({ backends: [{ url: origin.url }] })
  const pending = send(`${url}/forever`)
  await waitFor('the request in flight', () => gateway.stats().inFlight === 1)
  await gateway.close({ timeoutMs: 50 })
  const reply = await pending
  t.is(reply.status, 503)
  t.is(reply.json().error.code, 'closing')
})

test('requests are counted by outcome and upstream status class in the metrics', async (t) => {
  const origin = await backend((req, res) => {
    res.writeHead(req.url === '/missing' ? 404 : 200)
    res.end()
  })
  const metrics = new MetricsCollector()
  opened.push(metrics)
  const { url } = await gatewayFor({ name: 'metrics-gw', backends: [{ url: origin.url }] })
  await send(`${url}/ok`)
  await send(`${url}/missing`)
  await send(`${url}/ok`, { method: 'POST', body: 'x' })
  const text = await metrics.expose()
  t.regex(text, /optlayer_gateway_requests_total\{gateway="metrics-gw",outcome="miss"\} 2/)
  t.regex(text, /optlayer_gateway_requests_total\{gateway="metrics-gw",outcome="bypass"\} 1/)
  t.regex(text, /optlayer_gateway_upstream_responses_total\{gateway="metrics-gw",class="4xx"\} 1/)
  t.regex(text, /optlayer_gateway_latency_seconds\{gateway="metrics-gw",quantile="0.99"\}/)
})

test('options are checked: unknown names, no backends, bad CIDRs refused', (t) => {
  t.throws(() => new Gateway({ backends: [{ url: 'http://127.0.0.1:1' }], maxInflight: 3 } as never), {
    instanceOf: InvalidArgumentError,
    message: /unknown option 'maxInflight'/,
  })
  t.throws(() => new Gateway({ backends: [] }), { instanceOf: InvalidArgumentError, message: /backends/ })
  t.throws(() => new Gateway({ backends: [{ url: 'http://127.0.0.1:1' }], trustedProxies: ['10.0.0.0/33'] }), {
    instanceOf: InvalidArgumentError,
    message: /trustedProxies\[0\]/,
  })
  t.throws(() => new Gateway({ backends: [{ url: 'ftp://x' }] }), { instanceOf: InvalidArgumentError })
})
