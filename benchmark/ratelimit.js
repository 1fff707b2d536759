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

const assert = require('node:assert/strict')
const { execFile, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { performance, PerformanceObserver } = require('node:perf_hooks')
const Redis = require('ioredis')
const { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } = require('rate-limiter-flexible')
const { RateLimiter } = require('optlayer')
const { mulberry32 } = require('./inputs')
const { REDIS_HOST, processCpuMicros, redisCounters, startRedis } = require('./redis-server')
const {
  runIfMain,
  runCase,
  printCase,
  printTable,
  formatNumber,
  measureEventLoopDelay,
  median,
  writeResults,
  printFigures,
  printSuiteTime,
} = require('./harness')

const SEED = 20240604
// Decisions per measured call: the harness times calls, and one awaited promise per call
// would measure Benchmark.js' deferred machinery as much as the limiter.
const CALL_BATCH = 1000
const LOCAL_KEY_COUNTS = [1, 1_000_000]
// Speed cases: a limit no contender reaches during the run, so every decision is an admission.
const HIGH_LIMIT = 4_000_000_000
const HOUR_MS = 3_600_000
// Same-semantics check: every implementation must admit exactly SMALL_LIMIT per key.
const SMALL_LIMIT = 10
const CHECK_KEYS = 1000
const CHECK_REQUESTS_PER_KEY = 15
// The per-op budgets and targets: measured and reported, never asserted.
const BUDGET_NS = 150

const MEMORY_KEY_COUNTS = [1_000_000, 10_000_000]
const QUICK_MEMORY_KEY_COUNTS = [100_000, 1_000_000]
const MEMORY_CHILD_TIMEOUT_MS = 150_000
const MEMORY_MAX_OLD_SPACE_MB = 8192

const CONCURRENCY = 64
const DISTRIBUTED_KEYS = 1000
const DISTRIBUTED_LIMIT = 1_000_000_000
const BATCH_SIZE = 10

const LOCAL_DETAILS = { decisions: 'decisions', admitted: 'admitted' }

/**
 * What was measured: the commit, the files changed since (other work may be editing the
 * limiter while this suite runs) and when the native addon was built.
 */
function buildInfo() {
  const root = path.join(__dirname, '..')
  const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim()
  const addon = fs.readdirSync(root).find((name) => name.endsWith('.node'))
  return {
    gitHead: git('rev-parse', 'HEAD'),
    changedFiles: git('status', '--porcelain', '--', 'src', 'crates', 'dist', 'index.js').split('\n').filter(Boolean),
    addon,
    addonBuilt: addon === undefined ? null : fs.statSync(path.join(root, addon)).mtime.toISOString(),
  }
}

/** The key of index i, as every measurement spells it. */
function keyOf(i) {
  return `key:${i}`
}

/**
 * The minimal pure-JS token bucket we compare against: one `{ tokens, updatedAt }`
 * per key in a Map, refilled on access at `limit` per `windowMs` up to `burst`, with the
 * decision shape and rounding of optlayer's (whole remaining tokens, durations rounded up).
 * It never forgets a key.
 */
class JsTokenBucket {
  constructor({ limit, windowMs, burst = limit }) {
    this.capacity = burst
    this.tokensPerMs = limit / windowMs
    this.msPerToken = windowMs / limit
    this.buckets = new Map()
  }

  allow(key, cost = 1) {
    const now = performance.now()
    let bucket = this.buckets.get(key)
    if (bucket === undefined) {
      bucket = { tokens: this.capacity, updatedAt: now }
      this.buckets.set(key, bucket)
    } else {
      const tokens = bucket.tokens + (now - bucket.updatedAt) * this.tokensPerMs
      bucket.tokens = tokens < this.capacity ? tokens : this.capacity
      bucket.updatedAt = now
    }
    const resetMs = (tokens) => Math.ceil((this.capacity - tokens) * this.msPerToken)
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost
      return { allowed: true, remaining: Math.floor(bucket.tokens), retryAfterMs: 0, resetMs: resetMs(bucket.tokens) }
    }
    return {
      allowed: false,
      remaining: Math.floor(bucket.tokens),
      retryAfterMs: Math.ceil((cost - bucket.tokens) * this.msPerToken),
      resetMs: resetMs(bucket.tokens),
    }
  }
}

