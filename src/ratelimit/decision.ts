/**
 * The answer to one rate-limited request, the same shape in every mode (local, Redis,
 * batched, fallback). Durations are whole milliseconds rounded up, so a caller that waits
 * `retryAfterMs` and asks again with the same cost is admitted if nothing else consumed.
 */
export interface RateLimitDecision {
  /** Whether the request was admitted (and its cost consumed). */
  allowed: boolean
  /** Whole units a further request could have right now, after this decision. */
  remaining: number
  /** When denied: milliseconds until the same request would be admitted; 0 when allowed. */
  retryAfterMs: number
  /** Milliseconds until the limiter is back to full for this key; 0 when it is full now. */
  resetMs: number
}
