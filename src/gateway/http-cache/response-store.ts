import { createHash, randomBytes } from 'node:crypto'

import type { DistributedCache } from '../../cache/distributed-cache'
import type { ContentEncoding } from '../../compress/accept-encoding'
import { CorruptInputError, ValueTooLargeError } from '../../core/errors'
import { invalidOption, knownOptions, numberInRange, optionNames, wholeNumber } from '../../core/validate'
import { primaryKey, secondaryKey, varyValues } from './cache-key'
import { DecodedEntries } from './decoded-entries'
import { currentAgeMs, freshnessLifetimeMs, staleWindowMs, type FreshnessOptions } from './freshness'
import { endToEndHeaders, headerValue, type CacheRequest, type ResponseHeadersInput } from './headers'
import {
  decodeStoredResponse,
  encodeStoredResponse,
  isEncodedStoredResponse,
  type StoredResponse,
} from './stored-response'
import { decodeVaryIndex, encodeVaryIndex, isEncodedVaryIndex, type VaryIndex } from './vary-index'

/** Options of an {@link HttpResponseStore}. */
export interface HttpResponseStoreOptions extends FreshnessOptions {
  /**
   * Prefix of every cache key, keeping HTTP entries apart from other users of the cache. Keys
   * are at most this plus 259 characters (longer URIs go in as a digest), within the
   * cache's default `maxKeyLength` of 512. @default 'http'
   */
  keyPrefix?: string
  /** Longest time (ms) an entry is kept, whatever its freshness. @default 86_400_000 (24 h) */
  maxTtlMs?: number
  /**
   * Shortest time (ms) a response with a validator (`ETag`, `Last-Modified`) is kept, fresh or
   * not: a stale response still saves the body transfer when the origin answers 304.
   * @default 600_000 (10 min)
   */
  keepForRevalidationMs?: number
}

/** Defaults of {@link HttpResponseStoreOptions}. */
export const HTTP_RESPONSE_STORE_DEFAULTS = Object.freeze({
  keyPrefix: 'http',
  maxTtlMs: 86_400_000,
  keepForRevalidationMs: 600_000,
})

/** Lookups of an {@link HttpResponseStore} since it was made. */
export interface HttpResponseStoreStats {
  hits: number
  misses: number
  /** Entries that did not decode (counted as misses too). */
  corrupt: number
}

const OPTION_NAMES = optionNames<HttpResponseStoreOptions>()(HTTP_RESPONSE_STORE_DEFAULTS, {
  heuristicCapMs: true,
})
const ENCODINGS: ReadonlySet<string> = new Set<ContentEncoding>(['zstd', 'br', 'gzip', 'deflate'])
/** Methods that change nothing on the origin (RFC 9110 §9.2.1): their responses invalidate nothing. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])
/** Primary keys longer than this go into the cache key as a digest, so keys stay within the cache's limit. */
const MAX_PLAIN_KEY = 256
/** Decoded responses kept per store, in bytes of their records: the hot set of small pages. */
const DECODED_BYTES = 16 * 1024 * 1024

/**
 * Stored HTTP responses in a {@link DistributedCache} of Buffers, so that every worker and
 * instance sharing its L2 or Redis tier answers from them.
 *
 * Layout: a response that does not vary is stored under its primary key. For one that
 * varies, the primary key holds a small vary index (the field names and a generation) and
 * each response sits under the generation and its secondary key. A lookup costs one read,
 * two when the response varies, and variants are written independently: unlike one record
 * holding every variant, concurrent stores of two variants do not overwrite each other,
 * and no record grows with the number of variants. A new generation (after an
 * invalidation, or when the fields change) leaves the older entries unreachable until
 * they expire. Two workers storing the first variants of a URI at once may each start a
 * generation: the entry under the losing one is just a later miss.
 *
 * The cache is not owned: closing it is the caller's business. Its `maxValueBytes`
 * (default 1 MiB) bounds an entry, body and variants together: a larger one is not stored.
 * Entries that fail to decode count as misses.
 */
