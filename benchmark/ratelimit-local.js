'use strict'

// The ratelimit suite's local part: decisions per second of allowSync against the pure-JS
// bucket and RateLimiterMemory, the same-decision check, and memory per key in child processes.

const assert = require('node:assert/strict')
const { execFile } = require('node:child_process')
const path = require('node:path')
const { performance } = require('node:perf_hooks')
const { RateLimiterMemory, RateLimiterRes } = require('rate-limiter-flexible')
const { RateLimiter } = require('optlayer')
const { runCase, printTable, formatNumber, median } = require('./harness')
const {
  SEED,
  CALL_BATCH,
  HIGH_LIMIT,
  HOUR_MS,
  SMALL_LIMIT,
  CHECK_KEYS,
  CHECK_REQUESTS_PER_KEY,
  MEMORY_KEY_COUNTS,
  QUICK_MEMORY_KEY_COUNTS,
  MEMORY_CHILD_TIMEOUT_MS,
  MEMORY_MAX_OLD_SPACE_MB,
  JsTokenBucket,
  shuffledKeys,
} = require('./ratelimit-common')

// ---------------------------------------------------------------------------------------
// 1. Local decisions

const LOCAL_DETAILS = { decisions: 'decisions', admitted: 'admitted' }

function localLimiters(limit, windowMs, maxKeys) {
  const ours = (algorithm) => new RateLimiter({ algorithm, limit, windowMs, maxKeys })
  return {
    tokenBucket: ours('token-bucket'),
    gcra: ours('gcra'),
    fixedWindow: ours('fixed-window'),
    tokenBucketAsync: ours('token-bucket'),
    js: new JsTokenBucket({ limit, windowMs }),
    // rate-limiter-flexible counts `points` per `duration` seconds from a key's first request.
    rlf: new RateLimiterMemory({ points: limit, duration: windowMs / 1000 }),
    rlfAll: new RateLimiterMemory({ points: limit, duration: windowMs / 1000 }),
  }
}

/**
 * The contenders of one local case. Each `fn` makes CALL_BATCH decisions over `keys` in
 * order (wrapping around) and counts the admissions. Every loop is written out so that each
 * limiter call site sees one receiver type.
 */
function localContenders(keys, limiters) {
  const n = keys.length
  const counts = () => ({ decisions: 0, admitted: 0 })
  const { tokenBucket, gcra, fixedWindow, tokenBucketAsync, js, rlf, rlfAll } = limiters

  const tb = counts()
  let tbAt = 0
  const gc = counts()
  let gcAt = 0
  const fw = counts()
  let fwAt = 0
  const tba = counts()
  let tbaAt = 0
  const jsc = counts()
  let jsAt = 0
  const rl = counts()
  let rlAt = 0
  const rla = counts()
  let rlaAt = 0
  const pending = new Array(CALL_BATCH)

  return [
    {
      name: 'optlayer allowSync token-bucket',
      role: 'ours',
      counts: tb,
      fn: () => {
        for (let j = 0; j < CALL_BATCH; j++) {
          if (tokenBucket.allowSync(keys[tbAt], 1).allowed) tb.admitted++
          if (++tbAt === n) tbAt = 0
        }
        tb.decisions += CALL_BATCH
      },
    },
    {
      name: 'optlayer allowSync gcra',
      role: 'ours, information',
      counts: gc,
      fn: () => {
        for (let j = 0; j < CALL_BATCH; j++) {
          if (gcra.allowSync(keys[gcAt], 1).allowed) gc.admitted++
          if (++gcAt === n) gcAt = 0
        }
        gc.decisions += CALL_BATCH
      },
    },
    {
      name: 'optlayer allowSync fixed-window',
      role: 'ours, information',
      counts: fw,
      fn: () => {
        for (let j = 0; j < CALL_BATCH; j++) {
          if (fixedWindow.allowSync(keys[fwAt], 1).allowed) fw.admitted++
          if (++fwAt === n) fwAt = 0
        }
        fw.decisions += CALL_BATCH
      },
    },
    {
      name: 'optlayer await allow() token-bucket',
      role: 'ours, async',
      async: true,
      counts: tba,
      fn: async () => {
        for (let j = 0; j < CALL_BATCH; j++) {
          if ((await tokenBucketAsync.allow(keys[tbaAt], 1)).allowed) tba.admitted++
          if (++tbaAt === n) tbaAt = 0
        }
        tba.decisions += CALL_BATCH
      },
    },
    {
      name: 'pure-JS Map token bucket',
      role: 'baseline',
      counts: jsc,
      fn: () => {
        for (let j = 0; j < CALL_BATCH; j++) {
          if (js.allow(keys[jsAt], 1).allowed) jsc.admitted++
          if (++jsAt === n) jsAt = 0
        }
        jsc.decisions += CALL_BATCH
      },
    },
    {
      name: 'RateLimiterMemory, awaited one by one',
      role: 'peer',
      async: true,
      counts: rl,
      fn: async () => {
        for (let j = 0; j < CALL_BATCH; j++) {
          try {
            await rlf.consume(keys[rlAt], 1)
            rl.admitted++
          } catch (err) {
            if (!(err instanceof RateLimiterRes)) throw err
          }
          if (++rlAt === n) rlAt = 0
        }
        rl.decisions += CALL_BATCH
      },
    },
    {
      name: `RateLimiterMemory, Promise.all of ${CALL_BATCH}`,
      role: 'peer',
      async: true,
      counts: rla,
      fn: async () => {
        for (let j = 0; j < CALL_BATCH; j++) {
          pending[j] = rlfAll.consume(keys[rlaAt], 1).then(
            () => 1,
            (err) => {
              if (err instanceof RateLimiterRes) return 0
              throw err
            },
          )
          if (++rlaAt === n) rlaAt = 0
        }
        for (const admitted of await Promise.all(pending)) rla.admitted += admitted
        rla.decisions += CALL_BATCH
      },
    },
  ]
}

