import type { ServerResponse } from 'node:http'

import type { RateLimitDecision } from './decision'

/**
 * The response headers of a rate-limited HTTP API for one decision: `RateLimit-Limit`,
 * `RateLimit-Remaining` and `RateLimit-Reset` (seconds until the limiter is full again), as
 * in the IETF httpapi RateLimit header fields draft, and `Retry-After` (seconds, RFC 9110
 * §10.2.3) on a denial. Seconds are rounded up so a client that waits them is admitted.
 *
 * @example
 * ```ts
 * const decision = limiter.allowSync(clientIp)
 * for (const [name, value] of Object.entries(rateLimitHeaders(decision, limiter.quota.limit))) {
 *   res.setHeader(name, value)
 * }
 * ```
 */
export function rateLimitHeaders(decision: RateLimitDecision, limit: number): Record<string, string> {
  const headers: Record<string, string> = {
    'RateLimit-Limit': String(limit),
    'RateLimit-Remaining': String(decision.remaining),
    'RateLimit-Reset': String(Math.ceil(decision.resetMs / 1000)),
  }
  if (!decision.allowed) headers['Retry-After'] = String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000)))
  return headers
}

/** The JSON body of a 429 response, from {@link rejectTooManyRequests}. */
export interface TooManyRequestsBody {
  error: 'too_many_requests'
  message: string
  retryAfterMs: number
}

/**
 * Ends `res` with `429 Too Many Requests`, the headers of {@link rateLimitHeaders} and a JSON
 * body saying when to retry.
 */
export function rejectTooManyRequests(res: ServerResponse, decision: RateLimitDecision, limit: number): void {
  const body: TooManyRequestsBody = {
    error: 'too_many_requests',
    message: `rate limit exceeded; retry in ${decision.retryAfterMs} ms`,
    retryAfterMs: decision.retryAfterMs,
  }
  const text = JSON.stringify(body)
  res.writeHead(429, {
    ...rateLimitHeaders(decision, limit),
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  })
  res.end(text)
}
