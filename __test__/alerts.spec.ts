import test from 'ava'
import {
  AlertManager,
  defaultAlertRules,
  MetricsCollector,
  MetricSources,
  OptlayerServer,
  type ActiveAlert,
  type AlertLogRecord,
  type AlertRule,
  type ResolvedAlert,
} from 'optlayer'

import { fakeClock } from './helpers/fake-clock'
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client'

/** A clock the test moves by hand. */
interface Recorded {
  events: string[]
  logs: AlertLogRecord[]
  firing: ActiveAlert[]
  resolved: ResolvedAlert[]
}

function record(manager: AlertManager, logs: AlertLogRecord[]): Recorded {
  const seen: Recorded = { events: [], logs, firing: [], resolved: [] }
  manager.on('pending', (a) => seen.events.push(`pending ${a.name}`))
  manager.on('firing', (a) => {
    seen.events.push(`firing ${a.name}`)
    seen.firing.push(a)
  })
  manager.on('resolved', (a) => {
    seen.events.push(`resolved ${a.name}`)
    seen.resolved.push(a)
  })
  manager.on('inactive', (a) => seen.events.push(`inactive ${a.name}`))
  manager.on('evaluationError', (name, error) => seen.events.push(`error ${name}: ${error.message}`))
  return seen
}

test('a rule is pending before its for-duration, fires after it and resolves when the condition clears', async (t) => {
  const clock = fakeClock(Date.parse('2030-01-01T00:00:00Z'))
  let p99 = 5
  const logs: AlertLogRecord[] = []
  const manager = new AlertManager({
    now: clock.now,
    log: (line) => logs.push(line),
    rules: [
      { name: 'LatencyP99High', source: () => p99, threshold: 10, forMs: 30_000, unit: 'ms', severity: 'critical' },
    ],
  })
  const seen = record(manager, logs)

  let snapshot = await manager.evaluate()
  t.deepEqual(snapshot.active, [])
  t.is(snapshot.rules[0]?.state, 'inactive')

  p99 = 15
  clock.advance(1_000)
  const startedAt = new Date(clock.now()).toISOString()
  snapshot = await manager.evaluate()
  t.like(snapshot.active[0], { name: 'LatencyP99High', state: 'pending', value: 15, threshold: 10, since: startedAt })
  t.is(snapshot.active[0]?.firingSince, null)

  p99 = 22
  clock.advance(29_999) // 1 ms short of the for-duration
  snapshot = await manager.evaluate()
  t.is(snapshot.active[0]?.state, 'pending')

  p99 = 12
  clock.advance(1)
  const firedAt = new Date(clock.now()).toISOString()
  snapshot = await manager.evaluate()
  t.like(snapshot.active[0], { state: 'firing', value: 12, since: startedAt, firingSince: firedAt })

  p99 = 4
  clock.advance(5_000)
  const clearedAt = new Date(clock.now()).toISOString()
  snapshot = await manager.evaluate()
  t.deepEqual(snapshot.active, [])
  t.is(snapshot.resolved.length, 1)
  t.like(snapshot.resolved[0], {
    name: 'LatencyP99High',
    state: 'resolved',
    since: startedAt,
    firingSince: firedAt,
    resolvedAt: clearedAt,
    value: 4,
    peak: 22,
    threshold: 10,
    severity: 'critical',
    unit: 'ms',
  })

  t.deepEqual(seen.events, ['pending LatencyP99High', 'firing LatencyP99High', 'resolved LatencyP99High'])
  t.deepEqual(
    logs.map((line) => [line.msg, line.level, line.state, line.value]),
    [
      ['alert pending', 'info', 'pending', 15],
      ['alert firing', 'error', 'firing', 12],
      ['alert resolved', 'info', 'resolved', 4],
    ],
  )
  t.is(logs[1]?.time, firedAt)
  t.is(logs[1]?.alert, 'LatencyP99High')
})

