import type { BalancerAlgorithm, LoadBalancerOptions } from '../balancer/options'
import type { DistributedCache } from '../cache/distributed-cache'
import type { DistributedCacheOptions } from '../cache/cache-options'
import { InvalidArgumentError } from '../core/errors'
import { booleanOption, invalidOption, knownOptions, optionNames, timerMs, wholeNumber } from '../core/validate'
import { LATENCY_TOLERANCE_MAX_PERCENT } from '../front/native-front'
import type { HttpUpstreamOptions } from '../pool/http-upstream'
import type { RateLimiter, RateLimiterOptions } from '../ratelimit/rate-limiter'
import type { HttpResponseStoreOptions } from './http-cache'

/** One origin the gateway forwards to, as `BACKENDS` lists them. */
export interface GatewayBackend {
  /** The origin, `http://10.0.0.7:8080` (a path is ignored: the request's own path is sent). */
  url: string
  /** Relative share of traffic (see the balancer's `weight`). @default 1 */
  weight?: number
  /** Name in the balancer's stats and metrics. @default the URL's origin */
  id?: string
}

/** The Redis of a gateway: a standalone server or a Cluster's seed nodes. */
export type GatewayRedis = { url: string } | { cluster: ReadonlyArray<{ host: string; port: number }> }

/** Rate limiter options of the gateway: those of `RateLimiter` but `redis` (the gateway's own). */
export type GatewayRateLimitOptions = Omit<RateLimiterOptions, 'redis'>

/** Options of a {@link Gateway}; every default is in {@link GATEWAY_DEFAULTS}. */
export interface GatewayOptions {
  /** Label of this gateway in metrics, and the name of its balancer. @default 'gateway-<n>' */
  name?: string
  /** The origins requests are forwarded to; at least one. */
  backends: readonly GatewayBackend[]
  /** The balancer's options (its backends are the gateway's). @default { algorithm: 'p2c-ewma' } */
  balancer?: Omit<LoadBalancerOptions, 'backends' | 'name'>
  /**
   * Options of the undici pool opened per backend (`httpUpstream`).
   * @default { max: 128 }: `maxInFlight` bounds the requests; the pool's own default of 10
   *   connections would queue most of them inside undici.
   */
  upstream?: HttpUpstreamOptions
  /**
   * Longest wait for a backend's response headers, and longest gap between two chunks of its
   * body, in ms; past it the client gets 504 (or, once the body started, a cut connection).
   * The wait for headers starts once the request is sent (a bodiless one: when the gateway
   * dispatches it, time queued for a connection included); a gap is not timed while the
   * gateway waits for a slow client to take what it has.
   * @default 30_000
   */
  upstreamTimeoutMs?: number
  /**
   * Backends tried per request, the first included, while the balancer's retry budget allows.
   * Only a request whose body was not read yet is retried: any method after a failed connect
   * (refused, unreachable, connect timeout: the backend never saw it), idempotent ones (GET,
   * HEAD, OPTIONS, PUT, DELETE) also after a cut connection (reset, closed).
   * @default 2
   */
  maxAttempts?: number
  /** Requests in flight past which new ones get 503 at once (never queued). @default 1_000 */
  maxInFlight?: number
  /** `Retry-After` of the 503s of shedding and closing, in ms (sent rounded up to seconds). @default 1_000 */
  retryAfterMs?: number
  /**
   * Behind a native front: the bound on requests in flight follows the gateway's latency below
   * `maxInFlight`, keeping the mean of what the front relays within this many percent over its
   * unqueued latency (100: at most twice). Saturated, latency is in flight ÷ throughput, so a
   * fixed bound lets admitted latency grow on a slower host; this finds the bound there.
   * 0 keeps the bound at `maxInFlight`. The `node:http` listener alone always keeps it fixed.
   * @default 0
   */
  latencyTolerancePercent?: number
  /**
   * Proxies whose `X-Forwarded-For` (and `-Proto`, `-Host`) is believed: CIDRs or addresses,
   * IPv4 and IPv6. From any other peer those headers are replaced, never extended.
   * @default [] (no one: the peer's address is the client's)
   */
  trustedProxies?: readonly string[]
  /** Header carrying the client's API key, the rate limit key; without it the client address is. @default 'x-api-key' */
  apiKeyHeader?: string
  /**
   * A limit per key (API key, else client address): `RateLimiter` options (on `redis` when the
   * gateway has one), a ready-made limiter the gateway does not close, or `false` for none.
   * `/health` and `/ready` are never limited.
   * @default false
   */
  rateLimit?: GatewayRateLimitOptions | RateLimiter | false
  /**
   * Redis shared by the rate limiter (one count for the fleet) and the cache (responses
   * stored once for every instance); checked by {@link Gateway.ready}.
   */
  redis?: GatewayRedis
  /**
   * Where GET and HEAD responses are kept, by RFC 9111 (a shared cache): `DistributedCache`
   * options, over the default (its `redis` is the gateway's, its values the stored
   * responses' bytes), a ready-made `DistributedCache<Buffer>` the gateway does not close,
   * or `false` for no caching. Responses say `X-Cache: HIT | MISS | STALE | REVALIDATED`, or `BYPASS` for
   * methods and requests the cache does not serve (unsafe methods, `Range`).
   * @default { l1: false }: entries in the native L2 store, bounded in bytes (256 MiB), and on
   *   Redis as well when `redis` is given. The L1 tier counts entries, not bytes: with
   *   response bodies of up to `maxObjectBytes` its bound would be no bound.
   */
  cache?: Omit<DistributedCacheOptions, 'redis' | 'serializer'> | DistributedCache<Buffer> | false
  /** How responses are kept: key prefix, longest and shortest retention, heuristic freshness cap. @default {} */
  httpCache?: HttpResponseStoreOptions
  /**
   * Largest body stored, in bytes; a larger or unknown-length one past it streams through
   * unstored.
   * @default 1_048_576 (1 MiB)
   */
  maxObjectBytes?: number
  /** Compress responses by `Accept-Encoding` (zstd, br, gzip, deflate). @default true */
  compression?: boolean
  /** Smallest body compressed, in bytes; a streamed body of unknown length is compressed. @default 1_024 */
  compressMinBytes?: number
  /** How long {@link Gateway.close} waits for requests in flight when its call gives no `timeoutMs`. @default 10_000 */
  closeTimeoutMs?: number
}

