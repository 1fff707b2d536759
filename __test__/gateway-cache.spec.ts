import { randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'

import test from 'ava'

import { codecStats, Compressor, Gateway, type GatewayOptions } from 'optlayer'

import { listen, send, serveGatewayForSpec, type TestServer } from './helpers/gateway'
import { RedisCluster, startCluster, startStandalone } from './helpers/redis'
import { waitFor } from './helpers/wait'

const opened: { close(): Promise<unknown> }[] = []

test.after.always(async () => {
  await Promise.all(opened.map((o) => o.close().catch(() => {})))
})

type Route = (req: IncomingMessage, res: ServerResponse) => void

/** A backend serving `routes` by path, counting the requests of each and keeping their headers. */
async function backend(routes: Record<string, Route>): Promise<TestServer & { hits: Map<string, IncomingMessage[]> }> {
  const hits = new Map<string, IncomingMessage[]>()
  const server = await listen((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
    hits.set(path, [...(hits.get(path) ?? []), req])
    const route = routes[path]
    if (route === undefined) {
      res.writeHead(404)
      return void res.end()
    }
    route(req, res)
  })
  opened.push(server)
  return Object.assign(server, { hits })
}

async function gatewayFor(options: GatewayOptions): Promise<{ gateway: Gateway; url: string }> {
  const gateway = new Gateway(options)
  const server = await serveGatewayForSpec(gateway)
  opened.push(server, gateway)
  return { gateway, url: server.url }
}

/** A route answering `body` with `headers`. */
function serve(body: string, headers: Record<string, string | string[]>, status = 200): Route {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain', ...headers })
    res.end(body)
  }
}

const count = (server: { hits: Map<string, IncomingMessage[]> }, path: string) => server.hits.get(path)?.length ?? 0

test('max-age and s-maxage responses are stored; hits carry Age and X-Cache: HIT', async (t) => {
  const origin = await backend({
    '/max-age': serve('m', { 'cache-control': 'public, max-age=60' }),
    '/s-maxage': serve('s', { 'cache-control': 's-maxage=60' }),
    '/aged': serve('a', { 'cache-control': 'max-age=600', age: '100' }),
  })
  const { url, gateway } = await gatewayFor({ backends: [{ url: origin.url }] })
  for (const path of ['/max-age', '/s-maxage']) {
    const first = await send(url + path)
    t.is(first.headers['x-cache'], 'MISS')
    const second = await send(url + path)
    t.is(second.headers['x-cache'], 'HIT', path)
    t.is(second.body.toString(), path === '/max-age' ? 'm' : 's')
    t.regex(String(second.headers.age), /^\d+$/)
    t.is(second.headers.via, '1.1 optlayer')
    t.truthy(second.headers['x-request-id'])
    t.is(count(origin, path), 1)
  }
  await send(`${url}/aged`)
  const aged = await send(`${url}/aged`)
  t.is(aged.headers['x-cache'], 'HIT')
  t.true(Number(aged.headers.age) >= 100)
  t.is(gateway.stats().requests.hit, 3)
  t.is(gateway.stats().requests.miss, 3)
})

test('no-store, private, Set-Cookie without public and Authorization without public are not stored', async (t) => {
  const origin = await backend({
    '/no-store': serve('n', { 'cache-control': 'no-store' }),
    '/private': serve('p', { 'cache-control': 'private, max-age=60' }),
    '/cookie': serve('c', { 'cache-control': 'max-age=60', 'set-cookie': 'id=1' }),
    '/cookie-public': serve('cp', { 'cache-control': 'public, max-age=60', 'set-cookie': 'id=2' }),
    '/auth': serve('a', { 'cache-control': 'max-age=60' }),
    '/auth-public': serve('ap', { 'cache-control': 'public, max-age=60' }),
  })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }] })
  for (const path of ['/no-store', '/private', '/cookie']) {
    const first = await send(url + path)
    const second = await send(url + path)
    t.is(first.headers['x-cache'], 'MISS')
    t.is(second.headers['x-cache'], 'MISS', path)
    t.is(count(origin, path), 2, path)
  }
  t.deepEqual((await send(`${url}/cookie`)).headers['set-cookie'], ['id=1'])
  await send(`${url}/cookie-public`)
  t.is((await send(`${url}/cookie-public`)).headers['x-cache'], 'HIT')
  const auth = { authorization: 'Bearer secret' }
  await send(`${url}/auth`, { headers: auth })
  t.is((await send(`${url}/auth`, { headers: auth })).headers['x-cache'], 'MISS')
  t.is(count(origin, '/auth'), 2)
  await send(`${url}/auth-public`, { headers: auth })
  t.is((await send(`${url}/auth-public`, { headers: auth })).headers['x-cache'], 'HIT')
  t.is(count(origin, '/auth-public'), 1)
})

