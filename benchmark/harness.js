'use strict'

// Side-by-side measurement: the machine's speed drifts,
// so every contender of a case runs in the same process, interleaved round by round, and
// each ratio is taken between measurements of the same round before the median is taken.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { monitorEventLoopDelay } = require('node:perf_hooks')
const Benchmark = require('benchmark')

const REPO_ROOT = path.join(__dirname, '..')
const RESULTS_DIR = path.join(__dirname, 'results')

/** Role of contenders a user picks when no native code is wanted (fflate, snappyjs, …): each suite's README rows give our ratio to it. */
const BASELINE_ROLE = 'baseline, pure JS'

const FULL_DEFAULTS = { rounds: 5, maxTime: 0.4 }
const QUICK_DEFAULTS = { rounds: 2, maxTime: 0.05 }
// Benchmark.js keeps sampling until both limits are met; 3 samples suffice because the
// spread that matters is the one across rounds.
const MIN_SAMPLES = 3

/**
 * Run parameters from the environment: BENCH_QUICK=1 for a smoke run, BENCH_ROUNDS and
 * BENCH_MAX_TIME (seconds of sampling per contender per round) to override either mode.
 */
function loadOptions(env = process.env) {
  const quick = env.BENCH_QUICK === '1'
  const defaults = quick ? QUICK_DEFAULTS : FULL_DEFAULTS
  const rounds = envNumber(env, 'BENCH_ROUNDS', defaults.rounds)
  if (!Number.isInteger(rounds)) throw new Error(`BENCH_ROUNDS must be an integer, got ${env.BENCH_ROUNDS}`)
  const maxTime = envNumber(env, 'BENCH_MAX_TIME', defaults.maxTime)
  // The warm-up only needs to get the JIT and native contexts hot, not to be measured well.
  return { quick, rounds, maxTime, warmupTime: maxTime / 4 }
}

function envNumber(env, name, fallback) {
  if (env[name] === undefined || env[name] === '') return fallback
  const value = Number(env[name])
  if (!(value > 0)) throw new Error(`${name} must be a positive number, got ${env[name]}`)
  return value
}

/** Operations per second of one contender over `maxTime` seconds, through Benchmark.js. */
function measureHz(contender, maxTime) {
  return new Promise((resolve, reject) => {
    let rejection
    // Deferred benchmarks time from the call to deferred.resolve(), so one promise is in
    // flight at a time: this measures latency, including any hop to the thread pool.
    const fn = contender.async
      ? (deferred) =>
          contender.fn().then(
            () => deferred.resolve(),
            (err) => {
              rejection = err
              deferred.resolve()
            },
          )
      : contender.fn
    const bench = new Benchmark(contender.name, {
      fn,
      defer: Boolean(contender.async),
      maxTime,
      minTime: maxTime / 8,
      minSamples: MIN_SAMPLES,
    })
    bench.on('complete', () => {
      const error = bench.error ?? rejection
      if (error) reject(new Error(`${contender.name} failed while measured`, { cause: error }))
      else resolve(bench.hz)
    })
    bench.run({ async: false })
  })
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function spread(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) }
}

/**
 * Measures every contender of one case: a warm-up pass, then `rounds` rounds that each
 * measure every contender once.
 *
 * @param {object} testCase
 * @param {string} testCase.name
 * @param {number} testCase.bytes payload size behind one operation, for MB/s
 * @param {string} testCase.reference name of the contender that ratios are taken against
 * @param {Array<{name: string, role: string, fn: Function, async?: boolean, details?: object}>} testCase.contenders
 *   `fn` does one operation (returning a promise when `async`); `details` is reported as is.
 */
