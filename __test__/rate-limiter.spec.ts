import path from 'node:path'
import { Worker } from 'node:worker_threads'

import test from 'ava'

import {
  ClosedError,
  ConfigError,
  ConfigMismatchError,
  configFromEnv,
  CostExceedsCapacityError,
  InvalidArgumentError,
  MetricsCollector,
  RateLimitedError,
  RateLimiter,
  rateLimitHeaders,
  type RateLimitAlgorithm,
  type RateLimiterOptions,
} from 'optlayer'

/** A limiter on a clock the test moves. */
function onClock(options: Omit<RateLimiterOptions, 'now'>): { limiter: RateLimiter; clock: { t: number } } {
  const clock = { t: 1_000 }
  return { limiter: new RateLimiter({ ...options, now: () => clock.t }), clock }
}

const allowedPattern = (limiter: RateLimiter, key: string, n: number): boolean[] =>
  Array.from({ length: n }, () => limiter.allowSync(key).allowed)

for (const algorithm of ['token-bucket', 'gcra'] as const) {
  test(`${algorithm}: burst at once, then one unit per window/limit, exact retry-after`, (t) => {
    const { limiter, clock } = onClock({ algorithm, limit: 10, windowMs: 1000 })
    t.deepEqual(limiter.allowSync('k'), { allowed: true, remaining: 9, retryAfterMs: 0, resetMs: 100 })
    t.deepEqual(allowedPattern(limiter, 'k', 9), Array(9).fill(true))
    t.deepEqual(limiter.allowSync('k'), { allowed: false, remaining: 0, retryAfterMs: 100, resetMs: 1000 })
    clock.t += 99
    t.false(limiter.allowSync('k').allowed)
    clock.t += 1
    t.true(limiter.allowSync('k').allowed)
    // AllowN: 3 units need 300 ms of refill.
    const denied = limiter.allowSync('k', 3)
    t.like(denied, { allowed: false, retryAfterMs: 300 })
    clock.t += 300
    t.like(limiter.allowSync('k', 3), { allowed: true, remaining: 0 })
    // Keys are independent.
    t.like(limiter.allowSync('other'), { allowed: true, remaining: 9 })
  })

  test(`${algorithm}: burst above the rate`, (t) => {
    const { limiter, clock } = onClock({ algorithm, limit: 2, windowMs: 1000, burst: 5 })
    t.deepEqual(allowedPattern(limiter, 'k', 6), [true, true, true, true, true, false])
    clock.t += 500
    t.deepEqual(allowedPattern(limiter, 'k', 2), [true, false])
  })
}

test('fixed-window: limit per aligned window, reset at the boundary', (t) => {
  const { limiter, clock } = onClock({ algorithm: 'fixed-window', limit: 3, windowMs: 1000 })
  clock.t = 10_250
  t.deepEqual(allowedPattern(limiter, 'k', 4), [true, true, true, false])
  t.like(limiter.allowSync('k'), { allowed: false, retryAfterMs: 750, resetMs: 750 })
  clock.t = 10_999
  t.false(limiter.allowSync('k').allowed)
  clock.t = 11_000
  t.like(limiter.allowSync('k'), { allowed: true, remaining: 2 })
})

test('sliding-log: exactly limit in any window-long interval', (t) => {
  const { limiter, clock } = onClock({ algorithm: 'sliding-log', limit: 3, windowMs: 1000 })
  for (const at of [0, 400, 800]) {
    clock.t = 5_000 + at
    t.true(limiter.allowSync('k').allowed)
  }
  clock.t = 5_900
  t.like(limiter.allowSync('k'), { allowed: false, retryAfterMs: 100 })
  clock.t = 6_000
  t.true(limiter.allowSync('k').allowed)
  t.false(limiter.allowSync('k').allowed)
  clock.t = 6_400
  t.true(limiter.allowSync('k').allowed)
})

