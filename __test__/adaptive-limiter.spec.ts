import test from 'ava'

import {
  AdaptiveRateLimiter,
  AimdLimit,
  CostExceedsCapacityError,
  createAdaptiveLimit,
  GradientLimit,
  InvalidArgumentError,
  type AdaptiveLimitOptions,
  type AdaptiveRateLimiterOptions,
  type AdaptiveRateOptions,
  type KeyedCircuitStateChange,
} from 'optlayer'

import { fakeClock } from './helpers/fake-clock'

function setup(options: Omit<AdaptiveRateLimiterOptions, 'now'>) {
  const clock = fakeClock(10_000)
  const limiter = new AdaptiveRateLimiter({ ...options, now: clock.now })
  const changes: KeyedCircuitStateChange[] = []
  limiter.on('breaker', (change) => changes.push(change))
  return { clock, limiter, changes }
}

function admitted(limiter: AdaptiveRateLimiter, key: string, attempts: number): number {
  let count = 0
  for (let i = 0; i < attempts; i++) if (limiter.allow(key).allowed) count++
  return count
}

test('AIMD grows on fast successes, cuts on failures and slow samples, and stays within bounds', (t) => {
  const aimd = new AimdLimit({ initialLimit: 10, minLimit: 5, maxLimit: 12, backoffRatio: 0.5, targetLatencyMs: 100 })
  aimd.onSample(50, true)
  t.is(aimd.limit, 11)
  aimd.onSample(undefined, true)
  aimd.onSample(100, true)
  t.is(aimd.limit, 12, 'at the target still counts as fast; capped at maxLimit')
  aimd.onSample(101, true)
  t.is(aimd.limit, 6, 'slower than the target')
  aimd.onSample(10, false)
  t.is(aimd.limit, 5, 'a failure, floored at minLimit')
  aimd.onSample(10, true, 2)
  t.is(aimd.limit, 5, 'app-limited: 2 in use of 5 says nothing about capacity')
  aimd.onSample(10, true, 2.5)
  t.is(aimd.limit, 6)
  t.is(new AimdLimit({ maxLimit: 8 }).limit, 8, 'the default initial limit moves into range')
})

test('gradient cuts the limit when latency rises above the baseline, then recovers', (t) => {
  const gradient = new GradientLimit({ initialLimit: 50, maxLimit: 100 })
  for (let i = 0; i < 20; i++) gradient.onSample(10, true)
  t.is(gradient.longLatencyMs, 10)
  t.true(Math.abs(gradient.limit - 66) < 1e-9, 'steady latency: +queueSize × smoothing per sample')

  const before = gradient.limit
  gradient.onSample(40, true)
  t.true(Math.abs(gradient.limit - (before * 0.9 + 0.8)) < 1e-9, 'gradient clamped to 0.5, smoothed by 0.2')
  let previous = gradient.limit
  for (let i = 0; i < 30; i++) {
    gradient.onSample(40, true)
    t.true(gradient.limit < previous)
    previous = gradient.limit
  }
  t.true(gradient.limit < 20)
  t.true(gradient.longLatencyMs > 12 && gradient.longLatencyMs < 14, 'the baseline follows slowly')

  for (let i = 0; i < 70; i++) {
    gradient.onSample(10, true)
    t.true(gradient.limit > previous)
    previous = gradient.limit
  }
  t.true(gradient.limit > 60)

  gradient.onSample(undefined, true)
  t.is(gradient.limit, previous, 'a success without latency carries no information')
  gradient.onSample(10, true, 1)
  t.is(gradient.limit, previous, 'app-limited')
  gradient.onSample(5, false)
  t.true(Math.abs(gradient.limit - previous * 0.9) < 1e-9, 'a failure cuts by smoothing / 2')
})

test('gradient decays a stale baseline once load has passed', (t) => {
  const gradient = new GradientLimit({ warmupSamples: 1 })
  gradient.onSample(100, true)
  gradient.onSample(10, true)
  t.true(Math.abs(gradient.longLatencyMs - (100 + (10 - 100) * (2 / 601)) * 0.9) < 1e-9)
  gradient.onSample(0, true)
  t.false(Number.isNaN(gradient.limit), 'zero latencies are fine')
})

