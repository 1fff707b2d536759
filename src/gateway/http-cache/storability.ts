import { parseCacheControl } from './cache-control'
import { varyNames, VARY_ANY } from './cache-key'
import { HEURISTICALLY_CACHEABLE } from './freshness'
import { headerValue, type CacheRequest, type HeaderList } from './headers'

/** Why a shared cache must not store a response; see {@link notStorableReason}. */
export type NotStorableReason =
  'method' | 'status' | 'no-store' | 'private' | 'authorization' | 'set-cookie' | 'vary-any' | 'no-freshness'

/**
 * Why a shared cache must not store `response` to `request` (RFC 9111 §3, §3.5), or
 * `undefined` when it may:
 * - `'method'`: the request is not GET or HEAD;
 * - `'status'`: not a final status the cache understands: 1xx, and 206 and 304 (the cache
 *   does not combine ranges, and a 304 only updates a stored response), are not stored;
 * - `'no-store'`: in the request or the response;
 * - `'private'`: the response is `private`, field-qualified or not (its private fields are
 *   not stripped: the response is not stored at all);
 * - `'authorization'`: the request has `Authorization` and the response none of `public`,
 *   `s-maxage` and `must-revalidate` (§3.5);
 * - `'set-cookie'`: the response sets a cookie and is not `public`. This is our policy,
 *   stricter than RFC 9111 (which lets a shared cache store `Set-Cookie`): a cookie meant
 *   for one user must not reach others unless the origin said the response is public;
 * - `'vary-any'`: `Vary: *` (it can never be reused, §4.1);
 * - `'no-freshness'`: nothing makes it reusable: no `max-age`, `s-maxage` or `Expires`, not
 *   `public`, not a heuristically cacheable status, and no `ETag` or `Last-Modified` to
 *   revalidate it with.
 */
export function notStorableReason(
  request: Pick<CacheRequest, 'method' | 'headers'>,
  response: { status: number; headers: HeaderList },
): NotStorableReason | undefined {
  if (request.method !== 'GET' && request.method !== 'HEAD') return 'method'
  const { status, headers } = response
  if (!Number.isInteger(status) || status < 200 || status > 599 || status === 206 || status === 304) return 'status'
  const cc = parseCacheControl(headerValue(headers, 'cache-control'))
  if (cc.noStore || parseCacheControl(request.headers['cache-control']).noStore) return 'no-store'
  if (cc.private) return 'private'
  if (request.headers.authorization !== undefined && !cc.public && cc.sMaxAge === undefined && !cc.mustRevalidate) {
    return 'authorization'
  }
  if (headerValue(headers, 'set-cookie') !== undefined && !cc.public) return 'set-cookie'
  if (varyNames(headerValue(headers, 'vary')) === VARY_ANY) return 'vary-any'
  const reusable =
    cc.maxAge !== undefined ||
    cc.sMaxAge !== undefined ||
    cc.public ||
    headerValue(headers, 'expires') !== undefined ||
    HEURISTICALLY_CACHEABLE.has(status) ||
    headerValue(headers, 'etag') !== undefined ||
    headerValue(headers, 'last-modified') !== undefined
  return reusable ? undefined : 'no-freshness'
}

/** Whether a shared cache may store `response` to `request`: {@link notStorableReason} finds nothing. */
export function isStorable(
  request: Pick<CacheRequest, 'method' | 'headers'>,
  response: { status: number; headers: HeaderList },
): boolean {
  return notStorableReason(request, response) === undefined
}