async function runCase(testCase, options) {
  const { contenders } = testCase
  const referenceIndex = contenders.findIndex((c) => c.name === testCase.reference)
  if (referenceIndex < 0) throw new Error(`${testCase.name}: no contender named ${testCase.reference}`)

  for (const contender of contenders) await measureHz(contender, options.warmupTime)

  const hzByContender = contenders.map(() => [])
  for (let round = 0; round < options.rounds; round++) {
    // Rotating the starting contender spreads the cost of any position in the round
    // (such as garbage left by the previous contender) over all of them.
    for (let step = 0; step < contenders.length; step++) {
      const index = (round + step) % contenders.length
      hzByContender[index].push(await measureHz(contenders[index], options.maxTime))
    }
  }

  const referenceHz = hzByContender[referenceIndex]
  return {
    name: testCase.name,
    bytes: testCase.bytes,
    reference: testCase.reference,
    contenders: contenders.map((contender, i) => {
      const hz = spread(hzByContender[i])
      return {
        name: contender.name,
        role: contender.role,
        hz,
        nsPerOp: 1e9 / hz.median,
        mbPerSecond: (hz.median * testCase.bytes) / 1e6,
        hzPerRound: hzByContender[i],
        // Ratios within a round cancel the drift between rounds.
        vsReference: spread(hzByContender[i].map((value, round) => value / referenceHz[round])),
        details: contender.details ?? {},
      }
    }),
  }
}

/**
 * Event-loop delay while `work` runs, from perf_hooks.monitorEventLoopDelay sampling every
 * millisecond, with the wall time the work took.
 */
async function measureEventLoopDelay(work) {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  const start = process.hrtime.bigint()
  await work()
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6
  histogram.disable()
  const ms = (ns) => ns / 1e6
  return {
    wallMs,
    p50Ms: ms(histogram.percentile(50)),
    p99Ms: ms(histogram.percentile(99)),
    maxMs: ms(histogram.max),
  }
}

/** Table number: rounded with thousands separators from 100 up (and for integers), else 3 significant digits. */
function formatNumber(value) {
  if (value === null) return '-'
  if (Number.isInteger(value) || Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US')
  return value.toPrecision(3)
}

/** Ratio for a table: 3 significant digits, so that 0.0123 and 14.7 both keep their information. */
function formatRatio(value) {
  return value >= 1000 ? Math.round(value).toLocaleString('en-US') : value.toPrecision(3)
}

/** Prints rows (arrays of cells) under headers: the first `textColumns` left-aligned, the rest right-aligned. */
function printTable(headers, rows, textColumns = 2) {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => row[column].length)))
  const line = (cells) =>
    cells
      .map((cell, column) => (column < textColumns ? cell.padEnd(widths[column]) : cell.padStart(widths[column])))
      .join('  ')
  console.log(line(headers))
  for (const row of rows) console.log(line(row))
}

/**
 * Prints one case: speed with its spread across rounds, the ratio to the reference, then
 * the contender details under the labels of `detailLabels` ({ key: label }).
 */
function printCase(result, detailLabels = {}) {
  const detailKeys = Object.keys(detailLabels)
  console.log(`\n${result.name}`)
  printTable(
    [
      'contender',
      'role',
      'ops/s',
      'ns/op',
      'MB/s',
      'ops/s min-max',
      `x ${result.reference}`,
      'ratio min-max',
      ...detailKeys.map((key) => detailLabels[key]),
    ],
    result.contenders.map((c) => [
      c.name,
      c.role,
      formatNumber(c.hz.median),
      formatNumber(c.nsPerOp),
      formatNumber(c.mbPerSecond),
      `${formatNumber(c.hz.min)}-${formatNumber(c.hz.max)}`,
      formatRatio(c.vsReference.median),
      `${formatRatio(c.vsReference.min)}-${formatRatio(c.vsReference.max)}`,
      ...detailKeys.map((key) => (typeof c.details[key] === 'number' ? formatNumber(c.details[key]) : c.details[key])),
    ]),
  )
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'))
}

/** Version of an installed package, from the package.json above its resolved entry point. */
function packageVersion(name) {
  let dir = path.dirname(require.resolve(name))
  for (;;) {
    const file = path.join(dir, 'package.json')
    // Subdirectories of a package may hold their own package.json (e.g. {"type": ...}).
    if (fs.existsSync(file) && readJson(file).name === name) return readJson(file).version
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`no package.json for ${name}`)
    dir = parent
  }
}

function cpuCount() {
  return os.availableParallelism?.() ?? os.cpus().length
}