test('sliding-window: the previous window weighs by its overlap', (t) => {
  const { limiter, clock } = onClock({ algorithm: 'sliding-window', limit: 10, windowMs: 1000 })
  clock.t = 20_000
  t.deepEqual(allowedPattern(limiter, 'k', 10), Array(10).fill(true))
  t.false(limiter.allowSync('k').allowed)
  // Half into the next window, half of the previous 10 still count: 5 more fit.
  clock.t = 21_500
  t.deepEqual(allowedPattern(limiter, 'k', 6), [true, true, true, true, true, false])
  clock.t = 23_000
  t.like(limiter.allowSync('k'), { allowed: true, remaining: 9 })
})

for (const algorithm of ['token-bucket', 'gcra', 'fixed-window', 'sliding-window', 'sliding-log'] as const) {
  test(`${algorithm}: a cost of 0 asks without consuming; bad input is a typed error`, (t) => {
    const { limiter } = onClock({ algorithm, limit: 4, windowMs: 1000 })
    t.like(limiter.allowSync('k', 0), { allowed: true, remaining: 4 })
    t.like(limiter.allowSync('k', 4), { allowed: true, remaining: 0 })
    t.like(limiter.allowSync('k', 0), { allowed: true, remaining: 0 }, 'a cost of 0 always fits')
    t.false(limiter.allowSync('k').allowed)
    t.throws(() => limiter.allowSync('k', 5), {
      instanceOf: CostExceedsCapacityError,
      code: 'ERR_OPTLAYER_COST_EXCEEDS_CAPACITY',
    })
    for (const cost of [-1, 1.5, Number.NaN, Infinity]) {
      t.throws(() => limiter.allowSync('k', cost), { instanceOf: InvalidArgumentError }, `cost ${cost}`)
    }
    t.throws(() => limiter.allowSync(''), { instanceOf: InvalidArgumentError, message: /non-empty/ })
    t.throws(() => limiter.allowSync('x'.repeat(513)), { instanceOf: InvalidArgumentError, message: /513 bytes/ })
    // Length is counted in UTF-8 bytes: 171 three-byte characters are 513 bytes.
    t.throws(() => limiter.allowSync('€'.repeat(171)), { instanceOf: InvalidArgumentError })
    t.notThrows(() => limiter.allowSync('€'.repeat(170)))
    t.throws(() => limiter.allowSync(42 as unknown as string), { instanceOf: InvalidArgumentError })
  })
}

test('invalid options are typed errors naming the option', (t) => {
  const bad: Array<[Partial<RateLimiterOptions>, RegExp]> = [
    [{ limit: 0 }, /limit/],
    [{ limit: 1.5 }, /limit/],
    [{ limit: 2 ** 32 }, /limit/],
    [{ limit: 10, windowMs: 0 }, /windowMs/],
    [{ limit: 10, burst: 0 }, /burst/],
    [{ limit: 10, algorithm: 'fixed-window', burst: 20 }, /burst/],
    [{ limit: 10, algorithm: 'leaky' as RateLimitAlgorithm }, /algorithm/],
    [{ limit: 10, shards: 3 }, /shards/],
    [{ limit: 10, maxKeys: 0 }, /maxKeys/],
    [{ limit: 10, atCap: 'drop' as 'reject-new' }, /atCap/],
    [{ limit: 10, batch: { batchSize: 5 } }, /batch/],
  ]
  for (const [options, message] of bad) {
    t.throws(
      () => new RateLimiter(options as RateLimiterOptions),
      { instanceOf: InvalidArgumentError, message },
      JSON.stringify(options),
    )
  }
})

test('the key cap: reject-new denies new keys, allow-untracked admits them, both counted', (t) => {
  const reject = new RateLimiter({ limit: 5, maxKeys: 2, atCap: 'reject-new', shards: 1 })
  t.true(reject.allowSync('a').allowed)
  t.true(reject.allowSync('b').allowed)
  t.like(reject.allowSync('c'), { allowed: false })
  t.true(reject.allowSync('a').allowed, 'tracked keys still decide')
  t.like(reject.stats().local, { keys: 2, rejectedAtCap: 1 })

  const open = new RateLimiter({ limit: 5, maxKeys: 1, atCap: 'allow-untracked', shards: 1 })
  open.allowSync('a')
  t.deepEqual(allowedPattern(open, 'c', 7), Array(7).fill(true), 'untracked keys are never limited')
  t.like(open.stats().local, { keys: 1, allowedUntracked: 7 })
})

