import test from 'ava'

import { InvalidArgumentError, MetricsCollector, RateLimiter, type RedisFallback } from 'optlayer'

import { startStandalone, type RedisStandalone } from './helpers/redis'
import { waitFor } from './helpers/wait'

let server: RedisStandalone | undefined
const limiters: RateLimiter[] = []

test.before(async () => {
  server = await startStandalone()
})

test.after.always(async () => {
  await Promise.all(limiters.map((limiter) => limiter.close()))
  await server?.stop()
})

function requireServer(): RedisStandalone {
  if (server === undefined) throw new Error('the standalone server did not start (see test.before)')
  return server
}

function open(fallback: RedisFallback, extra: Partial<ConstructorParameters<typeof RateLimiter>[0]> = {}): RateLimiter {
  const limiter = new RateLimiter({
    algorithm: 'fixed-window',
    limit: 4,
    windowMs: 60_000,
    redis: { url: requireServer().url },
    prefix: `spec:${fallback}:`,
    timeoutMs: 300,
    fallback,
    ...extra,
  })
  limiters.push(limiter)
  return limiter
}

/** Waits until the limiter's Redis answers again (it reconnects by itself). */
async function untilRedisDecides(limiter: RateLimiter, key: string): Promise<void> {
  const before = limiter.stats().redis
  const decided = async (): Promise<boolean> => {
    await limiter.allow(key, 0)
    const now = limiter.stats().redis
    return now.allowed + now.denied > before.allowed + before.denied
  }
  await waitFor('Redis to decide again', decided, 5_000, 50)
}

// One spec drives every fallback, because killing the shared server affects them all.
test.serial('Redis killed mid-run: each fallback answers as configured, and Redis resumes by itself', async (t) => {
  const target = requireServer()
  const local = open('local', { instances: 2 })
  const failOpen = open('fail-open')
  const failClosed = open('fail-closed')
  for (const limiter of [local, failOpen, failClosed]) {
    t.like(await limiter.allow('user', 3), { allowed: true, remaining: 1 })
    t.like(await limiter.allow('user', 2), { allowed: false, remaining: 1 })
    t.throws(() => limiter.allowSync('user'), { instanceOf: InvalidArgumentError }, 'allowSync is local only')
  }

  await target.kill()
  // The local fallback enforces limit / instances = 2 per window in this process.
  t.deepEqual(await Promise.all([1, 2, 3].map(() => local.allow('user').then((d) => d.allowed))), [true, true, false])
  t.like(await failOpen.allow('user'), { allowed: true })
  t.like(await failClosed.allow('user'), { allowed: false, retryAfterMs: 60_000 })
  t.like(local.stats(), { redis: { unavailable: 3 }, fallback: { local: 3 } })
  t.like(failOpen.stats(), { fallback: { failOpen: 1 } })
  t.like(failClosed.stats(), { fallback: { failClosed: 1 } })

  const metrics = await new MetricsCollector({ defaultMetrics: false }).expose()
  t.regex(metrics, new RegExp(`optlayer_ratelimit_redis_unavailable_total\\{limiter="${local.name}"\\} 3`))

  await target.restart()
  for (const limiter of [local, failOpen, failClosed]) await untilRedisDecides(limiter, 'probe')
  // The server restarted empty (no persistence): counting starts over, in Redis again.
  t.like(await local.allow('user', 4), { allowed: true, remaining: 0 })
  t.like(await local.allow('user'), { allowed: false })
  t.like(await failClosed.allow('user'), { allowed: true })
})

test.serial('batched decisions stay within the bound and fall back like the rest', async (t) => {
  const limiter = open('fail-closed', {
    algorithm: 'fixed-window',
    limit: 20,
    batch: { batchSize: 5 },
    prefix: 'spec:batch:',
  })
  let admitted = 0
  for (let i = 0; i < 30; i++) if ((await limiter.allow('k')).allowed) admitted++
  t.is(admitted, 20, 'one process never exceeds the limit, whatever its leases')
  t.true(limiter.stats().redis.allowed === 20)
})
