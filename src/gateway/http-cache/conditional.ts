import { formatHttpDate, parseHttpDate } from './http-date'
import {
  endToEndHeaders,
  headerValue,
  requestHeader,
  type HeaderList,
  type RequestHeaders,
  type ResponseHeadersInput,
} from './headers'
import { responseHeaders, type ServeOptions, type StoredResponse } from './stored-response'

/** An entity tag: its opaque part (quotes included) and whether it is weak. */
interface EntityTag {
  weak: boolean
  opaque: string
}

const ENTITY_TAG = /^\s*(W\/)?("[\x21\x23-\x7e\x80-\xff]*")\s*$/

/** One entity tag (RFC 9110 §8.8.3), or `undefined` when malformed. */
function parseEntityTag(text: string): EntityTag | undefined {
  const match = ENTITY_TAG.exec(text)
  return match === null ? undefined : { weak: match[1] !== undefined, opaque: match[2] as string }
}

/**
 * The tags of an `If-None-Match` list, or `'*'`. Commas inside a tag are legal, so the
 * list is split after each closing quote; malformed members are skipped.
 */
function parseEntityTagList(header: string): EntityTag[] | '*' {
  if (header.trim() === '*') return '*'
  const tags: EntityTag[] = []
  for (const match of header.matchAll(/(?:W\/)?"[^"]*"/g)) {
    const tag = parseEntityTag(match[0])
    if (tag !== undefined) tags.push(tag)
  }
  return tags
}

/** Weak comparison (RFC 9110 §8.8.3.2): the opaque parts are equal, weak or not. */
function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque
}

/**
 * The answer to a client's conditional request from a stored response:
 * `'not-modified'` (send 304 with {@link notModifiedHeaders}) or `'full'` (send it).
 */
export type ConditionalResult = 'not-modified' | 'full'

/**
 * Evaluates a client's `If-None-Match` / `If-Modified-Since` against a stored response
 * (RFC 9111 §4.3.2, RFC 9110 §13.1.2, §13.1.3, §13.2.2), for GET and HEAD only, and only
 * when the stored status is 2xx (conditions are ignored otherwise).
 *
 * `If-None-Match` takes precedence: `*` or any tag matching the stored `ETag` by weak
 * comparison gives `'not-modified'`, and `If-Modified-Since` is then not looked at. Without
 * it, a valid `If-Modified-Since` at or after the stored `Last-Modified` (else its `Date`,
 * else when it arrived) gives `'not-modified'`.
 */
export function evaluateConditional(
  method: string,
  requestHeaders: RequestHeaders,
  stored: StoredResponse,
): ConditionalResult {
  if ((method !== 'GET' && method !== 'HEAD') || stored.status < 200 || stored.status > 299) return 'full'
  const ifNoneMatch = requestHeader(requestHeaders, 'if-none-match')
  if (ifNoneMatch !== undefined) {
    const tags = parseEntityTagList(ifNoneMatch)
    if (tags === '*') return 'not-modified'
    const etag = storedEtag(stored)
    return etag !== undefined && tags.some((tag) => weakMatch(tag, etag)) ? 'not-modified' : 'full'
  }
  const since = parseHttpDate(requestHeader(requestHeaders, 'if-modified-since'))
  if (since === undefined) return 'full'
  return lastModifiedMs(stored) <= since ? 'not-modified' : 'full'
}

/**
 * When `stored` was last modified, as `If-Modified-Since` is compared with it: its
 * `Last-Modified`, else its `Date`, else when it arrived (epoch ms).
 */
export function lastModifiedMs(stored: Pick<StoredResponse, 'headers' | 'responseTime'>): number {
  return (
    parseHttpDate(headerValue(stored.headers, 'last-modified')) ??
    parseHttpDate(headerValue(stored.headers, 'date')) ??
    stored.responseTime
  )
}

function storedEtag(stored: Pick<StoredResponse, 'headers'>): EntityTag | undefined {
  const value = headerValue(stored.headers, 'etag')
  return value === undefined ? undefined : parseEntityTag(value)
}

/**
 * The opaque part (quotes included) of `stored`'s entity tag, what {@link evaluateConditional}
 * compares `If-None-Match` tags with; undefined without a well-formed `ETag`.
 */
export function storedEntityTag(stored: Pick<StoredResponse, 'headers'>): string | undefined {
  return storedEtag(stored)?.opaque
}

