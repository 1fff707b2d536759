'use strict'

// metrics suite: the two target figures, side by side in one process.
// 1. Recording one request (ns/op): MetricsCollector.recordRequest (a native HDR histogram per
//    outcome behind a raw N-API function, plus plain counters) against prom-client's
//    Histogram.observe with the `outcome` label as optlayer used it (its peers: pre-bound
//    label children, and a Summary, the shape optlayer exports) and hdr-histogram-js
//    (`build()` defaults, one histogram per outcome as ours).
// 2. Scraping /metrics with 10,000 series (ms per scrape): MetricsCollector.expose() against
//    a plain prom-client Registry holding the same series, and the primary's fleet render
//    of two such workers.
// Every contender records the same values, and the counts are checked afterwards so nobody
// wins by doing less; the percentiles of ours and hdr-histogram-js are checked against an
// exact computation.

const assert = require('node:assert/strict')
const { performance } = require('node:perf_hooks')
const hdr = require('hdr-histogram-js')
const { Counter, Histogram, Registry, Summary, collectDefaultMetrics } = require('prom-client')
const { FleetAggregator, LatencyHistogram, MetricsCollector } = require('optlayer')
const { mulberry32 } = require('./inputs')
const {
  figureTable,
  runIfMain,
  runCase,
  printCase,
  printTable,
  formatNumber,
  measureEventLoopDelay,
  median,
  writeResults,
} = require('./harness')

const SEED = 20240608
// Records per measured call: one call per record would time Benchmark.js' loop as much as the record.
const CALL_BATCH = 1000
const VALUES = 4096
const ERROR_EVERY = 20
// The buckets MetricsCollector gave its prom-client histogram before it went native.
const PROM_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
const SERIES_METRICS = 10
const SERIES_PER_METRIC = 1000
const SCRAPE_REPEATS = 15
// The targets: measured and reported, never asserted.
const RECORD_BUDGET_NS = 100
const RECORD_MIN_RATIO = 2
const SCRAPE_BUDGET_MS = 50

/** Request latencies in ms: log-normal around 5 ms with a long tail, seeded; every ERROR_EVERY-th fails. */
function requestSample() {
  const random = mulberry32(SEED)
  const ms = new Float64Array(VALUES)
  const ok = new Array(VALUES)
  for (let i = 0; i < VALUES; i++) {
    const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
    ms[i] = Math.exp(Math.log(5) + 1.2 * normal)
    ok[i] = i % ERROR_EVERY !== 0
  }
  return { ms, ok }
}