test('adaptive limits validate their options and samples', (t) => {
  const bad: Array<[AdaptiveLimitOptions, string]> = [
    [{ minLimit: 0 }, 'minLimit'],
    [{ minLimit: 10, maxLimit: 5 }, 'maxLimit'],
    [{ initialLimit: 2000 }, 'initialLimit'],
    [{ backoffRatio: 1 }, 'backoffRatio'],
    [{ increase: -1 }, 'increase'],
    [{ targetLatencyMs: 0 }, 'targetLatencyMs'],
    [{ algorithm: 'gradient', smoothing: 0 }, 'smoothing'],
    [{ algorithm: 'gradient', queueSize: -1 }, 'queueSize'],
    [{ algorithm: 'gradient', longWindow: 0.5 }, 'longWindow'],
    [{ algorithm: 'vegas' as 'gradient' }, 'algorithm'],
  ]
  for (const [options, name] of bad) {
    const error = t.throws(() => createAdaptiveLimit(options), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' }, name)
    t.true(error?.message.includes(name), error?.message)
  }
  const aimd = createAdaptiveLimit()
  t.is(aimd.algorithm, 'aimd')
  t.throws(() => aimd.onSample(-1, true), { instanceOf: InvalidArgumentError })
  t.throws(() => aimd.onSample(Number.POSITIVE_INFINITY, true), { instanceOf: InvalidArgumentError })
  t.throws(() => aimd.onSample(1, true, Number.NaN), { instanceOf: InvalidArgumentError })
  t.is(aimd.limit, 20, 'a rejected sample changes nothing')
})

test('admits the limit per window, then at the adapted rate', (t) => {
  const { limiter, clock } = setup({ limit: 10, windowMs: 1_000, adaptive: { backoffRatio: 0.5 }, breaker: false })
  t.deepEqual(limiter.allow('u'), { allowed: true, remaining: 9, retryAfterMs: 0, resetMs: 100 })
  t.is(admitted(limiter, 'u', 12), 9)
  t.deepEqual(limiter.allow('u'), { allowed: false, remaining: 0, retryAfterMs: 100, resetMs: 1_000 })

  limiter.recordFailure('u')
  t.is(limiter.currentLimit('u'), 5)
  clock.advance(1_000)
  t.is(admitted(limiter, 'u', 8), 5, 'capacity scales with the limit')
  t.deepEqual(limiter.allow('u'), { allowed: false, remaining: 0, retryAfterMs: 200, resetMs: 1_000 })
  clock.advance(199)
  t.false(limiter.allow('u').allowed)
  clock.advance(1)
  t.true(limiter.allow('u').allowed, 'waiting exactly retryAfterMs is enough')

  limiter.recordLatency('u', 20)
  t.is(limiter.currentLimit('u'), 6, 'busy and fast: grows')
  limiter.recordLatency('u', 1_500)
  t.is(limiter.currentLimit('u'), 3, 'slower than the default 1000 ms target: cut')
  limiter.recordSuccess('u')
  t.is(limiter.currentLimit('u'), 4)
  clock.advance(3_000)
  limiter.recordSuccess('u', 5)
  t.is(limiter.currentLimit('u'), 4, 'idle key: app-limited, no growth')
  t.is(limiter.currentLimit('other'), 10, 'keys adapt independently')
  t.like(limiter.stats(), { keys: 1, allowed: 16, denied: 9, breakerRejections: 0 })
})

test('burst sets the capacity at the starting limit and scales with it', (t) => {
  const { limiter } = setup({ limit: 10, windowMs: 1_000, burst: 20, adaptive: { backoffRatio: 0.5 }, breaker: false })
  t.like(limiter.allow('u', 20), { allowed: true, remaining: 0, resetMs: 2_000 })
  t.throws(() => limiter.allow('u', 21), {
    instanceOf: CostExceedsCapacityError,
    code: 'ERR_OPTLAYER_COST_EXCEEDS_CAPACITY',
  })
  limiter.recordFailure('u')
  t.like(limiter.allow('u', 11), { allowed: false, remaining: 0, retryAfterMs: 2_200, resetMs: 2_000 })
  limiter.recordFailure('v')
  t.like(
    limiter.allow('v', 11),
    { allowed: false, remaining: 10 },
    'a cut empties a full bucket down to the new capacity',
  )
  t.like(limiter.allow('v', 10), { allowed: true, remaining: 0 })
})

test('rejects fast while its breaker is open and recovers through half-open', (t) => {
  const { limiter, clock, changes } = setup({
    limit: 100,
    windowMs: 1_000,
    breaker: { consecutiveFailures: 3, openMs: 1_000 },
  })
  t.true(limiter.allow('api').allowed)
  for (let i = 0; i < 3; i++) limiter.recordFailure('api')
  t.is(limiter.breakerState('api'), 'open')
  t.deepEqual(changes, [{ key: 'api', from: 'closed', to: 'open' }])
  t.like(limiter.allow('api'), { allowed: false, remaining: 0, retryAfterMs: 1_000 })
  clock.advance(400)
  t.like(limiter.allow('other'), { allowed: true }, 'other keys are unaffected')
  t.like(limiter.allow('api'), { allowed: false, retryAfterMs: 600 })

  clock.advance(600)
  t.true(limiter.allow('api').allowed, 'half-open: a probe')
  t.like(limiter.allow('api'), { allowed: false, retryAfterMs: 1 }, 'the only probe slot is taken')
  limiter.recordFailure('api')
  t.like(limiter.allow('api'), { allowed: false, retryAfterMs: 2_000 }, 'a failed probe doubles the open period')

  clock.advance(2_000)
  t.true(limiter.allow('api').allowed)
  limiter.recordLatency('api', 30)
  t.is(limiter.breakerState('api'), 'closed')
  t.true(limiter.allow('api').allowed)
  t.deepEqual(
    changes.map(({ from, to }) => `${from}>${to}`),
    ['closed>open', 'open>half-open', 'half-open>open', 'open>half-open', 'half-open>closed'],
  )
  t.like(limiter.stats(), { breakerRejections: 4, breakerOpens: 2, allowed: 5 })
})

test('a probe the bucket denies gives its slot back', (t) => {
  const { limiter, clock } = setup({
    limit: 2,
    windowMs: 1_000,
    adaptive: { minLimit: 2 },
    breaker: { consecutiveFailures: 1, openMs: 100 },
  })
  t.is(admitted(limiter, 'k', 2), 2)
  limiter.recordFailure('k')
  clock.advance(100)
  t.like(limiter.allow('k'), { allowed: false, remaining: 0, retryAfterMs: 400 }, 'half-open, but the bucket is empty')
  t.is(limiter.breakerState('k'), 'half-open')
  clock.advance(400)
  t.true(limiter.allow('k').allowed, 'the probe slot was not lost')
  t.like(limiter.stats(), { denied: 1, breakerRejections: 0 })
})

test('the gradient algorithm drives the limiter from latencies', (t) => {
  const { limiter } = setup({ limit: 10, windowMs: 1_000, adaptive: { algorithm: 'gradient' }, breaker: false })
  t.is(admitted(limiter, 'g', 10), 10)
  for (let i = 0; i < 10; i++) limiter.recordLatency('g', 10)
  t.is(limiter.currentLimit('g'), 10, 'maxLimit defaults to limit')
  limiter.recordLatency('g', 50)
  t.true(Math.abs(limiter.currentLimit('g') - 9.8) < 1e-9)
  limiter.recordSuccess('g')
  t.true(Math.abs(limiter.currentLimit('g') - 9.8) < 1e-9)
})

test('the key cap evicts the least recently used idle key', (t) => {
  const { limiter, clock } = setup({ limit: 10, windowMs: 1_000, maxKeys: 2 })
  limiter.allow('a') // busy: its bucket is not full
  limiter.recordSuccess('b') // idle: full bucket, breaker closed
  limiter.allow('c')
  t.like(limiter.stats(), { keys: 2, evictions: 1, evictedBusy: 0 })
  t.false(limiter.allow('a', 10).allowed, 'a kept its state although it was least recently used')

  clock.advance(50)
  limiter.allow('d') // a and c are both busy: the least recently used goes anyway
  t.like(limiter.stats(), { keys: 2, evictions: 2, evictedBusy: 1 })
  t.true(limiter.allow('c', 10).allowed, 'c was evicted and starts full')
  t.is(limiter.stats().keys, 2)
})

test('bad input gives typed errors and leaves no state behind', (t) => {
  const { limiter } = setup({ limit: 10, windowMs: 1_000, maxKeyLength: 12 })
  const invalid = { instanceOf: InvalidArgumentError, code: 'ERR_OPTLAYER_INVALID_ARGUMENT' }
  t.throws(() => limiter.allow(''), invalid)
  t.throws(() => limiter.allow(42 as unknown as string), invalid)
  t.throws(() => limiter.allow('x'.repeat(13)), invalid)
  t.throws(() => limiter.allow('€€€€€'), invalid, '5 characters but 15 UTF-8 bytes')
  t.true(limiter.allow('€€€€').allowed, '12 bytes')
  t.throws(() => limiter.allow('k', 0), invalid)
  t.throws(() => limiter.allow('k', 1.5), invalid)
  t.throws(() => limiter.allow('k', 11), { instanceOf: CostExceedsCapacityError })
  t.throws(() => limiter.recordLatency('k', -1), invalid)
  t.throws(() => limiter.recordLatency('k', Number.NaN), invalid)
  t.throws(() => limiter.recordLatency('k', undefined as unknown as number), invalid)
  t.throws(() => limiter.recordFailure(''), invalid)
  t.is(limiter.stats().keys, 1)

  const bad: Array<[Partial<AdaptiveRateLimiterOptions>, string]> = [
    [{ limit: 0 }, 'limit'],
    [{ windowMs: -1 }, 'windowMs'],
    [{ burst: 1.5 }, 'burst'],
    [{ adaptive: { maxLimit: 5 } }, 'adaptive.maxLimit'],
    [{ adaptive: { minLimit: 11 } }, 'adaptive.minLimit'],
    [{ adaptive: { initialLimit: 5 } as unknown as AdaptiveRateOptions }, 'adaptive.initialLimit'],
    [{ adaptive: { algorithm: 'gradient', smoothing: 2 } }, 'smoothing'],
    [{ breaker: { openMs: 0 } }, 'openMs'],
    [{ breaker: true as unknown as false }, 'breaker'],
    [{ maxKeys: 0 }, 'maxKeys'],
    [{ maxKeyLength: Number.NaN }, 'maxKeyLength'],
  ]
  for (const [options, name] of bad) {
    const error = t.throws(() => new AdaptiveRateLimiter({ limit: 10, windowMs: 1_000, ...options }), invalid, name)
    t.true(error?.message.includes(name), error?.message)
  }
  t.throws(() => new AdaptiveRateLimiter(undefined as unknown as AdaptiveRateLimiterOptions), invalid)
})
