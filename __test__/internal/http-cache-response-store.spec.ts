import test, { type ExecutionContext } from 'ava'

import { DistributedCache } from '../../src/cache/distributed-cache'
import {
  cacheState,
  createStoredResponse,
  HttpResponseStore,
  updateFrom304,
  type CacheRequest,
  type HttpResponseStoreOptions,
  type StoredResponse,
} from '../../src/gateway/http-cache'
import { startStandalone } from '../helpers/redis'
import { waitFor } from '../helpers/wait'

let opened = 0

function open(
  t: ExecutionContext,
  cacheOptions: ConstructorParameters<typeof DistributedCache>[0] = {},
  options: HttpResponseStoreOptions = {},
): { cache: DistributedCache<Buffer>; store: HttpResponseStore } {
  const cache = new DistributedCache<Buffer>({ name: `http-store-${++opened}`, l2: false, ...cacheOptions })
  t.teardown(() => cache.close())
  return { cache, store: new HttpResponseStore(cache, options) }
}

function get(url: string, headers: CacheRequest['headers'] = {}, method = 'GET'): CacheRequest {
  return { method, url, headers }
}

function response(
  request: CacheRequest,
  headers: Record<string, string>,
  body = 'hello',
  at = Date.now(),
): StoredResponse {
  return createStoredResponse({
    request,
    status: 200,
    headers: { date: new Date(at).toUTCString(), ...headers },
    body: Buffer.from(body),
    requestTime: at,
    responseTime: at,
  })
}

const URL_A = 'https://example.com/a?x=1'

test('a stored response is found by GET and HEAD on the normalized URL; others miss', async (t) => {
  const { store } = open(t)
  t.is(await store.lookup(get(URL_A)), undefined)
  const request = get(URL_A)
  const stored = response(request, { 'cache-control': 'max-age=60' })
  t.true(await store.store(request, stored))
  t.deepEqual(await store.lookup(get('HTTPS://EXAMPLE.com:443/a?x=1#f')), stored)
  t.deepEqual(await store.lookup(get(URL_A, {}, 'HEAD')), stored)
  t.is(await store.lookup(get(URL_A, {}, 'POST')), undefined)
  t.is(await store.lookup(get('https://example.com/a?x=2')), undefined)
  t.deepEqual(store.stats(), { hits: 2, misses: 3, corrupt: 0 })
})

test('responses varying on a field are stored and found per value; Accept-Encoding does not split them', async (t) => {
  const { store } = open(t)
  const en = get(URL_A, { 'accept-language': 'en', 'accept-encoding': 'gzip' })
  const fr = get(URL_A, { 'accept-language': 'fr' })
  const vary = { 'cache-control': 'max-age=60', vary: 'Accept-Language, Accept-Encoding' }
  t.true(await store.store(en, response(en, vary, 'hello')))
  t.true(await store.store(fr, response(fr, vary, 'bonjour')))
  t.is((await store.lookup(get(URL_A, { 'accept-language': 'en', 'accept-encoding': 'br' })))?.body.toString(), 'hello')
  t.is((await store.lookup(get(URL_A, { 'accept-language': '  en ' })))?.body.toString(), 'hello')
  t.is((await store.lookup(fr))?.body.toString(), 'bonjour')
  t.is(await store.lookup(get(URL_A, { 'accept-language': 'de' })), undefined)
  t.is(await store.lookup(get(URL_A)), undefined)
})

test('when the Vary fields change, responses stored under the old ones are no longer found', async (t) => {
  const { store } = open(t)
  const request = get(URL_A, { 'accept-language': 'en', accept: 'text/html' })
  t.true(
    await store.store(request, response(request, { 'cache-control': 'max-age=60', vary: 'accept-language' }, 'one')),
  )
  t.true(await store.store(request, response(request, { 'cache-control': 'max-age=60', vary: 'accept' }, 'two')))
  t.is((await store.lookup(request))?.body.toString(), 'two')
  t.true(
    await store.store(request, response(request, { 'cache-control': 'max-age=60', vary: 'accept-language' }, 'three')),
  )
  t.is((await store.lookup(request))?.body.toString(), 'three')
})

test('invalidate drops every variant, and storing afterwards does not bring old variants back', async (t) => {
  const { store } = open(t)
  const en = get(URL_A, { 'accept-language': 'en' })
  const fr = get(URL_A, { 'accept-language': 'fr' })
  const vary = { 'cache-control': 'max-age=60', vary: 'accept-language' }
  await store.store(en, response(en, vary))
  await store.store(fr, response(fr, vary))
  const plain = 'https://example.com/plain'
  await store.store(get(plain), response(get(plain), { 'cache-control': 'max-age=60' }))
  await store.invalidate(URL_A)
  await store.invalidate(plain)
  t.is(await store.lookup(en), undefined)
  t.is(await store.lookup(fr), undefined)
  t.is(await store.lookup(get(plain)), undefined)
  await store.store(en, response(en, vary, 'new'))
  t.is((await store.lookup(en))?.body.toString(), 'new')
  t.is(await store.lookup(fr), undefined)
})

