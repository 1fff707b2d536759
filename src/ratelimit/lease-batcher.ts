import { performance } from 'node:perf_hooks'

import { ClosedError, InvalidArgumentError } from '../core/errors'
import type { RateLimitDecision } from './decision'
import type { RedisRateLimitStore } from './redis-store'
import { functionOption, knownOptions, optionNames, wholeNumber } from '../core/validate'

/** Options of a {@link LeaseBatcher}. */
export interface LeaseBatcherOptions {
  /**
   * Units leased from Redis in one round trip, per key and process (at most the store's
   * capacity is granted). Requests costing more go straight to Redis.
   * @default 10
   */
  batchSize?: number
  /**
   * How long leased units stay spendable, in milliseconds from the moment they were
   * requested; units left after that are dropped, never spent late.
   * @default 100
   */
  leaseMs?: number
  /**
   * Most keys whose lease or cached denial is kept; requests for further keys go straight to
   * Redis until idle keys are swept. Bounds the memory a flood of keys can take.
   * @default 100_000
   */
  maxKeys?: number
  /**
   * The clock: milliseconds from any fixed origin, never going back. Injectable for tests.
   * @default performance.now
   */
  now?: () => number
}

/** The defaults of {@link LeaseBatcherOptions}. */
export const LEASE_BATCHER_DEFAULTS = Object.freeze({ batchSize: 10, leaseMs: 100, maxKeys: 100_000 })

const OPTION_NAMES = optionNames<LeaseBatcherOptions>()(LEASE_BATCHER_DEFAULTS, { now: true })

/** What a process holds for one key. */
interface Lease {
  /** Leased units not yet spent: from 0 to batchSize − 1 (the request that leased took its share). */
  units: number
  /** When the units are dropped (local clock). */
  expiresAt: number
  /** What Redis had left after the last lease or denial. */
  remaining: number
  /** When Redis expected the key back to full, as of the last lease or denial (local clock). */
  resetAt: number
  /** Until when a request of `deniedCost` or more is denied without asking Redis (local clock). */
  deniedUntil: number
  deniedCost: number
  /** The lease request in flight, shared by every caller that waits for it. */
  pending: Promise<RateLimitDecision> | undefined
}

/**
 * Local batching in front of a {@link RedisRateLimitStore}: each process leases `batchSize`
 * units of a key from Redis in one round trip (`take`) and admits requests from the lease
 * without one, until the lease is spent or `leaseMs` have passed. Callers that find no units
 * for a key while a lease request is in flight wait for that request rather than sending
 * their own. A denial is remembered until its retry time for requests of at least the same
 * cost, which Redis could not admit before then either. Requests of cost 0 or above
 * `batchSize` go straight to Redis.
 *
 * **Decisions.** Allowed requests served from a lease report as `remaining` the units the
 * process still holds plus what Redis had left when it granted the lease (other processes may
 * have spent some since), and as `resetMs` Redis' reset of that moment, counted down locally.
 * A denial reports Redis' answer, its `retryAfterMs` and `resetMs` counted down likewise.
 *
 * **Overshoot bound.** Redis counts leased units when it grants them, a process holds at most
 * one lease per key at a time (its leftover units are dropped when it asks for the next) and
 * at most `batchSize` units, whether already granted or being granted. So of the units the
 * processes admit in an interval (an admission counted when the batcher answers it, on Redis'
 * clock), all but those leased before the interval began were counted by Redis within it,
 * and each of P processes (batchers) brought at most `batchSize` units into it. Hence:
 * - `'fixed-window'`, `'sliding-window'`: at most `limit + P × batchSize` in each aligned
 *   window (each aligned window of Redis admits at most `limit`);
 * - `'sliding-log'`: at most `limit + P × batchSize` in any window-long interval;
 * - `'token-bucket'`, `'gcra'`: at most `burst + limit × d / windowMs + P × batchSize` in any
 *   interval of length d.
 *
 * The bound is reached when every process takes a full lease just before a window ends and
 * spends it after. `leaseMs` does not change it; it bounds how late a leased unit can be
 * spent. The price on the other side: units a lease drops were counted but never admitted, at
 * most `batchSize − 1` per lease.
 */
export class LeaseBatcher {
  /** Units leased per round trip. */
  readonly batchSize: number
  /** Lifetime of a lease in milliseconds. */
  readonly leaseMs: number
  /** Most keys tracked at once. */
  readonly maxKeys: number
  private readonly store: RedisRateLimitStore
  private readonly now: () => number
  private readonly leases = new Map<string, Lease>()
  private nextSweep = 0
  private closed = false

