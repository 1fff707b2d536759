import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'

import test from 'ava'

import {
  AbortError,
  BloomFilter,
  ClosedError,
  DistributedCache,
  HashRing,
  InvalidArgumentError,
  MetricsCollector,
  NotSerializableError,
  ValueTooLargeError,
} from 'optlayer'

import { waitFor } from './helpers/wait'

const caches: DistributedCache[] = []
function open<V = unknown>(options: ConstructorParameters<typeof DistributedCache>[0] = {}): DistributedCache<V> {
  const cache = new DistributedCache<V>(options)
  caches.push(cache as DistributedCache)
  return cache
}
test.after.always(async () => {
  await Promise.all(caches.map((cache) => cache.close()))
})

test('set then get and getSync from L1 and from L2 alone, values of every kind', async (t) => {
  const values: unknown[] = [
    'text ✓',
    Buffer.from([1, 2, 3]),
    { nested: { list: [1, 'two', null], when: new Date(5) } },
    42,
    false,
    null,
  ]
  for (const l1 of [undefined, false] as const) {
    const cache = open({ l1 })
    for (const [i, value] of values.entries()) {
      await cache.set(`k${i}`, value)
      t.deepEqual(cache.getSync(`k${i}`), value)
      t.deepEqual(await cache.get(`k${i}`), value)
    }
    t.is(cache.getSync('absent'), undefined)
  }
})

test('a Buffer read from L2 is a copy: a later hit does not overwrite it', async (t) => {
  const cache = open<Buffer>({ l1: false })
  await cache.set('a', Buffer.from('aaaa'))
  await cache.set('b', Buffer.from('bbbb'))
  const a = cache.getSync('a')
  cache.getSync('b')
  t.is(a?.toString(), 'aaaa')
})

