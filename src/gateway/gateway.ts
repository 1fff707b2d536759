import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'

import { LoadBalancer } from '../balancer/load-balancer'
import { negotiateEncoding } from '../compress/accept-encoding'
import { createCompressStream } from '../compress/streams'
import { BufferedHistogram } from '../core/buffered-histogram'
import { ClosedError, InvalidArgumentError, NoBackendError } from '../core/errors'
import { sendJson } from '../core/http-listener'
import { rateLimitHeaders, rejectTooManyRequests } from '../ratelimit/http'
import { RateLimiter } from '../ratelimit/rate-limiter'
import { VERSION } from '../version'
import { InFlightLimit } from './admission'
import { TrustedProxies } from './client-address'
import { addVary, encodedHeaders, mayCompress } from './compression'
import {
  clientResponseHeaders,
  REQUEST_ID_HEADER,
  requestIdOf,
  requestOrigin,
  upstreamRequestHeaders,
  type RequestOrigin,
} from './forwarded-headers'
import { Forwarder, isUpstreamTimeout, type UpstreamResponse } from './forward'
import {
  GATEWAY_OUTCOMES,
  openGateways,
  statusClass,
  type GatewayOutcome,
  type GatewayStats,
  type StatusClass,
} from './gateway-metrics'
import {
  GATEWAY_DEFAULTS,
  resolveCloseTimeout,
  resolveGatewayOptions,
  type GatewayCloseOptions,
  type GatewayOptions,
  type ResolvedGatewayOptions,
} from './options'
import { retryAfter, sendError } from './replies'

/** The answer of {@link Gateway.health} and {@link Gateway.ready}. */
export interface GatewayCheck {
  /** Every check passed. */
  ok: boolean
  /** Each check by name; those that do not apply (no Redis) are absent. */
  checks: Record<string, boolean>
}

/**
 * Paths the gateway answers itself, never forwarded, limited or shed: Kubernetes probes must
 * get through an overloaded or limited gateway.
 */
export const GATEWAY_PROBE_PATHS: ReadonlySet<string> = new Set(['/health', '/ready'])

/** What a request ended as, updated as it goes and counted when its response closes. */
interface Exchange {
  outcome: GatewayOutcome
}

let unnamed = 0

/**
 * optlayer's HTTP gateway: a reverse proxy in front of a set of backends, as a `node:http`
 * request listener ({@link handler}). Each request is shed at once past `maxInFlight` (503),
 * limited per API key or client address (429), and forwarded to a backend the
 * `LoadBalancer` picks, over that backend's undici pool, bodies streamed both ways with
 * back-pressure; hop-by-hop headers are removed both ways, `Via`, `X-Forwarded-*` and
 * `X-Request-Id` set; failures become 502 or 504 with a JSON body, and idempotent requests
 * are retried on another backend after a connection failure. Responses are compressed by
 * `Accept-Encoding` when their type is worth it.
 *
 * @example
 * ```ts
 * const gateway = new Gateway({ backends: [{ url: 'http://10.0.0.7:8080' }, { url: 'http://10.0.0.8:8080', weight: 2 }] })
 * const server = http.createServer(gateway.handler()).listen(8080)
 * // …
 * server.close()
 * await gateway.close({ timeoutMs: 10_000 })
 * ```
 */