/** The recording contenders; each `fn` records CALL_BATCH requests, walking the sample in order. */
function recordContenders({ ms, ok }) {
  const mask = VALUES - 1
  const collector = new MetricsCollector({ defaultMetrics: false })
  const histogram = new LatencyHistogram()
  const promRegistry = new Registry()
  const promHistogram = new Histogram({
    name: 'request_duration_seconds',
    help: 'h',
    labelNames: ['outcome'],
    buckets: PROM_BUCKETS,
    registers: [promRegistry],
  })
  const boundRegistry = new Registry()
  const boundHistogram = new Histogram({
    name: 'request_duration_seconds',
    help: 'h',
    labelNames: ['outcome'],
    buckets: PROM_BUCKETS,
    registers: [boundRegistry],
  })
  const bound = { ok: boundHistogram.labels({ outcome: 'ok' }), error: boundHistogram.labels({ outcome: 'error' }) }
  const summaryRegistry = new Registry()
  const promSummary = new Summary({
    name: 'request_duration_seconds',
    help: 's',
    labelNames: ['outcome'],
    percentiles: [0.5, 0.9, 0.99, 0.999],
    registers: [summaryRegistry],
  })
  // hdr-histogram-js records integers: microseconds, one histogram per outcome as ours.
  const hdrOk = hdr.build()
  const hdrError = hdr.build()

  const promCount = async (registry) => {
    const metric = (await registry.getMetricsAsJSON())[0]
    return metric.values.filter((v) => v.metricName?.endsWith('_count')).reduce((sum, v) => sum + v.value, 0)
  }
  // Every loop is written out, so that each call site sees one receiver and one target, as
  // in an application; a shared loop calling a closure would measure a megamorphic call.
  const state = () => ({ recorded: 0, at: 0 })
  const s = Array.from({ length: 6 }, state)
  const contenders = [
    {
      name: 'optlayer MetricsCollector.recordRequest',
      role: 'ours',
      state: s[0],
      count: async () => collector.requestLatency.ok.snapshot().count + collector.requestLatency.error.snapshot().count,
      fn: () => {
        let at = s[0].at
        for (let j = 0; j < CALL_BATCH; j++) {
          collector.recordRequest(ms[at], ok[at])
          at = (at + 1) & mask
        }
        s[0].at = at
        s[0].recorded += CALL_BATCH
      },
    },
    {
      name: 'optlayer LatencyHistogram.record',
      role: 'ours, information (no outcome split)',
      state: s[1],
      count: async () => histogram.snapshot().count,
      fn: () => {
        let at = s[1].at
        for (let j = 0; j < CALL_BATCH; j++) {
          histogram.record(ms[at])
          at = (at + 1) & mask
        }
        s[1].at = at
        s[1].recorded += CALL_BATCH
      },
    },
    {
      name: 'prom-client Histogram.observe({ outcome })',
      role: 'peer',
      state: s[2],
      count: () => promCount(promRegistry),
      fn: () => {
        let at = s[2].at
        for (let j = 0; j < CALL_BATCH; j++) {
          promHistogram.observe({ outcome: ok[at] ? 'ok' : 'error' }, ms[at] / 1000)
          at = (at + 1) & mask
        }
        s[2].at = at
        s[2].recorded += CALL_BATCH
      },
    },
    {
      name: 'prom-client Histogram, pre-bound labels',
      role: 'peer, best case',
      state: s[3],
      count: () => promCount(boundRegistry),
      fn: () => {
        let at = s[3].at
        for (let j = 0; j < CALL_BATCH; j++) {
          ;(ok[at] ? bound.ok : bound.error).observe(ms[at] / 1000)
          at = (at + 1) & mask
        }
        s[3].at = at
        s[3].recorded += CALL_BATCH
      },
    },
    {
      name: 'prom-client Summary.observe({ outcome })',
      role: 'peer, our shape',
      state: s[4],
      count: () => promCount(summaryRegistry),
      fn: () => {
        let at = s[4].at
        for (let j = 0; j < CALL_BATCH; j++) {
          promSummary.observe({ outcome: ok[at] ? 'ok' : 'error' }, ms[at] / 1000)
          at = (at + 1) & mask
        }
        s[4].at = at
        s[4].recorded += CALL_BATCH
      },
    },
    {
      name: 'hdr-histogram-js build(), per outcome',
      role: 'peer',
      state: s[5],
      count: async () => hdrOk.totalCount + hdrError.totalCount,
      fn: () => {
        let at = s[5].at
        for (let j = 0; j < CALL_BATCH; j++) {
          ;(ok[at] ? hdrOk : hdrError).recordValue(Math.round(ms[at] * 1000))
          at = (at + 1) & mask
        }
        s[5].at = at
        s[5].recorded += CALL_BATCH
      },
    },
  ]
  const close = () => {
    void collector.close()
    histogram.close()
  }
  return { contenders, close }
}

/** The harness times calls of CALL_BATCH records: rescale its figures to one record. */
function perRecord(result) {
  for (const c of result.contenders) {
    c.hz = { median: c.hz.median * CALL_BATCH, min: c.hz.min * CALL_BATCH, max: c.hz.max * CALL_BATCH }
    c.hzPerRound = c.hzPerRound.map((hz) => hz * CALL_BATCH)
    c.nsPerOp = 1e9 / c.hz.median
    c.mbPerSecond = 0
  }
  return result
}

/** Percentiles of ours and of hdr-histogram-js against the exact nearest-rank values of the sample. */
function checkPercentiles({ ms }) {
  const ours = new LatencyHistogram()
  const theirs = hdr.build()
  for (const v of ms) {
    ours.record(v)
    theirs.recordValue(Math.round(v * 1000))
  }
  const sorted = Array.from(ms).sort((a, b) => a - b)
  const rows = [0.5, 0.9, 0.99, 0.999].map((q) => {
    const exact = sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]
    const optlayer = ours.percentiles([q])[0]
    const hdrJs = theirs.getValueAtPercentile(q * 100) / 1000
    assert.ok(Math.abs(optlayer - exact) <= exact * 1e-3 + 1e-3, `optlayer p${q * 100} ${optlayer} vs exact ${exact}`)
    return { quantile: q, exactMs: exact, optlayerMs: optlayer, hdrHistogramJsMs: hdrJs }
  })
  ours.close()
  return rows
}

