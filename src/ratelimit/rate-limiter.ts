import { InvalidArgumentError, ClosedError, RateLimitedError, UnavailableError } from '../core/errors'
import { knownOptions, optionNames, wholeNumber } from '../core/validate'
import { AdaptiveRateLimiter, type AdaptiveRateLimiterStats, type AdaptiveRateOptions } from './adaptive-limiter'
import type { CircuitBreakerOptions, CircuitState } from '../resilience/circuit-breaker'
import type { RateLimitDecision } from './decision'
import { LeaseBatcher, type LeaseBatcherOptions } from './lease-batcher'
import { LOCAL_STORE_DEFAULTS, LocalLimiter, type LocalLimiterStats, type LocalStoreOptions } from './local-limiter'
import {
  RATE_LIMIT_ALGORITHMS,
  validateQuota,
  type FixedRateAlgorithm,
  type Quota,
  type RateLimitAlgorithm,
} from './quota'
import { openLimiters } from './ratelimit-metrics'
import { RedisRateLimitStore, type RedisConnection } from './redis-store'

/** What a Redis-backed limiter answers while Redis cannot. */
export type RedisFallback = 'local' | 'fail-open' | 'fail-closed'

/** What {@link RateLimiter.consume} resolves with, named as in rate-limiter-flexible. */
export interface ConsumeResult {
  /** Points a further request could have right now. */
  remainingPoints: number
  /** Milliseconds until the key is back to full (rate-limiter-flexible's reset of the duration). */
  msBeforeNext: number
  /** Points consumed and not yet restored, this request's included. */
  consumedPoints: number
  /** Whether the key was full before this request. */
  isFirstInDuration: boolean
}

/** Options of {@link RateLimiter}; only `limit` is required. */
export interface RateLimiterOptions extends LocalStoreOptions {
  /**
   * How requests are counted (`RATE_LIMIT_ALGORITHMS`); `'adaptive'` is per process: it takes no
   * `redis`.
   * @default 'token-bucket'
   */
  algorithm?: RateLimitAlgorithm
  /** Units admitted per `windowMs`: a whole number from 1 to 2^32 − 1. */
  limit: number
  /** The window, in whole milliseconds. @default 1000 */
  windowMs?: number
  /** Units admitted at once (token-bucket, gcra and adaptive only). @default limit */
  burst?: number
  /**
   * Decide on Redis (standalone or Cluster) so that every process shares one count; see
   * `RedisRateLimitStore` for the client options a client of yours needs.
   */
  redis?: RedisConnection
  /** Prefix of the Redis keys. @default 'optlayer:rl:' */
  prefix?: string
  /** Longest wait for Redis before the fallback answers, in ms. @default 1000 */
  timeoutMs?: number
  /**
   * While Redis cannot answer: `'local'` decides in this process on `limit / instances`
   * (so the fleet stays near the limit), `'fail-open'` admits, `'fail-closed'` denies with
   * `retryAfterMs` of one window. Each outcome is counted in {@link RateLimiter.stats}.
   * @default 'local'
   */
  fallback?: RedisFallback
  /** Processes expected to share the Redis limit; divides it for the local fallback. @default 1 */
  instances?: number
  /**
   * Lease `batchSize` units per key from Redis at a time and spend them locally: one round
   * trip per `batchSize` decisions, for a bounded overshoot (see `LeaseBatcher`). Redis mode only.
   */
  batch?: LeaseBatcherOptions
  /** The adaptive algorithm, for `algorithm: 'adaptive'`. @default { algorithm: 'aimd' } */
  adaptive?: AdaptiveRateOptions
  /** A circuit breaker per key, for `algorithm: 'adaptive'`; `false` for none. @default {} */
  breaker?: Omit<CircuitBreakerOptions, 'now'> | false
}

/** Defaults of {@link RateLimiterOptions}. */
export const RATE_LIMITER_DEFAULTS = Object.freeze({
  algorithm: 'token-bucket' as RateLimitAlgorithm,
  windowMs: 1000,
  fallback: 'local' as RedisFallback,
  instances: 1,
})

