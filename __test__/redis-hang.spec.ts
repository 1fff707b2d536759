import test from 'ava'

import { DistributedCache, RateLimiter } from 'optlayer'

import { startStandalone } from './helpers/redis'
import { waitFor } from './helpers/wait'

const TIMEOUT_MS = 300

/** How long `call` takes, ms. */
async function timed(call: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await call()
  return performance.now() - started
}

test('a frozen Redis costs one command timeout, not one per call nor one per component; both use it again once it answers', async (t) => {
  const redis = await startStandalone()
  t.teardown(() => redis.stop())
  const cache = new DistributedCache<string>({
    name: 'hang-spec',
    namespace: 'hang-spec',
    l1: false,
    l2: false,
    redis: { url: redis.url },
    l3: { timeoutMs: TIMEOUT_MS },
  })
  const limiter = new RateLimiter({
    algorithm: 'fixed-window',
    limit: 1_000,
    windowMs: 60_000,
    redis: { url: redis.url },
    prefix: 'hang-spec:',
    timeoutMs: TIMEOUT_MS,
  })
  t.teardown(async () => {
    if (redis.paused) redis.resume()
    await Promise.all([cache.close(), limiter.close()])
  })
  await cache.set('k', 'before')
  await limiter.allow('user')

  redis.pause()
  // The first call waits out the timeout (nothing tells a hung server from a slow one)...
  t.true((await timed(() => cache.get('k'))) >= TIMEOUT_MS - 20)
  // ...the limiter, on its own connection to the same server, does not wait it out again...
  t.true((await timed(() => limiter.allow('user'))) < TIMEOUT_MS / 2, 'the server is known hung')
  // ...nor does a change: kept to be written once Redis answers, its announcement not sent to the hung server...
  t.true((await timed(() => cache.set('changed', 'during'))) < TIMEOUT_MS / 2, 'a set while hung')
  // ...nor do the next calls: the cache misses, the limiter's fallback decides.
  const later = []
  for (let i = 0; i < 5; i++) later.push(await timed(() => cache.get('k')), await timed(() => limiter.allow('user')))
  t.true(
    later.every((ms) => ms < TIMEOUT_MS / 2),
    `later calls took ${later.map(Math.round).join(', ')} ms`,
  )
  const fallbacks = limiter.stats().fallback.local

  redis.resume()
  await waitFor('the cache reads Redis again', async () => (await cache.get('k')) === 'before')
  await waitFor('the limiter decides through Redis again', async () => {
    const before = limiter.stats().redis.allowed
    await limiter.allow('user')
    return limiter.stats().redis.allowed > before
  })
  t.true(fallbacks >= 5)
})