test('bad input: keys, values, TTLs and a closed cache throw typed errors', async (t) => {
  const cache = open({ maxKeyLength: 8, maxValueBytes: 64 })
  t.throws(() => cache.getSync(''), { instanceOf: InvalidArgumentError })
  t.throws(() => cache.getSync(7 as unknown as string), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(cache.set('123456789', 1), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(cache.set('k', undefined), { instanceOf: NotSerializableError })
  await t.throwsAsync(
    cache.set('k', () => 1),
    { instanceOf: NotSerializableError },
  )
  await t.throwsAsync(cache.set('k', { deep: [Symbol('s')] }), { instanceOf: NotSerializableError })
  await t.throwsAsync(cache.set('k', 'x'.repeat(65)), { instanceOf: ValueTooLargeError })
  await t.throwsAsync(cache.set('k', 1, { ttlMs: -1 }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(cache.getOrLoad('k', 'nope' as never), { instanceOf: InvalidArgumentError })
  t.throws(() => new DistributedCache({ l1: { maxEntries: 0 } }), { instanceOf: InvalidArgumentError })
  t.throws(() => new DistributedCache({ l2: { maxBytes: 10 } }), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
  t.throws(() => new DistributedCache({ redis: { url: 5 as unknown as string } }), { instanceOf: InvalidArgumentError })
  await cache.close()
  t.throws(() => cache.getSync('k'), { instanceOf: ClosedError })
  await t.throwsAsync(cache.set('k', 1), { instanceOf: ClosedError })
  await t.throwsAsync(
    cache.getOrLoad('k', () => 1),
    { instanceOf: ClosedError },
  )
})

test('TTL: an entry expires in L1 and in L2', async (t) => {
  for (const l1 of [undefined, false] as const) {
    const cache = open({ l1 })
    await cache.set('short', 'v', { ttlMs: 100 })
    await cache.set('long', 'v', { ttlMs: 60_000 })
    t.is(cache.getSync('short'), 'v')
    await sleep(250)
    t.is(cache.getSync('short'), undefined)
    t.is(cache.getSync('long'), 'v')
  }
})

test('per-tier TTL caps: L1 forgets first, L2 still answers', async (t) => {
  const cache = open({ l1: { ttlMs: 20 } })
  await cache.set('k', 'v', { ttlMs: 60_000 })
  await sleep(60)
  t.is(cache.getSync('k'), 'v')
  t.is(cache.stats().l2?.hits, 1)
})

test('L1 is bounded by entries and L2 keeps its bytes under budget', async (t) => {
  const cache = open({ l1: { maxEntries: 100 }, l2: { maxBytes: 2 << 20, shards: 1 } })
  const value = 'x'.repeat(1000)
  for (let i = 0; i < 10_000; i++) await cache.set(`key:${i}`, value)
  const stats = cache.stats()
  t.is(stats.l1?.entries, 100)
  t.true((stats.l1?.evictions ?? 0) >= 9_900)
  t.true((stats.l2?.bytes ?? Infinity) <= 2 << 20)
  t.true((stats.l2?.evictions ?? 0) + (stats.l2?.rejected ?? 0) > 0)
})

test('getOrLoad: 1,000 concurrent misses of one key call the loader once', async (t) => {
  const cache = open<number>()
  let calls = 0
  const results = await Promise.all(
    Array.from({ length: 1000 }, () =>
      cache.getOrLoad('hot', async () => {
        calls++
        await sleep(20)
        return 7
      }),
    ),
  )
  t.is(calls, 1)
  t.true(results.every((value) => value === 7))
  t.is(cache.stats().coalesced, 999)
  t.is(cache.getSync('hot'), 7)
})

test('getOrLoad: a loader error reaches every waiter and nothing is cached', async (t) => {
  const cache = open()
  let calls = 0
  const loader = async () => {
    calls++
    await sleep(5)
    throw new Error('db down')
  }
  const results = await Promise.allSettled([cache.getOrLoad('k', loader), cache.getOrLoad('k', loader)])
  t.is(calls, 1)
  t.true(results.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'db down'))
  t.is(cache.getSync('k'), undefined)
  t.is(cache.stats().loadErrors, 1)
})

test('negative caching: a not-found is remembered for negativeTtlMs, then asked again', async (t) => {
  const cache = open({ negativeTtlMs: 500 })
  let calls = 0
  const loader = () => {
    calls++
    return undefined
  }
  t.is(await cache.getOrLoad('missing', loader), undefined)
  t.is(await cache.getOrLoad('missing', loader), undefined)
  t.is(calls, 1)
  t.is(cache.stats().negativeHits, 1)
  await sleep(600)
  await cache.getOrLoad('missing', loader)
  t.is(calls, 2)
})

test('stale-while-revalidate: a stale value is served at once while it reloads', async (t) => {
  const cache = open<string>({ staleWhileRevalidateMs: 10_000, earlyRefresh: false })
  await cache.set('k', 'old', { ttlMs: 20 })
  await sleep(40)
  t.is(cache.getSync('k'), undefined, 'plain reads see only fresh values')
  let release = (): void => {}
  const reload = new Promise<void>((resolve) => (release = resolve))
  const value = await cache.getOrLoad('k', async () => {
    await reload
    return 'new'
  })
  t.is(value, 'old')
  t.is(cache.stats().staleServed, 1)
  release()
  await sleep(10)
  t.is(cache.getSync('k'), 'new')
})

test('getOrLoadLocal answers what getOrLoad would without waiting, and nothing else', async (t) => {
  const cache = open<string>({ staleWhileRevalidateMs: 10_000, earlyRefresh: false })
  let loads = 0
  const loader = async (): Promise<string> => `loaded ${++loads}`
  t.is(cache.getOrLoadLocal('k', loader), undefined, 'a miss waits: nothing loaded here')
  t.is(loads, 0)
  t.is(await cache.getOrLoad('k', loader), 'loaded 1')
  t.deepEqual(cache.getOrLoadLocal('k', loader), { value: 'loaded 1' })
  await cache.set('stale', 'old', { ttlMs: 20 })
  await sleep(40)
  t.deepEqual(cache.getOrLoadLocal('stale', loader), { value: 'old' }, 'stale within the window: served')
  await waitFor('the reload to land', () => cache.getSync('stale') === 'loaded 2')
  t.throws(() => cache.getOrLoadLocal('k', 'not a loader' as never), { instanceOf: InvalidArgumentError })
  await cache.close()
  t.throws(() => cache.getOrLoadLocal('k', loader), { instanceOf: ClosedError })
})

test('getOrLoadNow answers local values at once, otherwise starts the load, reading the local tiers once', async (t) => {
  const cache = open<string>({ l1: { maxEntries: 100 }, earlyRefresh: false })
  let loads = 0
  const loader = async (): Promise<string> => `loaded ${++loads}`
  const missesBefore = cache.stats().l1?.misses ?? 0
  const pending = cache.getOrLoadNow('k', loader)
  t.true(pending instanceof Promise)
  t.is(cache.stats().l1?.misses, missesBefore + 1)
  t.is(await pending, 'loaded 1')
  t.deepEqual(cache.getOrLoadNow('k', loader), { value: 'loaded 1' })
  t.is(loads, 1)
})

test('early refresh: hits near expiry reload ahead of it, at most one at a time', async (t) => {
  const cache = open<number>({ earlyRefresh: { beta: 100 } })
  let loads = 0
  const loader = async () => {
    loads++
    await sleep(5)
    return loads
  }
  await cache.getOrLoad('k', loader, { ttlMs: 100 })
  await sleep(60)
  for (let i = 0; i < 50; i++) await cache.getOrLoad('k', loader, { ttlMs: 100 })
  await sleep(20)
  t.true(cache.stats().earlyRefreshes >= 1)
  t.true(loads >= 2)
  t.true((cache.getSync('k') ?? 0) >= 2)
})

test('AbortSignal: a caller gives up waiting, the load goes on for the others', async (t) => {
  const cache = open<number>()
  const controller = new AbortController()
  const loader = async () => {
    await sleep(30)
    return 1
  }
  const aborted = cache.getOrLoad('k', loader, { signal: controller.signal })
  const patient = cache.getOrLoad('k', loader)
  controller.abort()
  await t.throwsAsync(aborted, { instanceOf: AbortError })
  t.is(await patient, 1)
})

test('warm loads keys with bounded concurrency and reports progress and failures', async (t) => {
  const cache = open<string>()
  let inFlight = 0
  let peak = 0
  const progress: number[] = []
  const report = await cache.warm(
    Array.from({ length: 20 }, (_, i) => `w${i}`),
    async (key) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      await sleep(2)
      inFlight--
      if (key === 'w3') throw new Error('boom')
      return key === 'w4' ? undefined : key.toUpperCase()
    },
    { concurrency: 4, onProgress: (done) => progress.push(done) },
  )
  t.is(report.loaded, 18)
  t.is(report.notFound, 1)
  t.deepEqual(
    report.failed.map((f) => f.key),
    ['w3'],
  )
  t.true(peak <= 4)
  t.is(progress.length, 20)
  t.is(cache.getSync('w7'), 'W7')
})

test('mget (L2 in one batch when L1 is off), mset, has and delete', async (t) => {
  for (const l1 of [undefined, false] as const) {
    const cache = open<number | string>({ l1 })
    await cache.mset([
      ['a', 1],
      ['b', 'two'],
    ])
    await cache.set('gone', 3, { ttlMs: 1 })
    await sleep(5)
    t.deepEqual(await cache.mget(['a', 'x', 'b', 'gone']), [1, undefined, 'two', undefined])
    await t.throwsAsync(cache.mget(['a', '']), { instanceOf: InvalidArgumentError })
    t.true(await cache.has('a'))
    t.true(await cache.delete('a'))
    t.false(await cache.has('a'))
    t.false(await cache.delete('a'))
  }
})

test('two worker_threads opening the same L2 name share its entries', async (t) => {
  const cache = open({ l1: false, l2: { name: 'shared-spec', maxBytes: 8 << 20 } })
  await cache.set('from-main', 'hello')
  const worker = new Worker(
    `
    const { parentPort } = require('node:worker_threads')
    const { DistributedCache } = require(${JSON.stringify(require.resolve('optlayer'))})
    const cache = new DistributedCache({ l1: false, l2: { name: 'shared-spec', maxBytes: 8 << 20 } })
    cache.set('from-worker', 'hi').then(() => {
      parentPort.postMessage(cache.getSync('from-main'))
      return cache.close()
    })
    `,
    { eval: true },
  )
  const [seen] = (await new Promise((resolve, reject) => {
    worker.once('message', (m) => resolve([m]))
    worker.once('error', reject)
  })) as [unknown]
  await worker.terminate()
  t.is(seen, 'hello')
  t.is(cache.getSync('from-worker'), 'hi')
})

test('bloom filter and hash ring', (t) => {
  const bloom = new BloomFilter(10_000, 0.01)
  for (let i = 0; i < 10_000; i++) bloom.add(`k${i}`)
  let falsePositives = 0
  for (let i = 0; i < 10_000; i++) if (bloom.has(`absent${i}`)) falsePositives++
  t.true(bloom.has('k1'))
  t.true(falsePositives < 300, `${falsePositives} false positives`)
  t.throws(() => new BloomFilter(100, 2), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })

  const ring = new HashRing().add('a').add('b').add('c')
  const before = Array.from({ length: 3000 }, (_, i) => ring.nodeFor(`key${i}`))
  ring.add('d')
  const after = Array.from({ length: 3000 }, (_, i) => ring.nodeFor(`key${i}`))
  const moved = before.filter((node, i) => node !== after[i])
  t.true(moved.length < 3000 * 0.35, `${moved.length} keys moved`)
  t.true(after.filter((node, i) => node !== before[i]).every((node) => node === 'd'))
  t.deepEqual(new Set(ring.nodesFor('x', 4)).size, 4)
})

test('metrics: hits and misses per tier reach the collector', async (t) => {
  const cache = open({ name: 'metrics-spec' })
  await cache.set('k', 'v')
  cache.getSync('k')
  cache.getSync('nope')
  const collector = new MetricsCollector()
  const text = await collector.expose()
  await collector.close()
  t.regex(text, /optlayer_cache_hits_total\{cache="metrics-spec",tier="l1"\} 1/)
  t.regex(text, /optlayer_cache_misses_total\{cache="metrics-spec",tier="l2"\} 1/)
})

test('unnamed caches number themselves, so each has its own metric series', async (t) => {
  const first = open()
  const second = open()
  t.regex(first.name, /^cache-\d+$/)
  t.regex(second.name, /^cache-\d+$/)
  t.not(first.name, second.name)
  await first.set('k', 'v')
  first.getSync('k')
  second.getSync('k')
  const collector = new MetricsCollector()
  const text = await collector.expose()
  await collector.close()
  t.regex(text, new RegExp(`optlayer_cache_hits_total\\{cache="${first.name}",tier="l1"\\} 1`))
  t.regex(text, new RegExp(`optlayer_cache_misses_total\\{cache="${second.name}",tier="l2"\\} 1`))
})

test("lru-cache's fetch and cache-manager's wrap load through getOrLoad", async (t) => {
  const cache = open<string>()
  const loads: string[] = []
  const loader = async (key: string) => {
    loads.push(key)
    return `value of ${key}`
  }
  t.is(await cache.fetch('a', loader), 'value of a')
  t.is(await cache.fetch('a', loader), 'value of a', 'a hit: not loaded again')
  t.is(await cache.wrap('b', () => loader('b'), 100), 'value of b')
  t.is(await cache.wrap('b', () => loader('b'), 100), 'value of b')
  t.deepEqual(loads, ['a', 'b'])
  await waitFor('the wrapped entry to expire after its ttl', () => cache.getSync('b') === undefined, 5_000)
  t.is(cache.getSync('a'), 'value of a', 'fetch without ttlMs: the default TTL')
  await t.throwsAsync(
    cache.wrap('c', () => 'x', -1),
    { instanceOf: InvalidArgumentError },
  )
})

test("lru-cache's max and ttl, and cache-manager's set(key, value, ttl), are taken as they mean", async (t) => {
  const sized = open<string>({ max: 2, l2: false })
  for (const key of ['a', 'b', 'c']) await sized.set(key, key)
  t.like(sized.stats().l1, { maxEntries: 2, entries: 2 })
  const shortLived = open<string>({ ttl: 1_000, l2: false })
  const lasting = open<string>({ l2: false })
  await shortLived.set('default', 'x')
  await lasting.set('number', 'x', 1_000)
  await lasting.set('ttl', 'x', { ttl: 1_000 })
  t.is(await lasting.fetch('fetched', () => 'x', { ttl: 1_000 }), 'x')
  await lasting.set('kept', 'x')
  const expiring = () => [shortLived.getSync('default'), ...['number', 'ttl', 'fetched'].map((k) => lasting.getSync(k))]
  t.deepEqual(expiring(), ['x', 'x', 'x', 'x'])
  await waitFor('every entry with a 1 s ttl to expire', () => expiring().every((v) => v === undefined), 10_000)
  t.is(lasting.getSync('kept'), 'x', 'the default TTL (5 minutes) still holds')
})

test('a misspelt per-call option or a TTL given twice is refused, not ignored', async (t) => {
  const cache = open<string>({ l2: false })
  const refused = { instanceOf: InvalidArgumentError, code: 'ERR_OPTLAYER_INVALID_ARGUMENT' }
  await t.throwsAsync(cache.set('k', 'v', { ttl_ms: 5 } as never), {
    ...refused,
    message: /'ttl_ms'.*did you mean 'ttlMs'/,
  })
  await t.throwsAsync(cache.set('k', 'v', { ttl: 5, ttlMs: 5 }), { ...refused, message: /ttl and ttlMs both given/ })
  await t.throwsAsync(cache.set('k', 'v', -1), { ...refused, message: /ttlMs/ })
  await t.throwsAsync(cache.get('k', { signa: undefined } as never), { ...refused, message: /'signa'/ })
  await t.throwsAsync(cache.delete('k', { ttlMs: 5 } as never), { ...refused, message: /'ttlMs'/ })
  await t.throwsAsync(
    cache.getOrLoad('k', () => 'v', { durable: true } as never),
    { ...refused, message: /'durable'/ },
  )
  await t.throwsAsync(
    cache.warm(['k'], () => 'v', { concurency: 2 } as never),
    { ...refused, message: /'concurency'/ },
  )
  t.is(cache.getSync('k'), undefined, 'a refused write wrote nothing')
  t.throws(() => open({ ttl: 5, defaultTtlMs: 5 }), { ...refused, message: /ttl and defaultTtlMs both given/ })
  t.throws(() => open({ max: 5, l1: { maxEntries: 5 } }), { ...refused, message: /max and l1\.maxEntries both given/ })
  t.throws(() => open({ max: 5, l1: false }), { ...refused, message: /max sizes the L1 tier/ })
})

test('lease durations are checked without Redis too: a negative one is refused, not ignored', (t) => {
  for (const name of ['ttlMs', 'waitMs', 'pollMs']) {
    t.throws(() => open({ lease: { [name]: -1 } }), {
      instanceOf: InvalidArgumentError,
      message: new RegExp(`invalid lease\\.${name}`),
    })
  }
})
