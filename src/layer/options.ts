import type { BackendConfig, LoadBalancerOptions } from '../balancer/options'
import { LoadBalancer } from '../balancer/load-balancer'
import type { DistributedCache } from '../cache/distributed-cache'
import type { DistributedCacheOptions } from '../cache/cache-options'
import { InvalidArgumentError } from '../core/errors'
import {
  booleanOption,
  functionOption,
  invalidOption,
  knownOptions,
  optionNames,
  timerMs,
  wholeNumber,
} from '../core/validate'
import type { MetricsCollector } from '../monitoring/metrics-collector'
import type { HttpUpstreamOptions } from '../pool/http-upstream'
import type { RateLimiter, RateLimiterOptions } from '../ratelimit/rate-limiter'
import type { TaskQueueOptions } from '../queue/options'
import type { TaskQueue } from '../queue/task-queue'
import type { Priority } from '../queue/types'
import type { LayerAccessLog } from './access-log'

/** What the processor is given besides the request's data. */
export interface ProcessorContext {
  /** The user key the request was limited by. */
  readonly userKey: string
  /** Aborted when the run times out or the layer stops without draining; pass it on to I/O. */
  readonly signal: AbortSignal
  /** 1 on the first run, 2 on the first retry, … */
  readonly attempt: number
}

/** The work behind the layer: computes the result of `data`; it is cached, so it must be serializable. */
export type Processor<D = unknown, R = unknown> = (data: D, context: ProcessorContext) => R | Promise<R>

/** Rate limiter options of the layer: those of `RateLimiter` but `redis` (the layer's own), `limit` defaulted. */
export type LayerRateLimitOptions = Omit<RateLimiterOptions, 'redis' | 'limit'> & { limit?: number }

/** The Redis a layer's cache and rate limiter share: a standalone server or a Cluster's seed nodes. */
export type LayerRedis = { url: string } | { cluster: ReadonlyArray<{ host: string; port: number }> }

/** Options of an {@link OptimizationLayer}; see {@link OPTIMIZATION_LAYER_DEFAULTS}. */
export interface OptimizationLayerOptions<D = unknown, R = unknown> {
  /** Label of this layer in metrics (`layer`), and the name of the queue and balancer it creates. @default 'layer-<n>' */
  name?: string
  /** Computes a request's result on a miss. Required unless `backends` (or a ready-made `balancer`) are given. */
  processor?: Processor<D, R>
  /**
   * Redis shared by the cache (L3, invalidations, stampede leases) and the rate limiter (one
   * count for the fleet). Absent, both are local to this process.
   */
  redis?: LayerRedis
  /** The cache's options (its `redis` comes from the layer's), or a ready-made cache the layer does not close. @default {} */
  cache?: Omit<DistributedCacheOptions, 'redis'> | DistributedCache<R>
  /**
   * The limit per user key: `RateLimiter` options (Redis-backed when `redis` is given), a
   * ready-made limiter the layer does not close, or `false` for none.
   * @default { algorithm: 'token-bucket', limit: 100, windowMs: 1000 }
   */
  rateLimit?: LayerRateLimitOptions | RateLimiter | false
  /**
   * The queue the work runs on: `TaskQueue` options (in-process; `workerModule` cannot run a
   * processor function), or a ready-made queue the layer does not stop. Its `timeoutMs` and
   * `retries` are those of each request's work; `queueSize` bounds the requests waiting for a
   * worker, beyond which they are shed with `OverloadedError`.
   * @default { maxWorkers: 16, queueSize: 1000, timeoutMs: 30_000, retries: 0, deadLetter: false }
   */
  queue?: Omit<TaskQueueOptions, 'workerModule'> | TaskQueue
  /**
   * Upstream HTTP backends: a miss is POSTed to one of them (to `backendPath`; a Buffer as
   * `application/octet-stream`, other data as JSON) instead of running `processor`, and the
   * response (JSON, MessagePack or bytes) is the result. Errors and 5xx are retried on another
   * backend; a 4xx is the answer, thrown as `BackendResponseError` and not retried.
   */
  backends?: readonly BackendConfig[]
  /** The balancer's options (its `backends` are the layer's), or a ready-made balancer the layer does not close. @default {} */
  balancer?: Omit<LoadBalancerOptions, 'backends'> | LoadBalancer
  /** Options of the `httpUpstream` pool opened per backend. @default {} */
  upstream?: HttpUpstreamOptions
  /** Path the data is POSTed to on a backend. @default '/' */
  backendPath?: string
  /** Backends tried per request (on another backend each time) while the balancer's retry budget allows. @default 2 */
  backendAttempts?: number
  /** Where requests are recorded; one is created (and closed with the layer) when absent. */
  metrics?: MetricsCollector
  /** The cache key of a request. @default `<userKey>:<SHA-1 of the data as JSON with sorted keys>` */
  cacheKey?: (userKey: string, data: D) => string
  /** `handler()`: the request header holding the user key; absent, the client address is the key. @default 'x-api-key' */
  userKeyHeader?: string
  /** `handler()`: largest request body, in bytes; a larger one gets 413. @default 1_048_576 */
  maxBodyBytes?: number
  /**
   * `handler()`: smallest response body compressed for a client whose `Accept-Encoding` allows
   * it (zstd, br, gzip or deflate); smaller ones cost more to compress than they save. @default 1024
   */
  compressMinBytes?: number
  /**
   * `handler()`: bytes of response bodies (serialized and compressed) kept for recent results,
   * so that a cache hit pays neither again; 0 keeps none. A body is reused only for the very
   * result object the cache answers with, so a changed or invalidated value never gets an old
   * body. @default 4_194_304
   */
  encodedBodyCacheBytes?: number
  /**
   * Largest backend response body, in bytes: a larger one is refused (`BackendResponseError`,
   * 502 from `handler()`) as soon as the limit is passed, without reading the rest. @default 8_388_608
   */
  maxBackendBodyBytes?: number
  /**
   * How long `start()` waits for the layer's dependencies: Redis reachable (when `redis` is
   * given) and at least one available backend (when there are backends). @default 5_000
   */
  startTimeoutMs?: number
  /** `handler()`: called once per request with its access-log entry (the user key only as a digest). */
  log?: LayerAccessLog
  /** `retryAfterMs` of `OverloadedError` (and `Retry-After` of `handler()`'s 503s). @default 1000 */
  overloadRetryAfterMs?: number
  /** How long `stop()` waits for work in flight when its call gives no `timeoutMs`. @default 10_000 */
  stopTimeoutMs?: number
}