/** Defaults of {@link GatewayOptions}. */
export const GATEWAY_DEFAULTS = Object.freeze({
  balancer: Object.freeze({ algorithm: 'p2c-ewma' as BalancerAlgorithm }),
  upstream: Object.freeze({ max: 128 }),
  upstreamTimeoutMs: 30_000,
  maxAttempts: 2,
  maxInFlight: 1_000,
  retryAfterMs: 1_000,
  latencyTolerancePercent: 0,
  trustedProxies: Object.freeze([] as string[]),
  apiKeyHeader: 'x-api-key',
  rateLimit: false as const,
  cache: Object.freeze({ l1: false as const }),
  httpCache: Object.freeze({}),
  maxObjectBytes: 1_048_576,
  compression: true,
  compressMinBytes: 1_024,
  closeTimeoutMs: 10_000,
})

/** Every option name of {@link GatewayOptions}. */
const GATEWAY_OPTION_NAMES = optionNames<GatewayOptions>()(GATEWAY_DEFAULTS, {
  name: true,
  backends: true,
  redis: true,
})

/** Options of {@link Gateway.close}. */
export interface GatewayCloseOptions {
  /** Longest wait for requests in flight; those left then are cut. @default the gateway's closeTimeoutMs */
  timeoutMs?: number
}

const CLOSE_OPTION_NAMES = optionNames<GatewayCloseOptions>()({}, { timeoutMs: true })

/** The gateway's own settings, checked and with their defaults. @internal */
export interface ResolvedGatewayOptions {
  upstreamTimeoutMs: number
  maxAttempts: number
  maxInFlight: number
  retryAfterMs: number
  latencyTolerancePercent: number
  apiKeyHeader: string
  maxObjectBytes: number
  compression: boolean
  compressMinBytes: number
  closeTimeoutMs: number
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * Checks the gateway's own options (components check theirs when built) and fills in the
 * defaults. @internal
 */
export function resolveGatewayOptions(options: GatewayOptions): ResolvedGatewayOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object', options)
  knownOptions('gateway options', options, GATEWAY_OPTION_NAMES)
  if (!Array.isArray(options.backends) || options.backends.length === 0) {
    throw invalidOption('backends', 'a non-empty array of { url, weight? }', options.backends)
  }
  options.backends.forEach((backend, i) =>
    knownOptions(`backends[${i}]`, backend, optionNames<GatewayBackend>()({}, { url: true, weight: true, id: true })),
  )
  if (options.balancer !== undefined && 'backends' in options.balancer) {
    throw new InvalidArgumentError('invalid balancer.backends: give them as the gateway option backends')
  }
  const d = GATEWAY_DEFAULTS
  const apiKeyHeader = options.apiKeyHeader ?? d.apiKeyHeader
  if (typeof apiKeyHeader !== 'string' || !HEADER_NAME.test(apiKeyHeader)) {
    throw invalidOption('apiKeyHeader', 'an HTTP header name', apiKeyHeader)
  }
  return {
    upstreamTimeoutMs: timerMs('upstreamTimeoutMs', options.upstreamTimeoutMs ?? d.upstreamTimeoutMs),
    maxAttempts: wholeNumber('maxAttempts', options.maxAttempts, 1, 100, d.maxAttempts),
    maxInFlight: wholeNumber('maxInFlight', options.maxInFlight, 1, 10_000_000, d.maxInFlight),
    retryAfterMs: wholeNumber('retryAfterMs', options.retryAfterMs, 0, 86_400_000, { fallback: d.retryAfterMs }),
    latencyTolerancePercent: wholeNumber(
      'latencyTolerancePercent',
      options.latencyTolerancePercent,
      0,
      LATENCY_TOLERANCE_MAX_PERCENT,
      d.latencyTolerancePercent,
    ),
    // Node lower-cases incoming header names: a name given in capitals must still match.
    apiKeyHeader: apiKeyHeader.toLowerCase(),
    // At most 512 MiB: an entry may take twice this, and a cache value at most 2 GiB.
    maxObjectBytes: wholeNumber('maxObjectBytes', options.maxObjectBytes, 1, 2 ** 29, d.maxObjectBytes),
    compression: booleanOption('compression', options.compression, d.compression),
    compressMinBytes: wholeNumber('compressMinBytes', options.compressMinBytes, 0, 2 ** 31 - 1, d.compressMinBytes),
    closeTimeoutMs: timerMs('closeTimeoutMs', options.closeTimeoutMs ?? d.closeTimeoutMs, true),
  }
}

/** Checks `close()`'s options. @internal */
export function resolveCloseTimeout(options: GatewayCloseOptions, fallbackMs: number): number {
  knownOptions('close options', options, CLOSE_OPTION_NAMES)
  return timerMs('timeoutMs', options.timeoutMs ?? fallbackMs, true)
}
