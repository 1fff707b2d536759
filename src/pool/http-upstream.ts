import { performance } from 'node:perf_hooks'
import type tls from 'node:tls'

import { Pool, type Dispatcher } from 'undici'

import { ClosedError, InvalidArgumentError } from '../core/errors'
import { invalidOption, knownOptions, numberInRange, optionNames, positiveNumber, wholeNumber } from '../core/validate'
import { LatencyStats, type LatencySummary } from './latency-stats'
import { openUpstreams } from './upstream-metrics'

/**
 * Options of {@link httpUpstream}, named like `ConnectionPool`'s where they mean the same and
 * mapped onto undici's `Pool` and `Client` options (named in each entry).
 */
export interface HttpUpstreamOptions {
  /** Most connections to the origin (undici `connections`). @default 10 */
  max?: number
  /**
   * How long an idle keep-alive connection is kept open (undici `keepAliveTimeout`); a server's
   * `Keep-Alive: timeout=` hint can lower it.
   * @default 4000 (undici's default, below the 5 s of Node's own servers)
   */
  idleTimeoutMs?: number
  /** Ceiling on the server's keep-alive hint (undici `keepAliveMaxTimeout`). @default 600000 */
  keepAliveMaxTimeoutMs?: number
  /**
   * Connections older than this are closed once idle and replaced (undici `clientTtl`), so DNS
   * changes and server rebalancing are picked up. 0 or Infinity turns it off.
   * @default 0
   */
  maxLifetimeMs?: number
  /** Requests sent on a connection before it is closed (undici `maxRequestsPerClient`). @default unlimited */
  maxRequestsPerConnection?: number
  /** Requests in flight per connection, HTTP/1.1 pipelining (undici `pipelining`). @default 1 */
  pipelining?: number
  /** Connecting and the TLS handshake must finish within this (undici `connect.timeout`). @default 10000 */
  connectTimeoutMs?: number
  /** Wait for the response headers, per request (undici `headersTimeout`). @default 300000 */
  headersTimeoutMs?: number
  /** Longest gap between body chunks, per request (undici `bodyTimeout`). @default 300000 */
  bodyTimeoutMs?: number
  /** TCP keep-alive probes on the sockets. @default true */
  keepAlive?: boolean
  /** `tls.connect` options for https origins: `ca`, `cert`, `key`, `servername`, `rejectUnauthorized`, ... */
  tls?: tls.ConnectionOptions
}

/** Defaults of {@link HttpUpstreamOptions}. */
export const HTTP_UPSTREAM_DEFAULTS = Object.freeze({
  max: 10,
  idleTimeoutMs: 4_000,
  keepAliveMaxTimeoutMs: 600_000,
  maxLifetimeMs: 0,
  pipelining: 1,
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 300_000,
  bodyTimeoutMs: 300_000,
  keepAlive: true,
})

/** Every option name of {@link HttpUpstreamOptions}. @internal */
export const HTTP_UPSTREAM_OPTION_NAMES = optionNames<HttpUpstreamOptions>()(HTTP_UPSTREAM_DEFAULTS, {
  maxRequestsPerConnection: true,
  tls: true,
})

/** A request to the upstream: undici's request options without `origin`; `method` defaults to GET. */
export type HttpUpstreamRequest = Omit<Dispatcher.RequestOptions, 'origin' | 'method'> & {
  method?: Dispatcher.HttpMethod
}

/** Connection figures (from undici's `pool.stats`) and request counters of an {@link HttpUpstream}. */
export interface HttpUpstreamStats {
  /** The origin, e.g. `http://10.0.0.7:8080`. */
  origin: string
  /** Open connections. */
  connected: number
  /** Open connections without a request in flight (idle keep-alive connections). */
  free: number
  /** Requests being sent or waiting for their response. */
  running: number
  /** Requests waiting for a connection. */
  queued: number
  /** Requests dispatched to a connection but not yet written (undici's `pending`). */
  pending: number
  /** Requests started through {@link HttpUpstream.request}. */
  requests: number
  /** Requests that rejected (connection errors, timeouts, aborts). */
  failures: number
  /** Time from `request()` to response headers, in ms, of requests that got them. */
  headersLatencyMs: LatencySummary
}

