'use strict'

// ratelimit suite: optlayer's RateLimiter against the peers named in the rate-limiting issue.
// 1. Local decisions (ns/op) on 1 key and on 1,000,000 keys: allowSync against a minimal
//    pure-JS token bucket on a Map and rate-limiter-flexible's RateLimiterMemory.
// 2. Memory per key at 1M and 10M keys (RSS and V8 heapUsed), each in a fresh child process
//    (ratelimit-memory.js), against the pure-JS Map bucket.
// 3. Distributed decisions per second at concurrency 64 against RateLimiterRedis, on a private
//    redis-server this suite starts on a free port (never the machine's 6379), with and
//    without optlayer's lease batching.
// Decisions are counted and checked (all admitted under the high limits of the speed cases;
// equal admitted counts at a small limit), so nobody wins by doing less.
// Parts: ratelimit-common.js, ratelimit-local.js, ratelimit-redis.js.

const { RateLimiterMemory } = require('rate-limiter-flexible')
const {
  runIfMain,
  printCase,
  printTable,
  formatNumber,
  median,
  writeResults,
  printFigures,
  printSuiteTime,
} = require('./harness')
const {
  SEED,
  CALL_BATCH,
  LOCAL_KEY_COUNTS,
  HIGH_LIMIT,
  HOUR_MS,
  SMALL_LIMIT,
  CHECK_KEYS,
  CHECK_REQUESTS_PER_KEY,
  BUDGET_NS,
  MEMORY_KEY_COUNTS,
  QUICK_MEMORY_KEY_COUNTS,
  CONCURRENCY,
  DISTRIBUTED_KEYS,
  DISTRIBUTED_LIMIT,
  BATCH_SIZE,
  buildInfo,
  keyOf,
  JsTokenBucket,
} = require('./ratelimit-common')
const { LOCAL_DETAILS, localCase, checkSameDecisions, measureMemory, printMemory } = require('./ratelimit-local')
const { measureDistributed, printDistributed } = require('./ratelimit-redis')

// ---------------------------------------------------------------------------------------
// Figures to reach and the README rows

function evaluateTargets(cases, memory, distributed) {
  const rows = []
  for (const testCase of cases) {
    const ours = testCase.contenders.find((c) => c.name === 'optlayer allowSync token-bucket')
    rows.push({
      target: `allowSync <= ${BUDGET_NS} ns/op`,
      case: testCase.name,
      figure: `${formatNumber(ours.nsPerOp)} ns/op`,
      met: ours.nsPerOp <= BUDGET_NS,
    })
    rows.push({
      target: 'allowSync >= 5x RateLimiterMemory decisions/s',
      case: testCase.name,
      figure: `${ours.vsReference.median.toFixed(2)}x (${ours.vsReference.min.toFixed(2)}-${ours.vsReference.max.toFixed(2)})`,
      met: ours.vsReference.median >= 5,
    })
  }
  const largest = Math.max(...memory.map((m) => m.keys))
  const ours = memory.find((m) => m.keys === largest && m.implementation === 'optlayer')
  rows.push({
    target: '<= 100 B/key (RSS) with the V8 heap unchanged (< 1 B/key)',
    case: `${formatNumber(largest)} keys`,
    figure: `${ours.rssBytesPerKey.toFixed(1)} B/key RSS, ${ours.heapUsedBytesPerKey.toFixed(2)} B/key heap`,
    met: ours.rssBytesPerKey <= 100 && Math.abs(ours.heapUsedBytesPerKey) < 1,
  })
  for (const c of distributed.contenders.filter((c) => c.role.startsWith('ours'))) {
    const ratio = c.batched ? 5 : 1.5
    rows.push({
      target: `distributed${c.batched ? ', batched,' : ''} >= ${ratio}x RateLimiterRedis`,
      case: c.name,
      figure: `${c.vsReference.median.toFixed(2)}x (${c.vsReference.min.toFixed(2)}-${c.vsReference.max.toFixed(2)})`,
      met: c.vsReference.median >= ratio,
    })
  }
  return rows
}