/** The harness times calls of CALL_BATCH decisions: rescale its figures to one decision. */
function perDecision(result, factor) {
  for (const contender of result.contenders) {
    const scale = (values) => values.map((value) => value * factor)
    contender.hz = {
      median: contender.hz.median * factor,
      min: contender.hz.min * factor,
      max: contender.hz.max * factor,
    }
    contender.hzPerRound = scale(contender.hzPerRound)
    contender.nsPerOp = 1e9 / contender.hz.median
    contender.mbPerSecond = 0
  }
  return result
}

/** Every contender of a speed case must have admitted every decision it made. */
function checkAllAdmitted(contenders) {
  for (const contender of contenders) {
    const { decisions, admitted } = contender.counts
    assert.ok(decisions > 0, `${contender.name} made no decision`)
    assert.equal(admitted, decisions, `${contender.name} denied ${decisions - admitted} of ${decisions} decisions`)
  }
}

async function localCase(keyCount, options) {
  const keys = keyCount === 1 ? ['user:42'] : shuffledKeys(keyCount, SEED)
  const limiters = localLimiters(HIGH_LIMIT, HOUR_MS, Math.max(2 * keyCount, 1_000_000))
  const contenders = localContenders(keys, limiters)
  // Every key is tracked before timing starts (one pass per contender), so the case measures
  // decisions on a store that holds all of them.
  const populateStarted = performance.now()
  for (const contender of contenders) {
    const calls = Math.ceil(keys.length / CALL_BATCH)
    for (let call = 0; call < calls; call++) await contender.fn()
  }
  const populateSeconds = (performance.now() - populateStarted) / 1000
  const result = await runCase(
    {
      name: `local decision, ${formatNumber(keyCount)} key${keyCount === 1 ? '' : 's'}`,
      bytes: 0,
      reference: 'RateLimiterMemory, awaited one by one',
      contenders,
    },
    options,
  )
  checkAllAdmitted(contenders)
  for (const [i, contender] of contenders.entries()) {
    result.contenders[i].details = { ...contender.counts }
  }
  const memory = process.memoryUsage()
  for (const limiter of [limiters.tokenBucket, limiters.gcra, limiters.fixedWindow, limiters.tokenBucketAsync]) {
    await limiter.close()
  }
  // RateLimiterMemory keeps a timer per key (an hour long here), which would keep its
  // million records alive, and the heap large, through the rest of the suite.
  for (const key of keys) {
    limiters.rlf.delete(key)
    limiters.rlfAll.delete(key)
  }
  return {
    ...perDecision(result, CALL_BATCH),
    keys: keyCount,
    decisionsPerCall: CALL_BATCH,
    populateSeconds,
    processMemory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
  }
}

/**
 * Same semantics: at SMALL_LIMIT per hour, CHECK_KEYS keys each asked CHECK_REQUESTS_PER_KEY
 * times (keys interleaved in a seeded order) must admit exactly SMALL_LIMIT per key with
 * every implementation, and report the same `remaining` after each decision.
 */
