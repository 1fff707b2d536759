import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'

import test from 'ava'

import {
  ClosedError,
  InvalidArgumentError,
  LOAD_BALANCER_DEFAULTS,
  LoadBalancer,
  MetricsCollector,
  NoBackendError,
  RetryBudget,
  TimeoutError,
  type BackendStateChange,
  type BalancerBackend,
  type LoadBalancerOptions,
  type PanicChange,
} from 'optlayer'

import { backends } from './helpers/balancer'
import { fakeClock } from './helpers/fake-clock'
import { seededRandom } from './helpers/random'

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

/** A balancer on a fake clock and a seeded random source, recording its events. */
function setup(options: LoadBalancerOptions) {
  const clock = fakeClock()
  const lb = new LoadBalancer({ now: clock.now, random: seededRandom(7), ...options })
  const states: BackendStateChange[] = []
  const panics: PanicChange[] = []
  lb.on('state', (change) => states.push(change))
  lb.on('panic', (change) => panics.push(change))
  return { clock, lb, states, panics }
}

function ids(lb: LoadBalancer, picks: number, request?: { sessionId?: string; clientIp?: string }): string[] {
  const out: string[] = []
  for (let i = 0; i < picks; i++) {
    const b = lb.pick(request)
    lb.release(b)
    out.push(b.id)
  }
  return out
}

function counts(lb: LoadBalancer, picks: number): Record<string, number> {
  const result: Record<string, number> = {}
  for (let i = 0; i < picks; i++) {
    const b = lb.pick()
    lb.release(b, { ok: true })
    result[b.id] = (result[b.id] ?? 0) + 1
  }
  return result
}

function fail(lb: LoadBalancer, id: string, times: number, timedOut = false): void {
  const b = lb.getBackend(id)!
  for (let i = 0; i < times; i++) lb.release(b, { ok: false, timedOut })
}

function stateOf(lb: LoadBalancer, id: string) {
  return lb.stats().backends.find((b) => b.id === id)!
}

/** Resolves when `predicate` accepts a 'state' event, or rejects after `ms`. */
function nextState(lb: LoadBalancer, predicate: (c: BackendStateChange) => boolean, ms = 5_000) {
  return new Promise<BackendStateChange>((resolve, reject) => {
    const timer = setTimeout(() => {
      lb.off('state', listener)
      reject(new Error(`no matching state change within ${ms} ms`))
    }, ms)
    const listener = (change: BackendStateChange) => {
      if (!predicate(change)) return
      clearTimeout(timer)
      lb.off('state', listener)
      resolve(change)
    }
    lb.on('state', listener)
  })
}

