import test from 'ava'

import {
  CIRCUIT_BREAKER_DEFAULTS,
  CircuitBreaker,
  InvalidArgumentError,
  type CircuitBreakerOptions,
  type CircuitStateChange,
} from 'optlayer'

import { fakeClock } from './helpers/fake-clock'

/** A breaker on a fake clock that records every transition it emits. */
function setup(options: CircuitBreakerOptions = {}) {
  const clock = fakeClock()
  const breaker = new CircuitBreaker({ now: clock.now, ...options })
  const changes: CircuitStateChange[] = []
  breaker.on('state', (change) => changes.push(change))
  return { clock, breaker, changes }
}

function fail(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i++) breaker.recordFailure()
}

test('opens after N consecutive failures and rejects fast while open', (t) => {
  const { breaker, changes } = setup({ consecutiveFailures: 3, minimumCalls: Infinity, openMs: 500 })
  fail(breaker, 2)
  breaker.recordSuccess() // breaks the run
  fail(breaker, 2)
  t.is(breaker.state, 'closed')
  t.true(breaker.tryAcquire())
  breaker.recordFailure()
  t.is(breaker.state, 'open')
  t.deepEqual(changes, [{ from: 'closed', to: 'open' }])
  t.false(breaker.tryAcquire())
  t.false(breaker.tryAcquire())
  t.is(breaker.retryAfterMs(), 500)
  t.like(breaker.stats(), { state: 'open', successes: 1, failures: 5, rejections: 2, opens: 1, consecutiveFailures: 0 })
})

test('opens on the failure rate over the window, not before minimumCalls', (t) => {
  const { breaker } = setup({ consecutiveFailures: Infinity, minimumCalls: 10, failureRateThreshold: 0.5 })
  for (const ok of [true, false, true, false, true, false, true, false, false]) {
    if (ok) breaker.recordSuccess()
    else breaker.recordFailure()
  }
  t.like(breaker.stats(), { state: 'closed', windowCalls: 9, windowFailures: 5 }, '56 % of 9 calls: too few to judge')
  breaker.recordSuccess()
  t.is(breaker.state, 'closed', 'a success never trips')
  breaker.recordFailure()
  t.like(breaker.stats(), { state: 'open', opens: 1, windowCalls: 0 }, '6 of 11 failed; the window restarts')
})

test('failures that left the rolling window no longer count', (t) => {
  const options = { consecutiveFailures: Infinity, minimumCalls: 10, windowMs: 1_000, windowBuckets: 10 }
  const { breaker, clock } = setup(options)
  fail(breaker, 5)
  clock.advance(950)
  t.like(breaker.stats(), { windowCalls: 5, windowFailures: 5 }, 'still inside the window')
  clock.advance(50)
  t.like(breaker.stats(), { windowCalls: 0, windowFailures: 0 }, 'the oldest bucket slid out')
  for (let i = 0; i < 6; i++) breaker.recordSuccess()
  fail(breaker, 4)
  t.like(
    breaker.stats(),
    { state: 'closed', windowCalls: 10, windowFailures: 4 },
    '40 %: would be 60 % with the old failures',
  )

  clock.advance(300) // slides three buckets: a partial slide keeps the newer buckets
  fail(breaker, 2)
  t.like(breaker.stats(), { state: 'open', opens: 1 }, '6 failures of 12 calls')
})

test('goes half-open after openMs, limits concurrent probes and closes after successesToClose', (t) => {
  const { breaker, clock, changes } = setup({
    consecutiveFailures: 1,
    openMs: 1_000,
    halfOpenProbes: 2,
    successesToClose: 2,
  })
  breaker.recordFailure()
  clock.advance(999)
  t.is(breaker.state, 'open')
  t.is(breaker.retryAfterMs(), 1)
  t.false(breaker.tryAcquire())
  clock.advance(1)
  t.is(breaker.retryAfterMs(), 0)
  t.is(breaker.state, 'half-open')
  t.true(breaker.tryAcquire())
  t.true(breaker.tryAcquire())
  t.false(breaker.tryAcquire(), 'both probe slots taken')
  breaker.recordSuccess()
  t.is(breaker.state, 'half-open', 'one success of two')
  t.true(breaker.tryAcquire(), 'the success freed its slot')
  breaker.recordSuccess()
  t.is(breaker.state, 'closed')
  t.true(breaker.tryAcquire())
  t.deepEqual(changes, [
    { from: 'closed', to: 'open' },
    { from: 'open', to: 'half-open' },
    { from: 'half-open', to: 'closed' },
  ])
  t.like(breaker.stats(), { rejections: 2, opens: 1, halfOpens: 1, closes: 1, successes: 2, failures: 1 })
})