test('responses are stored per Vary value', async (t) => {
  const origin = await backend({
    '/vary': (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60', vary: 'Accept-Language' })
      res.end(`lang=${req.headers['accept-language'] ?? 'none'}`)
    },
  })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }] })
  const en = { 'accept-language': 'en' }
  const fr = { 'accept-language': 'fr' }
  t.is((await send(`${url}/vary`, { headers: en })).body.toString(), 'lang=en')
  t.is((await send(`${url}/vary`, { headers: fr })).body.toString(), 'lang=fr')
  const again = await send(`${url}/vary`, { headers: en })
  t.is(again.headers['x-cache'], 'HIT')
  t.is(again.body.toString(), 'lang=en')
  const frAgain = await send(`${url}/vary`, { headers: fr })
  t.is(frAgain.headers['x-cache'], 'HIT')
  t.is(frAgain.body.toString(), 'lang=fr')
  t.is(count(origin, '/vary'), 2)
})

test('client conditionals are answered 304 from the cache (If-None-Match, If-Modified-Since), on a miss too', async (t) => {
  const modified = new Date(Date.now() - 3_600_000).toUTCString()
  const origin = await backend({
    '/tagged': serve('body', { 'cache-control': 'max-age=60', etag: '"v1"', 'last-modified': modified }),
  })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }] })
  const onMiss = await send(`${url}/tagged`, { headers: { 'if-none-match': '"v1"' } })
  t.is(onMiss.status, 304)
  t.is(onMiss.headers['x-cache'], 'MISS')
  // The backend was asked without the client's validator, so the whole response could be stored.
  t.is(origin.hits.get('/tagged')![0]!.headers['if-none-match'], undefined)
  const byTag = await send(`${url}/tagged`, { headers: { 'if-none-match': 'W/"v0", "v1"' } })
  t.is(byTag.status, 304)
  t.is(byTag.headers['x-cache'], 'HIT')
  t.is(byTag.headers.etag, '"v1"')
  t.is(byTag.body.length, 0)
  const byDate = await send(`${url}/tagged`, { headers: { 'if-modified-since': new Date().toUTCString() } })
  t.is(byDate.status, 304)
  const changed = await send(`${url}/tagged`, { headers: { 'if-none-match': '"v0"' } })
  t.is(changed.status, 200)
  t.is(changed.body.toString(), 'body')
  t.is(count(origin, '/tagged'), 1)
})

test('stale entries are revalidated with If-None-Match; a 304 freshens them', async (t) => {
  const origin = await backend({
    '/no-cache': (req, res) => {
      const headers = { 'cache-control': 'no-cache', etag: '"n1"', 'content-type': 'text/plain' }
      if (req.headers['if-none-match'] === '"n1"') res.writeHead(304, headers).end()
      else res.writeHead(200, headers).end('n1 body')
    },
    '/max-age-0': (req, res) => {
      const headers = { 'cache-control': 'max-age=0', etag: '"z1"', 'content-type': 'text/plain' }
      if (req.headers['if-none-match'] === '"z1"') res.writeHead(304, headers).end()
      else res.writeHead(200, headers).end('z1 body')
    },
  })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }] })
  for (const [path, tag, body] of [
    ['/no-cache', '"n1"', 'n1 body'],
    ['/max-age-0', '"z1"', 'z1 body'],
  ] as const) {
    t.is((await send(url + path)).headers['x-cache'], 'MISS')
    const revalidated = await send(url + path)
    t.is(revalidated.status, 200)
    t.is(revalidated.headers['x-cache'], 'REVALIDATED')
    t.is(revalidated.body.toString(), body)
    const asked = origin.hits.get(path)!
    t.is(asked.length, 2)
    t.is(asked[1]!.headers['if-none-match'], tag)
  }
})