test('evict-idle makes room once a key is back to full', (t) => {
  const { limiter, clock } = onClock({ limit: 10, windowMs: 1000, maxKeys: 1, shards: 1 })
  t.true(limiter.allowSync('a').allowed)
  t.false(limiter.allowSync('b').allowed, 'a is not idle yet')
  clock.t += 100
  t.true(limiter.allowSync('b').allowed)
  t.like(limiter.stats().local, { keys: 1, evictions: 1 })
})

test('named limiters are shared by worker threads and refuse another configuration', async (t) => {
  const name = `shared-${process.pid}`
  // A sliding log gives nothing back for a minute: a token bucket refills one token every 6 s, and a worker started
  // under valgrind took longer than that to ask.
  const options = { limit: 10, windowMs: 60_000, algorithm: 'sliding-log' } as const
  const limiter = new RateLimiter({ name, ...options })
  t.like(limiter.allowSync('k', 4), { remaining: 6 })
  const worker = new Worker(path.join(__dirname, 'fixtures', 'rate-limit-worker.js'), {
    workerData: { name, ...options, cost: 5 },
  })
  const [reply] = (await new Promise((resolve, reject) => {
    worker.once('message', (message) => resolve([message]))
    worker.once('error', reject)
  })) as [{ remaining: number }]
  t.is(reply.remaining, 1, 'the worker saw the main thread consume')
  t.like(limiter.allowSync('k', 1), { allowed: true, remaining: 0 })
  await worker.terminate()
  t.throws(() => new RateLimiter({ name, ...options, limit: 11 }), { instanceOf: ConfigMismatchError })
  await limiter.close()
})

test('a closed limiter throws ClosedError', async (t) => {
  const limiter = new RateLimiter({ limit: 5 })
  await limiter.close()
  await limiter.close()
  t.throws(() => limiter.allowSync('k'), { instanceOf: ClosedError, code: 'ERR_OPTLAYER_CLOSED' })
  await t.throwsAsync(limiter.allow('k'), { instanceOf: ClosedError })
})

test('allow() answers like allowSync() for a local limiter', async (t) => {
  const { limiter } = onClock({ limit: 2, windowMs: 1000 })
  t.like(await limiter.allow('k', 2), { allowed: true, remaining: 0 })
  t.like(await limiter.allow('k'), { allowed: false, retryAfterMs: 500 })
  await t.throwsAsync(limiter.allow(''), { instanceOf: InvalidArgumentError })
})

test('adaptive: failures open the breaker, which rejects fast and recovers through half-open', (t) => {
  const { limiter, clock } = onClock({
    algorithm: 'adaptive',
    limit: 100,
    windowMs: 1000,
    breaker: { consecutiveFailures: 3, openMs: 1000, minimumCalls: Infinity },
  })
  t.true(limiter.allowSync('backend').allowed)
  for (let i = 0; i < 3; i++) limiter.recordFailure('backend')
  t.is(limiter.breakerState('backend'), 'open')
  t.true(limiter.currentLimit('backend') < 100, 'failures lowered the limit')
  t.like(limiter.allowSync('backend'), { allowed: false, retryAfterMs: 1000 })
  clock.t += 1000
  t.true(limiter.allowSync('backend').allowed, 'a probe is let through')
  t.is(limiter.breakerState('backend'), 'half-open')
  limiter.recordSuccess('backend', 5)
  t.is(limiter.breakerState('backend'), 'closed')
  t.throws(() => new RateLimiter({ limit: 5 }).recordFailure('k'), { instanceOf: InvalidArgumentError })
})

test('rate-limit headers and 429 metadata', (t) => {
  t.deepEqual(rateLimitHeaders({ allowed: true, remaining: 7, retryAfterMs: 0, resetMs: 1200 }, 10), {
    'RateLimit-Limit': '10',
    'RateLimit-Remaining': '7',
    'RateLimit-Reset': '2',
  })
  t.deepEqual(rateLimitHeaders({ allowed: false, remaining: 0, retryAfterMs: 300, resetMs: 1000 }, 10), {
    'RateLimit-Limit': '10',
    'RateLimit-Remaining': '0',
    'RateLimit-Reset': '1',
    'Retry-After': '1',
  })
})