  /** Batches decisions of `store`; throws {@link InvalidArgumentError} for invalid options. */
  constructor(store: RedisRateLimitStore, options: LeaseBatcherOptions = {}) {
    knownOptions('batch options', options, OPTION_NAMES)
    this.store = store
    this.batchSize = wholeNumber('batchSize', options.batchSize, 1, undefined, LEASE_BATCHER_DEFAULTS.batchSize)
    this.leaseMs = wholeNumber('leaseMs', options.leaseMs, 1, undefined, LEASE_BATCHER_DEFAULTS.leaseMs)
    this.maxKeys = wholeNumber('maxKeys', options.maxKeys, 1, undefined, LEASE_BATCHER_DEFAULTS.maxKeys)
    this.now = functionOption('now', options.now, () => performance.now())
  }

  /**
   * Decides a request of `cost` units for `key`, from this process's lease when it can.
   * Rejects as {@link RedisRateLimitStore.decide} does (a failed lease request rejects every
   * caller waiting for it), and with {@link ClosedError} after {@link close}.
   */
  async decide(key: string, cost: number): Promise<RateLimitDecision> {
    if (this.closed) throw new ClosedError('the lease batcher is closed')
    this.store.checkRequest(key, cost)
    if (cost === 0 || cost > this.batchSize) return this.store.decide(key, cost)
    for (;;) {
      const now = this.now()
      const lease = this.lease(key, now)
      if (lease === undefined) return this.store.decide(key, cost)
      if (lease.units >= cost && now < lease.expiresAt) {
        lease.units -= cost
        return {
          allowed: true,
          remaining: lease.units + lease.remaining,
          retryAfterMs: 0,
          resetMs: untilMs(lease.resetAt, now),
        }
      }
      if (now < lease.deniedUntil && cost >= lease.deniedCost) {
        return {
          allowed: false,
          remaining: lease.remaining,
          retryAfterMs: Math.max(1, untilMs(lease.deniedUntil + 1, now)),
          resetMs: untilMs(lease.resetAt, now),
        }
      }
      if (lease.pending === undefined) {
        // The caller that asks gets Redis' own answer, whatever the lease's age by then.
        lease.pending = this.renew(key, lease, cost, now)
        return lease.pending
      }
      // Wait for the lease in flight, then look again; its errors are every waiter's.
      await lease.pending
    }
  }

  /**
   * Drops every lease (their units stay counted in Redis) and refuses further calls. The
   * store stays open. Idempotent.
   */
  close(): void {
    this.closed = true
    this.leases.clear()
  }

  private lease(key: string, now: number): Lease | undefined {
    const found = this.leases.get(key)
    if (found !== undefined) return found
    if (now >= this.nextSweep || this.leases.size >= this.maxKeys) this.sweep(now)
    if (this.leases.size >= this.maxKeys) return undefined
    const lease: Lease = {
      units: 0,
      expiresAt: -Infinity,
      remaining: 0,
      resetAt: -Infinity,
      deniedUntil: -Infinity,
      deniedCost: 0,
      pending: undefined,
    }
    this.leases.set(key, lease)
    return lease
  }

  /** Forgets keys with nothing left to serve; runs at most once per max(`leaseMs`, 1 s). */
  private sweep(now: number): void {
    if (now < this.nextSweep) return
    this.nextSweep = now + Math.max(this.leaseMs, 1000)
    for (const [key, lease] of this.leases) {
      if (lease.pending === undefined && (lease.units === 0 || now >= lease.expiresAt) && now >= lease.deniedUntil) {
        this.leases.delete(key)
      }
    }
  }

  /** Asks Redis for a lease of up to `batchSize` units of which the caller takes `cost`. */
  private async renew(key: string, lease: Lease, cost: number, sentAt: number): Promise<RateLimitDecision> {
    // Only one lease per key at a time: that keeps the overshoot within P × batchSize.
    lease.units = 0
    try {
      const { granted, decision } = await this.store.take(key, this.batchSize, { atLeast: cost })
      // Redis decided after `sentAt`, so these local deadlines are never later than its own.
      lease.remaining = decision.remaining
      lease.resetAt = sentAt + decision.resetMs
      if (!decision.allowed) {
        lease.deniedUntil = sentAt + decision.retryAfterMs - 1
        lease.deniedCost = cost
        return decision
      }
      lease.units = granted - cost
      lease.expiresAt = sentAt + this.leaseMs
      lease.deniedUntil = -Infinity
      return { ...decision, remaining: lease.units + decision.remaining }
    } finally {
      lease.pending = undefined
    }
  }
}

/** Whole milliseconds from `now` until `deadline`, rounded up; 0 once it has passed. */
function untilMs(deadline: number, now: number): number {
  return Math.max(0, Math.ceil(deadline - now))
}