async function recordCase(options) {
  const sample = requestSample()
  const { contenders, close } = recordContenders(sample)
  const result = perRecord(
    await runCase(
      {
        name: `record one request (${CALL_BATCH} per call, 1 in ${ERROR_EVERY} failed)`,
        bytes: 0,
        reference: 'prom-client Histogram.observe({ outcome })',
        contenders,
      },
      options,
    ),
  )
  // Same work: every contender holds exactly what it was given.
  for (const c of contenders) {
    assert.ok(c.state.recorded > 0, `${c.name} recorded nothing`)
    assert.equal(await c.count(), c.state.recorded, `${c.name} lost records`)
  }
  result.contenders.forEach((c, i) => (c.details = { records: contenders[i].state.recorded }))
  close()
  return result
}

/** 10 counters of 1,000 label sets each (plus the process metrics), in ours and in a plain registry. */
function seriesSetup() {
  const collector = new MetricsCollector({ maxSeriesPerMetric: SERIES_PER_METRIC })
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'optlayer_' })
  for (let m = 0; m < SERIES_METRICS; m++) {
    const name = `app_route_requests_${m}_total`
    const ours = collector.counter({ name, help: 'Requests by route.', labelNames: ['route', 'method'] })
    const theirs = new Counter({
      name,
      help: 'Requests by route.',
      labelNames: ['route', 'method'],
      registers: [registry],
    })
    for (let s = 0; s < SERIES_PER_METRIC; s++) {
      const labels = { route: `/api/v1/resource/${s}`, method: s % 3 === 0 ? 'POST' : 'GET' }
      ours.inc(labels, s + 1)
      theirs.inc(labels, s + 1)
    }
  }
  for (let i = 0; i < 10_000; i++) collector.recordRequest((i % 97) + 0.5, i % 50 !== 0)
  return { collector, registry }
}

const seriesLines = (text) => text.split('\n').filter((l) => l.startsWith('app_route_requests_')).length

async function scrapeCase(options) {
  const { collector, registry } = seriesSetup()
  const ours = await collector.expose()
  const theirs = await registry.metrics()
  assert.equal(seriesLines(ours), SERIES_METRICS * SERIES_PER_METRIC)
  assert.equal(seriesLines(theirs), SERIES_METRICS * SERIES_PER_METRIC)
  const contenders = [
    { name: 'optlayer MetricsCollector.expose()', role: 'ours', async: true, fn: () => collector.expose() },
    { name: 'prom-client Registry.metrics()', role: 'peer', async: true, fn: () => registry.metrics() },
  ]
  const result = await runCase(
    {
      name: `scrape ${formatNumber(SERIES_METRICS * SERIES_PER_METRIC)} series`,
      bytes: 0,
      reference: contenders[1].name,
      contenders,
    },
    options,
  )
  for (const c of result.contenders) c.details = { msPerScrape: c.nsPerOp / 1e6 }

  // What one scrape does to the event loop: it runs as one block, so the loop's worst delay is the scrape.
  const loop = await measureEventLoopDelay(async () => {
    for (let i = 0; i < SCRAPE_REPEATS; i++) {
      await collector.expose()
      await new Promise((resolve) => setImmediate(resolve))
    }
  })

  // The fleet primary renders two such workers once a second; workers answer from its text.
  const fleet = new FleetAggregator()
  const snapshot = await collector.localSnapshot()
  fleet.update('1', { at: Date.now(), snapshot })
  fleet.update('2', { at: Date.now(), snapshot })
  const renders = []
  for (let i = 0; i < Math.max(3, Math.ceil(SCRAPE_REPEATS / 3)); i++) {
    const started = performance.now()
    const text = await fleet.render()
    renders.push(performance.now() - started)
    assert.equal(seriesLines(text), SERIES_METRICS * SERIES_PER_METRIC)
  }
  const snapshotStarted = performance.now()
  await collector.localSnapshot()
  const snapshotMs = performance.now() - snapshotStarted
  fleet.close()
  await collector.close()
  return {
    result,
    scrapeBytes: Buffer.byteLength(ours),
    eventLoop: loop,
    fleet: { workers: 2, renderMsMedian: median(renders), renderMs: renders, workerSnapshotMs: snapshotMs },
  }
}

