import { aliasedOption, knownOptions, optionNames } from '../core/validate'
import { ttl } from './cache-options'

/** Options of a read-through load ({@link DistributedCache.getOrLoad}). */
export interface CacheLoadOptions {
  /** Freshness in ms, from 0 (until evicted) to `CACHE_MAX_TTL_MS`. @default the cache's defaultTtlMs */
  ttlMs?: number
  /** `ttlMs` under the name lru-cache and cache-manager users know (also ms); give one of the two. */
  ttl?: number
  /** Gives up waiting (the load and the writes go on for other callers). */
  signal?: AbortSignal
}

/** Options of a delete. */
export interface CacheDeleteOptions {
  /** Gives up waiting for Redis (the local tiers are changed at once either way). */
  signal?: AbortSignal
  /**
   * With Redis away, reject with `UnavailableError` and change no tier rather than journal
   * the change for replay. @default the cache's `durableWrites`
   */
  durable?: boolean
}

/** Options of a write. */
export interface CacheSetOptions extends CacheDeleteOptions {
  /** Freshness in ms, from 0 (until evicted) to `CACHE_MAX_TTL_MS`. @default the cache's defaultTtlMs */
  ttlMs?: number
  /** `ttlMs` under the name lru-cache and cache-manager users know (also ms); give one of the two. */
  ttl?: number
}

/** Options of a read. */
export interface CacheGetOptions {
  /** Gives up waiting for Redis. */
  signal?: AbortSignal
}

/** Options of {@link DistributedCache.warm}. */
export interface WarmOptions extends CacheLoadOptions {
  /** Loads in flight at once. @default 8 */
  concurrency?: number
  /** Called after each key with the keys done so far and the total. */
  onProgress?: (done: number, total: number) => void
}

// Per-call option names: a misspelt one (`ttl_ms`, `signa`) would otherwise be ignored and
// the cache's default used in silence.
const GET_NAMES = optionNames<CacheGetOptions>()({}, { signal: true })
const DELETE_NAMES = optionNames<CacheDeleteOptions>()({}, { signal: true, durable: true })
const SET_NAMES = optionNames<CacheSetOptions>()({}, { signal: true, durable: true, ttlMs: true, ttl: true })
const LOAD_NAMES = optionNames<CacheLoadOptions>()({}, { signal: true, ttlMs: true, ttl: true })
const WARM_NAMES = optionNames<WarmOptions>()(
  {},
  { signal: true, ttlMs: true, ttl: true, concurrency: true, onProgress: true },
)

/** Which per-call options a cache method takes. */
const CALL_OPTION_NAMES = Object.freeze({
  get: GET_NAMES,
  delete: DELETE_NAMES,
  set: SET_NAMES,
  load: LOAD_NAMES,
  warm: WARM_NAMES,
})

/**
 * Refuses per-call option names that `method` does not take, with `InvalidArgumentError`.
 * @internal
 */
export function checkCallOptions(method: keyof typeof CALL_OPTION_NAMES, options: object | undefined): void {
  knownOptions(`${method} options`, options, CALL_OPTION_NAMES[method])
}

/**
 * The TTL of one call: `ttlMs`, or `ttl` as lru-cache and cache-manager users write it (in ms
 * too), or `fallback` (the cache's default). Both names at once are refused, as is a bad value.
 * @internal
 */
export function callTtl(options: { ttlMs?: number; ttl?: number }, fallback: number): number {
  const given = aliasedOption('options', 'ttl', options.ttl, 'ttlMs', options.ttlMs)
  return ttl(given.name, given.value, fallback)
}