/** An HTTP server on 127.0.0.1 whose /health answers `status()` (or never, when it returns 'hang'). */
async function healthServer(status: () => number | 'hang', port = 0) {
  const hits = { count: 0 }
  const server = http.createServer((req, res) => {
    hits.count++
    const s = status()
    if (s === 'hang') return // never answers
    res.writeHead(req.url === '/health' ? s : 404).end('ok')
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return { server, hits, port: (server.address() as AddressInfo).port }
}

async function closeServer(server: http.Server | net.Server): Promise<void> {
  if (server instanceof http.Server) server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

const QUIET = { outlierDetection: false, circuitBreaker: false } as const

// ---------------------------------------------------------------------------------------------------------------
// Algorithms
// ---------------------------------------------------------------------------------------------------------------

test('round-robin visits the backends in order and ignores weights', (t) => {
  const { lb } = setup({ algorithm: 'round-robin', backends: backends(3, [5, 1, 1]) })
  t.deepEqual(ids(lb, 7), ['a', 'b', 'c', 'a', 'b', 'c', 'a'])
})

test('round-robin: a retry pick leaves the rotation alone, so a failing backend is tried first only in its turn', (t) => {
  const { lb } = setup({ algorithm: 'round-robin', backends: backends(2), ...QUIET })
  const first: string[] = []
  for (let i = 0; i < 6; i++) {
    const picked = lb.pick()
    first.push(picked.id)
    lb.release(picked)
    // Every request that lands on a first is retried elsewhere, as the gateway does after a refused connection.
    if (picked.id === 'a') lb.release(lb.pickExcluding(picked))
  }
  t.deepEqual(first, ['a', 'b', 'a', 'b', 'a', 'b'])
})

test("weighted-round-robin is nginx's smooth WRR: 5/1/1 gives a a b a c a a", (t) => {
  const { lb } = setup({ algorithm: 'weighted-round-robin', backends: backends(3, [5, 1, 1]) })
  t.deepEqual(ids(lb, 14), ['a', 'a', 'b', 'a', 'c', 'a', 'a', 'a', 'a', 'b', 'a', 'c', 'a', 'a'])
})

test('weighted-round-robin hits 5/3/1 within 1 % over 1M picks (exactly, up to one round)', (t) => {
  const { lb } = setup({ algorithm: 'weighted-round-robin', backends: backends(3, [5, 3, 1]) })
  const picks = 1_000_000
  const got = counts(lb, picks)
  const weights: Record<string, number> = { a: 5, b: 3, c: 1 }
  for (const [id, weight] of Object.entries(weights)) {
    const expected = (picks * weight) / 9
    t.true(Math.abs(got[id]! - expected) / expected < 0.01, `${id}: ${got[id]} vs ${expected}`)
    // SWRR is exact over every full round of 9 picks: the error is at most one round's share.
    t.true(Math.abs(got[id]! - expected) <= weight, `${id}: ${got[id]} vs ${expected}`)
  }
})

test('least-connections prefers idle backends and breaks ties at random by weight', (t) => {
  const { lb } = setup({ algorithm: 'least-connections', backends: backends(3), ...QUIET })
  const held = [lb.pick(), lb.pick()]
  t.not(held[0]!.id, held[1]!.id, 'the second pick avoids the busy backend')
  const idle = ['a', 'b', 'c'].find((id) => !held.some((b) => b.id === id))!
  for (let i = 0; i < 20; i++) {
    const b = lb.pick()
    t.is(b.id, idle, 'the idle backend wins while the others are busy')
    lb.release(b)
  }
  held.push(lb.pick())
  t.is(held[2]!.id, idle)
  // All three busy with one each; the one released first is the only idle one.
  lb.release(held[1]!)
  const next = lb.pick()
  t.is(next.id, held[1]!.id)
  for (const b of [next, held[0]!, held[2]!]) lb.release(b)
  t.is(
    lb.stats().backends.reduce((sum, b) => sum + b.outstanding, 0),
    0,
  )

  const weighted = setup({ algorithm: 'least-connections', backends: backends(3, [5, 3, 1]), ...QUIET }).lb
  const got = counts(weighted, 90_000)
  t.true(Math.abs(got.a! / 50_000 - 1) < 0.03, `idle ties share by weight: ${JSON.stringify(got)}`)
  t.true(Math.abs(got.c! / 10_000 - 1) < 0.05, `idle ties share by weight: ${JSON.stringify(got)}`)
})

test('p2c-ewma shifts traffic away from a backend that turns slow', (t) => {
  const latency: Record<string, number> = { a: 10, b: 10, c: 10, d: 10 }
  const run = (algorithm: 'p2c-ewma' | 'round-robin') => {
    const { lb, clock } = setup({ algorithm, backends: backends(4), ...QUIET })
    const share: Record<string, number> = {}
    for (let i = 0; i < 4_000; i++) {
      if (i === 1_000) latency.d = 100
      const b = lb.pick()
      clock.advance(1)
      lb.release(b, { ok: true, latencyMs: latency[b.id]! })
      if (i >= 2_000) share[b.id] = (share[b.id] ?? 0) + 1
    }
    latency.d = 10
    return { share, stats: lb.stats() }
  }
  const p2c = run('p2c-ewma')
  const rr = run('round-robin')
  t.is(rr.share.d, 500, 'round robin keeps sending a quarter to the slow backend')
  t.true((p2c.share.d ?? 0) < 2_000 * 0.05, `p2c-ewma sends little to it: ${JSON.stringify(p2c.share)}`)
  const slow = p2c.stats.backends.find((b) => b.id === 'd')!
  t.true(slow.peakEwmaMs > 50, `its peak EWMA reflects the slowdown: ${slow.peakEwmaMs}`)
})

test('p2c-ewma: an unmeasured backend with a request in flight is avoided until its first latency', (t) => {
  const { lb, clock } = setup({ algorithm: 'p2c-ewma', backends: backends(2), ...QUIET })
  for (let i = 0; i < 10; i++) lb.release(lb.pick(), { ok: true, latencyMs: 5 })
  const added = lb.addBackend({ id: 'new', url: 'http://10.0.0.9:8080' })
  const first = [lb.pick(), lb.pick(), lb.pick(), lb.pick()]
  t.is(first.filter((b) => b === added).length, 1, 'one request at a time while unmeasured')
  clock.advance(1)
  for (const b of first) lb.release(b, { ok: true, latencyMs: 5 })
  t.is(stateOf(lb, 'new').requests, 1)
})

test('consistent-hash: the same key always maps to the same backend; sessionId wins over clientIp', (t) => {
  const { lb } = setup({ algorithm: 'consistent-hash', backends: backends(4), ...QUIET })
  for (let k = 0; k < 200; k++) {
    const key = `user-${k}`
    const first = ids(lb, 1, { sessionId: key })[0]
    t.deepEqual(ids(lb, 5, { sessionId: key, clientIp: '10.1.1.1' }), Array(5).fill(first))
  }
  const byIp = ids(lb, 1, { clientIp: '192.0.2.7' })[0]
  t.deepEqual(ids(lb, 3, { clientIp: '192.0.2.7' }), [byIp, byIp, byIp])
  t.deepEqual(ids(lb, 4), ['a', 'b', 'c', 'd'], 'no key: round robin')
  t.throws(() => lb.pick({ sessionId: 42 as unknown as string }), { instanceOf: InvalidArgumentError })
})

test('consistent-hash: a 5th backend takes about 1/5 of 10k keys, all from the others, none moving elsewhere', (t) => {
  const { lb } = setup({ algorithm: 'consistent-hash', backends: backends(4), ...QUIET })
  const keys = Array.from({ length: 10_000 }, (_, i) => `session-${i}`)
  const before = keys.map((sessionId) => ids(lb, 1, { sessionId })[0])
  lb.addBackend({ id: 'e', url: 'http://10.0.0.5:8080' })
  const after = keys.map((sessionId) => ids(lb, 1, { sessionId })[0])
  let moved = 0
  for (let i = 0; i < keys.length; i++) {
    if (before[i] === after[i]) continue
    moved++
    t.is(after[i], 'e', 'a key only ever moves to the new backend')
  }
  const ideal = keys.length / 5
  t.true(moved <= 1.2 * ideal && moved >= ideal / 1.2, `moved ${moved}, ideal ${ideal}`)
  lb.removeBackend('e')
  t.deepEqual(
    keys.map((sessionId) => ids(lb, 1, { sessionId })[0]),
    before,
    'removing it restores the mapping exactly',
  )
})

test('consistent-hash: keys of an unavailable backend walk the ring to the next one and come back', (t) => {
  const { lb, clock } = setup({
    algorithm: 'consistent-hash',
    backends: backends(4),
    circuitBreaker: false,
    outlierDetection: { consecutiveFailures: 1, baseEjectionMs: 1_000, maxEjectionPercent: 100 },
  })
  const keys = Array.from({ length: 2_000 }, (_, i) => `k${i}`)
  const before = keys.map((sessionId) => ids(lb, 1, { sessionId })[0])
  fail(lb, 'b', 1)
  t.is(stateOf(lb, 'b').state, 'ejected')
  const during = keys.map((sessionId) => ids(lb, 1, { sessionId })[0])
  for (let i = 0; i < keys.length; i++) {
    if (before[i] === 'b') t.not(during[i], 'b')
    else t.is(during[i], before[i], 'keys of other backends stay put')
  }
  clock.advance(1_000)
  t.deepEqual(
    keys.map((sessionId) => ids(lb, 1, { sessionId })[0]),
    before,
  )
})

// ---------------------------------------------------------------------------------------------------------------
// Passive health: outlier detection, panic mode, circuit breakers
// ---------------------------------------------------------------------------------------------------------------

test('outlier detection ejects after N consecutive failures, for longer each time, up to the cap', (t) => {
  const { lb, clock, states } = setup({
    algorithm: 'round-robin',
    backends: backends(4),
    circuitBreaker: false,
    panicThreshold: 0,
    outlierDetection: { consecutiveFailures: 3, baseEjectionMs: 1_000, maxEjectionMs: 2_500, maxEjectionPercent: 100 },
  })
  fail(lb, 'a', 2)
  lb.release(lb.getBackend('a')!, { ok: true }) // a success breaks the run
  fail(lb, 'a', 2)
  t.is(stateOf(lb, 'a').state, 'healthy')
  fail(lb, 'a', 1, true) // timeouts count as failures
  t.like(stateOf(lb, 'a'), { state: 'ejected', ejectionRemainingMs: 1_000, ejections: 1, timeouts: 1 })
  t.false(ids(lb, 30).includes('a'))

  const durations = [1_000]
  for (let round = 0; round < 3; round++) {
    clock.advance(durations.at(-1)! - 1)
    t.false(ids(lb, 6).includes('a'), 'still ejected 1 ms before the end')
    clock.advance(1)
    t.true(ids(lb, 4).includes('a'), 'back once the ejection ends')
    fail(lb, 'a', 3)
    durations.push(stateOf(lb, 'a').ejectionRemainingMs)
  }
  t.deepEqual(durations, [1_000, 2_000, 2_500, 2_500], 'base × times ejected, capped at maxEjectionMs')

  // A long quiet spell decays the multiplier back to the base.
  clock.advance(2_500)
  ids(lb, 4)
  clock.advance(10_000)
  fail(lb, 'a', 3)
  t.is(stateOf(lb, 'a').ejectionRemainingMs, 1_000)
  t.deepEqual(states.slice(0, 2), [
    { id: 'a', from: 'healthy', to: 'ejected' },
    { id: 'a', from: 'ejected', to: 'healthy' },
  ])
})

test('maxEjectionPercent caps the ejected share; one backend can always be ejected', (t) => {
  const { lb } = setup({
    backends: backends(4),
    circuitBreaker: false,
    panicThreshold: 0,
    outlierDetection: { consecutiveFailures: 2, maxEjectionPercent: 50 },
  })
  for (const id of ['a', 'b', 'c']) fail(lb, id, 2)
  const stats = lb.stats()
  t.deepEqual(
    stats.backends.map((b) => b.state),
    ['ejected', 'ejected', 'healthy', 'healthy'],
  )
  t.is(stats.ejectionsRefused, 1)
  t.deepEqual([...new Set(ids(lb, 8))].sort(), ['c', 'd'])

  const small = setup({
    backends: backends(3),
    circuitBreaker: false,
    outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 10 },
  }).lb
  fail(small, 'a', 1)
  fail(small, 'b', 1)
  t.deepEqual(
    small.stats().backends.map((b) => b.state),
    ['ejected', 'healthy', 'healthy'],
    '10 % of 3 is under one backend, yet one goes',
  )
})

test('panic mode: below panicThreshold every non-draining backend takes traffic again', (t) => {
  const { lb, clock, panics } = setup({
    backends: backends(4),
    circuitBreaker: false,
    panicThreshold: 0.5,
    outlierDetection: { consecutiveFailures: 1, baseEjectionMs: 1_000, maxEjectionPercent: 100 },
  })
  fail(lb, 'a', 1)
  fail(lb, 'b', 1)
  t.deepEqual([...new Set(ids(lb, 8))].sort(), ['c', 'd'], '2 of 4 available is not below 50 %')
  t.false(lb.stats().panic)
  fail(lb, 'c', 1)
  t.like(lb.stats(), { panic: true, available: 1, total: 4 })
  t.deepEqual([...new Set(ids(lb, 8))].sort(), ['a', 'b', 'c', 'd'], 'panic: all four')
  t.deepEqual(panics, [{ panic: true, available: 1, total: 4 }])
  clock.advance(1_000)
  t.deepEqual(ids(lb, 4).sort(), ['a', 'b', 'c', 'd'])
  t.false(lb.stats().panic)
  t.deepEqual(panics.at(-1), { panic: false, available: 4, total: 4 })
})

test('no backend available: NoBackendError with its code', async (t) => {
  const empty = setup({ backends: [] }).lb
  t.throws(() => empty.pick(), { instanceOf: NoBackendError, code: 'ERR_OPTLAYER_NO_BACKEND' })

  const { lb } = setup({
    backends: backends(2),
    circuitBreaker: false,
    panicThreshold: 0,
    outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 100 },
  })
  fail(lb, 'a', 1)
  fail(lb, 'b', 1)
  const err = t.throws(() => lb.pick(), { instanceOf: NoBackendError })
  t.regex(err.message, /panic mode is disabled/)
  t.is(lb.stats().noBackend, 1)

  const draining = setup({ backends: backends(1) }).lb
  await draining.drain('a')
  t.throws(() => draining.pick(), { instanceOf: NoBackendError, message: /draining/ })
  const only = setup({ backends: backends(1) }).lb
  const b = only.pick()
  t.throws(() => only.pickExcluding(b), { instanceOf: NoBackendError, message: /excluded/ })
})

test('the per-backend breaker opens on failures, half-opens for one probe, reopens for longer, then closes', (t) => {
  const { lb, clock, states } = setup({
    algorithm: 'round-robin',
    backends: backends(2),
    outlierDetection: false,
    circuitBreaker: { consecutiveFailures: 2, minimumCalls: Infinity, openMs: 1_000 },
  })
  fail(lb, 'b', 2)
  t.like(stateOf(lb, 'b'), { state: 'open', circuit: 'open' })
  t.deepEqual(ids(lb, 4), ['a', 'a', 'a', 'a'])

  clock.advance(1_000)
  const picks = [lb.pick(), lb.pick(), lb.pick(), lb.pick()]
  t.is(picks.filter((b) => b.id === 'b').length, 1, 'half-open admits one probe at a time')
  t.is(stateOf(lb, 'b').state, 'half-open')
  for (const b of picks) lb.release(b, { ok: b.id === 'a' }) // the probe fails
  t.is(stateOf(lb, 'b').state, 'open')

  clock.advance(1_999)
  t.false(ids(lb, 4).includes('b'), 'the second open period is twice as long')
  clock.advance(1)
  const probe = lb.pickExcluding(lb.getBackend('a')!)
  t.is(probe.id, 'b')
  lb.release(probe, { ok: true, latencyMs: 3 })
  t.like(stateOf(lb, 'b'), { state: 'healthy', circuit: 'closed' })
  t.deepEqual(
    states.map((s) => s.to),
    ['open', 'half-open', 'open', 'half-open', 'healthy'],
  )
})

test('a probe that is never released times out and reopens the breaker', (t) => {
  const { lb, clock } = setup({
    backends: backends(2),
    outlierDetection: false,
    circuitBreaker: { consecutiveFailures: 1, minimumCalls: Infinity, openMs: 100, probeTimeoutMs: 500 },
  })
  fail(lb, 'b', 1)
  clock.advance(100)
  const probe = lb.pickExcluding(lb.getBackend('a')!)
  t.is(probe.id, 'b')
  clock.advance(499)
  t.is(stateOf(lb, 'b').state, 'half-open')
  clock.advance(1)
  t.is(stateOf(lb, 'b').state, 'open', 'the forgotten probe counts as failed')
  lb.release(probe) // late release without outcome: harmless
  t.is(stateOf(lb, 'b').outstanding, 0)
})

// ---------------------------------------------------------------------------------------------------------------
// Slow start, retries, run-time changes
// ---------------------------------------------------------------------------------------------------------------

test('slow start ramps a new or returning backend from a fraction of its weight to full', (t) => {
  const { lb, clock } = setup({
    algorithm: 'weighted-round-robin',
    backends: backends(1),
    circuitBreaker: false,
    slowStartMs: 1_000,
    slowStartInitialWeight: 0.1,
    outlierDetection: { consecutiveFailures: 1, baseEjectionMs: 500, maxEjectionPercent: 100 },
    panicThreshold: 0,
  })
  t.is(stateOf(lb, 'a').effectiveWeight, 1, 'initial backends start at full weight')
  lb.addBackend({ id: 'b', url: 'http://10.0.0.2:8080' })
  const share = () => counts(lb, 1_100).b! / 1_100
  t.true(Math.abs(share() - 0.1 / 1.1) < 0.002, 'weight 0.1 against 1')
  clock.advance(500)
  t.true(Math.abs(stateOf(lb, 'b').effectiveWeight - 0.55) < 1e-9)
  t.true(Math.abs(share() - 0.55 / 1.55) < 0.01)
  clock.advance(500)
  t.is(stateOf(lb, 'b').effectiveWeight, 1)
  t.is(share(), 0.5)

  fail(lb, 'b', 1)
  clock.advance(500)
  t.is(stateOf(lb, 'b').effectiveWeight, 0.1, 'back from ejection, it ramps again')

  const rr = setup({ algorithm: 'round-robin', backends: backends(3), slowStartMs: 1_000, ...QUIET })
  rr.lb.addBackend({ id: 'z', url: 'http://10.0.0.26:8080' })
  const got = counts(rr.lb, 40_000)
  t.true(got.z! > 500 && got.z! < 2_000, `round robin admits a ramping backend at its share: ${got.z}`)
})

test('retry goes to another backend and stops when the retry budget is spent', async (t) => {
  const { lb, clock } = setup({
    backends: backends(3),
    ...QUIET,
    retryBudget: { ratio: 0.25, minRetriesPerSecond: 0, windowMs: 1_000 },
  })
  const attempts: string[][] = []
  const outcomes: string[] = []
  for (let call = 0; call < 8; call++) {
    const tried: string[] = []
    attempts.push(tried)
    try {
      outcomes.push(
        await lb.retry(async (backend, attempt) => {
          tried.push(backend.id)
          if (attempt === 1) throw new Error(`boom ${call}`)
          return 'ok'
        }),
      )
    } catch (err) {
      outcomes.push((err as Error).message)
    }
  }
  // 0.25 retries per request: the 4th and 8th calls find one retry each in the budget.
  t.deepEqual(outcomes, ['boom 0', 'boom 1', 'boom 2', 'ok', 'boom 4', 'boom 5', 'boom 6', 'ok'])
  for (const tried of attempts.filter((a) => a.length === 2)) t.not(tried[0], tried[1], 'the retry avoids the first')
  t.like(lb.stats().retryBudget, { retries: 2, refused: 6, windowRequests: 8, windowRetries: 2 })
  t.is(
    lb.stats().backends.reduce((sum, b) => sum + b.outstanding, 0),
    0,
    'every attempt was released',
  )

  clock.advance(1_000)
  t.like(lb.stats().retryBudget, { windowRequests: 0, available: 0 }, 'the window slid past them')

  const floor = new RetryBudget({ ratio: 0, minRetriesPerSecond: 2, windowMs: 1_000, now: clock.now })
  const failing = () => Promise.reject(new TimeoutError('upstream timed out'))
  for (let i = 0; i < 3; i++) {
    await t.throwsAsync(lb.retry(failing, { budget: floor, maxAttempts: 3 }), { instanceOf: TimeoutError })
  }
  // The first call spends both retries on its 2nd and 3rd attempts; the next two find none.
  t.like(floor.stats(), { retries: 2, refused: 2 }, 'minRetriesPerSecond: 2 retries per second with no ratio')
  t.true(
    lb.stats().backends.some((b) => b.timeouts > 0),
    'a TimeoutError counts as a timeout',
  )
  await t.throwsAsync(
    lb.retry(() => 1, { maxAttempts: 0 }),
    { instanceOf: InvalidArgumentError },
  )
})

test('backends are added, drained and removed at run time with picks in flight', async (t) => {
  const { lb, states } = setup({ algorithm: 'round-robin', backends: backends(2), ...QUIET })
  const added: string[] = []
  lb.on('added', ({ id }) => added.push(id))
  lb.addBackend({ id: 'c', url: 'http://10.0.0.3:8080' })
  t.deepEqual(ids(lb, 3).sort(), ['a', 'b', 'c'])
  t.deepEqual(added, ['c'])
  t.throws(() => lb.addBackend({ id: 'c', url: 'http://10.0.0.3:8080' }), {
    instanceOf: InvalidArgumentError,
    message: /already exists/,
  })

  const inFlight: BalancerBackend[] = []
  while (inFlight.length < 2) {
    const b = lb.pick()
    if (b.id === 'b') inFlight.push(b)
    else lb.release(b)
  }
  let drained = false
  const drain = lb.drain('b').then(() => (drained = true))
  t.false(ids(lb, 10).includes('b'), 'a draining backend gets no new picks')
  t.is(stateOf(lb, 'b').state, 'draining')
  lb.release(inFlight[0]!, { ok: true })
  await Promise.resolve()
  t.false(drained, 'one pick still in flight')
  lb.release(inFlight[1]!, { ok: true })
  await drain
  t.true(drained)
  t.deepEqual(states, [{ id: 'b', from: 'healthy', to: 'draining' }])

  const held = lb.getBackend('c')!
  const pickOfC = (() => {
    for (;;) {
      const b = lb.pick()
      if (b === held) return b
      lb.release(b)
    }
  })()
  t.true(lb.removeBackend('c'))
  t.false(lb.removeBackend('c'))
  t.deepEqual([...new Set(ids(lb, 6))], ['a'])
  t.notThrows(() => lb.release(pickOfC, { ok: false }), 'a pick of a removed backend can still be released')
  t.is(lb.getBackend('c'), undefined)
  await t.throwsAsync(lb.drain('nope'), { instanceOf: InvalidArgumentError })
})

// ---------------------------------------------------------------------------------------------------------------
// Validation and lifecycle
// ---------------------------------------------------------------------------------------------------------------

test('bad options and calls throw typed errors naming the culprit', (t) => {
  const bad: [LoadBalancerOptions, RegExp][] = [
    [{ algorithm: 'random' as never }, /invalid algorithm: expected one of 'round-robin'/],
    [{ backends: [{ id: '', url: 'http://x' }] }, /backends\[0\]\.id/],
    [{ backends: [{ id: 'a', url: 'not a url' }] }, /backends\[0\]\.url/],
    [{ backends: [{ id: 'a', url: 'http://x', weight: -1 }] }, /backends\[0\]\.weight.*got -1/],
    [{ backends: [...backends(1), ...backends(1)] }, /id 'a' appears twice/],
    [{ panicThreshold: 2 }, /panicThreshold: expected a number from 0 to 1, got 2/],
    [{ slowStartMs: -1 }, /slowStartMs/],
    [{ ewmaDecayMs: 0 }, /ewmaDecayMs/],
    [{ virtualNodes: 1.5 }, /virtualNodes/],
    [{ healthCheck: { intervalMs: 0 } }, /healthCheck\.intervalMs/],
    [{ healthCheck: { type: 'udp' as never } }, /healthCheck\.type/],
    [{ healthCheck: { path: 'health' } }, /healthCheck\.path/],
    [{ healthCheck: { type: 'http' }, backends: [{ id: 'a', url: 'tcp://10.0.0.1:6379' }] }, /http: or https:/],
    [{ healthCheck: { type: 'tcp' }, backends: [{ id: 'a', url: 'redis://10.0.0.1' }] }, /a host and a port/],
    [{ outlierDetection: { maxEjectionPercent: 101 } }, /maxEjectionPercent/],
    [{ outlierDetection: { baseEjectionMs: 10, maxEjectionMs: 5 } }, /maxEjectionMs/],
    [{ circuitBreaker: { openMs: -5 } }, /openMs/],
    [{ retryBudget: { ratio: -1 } }, /retryBudget\.ratio/],
    [{ now: 5 as never }, /invalid now/],
    [{ algorithm: 'consistent-hash', virtualNodes: 1 << 20, backends: backends(2) }, /ring would hold/],
  ]
  for (const [options, message] of bad) {
    t.throws(() => new LoadBalancer(options), { instanceOf: InvalidArgumentError, message }, JSON.stringify(options))
  }
  t.is(LOAD_BALANCER_DEFAULTS.algorithm, 'round-robin')
  const lb = new LoadBalancer({ backends: backends(2) })
  const other = new LoadBalancer({ backends: backends(2) })
  const b = lb.pick()
  t.throws(() => other.release(b), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT', message: /this load balancer/ })
  t.throws(() => lb.release({ id: 'a', url: 'http://x', weight: 1 }), { instanceOf: InvalidArgumentError })
  t.throws(() => lb.release(b, { ok: 'yes' as never }), { message: /invalid outcome/ })
  t.throws(() => lb.release(b, { ok: true, latencyMs: Number.NaN }), { message: /latencyMs/ })
  t.is(lb.stats().backends[0]!.outstanding, 1, 'a rejected release changes nothing')
  t.throws(() => lb.addBackend({ id: 'x', url: 'http://x', weight: 0 }), { message: /backend\.weight/ })
  t.throws(() => lb.pickExcluding(null as never), { instanceOf: InvalidArgumentError })
  t.throws(() => new RetryBudget({ windowMs: 0 }), { instanceOf: InvalidArgumentError })
})

// ---------------------------------------------------------------------------------------------------------------
// Active health checks on real loopback sockets
// ---------------------------------------------------------------------------------------------------------------

const FAST_CHECKS = { intervalMs: 25, timeoutMs: 200, healthyThreshold: 2, unhealthyThreshold: 2 }

test('HTTP checks mark a killed backend unhealthy and a restarted one healthy again', async (t) => {
  const a = await healthServer(() => 200)
  const b = await healthServer(() => 200)
  const lb = new LoadBalancer({
    backends: [
      { id: 'a', url: `http://127.0.0.1:${a.port}` },
      { id: 'b', url: `http://127.0.0.1:${b.port}` },
    ],
    healthCheck: { type: 'http', path: '/health', ...FAST_CHECKS },
    panicThreshold: 0,
  })
  t.teardown(async () => {
    await lb.close()
    await closeServer(a.server)
  })
  const down = nextState(lb, (c) => c.id === 'b' && c.to === 'unhealthy')
  await closeServer(b.server)
  await down
  t.deepEqual([...new Set(ids(lb, 6))], ['a'])

  const up = nextState(lb, (c) => c.id === 'b' && c.to === 'healthy')
  const restarted = await healthServer(() => 200, b.port)
  t.teardown(() => closeServer(restarted.server))
  await up
  t.deepEqual(ids(lb, 4).sort(), ['a', 'a', 'b', 'b'])
  t.true(restarted.hits.count >= 2, 'the restarted server was checked')
})

test('HTTP checks fail on a backend that hangs (timeout) or answers 5xx', async (t) => {
  let status: number | 'hang' = 200
  const s = await healthServer(() => status)
  const lb = new LoadBalancer({
    backends: [{ id: 'a', url: `http://127.0.0.1:${s.port}` }],
    healthCheck: { ...FAST_CHECKS, timeoutMs: 100 },
  })
  const reasons: string[] = []
  lb.on('check', (r) => {
    if (!r.ok) reasons.push(r.reason!)
  })
  t.teardown(async () => {
    await lb.close()
    await closeServer(s.server)
  })
  const hung = nextState(lb, (c) => c.to === 'unhealthy')
  status = 'hang'
  await hung
  t.regex(reasons[0]!, /no answer within 100 ms/)

  const healthy = nextState(lb, (c) => c.to === 'healthy')
  status = 200
  await healthy
  const broken = nextState(lb, (c) => c.to === 'unhealthy')
  status = 503
  await broken
  t.true(reasons.includes('HTTP status 503'))
})

test('TCP checks mark a killed backend unhealthy and a restarted one healthy again', async (t) => {
  const listen = async (port = 0) => {
    const server = net.createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    return { server, port: (server.address() as AddressInfo).port }
  }
  const first = await listen()
  const lb = new LoadBalancer({
    backends: [{ id: 'redis', url: `tcp://127.0.0.1:${first.port}` }],
    healthCheck: { type: 'tcp', ...FAST_CHECKS },
  })
  t.teardown(() => lb.close())
  const down = nextState(lb, (c) => c.to === 'unhealthy')
  await closeServer(first.server)
  await down
  t.is(stateOf(lb, 'redis').healthy, false)
  const up = nextState(lb, (c) => c.to === 'healthy')
  const second = await listen(first.port)
  t.teardown(() => closeServer(second.server))
  await up
  t.is(stateOf(lb, 'redis').state, 'healthy')
})

test('close() stops the health check timers, rejects drains and refuses picks', async (t) => {
  const s = await healthServer(() => 200)
  t.teardown(() => closeServer(s.server))
  const lb = new LoadBalancer({
    backends: [{ id: 'a', url: `http://127.0.0.1:${s.port}` }],
    healthCheck: { ...FAST_CHECKS, intervalMs: 10 },
  })
  await new Promise<void>((resolve) => lb.once('check', () => resolve()))
  const held = lb.pick()
  const drain = lb.drain('a')
  await lb.close()
  await t.throwsAsync(drain, { instanceOf: ClosedError })
  const hits = s.hits.count
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.is(s.hits.count, hits, 'no check after close()')
  t.throws(() => lb.pick(), { instanceOf: ClosedError, code: 'ERR_OPTLAYER_CLOSED' })
  t.notThrows(() => lb.release(held, { ok: true }), 'picks in flight can still be released')
  await t.notThrowsAsync(lb.close(), 'close() is idempotent')
})

test('backend health and load reach /metrics under the balancer name', async (t) => {
  const lb = new LoadBalancer({ name: 'metrics-probe', backends: backends(2) })
  t.teardown(() => lb.close())
  const picked = lb.pick()
  const body = await new MetricsCollector({ defaultMetrics: false }).expose()
  t.regex(body, /optlayer_balancer_backend_healthy\{balancer="metrics-probe",backend="a"\} 1/)
  t.regex(
    body,
    new RegExp(`optlayer_balancer_backend_outstanding\\{balancer="metrics-probe",backend="${picked.id}"\\} 1`),
  )
  lb.release(picked, { ok: false, latencyMs: 5 })
  await lb.close()
  const after = await new MetricsCollector({ defaultMetrics: false }).expose()
  t.notRegex(after, /balancer="metrics-probe"/, 'a closed balancer leaves the metrics')
})
