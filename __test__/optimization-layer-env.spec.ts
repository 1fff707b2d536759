import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import test from 'ava'
import { ConfigError, OptimizationLayer } from 'optlayer'

import { startStandalone, type RedisStandalone } from './helpers/redis'

test('fromEnv: a bad variable throws a ConfigError naming it', (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ QUEUE_SIZE: 'lots' }, 'QUEUE_SIZE'],
    [{ REDIS_URL: 'http://redis:6379' }, 'REDIS_URL'],
    [{ CACHE_L2_SIZE: 'big' }, 'CACHE_L2_SIZE'],
    [{ RATE_LIMIT_PER_SECOND: '10', RATE_LIMIT_TYPE: 'leaky' }, 'RATE_LIMIT_TYPE'],
    [{ BACKENDS: 'ftp://10.0.0.1' }, 'BACKENDS'],
    [{ LB_ALGORITHM: 'random' }, 'LB_ALGORITHM'],
  ]
  for (const [env, name] of cases) {
    const error = t.throws(() => OptimizationLayer.fromEnv(env, { processor: () => 1 }), { instanceOf: ConfigError })
    t.true(error?.message.startsWith(`${name} `), `"${error?.message}" names ${name}`)
  }
})

test('fromEnv: the cache, rate limit and queue have the configured settings; the processor comes from overrides', async (t) => {
  const layer = OptimizationLayer.fromEnv<{ n: number }, number>(
    {
      RATE_LIMIT_PER_MINUTE: '600',
      RATE_LIMIT_TYPE: 'sliding_window',
      QUEUE_MAX_WORKERS: '3',
      QUEUE_SIZE: '7',
      UPSTREAM_TIMEOUT_MS: '2500',
      CACHE_L1_SIZE: '1MiB',
      CACHE_ENTRY_SIZE: '512B',
      CACHE_L2_SIZE: '8MiB',
    },
    { name: 'from-env', processor: ({ n }) => n * 2 },
  )
  t.teardown(() => layer.stop())
  t.is(layer.limiter?.algorithm, 'sliding-window')
  t.like(layer.limiter?.quota, { limit: 600, windowMs: 60_000 })
  t.like(layer.queue.options, { maxWorkers: 3, queueSize: 7, timeoutMs: 2500 })
  const cache = layer.cache.stats()
  t.is(cache.l1?.maxEntries, 2048)
  t.is(cache.l2?.maxBytes, 8 * 2 ** 20)
  t.is(cache.l3, undefined)
  t.is(layer.balancer, undefined)
  await layer.start()
  t.is(await layer.processRequest('user-1', { n: 21 }), 42)
  t.is(await layer.processRequest('user-1', { n: 21 }), 42)
  t.like(layer.stats().requests, { miss: 1, hit: 1 })
})

test('fromEnv: without a rate no limiter; BACKENDS and LB_ALGORITHM make the balancer that answers misses', async (t) => {
  const backend: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ echoed: JSON.parse(body) }))
    })
  })
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve))
  t.teardown(() => backend.close())
  const url = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`
  const layer = OptimizationLayer.fromEnv({ BACKENDS: `${url}=3`, LB_ALGORITHM: 'least-connections' })
  t.teardown(() => layer.stop())
  t.is(layer.limiter, undefined)
  const balancer = layer.balancer?.stats()
  t.is(balancer?.algorithm, 'least-connections')
  t.like(balancer?.backends[0], { id: url, url, weight: 3 })
  t.like(await layer.processRequest('tenant-a', { q: 1 }), { echoed: { q: 1 } })
})

let redis: RedisStandalone | undefined

test.after.always(async () => {
  await redis?.stop()
})

test('fromEnv: REDIS_URL puts the cache and the rate limiter on Redis', async (t) => {
  redis = await startStandalone()
  const layer = OptimizationLayer.fromEnv(
    { REDIS_URL: redis.url, RATE_LIMIT_PER_SECOND: '100', CACHE_DEFAULT_TTL_MS: '60000' },
    { processor: () => 'computed' },
  )
  t.teardown(() => layer.stop())
  t.is(layer.limiter?.stats().mode, 'redis')
  t.truthy(layer.cache.stats().l3, 'the cache has its Redis tier')
  t.is(await layer.processRequest('user-1', { a: 1 }), 'computed')
  t.is(layer.limiter?.stats().redis.allowed, 1)
})
