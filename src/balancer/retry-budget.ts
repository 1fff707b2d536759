import { InvalidArgumentError } from '../core/errors'
import {
  describe,
  resolveRetryBudgetOptions,
  type ResolvedRetryBudgetOptions,
  type RetryBudgetOptions,
} from './options'

/** Counters of a {@link RetryBudget}, from {@link RetryBudget.stats}. */
export interface RetryBudgetStats {
  /** Requests deposited in the current window. */
  windowRequests: number
  /** Retries withdrawn in the current window. */
  windowRetries: number
  /** Retries the window still allows now. */
  available: number
  /** Retries granted in all. */
  retries: number
  /** Retries refused in all. */
  refused: number
}

const BUCKETS = 10

/**
 * A retry budget, after Finagle's `RetryBudget` and Envoy's `retry_budget`: retries are allowed while those of the
 * last `windowMs` stay within `ratio` × the requests of the same window plus `minRetriesPerSecond` × the window in
 * seconds. Retrying a failing call is cheap for one client and ruinous when every client of an overloaded service does
 * it at once; a budget caps the extra load at a known share (20 % by default) however many layers retry.
 *
 * The window slides in tenths, lazily: nothing runs while no one calls. Share one budget between every call path to
 * the same service.
 *
 * @example
 * ```ts
 * const budget = new RetryBudget({ ratio: 0.1 })
 * budget.deposit() // once per request
 * if (failed && budget.tryWithdraw()) retry()
 * ```
 */
export class RetryBudget {
  private readonly options: ResolvedRetryBudgetOptions
  private readonly bucketMs: number
  /** [requests, retries] per bucket. */
  private readonly ring = new Float64Array(2 * BUCKETS)
  private head = 0
  private epoch = Number.NEGATIVE_INFINITY
  private requests = 0
  private retriesInWindow = 0
  private granted = 0
  private refused = 0

  /** @throws {InvalidArgumentError} when an option is out of range; the message names it. */
  constructor(options: RetryBudgetOptions = {}) {
    this.options = resolveRetryBudgetOptions(options)
    this.bucketMs = this.options.windowMs / BUCKETS
  }

  /** Records `count` requests (first attempts): each adds `ratio` to the retries allowed. */
  deposit(count = 1): void {
    if (!Number.isInteger(count) || count < 0) {
      throw new InvalidArgumentError(`invalid count: expected a whole number ≥ 0, got ${describe(count)}`)
    }
    this.advance(this.options.now())
    this.requests += count
    this.ring[2 * this.head] = this.ring[2 * this.head]! + count
  }

  /** Takes one retry from the budget: `false` means do not retry, the budget is spent. */
  tryWithdraw(): boolean {
    this.advance(this.options.now())
    if (this.retriesInWindow + 1 > this.allowance()) {
      this.refused++
      return false
    }
    this.retriesInWindow++
    this.ring[2 * this.head + 1] = this.ring[2 * this.head + 1]! + 1
    this.granted++
    return true
  }

  /** A snapshot of the window and the totals. */
  stats(): RetryBudgetStats {
    this.advance(this.options.now())
    return {
      windowRequests: this.requests,
      windowRetries: this.retriesInWindow,
      available: Math.max(0, Math.floor(this.allowance() - this.retriesInWindow)),
      retries: this.granted,
      refused: this.refused,
    }
  }

  private allowance(): number {
    const o = this.options
    return (o.minRetriesPerSecond * o.windowMs) / 1000 + o.ratio * this.requests
  }

  /** Moves the head bucket to `now`, dropping the buckets that fell out of the window. */
  private advance(now: number): void {
    const epoch = Math.floor(now / this.bucketMs)
    const steps = epoch - this.epoch
    if (!(steps > 0)) return
    if (steps >= BUCKETS) {
      this.ring.fill(0)
      this.requests = 0
      this.retriesInWindow = 0
    } else {
      for (let i = 0; i < steps; i++) {
        this.head = this.head + 1 === BUCKETS ? 0 : this.head + 1
        this.requests -= this.ring[2 * this.head]!
        this.retriesInWindow -= this.ring[2 * this.head + 1]!
        this.ring[2 * this.head] = 0
        this.ring[2 * this.head + 1] = 0
      }
    }
    this.epoch = epoch
  }
}
