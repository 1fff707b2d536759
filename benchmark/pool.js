'use strict'

// pool suite: optlayer's ConnectionPool against generic-pool and tarn, the peers named in the
// pool issue. Measured: acquire + release of an already-created resource (the hot path of
// every pooled call), one caller at a time and 16 callers at once on a pool of 16 (nobody
// waits), plus 16 callers on a pool of 4 (callers queue and resources are handed over on
// release). Every contender runs with the same settings: min = max, resources created before
// timing, no validation, a 30 s acquire timeout, no idle or lifetime eviction within the run.
// Each lent resource is checked not to be lent to two callers at once, and every operation
// is counted, so nobody wins by doing less.

const assert = require('node:assert/strict')
const { setTimeout: sleep } = require('node:timers/promises')
const genericPool = require('generic-pool')
const tarn = require('tarn')
const {
  runIfMain,
  runCase,
  printCase,
  formatNumber,
  median,
  writeResults,
  printFigures,
  printSuiteTime,
} = require('./harness')

const { ConnectionPool } = require('optlayer')

// Operations per measured call: one awaited Benchmark.js deferred per operation would measure
// the deferred machinery more than the pools. Divisible by every concurrency below.
const OPS_PER_CALL = 1024
const ACQUIRE_TIMEOUT_MS = 30_000
const CASES = [
  { concurrency: 1, size: 16, label: 'acquire+release, concurrency 1, pool of 16' },
  { concurrency: 16, size: 16, label: 'acquire+release, concurrency 16, pool of 16' },
  { concurrency: 16, size: 4, label: 'acquire+release, concurrency 16, pool of 4 (callers queue)' },
]
// The targets: measured and reported, never asserted.
const TARGET_VS_GENERIC_POOL = 1.5
const REFERENCE = 'generic-pool'

let nextId = 0
/** The pooled resource: a small object, created synchronously by every pool. */
function makeResource() {
  return { id: ++nextId, busy: false }
}

/** Our pool for a case; the peers' settings in peerPools() are the equivalent ones. */
function ourPool(size, { leakDetection = false } = {}) {
  return new ConnectionPool({
    create: makeResource,
    min: size,
    max: size,
    acquireTimeoutMs: ACQUIRE_TIMEOUT_MS,
    idleTimeoutMs: 0,
    maxLifetimeMs: 0,
    maxConcurrentCreates: size,
    leakDetectionMs: leakDetection ? 60_000 : 0,
  })
}

function peerPools(size) {
  const generic = genericPool.createPool(
    { create: async () => makeResource(), destroy: async () => {} },
    { min: size, max: size, acquireTimeoutMillis: ACQUIRE_TIMEOUT_MS, testOnBorrow: false },
  )
  const tarnPool = new tarn.Pool({
    create: (callback) => callback(null, makeResource()),
    destroy: () => {},
    min: size,
    max: size,
    acquireTimeoutMillis: ACQUIRE_TIMEOUT_MS,
    idleTimeoutMillis: 3_600_000,
  })
  // generic-pool's default is no acquire timeout, which spares it a timer per acquire: shown too.
  const genericNoTimeout = genericPool.createPool(
    { create: async () => makeResource(), destroy: async () => {} },
    { min: size, max: size, testOnBorrow: false },
  )
  return { generic, genericNoTimeout, tarnPool }
}

/**
 * One contender: `fn` runs OPS_PER_CALL acquire+release operations spread over `concurrency`
 * async loops. `acquire` returns a promise of a resource, `release` gives it back. `verify`
 * (untimed) borrows `size` resources at once, then runs loops that hold each resource across
 * a few turns and fails if one is ever lent while borrowed.
 */
