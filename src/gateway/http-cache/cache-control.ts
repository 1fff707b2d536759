import type { HeaderValue } from './headers'

/**
 * The directives of one `Cache-Control` header (RFC 9111 §5.2), request and response
 * directives alike. Durations are in seconds, as sent.
 *
 * Invalid values (RFC 9111 §1.2.2, §4.2.1) are read the restrictive way: a `max-age` or
 * `s-maxage` that is not a non-negative integer counts as 0 (the response, or what the
 * request accepts, is stale), while an invalid value of a directive that only loosens
 * (`max-stale=`, `min-fresh`, `stale-while-revalidate`, `stale-if-error`) leaves the directive
 * out. Values past 2^31 are taken as 2^31 (§1.2.2). When a directive is repeated, its first
 * occurrence wins (§4.2.1 allows it).
 */
export interface CacheControl {
  /** `max-age`: seconds a response stays fresh; in a request, the oldest response the client accepts. */
  maxAge?: number
  /** `s-maxage`: `max-age` for shared caches; also means `proxy-revalidate`. */
  sMaxAge?: number
  /** `no-store`: neither the request nor the response may be stored. */
  noStore: boolean
  /** `no-cache`: a response must be validated before each use; in a request, the client wants it validated. */
  noCache: boolean
  /** The field names of a qualified `no-cache="a, b"` (lower-case); absent for the unqualified form. */
  noCacheFields?: string[]
  /** `private`: for a single user; a shared cache must not store it. */
  private: boolean
  /** The field names of a qualified `private="a, b"` (lower-case); absent for the unqualified form. */
  privateFields?: string[]
  /** `public`: a shared cache may store it even when it otherwise could not. */
  public: boolean
  /** `must-revalidate`: never served stale. */
  mustRevalidate: boolean
  /** `proxy-revalidate`: never served stale by a shared cache. */
  proxyRevalidate: boolean
  /** `stale-while-revalidate` (RFC 5861 §3): seconds it may be served stale while it is revalidated. */
  staleWhileRevalidate?: number
  /** `stale-if-error` (RFC 5861 §4): seconds it may be served stale when revalidation fails. */
  staleIfError?: number
  /** Request `max-stale`: seconds of staleness the client accepts; `Infinity` without a value. */
  maxStale?: number
  /** Request `min-fresh`: seconds the response must still be fresh for. */
  minFresh?: number
  /** Request `only-if-cached`: answer from the cache or with 504. */
  onlyIfCached: boolean
  /** `no-transform`: intermediaries must not change the content (no recompression). */
  noTransform: boolean
  /** `immutable` (RFC 8246): the content will not change while fresh. */
  immutable: boolean
}

/** The largest delta-seconds a cache must represent (RFC 9111 §1.2.2). */
export const MAX_DELTA_SECONDS = 2 ** 31

/** Headers longer than this are parsed up to it only: directives sit at the front, and parsing stays bounded. */
const MAX_PARSED_LENGTH = 8192

/** A `Cache-Control` header with none of the directives. */
const NONE: Readonly<CacheControl> = Object.freeze({
  noStore: false,
  noCache: false,
  private: false,
  public: false,
  mustRevalidate: false,
  proxyRevalidate: false,
  onlyIfCached: false,
  noTransform: false,
  immutable: false,
})

/**
 * delta-seconds (RFC 9111 §1.2.2): a non-negative integer, capped at 2^31; `undefined` when
 * invalid or absent.
 */
export function deltaSeconds(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined
  return Math.min(Number(value), MAX_DELTA_SECONDS)
}

/** Field names of a qualified `no-cache` or `private`, lower-case, without empties. */
function fieldNames(value: string): string[] {
  return value
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0)
}

/** Splits on commas outside quoted strings, honouring backslash escapes inside them. */
function splitDirectives(text: string): string[] {
  const parts: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (quoted) {
      if (c === 0x5c)
        i++ // backslash: the next character is literal
      else if (c === 0x22) quoted = false
    } else if (c === 0x22) quoted = true
    else if (c === 0x2c) {
      parts.push(text.slice(start, i))
      start = i + 1
    }
  }
  parts.push(text.slice(start))
  return parts
}

/** The value of `name=value`: a token, or a quoted string unquoted; `undefined` without `=`. */
function directiveValue(raw: string): string | undefined {
  const trimmed = raw.trim()
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) {
    return trimmed.slice(1, -1).replace(/\\(.)/g, '$1')
  }
  return trimmed
}

/**
 * Parses `Cache-Control` (RFC 9111 §5.2) from one header value or several (repeated header
 * lines are one list). Names are case-insensitive, whitespace and quoted values are
 * tolerated, unknown directives are ignored. See {@link CacheControl} for invalid values.
 *
 * @example
 * ```ts
 * parseCacheControl('public, max-age=60, stale-while-revalidate="30"')
 * // { public: true, maxAge: 60, staleWhileRevalidate: 30, noStore: false, ... }
 * ```
 */
export function parseCacheControl(header: HeaderValue): CacheControl {
  if (header === undefined) return { ...NONE }
  const text = typeof header === 'string' ? header : header.join(',')
  const cc: CacheControl = { ...NONE }
  for (const part of splitDirectives(text.slice(0, MAX_PARSED_LENGTH))) {
    const eq = part.indexOf('=')
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase()
    const value = eq === -1 ? undefined : directiveValue(part.slice(eq + 1))
    applyDirective(cc, name, value)
  }
  return cc
}

function applyDirective(cc: CacheControl, name: string, value: string | undefined): void {
  switch (name) {
    case 'max-age':
      cc.maxAge ??= deltaSeconds(value) ?? 0
      break
    case 's-maxage':
      cc.sMaxAge ??= deltaSeconds(value) ?? 0
      break
    case 'no-store':
      cc.noStore = true
      break
    case 'no-cache':
      // A qualified form after an unqualified one must not narrow it.
      if (value !== undefined && (!cc.noCache || cc.noCacheFields !== undefined)) {
        cc.noCacheFields = [...(cc.noCacheFields ?? []), ...fieldNames(value)]
      } else if (value === undefined) cc.noCacheFields = undefined
      cc.noCache = true
      break
    case 'private':
      if (value !== undefined && (!cc.private || cc.privateFields !== undefined)) {
        cc.privateFields = [...(cc.privateFields ?? []), ...fieldNames(value)]
      } else if (value === undefined) cc.privateFields = undefined
      cc.private = true
      break
    case 'public':
      cc.public = true
      break
    case 'must-revalidate':
      cc.mustRevalidate = true
      break
    case 'proxy-revalidate':
      cc.proxyRevalidate = true
      break
    case 'stale-while-revalidate':
      cc.staleWhileRevalidate ??= deltaSeconds(value)
      break
    case 'stale-if-error':
      cc.staleIfError ??= deltaSeconds(value)
      break
    case 'max-stale':
      cc.maxStale ??= value === undefined ? Infinity : deltaSeconds(value)
      break
    case 'min-fresh':
      cc.minFresh ??= deltaSeconds(value)
      break
    case 'only-if-cached':
      cc.onlyIfCached = true
      break
    case 'no-transform':
      cc.noTransform = true
      break
    case 'immutable':
      cc.immutable = true
      break
  }
}