function printTargets(rows) {
  printFigures(
    '',
    'case',
    rows.map((r) => [r.target, r.case, r.figure, r.met]),
    3,
  )
}

const ratioText = (ratio) => `${ratio.median.toFixed(2)}× (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})`

/** The README table of this suite: measure, contender, figure, comparison. */
function readmeTable(cases, memory, distributed) {
  const rows = []
  for (const testCase of cases) {
    const find = (name) => testCase.contenders.find((c) => c.name === name)
    const ours = find('optlayer allowSync token-bucket')
    const js = find('pure-JS Map token bucket')
    const jsRatio = {
      median: median(ours.hzPerRound.map((hz, round) => hz / js.hzPerRound[round])),
      min: Math.min(...ours.hzPerRound.map((hz, round) => hz / js.hzPerRound[round])),
      max: Math.max(...ours.hzPerRound.map((hz, round) => hz / js.hzPerRound[round])),
    }
    rows.push([
      testCase.name,
      ours.name,
      `${formatNumber(ours.nsPerOp)} ns/op`,
      `${ratioText(ours.vsReference)} RateLimiterMemory (awaited); ${ratioText(jsRatio)} pure-JS Map bucket`,
    ])
  }
  for (const keys of [...new Set(memory.map((m) => m.keys))]) {
    const ours = memory.find((m) => m.keys === keys && m.implementation === 'optlayer')
    const js = memory.find((m) => m.keys === keys && m.implementation === 'js-map')
    rows.push([
      `memory per key, ${formatNumber(keys)} keys`,
      'optlayer token-bucket',
      `${ours.rssBytesPerKey.toFixed(1)} B RSS, ${ours.heapUsedBytesPerKey.toFixed(1)} B heap`,
      `${(ours.rssBytesPerKey / js.rssBytesPerKey).toFixed(2)}× the RSS of the pure-JS Map bucket ` +
        `(${js.rssBytesPerKey.toFixed(1)} B RSS, ${js.heapUsedBytesPerKey.toFixed(1)} B heap)`,
    ])
  }
  for (const c of distributed.contenders.filter((c) => c.role.startsWith('ours'))) {
    rows.push([
      `Redis decisions/s, concurrency ${distributed.concurrency}`,
      c.name,
      `${formatNumber(c.decisionsPerSecond.median)} /s`,
      `${ratioText(c.vsReference)} RateLimiterRedis`,
    ])
  }
  return {
    headers: ['measure', 'contender', 'ours', 'vs peers (median, min–max of rounds)'],
    align: ['left', 'left', 'right', 'left'],
    rows,
  }
}

const NOTES = [
  `Local cases: every measured call makes ${CALL_BATCH} decisions over the case's keys (pre-generated strings` +
    ' "key:<i>", visited in a seeded shuffled order, wrapping around); figures are per decision. All keys are' +
    ' tracked before timing (one pass per contender). Ratios are decisions/s over the reference' +
    ' (RateLimiterMemory awaited one by one, as a middleware awaits each consume) within each round.',
  `Speed cases run at a limit of ${formatNumber(HIGH_LIMIT)} per hour, which no contender reaches: every decision` +
    ' of every contender was checked to be an admission. A separate check at a limit of' +
    ` ${SMALL_LIMIT} per hour (${CHECK_KEYS} keys × ${CHECK_REQUESTS_PER_KEY} requests, interleaved) verified that` +
    ' every implementation admits exactly the limit per key and reports the same remaining after each decision.',
  "RateLimiterMemory is a fixed window counted from a key's first request, with a setTimeout per key to delete it;" +
    ' its consume() returns a promise (rejected when denied) and prefixes the key ("rlflx:"). It is measured awaited' +
    ` one by one and as Promise.all of ${CALL_BATCH}. "optlayer await allow()" is our promise-returning API on the` +
    ' same native store, for the like-for-like async comparison.',
  'The pure-JS Map bucket is the minimal implementation written in this file (performance.now() clock, one' +
    ' { tokens, updatedAt } object per key, never evicted).',
  'Memory: each figure is (after − before) / keys in a fresh `node --expose-gc` child that inserts the keys' +
    ' ("key:<i>" generated from a counter, not retained by the child) into one limiter, with gc() before each' +
    ' reading. The native store keeps a 64-bit hash per key, not the key; the Map keeps the key strings. The' +
    ' "key strings alone" row holds the same strings in an array (8 B/key of it is the array slot): the part of' +
    " the Map's figure that is its keys. peak RSS is VmHWM, the high-water mark while the tables grew.",
  `Distributed: ${CONCURRENCY} async loops, each awaiting one decision at a time, over ${DISTRIBUTED_KEYS} keys in` +
    ` a seeded order, limit ${formatNumber(DISTRIBUTED_LIMIT)} per hour (no denials: checked), against a private` +
    ' redis-server on 127.0.0.1 sharing the 2 cores. Every optlayer decision was made by Redis (no fallback:' +
    ' checked). Both sides use one ioredis connection; RateLimiterRedis gets enableOfflineQueue: false as its docs' +
    ` advise. Batching leases ${BATCH_SIZE} units per key per round trip for 100 ms (the default leaseMs): with` +
    ` ${DISTRIBUTED_KEYS} keys visited in turn, a key comes back every ${DISTRIBUTED_KEYS} decisions, so how much` +
    ' of each lease is used before it expires depends on the throughput (see redis cmds/dec).' +
    " Ours corks its connection's socket for the commands of one tick (flushed every 16 and at the tick's end);" +
    ' RateLimiterRedis writes each command as ioredis does by default.',
]