test('stale-while-revalidate serves the stale entry and revalidates once per key in the background', async (t) => {
  let version = 1
  const held: (() => void)[] = []
  const origin = await backend({
    '/swr': (req, res) => {
      const answer = () => {
        res.writeHead(200, {
          'content-type': 'text/plain',
          'cache-control': version === 1 ? 'max-age=0, stale-while-revalidate=600' : 'max-age=600',
          etag: `"s${version}"`,
        })
        res.end(`version ${version}`)
      }
      // The revalidations wait until the test lets them go, to see how many start.
      if (req.headers['if-none-match'] !== undefined) held.push(answer)
      else answer()
    },
  })
  const { url, gateway } = await gatewayFor({ backends: [{ url: origin.url }] })
  t.is((await send(`${url}/swr`)).headers['x-cache'], 'MISS')
  const stale = await Promise.all(Array.from({ length: 5 }, () => send(`${url}/swr`)))
  t.true(stale.every((r) => r.headers['x-cache'] === 'STALE' && r.body.toString() === 'version 1'))
  await waitFor('the background revalidation to reach the backend', () => held.length === 1)
  t.is(count(origin, '/swr'), 2)
  version = 2
  held[0]!()
  await waitFor('the revalidated entry', async () => (await send(`${url}/swr`)).body.toString() === 'version 2')
  const fresh = await send(`${url}/swr`)
  t.is(fresh.headers['x-cache'], 'HIT')
  t.is(held.length, 1)
  t.true(gateway.stats().requests.stale >= 5)
})

test('stale-if-error serves the stale entry when the backend answers 5xx or is down', async (t) => {
  let failing = false
  const route: Route = (_req, res) => {
    if (failing) return void res.writeHead(503).end('down')
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=0, stale-if-error=600' })
    res.end('last good')
  }
  const origin = await backend({ '/sie': route, '/plain': serve('plain', { 'cache-control': 'max-age=0' }) })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }], maxAttempts: 1 })
  t.is((await send(`${url}/sie`)).headers['x-cache'], 'MISS')
  failing = true
  const on5xx = await send(`${url}/sie`)
  t.is(on5xx.status, 200)
  t.is(on5xx.headers['x-cache'], 'STALE')
  t.is(on5xx.body.toString(), 'last good')
  await send(`${url}/plain`)
  await origin.close()
  const down = await send(`${url}/sie`)
  t.is(down.status, 200)
  t.is(down.headers['x-cache'], 'STALE')
  t.is(down.body.toString(), 'last good')
  // Without stale-if-error a stale entry is not served on failure.
  t.is((await send(`${url}/plain`)).status, 502)
})

test('100 concurrent identical misses make exactly one upstream request; unstorable ones go upstream each', async (t) => {
  const held: ServerResponse[] = []
  const origin = await backend({
    '/popular': (_req, res) => held.push(res),
    '/personal': (_req, res) => held.push(res),
  })
  const { url, gateway } = await gatewayFor({ backends: [{ url: origin.url }] })
  const replies = Array.from({ length: 100 }, () => send(`${url}/popular`))
  await waitFor('100 requests in flight', () => gateway.stats().inFlight === 100)
  // In flight at the gateway is not yet arrived at the backend: wait for the one upstream request, then check it is one.
  await waitFor('the upstream request', () => count(origin, '/popular') > 0)
  t.is(count(origin, '/popular'), 1)
  held.shift()!.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' }).end('shared')
  const all = await Promise.all(replies)
  t.true(all.every((r) => r.status === 200 && r.body.toString() === 'shared'))
  t.is(count(origin, '/popular'), 1)
  t.is(all.filter((r) => r.headers['x-cache'] === 'MISS').length, 1)
  t.is(all.filter((r) => r.headers['x-cache'] === 'HIT').length, 99)

  const personal = Array.from({ length: 10 }, () => send(`${url}/personal`))
  await waitFor('10 requests in flight', () => gateway.stats().inFlight === 10)
  await waitFor('the first upstream request', () => count(origin, '/personal') > 0)
  t.is(count(origin, '/personal'), 1)
  held.shift()!.writeHead(200, { 'cache-control': 'no-store' }).end('mine')
  // Not storable: the others are let go and each asks the backend.
  await waitFor('the others to reach the backend', () => count(origin, '/personal') === 10)
  for (const res of held.splice(0)) res.writeHead(200, { 'cache-control': 'no-store' }).end('mine')
  t.true((await Promise.all(personal)).every((r) => r.status === 200))
})

