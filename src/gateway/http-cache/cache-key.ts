import { createHash } from 'node:crypto'

import { InvalidArgumentError } from '../../core/errors'
import { requestHeader, type RequestHeaders } from './headers'

/**
 * The primary cache key of a request (RFC 9111 §4): its target URI normalized, the same
 * for GET and HEAD. The scheme and host are lower-cased, a default port and the fragment
 * dropped, and the path's dot segments resolved (WHATWG URL parsing); the query is kept as
 * sent, since parameter order may matter to the origin. Throws `InvalidArgumentError` for
 * a URI that is not absolute http(s).
 *
 * @example
 * ```ts
 * primaryKey('HTTPS://Example.com:443/a/../b?x=1#top') // 'https://example.com/b?x=1'
 * ```
 */
export function primaryKey(url: string): string {
  const known = normalized.get(url)
  if (known !== undefined) return known
  const key = normalize(url)
  if (url.length <= MAX_REMEMBERED_URL) {
    if (normalized.size >= MAX_REMEMBERED_URLS) normalized.clear()
    normalized.set(url, key)
  }
  return key
}

/**
 * Keys of recent URLs: parsing a URL is a sizeable part of a cache hit's cost, and a hot
 * set of URLs is asked for over and over. Bounded in entries and in URL length; once full
 * it starts over rather than tracking recency, which would cost a hit more than it saves.
 */
const normalized = new Map<string, string>()
const MAX_REMEMBERED_URLS = 4096
const MAX_REMEMBERED_URL = 512

function normalize(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (error) {
    throw new InvalidArgumentError(`invalid url: expected an absolute http(s) URI, got ${url}`, { cause: error })
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.host === '') {
    throw new InvalidArgumentError(`invalid url: expected an absolute http(s) URI, got ${url}`)
  }
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}${parsed.search}`
}

/** `Vary: *`: the response varies on things outside the request headers and is never reused. */
export const VARY_ANY = '*'

/**
 * The request fields a response varies on (RFC 9111 §4.1), from its `Vary` value:
 * lower-case, sorted, without duplicates, or {@link VARY_ANY}.
 *
 * `Accept-Encoding` is left out: the gateway stores one identity body per response and
 * makes the encoded forms itself (`StoredResponse.variants`), picking one per request by
 * content negotiation, so requests differing only in `Accept-Encoding` share one entry.
 */
export function varyNames(vary: string | undefined): string[] | typeof VARY_ANY {
  if (vary === undefined) return []
  const names = new Set<string>()
  for (const item of vary.split(',')) {
    const name = item.trim().toLowerCase()
    if (name === VARY_ANY) return VARY_ANY
    if (name.length > 0 && name !== 'accept-encoding') names.add(name)
  }
  return [...names].sort()
}

/**
 * A request field's value normalized for Vary matching (RFC 9111 §4.1 allows it): lines
 * joined with `, `, whitespace runs collapsed to one space, the ends trimmed; `null` when
 * the request has no such field (which only matches another request without it).
 */
export function varyValue(headers: RequestHeaders, name: string): string | null {
  const value = requestHeader(headers, name)
  return value === undefined ? null : value.replace(/[ \t]+/g, ' ').trim()
}

/** The normalized values of `names` in `headers`, in order. */
export function varyValues(headers: RequestHeaders, names: readonly string[]): (string | null)[] {
  return names.map((name) => varyValue(headers, name))
}

/**
 * The secondary cache key of a request for a response varying on `names`: a digest of the
 * names and the request's normalized values (SHA-256, base64url; values may be long and
 * hold any octet). Two requests get the same key exactly when those values are equal.
 */
export function secondaryKey(names: readonly string[], values: readonly (string | null)[]): string {
  const hash = createHash('sha256')
  names.forEach((name, i) => {
    const value = values[i]
    // Field values hold no LF, so "\n" ends each part unambiguously; "\0" marks an absent field.
    hash.update(value === null || value === undefined ? `${name}\0\n` : `${name}=${value}\n`, 'latin1')
  })
  return hash.digest('base64url')
}
