import { numberInRange } from '../../core/validate'
import { deltaSeconds, parseCacheControl, type CacheControl } from './cache-control'
import { headerValue, requestHeader, type HeaderList, type RequestHeaders } from './headers'
import { parseHttpDate } from './http-date'

/** What freshness needs of a stored response. */
export interface FreshnessInput {
  status: number
  headers: HeaderList
  /** When the request was sent, epoch ms. */
  requestTime: number
  /** When the response arrived, epoch ms. */
  responseTime: number
}

/** Options of the freshness rules. */
export interface FreshnessOptions {
  /** Longest heuristic freshness lifetime (ms), for responses without explicit expiry. @default 86_400_000 (24 h) */
  heuristicCapMs?: number
}

/** Defaults of {@link FreshnessOptions}. */
export const FRESHNESS_DEFAULTS = Object.freeze({ heuristicCapMs: 86_400_000 })

/**
 * Status codes a cache may give a heuristic freshness lifetime (RFC 9110 §15.1).
 */
export const HEURISTICALLY_CACHEABLE: ReadonlySet<number> = new Set([
  200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501,
])

/** The fraction of the time since Last-Modified used as a heuristic lifetime (RFC 9111 §4.2.2). */
const HEURISTIC_FRACTION = 0.1

function heuristicCap(options: FreshnessOptions | undefined): number {
  const cap = options?.heuristicCapMs
  return cap === undefined
    ? FRESHNESS_DEFAULTS.heuristicCapMs
    : numberInRange('heuristicCapMs', cap, 0, Number.MAX_SAFE_INTEGER, { unit: 'milliseconds' })
}

/** The `Date` of a response, or when it arrived if it has no valid one (RFC 9111 §4.2.3). */
function dateValue(stored: FreshnessInput): number {
  return parseHttpDate(headerValue(stored.headers, 'date')) ?? stored.responseTime
}

/**
 * The freshness lifetime (ms) of a response for a shared cache (RFC 9111 §4.2.1), first of:
 * `s-maxage`; `max-age`; `Expires` − `Date` (an invalid `Expires` is in the past, §5.3);
 * heuristically 10% of `Date` − `Last-Modified`, capped at `heuristicCapMs`, for the
 * statuses of {@link HEURISTICALLY_CACHEABLE} or a `public` response (§4.2.2); else 0.
 */
export function freshnessLifetimeMs(stored: FreshnessInput, options?: FreshnessOptions): number {
  const cc = parseCacheControl(headerValue(stored.headers, 'cache-control'))
  return lifetimeMs(stored, cc, options)
}

function lifetimeMs(stored: FreshnessInput, cc: CacheControl, options: FreshnessOptions | undefined): number {
  if (cc.sMaxAge !== undefined) return cc.sMaxAge * 1000
  if (cc.maxAge !== undefined) return cc.maxAge * 1000
  const expires = headerValue(stored.headers, 'expires')
  if (expires !== undefined) {
    // Several Expires lines join into no valid date: stale, as RFC 9111 §4.2.1 allows.
    const at = parseHttpDate(expires)
    return at === undefined ? 0 : Math.max(0, at - dateValue(stored))
  }
  const cap = heuristicCap(options)
  if (!HEURISTICALLY_CACHEABLE.has(stored.status) && !cc.public) return 0
  const lastModified = parseHttpDate(headerValue(stored.headers, 'last-modified'))
  if (lastModified === undefined) return 0
  return Math.min(cap, Math.max(0, (dateValue(stored) - lastModified) * HEURISTIC_FRACTION))
}

/**
 * The current age (ms) of a stored response at `now` (RFC 9111 §4.2.3): the larger of its
 * apparent age (arrival − `Date`) and its `Age` field plus the time the request took,
 * plus the time it has been stored. An invalid `Age` is ignored (§5.1).
 */
export function currentAgeMs(stored: FreshnessInput, now: number): number {
  const ageField = headerValue(stored.headers, 'age')
  // A list: the first member counts (RFC 9111 §5.1).
  const ageValue = (deltaSeconds(ageField?.split(',', 1)[0]?.trim()) ?? 0) * 1000
  const apparentAge = Math.max(0, stored.responseTime - dateValue(stored))
  const responseDelay = Math.max(0, stored.responseTime - stored.requestTime)
  const correctedInitialAge = Math.max(apparentAge, ageValue + responseDelay)
  return correctedInitialAge + Math.max(0, now - stored.responseTime)
}

/**
 * When (epoch ms) `stored` stops being fresh for a request that sends no `Cache-Control` or
 * `Pragma` of its own: before it, {@link cacheState} says `'fresh'` for such a request.
 * `-Infinity` when it is never fresh (`no-cache`, or no lifetime left on arrival). Its age
 * only grows once it has arrived, so one figure per response serves every later check.
 */