export class HttpResponseStore {
  private readonly keyPrefix: string
  private readonly maxTtlMs: number
  private readonly keepForRevalidationMs: number
  /** The freshness rules' options this store was given (`heuristicCapMs`): what stored responses are judged by. */
  readonly freshness: FreshnessOptions
  private readonly counts: HttpResponseStoreStats = { hits: 0, misses: 0, corrupt: 0 }
  private readonly decoded = new DecodedEntries(DECODED_BYTES)

  constructor(
    private readonly cache: DistributedCache<Buffer>,
    options: HttpResponseStoreOptions = {},
  ) {
    knownOptions('http response store options', options, OPTION_NAMES)
    const d = HTTP_RESPONSE_STORE_DEFAULTS
    const prefix = options.keyPrefix ?? d.keyPrefix
    if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 64 || /\s/.test(prefix)) {
      throw invalidOption('keyPrefix', 'a string of 1 to 64 characters without whitespace', prefix)
    }
    this.keyPrefix = prefix
    this.maxTtlMs = wholeNumber('maxTtlMs', options.maxTtlMs, 1, undefined, d.maxTtlMs)
    this.keepForRevalidationMs = wholeNumber(
      'keepForRevalidationMs',
      options.keepForRevalidationMs,
      0,
      undefined,
      d.keepForRevalidationMs,
    )
    this.freshness =
      options.heuristicCapMs === undefined
        ? {}
        : {
            heuristicCapMs: numberInRange('heuristicCapMs', options.heuristicCapMs, 0, Number.MAX_SAFE_INTEGER, {
              unit: 'milliseconds',
            }),
          }
  }

  /**
   * The stored response for a GET or HEAD `request`, its Vary fields matching (RFC 9111
   * §4.1), whether fresh or not (see `cacheState`); `undefined` on a miss, for other
   * methods, and for a GET when only a HEAD response is stored. Throws
   * `InvalidArgumentError` for a URL that is not absolute http(s).
   */
  async lookup(request: CacheRequest): Promise<StoredResponse | undefined> {
    const found = request.method === 'GET' || request.method === 'HEAD' ? await this.find(request) : undefined
    if (!answers(found, request)) {
      this.counts.misses++
      return undefined
    }
    this.counts.hits++
    return found
  }

  /**
   * Stores `stored`, the response to `request` (check `isStorable` first), for `ttlMs`
   * (default {@link retentionMs}; capped at `maxTtlMs`). False when it was not stored: no
   * time left to keep it, larger than the cache's `maxValueBytes`, or a HEAD response
   * where a full one is stored. The cache's errors (Redis away in `'hard'` mode) reach the
   * caller.
   */
  async store(request: CacheRequest, stored: StoredResponse, ttlMs?: number): Promise<boolean> {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      throw invalidOption('request.method', 'GET or HEAD', request.method)
    }
    const keepMs = Math.min(
      ttlMs === undefined ? this.retentionMs(stored, Date.now()) : wholeNumber('ttlMs', ttlMs, 1),
      this.maxTtlMs,
    )
    if (keepMs <= 0) return false
    const primary = this.primaryCacheKey(primaryKey(request.url))
    if (stored.headOnly) {
      const current = await this.find(request)
      if (current !== undefined && !current.headOnly) return false
    }
    try {
      if (stored.varyNames.length === 0) {
        await this.cache.set(primary, encodeStoredResponse(stored), { ttlMs: keepMs })
        return true
      }
      const index = await this.varyIndex(primary, stored.varyNames)
      const key = this.variantCacheKey(index, secondaryKey(stored.varyNames, stored.varyValues))
      await this.cache.set(key, encodeStoredResponse(stored), { ttlMs: keepMs })
      return true
    } catch (error) {
      if (error instanceof ValueTooLargeError) return false
      throw error
    }
  }

  /**
   * Adds `body`, the stored body in content coding `encoding`, to the entry `stored` came
   * from, keeping its times. False when that entry is gone or was replaced (by a newer
   * response) meanwhile, or it is a HEAD response, or the entry would be too large.
   */
  async addVariant(
    request: CacheRequest,
    stored: StoredResponse,
    encoding: ContentEncoding,
    body: Buffer,
  ): Promise<boolean> {
    if (!ENCODINGS.has(encoding)) throw invalidOption('encoding', "'zstd', 'br', 'gzip' or 'deflate'", encoding)
    if (stored.headOnly) return false
    const current = await this.find(request)
    if (
      current === undefined ||
      current.responseTime !== stored.responseTime ||
      current.requestTime !== stored.requestTime
    ) {
      return false
    }
    return this.store(request, { ...current, variants: { ...current.variants, [encoding]: body } })
  }

  /** Drops every stored response of `url` (all its variants: their index goes). */
  async invalidate(url: string): Promise<void> {
    await this.cache.delete(this.primaryCacheKey(primaryKey(url)))
  }

  /**
   * What a response to an unsafe request invalidates (RFC 9111 §4.4): for a method other
   * than GET, HEAD, OPTIONS and TRACE answered with a 2xx or 3xx status, the target URI and
   * the `Location` and `Content-Location` URIs of the same origin. Returns the primary keys
   * dropped. Unparseable locations and headers are skipped (the target is still dropped).
   */
  async invalidateAfterUnsafe(
    request: Pick<CacheRequest, 'method' | 'url'>,
    status: number,
    responseHeaders: ResponseHeadersInput,
  ): Promise<string[]> {
    if (SAFE_METHODS.has(request.method) || status < 200 || status > 399) return []
    const target = new URL(primaryKey(request.url))
    const keys = new Set([primaryKey(request.url)])
    let headers: ReturnType<typeof endToEndHeaders> = []
    try {
      headers = endToEndHeaders(responseHeaders)
    } catch {
      // Invalid fields: the target alone is invalidated.
    }
    for (const name of ['location', 'content-location']) {
      const value = headerValue(headers, name)
      if (value === undefined) continue
      const url = sameOrigin(value, target)
      if (url !== undefined) keys.add(primaryKey(url))
    }
    await Promise.all([...keys].map((key) => this.cache.delete(this.primaryCacheKey(key))))
    return [...keys]
  }

  /**
   * How long (ms) to keep `stored` from `now`: what is left of its freshness lifetime plus
   * the larger of its `stale-while-revalidate` and `stale-if-error` windows, at least
   * `keepForRevalidationMs` when it has a validator, at most `maxTtlMs`; 0 or less: not
   * worth storing.
   */
  retentionMs(stored: StoredResponse, now: number): number {
    const usable = freshnessLifetimeMs(stored, this.freshness) - currentAgeMs(stored, now) + staleWindowMs(stored)
    const revalidatable =
      headerValue(stored.headers, 'etag') !== undefined || headerValue(stored.headers, 'last-modified') !== undefined
    const keep = revalidatable ? Math.max(usable, this.keepForRevalidationMs) : usable
    return Math.min(Math.ceil(keep), this.maxTtlMs)
  }

  /** Hits, misses and corrupt entries of `lookup` so far. */
  stats(): HttpResponseStoreStats {
    return { ...this.counts }
  }

  /** The stored response for `request` through the vary index, if any; corrupt entries are misses. */
  private async find(request: CacheRequest): Promise<StoredResponse | undefined> {
    const primary = this.primaryCacheKey(primaryKey(request.url))
    const found = this.entry(primary, await this.cache.get(primary), request)
    return typeof found === 'string' ? this.variant(found, await this.cache.get(found), request) : found
  }

  /**
   * The stored response for a GET or HEAD `request` from the cache's local tiers alone (L1,
   * L2: no promise, never Redis), whether fresh or not; `undefined` when they do not hold it.
   * Counts nothing: a caller that serves it reports the hit with {@link countHit}, one that
   * does not goes through {@link lookup}, which counts.
   */
  peekLocal(request: CacheRequest): StoredResponse | undefined {
    if (request.method !== 'GET' && request.method !== 'HEAD') return undefined
    const primary = this.primaryCacheKey(primaryKey(request.url))
    const found = this.entry(primary, this.cache.getSync(primary), request)
    const stored = typeof found === 'string' ? this.variant(found, this.cache.getSync(found), request) : found
    return answers(stored, request) ? stored : undefined
  }

  /**
   * The cache keys a local hit for `request` is read from: the record of its response, and
   * for a response that varies, the vary index that leads to it (the record is then under
   * a key of the index's). @internal
   */
  recordKeys(request: CacheRequest): { record: string; varyIndex?: string } {
    const primary = this.primaryCacheKey(primaryKey(request.url))
    const found = this.entry(primary, this.cache.getSync(primary), request)
    return typeof found === 'string' ? { record: found, varyIndex: primary } : { record: primary }
  }

  /** Counts a hit served from {@link peekLocal}. */
  countHit(): void {
    this.counts.hits++
  }

  /**
   * What the record under a primary key gives `request`: the response (its Vary values
   * matching), or the cache key of the variant to read when it is a vary index.
   */
  private entry(
    primary: string,
    record: Buffer | undefined,
    request: CacheRequest,
  ): StoredResponse | string | undefined {
    if (record === undefined || isEncodedStoredResponse(record)) return this.variant(primary, record, request)
    if (!isEncodedVaryIndex(record)) return this.corrupt()
    let index: VaryIndex
    try {
      index = decodeVaryIndex(record)
    } catch (error) {
      if (error instanceof CorruptInputError) return this.corrupt()
      throw error
    }
    return this.variantCacheKey(index, secondaryKey(index.names, varyValues(request.headers, index.names)))
  }

  /** The response in the record under `key` if its Vary values are `request`'s. */
  private variant(key: string, record: Buffer | undefined, request: CacheRequest): StoredResponse | undefined {
    if (record === undefined) return undefined
    try {
      return matching(this.decode(key, record), request)
    } catch (error) {
      if (error instanceof CorruptInputError) return this.corrupt()
      throw error
    }
  }

  /** A record that does not decode: counted, and a miss. */
  private corrupt(): undefined {
    this.counts.corrupt++
    return undefined
  }

  /** The response in `record`, read under `key`: decoded once per distinct record (see `DecodedEntries`). */
  private decode(key: string, record: Buffer): StoredResponse {
    const known = this.decoded.get(key, record)
    if (known !== undefined) return known
    const stored = decodeStoredResponse(record)
    this.decoded.set(key, record, stored)
    return stored
  }

  /** The vary index under `primary` for `names`: the stored one if its names are those, else a new generation. */
  private async varyIndex(primary: string, names: string[]): Promise<VaryIndex> {
    const record = await this.cache.get(primary)
    let index: VaryIndex | undefined
    if (record !== undefined && isEncodedVaryIndex(record)) {
      try {
        index = decodeVaryIndex(record)
      } catch (error) {
        if (!(error instanceof CorruptInputError)) throw error
      }
    }
    if (index === undefined || index.names.join('\n') !== names.join('\n')) {
      index = { generation: randomBytes(16).toString('base64url'), names }
    }
    // Written on every store, so the index outlives the variants stored under it.
    await this.cache.set(primary, encodeVaryIndex(index), { ttlMs: this.maxTtlMs })
    return index
  }

  private primaryCacheKey(primary: string): string {
    return primary.length <= MAX_PLAIN_KEY
      ? `${this.keyPrefix}:r:${primary}`
      : `${this.keyPrefix}:h:${createHash('sha256').update(primary).digest('base64url')}`
  }

  private variantCacheKey(index: VaryIndex, secondary: string): string {
    return `${this.keyPrefix}:v:${index.generation}:${secondary}`
  }
}

/** Whether `stored` answers `request`: a response found, and a whole one unless the request is a HEAD. */
function answers(stored: StoredResponse | undefined, request: CacheRequest): stored is StoredResponse {
  return stored !== undefined && (!stored.headOnly || request.method === 'HEAD')
}

/** `stored` if its Vary values are the request's (a digest match is checked, not trusted). */
function matching(stored: StoredResponse, request: CacheRequest): StoredResponse | undefined {
  const values = varyValues(request.headers, stored.varyNames)
  return values.every((value, i) => value === stored.varyValues[i]) ? stored : undefined
}

/** `reference` resolved against `base` when it is a URI of the same origin (RFC 6454). */
function sameOrigin(reference: string, base: URL): string | undefined {
  try {
    const url = new URL(reference, base)
    return url.origin === base.origin ? url.href : undefined
  } catch {
    return undefined
  }
}
