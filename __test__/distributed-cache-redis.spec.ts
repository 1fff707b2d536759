import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'

import test, { type ExecutionContext } from 'ava'
import Redis from 'ioredis'

import {
  CACHE_MAX_TTL_MS,
  DistributedCache,
  InvalidArgumentError,
  MetricsCollector,
  UnavailableError,
  type CacheRedisConnection,
} from 'optlayer'

import { startCluster, startStandalone, type RedisCluster, type RedisStandalone } from './helpers/redis'

let server: RedisStandalone | undefined
let second: RedisStandalone | undefined
let cluster: RedisCluster | undefined
/** Keeps its data across a SIGKILL and restart (append-only file, fsync on every write). */
let persistent: RedisStandalone | undefined
const caches: DistributedCache[] = []

test.before(async () => {
  const started = await Promise.allSettled([
    startStandalone(),
    startStandalone(),
    startStandalone(['--appendonly', 'yes', '--appendfsync', 'always']),
    startCluster(),
  ])
  for (const result of started) if (result.status === 'rejected') throw result.reason
  ;[server, second, persistent] = started.slice(0, 3).map((r) => (r as PromiseFulfilledResult<RedisStandalone>).value)
  cluster = (started[3] as PromiseFulfilledResult<RedisCluster>).value
})