test('only-if-cached requests are answered from the cache or with 504, never upstream', async (t) => {
  const origin = await backend({
    '/kept': serve('kept', { 'cache-control': 'max-age=60' }),
    '/old': serve('old', { 'cache-control': 'max-age=0', etag: '"o"' }),
  })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }] })
  const onlyCached = { 'cache-control': 'only-if-cached' }
  const absent = await send(`${url}/kept`, { headers: onlyCached })
  t.is(absent.status, 504)
  t.is(absent.json().error.code, 'gateway_timeout')
  t.is(count(origin, '/kept'), 0)
  await send(`${url}/kept`)
  t.is((await send(`${url}/kept`, { headers: onlyCached })).headers['x-cache'], 'HIT')
  await send(`${url}/old`)
  t.is((await send(`${url}/old`, { headers: onlyCached })).status, 504)
  t.is(count(origin, '/old'), 1)
})

test('an unsafe method invalidates the stored response of its target', async (t) => {
  const origin = await backend({ '/doc': serve('doc', { 'cache-control': 'max-age=60' }) })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }] })
  await send(`${url}/doc`)
  t.is((await send(`${url}/doc`)).headers['x-cache'], 'HIT')
  const put = await send(`${url}/doc`, { method: 'PUT', body: 'new' })
  t.is(put.headers['x-cache'], 'BYPASS')
  t.is((await send(`${url}/doc`)).headers['x-cache'], 'MISS')
  t.is(count(origin, '/doc'), 3)
})

test('HEAD is answered from a stored GET response; Range requests bypass the cache', async (t) => {
  const origin = await backend({ '/file': serve('0123456789', { 'cache-control': 'max-age=60' }) })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }] })
  await send(`${url}/file`)
  const head = await send(`${url}/file`, { method: 'HEAD' })
  t.is(head.headers['x-cache'], 'HIT')
  t.is(head.headers['content-length'], '10')
  t.is(head.body.length, 0)
  const ranged = await send(`${url}/file`, { headers: { range: 'bytes=0-3' } })
  t.is(ranged.headers['x-cache'], 'BYPASS')
  t.is(count(origin, '/file'), 2)
})

/** A gateway whose server counts the responses written from a prepared field list: the hits answered at once. */
async function gatewayCountingFastHits(
  options: GatewayOptions,
): Promise<{ gateway: Gateway; url: string; fast: () => number }> {
  const gateway = new Gateway(options)
  const handler = gateway.handler()
  let fast = 0
  const server = await listen((req, res) => {
    const writeHead = res.writeHead
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      if (Array.isArray(args.at(-1))) fast++
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args)
    } as typeof res.writeHead
    handler(req, res)
  })
  opened.push(server, gateway)
  return { gateway, url: server.url, fast: () => fast }
}

/** A reply's headers without those that differ from one response to the next. */
function lasting(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const { age, 'x-request-id': id, 'ratelimit-remaining': remaining, 'ratelimit-reset': reset, ...rest } = headers
  return rest
}