/** The keys of a case, shuffled with a seeded Fisher-Yates so visits are in a random, repeatable order. */
function shuffledKeys(count, seed) {
  const keys = Array.from({ length: count }, (_, i) => keyOf(i))
  const random = mulberry32(seed)
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[keys[i], keys[j]] = [keys[j], keys[i]]
  }
  return keys
}

// ---------------------------------------------------------------------------------------
// 1. Local decisions

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

// ---------------------------------------------------------------------------------------
// 3. Distributed decisions, on a private redis-server

/**
 * Decisions by CONCURRENCY async loops for `durationMs`, each awaiting one decision at a time
 * over the shared key order; with the process's CPU, redis-server's CPU, Redis commands, GC
 * pauses and event-loop delay over the same interval.
 */
async function drive(contender, keys, durationMs, redis) {
  const n = keys.length
  let cursor = contender.cursor ?? 0
  let decisions = 0
  let admitted = 0
  let gcMs = 0
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration
  })
  observer.observe({ entryTypes: ['gc'] })
  const countersBefore = await redisCounters(redis.admin)
  const redisCpuBefore = processCpuMicros(redis.server.pid)
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const deadline = started + durationMs
  const decide = contender.decide
  const loop = async () => {
    while (performance.now() < deadline) {
      const key = keys[cursor]
      if (++cursor === n) cursor = 0
      if (await decide(key)) admitted++
      decisions++
    }
  }
  const delay = await measureEventLoopDelay(() => Promise.all(Array.from({ length: CONCURRENCY }, loop)))
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  const redisCpu = processCpuMicros(redis.server.pid) - redisCpuBefore
  const countersAfter = await redisCounters(redis.admin)
  // The two INFO commands of a reading count as commands.
  const commands = countersAfter.commands - countersBefore.commands - 2
  const scripts = countersAfter.scripts - countersBefore.scripts
  observer.disconnect()
  contender.cursor = cursor
  return {
    decisions,
    admitted,
    seconds,
    decisionsPerSecond: decisions / seconds,
    nodeCpuMicrosPerDecision: (cpu.user + cpu.system) / decisions,
    redisCpuMicrosPerDecision: redisCpu / decisions,
    redisCommandsPerDecision: commands / decisions,
    redisScriptsPerDecision: scripts / decisions,
    redisMicrosPerScript: (countersAfter.scriptMicros - countersBefore.scriptMicros) / scripts,
    gcPauseMs: gcMs,
    eventLoopDelayP99Ms: delay.p99Ms,
  }
}

function distributedContenders(server, client, names) {
  const ours = (label, algorithm, batch) => {
    const limiter = new RateLimiter({
      algorithm,
      limit: DISTRIBUTED_LIMIT,
      windowMs: HOUR_MS,
      redis: { url: server.url },
      name: `${names}-${label}`,
      ...(batch ? { batch: { batchSize: BATCH_SIZE } } : {}),
    })
    return {
      name: `optlayer ${algorithm}${batch ? `, batch ${BATCH_SIZE}` : ''}`,
      role: batch ? 'ours, batched' : 'ours',
      algorithm,
      batched: batch,
      limiter,
      decide: async (key) => (await limiter.allow(key, 1)).allowed,
    }
  }
  const rlf = new RateLimiterRedis({
    storeClient: client,
    points: DISTRIBUTED_LIMIT,
    duration: HOUR_MS / 1000,
    keyPrefix: `rlflx-${names}`,
  })
  return [
    ours('fw', 'fixed-window', false),
    ours('tb', 'token-bucket', false),
    ours('fw-batch', 'fixed-window', true),
    ours('tb-batch', 'token-bucket', true),
    {
      name: 'RateLimiterRedis',
      role: 'peer',
      algorithm: 'fixed-window (from first request)',
      batched: false,
      decide: (key) =>
        rlf.consume(key, 1).then(
          () => true,
          (err) => {
            if (err instanceof RateLimiterRes) return false
            throw err
          },
        ),
    },
  ]
}

