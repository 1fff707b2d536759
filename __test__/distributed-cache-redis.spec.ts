import { setTimeout as sleep } from 'node:timers/promises'

import test from 'ava'
import Redis from 'ioredis'

import { DistributedCache, UnavailableError, type CacheRedisConnection } from 'optlayer'

import { startCluster, startStandalone, type RedisCluster, type RedisStandalone } from './helpers/redis'

let server: RedisStandalone | undefined
let second: RedisStandalone | undefined
let cluster: RedisCluster | undefined
const caches: DistributedCache[] = []

test.before(async () => {
  const started = await Promise.allSettled([startStandalone(), startStandalone(), startCluster()])
  for (const result of started) if (result.status === 'rejected') throw result.reason
  ;[server, second] = started.slice(0, 2).map((r) => (r as PromiseFulfilledResult<RedisStandalone>).value)
  cluster = (started[2] as PromiseFulfilledResult<RedisCluster>).value
})

test.after.always(async () => {
  await Promise.all(caches.map((cache) => cache.close()))
  await Promise.all([server?.stop(), second?.stop(), cluster?.stop()])
})

function standalone(): CacheRedisConnection {
  if (server === undefined) throw new Error('the standalone server did not start')
  return { url: server.url }
}

async function open<V = unknown>(
  redis: CacheRedisConnection,
  options: ConstructorParameters<typeof DistributedCache>[0] = {},
): Promise<DistributedCache<V>> {
  const cache = new DistributedCache<V>({ redis, logger: { warn: () => {} }, ...options })
  caches.push(cache as DistributedCache)
  await cache.ready()
  return cache
}

/** Polls `read` until it returns `expected` or `withinMs` passes; returns the ms it took, or -1. */
async function settle(read: () => unknown, expected: unknown, withinMs: number): Promise<number> {
  const start = performance.now()
  while (performance.now() - start < withinMs) {
    if (read() === expected) return performance.now() - start
    await sleep(2)
  }
  return -1
}

for (const topology of ['standalone', 'cluster'] as const) {
  test.serial(`${topology}: a set on A is read on B; a delete on A leaves B missing within 100 ms`, async (t) => {
    const redis = topology === 'standalone' ? standalone() : { cluster: cluster?.startupNodes ?? [] }
    const namespace = `coherence-${topology}`
    const a = await open<string>(redis, { namespace })
    const b = await open<string>(redis, { namespace })
    await a.set('user:1', 'v1')
    t.is(await b.get('user:1'), 'v1', 'read through L3, now in B’s local tiers')
    t.is(b.getSync('user:1'), 'v1')

    await a.set('user:1', 'v2')
    t.not(await settle(() => b.getSync('user:1'), undefined, 100), -1, 'B dropped its stale copy')
    t.is(await b.get('user:1'), 'v2')

    await a.delete('user:1')
    const took = await settle(() => b.getSync('user:1'), undefined, 100)
    t.not(took, -1, 'B still held the deleted key after 100 ms')
    t.is(await b.get('user:1'), undefined)
    t.true(b.stats().invalidationsReceived >= 2)
  })
}

test.serial('concurrent reads batched into MGETs return each key its own value, across Cluster slots', async (t) => {
  for (const redis of [standalone(), { cluster: cluster?.startupNodes ?? [] }]) {
    const writer = await open<number>(redis, { namespace: 'batch' })
    const reader = await open<number>(redis, { namespace: 'batch', l1: false, l2: false })
    await writer.mset(Array.from({ length: 500 }, (_, i) => [`k${i}`, i] as const))
    const keys = Array.from({ length: 1500 }, (_, i) => `k${i % 600}`)
    const values = await Promise.all(keys.map((key) => reader.get(key)))
    t.deepEqual(
      values,
      keys.map((_, i) => (i % 600 < 500 ? i % 600 : undefined)),
    )
  }
})

test.serial('namespaces keep entries and invalidations apart', async (t) => {
  const a = await open<string>(standalone(), { namespace: 'svc-a' })
  const b = await open<string>(standalone(), { namespace: 'svc-b' })
  await a.set('k', 'from a')
  await b.set('k', 'from b')
  t.is(await a.get('k'), 'from a')
  t.is(b.getSync('k'), 'from b', 'a’s write did not invalidate b')
})

test.serial('a gap in an instance’s sequence numbers flushes the others’ local tiers', async (t) => {
  const namespace = 'gap'
  const a = await open<string>(standalone(), { namespace })
  const b = await open<string>(standalone(), { namespace })
  await b.set('unrelated', 'x')
  await a.set('k1', 'v')
  await settle(() => b.stats().invalidationsReceived, 1, 500)
  // Messages 2 and 3 of a fake sender never arrive: the receiver cannot know what changed.
  const raw = new Redis(server?.url ?? '')
  await raw.publish(`${namespace}:invalidate`, 'fakesender:1:s:other')
  await raw.publish(`${namespace}:invalidate`, 'fakesender:4:s:other')
  raw.disconnect()
  t.not(await settle(() => b.getSync('unrelated'), undefined, 500), -1)
  t.true(b.stats().flushes >= 1)
})