/**
 * One HTTP origin behind an undici `Pool`: keep-alive connections, reused across requests,
 * at most `max` of them. The connection handling is undici's; this adds optlayer's option
 * names, counters and latency, and a typed error after close.
 */
export class HttpUpstream {
  /** The origin requests go to. */
  readonly origin: string
  /** The undici pool underneath, for whatever this wrapper does not expose. */
  readonly pool: Pool
  /** Time from request() to response headers; native memory, freed by close() and destroy(). */
  private readonly latency = new LatencyStats()
  private requests = 0
  private failures = 0
  private closed = false

  /** @internal Use {@link httpUpstream}. */
  constructor(origin: string, pool: Pool) {
    this.origin = origin
    this.pool = pool
    openUpstreams.add(this)
  }

  /**
   * Sends a request; resolves at the response headers with undici's `ResponseData` (read or
   * dump `body` so that the connection goes back to the pool).
   *
   * @example
   * ```ts
   * const { statusCode, body } = await upstream.request({ path: '/users/42', signal })
   * const user = await body.json()
   * ```
   * @throws {ClosedError} after {@link close}; otherwise whatever undici rejects with (`UND_ERR_*` codes).
   */
  async request(options: HttpUpstreamRequest | string): Promise<Dispatcher.ResponseData> {
    if (this.closed) throw new ClosedError(`http upstream ${this.origin} is closed`)
    const request: Dispatcher.RequestOptions =
      typeof options === 'string' ? { path: options, method: 'GET' } : { ...options, method: options.method ?? 'GET' }
    this.requests++
    const started = performance.now()
    try {
      const response = await this.pool.request(request)
      this.latency.record(performance.now() - started)
      return response
    } catch (error) {
      this.failures++
      throw error
    }
  }

  /**
   * Sends a request with undici's handler API: `handler` gets the response head, each body
   * chunk as it arrives (pause and resume through its controller) and the end, with no
   * stream or promise in between. Counted in {@link stats} as {@link request} is.
   *
   * @throws {ClosedError} after {@link close}; undici's own failures go to `handler.onResponseError`.
   */
  dispatch(options: HttpUpstreamRequest, handler: Dispatcher.DispatchHandler): void {
    if (this.closed) throw new ClosedError(`http upstream ${this.origin} is closed`)
    this.requests++
    this.pool.dispatch({ ...options, method: options.method ?? 'GET' }, new CountedHandler(this, handler))
  }

  /** @internal A request of {@link dispatch} got its response head after `ms`. */
  recordHead(ms: number): void {
    this.latency.record(ms)
  }

  /** @internal A request of {@link dispatch} failed. */
  recordFailure(): void {
    this.failures++
  }

  /** Connection figures from undici and this wrapper's counters. */
  stats(): HttpUpstreamStats {
    const s = this.pool.stats
    return {
      origin: this.origin,
      connected: s.connected,
      free: s.free,
      running: s.running,
      queued: s.queued,
      pending: s.pending,
      requests: this.requests,
      failures: this.failures,
      headersLatencyMs: this.latency.summary(),
    }
  }

  /** Stops taking requests, lets those in flight finish, then closes every connection. */
  async close(): Promise<void> {
    this.closed = true
    openUpstreams.delete(this)
    try {
      if (!this.pool.closed) await this.pool.close()
    } finally {
      this.latency.close()
    }
  }

  /** Closes every connection now, failing requests in flight with `error` (or undici's). */
  async destroy(error?: Error): Promise<void> {
    this.closed = true
    openUpstreams.delete(this)
    try {
      if (!this.pool.destroyed) await this.pool.destroy(error ?? null)
    } finally {
      this.latency.close()
    }
  }
}

