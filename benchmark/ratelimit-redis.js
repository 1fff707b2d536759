'use strict'

// The ratelimit suite's distributed part: decisions per second at concurrency 64 against
// RateLimiterRedis on a private redis-server, with and without lease batching.

const assert = require('node:assert/strict')
const { performance, PerformanceObserver } = require('node:perf_hooks')
const Redis = require('ioredis')
const { RateLimiterRedis, RateLimiterRes } = require('rate-limiter-flexible')
const { RateLimiter } = require('optlayer')
const { REDIS_HOST, processCpuMicros, redisCounters, startRedis } = require('./redis-server')
const { printTable, formatNumber, measureEventLoopDelay, median } = require('./harness')
const {
  SEED,
  HOUR_MS,
  SMALL_LIMIT,
  CHECK_REQUESTS_PER_KEY,
  CONCURRENCY,
  DISTRIBUTED_KEYS,
  DISTRIBUTED_LIMIT,
  BATCH_SIZE,
  shuffledKeys,
} = require('./ratelimit-common')

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

module.exports = { measureDistributed, printDistributed }