/** Our limiters must have decided on Redis every time: a fallback decision would be less work. */
function ourRedisCounts(contender) {
  if (contender.limiter === undefined) return undefined
  const stats = contender.limiter.stats()
  assert.equal(stats.redis.unavailable, 0, `${contender.name}: Redis was unavailable ${stats.redis.unavailable} times`)
  assert.deepEqual(stats.fallback, { local: 0, failOpen: 0, failClosed: 0 }, `${contender.name} fell back`)
  return stats.redis
}

/**
 * Same semantics through Redis: SMALL_LIMIT per hour, 100 keys asked CHECK_REQUESTS_PER_KEY
 * times each at concurrency 64. Without batching every limiter must admit exactly
 * SMALL_LIMIT per key; with batching at most that (a lease that expires drops its units).
 */
async function checkDistributed(server, client) {
  const keys = shuffledKeys(100, SEED + 2)
  const limiterFor = (algorithm, batch) =>
    new RateLimiter({
      algorithm,
      limit: SMALL_LIMIT,
      windowMs: HOUR_MS,
      redis: { url: server.url },
      name: `check-${algorithm}${batch ? '-batch' : ''}`,
      ...(batch ? { batch: { batchSize: BATCH_SIZE } } : {}),
    })
  const rlf = new RateLimiterRedis({
    storeClient: client,
    points: SMALL_LIMIT,
    duration: HOUR_MS / 1000,
    keyPrefix: 'check',
  })
  const cases = [
    { name: 'optlayer fixed-window', limiter: limiterFor('fixed-window', false), exact: true },
    { name: 'optlayer token-bucket', limiter: limiterFor('token-bucket', false), exact: true },
    { name: `optlayer fixed-window, batch ${BATCH_SIZE}`, limiter: limiterFor('fixed-window', true), exact: false },
    { name: `optlayer token-bucket, batch ${BATCH_SIZE}`, limiter: limiterFor('token-bucket', true), exact: false },
    { name: 'RateLimiterRedis', exact: true },
  ]
  const rows = []
  for (const entry of cases) {
    const decide = entry.limiter
      ? async (key) => (await entry.limiter.allow(key, 1)).allowed
      : (key) =>
          rlf.consume(key, 1).then(
            () => true,
            (err) => {
              if (err instanceof RateLimiterRes) return false
              throw err
            },
          )
    const sequence = []
    for (let round = 0; round < CHECK_REQUESTS_PER_KEY; round++) sequence.push(...keys)
    let next = 0
    let admitted = 0
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < sequence.length) {
          if (await decide(sequence[next++])) admitted++
        }
      }),
    )
    if (entry.limiter) {
      ourRedisCounts(entry)
      await entry.limiter.close()
    }
    const expected = SMALL_LIMIT * keys.length
    rows.push({ name: entry.name, decisions: sequence.length, admitted, expected, exact: entry.exact })
    if (entry.exact) assert.equal(admitted, expected, `${entry.name} admitted ${admitted}, expected ${expected}`)
    else assert.ok(admitted <= expected, `${entry.name} admitted ${admitted}, more than ${expected}`)
  }
  return { limit: SMALL_LIMIT, windowMs: HOUR_MS, keys: keys.length, requestsPerKey: CHECK_REQUESTS_PER_KEY, rows }
}