function machineInfo(packages) {
  return {
    nproc: cpuCount(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    totalMemoryBytes: os.totalmem(),
    // The machine is shared: the load at the end of the run says how busy it was.
    loadAverage: os.loadavg(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    optlayer: readJson(path.join(REPO_ROOT, 'package.json')).version,
    packages: Object.fromEntries(packages.map((name) => [name, packageVersion(name)])),
  }
}

/**
 * Writes benchmark/results/<suite>.json: machine, parameters and every section given
 * (cases, other measurements, notes), stamped with the time. Returns the file path.
 */
/** The codec number of lz4 in the raw binding's `Codec` enum (index.d.ts). */
const RAW_CODEC_LZ4 = 7
const REFERENCE_KEYS = 1000
const REFERENCE_CALLS = 1_000_000

/**
 * Two fixed operations timed in the run that wrote a suite's figures, best of 5 × 10^6
 * calls: a JavaScript `Map.get` of a present key among 1,000, and an N-API call that does
 * next to nothing (the raw binding's `compressBound`, arithmetic only). Absolute figures
 * move 2× between days and hosts of the same kind; these move with them, so a reader can
 * tell a slower machine from a regression by comparing a figure with its run's references.
 */
function measureReferenceOps() {
  const native = require(path.join(REPO_ROOT, 'index.js'))
  const map = new Map(Array.from({ length: REFERENCE_KEYS }, (_, i) => [`key:${i}`, i]))
  const keys = [...map.keys()]
  const bestNs = (op) => {
    let best = Infinity
    let sink = 0
    for (let round = 0; round < 5; round++) {
      const start = process.hrtime.bigint()
      for (let i = 0; i < REFERENCE_CALLS; i++) sink += op(i)
      best = Math.min(best, Number(process.hrtime.bigint() - start) / REFERENCE_CALLS)
    }
    // Used, so that the loop is not optimised away.
    if (sink === -1) console.log(sink)
    return Number(best.toFixed(1))
  }
  return {
    mapGetNs: bestNs((i) => map.get(keys[i % REFERENCE_KEYS])),
    napiCallNs: bestNs((i) => native.compressBound(RAW_CODEC_LZ4, i & 1023)),
  }
}

function writeResults(suite, { packages, parameters, ...sections }) {
  const file = path.join(RESULTS_DIR, `${suite}.json`)
  const referenceOps = measureReferenceOps()
  console.log(
    `\nreference operations in this run: Map.get ${referenceOps.mapGetNs} ns, empty N-API call ${referenceOps.napiCallNs} ns`,
  )
  const document = {
    suite,
    timestamp: new Date().toISOString(),
    machine: machineInfo(packages),
    referenceOps,
    parameters,
    ...sections,
  }
  fs.mkdirSync(RESULTS_DIR, { recursive: true })
  fs.writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`)
  return file
}

/**
 * A README table of a suite's figures against their targets (`{ target, subject,
 * display, met }` each), for suites whose results are not one ns/op per case.
 */
function figureTable(figures) {
  return {
    headers: ['target', 'subject', 'measured', 'met'],
    align: ['left', 'left', 'right', 'left'],
    rows: figures.map((f) => [f.target, f.subject, f.display, f.met ? 'yes' : '**no**']),
  }
}

/**
 * Runs a suite when its file is the entry point (`node benchmark/<suite>.js`), alone and
 * without touching benchmark/README.md; `npm run bench` goes through run.js instead.
 */
function runIfMain(suiteModule, run) {
  if (require.main !== suiteModule) return
  run(loadOptions()).catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}

/**
 * Prints the figures to reach, one row `[target, subject, measured, met]` each, and
 * returns nothing: the figures go to the results file as they are.
 */
function printFigures(title, subjectHeader, rows, textColumns) {
  console.log(`\nfigures to reach${title ? ` (${title})` : ''}`)
  printTable(
    ['target', subjectHeader, 'measured', 'met'],
    rows.map(([target, subject, measured, met]) => [target, subject, measured, met ? 'yes' : 'MISSED']),
    textColumns,
  )
}

/** Prints how long the suite took since `started` (ms epoch) and returns the seconds. */
function printSuiteTime(started) {
  const elapsedSeconds = (Date.now() - started) / 1000
  console.log(`\nsuite time ${elapsedSeconds.toFixed(0)} s`)
  return elapsedSeconds
}

module.exports = {
  BASELINE_ROLE,
  printFigures,
  printSuiteTime,
  cpuCount,
  figureTable,
  runIfMain,
  loadOptions,
  runCase,
  printCase,
  printTable,
  formatNumber,
  measureEventLoopDelay,
  median,
  writeResults,
}