async function checkSameDecisions() {
  const limiters = localLimiters(SMALL_LIMIT, HOUR_MS, 2 * CHECK_KEYS)
  const keys = shuffledKeys(CHECK_KEYS, SEED + 1)
  const sequence = []
  for (let round = 0; round < CHECK_REQUESTS_PER_KEY; round++) sequence.push(...keys)
  const rlfDecide = async (limiter, key) => {
    try {
      const res = await limiter.consume(key, 1)
      return { allowed: true, remaining: res.remainingPoints }
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err
      return { allowed: false, remaining: err.remainingPoints }
    }
  }
  const implementations = {
    'optlayer token-bucket': async (key) => limiters.tokenBucket.allowSync(key, 1),
    'optlayer gcra': async (key) => limiters.gcra.allowSync(key, 1),
    'optlayer fixed-window': async (key) => limiters.fixedWindow.allowSync(key, 1),
    'optlayer await allow() token-bucket': (key) => limiters.tokenBucketAsync.allow(key, 1),
    'pure-JS Map token bucket': async (key) => limiters.js.allow(key, 1),
    RateLimiterMemory: (key) => rlfDecide(limiters.rlf, key),
  }
  const expected = []
  const rows = []
  for (const [name, decide] of Object.entries(implementations)) {
    let admitted = 0
    let sameAsReference = 0
    for (const [i, key] of sequence.entries()) {
      const { allowed, remaining } = await decide(key)
      if (allowed) admitted++
      if (expected.length <= i) expected.push({ allowed, remaining })
      if (expected[i].allowed === allowed && expected[i].remaining === remaining) sameAsReference++
    }
    rows.push({ name, decisions: sequence.length, admitted, sameDecisionAndRemainingAsFirst: sameAsReference })
  }
  for (const limiter of [limiters.tokenBucket, limiters.gcra, limiters.fixedWindow, limiters.tokenBucketAsync]) {
    await limiter.close()
  }
  const check = {
    limit: SMALL_LIMIT,
    windowMs: HOUR_MS,
    keys: CHECK_KEYS,
    requestsPerKey: CHECK_REQUESTS_PER_KEY,
    expectedAdmitted: SMALL_LIMIT * CHECK_KEYS,
    implementations: rows,
  }
  for (const row of rows) {
    assert.equal(row.admitted, check.expectedAdmitted, `${row.name} admitted ${row.admitted}`)
    assert.equal(row.sameDecisionAndRemainingAsFirst, row.decisions, `${row.name} decided differently`)
  }
  return check
}

// ---------------------------------------------------------------------------------------
// 2. Memory per key, in child processes

function runMemoryChild(implementation, keys) {
  const args = [
    '--expose-gc',
    `--max-old-space-size=${MEMORY_MAX_OLD_SPACE_MB}`,
    path.join(__dirname, 'ratelimit-memory.js'),
    implementation,
    String(keys),
  ]
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { timeout: MEMORY_CHILD_TIMEOUT_MS, maxBuffer: 1 << 20, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`memory child ${implementation} ${keys} failed: ${err.message}\n${stderr}`, { cause: err }))
          return
        }
        resolve(JSON.parse(stdout.trim().split('\n').at(-1)))
      },
    )
  })
}

const MEMORY_IMPLEMENTATIONS = [
  { implementation: 'optlayer', name: 'optlayer token-bucket (native store)', role: 'ours' },
  { implementation: 'js-map', name: 'pure-JS Map token bucket', role: 'baseline' },
  // The key strings alone (held in an array): the part of the Map's cost that is its keys.
  { implementation: 'key-strings', name: 'the key strings alone (array)', role: 'information' },
]

async function measureMemory(options) {
  const keyCounts = options.quick ? QUICK_MEMORY_KEY_COUNTS : MEMORY_KEY_COUNTS
  const results = []
  for (const keys of keyCounts) {
    // Memory is nearly deterministic; the larger count takes the longest, so it runs once.
    const rounds = keys >= 10_000_000 ? 1 : Math.min(options.rounds, 3)
    const samples = MEMORY_IMPLEMENTATIONS.map(() => [])
    for (let round = 0; round < rounds; round++) {
      for (let step = 0; step < MEMORY_IMPLEMENTATIONS.length; step++) {
        const index = (round + step) % MEMORY_IMPLEMENTATIONS.length
        samples[index].push(await runMemoryChild(MEMORY_IMPLEMENTATIONS[index].implementation, keys))
      }
    }
    for (const [i, spec] of MEMORY_IMPLEMENTATIONS.entries()) {
      const runs = samples[i]
      const perKey = (field) => median(runs.map((run) => (run.after[field] - run.before[field]) / keys))
      results.push({
        keys,
        ...spec,
        rounds,
        rssBytesPerKey: perKey('rss'),
        heapUsedBytesPerKey: perKey('heapUsed'),
        externalBytesPerKey: perKey('external'),
        peakRssGrowthBytesPerKey: median(runs.map((run) => (run.peakRssBytes - run.before.rss) / keys)),
        insertNsPerKey: median(runs.map((run) => run.insertNs / keys)),
        trackedKeys: runs[0].trackedKeys,
        runs,
      })
    }
  }
  return results
}

function printMemory(memory) {
  console.log('\nmemory per key: (after − before) / keys in a fresh child process, after gc(); median of rounds')
  printTable(
    [
      'keys',
      'implementation',
      'RSS B/key',
      'heapUsed B/key',
      'external B/key',
      'peak RSS B/key',
      'insert ns/key',
      'rounds',
    ],
    memory.map((m) => [
      formatNumber(m.keys),
      m.name,
      formatNumber(m.rssBytesPerKey),
      formatNumber(m.heapUsedBytesPerKey),
      formatNumber(m.externalBytesPerKey),
      formatNumber(m.peakRssGrowthBytesPerKey),
      formatNumber(m.insertNsPerKey),
      String(m.rounds),
    ]),
  )
}

module.exports = { LOCAL_DETAILS, localCase, checkSameDecisions, measureMemory, printMemory }
