import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'

import { CostExceedsCapacityError, InvalidArgumentError } from '../core/errors'
import {
  createAdaptiveLimit,
  type AdaptiveLimit,
  type AdaptiveLimitOptions,
  type AimdLimitOptions,
  type GradientLimitOptions,
} from './adaptive-limit'
import {
  checkEmbeddedBreakerOptions,
  CircuitBreaker,
  resolveCircuitBreakerOptions,
  type CircuitBreakerOptions,
  type CircuitState,
  type CircuitStateChange,
} from '../resilience/circuit-breaker'
import type { RateLimitDecision } from './decision'
import { functionOption, knownOptions, optionNames, wholeNumber } from '../core/validate'
import { checkKey } from './key'
import { validateQuota } from './quota'

/**
 * The adaptive part of {@link AdaptiveRateLimiterOptions}: an algorithm and its options.
 * The limit always starts at the limiter's `limit`, so `initialLimit` is not accepted.
 */
export type AdaptiveRateOptions =
  | ({ algorithm?: 'aimd' } & Omit<AimdLimitOptions, 'initialLimit'>)
  | ({ algorithm: 'gradient' } & Omit<GradientLimitOptions, 'initialLimit'>)

/** Options of {@link AdaptiveRateLimiter}. */
export interface AdaptiveRateLimiterOptions {
  /** Units per `windowMs` to start at, 1 to 2^32 - 1. The adaptive limit moves from here. */
  limit: number
  /** The window `limit` is counted over, in whole ms. */
  windowMs: number
  /**
   * Units admitted at once when the bucket is full, at the starting limit. The bucket's
   * capacity scales with the adaptive limit (capacity = limit × burst / starting limit), so
   * a lowered limit also lowers the burst a backend has to absorb.
   * @default limit
   */
  burst?: number
  /**
   * The adaptive algorithm. Its `minLimit` defaults to 1 and its `maxLimit` to `limit`:
   * adaptation lowers the configured rate under trouble and recovers it, and goes above it
   * only when you raise `maxLimit`. The other options keep the algorithm's defaults
   * (`AIMD_DEFAULTS`, `GRADIENT_DEFAULTS`).
   * @default { algorithm: 'aimd' }
   */
  adaptive?: AdaptiveRateOptions
  /**
   * A circuit breaker per key, on the breaker's defaults (`CIRCUIT_BREAKER_DEFAULTS`); its
   * clock is the limiter's. `false` runs without breakers.
   * @default {}
   */
  breaker?: Omit<CircuitBreakerOptions, 'now'> | false
  /**
   * Keys held at most. At the cap a new key evicts the least recently used idle key (full
   * bucket, breaker closed); when the 16 least recently used keys are all busy, the least
   * recently used goes anyway and is counted in `evictedBusy`: memory stays bounded, and a
   * growing `evictedBusy` says the cap is too low.
   * @default 10000
   */
  maxKeys?: number
  /** Longest key in UTF-8 bytes. @default 512 */
  maxKeyLength?: number
  /** Clock in ms; only differences matter. @default `performance.now` (monotonic) */
  now?: () => number
}

/** Defaults of the optional {@link AdaptiveRateLimiterOptions}. */
export const ADAPTIVE_LIMITER_DEFAULTS = Object.freeze({
  algorithm: 'aimd' as const,
  minLimit: 1,
  maxKeys: 10_000,
  maxKeyLength: 512,
})

// The defaults above include the adaptive part's, so the names are listed in full here.
const OPTION_NAMES = optionNames<AdaptiveRateLimiterOptions>()(
  {},
  {
    limit: true,
    windowMs: true,
    burst: true,
    adaptive: true,
    breaker: true,
    maxKeys: true,
    maxKeyLength: true,
    now: true,
  },
)