function contender(name, role, concurrency, acquire, release) {
  const counts = { operations: 0 }
  const perLoop = OPS_PER_CALL / concurrency
  const loop = async () => {
    for (let i = 0; i < perLoop; i++) release(await acquire())
  }
  const loops = new Array(concurrency)
  const fn =
    concurrency === 1
      ? async () => {
          await loop()
          counts.operations += OPS_PER_CALL
        }
      : async () => {
          for (let i = 0; i < concurrency; i++) loops[i] = loop()
          await Promise.all(loops)
          counts.operations += OPS_PER_CALL
        }
  const verify = async (size) => {
    const all = await Promise.all(Array.from({ length: size }, () => acquire()))
    assert.equal(new Set(all).size, size, `${name} lent one resource twice`)
    for (const resource of all) release(resource)
    const holding = async () => {
      for (let i = 0; i < 200; i++) {
        const resource = await acquire()
        assert.ok(!resource.busy, `${name} lent a resource to two callers at once`)
        resource.busy = true
        await null
        await null
        resource.busy = false
        release(resource)
      }
    }
    await Promise.all(Array.from({ length: 2 * size }, holding))
  }
  return { name, role, async: true, fn, verify, counts }
}

/** The harness timed calls of OPS_PER_CALL operations: rescale its figures to one operation. */
function perOperation(result) {
  for (const c of result.contenders) {
    c.hz = { median: c.hz.median * OPS_PER_CALL, min: c.hz.min * OPS_PER_CALL, max: c.hz.max * OPS_PER_CALL }
    c.hzPerRound = c.hzPerRound.map((hz) => hz * OPS_PER_CALL)
    c.nsPerOp = 1e9 / c.hz.median
    c.mbPerSecond = 0
  }
  return result
}

function ratioBetween(result, name, other) {
  const a = result.contenders.find((c) => c.name === name)
  const b = result.contenders.find((c) => c.name === other)
  const ratios = a.hzPerRound.map((hz, round) => hz / b.hzPerRound[round])
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) }
}

async function runPoolCase({ concurrency, size, label }, options) {
  const ours = ourPool(size)
  const oursLeak = ourPool(size, { leakDetection: true })
  const { generic, genericNoTimeout, tarnPool } = peerPools(size)
  const contenders = [
    contender(
      'optlayer ConnectionPool',
      'ours',
      concurrency,
      () => ours.acquire(),
      (r) => ours.release(r),
    ),
    contender(
      'optlayer, leakDetectionMs on',
      'ours, information',
      concurrency,
      () => oursLeak.acquire(),
      (r) => oursLeak.release(r),
    ),
    contender(
      'generic-pool',
      'peer',
      concurrency,
      () => generic.acquire(),
      (r) => generic.release(r),
    ),
    contender(
      'generic-pool, no acquire timeout',
      'peer, information',
      concurrency,
      () => genericNoTimeout.acquire(),
      (r) => genericNoTimeout.release(r),
    ),
    contender(
      'tarn',
      'peer',
      concurrency,
      () => tarnPool.acquire().promise,
      (r) => tarnPool.release(r),
    ),
  ]
  // Creating every resource before timing (tarn creates `min` only on demand), and checking
  // that no contender lends a resource to two callers at once while they hold it across turns.
  for (const c of contenders) await c.verify(size)
  const started = Date.now()
  const result = perOperation(await runCase({ name: label, bytes: 0, reference: REFERENCE, contenders }, options))
  result.elapsedSeconds = (Date.now() - started) / 1000
  result.concurrency = concurrency
  result.poolSize = size

  // Same work, done right: every contender ran, never lent one resource twice, and ended
  // with every resource back and nothing created beyond the pool's size.
  for (const c of contenders) assert.ok(c.counts.operations > 0, `${c.name} did no operation`)
  for (const pool of [ours, oursLeak]) {
    const s = pool.stats()
    assert.deepEqual([s.size, s.active, s.waiting, s.creations], [size, 0, 0, size])
  }
  for (const pool of [generic, genericNoTimeout])
    assert.deepEqual([pool.size, pool.borrowed, pool.pending], [size, 0, 0])
  assert.deepEqual([tarnPool.numUsed(), tarnPool.numFree(), tarnPool.numPendingAcquires()], [0, size, 0])
  for (const [i, c] of result.contenders.entries()) {
    c.details = { operations: contenders[i].counts.operations }
    c.vsTarn = ratioBetween(result, c.name, 'tarn')
    c.vsGenericPoolDefault = ratioBetween(result, c.name, 'generic-pool, no acquire timeout')
  }
  result.oursAcquireLatencyMs = ours.stats().acquireLatencyMs

  await ours.close()
  await oursLeak.close()
  for (const pool of [generic, genericNoTimeout]) {
    await pool.drain()
    await pool.clear()
  }
  await tarnPool.destroy()
  return result
}