/** Defaults of {@link OptimizationLayerOptions}. */
export const OPTIMIZATION_LAYER_DEFAULTS = Object.freeze({
  cache: Object.freeze({}),
  rateLimit: Object.freeze({ algorithm: 'token-bucket' as const, limit: 100, windowMs: 1000 }),
  queue: Object.freeze({ maxWorkers: 16, queueSize: 1000, timeoutMs: 30_000, retries: 0, deadLetter: false }),
  balancer: Object.freeze({}),
  upstream: Object.freeze({}),
  backendPath: '/',
  backendAttempts: 2,
  userKeyHeader: 'x-api-key',
  maxBodyBytes: 1_048_576,
  compressMinBytes: 1024,
  encodedBodyCacheBytes: 4 * 1024 * 1024,
  maxBackendBodyBytes: 8 * 1024 * 1024,
  startTimeoutMs: 5_000,
  overloadRetryAfterMs: 1000,
  stopTimeoutMs: 10_000,
})

/** Every option name of {@link OptimizationLayerOptions}. @internal */
export const OPTIMIZATION_LAYER_OPTION_NAMES = optionNames<OptimizationLayerOptions>()(OPTIMIZATION_LAYER_DEFAULTS, {
  name: true,
  processor: true,
  redis: true,
  backends: true,
  metrics: true,
  cacheKey: true,
  log: true,
})

/** Options of one `processRequest` call. */
export interface ProcessRequestOptions {
  /** Gives up waiting: the call rejects with `AbortError` (identical requests waiting for the same work still get it). */
  signal?: AbortSignal
  /** Priority of the work on the queue. @default Priority.Normal */
  priority?: Priority
  /** How long the result stays cached, in ms. @default the cache's defaultTtlMs */
  ttlMs?: number
  /** The cache key of this call, instead of the layer's `cacheKey`. */
  cacheKey?: string
}

/** @internal */
export const PROCESS_REQUEST_OPTION_NAMES = optionNames<ProcessRequestOptions>()(
  {},
  { signal: true, priority: true, ttlMs: true, cacheKey: true },
)