/** Counters of one {@link AdaptiveRateLimiter}, from {@link AdaptiveRateLimiter.stats}. */
export interface AdaptiveRateLimiterStats {
  /** Keys held now. */
  keys: number
  /** Requests admitted. */
  allowed: number
  /** Requests denied by a key's token bucket. */
  denied: number
  /** Requests rejected by a key's breaker (open, or half-open with every probe slot taken). */
  breakerRejections: number
  /** Breakers that opened, over all keys. */
  breakerOpens: number
  /** Keys evicted at the `maxKeys` cap. */
  evictions: number
  /** Of those, keys that were not idle (see `maxKeys`). */
  evictedBusy: number
}

/** Payload of the limiter's `'breaker'` event. */
export interface KeyedCircuitStateChange extends CircuitStateChange {
  key: string
}

/** Events of {@link AdaptiveRateLimiter}. */
export type AdaptiveRateLimiterEvents = {
  /** A key's breaker changed state; emitted inside the call that caused or observed it. */
  breaker: [change: KeyedCircuitStateChange]
}

/** How many of the least recently used keys eviction inspects for an idle one. */
const EVICTION_SCAN = 16

/**
 * Absorbs floating-point residue in token arithmetic, so that a caller who waits exactly
 * `retryAfterMs` is admitted rather than told to wait 1 ms more.
 */
const EPSILON = 1e-9

/** The state of one key, linked into the recency list (head = most recent). */
class KeyState {
  newer: KeyState | undefined = undefined
  older: KeyState | undefined = undefined
  /** Tokens at `refilledAt`, at most the capacity of the current limit. */
  tokens: number
  refilledAt: number
  /** Units admitted in the usage window starting at `usageStart`, and in the one before it. */
  usedCurrent = 0
  usedPrevious = 0
  usageStart: number

  constructor(
    readonly key: string,
    readonly limit: AdaptiveLimit,
    readonly breaker: CircuitBreaker | undefined,
    capacity: number,
    now: number,
  ) {
    this.tokens = capacity
    this.refilledAt = now
    this.usageStart = now
  }
}

/**
 * A keyed, synchronous rate limiter whose rate adapts to how the protected work is
 * going, with a circuit breaker per key. Backs the `'adaptive'` algorithm of `RateLimiter`.
 *
 * Per key: an adaptive limit in units per `windowMs` (AIMD or gradient, see
 * `adaptive-limit.ts`) starting at `limit`; a token bucket refilling at the current limit
 * per window, its capacity scaled with it; and a {@link CircuitBreaker}. Report each
 * completed request once: {@link recordLatency} or {@link recordSuccess} when it worked,
 * {@link recordFailure} when it did not. The limit grows only while a key uses at least
 * half of it, so a quiet key does not drift to `maxLimit` and then let a burst through.
 *
 * No timers: everything time-driven is computed lazily from the injected clock.
 * `allow()` allocates nothing but the decision it returns.
 *
 * @example
 * ```ts
 * const limiter = new AdaptiveRateLimiter({ limit: 100, windowMs: 1_000, adaptive: { targetLatencyMs: 250 } })
 * const decision = limiter.allow(user)
 * if (!decision.allowed) return reply(429, { retryAfterMs: decision.retryAfterMs })
 * const started = performance.now()
 * try {
 *   await handle()
 *   limiter.recordLatency(user, performance.now() - started)
 * } catch (err) {
 *   limiter.recordFailure(user)
 *   throw err
 * }
 * ```
 */
export class AdaptiveRateLimiter extends EventEmitter<AdaptiveRateLimiterEvents> {
  /** The starting limit, units per window. */
  readonly limit: number
  /** The window of the limit, in ms. */
  readonly windowMs: number
  private readonly burstRatio: number
  /** Largest cost ever admissible: the capacity at `maxLimit`. */
  private readonly maxCapacity: number
  private readonly limitOptions: AdaptiveLimitOptions
  private readonly breakerOptions: CircuitBreakerOptions | undefined
  private readonly maxKeys: number
  private readonly maxKeyLength: number
  private readonly now: () => number
  private readonly keys = new Map<string, KeyState>()
  private newest: KeyState | undefined = undefined
  private oldest: KeyState | undefined = undefined
  private allowed = 0
  private denied = 0
  private breakerRejections = 0
  private breakerOpens = 0
  private evictions = 0
  private evictedBusy = 0