test('a plain hit is answered at once with what the full cached path sends for the same entry', async (t) => {
  const origin = await backend({
    '/page': serve(text, {
      'cache-control': 'public, max-age=60',
      etag: '"p1"',
      'set-cookie': ['a=1', 'b=2'],
      via: '1.1 upstream',
      'x-origin': 'kept',
    }),
    '/lang': serve('hallo', { 'cache-control': 'max-age=60', vary: 'accept-language' }),
    '/aged': serve('old', { 'cache-control': 'max-age=600', age: '100' }),
  })
  const { gateway, url, fast } = await gatewayCountingFastHits({
    backends: [{ url: origin.url }],
    rateLimit: { algorithm: 'token-bucket', limit: 1_000, windowMs: 60_000 },
  })
  const requests: [string, Record<string, string>, string?][] = [
    ['/page', {}],
    ['/page', {}, 'HEAD'],
    ['/page', { 'accept-encoding': 'gzip' }],
    ['/page', { 'accept-encoding': 'br;q=1, zstd;q=0.5' }],
    ['/lang', { 'accept-language': 'de' }],
    ['/lang', { 'accept-language': 'fr' }],
    ['/aged', {}],
  ]
  for (const [path, headers, method] of requests) await send(url + path, { headers, method })
  // The compressed forms join the entry in the background; until then a hit compresses on the full path.
  for (const accept of ['gzip', 'br']) {
    await waitFor(`the ${accept} form stored`, async () => {
      const before = fast()
      await send(`${url}/page`, { headers: { 'accept-encoding': accept } })
      return fast() > before
    })
  }
  const hitsBefore = gateway.stats().requests.hit
  for (const [path, headers, method] of requests) {
    const before = fast()
    const plain = await send(url + path, { headers, method })
    t.is(fast(), before + 1, `${method ?? 'GET'} ${path} ${JSON.stringify(headers)} answered at once`)
    // A request directive that changes nothing for a fresh entry takes the full path.
    const full = await send(url + path, { headers: { ...headers, 'cache-control': 'max-stale=1' }, method })
    t.is(fast(), before + 1)
    t.is(plain.status, full.status)
    t.deepEqual(lasting(plain.headers), lasting(full.headers), path)
    // Both count whole seconds: a second may tick between the two requests.
    const ages = [plain, full].map((r) => Number(r.headers.age))
    t.true(ages[1]! - ages[0]! === 0 || ages[1]! - ages[0]! === 1, `Age ${ages.join(' then ')}`)
    t.regex(String(plain.headers['x-request-id']), /^[0-9a-f-]{36}$/)
    t.is(plain.headers['x-cache'], 'HIT')
    t.true(plain.body.equals(full.body))
  }
  t.deepEqual(
    ['/page', '/lang', '/aged'].map((path) => count(origin, path)),
    [1, 2, 1],
  )
  t.true(Number((await send(`${url}/aged`)).headers.age) >= 100)
  // Both ways count as hits of the gateway.
  t.is(gateway.stats().requests.hit - hitsBefore, 2 * requests.length + 1)
})

test('a plain hit past the rate limit is refused with 429 at once, its request id kept', async (t) => {
  const origin = await backend({ '/page': serve('p', { 'cache-control': 'max-age=60' }) })
  const { gateway, url, fast } = await gatewayCountingFastHits({
    backends: [{ url: origin.url }],
    rateLimit: { algorithm: 'sliding-log', limit: 3, windowMs: 60_000 },
  })
  t.is((await send(`${url}/page`)).headers['x-cache'], 'MISS')
  const hits = [await send(`${url}/page`), await send(`${url}/page`, { headers: { 'x-request-id': 'mine-1' } })]
  t.deepEqual(
    hits.map((hit) => [hit.status, hit.headers['x-cache'], hit.headers['ratelimit-remaining']]),
    [
      [200, 'HIT', '1'],
      [200, 'HIT', '0'],
    ],
  )
  t.is(hits[1]?.headers['x-request-id'], 'mine-1')
  const limited = await send(`${url}/page`, { headers: { 'x-request-id': 'mine-2' } })
  t.is(limited.status, 429)
  t.is(limited.headers['x-request-id'], 'mine-2')
  t.truthy(limited.headers['retry-after'])
  t.is(fast(), 2)
  t.like(gateway.stats().requests, { hit: 2, miss: 1, limited: 1 })
})

test('httpCache.heuristicCapMs caps the heuristic freshness of what is served, on both paths', async (t) => {
  const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000).toUTCString()
  const origin = await backend({
    // No explicit lifetime: 10% of the time since Last-Modified (a day) would be the heuristic one.
    '/old': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'last-modified': tenDaysAgo, date: new Date().toUTCString() })
      res.end('old page')
    },
  })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }], httpCache: { heuristicCapMs: 2_000 } })
  t.is((await send(`${url}/old`)).headers['x-cache'], 'MISS')
  t.is((await send(`${url}/old`)).headers['x-cache'], 'HIT')
  t.is((await send(`${url}/old`, { headers: { 'cache-control': 'max-stale=0' } })).headers['x-cache'], 'HIT')
  // Date has whole seconds, so the entry is up to a second old on arrival: stale at most 2 s after it.
  await sleep(2_100)
  // Past the cap: revalidated with If-Modified-Since, answered whole by this backend.
  t.is((await send(`${url}/old`)).headers['x-cache'], 'MISS')
  t.is(count(origin, '/old'), 2)
  t.is(origin.hits.get('/old')?.[1]?.headers['if-modified-since'], tenDaysAgo)
})