function evaluateTargets(record, scrape) {
  const ours = record.contenders.find((c) => c.role === 'ours')
  const scrapeOurs = scrape.result.contenders.find((c) => c.role === 'ours')
  return [
    {
      figure: 'recordRequest ns/op',
      target: `<= ${RECORD_BUDGET_NS}`,
      measured: ours.nsPerOp,
      met: ours.nsPerOp <= RECORD_BUDGET_NS,
    },
    {
      figure: 'recordRequest x prom-client Histogram.observe',
      target: `>= ${RECORD_MIN_RATIO}`,
      measured: ours.vsReference.median,
      met: ours.vsReference.median >= RECORD_MIN_RATIO,
    },
    {
      figure: 'scrape 10k series, ms',
      target: `<= ${SCRAPE_BUDGET_MS}`,
      measured: scrapeOurs.details.msPerScrape,
      met: scrapeOurs.details.msPerScrape <= SCRAPE_BUDGET_MS,
    },
  ]
}

const NOTES = [
  `Recording: each call records ${CALL_BATCH} requests from a fixed log-normal sample (median 5 ms); ns/op is per request.`,
  'optlayer recordRequest = one raw N-API call into the outcome histogram (sharded HDR, 3 figures, 1 µs to 1 h) and two' +
    ' increments; prom-client keeps 13 buckets, hdr-histogram-js 3 figures in µs with auto-resize.',
  'prom-client Summary is listed because optlayer exports a summary: it computes quantiles with t-digest on every observe.',
  'Scrape: 10 counters x 1,000 label sets through bounded custom metrics, plus prom-client default metrics and the' +
    ' request summary; the peer renders the same counters and defaults from a plain Registry.',
  "In a fleet (WORKERS > 1) a worker answers /metrics from the primary's latest render; the render figure is the" +
    " primary's cost per interval, the snapshot figure each worker's cost per push.",
]

async function run(options) {
  console.log(
    `metrics suite: ${options.rounds} rounds${options.quick ? ' (quick)' : ''}; ratios are ops/s over the reference (>1: faster)`,
  )
  const started = Date.now()
  const percentiles = checkPercentiles(requestSample())
  console.log('\npercentiles of the sample, ms:')
  printTable(
    ['quantile', 'exact', 'optlayer', 'hdr-histogram-js'],
    percentiles.map((r) => [
      String(r.quantile),
      formatNumber(r.exactMs),
      formatNumber(r.optlayerMs),
      formatNumber(r.hdrHistogramJsMs),
    ]),
    1,
  )
  const record = await recordCase(options)
  printCase(record, { records: 'records' })
  const scrape = await scrapeCase(options)
  printCase(scrape.result, { msPerScrape: 'ms/scrape' })
  console.log(
    `\nscrape size ${formatNumber(scrape.scrapeBytes)} B; event-loop delay over ${SCRAPE_REPEATS} scrapes: p99` +
      ` ${formatNumber(scrape.eventLoop.p99Ms)} ms, max ${formatNumber(scrape.eventLoop.maxMs)} ms;` +
      ` fleet render of 2 workers ${formatNumber(scrape.fleet.renderMsMedian)} ms, worker snapshot` +
      ` ${formatNumber(scrape.fleet.workerSnapshotMs)} ms`,
  )
  const figures = evaluateTargets(record, scrape)
  console.log('\ntargets:')
  printTable(
    ['figure', 'target', 'measured', 'met'],
    figures.map((f) => [f.figure, f.target, formatNumber(f.measured), f.met ? 'yes' : 'NO']),
    2,
  )
  console.log(`\nnotes:\n${NOTES.map((note) => `- ${note}`).join('\n')}`)
  const elapsedSeconds = (Date.now() - started) / 1000
  const file = writeResults('metrics', {
    packages: ['prom-client', 'hdr-histogram-js', 'benchmark'],
    parameters: {
      ...options,
      seed: SEED,
      recordsPerCall: CALL_BATCH,
      errorEvery: ERROR_EVERY,
      promBuckets: PROM_BUCKETS,
      series: SERIES_METRICS * SERIES_PER_METRIC,
      elapsedSeconds,
    },
    percentiles,
    cases: [record, scrape.result],
    scrape: { bytes: scrape.scrapeBytes, eventLoop: scrape.eventLoop, fleet: scrape.fleet },
    figures,
    readmeTable: readmeTable(figures),
    notes: NOTES,
  })
  console.log(`\nwrote ${file}`)
}

module.exports = { run }

/** The README rows: each figure against its target. */
function readmeTable(figures) {
  return figureTable(
    figures.map((f) => ({ target: f.target, subject: f.figure, display: f.measured.toFixed(1), met: f.met })),
  )
}

runIfMain(module, run)