  /**
   * @throws {InvalidArgumentError} when an option is missing or out of range; the message
   *   names it
   */
  constructor(options: AdaptiveRateLimiterOptions) {
    super()
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError(`invalid options: expected an object, got ${String(options)}`)
    }
    knownOptions('adaptive rate limiter options', options, OPTION_NAMES)
    // The same rules as a token bucket's: whole, positive, within the native ranges.
    const quota = validateQuota('token-bucket', options)
    this.limit = quota.limit
    this.windowMs = quota.windowMs
    this.burstRatio = quota.burst / quota.limit

    const adaptive = options.adaptive ?? {}
    if (adaptive === null || typeof adaptive !== 'object') {
      throw new InvalidArgumentError(`invalid adaptive: expected an object, got ${String(adaptive)}`)
    }
    if ('initialLimit' in adaptive) {
      throw new InvalidArgumentError('invalid adaptive.initialLimit: the adaptive limit starts at `limit`; set that')
    }
    const minLimit = adaptive.minLimit ?? ADAPTIVE_LIMITER_DEFAULTS.minLimit
    const maxLimit = adaptive.maxLimit ?? quota.limit
    if (typeof minLimit === 'number' && minLimit > quota.limit) {
      throw new InvalidArgumentError(
        `invalid adaptive.minLimit: expected at most limit (${quota.limit}), got ${minLimit}`,
      )
    }
    if (typeof maxLimit === 'number' && maxLimit < quota.limit) {
      throw new InvalidArgumentError(
        `invalid adaptive.maxLimit: expected at least limit (${quota.limit}), got ${maxLimit}`,
      )
    }
    this.limitOptions = {
      ...adaptive,
      algorithm: adaptive.algorithm ?? ADAPTIVE_LIMITER_DEFAULTS.algorithm,
      minLimit,
      maxLimit,
      initialLimit: quota.limit,
    } as AdaptiveLimitOptions
    createAdaptiveLimit(this.limitOptions) // validates now rather than at the first key
    this.maxCapacity = maxLimit * this.burstRatio