test.serial('cross-process single flight: instances sharing Redis call the loader once', async (t) => {
  const namespace = 'lease'
  const instances = await Promise.all(Array.from({ length: 4 }, () => open<number>(standalone(), { namespace })))
  let calls = 0
  const loader = async () => {
    calls++
    await sleep(100)
    return 99
  }
  const results = await Promise.all(
    instances.flatMap((cache) => Array.from({ length: 25 }, () => cache.getOrLoad('hot', loader))),
  )
  t.is(calls, 1)
  t.true(results.every((value) => value === 99))
  t.true(instances.some((cache) => cache.stats().leaseWaits > 0))
})

test.serial('large values are compressed in Redis and read back', async (t) => {
  const a = await open<string>(standalone(), { namespace: 'zstd', l3: { compressAboveBytes: 1024 } })
  const b = await open<string>(standalone(), { namespace: 'zstd' })
  const big = 'abc'.repeat(100_000)
  await a.set('big', big)
  const raw = new Redis(server?.url ?? '')
  const stored = await raw.getBuffer('zstd:big')
  raw.disconnect()
  t.true((stored?.length ?? Infinity) < 10_000, `${stored?.length} bytes in Redis`)
  t.is(await b.get('big'), big)
})

test.serial('standalone servers sharded by the hash ring', async (t) => {
  if (server === undefined || second === undefined) throw new Error('servers did not start')
  const nodes = [server.url, second.url]
  const a = await open<number>({ nodes }, { namespace: 'sharded' })
  const b = await open<number>({ nodes }, { namespace: 'sharded', l1: false, l2: false })
  for (let i = 0; i < 200; i++) await a.set(`k${i}`, i)
  const values = await b.mget(Array.from({ length: 200 }, (_, i) => `k${i}`))
  t.deepEqual(
    values,
    Array.from({ length: 200 }, (_, i) => i),
  )
  const counts = await Promise.all(
    nodes.map(async (url) => {
      const raw = new Redis(url)
      const keys = await raw.keys('sharded:*')
      raw.disconnect()
      return keys.length
    }),
  )
  t.true(
    counts.every((n) => n > 50),
    `keys per node: ${counts}`,
  )
})

test.serial('L3 TTL: an entry expires in Redis', async (t) => {
  const a = await open<string>(standalone(), { namespace: 'ttl' })
  const b = await open<string>(standalone(), { namespace: 'ttl', l1: false, l2: false })
  await a.set('k', 'v', { ttlMs: 150 })
  t.is(await b.get('k'), 'v')
  await sleep(300)
  t.is(await b.get('k'), undefined)
})

test.serial('Redis killed mid-run and restarted: no call fails, L3 resumes, no stale value survives', async (t) => {
  if (server === undefined) throw new Error('the standalone server did not start')
  const namespace = 'outage'
  const warnings: string[] = []
  const a = await open<string>(standalone(), { namespace, logger: { warn: (m) => warnings.push(m) } })
  const b = await open<string>(standalone(), { namespace })
  await a.set('k', 'before')
  t.is(await b.get('k'), 'before')

  await server.kill()
  // Every call keeps working from the local tiers while Redis is away.
  for (let i = 0; i < 20; i++) {
    await a.set(`during${i}`, 'local')
    t.is(await a.get(`during${i}`), 'local')
    t.is(await a.getOrLoad(`loaded${i}`, () => 'fresh'), 'fresh')
  }
  t.is(await b.get('k'), 'before', 'B still answers from its local tiers')
  t.false(a.stats().l3?.available)
  t.true((a.stats().l3?.errors ?? 0) > 0)
  t.true(warnings.some((w) => w.includes('Redis unavailable')))

  await server.restart()
  const back = await settle(() => a.stats().l3?.available, true, 10_000)
  t.not(back, -1, 'L3 came back by itself')
  await settle(() => b.stats().l3?.available, true, 10_000)
  // Both flushed their local tiers on reconnect: B no longer serves the value it held before the outage.
  t.is(b.getSync('k'), undefined)
  await a.set('k', 'after')
  t.is(await b.get('k'), 'after')
  t.true(warnings.some((w) => w.includes('back')))
})

test.serial('onRedisError hard: calls reject with UnavailableError while Redis is away', async (t) => {
  if (second === undefined) throw new Error('the second server did not start')
  const cache = await open<string>({ url: second.url }, { namespace: 'hard', onRedisError: 'hard' })
  await cache.set('k', 'v')
  await second.kill()
  await t.throwsAsync(cache.set('k2', 'v'), { instanceOf: UnavailableError })
  await second.restart()
})
