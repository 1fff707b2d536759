'use strict'

// balancer suite: optlayer's LoadBalancer. There is no npm peer worth measuring against (the
// published balancers are either HTTP proxies or unmaintained), so the pick cases sit beside two
// in-file baselines: the floor (an array index, no bookkeeping at all) and the naive balancer most
// services hand-write (filter the healthy backends on every pick, then round robin).
// Measured, as the load balancer issue lists:
// - pick + release ns/op per algorithm over 8 backends (with an outcome and a latency, and
//   without an outcome, which is the pick and its bookkeeping alone);
// - distribution error of weighted picks over 1M picks;
// - keys remapped when one backend is added to N (4, 8, 16) against the ideal 1/(N+1);
// - a discrete-event simulation on a virtual clock: 4 backends with queues, one turns 10x
//   slower; p99 latency of p2c-ewma against round robin.

const assert = require('node:assert/strict')
const { PerformanceObserver } = require('node:perf_hooks')
const { setImmediate: nextTurn } = require('node:timers/promises')
const { mulberry32 } = require('./inputs')
const {
  figureTable,
  runIfMain,
  runCase,
  printCase,
  printTable,
  formatNumber,
  median,
  writeResults,
  printSuiteTime,
} = require('./harness')

const { LoadBalancer } = require('optlayer')

const ALGORITHMS = ['round-robin', 'weighted-round-robin', 'least-connections', 'p2c-ewma', 'consistent-hash']
const PICK_BACKENDS = 8
// Distinct client IPs the consistent-hash picks cycle through (a power of two: masked, not divided).
const CLIENT_KEYS = 4096
// The targets: measured and reported, never asserted.
const PICK_TARGET_NS = 100
const PICK_SPEC_NS = 200
const WEIGHTS = [5, 3, 1]
const DISTRIBUTION_PICKS = 1_000_000
const DISTRIBUTION_TARGET = 0.01
const REMAP_SIZES = [4, 8, 16]
const REMAP_KEYS = 100_000
const REMAP_TARGET = 1.2
const SIM_TARGET = 3
const SEED = 20240607

function backendList(count, weights = []) {
  return Array.from({ length: count }, (_, i) => ({
    id: `backend-${i}`,
    url: `http://10.0.${i >> 8}.${(i & 255) + 1}:8080`,
    weight: weights[i] ?? 1,
  }))
}

function clientRequests(count, seed) {
  const random = mulberry32(seed)
  const ip = () => (random() * 256) | 0
  return Array.from({ length: count }, () => ({ clientIp: `${10 + (ip() & 63)}.${ip()}.${ip()}.${ip()}` }))
}

// ---------------------------------------------------------------------------------------------------------------
// pick + release

/**
 * `body` compiled as a fresh function over `bindings`. Closures created from one function literal share their feedback
 * and optimised code in V8, so contenders built by one literal would each pay for the shapes the previous ones left;
 * every contender gets its own code this way (Benchmark.js compiles its tests the same way).
 */
function isolated(bindings, body) {
  const names = Object.keys(bindings)
  return new Function(...names, `'use strict'; let i = 0; return () => { ${body} }`)(...names.map((n) => bindings[n]))
}

/**
 * Contenders of one pick case. `withOutcome`: release with { ok, latencyMs } (the full cycle), else release() alone.
 * Consistent-hash picks carry a client IP from a fixed list; the others pass no request.
 */
function pickContenders(withOutcome) {
  const requests = clientRequests(CLIENT_KEYS, SEED)
  const outcome = { ok: true, latencyMs: 4 }
  const contenders = ALGORITHMS.map((algorithm) => {
    const lb = new LoadBalancer({ algorithm, backends: backendList(PICK_BACKENDS) })
    const request = algorithm === 'consistent-hash' ? `requests[i++ & ${CLIENT_KEYS - 1}]` : ''
    const fn = isolated({ lb, requests, outcome }, `lb.release(lb.pick(${request})${withOutcome ? ', outcome' : ''})`)
    return { name: algorithm, role: 'ours', fn, lb }
  })
  // The floor: what any balancer costs at least (an index into an array and a counter).
  const floorBackends = backendList(PICK_BACKENDS).map((b) => ({ ...b, outstanding: 0 }))
  contenders.push({
    name: 'floor: array[i++ % n]',
    role: 'baseline',
    fn: isolated(
      { backends: floorBackends },
      `const b = backends[i++ % ${PICK_BACKENDS}]; b.outstanding++; b.outstanding--`,
    ),
  })
  // The naive hand-written balancer: healthy backends filtered on every pick.
  const naiveBackends = backendList(PICK_BACKENDS).map((b) => ({ ...b, healthy: true, outstanding: 0 }))
  contenders.push({
    name: 'naive: filter(healthy) per pick',
    role: 'baseline',
    fn: isolated(
      { backends: naiveBackends },
      'const healthy = backends.filter((b) => b.healthy); const b = healthy[i++ % healthy.length]; b.outstanding++; b.outstanding--',
    ),
  })
  return contenders
}