/** Every option name of {@link RateLimiterOptions}, of every mode. @internal */
export const RATE_LIMITER_OPTION_NAMES = optionNames<RateLimiterOptions>()(
  { ...RATE_LIMITER_DEFAULTS, ...LOCAL_STORE_DEFAULTS },
  {
    limit: true,
    burst: true,
    redis: true,
    prefix: true,
    timeoutMs: true,
    batch: true,
    adaptive: true,
    breaker: true,
    name: true,
    now: true,
  },
)

/** Counters of a {@link RateLimiter}. */
export interface RateLimiterStats {
  /** `'local'`, `'redis'` or `'adaptive'`. */
  mode: 'local' | 'redis' | 'adaptive'
  /** Decisions made by Redis (or a lease of it), admitted and denied. */
  redis: { allowed: number; denied: number; unavailable: number }
  /** Decisions made by the fallback while Redis could not answer. */
  fallback: { local: number; failOpen: number; failClosed: number }
  /** The in-process store: the limiter itself in local mode, the fallback in Redis mode. */
  local?: LocalLimiterStats
  /** The per-key adaptive limiter (adaptive mode). */
  adaptive?: AdaptiveRateLimiterStats
}

const FALLBACKS: readonly RedisFallback[] = ['local', 'fail-open', 'fail-closed']

/**
 * A keyed rate limiter: local (native, synchronous, millions of keys off the V8 heap),
 * distributed over Redis with a fallback, or adaptive (limits that follow latency and errors,
 * with a circuit breaker per key).
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ algorithm: 'token-bucket', limit: 100, windowMs: 1000 })
 * const { allowed, retryAfterMs } = limiter.allowSync('user-42')
 *
 * const shared = new RateLimiter({ limit: 600, windowMs: 60_000, redis: { url: 'redis://127.0.0.1:6379' } })
 * const decision = await shared.allow('user-42')
 * await shared.close()
 * ```
 */
export class RateLimiter {
  /** The algorithm. */
  readonly algorithm: RateLimitAlgorithm
  /** The validated quota (for adaptive limiters, the starting one). */
  readonly quota: Quota
  /** The name given in the options, or one made up for metrics. */
  readonly name: string
  /**
   * Whether this limiter decides in this process (local and adaptive modes), so that
   * {@link allowSync} answers; false for a Redis-backed one, which answers through {@link allow}.
   */
  get decidesInProcess(): boolean {
    return this.store === undefined
  }
  private readonly local: LocalLimiter | undefined
  private readonly adaptiveLimiter: AdaptiveRateLimiter | undefined
  private readonly store: RedisRateLimitStore | undefined
  private readonly batcher: LeaseBatcher | undefined
  private readonly fallback: RedisFallback
  private readonly counts = {
    redis: { allowed: 0, denied: 0, unavailable: 0 },
    fallback: { local: 0, failOpen: 0, failClosed: 0 },
  }
  private closed = false
  private static unnamed = 0

  /**
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option is
   *   missing, invalid or unknown (a quota out of range, `redis` with `algorithm: 'adaptive'`,
   *   `batch` without `redis`, …); the message names it.
   * @throws {ConfigMismatchError} `code` `'ERR_OPTLAYER_CONFIG_MISMATCH'`: a local limiter of
   *   this `name` is open in this process with other options.
   */
  constructor(options: RateLimiterOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('invalid options: expected an object with at least `limit`')
    }
    knownOptions('rate limiter options', options, RATE_LIMITER_OPTION_NAMES)
    const algorithm = options.algorithm ?? RATE_LIMITER_DEFAULTS.algorithm
    if (!RATE_LIMIT_ALGORITHMS.includes(algorithm)) {
      throw new InvalidArgumentError(
        `invalid algorithm: expected one of ${RATE_LIMIT_ALGORITHMS.join(', ')}, got ${String(algorithm)}`,
      )
    }
    const windowMs = options.windowMs ?? RATE_LIMITER_DEFAULTS.windowMs
    this.algorithm = algorithm
    this.name = options.name ?? `limiter-${++RateLimiter.unnamed}`
    this.fallback = options.fallback ?? RATE_LIMITER_DEFAULTS.fallback
    if (!FALLBACKS.includes(this.fallback)) {
      throw new InvalidArgumentError(`invalid fallback: expected one of ${FALLBACKS.join(', ')}`)
    }