/** The fields a 304 carries besides `Age` (RFC 9110 §15.4.5). */
const NOT_MODIFIED_FIELDS: ReadonlySet<string> = new Set([
  'cache-control',
  'content-location',
  'date',
  'etag',
  'expires',
  'vary',
])

/**
 * The fields of a 304 answering from `stored` at `now` (RFC 9110 §15.4.5): those a 200
 * would carry among `Cache-Control`, `Content-Location`, `Date`, `ETag`, `Expires` and
 * `Vary`, plus `Last-Modified` when there is no `ETag`, and `Age`. `options` are those the
 * 200 would be sent with, so its `ETag` and `Vary` are the same.
 */
export function notModifiedHeaders(stored: StoredResponse, now: number, options: ServeOptions = {}): HeaderList {
  const hasEtag = headerValue(stored.headers, 'etag') !== undefined
  return responseHeaders(stored, now, options).filter(
    ([name]) => NOT_MODIFIED_FIELDS.has(name) || name === 'age' || (name === 'last-modified' && !hasEtag),
  )
}

/** The validators a revalidation request carries (RFC 9111 §4.3.1). */
export interface RevalidationHeaders {
  'if-none-match'?: string
  'if-modified-since'?: string
}

/**
 * The conditional fields for revalidating `stored` with the origin (RFC 9111 §4.3.1): its
 * `ETag` as `If-None-Match` and its `Last-Modified` as `If-Modified-Since`; empty when it has
 * neither (the gateway then fetches it anew). They replace the client's own conditionals,
 * which are about the client's copy, not the cache's.
 */
export function revalidationHeaders(stored: StoredResponse): RevalidationHeaders {
  const headers: RevalidationHeaders = {}
  const etag = headerValue(stored.headers, 'etag')
  if (etag !== undefined && parseEntityTag(etag) !== undefined) headers['if-none-match'] = etag
  const lastModified = headerValue(stored.headers, 'last-modified')
  if (lastModified !== undefined && parseHttpDate(lastModified) !== undefined) {
    headers['if-modified-since'] = lastModified
  }
  return headers
}

/**
 * Fields a 304 does not update (RFC 9111 §3.2): those describing the stored body, and
 * `set-cookie`, which belongs to the one client's exchange and is not for a shared cache
 * (the gateway passes it on to that client).
 */
const NOT_UPDATED: ReadonlySet<string> = new Set(['content-encoding', 'content-range', 'set-cookie'])

/**
 * `stored` freshened by a 304 from the origin (RFC 9111 §4.3.4), or `undefined` when the 304
 * is not about it: its `ETag` differs from the stored one (weak comparison), or, without
 * an `ETag`, its `Last-Modified` differs. A 304 with no validator updates the response it
 * revalidated. The 304's end-to-end fields replace the stored ones (except
 * {@link NOT_UPDATED} and `Content-Length`); the stored `Age` goes (the new times count from
 * this exchange), and so does the stored `Date` when the 304 has none (the time it arrived
 * is used). Body, variants and Vary values
 * are kept; `stored` itself is not changed.
 */
export function updateFrom304(
  stored: StoredResponse,
  headers: ResponseHeadersInput,
  requestTime: number,
  responseTime: number,
): StoredResponse | undefined {
  const fresh = endToEndHeaders(headers).filter(([name]) => !NOT_UPDATED.has(name))
  const newEtag = headerValue(fresh, 'etag')
  if (newEtag !== undefined) {
    const tag = parseEntityTag(newEtag)
    const old = storedEtag(stored)
    if (tag === undefined || old === undefined || !weakMatch(tag, old)) return undefined
  } else {
    const newModified = parseHttpDate(headerValue(fresh, 'last-modified'))
    const oldModified = parseHttpDate(headerValue(stored.headers, 'last-modified'))
    if (newModified !== undefined && newModified !== oldModified) return undefined
  }
  // A 304 without Date gets the time it arrived (RFC 9110 §6.6.1): the stored Date would
  // make the freshened response look as old as the first one.
  if (headerValue(fresh, 'date') === undefined) fresh.push(['date', formatHttpDate(responseTime)])
  const replaced = new Set(fresh.map(([name]) => name))
  replaced.add('age')
  const merged: HeaderList = stored.headers.filter(([name]) => !replaced.has(name))
  merged.push(...fresh)
  return { ...stored, headers: merged, requestTime, responseTime }
}
