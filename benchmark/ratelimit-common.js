'use strict'

// What the ratelimit suite's parts share: parameters, keys, the build measured and the
// minimal pure-JS token bucket every local case compares against.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { performance } = require('node:perf_hooks')
const { mulberry32 } = require('./inputs')

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

module.exports = {
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
  MEMORY_CHILD_TIMEOUT_MS,
  MEMORY_MAX_OLD_SPACE_MB,
  CONCURRENCY,
  DISTRIBUTED_KEYS,
  DISTRIBUTED_LIMIT,
  BATCH_SIZE,
  buildInfo,
  keyOf,
  JsTokenBucket,
  shuffledKeys,
}