test('bodies over maxObjectBytes stream through unstored', async (t) => {
  const big = 'x'.repeat(64 * 1024)
  const origin = await backend({
    '/big': serve(big, { 'cache-control': 'max-age=60' }),
    '/chunked': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' })
      res.write(big)
      res.end(big)
    },
  })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }], maxObjectBytes: 16 * 1024 })
  for (const path of ['/big', '/chunked']) {
    const first = await send(url + path)
    t.is(first.body.length, path === '/big' ? big.length : 2 * big.length)
    t.is((await send(url + path)).headers['x-cache'], 'MISS', path)
    t.is(count(origin, path), 2)
  }
})

const text = 'compressible line of text, repeated. '.repeat(300)

function decode(encoding: string | undefined, body: Buffer): string {
  if (encoding === 'br') return brotliDecompressSync(body).toString()
  if (encoding === 'gzip') return gunzipSync(body).toString()
  if (encoding === 'zstd') return Compressor.decompress(body, 'zstd').toString()
  if (encoding === 'deflate') return Compressor.decompress(body, 'deflate').toString()
  return body.toString()
}

/** Compressions run in this process so far, every codec. */
function compressions(): number {
  return Object.values(codecStats().compress).reduce((sum, c) => sum + (c?.calls ?? 0), 0)
}

for (const cached of [false, true]) {
  // Serial: the cached case counts this process's compressions, which no other spec may add to meanwhile.
  test.serial(`compression follows Accept-Encoding q-values (${cached ? 'cached' : 'streamed'})`, async (t) => {
    const origin = await backend({
      '/text': serve(text, { 'cache-control': 'max-age=60', etag: '"t1"' }),
      '/small': serve('tiny', { 'cache-control': 'max-age=60', 'content-length': '4' }),
      '/png': (_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(4096)),
      '/encoded': (_req, res) =>
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }).end(Buffer.alloc(2048)),
    })
    const { url } = await gatewayFor({ backends: [{ url: origin.url }], cache: cached ? {} : false })
    const cases: [string | undefined, string | undefined][] = [
      ['gzip;q=0.5, br;q=0.9', 'br'],
      ['zstd;q=0, gzip', 'gzip'],
      ['zstd', 'zstd'],
      ['deflate', 'deflate'],
      ['*', 'zstd'],
      ['br;q=0, *;q=0.1', 'zstd'],
      ['identity', undefined],
      ['gzip;q=0', undefined],
      [undefined, undefined],
    ]
    for (const round of [1, 2]) {
      for (const [accept, expected] of cases) {
        const reply = await send(`${url}/text`, { headers: accept === undefined ? {} : { 'accept-encoding': accept } })
        t.is(reply.headers['content-encoding'], expected, `${accept} (round ${round})`)
        t.regex(String(reply.headers.vary), /accept-encoding/i)
        t.is(decode(expected, reply.body), text)
        if (expected !== undefined) t.is(reply.headers.etag, 'W/"t1"')
        if (cached && round === 2) t.is(reply.headers['x-cache'], 'HIT')
      }
    }
    const small = await send(`${url}/small`, { headers: { 'accept-encoding': 'gzip' } })
    t.is(small.headers['content-encoding'], undefined)
    const png = await send(`${url}/png`, { headers: { 'accept-encoding': 'gzip' } })
    t.is(png.headers['content-encoding'], undefined)
    const encoded = await send(`${url}/encoded`, { headers: { 'accept-encoding': 'br' } })
    t.is(encoded.headers['content-encoding'], 'gzip')
    if (!cached) return
    t.is(count(origin, '/text'), 1)
    // The compressed forms joined the entry in the background: from then on a hit compresses nothing.
    for (const [accept] of cases) {
      const headers: Record<string, string> = accept === undefined ? {} : { 'accept-encoding': accept }
      await waitFor(`a hit for ${accept} without compression`, async () => {
        const before = compressions()
        await send(`${url}/text`, { headers })
        return compressions() === before
      })
    }
  })
}