/** Checks that every balancer contender picks all 8 backends and leaves nothing outstanding. */
function verifyPickContenders(contenders) {
  for (const c of contenders) {
    if (!c.lb) continue
    for (let i = 0; i < 4096; i++) c.fn()
    const stats = c.lb.stats()
    assert.equal(stats.backends.filter((b) => b.requests > 0).length, PICK_BACKENDS, `${c.name} skips backends`)
    assert.equal(
      stats.backends.reduce((sum, b) => sum + b.outstanding, 0),
      0,
      `${c.name} leaves picks outstanding`,
    )
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Allocation: garbage collections during many picks (a scavenge per few MB allocated would show any per-pick garbage)

const ALLOCATION_OPS = 2_000_000

async function measureAllocations() {
  const requests = clientRequests(CLIENT_KEYS, SEED)
  const outcome = { ok: true, latencyMs: 4 }
  const rows = []
  for (const algorithm of ALGORITHMS) {
    const lb = new LoadBalancer({ algorithm, backends: backendList(PICK_BACKENDS) })
    const cycle = new Function(
      'lb',
      'requests',
      'outcome',
      `return (n) => { for (let i = 0; i < n; i++) lb.release(lb.pick(requests[i & ${CLIENT_KEYS - 1}]), outcome) }`,
    )(lb, requests, outcome)
    cycle(500_000) // warm-up: optimised code, no first-use allocations left
    await nextTurn()
    const gcs = []
    const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries()))
    observer.observe({ entryTypes: ['gc'] })
    const heapBefore = process.memoryUsage().heapUsed
    cycle(ALLOCATION_OPS)
    const heapAfter = process.memoryUsage().heapUsed
    await nextTurn()
    await nextTurn()
    observer.disconnect()
    rows.push({ algorithm, operations: ALLOCATION_OPS, gcCount: gcs.length, heapGrowthBytes: heapAfter - heapBefore })
  }
  return rows
}