test('a HEAD response answers HEAD only and never replaces a full response', async (t) => {
  const { store } = open(t)
  const head = get(URL_A, {}, 'HEAD')
  t.true(await store.store(head, response(head, { 'cache-control': 'max-age=60' })))
  t.is(await store.lookup(get(URL_A)), undefined)
  t.true((await store.lookup(head))?.headOnly)
  const full = response(get(URL_A), { 'cache-control': 'max-age=60' })
  t.true(await store.store(get(URL_A), full))
  t.false(await store.store(head, response(head, { 'cache-control': 'max-age=60' })))
  t.deepEqual(await store.lookup(head), full)
})

test('addVariant adds a compressed body to the entry it came from, not to one that replaced it', async (t) => {
  const { store } = open(t)
  const request = get(URL_A, { 'accept-language': 'en' })
  const headers = { 'cache-control': 'max-age=60', vary: 'accept-language' }
  const first = response(request, headers, 'first', Date.now() - 1000)
  await store.store(request, first)
  t.true(await store.addVariant(request, first, 'gzip', Buffer.from('gz')))
  t.true(await store.addVariant(request, first, 'br', Buffer.from('brotli')))
  const found = await store.lookup(request)
  t.is(found?.variants.gzip?.toString(), 'gz')
  t.is(found?.variants.br?.toString(), 'brotli')
  t.is(found?.body.toString(), 'first')
  await store.store(request, response(request, headers, 'second'))
  t.false(await store.addVariant(request, first, 'zstd', Buffer.from('z')))
  t.deepEqual((await store.lookup(request))?.variants, {})
  t.false(await store.addVariant(get('https://example.com/none'), first, 'zstd', Buffer.from('z')))
  await t.throwsAsync(store.addVariant(request, first, 'lz4' as 'zstd', Buffer.from('z')), {
    code: 'ERR_OPTLAYER_INVALID_ARGUMENT',
  })
})

test('a 304 merged into the stored response and stored again makes it fresh', async (t) => {
  const { store } = open(t)
  const request = get(URL_A)
  const old = Date.now() - 120_000
  await store.store(request, response(request, { 'cache-control': 'max-age=60', etag: '"v1"' }, 'body', old))
  const stale = await store.lookup(request)
  if (stale === undefined) return t.fail('stored with a validator: kept for revalidation')
  t.is(cacheState(stale, {}, Date.now()), 'stale')
  const now = Date.now()
  const updated = updateFrom304(stale, { etag: '"v1"', date: new Date(now).toUTCString() }, now, now)
  if (updated === undefined) return t.fail('the 304 matches')
  t.true(await store.store(request, updated))
  const fresh = await store.lookup(request)
  t.is(fresh !== undefined && cacheState(fresh, {}, Date.now()), 'fresh')
  t.is(fresh?.body.toString(), 'body')
})

test('retention: freshness left plus the stale windows, at least keepForRevalidationMs with a validator, capped', (t) => {
  const { store } = open(t, {}, { maxTtlMs: 3_600_000, keepForRevalidationMs: 60_000 })
  const now = Date.now()
  const request = get(URL_A)
  const at = (headers: Record<string, string>) => store.retentionMs(response(request, headers, 'b', now), now + 10_000)
  // The Date field has whole seconds: up to 999 ms of age at arrival.
  const near = (actual: number, expected: number) => t.true(actual <= expected && actual > expected - 1000, `${actual}`)
  near(at({ 'cache-control': 'max-age=100' }), 90_000)
  near(at({ 'cache-control': 'max-age=100, stale-while-revalidate=50, stale-if-error=200' }), 290_000)
  near(at({ 'cache-control': 'max-age=100, must-revalidate, stale-if-error=200' }), 90_000)
  t.is(at({ 'cache-control': 'max-age=0', etag: '"a"' }), 60_000)
  t.true(at({ 'cache-control': 'max-age=0' }) <= 0)
  t.is(at({ 'cache-control': 'max-age=999999' }), 3_600_000)
})