async function run(options) {
  console.log(
    `ratelimit suite: ${options.rounds} rounds${options.quick ? ' (quick)' : ''}; local ratios are decisions/s over` +
      ' RateLimiterMemory awaited one by one, distributed ratios over RateLimiterRedis (>1: faster than the peer)',
  )
  const started = Date.now()
  const build = buildInfo()

  const same = await checkSameDecisions()
  console.log('\nsame-decision check (local, small limit):')
  printTable(
    ['implementation', 'decisions', 'admitted', 'same as first'],
    same.implementations.map((r) => [
      r.name,
      formatNumber(r.decisions),
      formatNumber(r.admitted),
      formatNumber(r.sameDecisionAndRemainingAsFirst),
    ]),
    1,
  )

  const cases = []
  for (const keyCount of LOCAL_KEY_COUNTS) {
    const caseStarted = Date.now()
    const result = await localCase(keyCount, options)
    result.elapsedSeconds = (Date.now() - caseStarted) / 1000
    printCase(result, LOCAL_DETAILS)
    cases.push(result)
  }

  const memory = await measureMemory(options)
  printMemory(memory)

  const distributed = await measureDistributed(options)
  printDistributed(distributed)

  const figures = evaluateTargets(cases, memory, distributed)
  printTargets(figures)
  console.log(`\nnotes:\n${NOTES.map((note) => `- ${note}`).join('\n')}`)
  const elapsedSeconds = printSuiteTime(started)

  const file = writeResults('ratelimit', {
    packages: ['rate-limiter-flexible', 'ioredis', 'benchmark'],
    parameters: {
      ...options,
      seed: SEED,
      decisionsPerCall: CALL_BATCH,
      localKeyCounts: LOCAL_KEY_COUNTS,
      highLimit: HIGH_LIMIT,
      windowMs: HOUR_MS,
      memoryKeyCounts: options.quick ? QUICK_MEMORY_KEY_COUNTS : MEMORY_KEY_COUNTS,
      concurrency: CONCURRENCY,
      distributedKeys: DISTRIBUTED_KEYS,
      distributedLimit: DISTRIBUTED_LIMIT,
      batchSize: BATCH_SIZE,
      budgetNs: BUDGET_NS,
      build,
      elapsedSeconds,
    },
    sameDecisionCheck: same,
    cases,
    memory,
    distributed,
    figures,
    readmeTable: readmeTable(cases, memory, distributed),
    notes: NOTES,
  })
  console.log(`\nwrote ${file}`)
}

module.exports = { run, JsTokenBucket, keyOf }

runIfMain(module, run)

module.exports = { run }

runIfMain(module, run)