test('a pending alert that clears turns inactive without a resolution; no data clears like a false condition', async (t) => {
  const clock = fakeClock(Date.parse('2030-01-01T00:00:00Z'))
  let value: number | undefined = 2
  const manager = new AlertManager({
    now: clock.now,
    log: false,
    rules: [{ name: 'ErrorRateHigh', source: () => value, threshold: 0.01, forMs: 10_000 }],
  })
  const seen = record(manager, [])
  value = 0.5
  await manager.evaluate()
  clock.advance(2_000)
  value = undefined // no traffic in the window: no data
  const snapshot = await manager.evaluate()
  t.deepEqual(snapshot.active, [])
  t.deepEqual(snapshot.resolved, [])
  t.is(snapshot.rules[0]?.value, null)
  t.deepEqual(seen.events, ['pending ErrorRateHigh', 'inactive ErrorRateHigh'])
})

test('forMs 0 fires at the first evaluation; comparisons and NaN behave', async (t) => {
  const clock = fakeClock(Date.parse('2030-01-01T00:00:00Z'))
  const values: Record<string, number> = { low: 3, exact: 5, nan: NaN }
  const manager = new AlertManager({
    now: clock.now,
    log: false,
    rules: [
      { name: 'below', source: () => values['low'], op: '<', threshold: 4 },
      { name: 'atLeast', source: () => values['exact'], op: '>=', threshold: 5 },
      { name: 'above', source: () => values['exact'], op: '>', threshold: 5 },
      { name: 'nan', source: () => values['nan'], op: '<=', threshold: 1 },
    ],
  })
  const snapshot = await manager.evaluate()
  t.deepEqual(
    snapshot.active.map((a) => [a.name, a.state]),
    [
      ['below', 'firing'],
      ['atLeast', 'firing'],
    ],
  )
  t.is(snapshot.rules.find((r) => r.name === 'nan')?.value, null)
})

test('a failing or hanging source is an evaluation error and the rule keeps its state', async (t) => {
  const clock = fakeClock(Date.parse('2030-01-01T00:00:00Z'))
  let mode: 'ok' | 'throw' | 'hang' = 'ok'
  const logs: AlertLogRecord[] = []
  const manager = new AlertManager({
    now: clock.now,
    log: (line) => logs.push(line),
    sourceTimeoutMs: 30,
    rules: [
      {
        name: 'HeapHigh',
        threshold: 100,
        source: () => {
          if (mode === 'throw') throw new Error('registry unavailable')
          if (mode === 'hang') return new Promise<number>(() => undefined)
          return 500
        },
      },
    ],
  })
  const seen = record(manager, logs)
  t.is((await manager.evaluate()).active[0]?.state, 'firing')

  mode = 'throw'
  let snapshot = await manager.evaluate()
  t.is(snapshot.active[0]?.state, 'firing', 'an error neither fires nor resolves')
  t.like(snapshot.rules[0], { health: 'error', lastError: 'registry unavailable' })

  mode = 'hang'
  snapshot = await manager.evaluate()
  t.regex(snapshot.rules[0]?.lastError ?? '', /did not answer within 30 ms/)

  mode = 'ok'
  snapshot = await manager.evaluate()
  t.like(snapshot.rules[0], { health: 'ok', lastError: null, state: 'firing' })
  t.deepEqual(seen.events, [
    'pending HeapHigh',
    'firing HeapHigh',
    'error HeapHigh: registry unavailable',
    'error HeapHigh: the source did not answer within 30 ms',
  ])
  t.true(logs.some((line) => line.level === 'error' && line.error === 'registry unavailable'))
})

test('resolved alerts are kept for resolvedRetentionMs and at most maxResolved of them', async (t) => {
  const clock = fakeClock(Date.parse('2030-01-01T00:00:00Z'))
  let on = true
  const manager = new AlertManager({
    now: clock.now,
    log: false,
    resolvedRetentionMs: 60_000,
    maxResolved: 2,
    rules: [{ name: 'Flapping', source: () => (on ? 1 : 0), threshold: 0 }],
  })
  for (let i = 0; i < 3; i++) {
    on = true
    await manager.evaluate()
    clock.advance(1_000)
    on = false
    await manager.evaluate()
    clock.advance(1_000)
  }
  const resolved = manager.snapshot().resolved
  t.is(resolved.length, 2)
  t.true(Date.parse(resolved[0]?.resolvedAt ?? '') > Date.parse(resolved[1]?.resolvedAt ?? ''), 'newest first')
  clock.advance(60_000)
  t.deepEqual(manager.snapshot().resolved, [])
})