test('limiter decisions reach /metrics', async (t) => {
  const limiter = new RateLimiter({ name: 'metrics-probe', limit: 1 })
  limiter.allowSync('k')
  limiter.allowSync('k')
  const body = await new MetricsCollector({ defaultMetrics: false }).expose()
  t.regex(body, /optlayer_ratelimit_decisions_total\{limiter="metrics-probe",source="local",outcome="allowed"\} 1/)
  t.regex(body, /optlayer_ratelimit_decisions_total\{limiter="metrics-probe",source="local",outcome="denied"\} 1/)
  await limiter.close()
})

test('RATE_LIMIT_* variables configure the gateway limit; bad values name the variable', (t) => {
  t.is(configFromEnv({}).rateLimit, undefined)
  t.deepEqual(configFromEnv({ RATE_LIMIT_PER_MINUTE: '600' }).rateLimit, {
    algorithm: 'token-bucket',
    limit: 600,
    windowMs: 60_000,
    burst: 600,
  })
  t.deepEqual(
    configFromEnv({ RATE_LIMIT_PER_SECOND: '50', RATE_LIMIT_TYPE: 'gcra', RATE_LIMIT_BURST: '80' }).rateLimit,
    {
      algorithm: 'gcra',
      limit: 50,
      windowMs: 1000,
      burst: 80,
    },
  )
  t.like(configFromEnv({ RATE_LIMIT_PER_SECOND: '50', RATE_LIMIT_ADAPTIVE: 'true' }).rateLimit, {
    algorithm: 'adaptive',
  })
  const bad: Array<[Record<string, string>, string]> = [
    [{ RATE_LIMIT_PER_MINUTE: '0' }, 'RATE_LIMIT_PER_MINUTE'],
    [{ RATE_LIMIT_PER_MINUTE: 'lots' }, 'RATE_LIMIT_PER_MINUTE'],
    [{ RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_PER_SECOND: '5' }, 'RATE_LIMIT_PER_SECOND'],
    [{ RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_TYPE: 'leaky' }, 'RATE_LIMIT_TYPE'],
    [{ RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_ADAPTIVE: 'maybe' }, 'RATE_LIMIT_ADAPTIVE'],
    [{ RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_TYPE: 'fixed-window', RATE_LIMIT_BURST: '9' }, 'RATE_LIMIT_BURST'],
    [{ RATE_LIMIT_BURST: '9' }, 'RATE_LIMIT_BURST'],
  ]
  for (const [env, name] of bad) {
    const error = t.throws(() => configFromEnv(env), { instanceOf: ConfigError }, JSON.stringify(env))
    t.true(error?.message.includes(name), `${error?.message} names ${name}`)
  }
})

test("consume: rate-limiter-flexible's shape, rejecting with RateLimitedError over the limit", async (t) => {
  const { limiter, clock } = onClock({ algorithm: 'fixed-window', limit: 3, windowMs: 1000 })
  t.deepEqual(await limiter.consume('k'), {
    remainingPoints: 2,
    msBeforeNext: 1000,
    consumedPoints: 1,
    isFirstInDuration: true,
  })
  t.like(await limiter.consume('k', 2), { remainingPoints: 0, consumedPoints: 3, isFirstInDuration: false })
  const denied = await t.throwsAsync(limiter.consume('k'), { instanceOf: RateLimitedError })
  t.is(denied?.code, 'ERR_OPTLAYER_RATE_LIMITED')
  t.is(denied?.retryAfterMs, 1000, "rate-limiter-flexible's msBeforeNext")
  clock.t += 1000
  t.like(await limiter.consume('k'), { remainingPoints: 2, isFirstInDuration: true })
  await t.throwsAsync(limiter.consume('k', 0.5), { instanceOf: InvalidArgumentError })
  await limiter.close()
})