function printAllocations(rows) {
  console.log(`\nallocation: garbage collections during ${formatNumber(ALLOCATION_OPS)} pick + release(outcome)`)
  printTable(
    ['algorithm', 'GCs', 'heap growth B'],
    rows.map((r) => [r.algorithm, String(r.gcCount), formatNumber(r.heapGrowthBytes)]),
    1,
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Distribution of weighted picks

function measureDistribution() {
  const rows = []
  const total = WEIGHTS.reduce((a, b) => a + b, 0)
  const requests = clientRequests(DISTRIBUTION_PICKS, SEED + 1)
  for (const algorithm of ['weighted-round-robin', 'least-connections', 'p2c-ewma', 'consistent-hash']) {
    const lb = new LoadBalancer({ algorithm, backends: backendList(WEIGHTS.length, WEIGHTS), random: mulberry32(SEED) })
    const counts = new Map()
    for (let i = 0; i < DISTRIBUTION_PICKS; i++) {
      const b = lb.pick(algorithm === 'consistent-hash' ? requests[i] : undefined)
      lb.release(b)
      counts.set(b.id, (counts.get(b.id) ?? 0) + 1)
    }
    const perBackend = backendList(WEIGHTS.length, WEIGHTS).map((b) => {
      const expected = (DISTRIBUTION_PICKS * b.weight) / total
      const got = counts.get(b.id) ?? 0
      return { id: b.id, weight: b.weight, expected, got, relativeError: Math.abs(got - expected) / expected }
    })
    rows.push({
      algorithm,
      picks: DISTRIBUTION_PICKS,
      weights: WEIGHTS,
      maxRelativeError: Math.max(...perBackend.map((b) => b.relativeError)),
      perBackend,
      note:
        algorithm === 'consistent-hash'
          ? `ring shares (${160} points per unit of weight), ${DISTRIBUTION_PICKS} distinct random IPs`
          : algorithm === 'weighted-round-robin'
            ? 'deterministic'
            : 'idle backends (released at once): ties broken at random by weight',
    })
  }
  return rows
}

function printDistribution(rows) {
  console.log(`\ndistribution of ${formatNumber(DISTRIBUTION_PICKS)} picks over weights ${WEIGHTS.join('/')}`)
  printTable(
    ['algorithm', 'counts', 'max rel. error', 'note'],
    rows.map((r) => [
      r.algorithm,
      r.perBackend.map((b) => b.got).join(' / '),
      `${(100 * r.maxRelativeError).toFixed(3)} %`,
      r.note,
    ]),
    2,
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Keys remapped when a backend is added

function measureRemap() {
  const keys = Array.from({ length: REMAP_KEYS }, (_, i) => ({ sessionId: `session-${i}-${(i * 2654435761) >>> 0}` }))
  const rows = []
  for (const n of REMAP_SIZES) {
    const lb = new LoadBalancer({ algorithm: 'consistent-hash', backends: backendList(n) })
    const before = keys.map((k) => lb.pick(k))
    for (const b of before) lb.release(b)
    const added = lb.addBackend({ id: `backend-${n}`, url: 'http://10.1.0.1:8080' })
    const after = keys.map((k) => lb.pick(k))
    for (const b of after) lb.release(b)
    let moved = 0
    let movedElsewhere = 0
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === after[i]) continue
      moved++
      if (after[i] !== added) movedElsewhere++
    }
    const ideal = 1 / (n + 1)
    const fraction = moved / keys.length
    rows.push({ backends: n, keys: REMAP_KEYS, moved, fraction, ideal, ratio: fraction / ideal, movedElsewhere })
  }
  return rows
}

function printRemap(rows) {
  console.log(`\nconsistent-hash: keys remapped when one backend is added to N (${formatNumber(REMAP_KEYS)} keys)`)
  printTable(
    ['N', 'moved', 'moved share', 'ideal 1/(N+1)', 'x ideal', 'moved between old backends'],
    rows.map((r) => [
      String(r.backends),
      formatNumber(r.moved),
      `${(100 * r.fraction).toFixed(2)} %`,
      `${(100 * r.ideal).toFixed(2)} %`,
      r.ratio.toFixed(3),
      String(r.movedElsewhere),
    ]),
    1,
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Simulation: one backend turns 10x slower

const SIM = Object.freeze({
  backends: 4,
  concurrency: 8, // requests each backend serves at once; more wait in its FIFO queue
  medianServiceMs: 10,
  sigma: 0.5, // lognormal service times: p99 ≈ 3.2 × median
  slowFactor: 10,
  arrivalsPerSecond: 240,
  durationMs: 120_000,
  slowFromMs: 20_000,
  seeds: [1, 2, 3, 4, 5],
})

/** A binary min-heap of events ordered by time (ties by insertion order, so runs are deterministic). */
class EventQueue {
  constructor() {
    this.items = []
    this.sequence = 0
  }
  push(time, event) {
    event.time = time
    event.sequence = this.sequence++
    const items = this.items
    items.push(event)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(items[i], items[parent])) break
      ;[items[i], items[parent]] = [items[parent], items[i]]
      i = parent
    }
  }
  pop() {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length > 0) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < items.length && before(items[l], items[m])) m = l
        if (r < items.length && before(items[r], items[m])) m = r
        if (m === i) break
        ;[items[i], items[m]] = [items[m], items[i]]
        i = m
      }
    }
    return top
  }
  get size() {
    return this.items.length
  }
}

function before(a, b) {
  return a.time < b.time || (a.time === b.time && a.sequence < b.sequence)
}

/**
 * One run: Poisson arrivals, each picked by the balancer, served by its backend (lognormal service times, `concurrency`
 * slots, FIFO queue), released with the latency the client saw (queueing included) on the virtual clock.
 */