test('store: nothing stored without time to keep it, too large, or for other methods; explicit TTLs expire', async (t) => {
  const { store } = open(t, { maxValueBytes: 1024 })
  const request = get(URL_A)
  t.false(await store.store(request, response(request, { 'cache-control': 'max-age=0' })))
  t.false(await store.store(request, response(request, { 'cache-control': 'max-age=60' }, 'x'.repeat(2000))))
  t.is(await store.lookup(request), undefined)
  await t.throwsAsync(store.store(get(URL_A, {}, 'POST'), response(request, {})), {
    code: 'ERR_OPTLAYER_INVALID_ARGUMENT',
  })
  await t.throwsAsync(store.store(request, response(request, {}), 0), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
  t.true(await store.store(request, response(request, { 'cache-control': 'max-age=60' }), 30))
  await waitFor('the entry to expire', async () => (await store.lookup(request)) === undefined, 5000)
  t.pass()
})

test('long URLs are stored under a digest key', async (t) => {
  const { store } = open(t)
  const long = `https://example.com/${'p'.repeat(2000)}`
  const request = get(long)
  const stored = response(request, { 'cache-control': 'max-age=60' })
  t.true(await store.store(request, stored))
  t.deepEqual(await store.lookup(request), stored)
  t.is(await store.lookup(get(`${long}x`)), undefined)
})

test('corrupt entries are misses and counted', async (t) => {
  const { cache, store } = open(t)
  await cache.set('http:r:https://example.com/junk', Buffer.from('not a response'))
  await cache.set('http:r:https://example.com/index', Buffer.from([0x4f, 0x4c, 0x48, 0x56, 1, 9, 9]))
  const truncated = Buffer.from([0x4f, 0x4c, 0x48, 0x52, 1, 0, 200, 0])
  await cache.set('http:r:https://example.com/short', truncated)
  for (const path of ['junk', 'index', 'short']) t.is(await store.lookup(get(`https://example.com/${path}`)), undefined)
  t.deepEqual(store.stats(), { hits: 0, misses: 3, corrupt: 3 })
})

test('unsafe methods invalidate the target and same-origin Location and Content-Location', async (t) => {
  const { store } = open(t)
  const urls = ['https://example.com/items', 'https://example.com/items/1', 'https://example.com/items/2']
  const other = 'https://other.example/items/1'
  for (const url of [...urls, other]) await store.store(get(url), response(get(url), { 'cache-control': 'max-age=60' }))
  const found = async (url: string) => (await store.lookup(get(url))) !== undefined

  t.deepEqual(await store.invalidateAfterUnsafe({ method: 'GET', url: urls[0] as string }, 200, {}), [])
  t.deepEqual(await store.invalidateAfterUnsafe({ method: 'POST', url: urls[0] as string }, 500, {}), [])
  t.deepEqual(await store.invalidateAfterUnsafe({ method: 'DELETE', url: urls[0] as string }, 404, {}), [])
  t.true(await found(urls[0] as string))

  const dropped = await store.invalidateAfterUnsafe({ method: 'POST', url: urls[0] as string }, 201, {
    location: '/items/1',
    'content-location': other,
  })
  t.deepEqual(dropped, [urls[0], urls[1]])
  t.false(await found(urls[0] as string))
  t.false(await found(urls[1] as string))
  t.true(await found(other), 'another origin is left alone')

  const put = await store.invalidateAfterUnsafe({ method: 'PUT', url: urls[2] as string }, 204, [
    ['Content-Location', 'http://[bad'],
    ['x-bad', 'a\r\nb'],
  ])
  t.deepEqual(put, [urls[2]])
  t.false(await found(urls[2] as string))
})

test('options are validated', (t) => {
  const cache = new DistributedCache<Buffer>({ name: 'http-store-options', l2: false })
  t.teardown(() => cache.close())
  const bad: HttpResponseStoreOptions[] = [
    { keyPrefix: '' },
    { keyPrefix: 'a b' },
    { maxTtlMs: 0 },
    { maxTtlMs: 1.5 },
    { keepForRevalidationMs: -1 },
    { heuristicCapMs: NaN },
    { ttl: 5 } as HttpResponseStoreOptions,
  ]
  for (const options of bad) {
    t.throws(
      () => new HttpResponseStore(cache, options),
      { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' },
      JSON.stringify(options),
    )
  }
  t.notThrows(() => new HttpResponseStore(cache, { keyPrefix: 'web', maxTtlMs: 1, heuristicCapMs: 0 }))
})

test('another cache instance sharing the Redis finds the stored response', async (t) => {
  const server = await startStandalone()
  t.teardown(() => server.stop())
  const open2 = async () => {
    const cache = new DistributedCache<Buffer>({
      name: `http-store-redis-${++opened}`,
      l2: false,
      redis: { url: server.url },
      namespace: 'http-spec',
      logger: { warn: () => {} },
    })
    t.teardown(() => cache.close())
    await cache.ready()
    return new HttpResponseStore(cache)
  }
  const [writer, reader] = await Promise.all([open2(), open2()])
  const request = get(URL_A, { 'accept-language': 'en' })
  const stored = response(request, { 'cache-control': 'max-age=60', vary: 'accept-language' })
  t.true(await writer.store(request, stored))
  t.deepEqual(await reader.lookup(request), stored)
  await writer.invalidate(URL_A)
  await waitFor(
    'the invalidation to reach the other instance',
    async () => (await reader.lookup(request)) === undefined,
  )
  t.pass()
})