    this.now = functionOption('now', options.now, (): number => performance.now())
    const breaker: unknown = options.breaker
    if (breaker !== undefined && breaker !== false && (breaker === null || typeof breaker !== 'object')) {
      throw new InvalidArgumentError(`invalid breaker: expected breaker options or false, got ${String(breaker)}`)
    }
    if (options.breaker === false) {
      this.breakerOptions = undefined
    } else {
      checkEmbeddedBreakerOptions('breaker', options.breaker, ['now'])
      this.breakerOptions = { ...options.breaker, now: this.now }
      resolveCircuitBreakerOptions(this.breakerOptions)
    }
    this.maxKeys = wholeNumber('maxKeys', options.maxKeys, 1, undefined, ADAPTIVE_LIMITER_DEFAULTS.maxKeys)
    this.maxKeyLength = wholeNumber(
      'maxKeyLength',
      options.maxKeyLength,
      1,
      undefined,
      ADAPTIVE_LIMITER_DEFAULTS.maxKeyLength,
    )
  }

  /**
   * Decides one request of `cost` units for `key`, and consumes them when admitted.
   * Rejects fast while the key's breaker is open (`retryAfterMs`: until it turns half-open,
   * or longer if the bucket needs longer); while half-open, an admitted request is a probe,
   * and a request refused because every probe slot is taken gets at least 1 ms.
   * When the limit has shrunk below `cost`, `retryAfterMs` assumes the current rate and is
   * an estimate.
   * @throws {InvalidArgumentError} for an empty, oversized or non-string key or a cost that
   *   is not a whole number from 1
   * @throws {CostExceedsCapacityError} when `cost` exceeds the bucket's capacity at `maxLimit`
   */
  allow(key: string, cost = 1): RateLimitDecision {
    checkKey(key, this.maxKeyLength)
    if (typeof cost !== 'number' || !Number.isInteger(cost) || cost < 1) {
      throw new InvalidArgumentError(`invalid cost: expected a whole number from 1, got ${String(cost)}`)
    }
    if (cost > this.maxCapacity + EPSILON) {
      throw new CostExceedsCapacityError(
        `cost ${cost} exceeds the capacity of ${Math.floor(this.maxCapacity + EPSILON)} units: it could never be admitted`,
      )
    }
    const now = this.now()
    const state = this.touch(key, now)
    const limit = state.limit.limit
    const capacity = limit * this.burstRatio
    this.refill(state, now, limit, capacity)
    const breaker = state.breaker
    const tokens = state.tokens
    const bucketWaitMs = tokens + EPSILON >= cost ? 0 : Math.ceil(((cost - tokens) * this.windowMs) / limit)
    if (breaker !== undefined && !breaker.tryAcquire()) {
      this.breakerRejections++
      // Half-open with every probe slot taken has no predictable end: at least 1 ms, so
      // that no denial ever reads as "retry now".
      const retryAfterMs = Math.max(breaker.retryAfterMs(), bucketWaitMs, 1)
      return { allowed: false, remaining: 0, retryAfterMs, resetMs: this.resetMs(tokens, capacity, limit) }
    }
    if (bucketWaitMs > 0) {
      breaker?.release()
      this.denied++
      const remaining = Math.floor(tokens + EPSILON)
      return { allowed: false, remaining, retryAfterMs: bucketWaitMs, resetMs: this.resetMs(tokens, capacity, limit) }
    }
    state.tokens = Math.max(0, tokens - cost)
    this.rollUsage(state, now)
    state.usedCurrent += cost
    this.allowed++
    return {
      allowed: true,
      remaining: Math.floor(state.tokens + EPSILON),
      retryAfterMs: 0,
      resetMs: this.resetMs(state.tokens, capacity, limit),
    }
  }

  /**
   * Reports a request for `key` that succeeded after `ms` milliseconds: the same as
   * `recordSuccess(key, ms)`.
   * @throws {InvalidArgumentError} for a bad key or a latency that is negative or not finite
   */
  recordLatency(key: string, ms: number): void {
    if (ms === undefined) throw new InvalidArgumentError('invalid latencyMs: expected a number of milliseconds')
    this.record(key, ms, true)
  }

  /**
   * Reports a request for `key` that succeeded, with its latency when known (the gradient
   * algorithm learns only from latencies). Closes a half-open breaker after enough of these.
   * @throws {InvalidArgumentError} for a bad key or a latency that is negative or not finite
   */
  recordSuccess(key: string, latencyMs?: number): void {
    this.record(key, latencyMs, true)
  }

  /**
   * Reports a request for `key` that failed: the limit shrinks and the breaker counts it.
   * @throws {InvalidArgumentError} for a bad key or a latency that is negative or not finite
   */
  recordFailure(key: string, latencyMs?: number): void {
    this.record(key, latencyMs, false)
  }

  /** The key's current limit in units per window (a real number); `limit` for a key not held. */
  currentLimit(key: string): number {
    return this.keys.get(key)?.limit.limit ?? this.limit
  }

  /** The key's breaker state; `'closed'` for a key not held or without breakers. */
  breakerState(key: string): CircuitState {
    return this.keys.get(key)?.breaker?.state ?? 'closed'
  }

  /** A snapshot of the counters. */
  stats(): AdaptiveRateLimiterStats {
    return {
      keys: this.keys.size,
      allowed: this.allowed,
      denied: this.denied,
      breakerRejections: this.breakerRejections,
      breakerOpens: this.breakerOpens,
      evictions: this.evictions,
      evictedBusy: this.evictedBusy,
    }
  }

  private record(key: string, latencyMs: number | undefined, ok: boolean): void {
    checkKey(key, this.maxKeyLength)
    if (latencyMs !== undefined && (typeof latencyMs !== 'number' || !(latencyMs >= 0 && latencyMs < Infinity))) {
      throw new InvalidArgumentError(
        `invalid latencyMs: expected a finite number of at least 0, got ${String(latencyMs)}`,
      )
    }
    const now = this.now()
    const state = this.touch(key, now)
    const before = state.limit.limit
    // Settle the bucket at the old rate first: the new limit applies from now on only.
    this.refill(state, now, before, before * this.burstRatio)
    this.rollUsage(state, now)
    const inUse = state.usedPrevious * (1 - (now - state.usageStart) / this.windowMs) + state.usedCurrent
    state.limit.onSample(latencyMs, ok, inUse)
    state.tokens = Math.min(state.tokens, state.limit.limit * this.burstRatio)
    if (ok) state.breaker?.recordSuccess()
    else state.breaker?.recordFailure()
  }

  private refill(state: KeyState, now: number, limit: number, capacity: number): void {
    const elapsed = now - state.refilledAt
    if (elapsed > 0) {
      // Multiply before dividing: exact for whole limits and times.
      state.tokens = Math.min(capacity, state.tokens + (elapsed * limit) / this.windowMs)
      state.refilledAt = now
    }
  }

  private resetMs(tokens: number, capacity: number, limit: number): number {
    return tokens + EPSILON >= capacity ? 0 : Math.ceil(((capacity - tokens) * this.windowMs) / limit)
  }

  /** Starts a new usage window when the current one is over; the two together estimate recent use. */
  private rollUsage(state: KeyState, now: number): void {
    const elapsed = now - state.usageStart
    if (elapsed < this.windowMs) return
    state.usedPrevious = elapsed < 2 * this.windowMs ? state.usedCurrent : 0
    state.usedCurrent = 0
    state.usageStart = now - (elapsed % this.windowMs)
  }

  /** Finds or creates the key's state and marks it most recently used. */
  private touch(key: string, now: number): KeyState {
    let state = this.keys.get(key)
    if (state === undefined) {
      if (this.keys.size >= this.maxKeys) this.evict(now)
      state = this.create(key, now)
      this.keys.set(key, state)
    } else if (state === this.newest) {
      return state
    } else {
      this.unlink(state)
    }
    state.older = this.newest
    if (this.newest !== undefined) this.newest.newer = state
    this.newest = state
    this.oldest ??= state
    return state
  }

  private create(key: string, now: number): KeyState {
    const limit = createAdaptiveLimit(this.limitOptions)
    let breaker: CircuitBreaker | undefined
    if (this.breakerOptions !== undefined) {
      breaker = new CircuitBreaker(this.breakerOptions)
      breaker.on('state', ({ from, to }) => {
        if (to === 'open') this.breakerOpens++
        this.emit('breaker', { key, from, to })
      })
    }
    return new KeyState(key, limit, breaker, limit.limit * this.burstRatio, now)
  }

  private evict(now: number): void {
    let victim: KeyState | undefined
    let candidate = this.oldest
    for (let i = 0; i < EVICTION_SCAN && candidate !== undefined; i++, candidate = candidate.newer) {
      if (this.isIdle(candidate, now)) {
        victim = candidate
        break
      }
    }
    if (victim === undefined) {
      victim = this.oldest
      this.evictedBusy++
    }
    if (victim === undefined) return
    this.unlink(victim)
    this.keys.delete(victim.key)
    this.evictions++
  }

  /** Evicting an idle key changes no decision: its bucket is full and its breaker closed. */
  private isIdle(state: KeyState, now: number): boolean {
    if (state.breaker !== undefined && state.breaker.state !== 'closed') return false
    const limit = state.limit.limit
    const capacity = limit * this.burstRatio
    return state.tokens + ((now - state.refilledAt) * limit) / this.windowMs + EPSILON >= capacity
  }

  private unlink(state: KeyState): void {
    if (state.newer !== undefined) state.newer.older = state.older
    else this.newest = state.older
    if (state.older !== undefined) state.older.newer = state.newer
    else this.oldest = state.newer
    state.newer = undefined
    state.older = undefined
  }
}