export function freshUntilMs(stored: FreshnessInput, options?: FreshnessOptions): number {
  const cc = parseCacheControl(headerValue(stored.headers, 'cache-control'))
  if (cc.noCache) return -Infinity
  const left = lifetimeMs(stored, cc, options) - currentAgeMs(stored, stored.responseTime)
  return left > 0 ? stored.responseTime + left : -Infinity
}

/**
 * What a shared cache may do with a stored response for a request:
 * - `'fresh'`: send it as it is (it is fresh, or stale within the request's `max-stale`);
 * - `'stale-while-revalidate'`: send it and revalidate it in the background (RFC 5861 §3);
 * - `'stale'`: revalidate it with the origin before use.
 */
export type CacheState = 'fresh' | 'stale-while-revalidate' | 'stale'

/**
 * The request's `Cache-Control`, or `no-cache` for `Pragma: no-cache` in a request without
 * `Cache-Control` (RFC 9111 §5.4).
 */
export function requestCacheControl(headers: RequestHeaders): CacheControl {
  const cc = parseCacheControl(headers['cache-control'])
  if (
    headers['cache-control'] === undefined &&
    /(?:^|,)\s*no-cache\s*(?:,|$)/i.test(requestHeader(headers, 'pragma') ?? '')
  ) {
    cc.noCache = true
  }
  return cc
}

/** Whether the response forbids serving it stale: `must-revalidate`, and for a shared cache `proxy-revalidate` and `s-maxage` (RFC 9111 §5.2.2). */
function neverStale(cc: CacheControl): boolean {
  return cc.mustRevalidate || cc.proxyRevalidate || cc.sMaxAge !== undefined
}

/**
 * The {@link CacheState} of `stored` for a request with `requestHeaders` at `now` (RFC 9111
 * §4.2, §4.2.4, §5.2). `'stale'` when the response has `no-cache` (field-qualified too:
 * its fields are not stripped, so the whole response is revalidated) or the request has
 * `no-cache` (or `Pragma: no-cache`), or its age exceeds the request's `max-age`, or less
 * than `min-fresh` of its lifetime is left. A stale response is `'fresh'` within the
 * request's `max-stale`, or `'stale-while-revalidate'` within the response's window, unless
 * `must-revalidate`, `proxy-revalidate` or `s-maxage` forbids serving it stale.
 */
export function cacheState(
  stored: FreshnessInput,
  requestHeaders: RequestHeaders,
  now: number,
  options?: FreshnessOptions,
): CacheState {
  const res = parseCacheControl(headerValue(stored.headers, 'cache-control'))
  const req = requestCacheControl(requestHeaders)
  if (res.noCache || req.noCache) return 'stale'
  const age = currentAgeMs(stored, now)
  if (req.maxAge !== undefined && age > req.maxAge * 1000) return 'stale'
  const left = lifetimeMs(stored, res, options) - age
  if (req.minFresh !== undefined && left < req.minFresh * 1000) return 'stale'
  if (left > 0) return 'fresh'
  if (neverStale(res)) return 'stale'
  if (req.maxStale !== undefined && -left <= req.maxStale * 1000) return 'fresh'
  if (res.staleWhileRevalidate !== undefined && -left <= res.staleWhileRevalidate * 1000) {
    return 'stale-while-revalidate'
  }
  return 'stale'
}

/**
 * Whether `stored` may be sent, stale, because revalidating it failed (an upstream error,
 * a 5xx) at `now`: within the `stale-if-error` window of the response, or of the request
 * if it gives one (RFC 5861 §4), and never when the response has `no-cache`,
 * `must-revalidate`, `proxy-revalidate` or `s-maxage` (RFC 9111 §4.2.4).
 */
export function staleIfErrorAllowed(
  stored: FreshnessInput,
  requestHeaders: RequestHeaders,
  now: number,
  options?: FreshnessOptions,
): boolean {
  const res = parseCacheControl(headerValue(stored.headers, 'cache-control'))
  if (res.noCache || neverStale(res)) return false
  const window = requestCacheControl(requestHeaders).staleIfError ?? res.staleIfError
  if (window === undefined) return false
  const staleness = currentAgeMs(stored, now) - lifetimeMs(stored, res, options)
  return staleness <= window * 1000
}

/**
 * The longest time (ms) past its freshness lifetime a response may still be served
 * without revalidation: the larger of its `stale-while-revalidate` and `stale-if-error`
 * windows (0 when `must-revalidate` and kin forbid serving it stale).
 */
export function staleWindowMs(stored: FreshnessInput): number {
  const cc = parseCacheControl(headerValue(stored.headers, 'cache-control'))
  if (cc.noCache || neverStale(cc)) return 0
  return Math.max(cc.staleWhileRevalidate ?? 0, cc.staleIfError ?? 0) * 1000
}