async function measureDistributed(options) {
  const server = await startRedis()
  const client = new Redis({ host: REDIS_HOST, port: server.port, enableOfflineQueue: false })
  const admin = new Redis({ host: REDIS_HOST, port: server.port })
  const redis = { server, admin }
  const contenders = []
  try {
    await Promise.all(
      [client, admin].map((c) => (c.status === 'ready' ? undefined : new Promise((r) => c.once('ready', r)))),
    )
    const redisVersion = /redis_version:(\S+)/.exec(await admin.info('server'))[1]
    const check = await checkDistributed(server, client)

    const keys = shuffledKeys(DISTRIBUTED_KEYS, SEED + 3)
    contenders.push(...distributedContenders(server, client, `bench-${Date.now()}`))
    const durationMs = options.quick ? 300 : Math.round(options.maxTime * 4000)
    const rounds = options.rounds
    for (const contender of contenders) await drive(contender, keys, durationMs / 4, redis)
    const samples = contenders.map(() => [])
    for (let round = 0; round < rounds; round++) {
      for (let step = 0; step < contenders.length; step++) {
        const index = (round + step) % contenders.length
        samples[index].push(await drive(contenders[index], keys, durationMs, redis))
      }
    }
    const reference = contenders.findIndex((c) => c.name === 'RateLimiterRedis')
    const spreadOf = (values) => ({ median: median(values), min: Math.min(...values), max: Math.max(...values) })
    const results = contenders.map((contender, i) => {
      const runs = samples[i]
      const field = (name) => median(runs.map((run) => run[name]))
      const decisions = runs.reduce((sum, run) => sum + run.decisions, 0)
      const admitted = runs.reduce((sum, run) => sum + run.admitted, 0)
      assert.equal(admitted, decisions, `${contender.name} denied ${decisions - admitted} of ${decisions}`)
      return {
        name: contender.name,
        role: contender.role,
        algorithm: contender.algorithm,
        batched: contender.batched,
        decisionsPerSecond: spreadOf(runs.map((run) => run.decisionsPerSecond)),
        vsReference: spreadOf(
          runs.map((run, round) => run.decisionsPerSecond / samples[reference][round].decisionsPerSecond),
        ),
        nodeCpuMicrosPerDecision: field('nodeCpuMicrosPerDecision'),
        redisCpuMicrosPerDecision: field('redisCpuMicrosPerDecision'),
        redisCommandsPerDecision: field('redisCommandsPerDecision'),
        redisScriptsPerDecision: field('redisScriptsPerDecision'),
        redisMicrosPerScript: field('redisMicrosPerScript'),
        gcPauseMs: field('gcPauseMs'),
        eventLoopDelayP99Ms: field('eventLoopDelayP99Ms'),
        decisions,
        admitted,
        redisCounts: ourRedisCounts(contender),
        runs,
      }
    })
    return {
      redisVersion,
      concurrency: CONCURRENCY,
      keys: DISTRIBUTED_KEYS,
      limit: DISTRIBUTED_LIMIT,
      windowMs: HOUR_MS,
      batchSize: BATCH_SIZE,
      durationMs,
      rounds,
      reference: 'RateLimiterRedis',
      check,
      contenders: results,
    }
  } finally {
    for (const contender of contenders) await contender.limiter?.close()
    client.disconnect()
    admin.disconnect()
    await server.stop()
  }
}

function printDistributed(distributed) {
  console.log(
    `\ndistributed decisions, concurrency ${distributed.concurrency}, ${distributed.keys} keys, redis-server ` +
      `${distributed.redisVersion} on the same 2 cores; ${distributed.rounds} rounds of ${distributed.durationMs} ms`,
  )
  printTable(
    [
      'contender',
      'role',
      'decisions/s',
      'min-max',
      'x RateLimiterRedis',
      'ratio min-max',
      'node CPU µs/dec',
      'redis CPU µs/dec',
      'redis cmds/dec',
      'scripts/dec',
      'µs/script',
      'GC ms',
      'ELD p99 ms',
    ],
    distributed.contenders.map((c) => [
      c.name,
      c.role,
      formatNumber(c.decisionsPerSecond.median),
      `${formatNumber(c.decisionsPerSecond.min)}-${formatNumber(c.decisionsPerSecond.max)}`,
      c.vsReference.median.toPrecision(3),
      `${c.vsReference.min.toPrecision(3)}-${c.vsReference.max.toPrecision(3)}`,
      formatNumber(c.nodeCpuMicrosPerDecision),
      formatNumber(c.redisCpuMicrosPerDecision),
      formatNumber(c.redisCommandsPerDecision),
      formatNumber(c.redisScriptsPerDecision),
      formatNumber(c.redisMicrosPerScript),
      formatNumber(c.gcPauseMs),
      formatNumber(c.eventLoopDelayP99Ms),
    ]),
  )
  console.log('\ndistributed same-decision check (limit per key at small limits):')
  printTable(
    ['limiter', 'decisions', 'admitted', 'expected'],
    distributed.check.rows.map((r) => [
      r.name,
      formatNumber(r.decisions),
      formatNumber(r.admitted),
      `${r.exact ? '=' : '<='} ${formatNumber(r.expected)}`,
    ]),
    1,
  )
}

// ---------------------------------------------------------------------------------------
// Figures to reach (issue 4) and the README rows

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
    'issue 4',
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
    ' of each lease is used before it expires depends on the throughput (see redis cmds/dec).',
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