test('a failed probe reopens for twice as long, up to maxOpenMs; closing resets the period', (t) => {
  const { breaker, clock } = setup({ consecutiveFailures: 1, openMs: 100, maxOpenMs: 300 })
  breaker.recordFailure()
  const periods: number[] = []
  for (let i = 0; i < 4; i++) {
    const period = breaker.retryAfterMs()
    periods.push(period)
    clock.advance(period)
    t.true(breaker.tryAcquire(), 'a probe goes through')
    breaker.recordFailure()
  }
  t.deepEqual(periods, [100, 200, 300, 300])
  clock.advance(300)
  t.true(breaker.tryAcquire())
  breaker.recordSuccess()
  t.is(breaker.state, 'closed')
  breaker.recordFailure()
  t.is(breaker.retryAfterMs(), 100)
  t.like(breaker.stats(), { opens: 6, halfOpens: 5, closes: 1 })
})

test('release gives a probe slot back; a probe never reported times out as a failure', (t) => {
  const { breaker, clock } = setup({ consecutiveFailures: 1, openMs: 100, probeTimeoutMs: 50 })
  breaker.recordFailure()
  clock.advance(100)
  t.true(breaker.tryAcquire())
  t.false(breaker.tryAcquire())
  breaker.release()
  t.true(breaker.tryAcquire(), 'the abandoned probe left its slot')
  clock.advance(49)
  t.false(breaker.tryAcquire())
  clock.advance(1)
  t.is(breaker.state, 'open', 'the silent probe failed')
  t.is(breaker.retryAfterMs(), 200, 'as a failed probe does, it doubled the period')
  t.like(breaker.stats(), { failures: 2, rejections: 2 })
  breaker.release()
  t.is(breaker.state, 'open', 'release outside half-open does nothing')
})

test('outcomes reported while open reach only the counters', (t) => {
  const { breaker, clock } = setup({ consecutiveFailures: 2, openMs: 100 })
  fail(breaker, 2)
  breaker.recordSuccess()
  breaker.recordFailure()
  t.is(breaker.retryAfterMs(), 100, 'a late failure does not extend the period')
  clock.advance(100)
  t.is(breaker.state, 'half-open')
  t.like(breaker.stats(), { successes: 1, failures: 3, opens: 1 })
})

test('jitter shortens the open period by a random share', (t) => {
  const { breaker, clock } = setup({ consecutiveFailures: 1, openMs: 1_000, jitter: 0.2, random: () => 0.5 })
  breaker.recordFailure()
  t.is(breaker.retryAfterMs(), 900)
  clock.advance(900)
  t.is(breaker.state, 'half-open')
})

test('the default clock is monotonic performance.now; defaults are documented', (t) => {
  const breaker = new CircuitBreaker()
  fail(breaker, CIRCUIT_BREAKER_DEFAULTS.consecutiveFailures)
  t.is(breaker.state, 'open')
  const wait = breaker.retryAfterMs()
  t.true(wait > CIRCUIT_BREAKER_DEFAULTS.openMs - 1_000 && wait <= CIRCUIT_BREAKER_DEFAULTS.openMs)
  t.true(Object.isFrozen(CIRCUIT_BREAKER_DEFAULTS))
})

test('rejects invalid options with a typed error naming the option', (t) => {
  const bad: Array<[CircuitBreakerOptions, string]> = [
    [{ consecutiveFailures: 0 }, 'consecutiveFailures'],
    [{ consecutiveFailures: 1.5 }, 'consecutiveFailures'],
    [{ failureRateThreshold: 0 }, 'failureRateThreshold'],
    [{ failureRateThreshold: 1.1 }, 'failureRateThreshold'],
    [{ minimumCalls: -1 }, 'minimumCalls'],
    [{ windowMs: 0 }, 'windowMs'],
    [{ windowBuckets: 1001 }, 'windowBuckets'],
    [{ openMs: Number.NaN }, 'openMs'],
    [{ openMs: 1_000, maxOpenMs: 999 }, 'maxOpenMs'],
    [{ jitter: 1 }, 'jitter'],
    [{ halfOpenProbes: 0 }, 'halfOpenProbes'],
    [{ successesToClose: Infinity }, 'successesToClose'],
    [{ probeTimeoutMs: -5 }, 'probeTimeoutMs'],
    [{ consecutiveFailures: Infinity, minimumCalls: Infinity }, 'never open'],
    [{ now: 5 as unknown as () => number }, 'now'],
  ]
  for (const [options, name] of bad) {
    const error = t.throws(() => new CircuitBreaker(options), { instanceOf: InvalidArgumentError }, name)
    t.is(error?.code, 'ERR_OPTLAYER_INVALID_ARGUMENT')
    t.true(error?.message.includes(name), error?.message)
  }
  t.is(new CircuitBreaker({ openMs: 120_000 }).state, 'closed', 'maxOpenMs defaults up to a longer openMs')
})