test('options are validated with typed errors that say what was expected', (t) => {
  const source = (): number => 1
  const bad: [unknown, RegExp][] = [
    [{ rules: 'x' }, /^rules: expected an array/],
    [{ rules: [{ name: '1x', source, threshold: 1 }] }, /rules\[0\]\.name: expected/],
    [{ rules: [{ name: 'a', source: 3, threshold: 1 }] }, /rules\[0\]\.source: expected a function/],
    [{ rules: [{ name: 'a', source, threshold: Infinity }] }, /threshold: expected a finite number, got Infinity/],
    [{ rules: [{ name: 'a', source, threshold: 1, op: '!=' }] }, /op: expected one of > >= < <=, got !=/],
    [
      { rules: [{ name: 'a', source, threshold: 1, forMs: -1 }] },
      /forMs: expected a whole number of at least 0, got -1/,
    ],
    [{ rules: [{ name: 'a', source, threshold: 1, severity: 'page' }] }, /severity: expected one of/],
    [
      {
        rules: [
          { name: 'a', source, threshold: 1 },
          { name: 'a', source, threshold: 2 },
        ],
      },
      /"a" is used twice/,
    ],
    [{ rules: [], intervalMs: 0 }, /^invalid intervalMs: expected a whole number of at least 1, got 0$/],
    [{ rules: [], log: 'stdout' }, /^invalid log: expected a function or false/],
  ]
  for (const [options, message] of bad) {
    t.throws(() => new AlertManager(options as never), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT', message })
  }
})

test('start() evaluates on an unref-ed timer; close() stops it and later evaluations reject', async (t) => {
  const manager = new AlertManager({
    intervalMs: 10,
    log: false,
    rules: [{ name: 'AlwaysOn', source: () => 1, threshold: 0 }],
  })
  const fired = new Promise<ActiveAlert>((resolve) => manager.once('firing', resolve))
  manager.start()
  t.is((await fired).name, 'AlwaysOn')
  await manager.close()
  await t.throwsAsync(manager.evaluate(), { code: 'ERR_OPTLAYER_CLOSED' })
  t.throws(() => manager.start(), { code: 'ERR_OPTLAYER_CLOSED' })
})

test('built-in sources compute p99 latency, error ratio and rates from the request histogram over a window', async (t) => {
  const clock = fakeClock(Date.parse('2030-01-01T00:00:00Z'))
  const registry = new Registry()
  const histogram = new Histogram({
    name: 'optlayer_request_duration_seconds',
    help: 'request durations',
    labelNames: ['outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  })
  const metrics = {
    recordRequest: (ms: number, ok: boolean) => histogram.observe({ outcome: ok ? 'ok' : 'error' }, ms / 1000),
  }
  const sources = new MetricSources(registry, { now: clock.now, maxAgeMs: 0, windowMs: 10_000 })
  const p99 = sources.requestLatencyMs(0.99)
  const errors = sources.errorRatio()
  const rate = sources.requestRate()
  const manager = new AlertManager({
    now: clock.now,
    log: false,
    rules: [
      { name: 'LatencyP99High', source: p99, threshold: 10, forMs: 30_000, unit: 'ms' },
      { name: 'ErrorRateHigh', source: errors, threshold: 0.01, unit: 'ratio' },
      { name: 'Busy', source: rate, threshold: 1000 },
    ],
  })
  for (let i = 0; i < 50; i++) metrics.recordRequest(1, true)
  let snapshot = await manager.evaluate()
  t.deepEqual(
    snapshot.rules.map((r) => r.value),
    [null, null, null],
    'the first read has nothing to difference against',
  )

  // 90 requests at 3 ms, 8 ok and 2 failed at 40 ms. Buckets (s): ...0.0025, 0.005 (90), 0.01, 0.025,
  // 0.05 (100). The 99th of 100 ranks 9/10 into (0.025, 0.05]: 0.0475 s, as histogram_quantile says.
  for (let i = 0; i < 90; i++) metrics.recordRequest(3, true)
  for (let i = 0; i < 8; i++) metrics.recordRequest(40, true)
  for (let i = 0; i < 2; i++) metrics.recordRequest(40, false)
  clock.advance(5_000)
  snapshot = await manager.evaluate()
  const [latency, errorRate, busy] = snapshot.rules
  t.is(Math.round((latency?.value ?? 0) * 1e6) / 1e6, 47.5)
  t.is(errorRate?.value, 0.02)
  t.is(busy?.value, 100 / 5)
  t.deepEqual(
    snapshot.active.map((a) => [a.name, a.state]),
    [
      ['ErrorRateHigh', 'firing'],
      ['LatencyP99High', 'pending'],
    ],
  )

  // Keep it slow for 30 s: fires.
  for (let step = 0; step < 6; step++) {
    metrics.recordRequest(40, true)
    clock.advance(5_000)
    snapshot = await manager.evaluate()
  }
  t.is(snapshot.active.find((a) => a.name === 'LatencyP99High')?.state, 'firing')
  t.is(snapshot.rules[1]?.value, 0, 'no failure in the last 10 s')
  t.is(snapshot.resolved[0]?.name, 'ErrorRateHigh')

  // Fast traffic for longer than the window: the p99 over the window drops, the alert resolves.
  for (let step = 0; step < 3; step++) {
    for (let i = 0; i < 100; i++) metrics.recordRequest(0.2, true)
    clock.advance(5_000)
    snapshot = await manager.evaluate()
  }
  t.true((snapshot.rules[0]?.value ?? Infinity) < 1)
  t.deepEqual(
    snapshot.resolved.map((a) => a.name),
    ['LatencyP99High', 'ErrorRateHigh'],
  )
  t.deepEqual(snapshot.active, [])
})

test('on a MetricsCollector the built-in sources give request rate, error ratio and latency', async (t) => {
  const clock = fakeClock(Date.parse('2030-01-01T00:00:00Z'))
  const metrics = new MetricsCollector({ defaultMetrics: false })
  const sources = new MetricSources(metrics, { now: clock.now, maxAgeMs: 0 })
  const rate = sources.requestRate()
  const errors = sources.errorRatio()
  const p99 = sources.requestLatencyMs(0.99, { outcome: 'ok' })
  t.is(await rate(), undefined)
  t.is(await errors(), undefined)
  for (let i = 0; i < 45; i++) metrics.recordRequest(4, true)
  for (let i = 0; i < 5; i++) metrics.recordRequest(4, false)
  clock.advance(10_000)
  t.is(await rate(), 5)
  t.is(await errors(), 0.1)
  const latency = await p99()
  t.true(latency !== undefined && latency > 3.9 && latency <= 5, `p99 of successes ${latency}`)
})

test('built-in sources read a summary (native percentiles), process gauges and any counter or gauge', async (t) => {
  const clock = fakeClock(Date.parse('2030-01-01T00:00:00Z'))
  const registry = new Registry()
  const summary = new Summary({
    name: 'optlayer_request_duration_seconds',
    help: 'request durations',
    labelNames: ['outcome'],
    percentiles: [0.5, 0.99],
    registers: [registry],
  })
  for (let i = 1; i <= 100; i++) summary.observe({ outcome: 'ok' }, i / 1000)
  const hits = new Counter({ name: 'app_hits_total', help: 'hits', labelNames: ['tier'], registers: [registry] })
  const depth = new Gauge({ name: 'app_depth', help: 'depth', labelNames: ['q'], registers: [registry] })
  depth.set({ q: 'a' }, 3)
  depth.set({ q: 'b' }, 7)
  const sources = new MetricSources(registry, { now: clock.now, maxAgeMs: 0 })
  const p99 = await sources.requestLatencyMs(0.99)()
  t.true(p99 !== undefined && p99 >= 95 && p99 <= 100, `p99 of 1..100 ms is ${p99}`)
  t.is(await sources.requestLatencyMs(0.9)(), undefined, 'a quantile the summary does not keep is no data')

  const raw = new MetricSources(registry, { prefix: '', now: clock.now, maxAgeMs: 0 })
  t.is(await raw.gauge('app_depth')(), 10)
  t.is(await raw.gauge('app_depth', { reduce: 'max' })(), 7)
  t.is(await raw.gauge('app_depth', { labels: { q: 'a' } })(), 3)
  t.is(await raw.gauge('missing')(), undefined)
  const hitRate = raw.counterRate('app_hits_total', { labels: { tier: 'l1' }, windowMs: 60_000 })
  hits.inc({ tier: 'l1' }, 5)
  t.is(await hitRate(), undefined)
  hits.inc({ tier: 'l1' }, 20)
  hits.inc({ tier: 'l2' }, 1000)
  clock.advance(2_000)
  t.is(await hitRate(), 10)

  const withDefaults = new MetricSources(new MetricsCollector(), { maxAgeMs: 0 })
  const heap = await withDefaults.heapUsedBytes()()
  t.true(heap !== undefined && heap > 1_000_000, `heap used ${heap}`)
  const delay = await withDefaults.eventLoopDelayMs('p99')()
  t.true(delay !== undefined && delay >= 0, `event-loop delay ${delay}`)
  t.throws(() => withDefaults.requestLatencyMs(1), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT', message: /quantile/ })
  t.throws(() => withDefaults.eventLoopDelayMs('p75' as never), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })

  const rules: AlertRule[] = defaultAlertRules(withDefaults, { forMs: 0, heapUsedBytes: 1 })
  t.deepEqual(
    rules.map((r) => r.name),
    ['RequestLatencyP99High', 'ErrorRateHigh', 'HeapUsedHigh', 'EventLoopDelayHigh'],
  )
  const heapAlert = await new AlertManager({ rules, log: false }).evaluate()
  t.is(heapAlert.active[0]?.name, 'HeapUsedHigh', 'heap above 1 byte fires at once')
})

test('GET /alerts lists active and resolved alerts with since, value and threshold', async (t) => {
  const clock = fakeClock(Date.parse('2030-01-01T00:00:00Z'))
  let queueDepth = 0
  const server = new OptlayerServer({
    port: 0,
    host: '127.0.0.1',
    admin: { port: 0 },
    alertRules: (sources) => [
      {
        name: 'HeapHigh',
        source: sources.heapUsedBytes(),
        threshold: Number.MAX_SAFE_INTEGER,
        unit: 'bytes',
      },
      { name: 'QueueDeep', source: () => queueDepth, threshold: 100, forMs: 10_000, summary: 'queue above 100' },
    ],
    alertOptions: { now: clock.now, log: false, intervalMs: 3_600_000 },
  })
  await server.listen()
  t.teardown(() => server.close())
  const manager = server.alerts as AlertManager
  const get = async (): Promise<Record<string, unknown>> =>
    (await (await fetch(new URL('/alerts', server.adminUrl))).json()) as never

  t.like(await get(), { enabled: true, evaluatedAt: null, active: [], resolved: [] })
  queueDepth = 150
  await manager.evaluate()
  clock.advance(10_000)
  await manager.evaluate()
  let body = (await get()) as { active: ActiveAlert[]; resolved: ResolvedAlert[]; rules: { name: string }[] }
  t.is(body.active.length, 1)
  t.like(body.active[0], { name: 'QueueDeep', state: 'firing', value: 150, threshold: 100, summary: 'queue above 100' })
  t.is(Date.parse(body.active[0]?.firingSince ?? '') - Date.parse(body.active[0]?.since ?? ''), 10_000)
  t.deepEqual(
    body.rules.map((r) => r.name),
    ['HeapHigh', 'QueueDeep'],
  )

  queueDepth = 3
  clock.advance(1_000)
  await manager.evaluate()
  body = (await get()) as typeof body
  t.deepEqual(body.active, [])
  t.like(body.resolved[0], { name: 'QueueDeep', value: 3, peak: 150, threshold: 100 })

  const plain = new OptlayerServer({ port: 0, host: '127.0.0.1', admin: { port: 0 } })
  await plain.listen()
  t.teardown(() => plain.close())
  t.like(await (await fetch(new URL('/alerts', plain.adminUrl))).json(), { enabled: false, active: [] })
  t.throws(() => new OptlayerServer({ alerts: manager, alertRules: [] }), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
})
