import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'

import { LoadBalancer } from '../balancer/load-balancer'
import { DistributedCache } from '../cache/distributed-cache'
import { BufferedHistogram } from '../core/buffered-histogram'
import { ClosedError, InvalidArgumentError, NoBackendError } from '../core/errors'
import { sendJson } from '../core/http-listener'
import { peerAddress } from '../core/peer-address'
import type { NativeAdmission, NativeRateLimit } from '../front/native-front'
import { rateLimitHeaders, rejectTooManyRequests } from '../ratelimit/http'
import { RateLimiter } from '../ratelimit/rate-limiter'
import { VERSION } from '../version'
import { InFlightLimit } from './admission'
import { bytesSerializer } from './bytes-serializer'
import { CachedPath, cacheKeyUrl, type CacheHost } from './cached-path'
import { ClientGone, signalCancellation, type Cancellation } from './cancellation'
import { TrustedProxies } from './client-address'
import { FastHits } from './fast-hits'
import { REQUEST_ID_HEADER, requestIdOf, requestOrigin, targetOf, upstreamRequestHeaders } from './forwarded-headers'
import { Forwarder, isUpstreamTimeout, type UpstreamResponse } from './forward'
import { FrontLink, type HitPublisher } from './front-link'
import {
  GATEWAY_OUTCOMES,
  openGateways,
  statusClass,
  type GatewayLatency,
  type GatewayOutcome,
  type GatewayStats,
  type StatusClass,
} from './gateway-metrics'
import { HttpResponseStore, type RevalidationHeaders } from './http-cache'
import {
  GATEWAY_DEFAULTS,
  resolveCloseTimeout,
  resolveGatewayOptions,
  type GatewayCloseOptions,
  type GatewayOptions,
  type ResolvedGatewayOptions,
} from './options'
import { relay } from './relay'
import { retryAfter, sendError } from './replies'
import type { RequestContext } from './request-context'

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

/**
 * Room in a cache entry for its headers. The entry holds the identity body and its
 * compressed forms too, which together take at most the body's size again for anything
 * worth compressing: hence twice `maxObjectBytes` plus this. An entry that cannot take a
 * compressed form would have every hit compress again.
 */
const ENTRY_HEADERS_BYTES = 64 * 1024

let unnamed = 0