function simulate(algorithm, seed) {
  const random = mulberry32(seed)
  const serviceRandom = mulberry32(seed * 7919 + 1)
  let now = 0
  const lb = new LoadBalancer({ algorithm, backends: backendList(SIM.backends), now: () => now, random })
  const servers = lb.backends().map((handle, i) => ({ handle, index: i, busy: 0, queue: [], served: 0 }))
  const byId = new Map(servers.map((s) => [s.handle.id, s]))
  const events = new EventQueue()
  const latencies = []
  let slowServed = 0
  const serviceTime = (server, at) => {
    // Box-Muller normal → lognormal around the median.
    const u = 1 - serviceRandom()
    const v = serviceRandom()
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
    const slow = server.index === SIM.backends - 1 && at >= SIM.slowFromMs ? SIM.slowFactor : 1
    return SIM.medianServiceMs * slow * Math.exp(SIM.sigma * z)
  }
  const start = (server, request) => {
    server.busy++
    events.push(now + serviceTime(server, now), { kind: 'done', server, request })
  }
  events.push(0, { kind: 'arrival' })
  while (events.size > 0) {
    const event = events.pop()
    now = event.time
    if (event.kind === 'arrival') {
      const next = now - Math.log(1 - random()) * (1000 / SIM.arrivalsPerSecond)
      if (next < SIM.durationMs) events.push(next, { kind: 'arrival' })
      const handle = lb.pick()
      const server = byId.get(handle.id)
      const request = { arrivedAt: now, handle }
      if (server.busy < SIM.concurrency) start(server, request)
      else server.queue.push(request)
    } else {
      const { server, request } = event
      server.busy--
      server.served++
      const latencyMs = now - request.arrivedAt
      lb.release(request.handle, { ok: true, latencyMs })
      if (request.arrivedAt >= SIM.slowFromMs) {
        latencies.push(latencyMs)
        if (server.index === SIM.backends - 1) slowServed++
      }
      if (server.queue.length > 0) start(server, server.queue.shift())
    }
  }
  latencies.sort((a, b) => a - b)
  const quantile = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  return {
    requests: latencies.length,
    p50Ms: quantile(0.5),
    p99Ms: quantile(0.99),
    p999Ms: quantile(0.999),
    maxMs: latencies[latencies.length - 1],
    slowShare: slowServed / latencies.length,
  }
}

function measureSimulation() {
  const algorithms = ['round-robin', 'least-connections', 'p2c-ewma']
  const runs = Object.fromEntries(algorithms.map((a) => [a, SIM.seeds.map((seed) => simulate(a, seed))]))
  const summary = algorithms.map((algorithm) => {
    const r = runs[algorithm]
    const pick = (key) => median(r.map((x) => x[key]))
    return {
      algorithm,
      p50Ms: pick('p50Ms'),
      p99Ms: pick('p99Ms'),
      p999Ms: pick('p999Ms'),
      maxMs: Math.max(...r.map((x) => x.maxMs)),
      slowShare: pick('slowShare'),
      requests: pick('requests'),
    }
  })
  const rr = runs['round-robin']
  const p2c = runs['p2c-ewma']
  const ratios = SIM.seeds.map((_, i) => rr[i].p99Ms / p2c[i].p99Ms)
  return {
    parameters: SIM,
    summary,
    runs,
    p99RatioRoundRobinOverP2c: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), ratios },
  }
}

function printSimulation(sim) {
  const p = sim.parameters
  console.log(
    `\nsimulation: ${p.backends} backends × ${p.concurrency} slots, lognormal service (median ${p.medianServiceMs} ms,` +
      ` σ ${p.sigma}), ${p.arrivalsPerSecond} req/s Poisson for ${p.durationMs / 1000} s; from ${p.slowFromMs / 1000} s` +
      ` one backend is ${p.slowFactor}× slower. Latencies of requests after the slowdown; medians over` +
      ` ${p.seeds.length} seeds`,
  )
  printTable(
    ['algorithm', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'share to slow backend'],
    sim.summary.map((s) => [
      s.algorithm,
      formatNumber(s.p50Ms),
      formatNumber(s.p99Ms),
      formatNumber(s.p999Ms),
      formatNumber(s.maxMs),
      `${(100 * s.slowShare).toFixed(2)} %`,
    ]),
    1,
  )
  const r = sim.p99RatioRoundRobinOverP2c
  console.log(`p99 round-robin / p99 p2c-ewma: ${r.median.toFixed(2)}x (seeds ${r.min.toFixed(2)}-${r.max.toFixed(2)})`)
}

// ---------------------------------------------------------------------------------------------------------------