function evaluateTargets(cases) {
  return cases
    .filter((c) => c.poolSize === c.concurrency || c.concurrency === 1)
    .map((c) => {
      const ours = c.contenders.find((x) => x.role === 'ours')
      return {
        target: `acquire+release ≥ ${TARGET_VS_GENERIC_POOL}× generic-pool`,
        case: c.name,
        ratio: ours.vsReference,
        figure: `${ours.vsReference.median.toFixed(2)}× (${ours.vsReference.min.toFixed(2)}–${ours.vsReference.max.toFixed(2)})`,
        met: ours.vsReference.median >= TARGET_VS_GENERIC_POOL,
      }
    })
}

const ratioText = (ratio) => `${ratio.median.toFixed(2)}× (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})`

function readmeTable(cases) {
  const rows = []
  for (const c of cases) {
    for (const x of c.contenders.filter((x) => x.role.startsWith('ours'))) {
      rows.push([
        c.name,
        x.name,
        `${formatNumber(x.nsPerOp)} ns/op`,
        `${ratioText(x.vsReference)} generic-pool; ${ratioText(x.vsGenericPoolDefault)} generic-pool without` +
          ` acquire timeout; ${ratioText(x.vsTarn)} tarn`,
      ])
    }
  }
  return {
    headers: ['measure', 'contender', 'ours', 'ops/s vs peers (median, min–max of rounds)'],
    align: ['left', 'left', 'right', 'left'],
    rows,
  }
}

const NOTES = [
  `Each measured call runs ${OPS_PER_CALL} acquire+release operations over the case's concurrency (async loops` +
    ' that each await acquire() and release the resource at once); figures are' +
    ' per operation. Ratios are ops/s over generic-pool within each round.',
  'Same settings for all: min = max = the pool size, resources created before timing (a small object, created' +
    ' synchronously), no validation on borrow, acquire timeout 30 s, no idle or lifetime eviction during the run.' +
    ' generic-pool release() returns a promise that is not awaited (it releases synchronously); tarn is used' +
    ' through acquire().promise.',
  'Checked before timing (untimed loops that hold each resource across turns): no resource is ever lent to two' +
    ' callers at once; after each case: every contender did its operations, all resources were back and none' +
    ' was created beyond the pool size.',
  'Where the time goes: optlayer lends an idle resource allocating only the returned promise, keeps waiters in an' +
    ' intrusive FIFO and arms one timer for the whole queue; generic-pool makes a ResourceRequest (a deferred)' +
    ' per acquire and, with acquireTimeoutMillis, a timer per acquire (the "no acquire timeout" row is its' +
    ' default configuration, for information); tarn makes a PendingOperation with a timer per acquire.',
  '"leakDetectionMs on" captures the acquiring stack per acquire (Error.captureStackTrace, frames formatted only' +
    ' for a reported leak): the price of leak detection, shown for information.',
]

async function run(options) {
  console.log(
    `pool suite: ${options.rounds} rounds${options.quick ? ' (quick)' : ''}; ratios are ops/s over ${REFERENCE}` +
      ' (>1: faster than the peer)',
  )
  const started = Date.now()
  const cases = []
  for (const spec of CASES) {
    const result = await runPoolCase(spec, options)
    printCase(result, { operations: 'ops done' })
    cases.push(result)
  }
  const figures = evaluateTargets(cases)
  printFigures(
    '',
    'case',
    figures.map((f) => [f.target, f.case, f.figure, f.met]),
    2,
  )
  console.log(`\nnotes:\n${NOTES.map((note) => `- ${note}`).join('\n')}`)
  const elapsedSeconds = printSuiteTime(started)

  const file = writeResults('pool', {
    packages: ['generic-pool', 'tarn', 'benchmark'],
    parameters: {
      ...options,
      opsPerCall: OPS_PER_CALL,
      acquireTimeoutMs: ACQUIRE_TIMEOUT_MS,
      cases: CASES,
      targetVsGenericPool: TARGET_VS_GENERIC_POOL,
      elapsedSeconds,
    },
    cases,
    figures,
    readmeTable: readmeTable(cases),
    notes: NOTES,
  })
  console.log(`\nwrote ${file}`)
}

module.exports = { run }

runIfMain(module, run)