/** Passes a dispatched request's events on, timing its head and counting its failure. */
class CountedHandler implements Dispatcher.DispatchHandler {
  private readonly started = performance.now()
  private headed = false

  constructor(
    private readonly upstream: HttpUpstream,
    private readonly handler: Dispatcher.DispatchHandler,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.handler.onRequestStart?.(controller, context)
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    if (statusCode >= 200 && !this.headed) {
      this.headed = true
      this.upstream.recordHead(performance.now() - this.started)
    }
    this.handler.onResponseStart?.(controller, statusCode, headers, statusMessage)
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.handler.onResponseData?.(controller, chunk)
  }

  onResponseEnd(
    controller: Dispatcher.DispatchController,
    trailers: Record<string, string | string[] | undefined>,
  ): void {
    this.handler.onResponseEnd?.(controller, trailers)
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    if (!this.headed) this.upstream.recordFailure()
    this.handler.onResponseError?.(controller, error)
  }
}

/**
 * An upstream HTTP origin with pooled keep-alive connections through undici's `Pool` (no
 * hand-written HTTP client). `url` may carry a path; only its origin is used.
 *
 * @example
 * ```ts
 * const api = httpUpstream('http://10.0.0.7:8080', { max: 32, idleTimeoutMs: 4_000 })
 * const { statusCode, body } = await api.request({ path: '/health' })
 * await body.dump()
 * await api.close()
 * ```
 * @throws {InvalidArgumentError} for a URL that is not http(s) or an option out of range.
 */
export function httpUpstream(url: string | URL, options: HttpUpstreamOptions = {}): HttpUpstream {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (error) {
    throw new InvalidArgumentError(`invalid url: expected an absolute http(s) URL, got ${String(url)}`, {
      cause: error,
    })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidArgumentError(`invalid url: expected http: or https:, got ${parsed.protocol}`)
  }
  if (options === null || typeof options !== 'object') {
    throw invalidOption('options', 'an object', options)
  }
  knownOptions('httpUpstream options', options, HTTP_UPSTREAM_OPTION_NAMES)
  const d = HTTP_UPSTREAM_DEFAULTS
  const lifetime = numberInRange('maxLifetimeMs', options.maxLifetimeMs ?? d.maxLifetimeMs, 0, undefined, {
    above: true,
    off: true,
    unit: 'milliseconds',
  })
  const maxRequests = options.maxRequestsPerConnection
  if (maxRequests !== undefined) wholeNumber('maxRequestsPerConnection', maxRequests, 1)
  const pool = new Pool(parsed.origin, {
    connections: wholeNumber('max', options.max ?? d.max, 1),
    keepAliveTimeout: positiveNumber('idleTimeoutMs', options.idleTimeoutMs ?? d.idleTimeoutMs, false, 'milliseconds'),
    keepAliveMaxTimeout: positiveNumber(
      'keepAliveMaxTimeoutMs',
      options.keepAliveMaxTimeoutMs ?? d.keepAliveMaxTimeoutMs,
      false,
      'milliseconds',
    ),
    clientTtl: lifetime === Infinity ? null : lifetime,
    ...(maxRequests === undefined ? {} : { maxRequestsPerClient: maxRequests }),
    pipelining: wholeNumber('pipelining', options.pipelining ?? d.pipelining, 1),
    headersTimeout: positiveNumber(
      'headersTimeoutMs',
      options.headersTimeoutMs ?? d.headersTimeoutMs,
      false,
      'milliseconds',
    ),
    bodyTimeout: positiveNumber('bodyTimeoutMs', options.bodyTimeoutMs ?? d.bodyTimeoutMs, false, 'milliseconds'),
    connect: {
      ...options.tls,
      timeout: positiveNumber(
        'connectTimeoutMs',
        options.connectTimeoutMs ?? d.connectTimeoutMs,
        false,
        'milliseconds',
      ),
      keepAlive: options.keepAlive ?? d.keepAlive,
    },
  })
  return new HttpUpstream(parsed.origin, pool)
}