    if (algorithm === 'adaptive') {
      if (options.redis !== undefined) {
        throw new InvalidArgumentError('invalid redis: adaptive limits are per process; omit redis')
      }
      this.quota = validateQuota('token-bucket', { ...options, windowMs })
      this.adaptiveLimiter = new AdaptiveRateLimiter({
        limit: this.quota.limit,
        windowMs,
        burst: this.quota.burst,
        adaptive: options.adaptive,
        breaker: options.breaker,
        maxKeys: options.maxKeys,
        maxKeyLength: options.maxKeyLength,
        now: options.now,
      })
    } else if (options.redis === undefined) {
      this.quota = validateQuota(algorithm, { ...options, windowMs })
      if (options.batch !== undefined) throw new InvalidArgumentError('invalid batch: batching needs redis')
      this.local = new LocalLimiter(algorithm, this.quota, options)
    } else {
      this.quota = validateQuota(algorithm, { ...options, windowMs })
      this.store = new RedisRateLimitStore({
        algorithm,
        ...this.quota,
        redis: options.redis,
        prefix: options.prefix,
        name: options.name,
        maxKeyLength: options.maxKeyLength,
        timeoutMs: options.timeoutMs,
      })
      if (options.batch !== undefined) {
        this.batcher = new LeaseBatcher(this.store, options.batch)
      }
      if (this.fallback === 'local') {
        this.local = new LocalLimiter(
          algorithm,
          localShare(
            algorithm,
            this.quota,
            wholeNumber('instances', options.instances, 1, undefined, RATE_LIMITER_DEFAULTS.instances),
          ),
          {
            ...options,
            // A named local store is shared by threads; the fallback is this limiter's own.
            name: undefined,
          },
        )
      }
    }
    openLimiters.add(this)
  }

  /**
   * Decides a request of `cost` units for `key` synchronously, in this process: for local and
   * adaptive limiters (a Redis-backed limiter needs {@link allow}). Throws
   * `InvalidArgumentError` for an empty or oversized key or a bad cost,
   * `CostExceedsCapacityError` for a cost above the burst, `ClosedError` after close.
   */
  /**
   * The native keyed store this limiter decides with, for native code applying the same
   * limit (the HTTP front): local mode on the native clock only; undefined otherwise
   * (Redis-backed, adaptive, a caller's clock, closed). @internal
   */
  nativeStore(): unknown {
    return this.closed || this.store !== undefined ? undefined : this.local?.native
  }

  allowSync(key: string, cost = 1): RateLimitDecision {
    if (this.local !== undefined && this.store === undefined) return this.local.allow(key, cost)
    if (this.adaptiveLimiter !== undefined) return this.adaptiveLimiter.allow(key, cost)
    if (this.closed) throw new ClosedError('the rate limiter is closed')
    throw new InvalidArgumentError('allowSync decides locally; a Redis-backed limiter answers through allow()')
  }

  /**
   * Decides a request of `cost` units for `key`, in every mode, with the same result shape as
   * {@link allowSync}. In Redis mode a failure to reach Redis never rejects: the configured
   * fallback answers. Bad input rejects as {@link allowSync} throws.
   */
  async allow(key: string, cost = 1): Promise<RateLimitDecision> {
    const store = this.store
    if (store === undefined) return this.allowSync(key, cost)
    if (this.closed) throw new ClosedError('the rate limiter is closed')
    store.checkRequest(key, cost)
    // While Redis is down the store rejects at once (no offline queue), so no pre-check is needed.
    try {
      const decision = await (this.batcher === undefined ? store.decide(key, cost) : this.batcher.decide(key, cost))
      const redis = this.counts.redis
      if (decision.allowed) redis.allowed++
      else redis.denied++
      return decision
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err
    }
    this.counts.redis.unavailable++
    return this.fallBack(key, cost)
  }

  /**
   * {@link allow} in rate-limiter-flexible's shape: resolves with how many points remain and
   * were consumed when `points` are admitted, rejects with `RateLimitedError` (its
   * `retryAfterMs` is rate-limiter-flexible's `msBeforeNext`) when they are not. Points are
   * the cost units of `allow`; `consumedPoints` counts against the burst.
   */
  async consume(key: string, points = 1): Promise<ConsumeResult> {
    const decision = await this.allow(key, points)
    if (!decision.allowed) {
      throw new RateLimitedError(`rate limit of '${key}' reached: retry in ${decision.retryAfterMs} ms`, {
        retryAfterMs: decision.retryAfterMs,
        resetMs: decision.resetMs,
      })
    }
    const consumedPoints = Math.max(0, this.quota.burst - decision.remaining)
    return {
      remainingPoints: decision.remaining,
      msBeforeNext: decision.resetMs,
      consumedPoints,
      // The key was full before this request: nothing else was consumed in its window.
      isFirstInDuration: consumedPoints === points,
    }
  }

  /** Reports a request's latency for an adaptive limiter's key (it also counts as a success). */
  recordLatency(key: string, ms: number): void {
    this.requireAdaptive().recordLatency(key, ms)
  }

  /** Reports a success for an adaptive limiter's key. */
  recordSuccess(key: string, latencyMs?: number): void {
    this.requireAdaptive().recordSuccess(key, latencyMs)
  }

  /** Reports a failure for an adaptive limiter's key: it lowers the limit and feeds the breaker. */
  recordFailure(key: string, latencyMs?: number): void {
    this.requireAdaptive().recordFailure(key, latencyMs)
  }

  /** The current limit of an adaptive limiter's key. */
  currentLimit(key: string): number {
    return this.requireAdaptive().currentLimit(key)
  }

  /** The state of an adaptive limiter's circuit breaker for `key`. */
  breakerState(key: string): CircuitState {
    return this.requireAdaptive().breakerState(key)
  }

  /** Counters of decisions, fallbacks and the local store. */
  stats(): RateLimiterStats {
    return {
      mode: this.adaptiveLimiter !== undefined ? 'adaptive' : this.store !== undefined ? 'redis' : 'local',
      redis: { ...this.counts.redis },
      fallback: { ...this.counts.fallback },
      local: this.closed ? undefined : this.local?.stats(),
      adaptive: this.adaptiveLimiter?.stats(),
    }
  }

  /** Releases the native store, timers and a Redis client the limiter created. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    openLimiters.delete(this)
    this.local?.close()
    this.batcher?.close()
    await this.store?.close()
  }

  private fallBack(key: string, cost: number): RateLimitDecision {
    const fallback = this.counts.fallback
    switch (this.fallback) {
      case 'local':
        fallback.local++
        // The local share may be below the cost; the request is then denied for one window.
        return cost > (this.local as LocalLimiter).capacity
          ? { allowed: false, remaining: 0, retryAfterMs: this.quota.windowMs, resetMs: this.quota.windowMs }
          : (this.local as LocalLimiter).allow(key, cost)
      case 'fail-open':
        fallback.failOpen++
        return { allowed: true, remaining: Math.max(0, this.quota.burst - cost), retryAfterMs: 0, resetMs: 0 }
      case 'fail-closed':
        fallback.failClosed++
        return { allowed: false, remaining: 0, retryAfterMs: this.quota.windowMs, resetMs: this.quota.windowMs }
    }
  }

  private requireAdaptive(): AdaptiveRateLimiter {
    if (this.adaptiveLimiter === undefined) {
      throw new InvalidArgumentError(`${this.algorithm} has a fixed rate; record outcomes on algorithm 'adaptive'`)
    }
    return this.adaptiveLimiter
  }
}

/** The quota each of `instances` processes enforces alone while Redis is away. */
function localShare(algorithm: FixedRateAlgorithm, quota: Quota, instances: number): Quota {
  const limit = Math.max(1, Math.floor(quota.limit / instances))
  const burst =
    algorithm === 'token-bucket' || algorithm === 'gcra' ? Math.max(1, Math.floor(quota.burst / instances)) : limit
  return validateQuota(algorithm, { limit, windowMs: quota.windowMs, burst })
}
