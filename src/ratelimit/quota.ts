import { InvalidArgumentError } from '../core/errors'
import { wholeNumber } from '../core/validate'

/** The rate-limiting algorithms with a fixed rate (every one but `'adaptive'`). */
export type FixedRateAlgorithm = 'token-bucket' | 'gcra' | 'sliding-window' | 'sliding-log' | 'fixed-window'

/** Every algorithm a {@link RateLimiter} accepts. */
export type RateLimitAlgorithm = FixedRateAlgorithm | 'adaptive'

/** The algorithms, in the order of the native enum's discriminants. */
export const RATE_LIMIT_ALGORITHMS: readonly RateLimitAlgorithm[] = Object.freeze([
  'token-bucket',
  'gcra',
  'sliding-window',
  'sliding-log',
  'fixed-window',
  'adaptive',
])

/** The largest limit or burst: the native store keeps counts in 32 bits. */
export const MAX_LIMIT = 0xffff_ffff

/** The longest window: 2^62 ns, as in the native crate, rounded down to whole ms. */
export const MAX_WINDOW_MS = Math.floor(2 ** 62 / 1e6)

/**
 * A validated rate: `limit` units per `windowMs`, admitting `burst` at once.
 * `burst` differs from `limit` only for the bucket algorithms (token-bucket, gcra).
 */
export interface Quota {
  readonly limit: number
  readonly windowMs: number
  readonly burst: number
}

/**
 * Validates a rate; throws {@link InvalidArgumentError} naming the option at fault.
 * The window algorithms (fixed, sliding) admit exactly `limit` per window, so they refuse
 * a `burst` other than `limit`.
 */
export function validateQuota(
  algorithm: FixedRateAlgorithm,
  options: { limit: unknown; windowMs: unknown; burst?: unknown },
): Quota {
  const limit = wholeNumber('limit', options.limit, 1, MAX_LIMIT)
  const windowMs = wholeNumber('windowMs', options.windowMs, 1, MAX_WINDOW_MS)
  const burst = options.burst === undefined ? limit : wholeNumber('burst', options.burst, 1, MAX_LIMIT)
  if (burst !== limit && algorithm !== 'token-bucket' && algorithm !== 'gcra') {
    throw new InvalidArgumentError(
      `invalid burst: ${algorithm} admits exactly limit per window, so burst must equal limit (${limit}); use token-bucket or gcra for bursts`,
    )
  }
  return Object.freeze({ limit, windowMs, burst })
}