/** Options of {@link OptimizationLayer.stop}. */
export interface LayerStopOptions {
  /** Finish the work in flight and queued (up to `timeoutMs`); `false` aborts it at once. @default true */
  drain?: boolean
  /** Longest wait for the work in flight; what is left then is aborted. @default the layer's stopTimeoutMs */
  timeoutMs?: number
}

const STOP_OPTION_NAMES = optionNames<LayerStopOptions>()({}, { drain: true, timeoutMs: true })

/** The scalar options, checked and with their defaults. @internal */
export interface ResolvedLayerOptions {
  backendPath: string
  backendAttempts: number
  userKeyHeader: string
  maxBodyBytes: number
  compressMinBytes: number
  encodedBodyCacheBytes: number
  maxBackendBodyBytes: number
  startTimeoutMs: number
  overloadRetryAfterMs: number
  stopTimeoutMs: number
  log: LayerAccessLog | undefined
  cacheKey: ((userKey: string, data: never) => string) | undefined
  processor: Processor<never, unknown> | undefined
}

/**
 * Checks the layer's own options (the components check theirs when they are built) and fills
 * in the defaults. @internal
 */
export function resolveLayerOptions(options: OptimizationLayerOptions<never, unknown>): ResolvedLayerOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object', options)
  knownOptions('optimization layer options', options, OPTIMIZATION_LAYER_OPTION_NAMES)
  const d = OPTIMIZATION_LAYER_DEFAULTS
  const backendPath = options.backendPath ?? d.backendPath
  if (typeof backendPath !== 'string' || !backendPath.startsWith('/')) {
    throw invalidOption('backendPath', "a path starting with '/'", backendPath)
  }
  const userKeyHeader = options.userKeyHeader ?? d.userKeyHeader
  // Node lower-cases incoming header names: a name given in capitals must still match.
  if (typeof userKeyHeader !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(userKeyHeader)) {
    throw invalidOption('userKeyHeader', 'an HTTP header name', userKeyHeader)
  }
  const processor = functionOption<Processor<never, unknown>>('processor', options.processor)
  if (processor === undefined && options.backends === undefined && !isBalancerInstance(options.balancer)) {
    throw new InvalidArgumentError('invalid options: expected a processor, backends or a ready-made balancer')
  }
  if (processor !== undefined && (options.backends !== undefined || isBalancerInstance(options.balancer))) {
    throw new InvalidArgumentError('invalid options: give a processor or backends, not both')
  }
  return {
    backendPath,
    backendAttempts: wholeNumber('backendAttempts', options.backendAttempts, 1, 100, d.backendAttempts),
    userKeyHeader: userKeyHeader.toLowerCase(),
    maxBodyBytes: wholeNumber('maxBodyBytes', options.maxBodyBytes, 1, 2 ** 31 - 1, d.maxBodyBytes),
    compressMinBytes: wholeNumber('compressMinBytes', options.compressMinBytes, 0, 2 ** 31 - 1, d.compressMinBytes),
    encodedBodyCacheBytes: wholeNumber(
      'encodedBodyCacheBytes',
      options.encodedBodyCacheBytes,
      0,
      2 ** 31 - 1,
      d.encodedBodyCacheBytes,
    ),
    maxBackendBodyBytes: wholeNumber(
      'maxBackendBodyBytes',
      options.maxBackendBodyBytes,
      1,
      2 ** 31 - 1,
      d.maxBackendBodyBytes,
    ),
    startTimeoutMs: timerMs('startTimeoutMs', options.startTimeoutMs ?? d.startTimeoutMs),
    overloadRetryAfterMs: wholeNumber('overloadRetryAfterMs', options.overloadRetryAfterMs, 0, 86_400_000, {
      fallback: d.overloadRetryAfterMs,
    }),
    stopTimeoutMs: timerMs('stopTimeoutMs', options.stopTimeoutMs ?? d.stopTimeoutMs, true),
    cacheKey: functionOption('cacheKey', options.cacheKey),
    log: functionOption<LayerAccessLog>('log', options.log),
    processor,
  }
}

function isBalancerInstance(value: unknown): boolean {
  return value instanceof LoadBalancer
}

/** Checks `stop()`'s options. @internal */
export function resolveStopOptions(options: LayerStopOptions, fallbackMs: number): Required<LayerStopOptions> {
  knownOptions('stop options', options, STOP_OPTION_NAMES)
  return {
    drain: booleanOption('drain', options.drain, true),
    timeoutMs: timerMs('timeoutMs', options.timeoutMs ?? fallbackMs, true),
  }
}