test.after.always(async () => {
  await Promise.all(caches.map((cache) => cache.close()))
  await Promise.all([server?.stop(), second?.stop(), persistent?.stop(), cluster?.stop()])
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

/** Polls `read` until it returns (or resolves to) `expected` or `withinMs` passes; returns the ms it took, or -1. */
async function settle(read: () => unknown, expected: unknown, withinMs: number): Promise<number> {
  const start = performance.now()
  while (performance.now() - start < withinMs) {
    if ((await read()) === expected) return performance.now() - start
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

test.serial(
  'heartbeats: a quiet instance repeats its last number, and a peer that missed messages flushes on it',
  async (t) => {
    const namespace = 'heartbeat'
    const channel = `${namespace}:invalidate`
    const listener = new Redis(server?.url ?? '')
    t.teardown(() => listener.disconnect())
    const heard: string[] = []
    listener.on('message', (_channel: string, message: string) => heard.push(message))
    await listener.subscribe(channel)
    const a = await open<string>(standalone(), { namespace, l3: { heartbeatMs: 50 } })
    const b = await open<string>(standalone(), { namespace, l3: { heartbeatMs: 50 } })
    await sleep(200)
    t.deepEqual(heard, [], 'nothing published, no heartbeat')
    await a.set('k', 'v1')
    t.is(await b.get('k'), 'v1')
    await settle(() => heard.some((m) => m.endsWith(':h:')), true, 2_000)
    const [sender, sequence] = (heard[0] ?? '').split(':')
    t.is(heard[0], `${sender}:${sequence}:s:k`)
    t.true(
      heard.slice(1).every((m) => m === `${sender}:${sequence}:h:`),
      'only A beats, with the number of its last message',
    )
    const flushes = b.stats().flushes
    await sleep(200)
    t.is(b.stats().flushes, flushes, 'a heartbeat with the number last heard changes nothing')
    t.is(b.getSync('k'), 'v1')

    // A message of A that B never heard, as when a Cluster node's bus link was down: the next heartbeat shows it.
    const raw = new Redis(server?.url ?? '')
    t.teardown(() => raw.disconnect())
    await raw.publish(channel, `${sender}:${Number(sequence) + 2}:h:`)
    t.not(await settle(() => b.getSync('k'), undefined, 1_000), -1, 'B flushed its local tiers')
    // At least once: A's own next heartbeat (every 50 ms) then carries a number below the
    // forged one, which B may take for another gap (A's real numbers only grow).
    t.true(b.stats().flushes >= flushes + 1)
    t.true(a.stats().flushes === 0, 'A ignores its own heartbeats')
  },
)

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

/** How a spec takes Redis away from the caches and gives it back. */
interface Outage {
  begin(): Promise<void>
  end(): Promise<void>
}

/**
 * Overwrites values and revokes permissions while Redis is away, then checks that once it
 * is back no old value or permission comes back: not on the writer, not on an instance that
 * held the old values in its local tiers, not on a fresh instance (another process).
 */
async function writesAcrossAnOutage(
  t: ExecutionContext,
  redis: CacheRedisConnection,
  namespace: string,
  outage: Outage,
): Promise<void> {
  const warnings: string[] = []
  const a = await open<string>(redis, { namespace, logger: { warn: (m) => warnings.push(m) } })
  const b = await open<string>(redis, { namespace })
  // One hash tag: on a Cluster, every key lives on the master the outage takes away.
  const users = Array.from({ length: 10 }, (_, i) => `{outage}:user:${i}`)
  const permissions = Array.from({ length: 10 }, (_, i) => `{outage}:perm:${i}`)
  for (const key of users) await a.set(key, 'v1')
  for (const key of permissions) await a.set(key, 'granted')
  for (const key of [...users, ...permissions]) t.not(await b.get(key), undefined, 'B holds the old state locally')

  await outage.begin()
  // No call fails while Redis is away, and each reads back what was written.
  await Promise.all(users.map((key) => a.set(key, 'v2')))
  await Promise.all(permissions.map((key) => a.delete(key)))
  for (const key of users) t.is(await a.get(key), 'v2')
  for (const key of permissions) t.is(await a.get(key), undefined)
  t.is(await a.getOrLoad('{outage}:loaded', () => 'fresh'), 'fresh')
  t.false(a.stats().l3?.available)
  t.is(a.stats().outageJournal?.pending, users.length + permissions.length + 1)
  t.true(warnings.some((w) => w.includes('Redis unavailable')))

  await outage.end()
  t.not(await settle(() => a.stats().l3?.available, true, 30_000), -1, 'L3 came back by itself')
  t.not(await settle(() => a.stats().outageJournal?.pending ?? 0, 0, 30_000), -1, 'the journal was replayed')

  const resurrected: string[] = []
  const fresh = await open<string>(redis, { namespace })
  for (const [who, cache] of [
    ['A', a],
    ['a fresh instance', fresh],
  ] as const) {
    for (const key of users) if ((await cache.get(key)) !== 'v2') resurrected.push(`${who}: ${key}`)
    for (const key of permissions) if ((await cache.get(key)) !== undefined) resurrected.push(`${who}: ${key}`)
  }
  // B hears of the replayed changes through invalidation messages (or flushes on reconnect).
  for (const key of users) if ((await settle(() => b.get(key), 'v2', 5_000)) < 0) resurrected.push(`B: ${key}`)
  for (const key of permissions)
    if ((await settle(() => b.get(key), undefined, 5_000)) < 0) resurrected.push(`B: ${key}`)
  t.deepEqual(resurrected, [])
  t.is(await fresh.get('{outage}:loaded'), 'fresh', 'a value loaded during the outage reached Redis')
  t.true((a.stats().outageJournal?.replayed ?? 0) >= users.length + permissions.length)
  t.true(warnings.some((w) => w.includes('replayed')))
}

test.serial(
  'standalone Redis killed and restarted: writes and deletes made meanwhile are replayed, none undone',
  async (t) => {
    const node = persistent
    if (node === undefined) throw new Error('the persistent server did not start')
    await writesAcrossAnOutage(t, { url: node.url }, 'outage-standalone', {
      begin: () => node.kill(),
      end: () => node.restart(),
    })
  },
)

test.serial(
  'a Cluster shard (master and replica) unreachable: writes and deletes made meanwhile are replayed, none undone',
  async (t) => {
    const c = cluster
    if (c === undefined) throw new Error('the cluster did not start')
    const namespace = 'outage-cluster'
    const master = await c.nodeForKey(`${namespace}:{outage}`)
    const replicas = (await c.roles()).filter((r) => r.masterPort === master.port).map((r) => r.node)
    // Paused, not killed: the shard keeps the old values, so any that came back would show.
    const shard = [master, ...replicas]
    try {
      await writesAcrossAnOutage(t, { cluster: c.startupNodes }, namespace, {
        begin: async () => shard.forEach((node) => node.pause()),
        end: async () => {
          shard.forEach((node) => node.resume())
          await c.waitForHealthy()
        },
      })
    } finally {
      for (const node of shard) if (node.paused) node.resume()
    }
  },
)

test.serial(
  'during an outage, durable writes and writes past outageJournal.maxKeys are refused and change no tier',
  async (t) => {
    const node = second
    if (node === undefined) throw new Error('the second server did not start')
    const redis = { url: node.url }
    const cache = await open<string>(redis, {
      name: 'journal-full',
      namespace: 'journal-full',
      outageJournal: { maxKeys: 2 },
    })
    const durable = await open<string>(redis, { namespace: 'journal-full', durableWrites: true, l1: false })
    await cache.set('kept', 'v1')
    await durable.set('d', 'v1')
    await node.kill()
    try {
      await cache.set('a', '1')
      await cache.delete('kept')
      await cache.set('a', '2') // already journaled: takes no room
      await t.throwsAsync(cache.set('b', '1'), { instanceOf: UnavailableError, message: /outage journal is full/ })
      await t.throwsAsync(cache.delete('x'), { instanceOf: UnavailableError, message: /outage journal is full/ })
      t.is(cache.getSync('b'), undefined)
      t.is(await cache.get('a'), '2')
      t.is(await cache.getOrLoad('c', () => 'loaded'), 'loaded', 'a load is still served and cached locally')
      t.is(cache.getSync('c'), 'loaded')
      t.like(cache.stats().outageJournal, { pending: 2, rejected: 2, dropped: 1 })

      await t.throwsAsync(cache.set('a', '3', { durable: true }), { instanceOf: UnavailableError })
      t.is(cache.getSync('a'), '2')
      await t.throwsAsync(durable.set('d', 'v2'), { instanceOf: UnavailableError })
      await t.throwsAsync(durable.delete('d'), { instanceOf: UnavailableError })
      t.is(durable.getSync('d'), 'v1')
      await durable.set('d', 'v3', { durable: false })
      t.is(durable.getSync('d'), 'v3')
    } finally {
      await node.restart()
    }
    t.not(await settle(() => cache.stats().outageJournal.pending, 0, 10_000), -1)
    t.is(await cache.get('a'), '2')
    t.is(await cache.get('kept'), undefined)
    const collector = new MetricsCollector()
    const text = await collector.expose()
    await collector.close()
    t.regex(text, /optlayer_cache_outage_journal_replayed_total\{cache="journal-full"\} 2\n/)
    t.regex(text, /optlayer_cache_outage_journal_rejected_total\{cache="journal-full"\} 2\n/)
    t.regex(text, /optlayer_cache_outage_journal_dropped_total\{cache="journal-full"\} 1\n/)
    t.regex(text, /optlayer_cache_outage_journal_pending\{cache="journal-full"\} 0\n/)
  },
)

test.serial('a change another instance announces during the outage supersedes the journaled one', async (t) => {
  if (server === undefined || persistent === undefined) throw new Error('servers did not start')
  const down = persistent
  // Sharded: invalidations travel through the first server, which stays up.
  const a = await open<string>({ nodes: [server.url, down.url] }, { namespace: 'superseded' })
  const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
  for (const key of keys) await a.set(key, 'v1')
  const raw = new Redis(down.url)
  const key = (await Promise.all(keys.map(async (k) => ((await raw.exists(`superseded:${k}`)) ? k : undefined)))).find(
    (k) => k !== undefined,
  )
  raw.disconnect()
  if (key === undefined) throw new Error('no key on the second server')

  await down.kill()
  try {
    await a.set(key, 'older')
    t.is(a.stats().outageJournal.pending, 1)
    const publisher = new Redis(server.url)
    await publisher.publish('superseded:invalidate', `another-instance:1:s:${key}`)
    publisher.disconnect()
    t.not(await settle(() => a.stats().outageJournal.pending, 0, 5_000), -1, 'the journaled change was dropped')
  } finally {
    await down.restart()
  }
  t.not(await settle(() => a.stats().l3?.available, true, 10_000), -1)
  t.is(await a.get(key), 'v1', 'what Redis holds (the other instance’s change) was not overwritten')
  t.is(a.stats().outageJournal.replayed, 0)
})

test.serial('lease keys are out of reach of user keys', async (t) => {
  const namespace = 'lease-space'
  const a = await open<string>(standalone(), { namespace, lease: { waitMs: 60_000 } })
  const b = await open<string>(standalone(), { namespace })
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => (release = resolve))
  let started = false
  const loading = a.getOrLoad('foo', async () => {
    started = true
    await gate
    return 'foo value'
  })
  await settle(() => started, true, 5_000)
  // While foo loads (its lease held), the user key 'lease:foo' is just a missing key.
  await t.notThrowsAsync(async () => t.is(await b.get('lease:foo'), undefined))
  release()
  t.is(await loading, 'foo value')

  // A user key 'lease:bar' does not make a load of 'bar' wait for another process.
  await b.set('lease:bar', 'a user value')
  let loads = 0
  const loaded = a.getOrLoad('bar', () => {
    loads++
    return 'bar value'
  })
  t.not(await settle(() => loads, 1, 5_000), -1, 'the load of bar waited for a lease nobody holds')
  t.is(await loaded, 'bar value')
  t.is(await a.get('lease:bar'), 'a user value')
})

test.serial('caches closed on a caller-owned client leave none of their listeners behind', async (t) => {
  const client = new Redis(server?.url ?? '', { enableOfflineQueue: false, commandTimeout: 1000 })
  await once(client, 'ready')
  const listeners = (): Record<string, number> =>
    Object.fromEntries(client.eventNames().map((event) => [String(event), client.listenerCount(event)]))
  const baseline = listeners()
  const warnings: Error[] = []
  const onWarning = (warning: Error): void => {
    warnings.push(warning)
  }
  process.on('warning', onWarning)
  try {
    for (let i = 0; i < 25; i++) {
      const cache = new DistributedCache<number>({ redis: { client }, namespace: 'owned', logger: { warn: () => {} } })
      await cache.ready()
      await cache.set('k', i)
      t.is(await cache.get('k'), i)
      await cache.close()
    }
    await new Promise((resolve) => setImmediate(resolve))
    t.deepEqual(listeners(), baseline)
    t.deepEqual(
      warnings.map((w) => w.name),
      [],
    )
    t.is(client.status, 'ready', 'the caller’s client stays open')
  } finally {
    process.off('warning', onWarning)
    client.disconnect()
  }
})

test.serial('bad TTLs are refused before any tier is written', async (t) => {
  const namespace = 'bad-ttl'
  const cache = await open<string>(standalone(), { namespace })
  const raw = new Redis(server?.url ?? '')
  const bad: unknown[] = [1e300, CACHE_MAX_TTL_MS + 2, Infinity, -Infinity, NaN, -1, '5', null, 10n]
  try {
    for (const ttlMs of bad) {
      const options = { ttlMs } as { ttlMs: number }
      const message = /^invalid ttlMs: expected a number of milliseconds from 0 to 9007199254740991, got /
      const key = `k-${String(ttlMs)}`
      await t.throwsAsync(cache.set(key, 'v', options), { instanceOf: InvalidArgumentError, message })
      await t.throwsAsync(cache.mset([[key, 'v']], options), { instanceOf: InvalidArgumentError, message })
      let loads = 0
      const loader = (): string => {
        loads++
        return 'v'
      }
      await t.throwsAsync(cache.getOrLoad(key, loader, options), { instanceOf: InvalidArgumentError, message })
      await t.throwsAsync(cache.warm([key], loader, options), { instanceOf: InvalidArgumentError, message })
      t.is(loads, 0)
      t.is(cache.getSync(key), undefined, `L1/L2 hold ${key}`)
      t.is(await raw.exists(`${namespace}:${key}`), 0, `Redis holds ${key}`)
    }
    await cache.set('max', 'v', { ttlMs: CACHE_MAX_TTL_MS })
    t.is(await cache.get('max'), 'v')
    t.true((await raw.pttl(`${namespace}:max`)) > 1e15)

    for (const name of ['defaultTtlMs', 'negativeTtlMs', 'staleWhileRevalidateMs'] as const) {
      for (const value of bad) {
        t.throws(() => new DistributedCache({ [name]: value }), {
          instanceOf: InvalidArgumentError,
          message: new RegExp(`^invalid ${name}: expected a number of milliseconds from 0 to`),
        })
      }
    }
    for (const tier of ['l1', 'l2', 'l3'] as const) {
      for (const value of bad) {
        t.throws(() => new DistributedCache({ [tier]: { ttlMs: value } }), {
          instanceOf: InvalidArgumentError,
          message: new RegExp(`^invalid ${tier}.ttlMs: expected a number of milliseconds from 0 to`),
        })
      }
    }
  } finally {
    raw.disconnect()
  }
})

test.serial('onRedisError hard: calls reject with UnavailableError while Redis is away', async (t) => {
  if (second === undefined) throw new Error('the second server did not start')
  const cache = await open<string>({ url: second.url }, { namespace: 'hard', onRedisError: 'hard' })
  await cache.set('k', 'v')
  await second.kill()
  await t.throwsAsync(cache.set('k2', 'v'), { instanceOf: UnavailableError })
  await second.restart()
})

for (const topology of ['standalone', 'cluster'] as const) {
  test.serial(`${topology}: clear() empties every tier of every instance, and no other namespace`, async (t) => {
    const redis = topology === 'standalone' ? standalone() : { cluster: cluster?.startupNodes ?? [] }
    const namespace = `clear-${topology}`
    const a = await open<string>(redis, { namespace })
    const b = await open<string>(redis, { namespace })
    // Starts like the cleared one: a prefix match without the ':' would take it too.
    const other = await open<string>(redis, { namespace: `${namespace}-other` })
    // 200 keys spread over every master of the Cluster.
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
    await a.mset(keys.map((key) => [key, `value of ${key}`] as const))
    await other.set('k0', 'kept')
    t.is(await b.get('k1'), 'value of k1', 'in B’s local tiers now')
    t.is(await a.clear(), keys.length)
    t.is(a.getSync('k0'), undefined)
    t.not(await settle(() => b.getSync('k1'), undefined, 500), -1, 'B dropped its local copy')
    t.deepEqual(await b.mget(keys), Array<undefined>(keys.length).fill(undefined), 'Redis holds none of them')
    t.is(await other.get('k0'), 'kept')
  })
}

test.serial('clear() with the default namespace leaves the rate limiter’s and the queue’s keys alone', async (t) => {
  const raw = new Redis(server?.url ?? '')
  await raw.set('optlayer:rl:client-1', '1')
  await raw.set('optlayer:q:job-1', '1')
  const cache = await open<string>(standalone())
  await cache.set('k', 'v')
  t.true((await cache.clear()) >= 1)
  t.deepEqual(await raw.keys('optlayer:cache:*'), [])
  t.is(await raw.exists('optlayer:rl:client-1', 'optlayer:q:job-1'), 2)
  await raw.del('optlayer:rl:client-1', 'optlayer:q:job-1')
  raw.disconnect()
})

test.serial('clear() with Redis away empties the local tiers and rejects with UnavailableError', async (t) => {
  if (persistent === undefined) throw new Error('the persistent server did not start')
  const cache = await open<string>({ url: persistent.url }, { namespace: 'clear-away' })
  await cache.set('k', 'v')
  await persistent.kill()
  await t.throwsAsync(cache.clear(), { instanceOf: UnavailableError })
  t.is(cache.getSync('k'), undefined)
  await persistent.restart()
  await cache.ready()
  t.not(await settle(() => cache.get('k'), 'v', 5_000), -1, 'Redis kept its entry')
})
