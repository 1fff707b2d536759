import { join } from 'node:path'
import { Worker } from 'node:worker_threads'

import test from 'ava'
import * as hdr from 'hdr-histogram-js'
import {
  ClosedError,
  Compressor,
  ConfigMismatchError,
  CorruptInputError,
  FleetAggregator,
  InvalidArgumentError,
  LatencyHistogram,
  MetricsCollector,
  RateLimiter,
} from 'optlayer'

import { withinPrecision } from './helpers/hdr'
import { seededRandom } from './helpers/random'

/** Request-like latencies in ms: log-normal around 5 ms with a long tail, rounded to whole ns as recorded. */
function latencies(count: number, seed: number): number[] {
  const next = seededRandom(seed)
  return Array.from({ length: count }, () => {
    const normal = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next())
    return Math.round(Math.exp(Math.log(5) + 1.2 * normal) * 1e6) / 1e6
  })
}

/** Nearest rank: the ⌈q × n⌉-th smallest. */
function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1] ?? NaN
}

/** The value of one sample line of a Prometheus exposition, by name and exact label text. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

const QUANTILES = [0, 0.1, 0.5, 0.9, 0.99, 0.999, 1]

test('percentiles match an exact computation on known data within HDR precision', (t) => {
  const histogram = new LatencyHistogram()
  t.teardown(() => histogram.close())
  const values = latencies(50_000, 1)
  for (const v of values) histogram.record(v)
  const sorted = [...values].sort((a, b) => a - b)
  const reported = histogram.percentiles(QUANTILES)
  QUANTILES.forEach((q, i) => {
    const exact = exactQuantile(sorted, q)
    t.true(withinPrecision(reported[i] ?? NaN, exact), `q${q}: reported ${reported[i]}, exact ${exact}`)
  })
  const snapshot = histogram.snapshot()
  const sum = values.reduce((a, b) => a + b, 0)
  t.is(snapshot.count, values.length)
  t.true(Math.abs(snapshot.sumMs - sum) < 1e-6 * sum, `sum ${snapshot.sumMs} vs ${sum}`)
  t.is(snapshot.minMs, sorted[0] ?? null)
  t.is(snapshot.maxMs, sorted[sorted.length - 1] ?? null)
  t.true(Math.abs((snapshot.meanMs ?? NaN) - sum / values.length) < 1e-6)
  t.true(withinPrecision(snapshot.p999Ms ?? NaN, exactQuantile(sorted, 0.999)))
  t.deepEqual([snapshot.invalid, snapshot.clamped], [0, 0])
})

test('cumulative counts match a brute-force count within HDR precision', (t) => {
  const histogram = new LatencyHistogram()
  t.teardown(() => histogram.close())
  const values = latencies(20_000, 2)
  for (const v of values) histogram.record(v)
  const bounds = [0.5, 1, 2.5, 5, 10, 25, 50, 100, Infinity]
  const counts = histogram.cumulativeCounts(bounds)
  bounds.forEach((bound, i) => {
    // A bucket counts whole with the bound inside it: values up to 0.1 % above the bound may count.
    const atMost = values.filter((v) => v <= bound).length
    const loose = values.filter((v) => v <= bound * 1.001 + 0.001).length
    const reported = counts[i] ?? NaN
    t.true(reported >= atMost && reported <= loose, `le ${bound}: ${reported} not in [${atMost}, ${loose}]`)
  })
  t.is(counts[counts.length - 1], values.length)
})

test('bad values are counted, never recorded; non-numbers and closed histograms throw typed errors', (t) => {
  const histogram = new LatencyHistogram({ highestMs: 1000 })
  for (const bad of [NaN, -1, -Infinity, Infinity]) histogram.record(bad)
  histogram.record(5000)
  histogram.record(0)
  t.like(histogram.snapshot(), { count: 2, invalid: 4, clamped: 1, maxMs: 1000, minMs: 0 })
  t.throws(() => histogram.record('12' as unknown as number), { instanceOf: InvalidArgumentError, message: /valueMs/ })
  t.throws(() => new LatencyHistogram({ significantFigures: 6 }), {
    instanceOf: InvalidArgumentError,
    message: /significantFigures: expected a whole number from 0 to 5, got 6/,
  })
  t.throws(() => new LatencyHistogram({ lowestMs: 1, highestMs: 1.5 }), { message: /highestMs/ })
  t.throws(() => histogram.percentiles([1.5]), { instanceOf: InvalidArgumentError, message: /quantile/ })
  histogram.close()
  t.true(histogram.closed)
  t.throws(() => histogram.record(1), { instanceOf: ClosedError })
  t.throws(() => histogram.snapshot(), { instanceOf: ClosedError })
  t.notThrows(() => histogram.close(), 'close is idempotent')
})

test('an empty histogram reports null figures and NaN percentiles', (t) => {
  const histogram = new LatencyHistogram()
  t.teardown(() => histogram.close())
  t.like(histogram.snapshot(), { count: 0, sumMs: 0, minMs: null, p99Ms: null, meanMs: null })
  t.true(histogram.percentiles([0.5]).every(Number.isNaN))
  t.is(histogram.allocatedBytes, 0, 'no shard allocated before the first record')
})

test('serialize and merge: separate histograms add up exactly; corrupt input is refused', (t) => {
  const parts = [latencies(10_000, 3), latencies(10_000, 4), latencies(500, 5)]
  const whole = new LatencyHistogram()
  const fleet = new LatencyHistogram()
  t.teardown(() => [whole, fleet].forEach((h) => h.close()))
  for (const part of parts) {
    const histogram = new LatencyHistogram()
    for (const v of part) {
      histogram.record(v)
      whole.record(v)
    }
    // Over the wire as bytes, as between processes.
    fleet.merge(Uint8Array.from(histogram.toBuffer()))
    histogram.close()
  }
  t.deepEqual(fleet.snapshot(), whole.snapshot())
  t.deepEqual(fleet.percentiles(QUANTILES), whole.percentiles(QUANTILES))
  const restored = LatencyHistogram.fromBuffer(fleet.toBuffer())
  t.deepEqual(restored.snapshot(), whole.snapshot())
  restored.close()

  const before = fleet.snapshot()
  t.throws(() => fleet.merge(Buffer.from('not a histogram')), { instanceOf: CorruptInputError })
  t.throws(() => fleet.merge(fleet.toBuffer().subarray(0, 30)), { instanceOf: CorruptInputError })
  t.deepEqual(fleet.snapshot(), before, 'a refused merge changes nothing')
})

test('merges HdrHistogram V2 written by hdr-histogram-js', (t) => {
  const theirs = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  })
  const ours = new LatencyHistogram()
  t.teardown(() => ours.close())
  const values = latencies(5_000, 6)
  // hdr-histogram-js records integers: microseconds here, nanoseconds on our side.
  for (const v of values) theirs.recordValue(Math.round(v * 1000))
  const encoded = Buffer.from(hdr.encodeIntoCompressedBase64(theirs), 'base64')
  const imported = new LatencyHistogram({ lowestMs: 0.001 })
  t.teardown(() => imported.close())
  imported.merge(encoded)
  t.is(imported.snapshot().count, values.length)
  // Their unit is µs, ours ns: a factor of 1000 between the two readings, within precision.
  const sorted = [...values].sort((a, b) => a - b)
  const p99 = (imported.percentiles([0.99])[0] ?? NaN) * 1000
  t.true(Math.abs(p99 - exactQuantile(sorted, 0.99)) <= exactQuantile(sorted, 0.99) * 2e-3 + 0.002, `p99 ${p99}`)
  for (const v of values) ours.record(v)
  t.is(ours.snapshot().count, values.length)
})

test('a named histogram is shared by the worker_threads that open its name', async (t) => {
  const name = `metrics-spec-shared-${process.pid}`
  const here = new LatencyHistogram({ name })
  t.teardown(() => here.close())
  here.record(1)
  const script = `
    const { parentPort, workerData } = require('node:worker_threads')
    const { LatencyHistogram } = require(workerData.module)
    const there = new LatencyHistogram({ name: workerData.name })
    for (let i = 1; i <= 1000; i++) there.record(i)
    parentPort.postMessage(there.snapshot().count)
    there.close()
  `
  const module = join(__dirname, '..', 'dist', 'core', 'latency-histogram.js')
  const seen = await new Promise<number>((resolve, reject) => {
    const worker = new Worker(script, { eval: true, workerData: { module, name } })
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  t.true(seen >= 1001, 'the worker sees the main thread value too')
  t.is(here.snapshot().count, 1001)
  t.true(withinPrecision(here.percentiles([1])[0] ?? NaN, 1000))
  t.throws(() => new LatencyHistogram({ name, significantFigures: 2 }), { instanceOf: ConfigMismatchError })
})

test('recordRequest counts requests and errors and exports a summary with quantiles, sum and count', async (t) => {
  const metrics = new MetricsCollector({ defaultMetrics: false })
  t.teardown(() => metrics.close())
  const ok = latencies(2_000, 7)
  for (const v of ok) metrics.recordRequest(v, true)
  for (let i = 1; i <= 100; i++) metrics.recordRequest(i, false)
  const text = await metrics.expose()
  t.is(sample(text, 'optlayer_requests_total'), 2_100)
  t.is(sample(text, 'optlayer_request_errors_total'), 100)
  t.is(sample(text, 'optlayer_request_duration_seconds_count', '{outcome="ok"}'), 2_000)
  t.is(sample(text, 'optlayer_request_duration_seconds_count', '{outcome="error"}'), 100)
  t.true(Math.abs((sample(text, 'optlayer_request_duration_seconds_sum', '{outcome="error"}') ?? 0) - 5.05) < 1e-9)
  const sorted = [...ok].sort((a, b) => a - b)
  for (const q of [0.5, 0.9, 0.99, 0.999]) {
    const seconds = sample(text, 'optlayer_request_duration_seconds', `{outcome="ok",quantile="${q}"}`)
    t.true(withinPrecision((seconds ?? NaN) * 1000, exactQuantile(sorted, q)), `ok q${q}: ${seconds}`)
  }
  const errorMedian = sample(text, 'optlayer_request_duration_seconds', '{outcome="error",quantile="0.5"}')
  t.true(withinPrecision((errorMedian ?? NaN) * 1000, 50), `error p50 ${errorMedian}`)
  t.regex(text, /# TYPE optlayer_request_duration_seconds summary/)
  t.throws(() => metrics.recordRequest(undefined as unknown as number, true), { instanceOf: InvalidArgumentError })
  // A negative, NaN or endless duration is a caller's bug (a clock read the wrong way round): refused, not hidden.
  for (const bad of [-1, NaN, Infinity]) {
    t.throws(() => metrics.recordRequest(bad, true), { instanceOf: InvalidArgumentError }, String(bad))
    t.throws(() => metrics.requestFinished(bad, false), { instanceOf: InvalidArgumentError }, String(bad))
  }
  t.is(sample(await metrics.expose(), 'optlayer_requests_total'), 2_100, 'a refused record is not counted')
})

test('in-flight requests: requestStarted/requestFinished and trackRequest', async (t) => {
  const metrics = new MetricsCollector({ defaultMetrics: false })
  t.teardown(() => metrics.close())
  metrics.requestStarted()
  metrics.requestStarted()
  t.is(sample(await metrics.expose(), 'optlayer_requests_in_flight'), 2)
  metrics.requestFinished(3, true)
  metrics.requestFinished()
  let during: number | undefined
  const result = await metrics.trackRequest(async () => {
    during = sample(await metrics.expose(), 'optlayer_requests_in_flight')
    return 42
  })
  t.is(result, 42)
  t.is(during, 1)
  await t.throwsAsync(
    metrics.trackRequest(() => {
      throw new Error('boom')
    }),
    { message: 'boom' },
  )
  const text = await metrics.expose()
  t.is(sample(text, 'optlayer_requests_in_flight'), 0)
  t.is(sample(text, 'optlayer_requests_total'), 3)
  t.is(sample(text, 'optlayer_request_errors_total'), 1)
})

test('label cardinality: beyond maxSeries observations go to one overflow series and are counted', async (t) => {
  const metrics = new MetricsCollector({ defaultMetrics: false, maxSeriesPerMetric: 5 })
  t.teardown(() => metrics.close())
  const requests = metrics.counter({ name: 'app_requests_total', help: 'Requests by user.', labelNames: ['user'] })
  const depth = metrics.gauge({ name: 'app_depth', help: 'Depth by queue.', labelNames: ['queue'], maxSeries: 2 })
  const sizes = metrics.histogram({ name: 'app_size_bytes', help: 'Sizes.', labelNames: ['route'], buckets: [10, 100] })
  for (let i = 0; i < 10_000; i++) {
    requests.inc({ user: `u${i}` })
    sizes.observe({ route: `/r${i}` }, i % 200)
  }
  for (let i = 0; i < 4; i++) depth.set({ queue: `q${i}` }, i)
  t.is(requests.series, 5)
  t.is(depth.series, 2)
  const values = (await requests.metric.get()).values
  t.is(values.length, 6, 'five label sets and the overflow set: memory does not grow')
  t.is(values.find((v) => v.labels.user === '__overflow__')?.value, 9_995)
  const text = await metrics.expose()
  t.is(sample(text, 'optlayer_metrics_overflow_total', '{metric="app_requests_total"}'), 9_995)
  t.is(sample(text, 'optlayer_metrics_overflow_total', '{metric="app_size_bytes"}'), 9_995)
  t.is(sample(text, 'optlayer_metrics_overflow_total', '{metric="app_depth"}'), 2)
  t.is(sample(text, 'app_depth', '{queue="__overflow__"}'), 3, 'the last overflowing set wins on a gauge')
  t.is(sample(text, 'app_size_bytes_count', '{route="__overflow__"}'), 9_995)
  // Known label sets keep counting in their own series; removing one makes room.
  requests.inc({ user: 'u0' }, 2)
  requests.remove({ user: 'u1' })
  requests.inc({ user: 'newcomer' })
  const after = await metrics.expose()
  t.is(sample(after, 'app_requests_total', '{user="u0"}'), 3)
  t.is(sample(after, 'app_requests_total', '{user="newcomer"}'), 1)
  const roomy = metrics.counter({ name: 'app_roomy_total', help: 'Room left.', labelNames: ['a'] })
  t.throws(() => roomy.inc({ nope: 'x' } as never), { instanceOf: InvalidArgumentError, message: /app_roomy_total/ })
  t.is(roomy.series, 0, 'a refused label set takes no room')
  t.throws(() => metrics.counter({ name: 'app_requests_total', help: 'again' }), { instanceOf: InvalidArgumentError })
  t.throws(() => metrics.counter({ name: 'x_total', help: 'x', maxSeries: 0 }), { message: /maxSeries/ })
})

test('components report at scrape time, capped, isolated from each other and removable', async (t) => {
  const metrics = new MetricsCollector({ defaultMetrics: false })
  t.teardown(() => metrics.close())
  let collects = 0
  const unregister = metrics.registerComponent('store', {
    metrics: {
      hits_total: { type: 'counter', help: 'Hits by tier.', labelNames: ['tier'], maxSeries: 2 },
      entries: { type: 'gauge', help: 'Entries.' },
    },
    collect: () => {
      collects++
      return {
        hits_total: ['l1', 'l2', 'l3', 'l4'].map((tier, i) => ({ labels: { tier }, value: 10 * (i + 1) })),
        entries: 7,
      }
    },
  })
  metrics.registerComponent('jobs', {
    metrics: { depth: { type: 'gauge', help: 'Depth.' } },
    collect: () => {
      throw new Error('jobs are down')
    },
  })
  const text = await metrics.expose()
  t.is(collects, 1, 'one collect per scrape, shared by the component metrics')
  t.is(sample(text, 'optlayer_store_hits_total', '{tier="l1"}'), 10)
  t.is(sample(text, 'optlayer_store_hits_total', '{tier="__overflow__"}'), 70)
  t.is(sample(text, 'optlayer_store_entries'), 7)
  t.is(sample(text, 'optlayer_metrics_overflow_total', '{metric="optlayer_store_hits_total"}'), 2)
  t.is(sample(text, 'optlayer_component_errors_total', '{component="jobs"}'), 1)
  t.is(sample(text, 'optlayer_jobs_depth'), undefined)
  unregister()
  t.false((await metrics.expose()).includes('optlayer_store_entries'))
  // The built-in components own their names: a second `cache_hits_total` is refused.
  const clash = { metrics: { hits_total: { type: 'counter' as const, help: 'Hits.' } }, collect: () => ({}) }
  t.throws(() => metrics.registerComponent('cache', clash), { instanceOf: InvalidArgumentError })
  t.throws(() => metrics.registerComponent('bad name', { metrics: {}, collect: () => ({}) }), {
    instanceOf: InvalidArgumentError,
  })
})

test('getSystemMetrics returns a plain, sane snapshot; rates follow the injected clock', async (t) => {
  let now = 1_000
  const metrics = new MetricsCollector({ defaultMetrics: false, now: () => now, rateWindowMs: 10_000 })
  t.teardown(() => metrics.close())
  // Garbage, so that minor collections happen and are observed.
  let keep: unknown[] = []
  for (let i = 0; i < 200_000; i++) keep.push({ i, s: `x${i}` })
  keep = []
  now += 5_000
  for (let i = 0; i < 45; i++) metrics.recordRequest(2, true)
  for (let i = 0; i < 5; i++) metrics.recordRequest(20, false)
  metrics.requestStarted()
  await new Promise((resolve) => setTimeout(resolve, 50))
  const snapshot = metrics.getSystemMetrics()
  t.deepEqual(JSON.parse(JSON.stringify(snapshot)), snapshot, 'plain data')
  t.like(snapshot.requests, { total: 50, errors: 5, inFlight: 1, ratePerSecond: 10, errorRate: 0.1, windowSeconds: 5 })
  t.is(snapshot.latency.count, 50)
  t.true(withinPrecision(snapshot.latency.p50Ms ?? NaN, 2))
  t.true(withinPrecision(snapshot.latency.p99Ms ?? NaN, 20))
  t.true(snapshot.memory.rssBytes > snapshot.memory.heapUsedBytes && snapshot.memory.heapUsedBytes > 0)
  t.true(snapshot.cpu.percent >= 0 && snapshot.cpu.userSeconds > 0)
  t.true(snapshot.uptimeSeconds > 0 && snapshot.timestamp > 1.6e12)
  t.true(snapshot.resources.handles >= 0 && typeof snapshot.resources.byType === 'object')
  t.true(snapshot.eventLoop.utilization >= 0 && snapshot.eventLoop.utilization <= 1)
  for (const delay of [snapshot.eventLoop.delayP50Ms, snapshot.eventLoop.delayP99Ms]) {
    t.true(delay === null || delay >= 0)
  }
  t.deepEqual(Object.keys(snapshot.gc.byKind).sort(), ['incremental', 'major', 'minor', 'weakcb'])
  t.true(snapshot.gc.byKind.minor.count > 0, 'minor collections were observed')
  t.true(snapshot.gc.pauseMs > 0 && snapshot.gc.count >= snapshot.gc.byKind.minor.count)
  // Later requests only: the rate covers the window, not the whole run.
  now += 20_000
  metrics.getSystemMetrics()
  now += 10_000
  for (let i = 0; i < 30; i++) metrics.recordRequest(1, true)
  t.like(metrics.getSystemMetrics().requests, { ratePerSecond: 3, errorRate: 0, windowSeconds: 10 })
})

test('the codec and rate-limit collectors keep working beside the new metrics', async (t) => {
  const metrics = new MetricsCollector({ defaultMetrics: false })
  const limiter = new RateLimiter({ algorithm: 'fixed-window', limit: 1, windowMs: 60_000, name: 'metrics-spec' })
  t.teardown(async () => {
    await metrics.close()
    await limiter.close()
  })
  limiter.allowSync('a')
  limiter.allowSync('a')
  Compressor.compress(Buffer.alloc(1024, 'a'), 'gzip')
  const text = await metrics.expose()
  t.is(
    sample(text, 'optlayer_ratelimit_decisions_total', '{limiter="metrics-spec",source="local",outcome="denied"}'),
    1,
  )
  t.true((sample(text, 'optlayer_codec_calls_total', '{operation="compress",algorithm="gzip"}') ?? 0) >= 1)
})

test('a fleet aggregate sums counters, merges latency exactly and keeps retired workers counted', async (t) => {
  const workers = [new MetricsCollector({ defaultMetrics: false }), new MetricsCollector({ defaultMetrics: false })]
  const fleet = new FleetAggregator({ quantileWindowMs: 0 })
  const whole = new LatencyHistogram()
  t.teardown(async () => {
    fleet.close()
    whole.close()
    await Promise.all(workers.map((w) => w.close()))
  })
  workers.forEach((worker, n) => {
    for (const v of latencies(3_000, 10 + n)) {
      worker.recordRequest(v, true)
      whole.record(v)
    }
    worker.recordRequest(50, false)
    worker.requestStarted()
  })
  for (const [n, worker] of workers.entries())
    fleet.update(String(n), { at: Date.now(), snapshot: await worker.localSnapshot() })
  const text = await fleet.render()
  t.is(sample(text, 'optlayer_requests_total'), 6_002)
  t.is(sample(text, 'optlayer_request_errors_total'), 2)
  t.is(sample(text, 'optlayer_requests_in_flight'), 2)
  t.is(sample(text, 'optlayer_fleet_workers'), 2)
  t.is(sample(text, 'optlayer_request_duration_seconds_count', '{outcome="ok"}'), 6_000)
  const [p50, p99] = whole.percentiles([0.5, 0.99])
  t.is(sample(text, 'optlayer_request_duration_seconds', '{outcome="ok",quantile="0.5"}'), (p50 ?? NaN) / 1000)
  t.is(sample(text, 'optlayer_request_duration_seconds', '{outcome="ok",quantile="0.99"}'), (p99 ?? NaN) / 1000)
  // Worker 1 exits and is replaced: its counts stay in the fleet totals, its gauges leave.
  fleet.retire('1')
  fleet.update('2', { at: Date.now(), snapshot: await new MetricsCollector({ defaultMetrics: false }).localSnapshot() })
  const after = await fleet.render()
  t.is(sample(after, 'optlayer_requests_total'), 6_002)
  t.is(sample(after, 'optlayer_request_duration_seconds_count', '{outcome="ok"}'), 6_000)
  t.is(sample(after, 'optlayer_requests_in_flight'), 1)
  t.is(sample(after, 'optlayer_fleet_workers'), 2)
})

// A closed histogram's slot is reused by the next one; neither its methods nor its raw
// recorder may reach the new one, however many come after (a 12-bit generation came round
// again after 4,096).
test('a closed histogram never records into one opened in its slot, through 5,000 reuses', (t) => {
  const first = new LatencyHistogram()
  const rawRecorder = first.recorder
  first.close()
  const wrong: string[] = []
  for (let i = 1; i <= 5_000; i++) {
    const live = new LatencyHistogram()
    try {
      first.record(5)
      wrong.push(`reuse ${i}: record succeeded`)
    } catch (err) {
      if (!(err instanceof ClosedError)) wrong.push(`reuse ${i}: record threw ${String(err)}`)
    }
    try {
      rawRecorder(5)
      wrong.push(`reuse ${i}: the raw recorder succeeded`)
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ERR_OPTLAYER_CLOSED') wrong.push(`reuse ${i}: ${String(err)}`)
    }
    const { count } = live.snapshot()
    if (count !== 0) wrong.push(`reuse ${i}: the live histogram counted ${count}`)
    live.close()
  }
  t.deepEqual(wrong, [])
  t.throws(() => first.snapshot(), { instanceOf: ClosedError })
  t.throws(() => first.recordMany(new Float64Array([1])), { instanceOf: ClosedError })
})

test('a request source adds its counts to requests_total, request_errors_total and the system figures', async (t) => {
  const metrics = new MetricsCollector({ defaultMetrics: false })
  t.teardown(() => metrics.close())
  metrics.recordRequest(5, true)
  let elsewhere = { requests: 10, errors: 2 }
  const remove = metrics.addRequestSource(() => elsewhere)
  elsewhere = { requests: 12, errors: 3 }
  const text = await metrics.expose()
  t.regex(text, /optlayer_requests_total 13\n/)
  t.regex(text, /optlayer_request_errors_total 3\n/)
  t.is(metrics.getSystemMetrics().requests.total, 13)
  t.is(metrics.getSystemMetrics().requests.errors, 3)
  remove()
  t.is(metrics.getSystemMetrics().requests.total, 1)
})