export class Gateway {
  /** Label of this gateway in metrics. */
  readonly name: string
  /** The balancer over the backends (breakers, outlier ejection, retry budget). */
  readonly balancer: LoadBalancer
  /** The rate limiter; undefined with `rateLimit: false`. */
  readonly limiter: RateLimiter | undefined
  private readonly settings: ResolvedGatewayOptions
  private readonly trusted: TrustedProxies
  private readonly forwarder: Forwarder
  private readonly admission: InFlightLimit
  private readonly ownsLimiter: boolean
  private readonly latency = new BufferedHistogram()
  private readonly counts = Object.fromEntries(GATEWAY_OUTCOMES.map((o) => [o, 0])) as Record<GatewayOutcome, number>
  private readonly statuses: Record<StatusClass, number> = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }
  private closing = false
  private closed: Promise<void> | undefined

  /**
   * @throws {InvalidArgumentError} when an option (of the gateway or of a component it builds)
   *   is invalid or unknown; the message names it. Nothing is left open then.
   */
  constructor(options: GatewayOptions) {
    this.settings = resolveGatewayOptions(options)
    this.name = options.name ?? `gateway-${++unnamed}`
    if (typeof this.name !== 'string' || this.name === '') {
      throw new InvalidArgumentError(`invalid name: expected a non-empty string, got ${String(options.name)}`)
    }
    const d = GATEWAY_DEFAULTS
    this.trusted = new TrustedProxies(options.trustedProxies ?? d.trustedProxies)
    this.admission = new InFlightLimit(this.settings.maxInFlight)
    const rateLimit = options.rateLimit ?? d.rateLimit
    this.ownsLimiter = rateLimit !== false && !(rateLimit instanceof RateLimiter)
    if (rateLimit !== false && !(rateLimit instanceof RateLimiter) && 'redis' in rateLimit) {
      throw new InvalidArgumentError('invalid rateLimit.redis: give it as the gateway option redis')
    }
    const backends = options.backends.map((b, i) => ({
      id: b.id ?? originOf(b.url, `backends[${i}].url`),
      url: b.url,
      ...(b.weight === undefined ? {} : { weight: b.weight }),
    }))
    this.balancer = new LoadBalancer({ name: this.name, ...d.balancer, ...options.balancer, backends })
    this.forwarder = new Forwarder(
      this.balancer,
      options.upstream ?? d.upstream,
      this.settings.upstreamTimeoutMs,
      this.settings.maxAttempts,
    )
    try {
      // Opened now, so that an invalid upstream option fails the constructor, not the first request.
      for (const backend of backends) this.forwarder.pool(backend.url)
      this.limiter =
        rateLimit === false
          ? undefined
          : rateLimit instanceof RateLimiter
            ? rateLimit
            : new RateLimiter({ ...rateLimit, ...(options.redis === undefined ? {} : { redis: options.redis }) })
    } catch (error) {
      // What was built before the failure is closed; the option error is what the caller needs.
      void this.balancer.close()
      void this.forwarder.close(true)
      this.latency.close()
      throw error
    }
    // Last: a constructor that throws leaves nothing for the metrics to read.
    openGateways.add(this)
  }

  /**
   * The `node:http` request listener: `GET /health` and `GET /ready` answered by the gateway,
   * everything else forwarded. Never throws; a fault of its own answers 500.
   */
  handler(): RequestListener {
    return (req, res) => {
      this.handle(req, res).catch(() => sendError(res, 500, 'internal_error', 'internal error'))
    }
  }

  /** Liveness: the gateway is not closed. It depends on nothing else: a probe must not fail for a backend. */
  health(): GatewayCheck {
    const checks = { running: !this.closing }
    return { ok: checks.running, checks }
  }

  /**
   * Readiness: not closing (`accepting`), at least one backend available (`backends`), and
   * room for more requests (`capacity`: below `maxInFlight`).
   */
  ready(): GatewayCheck {
    const checks: Record<string, boolean> = {
      accepting: !this.closing,
      backends: !this.closing && this.balancer.stats().available > 0,
      capacity: !this.admission.saturated,
    }
    return { ok: Object.values(checks).every(Boolean), checks }
  }

  /** Requests by outcome, backend responses by status class, in flight, latency. */
  stats(): GatewayStats {
    const snapshot = this.closed === undefined ? this.latency.snapshot() : undefined
    return {
      requests: { ...this.counts },
      upstreamResponses: { ...this.statuses },
      inFlight: this.admission.inFlight,
      latencyMs: {
        count: snapshot?.count ?? 0,
        p50: snapshot?.p50Ms ?? 0,
        p90: snapshot?.p90Ms ?? 0,
        p99: snapshot?.p99Ms ?? 0,
        max: snapshot?.maxMs ?? 0,
      },
    }
  }

  /**
   * Closes: new requests get 503 (`closing`, with `Connection: close`) at once; those in
   * flight finish within `timeoutMs`, and what is left then is cut. Then the backends' pools,
   * the balancer and the rate limiter it created are closed; a ready-made limiter is left
   * open. The listener is the caller's to close. Idempotent: every call returns the first
   * call's promise.
   */
  close(options: GatewayCloseOptions = {}): Promise<void> {
    if (this.closed !== undefined) return this.closed
    let timeoutMs: number
    try {
      timeoutMs = resolveCloseTimeout(options, this.settings.closeTimeoutMs)
    } catch (error) {
      // Not remembered as the close: a call with valid options can still close the gateway.
      return Promise.reject(error)
    }
    this.closing = true
    this.closed = this.shutdown(timeoutMs)
    return this.closed
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const drained = await Promise.race([
      this.admission.drained().then(() => true),
      new Promise<boolean>((resolve) => {
        if (timeoutMs !== Infinity) timer = setTimeout(() => resolve(false), timeoutMs)
      }),
    ])
    clearTimeout(timer)
    try {
      // Past the timeout, destroying the pools cuts what is still streaming.
      await this.forwarder.close(!drained)
      await this.balancer.close()
      if (this.ownsLimiter) await this.limiter?.close()
    } finally {
      openGateways.delete(this)
      this.latency.close()
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now()
    const requestId = requestIdOf(req)
    res.setHeader(REQUEST_ID_HEADER, requestId)
    const path = pathOf(req.url)
    if (GATEWAY_PROBE_PATHS.has(path) && (req.method === 'GET' || req.method === 'HEAD')) return this.probe(path, res)
    if (this.closing) {
      this.counts.shed++
      return sendError(res, 503, 'closing', 'the gateway is closing', {
        ...retryAfter(this.settings.retryAfterMs),
        connection: 'close',
      })
    }
    if (!this.admission.tryEnter()) {
      this.counts.shed++
      return sendError(res, 503, 'overloaded', 'too many requests in flight; retry later', {
        ...retryAfter(this.settings.retryAfterMs),
      })
    }
    const exchange: Exchange = { outcome: 'error' }
    res.once('close', () => {
      this.admission.leave()
      this.counts[exchange.outcome]++
      if (this.closed === undefined) this.latency.record(performance.now() - started)
    })
    const origin = requestOrigin(req, this.trusted)
    if (this.limiter !== undefined && !(await this.admit(req, res, origin, exchange))) return
    await this.forward(req, res, origin, requestId, exchange)
  }

  private probe(path: string, res: ServerResponse): void {
    if (path === '/health') {
      const health = this.health()
      return sendJson(res, health.ok ? 200 : 503, { status: health.ok ? 'ok' : 'closing', version: VERSION })
    }
    const ready = this.ready()
    sendJson(res, ready.ok ? 200 : 503, { status: ready.ok ? 'ready' : 'not_ready', checks: ready.checks })
  }

  /** Decides the request against the rate limiter; answers 429 (or 503 if the limiter fails) when it may not pass. */
  private async admit(
    req: IncomingMessage,
    res: ServerResponse,
    origin: RequestOrigin,
    exchange: Exchange,
  ): Promise<boolean> {
    const limiter = this.limiter as RateLimiter
    const header = req.headers[this.settings.apiKeyHeader]
    const apiKey = Array.isArray(header) ? header[0] : header
    // Prefixed so that an API key spelled like an address never shares its count.
    const key = apiKey !== undefined && apiKey !== '' ? `key:${apiKey}` : `ip:${origin.client}`
    let decision
    try {
      // allow(), not allowSync(): a Redis-backed limiter can only decide asynchronously.
      decision = await limiter.allow(key)
    } catch {
      sendError(res, 503, 'unavailable', 'the rate limiter cannot decide now', retryAfter(this.settings.retryAfterMs))
      return false
    }
    if (!decision.allowed) {
      exchange.outcome = 'limited'
      rejectTooManyRequests(res, decision, limiter.quota.limit)
      return false
    }
    for (const [name, value] of Object.entries(rateLimitHeaders(decision, limiter.quota.limit))) {
      res.setHeader(name, value)
    }
    return true
  }

  /** Sends the request to a backend and relays its response, streamed. */
  private async forward(
    req: IncomingMessage,
    res: ServerResponse,
    origin: RequestOrigin,
    requestId: string,
    exchange: Exchange,
  ): Promise<void> {
    const gone = new AbortController()
    // The client leaving before its response ended cancels the upstream request.
    res.once('close', () => {
      if (!res.writableFinished) gone.abort()
    })
    let response: UpstreamResponse
    try {
      response = await this.forwarder.send(
        {
          method: req.method ?? 'GET',
          path: targetOf(req.url),
          headers: upstreamRequestHeaders(req, origin, requestId),
          body: hasBody(req) ? req : undefined,
          signal: gone.signal,
        },
        origin.client,
      )
    } catch (error) {
      if (!gone.signal.aborted) this.upstreamFailed(res, error)
      return
    }
    this.statuses[statusClass(response.statusCode)]++
    exchange.outcome = 'bypass'
    await this.relay(req, res, response, requestId, exchange)
  }

  /** Streams a backend's response to the client, compressed when it may be. */
  private async relay(
    req: IncomingMessage,
    res: ServerResponse,
    response: UpstreamResponse,
    requestId: string,
    exchange: Exchange,
  ): Promise<void> {
    let headers = clientResponseHeaders(response.headers, requestId)
    const stages: Transform[] = []
    const { compression, compressMinBytes } = this.settings
    if (compression && mayCompress(req.method ?? 'GET', response.statusCode, headers, compressMinBytes)) {
      addVary(headers, 'Accept-Encoding')
      const encoding = negotiateEncoding(headerValue(req.headers['accept-encoding']))
      if (encoding !== undefined) {
        headers = encodedHeaders(headers, encoding) as typeof headers
        stages.push(createCompressStream(encoding))
      }
    }
    // Keep-alive clients of a closing gateway reconnect, possibly elsewhere.
    if (this.closing) headers.connection = 'close'
    res.writeHead(response.statusCode, headers)
    try {
      await pipeline([response.body as Readable, ...stages, res])
      response.finish(response.statusCode < 500 ? 'ok' : 'failed')
    } catch (error) {
      if (clientLeft(error)) response.finish('abandoned')
      else {
        // The backend cut its body or went silent: the client's response is cut too.
        response.finish('failed')
        exchange.outcome = 'error'
      }
      res.destroy()
    }
  }

  /** Answers a request no backend answered: 502, 504, or 503 while closing. */
  private upstreamFailed(res: ServerResponse, error: unknown): void {
    // Pools closed or destroyed by close() fail what they held: say why, not 502.
    if (error instanceof ClosedError || this.closing) {
      return sendError(res, 503, 'closing', 'the gateway is closing', retryAfter(this.settings.retryAfterMs))
    }
    if (error instanceof NoBackendError) return sendError(res, 502, 'no_backend', 'no backend is available')
    if (isUpstreamTimeout(error)) return sendError(res, 504, 'gateway_timeout', 'the backend did not answer in time')
    sendError(res, 502, 'bad_gateway', 'the backend could not be reached or answered badly')
  }
}

/** The path of a request target, without the query. */
function pathOf(url: string | undefined): string {
  return (url ?? '/').split('?', 1)[0] ?? '/'
}

/** The origin-form target sent upstream: a client's absolute-form target is reduced to path and query. */
function targetOf(url: string | undefined): string {
  if (url === undefined || url === '') return '/'
  if (url.startsWith('/')) return url
  try {
    const parsed = new URL(url)
    return parsed.pathname + parsed.search
  } catch {
    return '/'
  }
}

/** Whether a request carries a body (RFC 9112 §6.3): a length above 0 or a transfer coding. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value
}

/** Whether a relay failed because the client went away (not the backend). */
function clientLeft(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'UND_ERR_ABORTED'
}

function originOf(url: string, name: string): string {
  try {
    return new URL(url).origin
  } catch {
    throw new InvalidArgumentError(`invalid ${name}: expected an absolute http(s) URL, got ${String(url)}`)
  }
}