test('a stored body that does not compress is served as it is, still varying by Accept-Encoding', async (t) => {
  const noise = randomBytes(8192)
  const origin = await backend({
    '/noise': (_req, res) =>
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' }).end(noise),
  })
  const { url } = await gatewayFor({ backends: [{ url: origin.url }] })
  await send(`${url}/noise`)
  const hit = await send(`${url}/noise`, { headers: { 'accept-encoding': 'gzip' } })
  t.is(hit.headers['x-cache'], 'HIT')
  t.is(hit.headers['content-encoding'], undefined)
  t.regex(String(hit.headers.vary), /accept-encoding/i)
  t.deepEqual(hit.body, noise)
})

for (const topology of ['standalone', 'cluster'] as const) {
  test(`a second gateway sharing the Redis (${topology}) answers from what the first one stored, and shares the rate limit`, async (t) => {
    const redis = topology === 'standalone' ? await startStandalone() : await startCluster()
    t.teardown(() => redis.stop())
    const connection = redis instanceof RedisCluster ? { cluster: redis.startupNodes } : { url: redis.url }
    const origin = await backend({ '/shared': serve('stored once', { 'cache-control': 'max-age=60' }) })
    const rateLimit = { algorithm: 'sliding-log' as const, limit: 3, windowMs: 60_000 }
    const first = await gatewayFor({ backends: [{ url: origin.url }], redis: connection, rateLimit })
    const second = await gatewayFor({ backends: [{ url: origin.url }], redis: connection, rateLimit })
    // Closed before Redis stops (teardowns run last first): a Cluster client left running against a
    // stopped cluster keeps reselecting its subscriber until the file ends.
    t.teardown(() => Promise.all([first.gateway.close(), second.gateway.close()]))
    // Connected first: until then a gateway answers from its own tiers and the backend (a Cluster client takes longest).
    await Promise.all([first.gateway.cache?.ready(), second.gateway.cache?.ready()])
    t.is((await send(`${first.url}/shared`)).headers['x-cache'], 'MISS')
    const hit = await send(`${second.url}/shared`)
    t.is(hit.headers['x-cache'], 'HIT')
    t.is(hit.body.toString(), 'stored once')
    t.is(count(origin, '/shared'), 1)
    t.deepEqual(second.gateway.ready().checks, { accepting: true, backends: true, redis: true, capacity: true })
    // The rate limit is counted on the Redis too: the third request of the key, on either instance, is the last.
    t.is((await send(`${first.url}/shared`)).status, 200)
    t.is((await send(`${second.url}/shared`)).status, 429)
  })
}

test('with its Redis killed a gateway keeps serving: hits from its local tiers, misses from the backend; /ready says so until Redis is back', async (t) => {
  const redis = await startStandalone()
  t.teardown(() => redis.stop())
  const origin = await backend({
    '/stored': serve('kept', { 'cache-control': 'max-age=60' }),
    '/live': serve('live', { 'cache-control': 'no-store' }),
  })
  const rateLimit = { algorithm: 'sliding-log' as const, limit: 1_000, windowMs: 60_000 }
  const { gateway, url } = await gatewayFor({ backends: [{ url: origin.url }], redis: { url: redis.url }, rateLimit })
  t.is((await send(`${url}/stored`)).headers['x-cache'], 'MISS')
  await redis.kill()
  const hit = await send(`${url}/stored`)
  t.is(hit.status, 200)
  t.is(hit.headers['x-cache'], 'HIT')
  t.is(hit.body.toString(), 'kept')
  for (let i = 0; i < 5; i++) {
    const live = await send(`${url}/live`)
    t.is(live.status, 200, 'the rate limit decides locally meanwhile')
    t.is(live.body.toString(), 'live')
  }
  await waitFor('/ready to report Redis away', () => gateway.ready().checks.redis === false, 10_000)
  t.false(gateway.ready().ok)
  await redis.restart()
  await waitFor('/ready to report Redis back', () => gateway.ready().ok, 20_000)
  t.is((await send(`${url}/live`)).status, 200)
})
