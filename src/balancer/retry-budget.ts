import { InvalidArgumentError } from '../core/errors'
import { SlidingWindowCounter } from '../resilience/sliding-window-counter'
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
// Kinds of event the window counts.
const REQUESTS = 0
const RETRIES = 1

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
  private readonly window: SlidingWindowCounter
  private granted = 0
  private refused = 0

  /** @throws {InvalidArgumentError} when an option is out of range; the message names it. */
  constructor(options: RetryBudgetOptions = {}) {
    this.options = resolveRetryBudgetOptions(options)
    this.window = new SlidingWindowCounter(this.options.windowMs, BUCKETS, 2)
  }

  /** Records `count` requests (first attempts): each adds `ratio` to the retries allowed. */
  deposit(count = 1): void {
    if (!Number.isInteger(count) || count < 0) {
      throw new InvalidArgumentError(`invalid count: expected a whole number ≥ 0, got ${describe(count)}`)
    }
    this.window.add(this.options.now(), REQUESTS, count)
  }

  /** Takes one retry from the budget: `false` means do not retry, the budget is spent. */
  tryWithdraw(): boolean {
    const now = this.options.now()
    this.window.advance(now)
    if (this.window.total(RETRIES) + 1 > this.allowance()) {
      this.refused++
      return false
    }
    this.window.add(now, RETRIES)
    this.granted++
    return true
  }

  /** A snapshot of the window and the totals. */
  stats(): RetryBudgetStats {
    this.window.advance(this.options.now())
    const retries = this.window.total(RETRIES)
    return {
      windowRequests: this.window.total(REQUESTS),
      windowRetries: retries,
      available: Math.max(0, Math.floor(this.allowance() - retries)),
      retries: this.granted,
      refused: this.refused,
    }
  }

  private allowance(): number {
    const o = this.options
    return (o.minRetriesPerSecond * o.windowMs) / 1000 + o.ratio * this.window.total(REQUESTS)
  }
}