function evaluate(cases, distribution, remap, simulation) {
  const figures = []
  for (const testCase of cases) {
    for (const c of testCase.contenders.filter((x) => x.role === 'ours')) {
      figures.push({
        target: `${testCase.label}: ≤ ${PICK_TARGET_NS} ns/op (spec ${PICK_SPEC_NS})`,
        subject: c.name,
        value: c.nsPerOp,
        display: `${formatNumber(c.nsPerOp)} ns`,
        met: c.nsPerOp <= PICK_TARGET_NS,
        withinSpec: c.nsPerOp <= PICK_SPEC_NS,
      })
    }
  }
  const wrr = distribution.find((d) => d.algorithm === 'weighted-round-robin')
  figures.push({
    target: `weighted error < ${100 * DISTRIBUTION_TARGET} % over 1M picks`,
    subject: 'weighted-round-robin',
    value: wrr.maxRelativeError,
    display: `${(100 * wrr.maxRelativeError).toFixed(4)} %`,
    met: wrr.maxRelativeError < DISTRIBUTION_TARGET,
  })
  for (const r of remap) {
    figures.push({
      target: `remapped keys ≤ ${REMAP_TARGET}x ideal 1/(N+1)`,
      subject: `N=${r.backends}`,
      value: r.ratio,
      display: `${r.ratio.toFixed(3)}x`,
      met: r.ratio <= REMAP_TARGET && r.movedElsewhere === 0,
    })
  }
  const ratio = simulation.p99RatioRoundRobinOverP2c.median
  figures.push({
    target: `p2c-ewma p99 ≥ ${SIM_TARGET}x lower than round robin, one backend 10x slower`,
    subject: 'p2c-ewma',
    value: ratio,
    display: `${ratio.toFixed(2)}x`,
    met: ratio >= SIM_TARGET,
  })
  return figures
}

function printFigures(figures) {
  console.log('\nfigures to reach')
  printTable(
    ['target', 'subject', 'measured', 'met'],
    figures.map((f) => [
      f.target,
      f.subject,
      f.display,
      f.met ? 'yes' : f.withinSpec ? 'MISSED (within spec)' : 'MISSED',
    ]),
    2,
  )
}

const NOTES = [
  'pick cases: 8 backends of weight 1, default options (per-backend breakers and outlier detection on). Each op is' +
    ' one pick and its release; "with outcome" releases { ok: true, latencyMs: 4 } (latency EWMA, breaker window),' +
    ' "no outcome" only drops the outstanding count. Consistent-hash picks carry one of 4096 client IPs.',
  'Ratios are ops/s over the floor baseline within each round (<1: slower than an array index).',
  "Releases read a cached clock refreshed every 10 ms by an unref'd timer (a clock read costs ~50-60 ns here);" +
    ' within a benchmark loop that clock does not move, as within any 10 ms of a real server.',
  'All five balancers share one process, so LoadBalancer.pick calls five picker classes (a megamorphic call site);' +
    ' a service with one algorithm sees a monomorphic one. Each contender is compiled as its own function, so none' +
    ' inherits the feedback of another.',
  'Distribution: backends released at once (all idle), so least-connections and p2c-ewma fall to their weighted' +
    ' random tie-breaks; consistent-hash shares depend on ring points and keys, not only on weights.',
  'Simulation: discrete events on a virtual clock given to the balancer as `now`; latencies include queueing and are' +
    ' what each release reports.',
]

async function run(options) {
  console.log(
    `balancer suite: ${options.rounds} rounds; ratios are contender ops/s / floor baseline ops/s` +
      ` (budget ${PICK_TARGET_NS} ns/op, spec ${PICK_SPEC_NS})`,
  )
  const started = Date.now()
  const cases = []
  for (const withOutcome of [true, false]) {
    const contenders = pickContenders(withOutcome)
    verifyPickContenders(contenders)
    const label = withOutcome ? 'pick + release(outcome)' : 'pick + release() without outcome'
    const result = await runCase(
      { name: `${label}, ${PICK_BACKENDS} backends`, bytes: 0, reference: 'floor: array[i++ % n]', contenders },
      options,
    )
    printCase(result)
    cases.push({ ...result, label })
  }

  const allocations = await measureAllocations()
  printAllocations(allocations)
  const distribution = measureDistribution()
  printDistribution(distribution)
  const remap = measureRemap()
  printRemap(remap)
  const simulation = measureSimulation()
  printSimulation(simulation)

  const figures = evaluate(cases, distribution, remap, simulation)
  printFigures(figures)
  console.log(`\nnotes:\n${NOTES.map((note) => `- ${note}`).join('\n')}`)
  const elapsedSeconds = printSuiteTime(started)

  const file = writeResults('balancer', {
    packages: ['benchmark'],
    parameters: {
      ...options,
      seed: SEED,
      pickBackends: PICK_BACKENDS,
      clientKeys: CLIENT_KEYS,
      weights: WEIGHTS,
      distributionPicks: DISTRIBUTION_PICKS,
      remapKeys: REMAP_KEYS,
      remapSizes: REMAP_SIZES,
      allocationOps: ALLOCATION_OPS,
      simulation: SIM,
      elapsedSeconds,
    },
    cases,
    allocations,
    distribution,
    remap,
    simulation,
    figures,
    readmeTable: figureTable(figures),
    notes: NOTES,
  })
  console.log(`\nwrote ${file}`)
}

module.exports = { run }

runIfMain(module, run)