/**
 * optlayer's HTTP gateway: a reverse proxy in front of a set of backends, as a `node:http`
 * request listener ({@link handler}). Each request is shed at once past `maxInFlight` (503),
 * limited per API key or client address (429), answered from the shared HTTP cache when it
 * can be (RFC 9111), else forwarded to a backend the `LoadBalancer` picks, over that
 * backend's undici pool, bodies streamed both ways with back-pressure. Hop-by-hop headers
 * are removed both ways, `Via`, `X-Forwarded-*` and `X-Request-Id` set; failures become 502
 * or 504 with a JSON body, and idempotent requests are retried on another backend after a
 * connection failure. Responses are compressed by `Accept-Encoding` when their type is
 * worth it; cached ones keep their compressed forms.
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
  /** Where responses are cached; undefined with `cache: false`. */
  readonly cache: DistributedCache<Buffer> | undefined
  private readonly store: HttpResponseStore | undefined
  private readonly cachedPath: CachedPath | undefined
  /** Set when hits can be answered without a promise: a cache, and no limiter or one that decides in process. */
  private readonly fastHits: FastHits | undefined
  private readonly settings: ResolvedGatewayOptions
  private readonly trusted: TrustedProxies
  private readonly forwarder: Forwarder
  private readonly admission: InFlightLimit
  /** What the gateway built, closed by `close()` after the pools and the balancer. */
  private readonly owned: (() => Promise<unknown>)[] = []
  /** Background work (revalidations, compressed forms added to entries) that `close()` waits for. */
  private readonly background = new Set<Promise<unknown>>()
  private readonly closeController = new AbortController()
  private readonly latency = new BufferedHistogram()
  /** The latency figures as the histogram was freed at close, which stats() goes on returning. */
  private finalLatency: GatewayLatency | undefined
  private readonly counts = Object.fromEntries(GATEWAY_OUTCOMES.map((o) => [o, 0])) as Record<GatewayOutcome, number>
  private readonly statuses: Record<StatusClass, number> = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }
  private closingNow = false
  /** The native front this gateway publishes hits to, when one is attached. */
  private front: FrontLink | undefined
  private closed: Promise<void> | undefined

  /**
   * Builds the gateway and the components it is not given. Nothing is left open when it throws.
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option (of the
   *   gateway or of a component it builds) is invalid or unknown; the message names it.
   * @throws {ConfigMismatchError} `code` `'ERR_OPTLAYER_CONFIG_MISMATCH'`: the cache's
   *   `l2.name` or the rate limiter's `name` is open in this process with other options.
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
    if (rateLimit !== false && !(rateLimit instanceof RateLimiter) && 'redis' in rateLimit) {
      throw new InvalidArgumentError('invalid rateLimit.redis: give it as the gateway option redis')
    }
    const cache = (options.cache ?? d.cache) as NonNullable<GatewayOptions['cache']>
    if (cache !== false && !(cache instanceof DistributedCache) && ('redis' in cache || 'serializer' in cache)) {
      throw new InvalidArgumentError('invalid cache: its redis is the gateway option redis, its serializer fixed')
    }
    const backends = options.backends.map((b, i) => ({
      id: b.id ?? originOf(b.url, `backends[${i}].url`),
      url: b.url,
      ...(b.weight === undefined ? {} : { weight: b.weight }),
    }))
    const redis = options.redis === undefined ? {} : { redis: options.redis }
    this.balancer = new LoadBalancer({ name: this.name, ...d.balancer, ...options.balancer, backends })
    this.forwarder = new Forwarder(
      this.balancer,
      { ...d.upstream, ...options.upstream },
      this.settings.upstreamTimeoutMs,
      this.settings.maxAttempts,
    )
    try {
      // Opened now, so that an invalid upstream option fails the constructor, not the first request.
      for (const backend of backends) this.forwarder.pool(backend.url)
      if (rateLimit === false || rateLimit instanceof RateLimiter) {
        this.limiter = rateLimit === false ? undefined : rateLimit
      } else {
        // Not named after the gateway: the name is part of the Redis keys, which every instance must share.
        const limiter = new RateLimiter({ ...rateLimit, ...redis })
        this.owned.push(() => limiter.close())
        this.limiter = limiter
      }
      if (cache === false || cache instanceof DistributedCache) {
        this.cache = cache === false ? undefined : cache
      } else {
        const built = new DistributedCache<Buffer>({
          name: this.name,
          maxValueBytes: 2 * this.settings.maxObjectBytes + ENTRY_HEADERS_BYTES,
          ...d.cache,
          ...cache,
          serializer: bytesSerializer,
          ...redis,
        })
        this.owned.push(() => built.close())
        this.cache = built
      }
      if (this.cache !== undefined) {
        this.store = new HttpResponseStore(this.cache, options.httpCache ?? d.httpCache)
        this.cachedPath = new CachedPath(this.store, this.cacheHost(), this.settings.maxObjectBytes)
        if (this.limiter === undefined || this.limiter.decidesInProcess) {
          this.fastHits = new FastHits(this.store, this.settings)
        }
      }
    } catch (error) {
      // What was built before the failure is closed; the option error is what the caller needs.
      void this.release(true).catch(() => {})
      throw error
    }
    // Last: a constructor that throws leaves nothing for the metrics to read.
    openGateways.add(this)
  }

  /**
   * The `node:http` request listener: `GET /health` and `GET /ready` answered by the gateway,
   * everything else served through the cache or forwarded. Never throws; a fault of its own
   * answers 500.
   */
  handler(): RequestListener {
    return (req, res) => {
      if (this.fastHits !== undefined && this.answerFastHit(this.fastHits, req, res)) return
      this.handle(req, res).catch(() => sendError(res, 500, 'internal_error', 'internal error'))
    }
  }

  /**
   * Links `front`: its own answers count as this gateway's, it is told when the gateway
   * closes, and the plain fresh hits this gateway answers for requests that came through it
   * are published to it, so that it answers the next ones natively. It publishes only with
   * the cache's native L2 tier (which the front reads), and with a rate limit only when the
   * front applies it (see {@link nativeRateLimit}); returns whether it publishes. @internal
   */
  attachFront(front: HitPublisher): boolean {
    const publishes =
      this.fastHits !== undefined &&
      this.store !== undefined &&
      this.nativeStore() !== undefined &&
      (this.limiter === undefined || front.limits)
    this.front = new FrontLink(front, publishes ? { fastHits: this.fastHits, store: this.store } : undefined)
    if (this.closingNow) front.setClosing()
    return publishes
  }

  /**
   * The rate limit as a native front applies it: the limiter's native store, the quota's
   * limit, the API key field and the trusted proxies; undefined without a limiter or with
   * one that does not decide natively (Redis-backed, adaptive). @internal
   */
  nativeRateLimit(): NativeRateLimit | undefined {
    const limiter = this.limiter?.nativeStore()
    if (limiter === undefined || this.limiter === undefined) return undefined
    return {
      limiter,
      limit: this.limiter.quota.limit,
      apiKeyHeader: this.settings.apiKeyHeader,
      trustedProxies: this.trusted.networks,
    }
  }

  /**
   * Its bound on requests in flight as a native front holds it on what it relays, so that
   * the excess of a surge is refused before it reaches this event loop. @internal
   */
  nativeAdmission(): NativeAdmission {
    const { maxInFlight, retryAfterMs, latencyTolerancePercent } = this.settings
    return { maxInFlight, retryAfterMs, latencyTolerancePercent }
  }

  /** The requests by outcome, the native front's hits and refusals included. */
  private requestCounts(): Record<GatewayOutcome, number> {
    const counts = { ...this.counts }
    this.front?.addCounts(counts)
    return counts
  }

  /** The cache's native L2 store, for a native front to read hits from; undefined without one. @internal */
  nativeStore(): unknown {
    return this.cache?.nativeL2()
  }

  /** Liveness: the gateway is not closed. It depends on nothing else: a probe must not fail for a backend. */
  health(): GatewayCheck {
    const checks = { running: !this.closingNow }
    return { ok: checks.running, checks }
  }

  /**
   * Readiness: not closing (`accepting`), at least one backend available (`backends`), Redis
   * reachable when the cache uses it (`redis`), and room for more requests (`capacity`:
   * below `maxInFlight`).
   */
  ready(): GatewayCheck {
    const checks: Record<string, boolean> = {
      accepting: !this.closingNow,
      backends: !this.closingNow && this.balancer.stats().available > 0,
    }
    const l3 = this.closingNow ? undefined : this.cache?.stats().l3
    if (l3 !== undefined) checks.redis = l3.available
    checks.capacity = !this.admission.saturated
    return { ok: Object.values(checks).every(Boolean), checks }
  }

  /** Requests by outcome, backend responses by status class, in flight, latency. */
  stats(): GatewayStats {
    return {
      requests: this.requestCounts(),
      upstreamResponses: { ...this.statuses },
      inFlight: this.admission.inFlight,
      latencyMs: this.finalLatency ?? this.latencyNow(),
    }
  }

  private latencyNow(): GatewayLatency {
    const s = this.latency.snapshot()
    return { count: s.count, p50: s.p50Ms ?? 0, p90: s.p90Ms ?? 0, p99: s.p99Ms ?? 0, max: s.maxMs ?? 0 }
  }

  /**
   * Closes: new requests get 503 (`closing`, with `Connection: close`) at once; those in
   * flight (and background revalidations) finish within `timeoutMs`, and what is left then is
   * cut. Then the backends' pools, the balancer and the rate limiter and cache it created
   * are closed; ready-made ones are left open. The listener is the caller's to close.
   * Idempotent: every call returns the first call's promise.
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
    this.closingNow = true
    this.front?.setClosing()
    this.closed = this.shutdown(timeoutMs)
    return this.closed
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const settled = Promise.all([this.admission.drained(), Promise.allSettled([...this.background])])
    const drained = await Promise.race([
      settled.then(() => true),
      new Promise<boolean>((resolve) => {
        if (timeoutMs !== Infinity) timer = setTimeout(() => resolve(false), timeoutMs)
      }),
    ])
    clearTimeout(timer)
    this.closeController.abort()
    await this.release(!drained)
  }

  /** Closes the pools (destroyed when `force`: what still streams is cut), the balancer and what the gateway built. */
  private async release(force: boolean): Promise<void> {
    try {
      await this.forwarder.close(force)
      await this.balancer.close()
      for (const close of this.owned) await close()
    } finally {
      openGateways.delete(this)
      if (this.finalLatency === undefined) {
        this.finalLatency = this.latencyNow()
        this.latency.close()
      }
    }
  }

  /** What the cached path needs of the gateway. */
  private cacheHost(): CacheHost {
    // The getter below must read the gateway, not the object it is defined on.
    const gateway = this
    return {
      compression: this.settings,
      get closing() {
        return gateway.closingNow
      },
      fetch: (ctx, conditionals, cancel, method) => this.fetch(ctx, conditionals, cancel, method),
      failed: (ctx, error) => this.failed(ctx, error),
      gatewayClose: signalCancellation(this.closeController.signal),
      track: (work) => {
        this.background.add(work)
        void work.finally(() => this.background.delete(work))
      },
      stored: (ctx) => {
        if (!this.closingNow) this.front?.stored(ctx.req)
      },
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now()
    const requestId = requestIdOf(req)
    res.setHeader(REQUEST_ID_HEADER, requestId)
    const path = pathOf(req.url)
    const method = req.method ?? 'GET'
    if (GATEWAY_PROBE_PATHS.has(path) && (method === 'GET' || method === 'HEAD')) return this.probe(path, res)
    if (this.closingNow) {
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
    const gone = new ClientGone()
    const ctx: RequestContext = {
      req,
      res,
      method,
      origin: requestOrigin(req, this.trusted),
      requestId,
      gone,
      outcome: 'error',
    }
    res.once('close', () => {
      // The client leaving before its response ended cancels the upstream request.
      if (!res.writableFinished) gone.abort()
      this.admission.leave()
      this.counts[ctx.outcome]++
      // The native histogram is freed once closed; a request cut then is not timed.
      if (this.finalLatency === undefined) this.latency.record(performance.now() - started)
    })
    if (this.limiter !== undefined && !(await this.admit(ctx))) return
    if (this.cachedPath !== undefined && (method === 'GET' || method === 'HEAD') && req.headers.range === undefined) {
      return this.cachedPath.serve(ctx)
    }
    await this.forward(ctx)
  }

  /**
   * Answers a plain GET or HEAD whose response is fresh in the local tiers at once, in this
   * call: shedding, the rate limit, counts and latency as on the full path, with no promise,
   * context or close listener (nothing of the request is pending once its response is
   * written). False, with nothing written or counted, when the full path must take it.
   */
  private answerFastHit(fastHits: FastHits, req: IncomingMessage, res: ServerResponse): boolean {
    if (this.closingNow || this.admission.saturated || GATEWAY_PROBE_PATHS.has(pathOf(req.url))) return false
    const started = performance.now()
    const hit = fastHits.find(req, Date.now())
    if (hit === undefined) return false
    const requestId = requestIdOf(req)
    let fields: string[] = []
    const limiter = this.limiter
    if (limiter !== undefined) {
      const client = this.trusted.clientAddress(peerAddress(req), req.headers['x-forwarded-for'])
      let decision
      try {
        decision = limiter.allowSync(this.limitKey(req, client))
      } catch {
        // The full path answers what the limiter cannot decide (a closed limiter: 503).
        return false
      }
      if (!decision.allowed) {
        res.setHeader(REQUEST_ID_HEADER, requestId)
        rejectTooManyRequests(res, decision, limiter.quota.limit)
        return this.tally('limited', started)
      }
      fields = Object.entries(rateLimitHeaders(decision, limiter.quota.limit)).flat()
    }
    fastHits.send(req, res, hit, requestId, fields)
    this.front?.answered(req, hit)
    return this.tally('hit', started)
  }

  /** Counts a request answered by the fast path and records its latency; true. */
  private tally(outcome: GatewayOutcome, started: number): true {
    this.counts[outcome]++
    if (this.finalLatency === undefined) this.latency.record(performance.now() - started)
    return true
  }

  /** The rate limit's key of a request: its API key, else its client address (prefixed apart). */
  private limitKey(req: IncomingMessage, client: string): string {
    const header = req.headers[this.settings.apiKeyHeader]
    const apiKey = Array.isArray(header) ? header[0] : header
    // Prefixed so that an API key spelled like an address never shares its count.
    return apiKey !== undefined && apiKey !== '' ? `key:${apiKey}` : `ip:${client}`
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
  private async admit(ctx: RequestContext): Promise<boolean> {
    const { req, res } = ctx
    const limiter = this.limiter as RateLimiter
    const key = this.limitKey(req, ctx.origin.client)
    let decision
    try {
      // A Redis-backed limiter can only decide asynchronously; an in-process one spares the await.
      decision = limiter.decidesInProcess ? limiter.allowSync(key) : await limiter.allow(key)
    } catch {
      sendError(res, 503, 'unavailable', 'the rate limiter cannot decide now', retryAfter(this.settings.retryAfterMs))
      return false
    }
    if (!decision.allowed) {
      ctx.outcome = 'limited'
      rejectTooManyRequests(res, decision, limiter.quota.limit)
      return false
    }
    for (const [name, value] of Object.entries(rateLimitHeaders(decision, limiter.quota.limit))) {
      res.setHeader(name, value)
    }
    return true
  }

  /**
   * Sends a request to a backend and relays its response, streamed: the path of every
   * request the cache does not serve. A response to an unsafe method invalidates what the
   * cache holds of its target (RFC 9111 §4.4) before the client sees it.
   */
  private async forward(ctx: RequestContext): Promise<void> {
    let response: UpstreamResponse
    try {
      response = await this.fetch(ctx, undefined, ctx.gone)
    } catch (error) {
      if (!ctx.gone.aborted) this.failed(ctx, error)
      return
    }
    ctx.outcome = 'bypass'
    const extra: Record<string, string> = {}
    if (this.store !== undefined) {
      extra['x-cache'] = 'BYPASS'
      const target = { method: ctx.method, url: cacheKeyUrl(ctx.req.url) }
      await this.store.invalidateAfterUnsafe(target, response.statusCode, response.headers).catch(() => [])
    }
    // Keep-alive clients of a closing gateway reconnect, possibly elsewhere.
    if (this.closingNow) extra.connection = 'close'
    const end = await relay(ctx.req, ctx.res, response, ctx.requestId, this.settings, { headers: extra })
    if (end === 'cut') ctx.outcome = 'error'
  }

  /**
   * Sends `ctx`'s request upstream, with `method` instead of its own when given;
   * `conditionals`, when given, replace the client's own validators (the cache asks about
   * its copy, not the client's).
   */
  private async fetch(
    ctx: RequestContext,
    conditionals: RevalidationHeaders | undefined,
    cancel: Cancellation,
    method = ctx.method,
  ): Promise<UpstreamResponse> {
    const { req } = ctx
    const headers = upstreamRequestHeaders(req, ctx.origin, ctx.requestId)
    if (conditionals !== undefined) {
      delete headers['if-none-match']
      delete headers['if-modified-since']
      Object.assign(headers, conditionals)
    }
    const response = await this.forwarder.send(
      {
        method,
        path: targetOf(req.url),
        headers,
        // Cache fetches (GET, HEAD) send no body: a GET's body has no defined meaning (RFC 9110 §9.3.1).
        body: hasBody(req) && conditionals === undefined ? req : undefined,
        cancel,
      },
      ctx.origin.client,
    )
    this.statuses[statusClass(response.statusCode)]++
    return response
  }

  /** Answers a request no backend answered: 502, 504, or 503 while closing. */
  private failed(ctx: RequestContext, error: unknown): void {
    const { res } = ctx
    // Pools closed or destroyed by close() fail what they held: say why, not 502.
    if (error instanceof ClosedError || this.closingNow) {
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

/** Whether a request carries a body (RFC 9112 §6.3): a length above 0 or a transfer coding. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/** The origin of a backend's URL, its default id; `name` is the option named in the error. */
function originOf(url: string, name: string): string {
  try {
    return new URL(url).origin
  } catch {
    throw new InvalidArgumentError(`invalid ${name}: expected an absolute http(s) URL, got ${String(url)}`)
  }
}
