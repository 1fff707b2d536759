import { negotiateEncoding, type ContentEncoding } from '../compress/accept-encoding'
import { chooseCompression } from '../compress/choose'
import { Compressor } from '../compress/compressor'
import {
  cacheState,
  createStoredResponse,
  endToEndHeaders,
  evaluateConditional,
  headerValue,
  isStorable,
  notModifiedHeaders,
  parseCacheControl,
  primaryKey,
  requestCacheControl,
  responseHeaders,
  revalidationHeaders,
  staleIfErrorAllowed,
  updateFrom304,
  varyValues,
  type CacheRequest,
  type HeaderList,
  type HttpResponseStore,
  type RevalidationHeaders,
  type ServeOptions,
  type StoredResponse,
} from './http-cache'
import { BodyTap } from './body-tap'
import type { Cancellation } from './cancellation'
import { targetOf } from './forwarded-headers'
import type { UpstreamResponse } from './forward'
import type { GatewayOutcome } from './gateway-metrics'
import { discard, pump, relay, type CompressionSettings } from './relay'
import { sendError } from './replies'
import type { RequestContext } from './request-context'
import { codingNegotiable, toHeaders, withCacheFields, type CacheStatus } from './stored-reply'

/**
 * The origin every cache key is made with. The gateway sends each backend its own `Host`, so
 * the client's `Host` cannot select the response: keys are the request target alone, and
 * every gateway instance in front of the same backends shares entries whatever name or port
 * it is reached by.
 */
const KEY_ORIGIN = 'http://gateway.invalid'

/** The URL a request's cache entries are keyed by: {@link KEY_ORIGIN} and the request target. */
export function cacheKeyUrl(url: string | undefined): string {
  return KEY_ORIGIN + targetOf(url)
}

const OUTCOME: Record<CacheStatus, GatewayOutcome> = { HIT: 'hit', MISS: 'miss', STALE: 'stale', REVALIDATED: 'hit' }

/** What the cached path needs of its gateway. @internal */
export interface CacheHost {
  readonly compression: CompressionSettings
  /** Whether the gateway is closing: responses then carry `Connection: close`. */
  readonly closing: boolean
  /**
   * Sends `ctx`'s request upstream with the client's own validators replaced by
   * `conditionals` (the cache's), and with `method` when given; `cancel` cancels it.
   */
  fetch(
    ctx: RequestContext,
    conditionals: RevalidationHeaders,
    cancel: Cancellation,
    method?: string,
  ): Promise<UpstreamResponse>
  /** Answers a request no backend answered (502, 504, 503). */
  failed(ctx: RequestContext, error: unknown): void
  /** Happens when the gateway closes: what background revalidations listen to. */
  readonly gatewayClose: Cancellation
  /** Keeps background work for `close()` to wait on. */
  track(work: Promise<unknown>): void
  /** A response for `ctx`'s request was stored, or a coding added to it (a native front may then answer it). */
  stored(ctx: RequestContext): void
}

/**
 * A miss in flight: the identical misses arriving meanwhile wait for its stored response
 * instead of going upstream. Published once, and removed from the map then.
 */
class Flight {
  private settle!: (stored: StoredResponse | undefined) => void
  readonly result = new Promise<StoredResponse | undefined>((resolve) => (this.settle = resolve))
  private done = false

  constructor(
    private readonly key: string,
    private readonly flights: Map<string, Flight>,
  ) {
    flights.set(key, this)
  }

  /** Hands `stored` (or nothing: go upstream yourselves) to the waiting requests. */
  publish(stored: StoredResponse | undefined): void {
    if (this.done) return
    this.done = true
    this.flights.delete(this.key)
    this.settle(stored)
  }
}

/**
 * GET and HEAD through the shared HTTP cache (RFC 9111, rules in `./http-cache`), responses
 * kept as bytes in a `DistributedCache` (every worker and instance sharing it hits):
 *
 * - fresh entry: served with `Age` (`X-Cache: HIT`), or 304 to a matching `If-None-Match` /
 *   `If-Modified-Since`;
 * - stale within `stale-while-revalidate`: served (`STALE`) while one background
 *   revalidation per key runs;
 * - stale otherwise: revalidated with `If-None-Match` / `If-Modified-Since`; a 304
 *   freshens the entry (`REVALIDATED`), a new response replaces it (`MISS`), and a failure
 *   or 5xx within `stale-if-error` serves the stale entry (`STALE`);
 * - miss: fetched (client validators left out, so a storable answer is whole) and streamed
 *   to the client (`MISS`); a storable response of at most `maxObjectBytes` is copied
 *   while it streams and stored once complete; larger or unknown-length bodies past the cap
 *   stream through unstored; a HEAD miss is forwarded as a HEAD and not stored;
 * - `Cache-Control: only-if-cached` in the request: what is fresh for it, else 504.
 *
 * One upstream fetch per key while a GET miss is in flight: identical GETs arriving
 * meanwhile wait for it. Once its response headers show it is not storable (or its body
 * goes past the cap, or its client leaves), they are released at once and go upstream
 * themselves, in parallel, uncoalesced; when it is stored they are served from it (`HIT`)
 * if its Vary values match theirs and it is fresh for their request, else they go their own
 * way through the cache. Compressed forms of a stored body are made on the first hit that
 * asks for one (off the event loop for large bodies) and added to the entry, so later hits
 * pay no compression.
 */
export class CachedPath {
  private readonly flights = new Map<string, Flight>()
  private readonly revalidating = new Set<string>()
  private readonly encoding = new Map<string, Promise<Buffer>>()

  constructor(
    private readonly store: HttpResponseStore,
    private readonly host: CacheHost,
    private readonly maxObjectBytes: number,
  ) {}

  /** Serves a GET or HEAD request through the cache. */
  async serve(ctx: RequestContext): Promise<void> {
    const request: CacheRequest = { method: ctx.method, url: cacheKeyUrl(ctx.req.url), headers: ctx.req.headers }
    const key = primaryKey(request.url)
    const flight = this.flights.get(key)
    if (flight !== undefined) {
      const shared = await flight.result
      if (shared !== undefined && this.reusable(shared, request)) return this.serveStored(ctx, shared, 'HIT')
      return this.solo(ctx, request, key, undefined)
    }
    // Only GET misses are coalesced: a HEAD's response has no body to share.
    return this.solo(ctx, request, key, ctx.method === 'GET' ? new Flight(key, this.flights) : undefined)
  }

  /** A request's own way through the cache: lookup, then hit, revalidation or fetch. */
  private async solo(
    ctx: RequestContext,
    request: CacheRequest,
    key: string,
    flight: Flight | undefined,
  ): Promise<void> {
    try {
      const stored = await this.lookup(request)
      const state =
        stored === undefined ? undefined : cacheState(stored, request.headers, Date.now(), this.store.freshness)
      // The client wants no upstream request (RFC 9111 §5.2.1.7): what is fresh for it, or 504.
      if ((state === undefined || state === 'stale') && requestCacheControl(request.headers).onlyIfCached) {
        return sendError(ctx.res, 504, 'gateway_timeout', 'not in the cache, and the request is only-if-cached')
      }
      if (stored === undefined) return await this.miss(ctx, request, flight)
      if (state === 'fresh') {
        flight?.publish(stored)
        return this.serveStored(ctx, stored, 'HIT')
      }
      if (state === 'stale-while-revalidate') {
        flight?.publish(undefined)
        this.revalidateInBackground(ctx, request, key, stored)
        return this.serveStored(ctx, stored, 'STALE')
      }
      await this.revalidate(ctx, request, stored, flight)
    } finally {
      // Whatever happened, no one waits for this request any more.
      flight?.publish(undefined)
    }
  }

  /** A stored response that also serves `request` as it is: same Vary values, fresh for it. */
  private reusable(stored: StoredResponse, request: CacheRequest): boolean {
    const values = varyValues(request.headers, stored.varyNames)
    return (
      values.every((value, i) => value === stored.varyValues[i]) &&
      cacheState(stored, request.headers, Date.now(), this.store.freshness) === 'fresh'
    )
  }

  /** The stored response, or undefined; a cache that cannot answer (Redis away in hard mode) is a miss. */
  private async lookup(request: CacheRequest): Promise<StoredResponse | undefined> {
    try {
      return await this.store.lookup(request)
    } catch {
      return undefined
    }
  }

  /** Stores `stored`, the response for `ctx`'s request; a failure only costs a later miss. */
  private async save(ctx: RequestContext, request: CacheRequest, stored: StoredResponse): Promise<void> {
    try {
      if (await this.store.store({ ...request, method: 'GET' }, stored)) this.host.stored(ctx)
    } catch {
      // Redis away or the entry too large: the response was served, only reuse is lost.
    }
  }

  private async miss(ctx: RequestContext, request: CacheRequest, flight: Flight | undefined): Promise<void> {
    const requestTime = Date.now()
    let response: UpstreamResponse
    try {
      response = await this.host.fetch(ctx, {}, ctx.gone)
    } catch (error) {
      flight?.publish(undefined)
      if (!ctx.gone.aborted) this.host.failed(ctx, error)
      return
    }
    await this.fromUpstream(ctx, request, response, requestTime, flight)
  }

  /** Stale and not servable as it is: ask the origin whether it changed. */
  private async revalidate(
    ctx: RequestContext,
    request: CacheRequest,
    stored: StoredResponse,
    flight: Flight | undefined,
  ): Promise<void> {
    const requestTime = Date.now()
    let response: UpstreamResponse
    try {
      // GET even for a HEAD: a changed response must be fetched whole to replace the entry.
      response = await this.host.fetch(ctx, revalidationHeaders(stored), ctx.gone, 'GET')
    } catch (error) {
      if (ctx.gone.aborted) return
      if (staleIfErrorAllowed(stored, request.headers, Date.now(), this.store.freshness))
        return this.serveStored(ctx, stored, 'STALE')
      return this.host.failed(ctx, error)
    }
    if (response.statusCode === 304) {
      const updated = updateFrom304(stored, response.headers, requestTime, Date.now())
      await pump(response, [discard()])
      // A 304 about another response than the stored one: fetch it whole.
      if (updated === undefined) return this.miss(ctx, request, flight)
      await this.save(ctx, request, updated)
      flight?.publish(updated)
      return this.serveStored(ctx, updated, 'REVALIDATED')
    }
    if (response.statusCode >= 500 && staleIfErrorAllowed(stored, request.headers, Date.now(), this.store.freshness)) {
      await pump(response, [discard()])
      return this.serveStored(ctx, stored, 'STALE')
    }
    await this.fromUpstream(ctx, request, response, requestTime, flight)
  }

  /**
   * Relays a full upstream response to a cached-path request, storing it when it may be:
   * storable by RFC 9111, identity-coded, and its body within `maxObjectBytes`.
   */
  private async fromUpstream(
    ctx: RequestContext,
    request: CacheRequest,
    response: UpstreamResponse,
    requestTime: number,
    flight: Flight | undefined,
  ): Promise<void> {
    ctx.outcome = 'miss'
    const candidate = this.candidate(ctx, response, requestTime)
    if (candidate === undefined) {
      flight?.publish(undefined)
      const end = await relay(ctx.req, ctx.res, response, ctx.requestId, this.host.compression, {
        headers: this.missHeaders(),
      })
      if (end === 'cut') ctx.outcome = 'error'
      return
    }
    const tap = new BodyTap(this.maxObjectBytes)
    let end
    if (evaluateConditional(ctx.method, request.headers, candidate) === 'not-modified') {
      // The client's copy is current: it gets a 304, and the body is read for the cache only.
      this.sendNotModified(ctx, candidate, 'MISS')
      end = await pump(response, [tap, discard()])
    } else {
      end = await relay(ctx.req, ctx.res, response, ctx.requestId, this.host.compression, {
        headers: this.missHeaders(),
        tap,
      })
    }
    if (end === 'cut') ctx.outcome = 'error'
    const body = end === 'complete' ? tap.body() : undefined
    if (body === undefined) return flight?.publish(undefined)
    const stored: StoredResponse = { ...candidate, body }
    await this.save(ctx, request, stored)
    flight?.publish(stored)
  }

  /**
   * The stored form of `response` (body still to come) when it may be stored: the answer to
   * a GET (a HEAD client's revalidation is sent as GET too), storable (RFC 9111 §3),
   * identity-coded, not declared larger than `maxObjectBytes`. A HEAD miss is not stored:
   * its answer has no body.
   */
  private candidate(ctx: RequestContext, response: UpstreamResponse, requestTime: number): StoredResponse | undefined {
    if (response.method !== 'GET') return undefined
    // The usual unstorable answers show in one field, before the whole header list is built.
    const control = parseCacheControl(response.headers['cache-control'])
    if (control.noStore || control.private) return undefined
    let headers: HeaderList
    try {
      headers = endToEndHeaders(response.headers)
    } catch {
      return undefined
    }
    const request = { method: response.method, headers: ctx.req.headers }
    if (!isStorable(request, { status: response.statusCode, headers })) return undefined
    const length = response.headers['content-length']
    if (length !== undefined && Number(length) > this.maxObjectBytes) return undefined
    const coding = headerValue(headers, 'content-encoding')
    if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') return undefined
    try {
      return createStoredResponse({
        request,
        status: response.statusCode,
        headers: response.headers,
        requestTime,
        responseTime: Date.now(),
      })
    } catch {
      return undefined
    }
  }

  /** Serves `stored`: a 304 to a matching conditional, else its body, compressed when the client accepts it. */
  private async serveStored(ctx: RequestContext, stored: StoredResponse, status: CacheStatus): Promise<void> {
    // A request that waited for another's fetch may have lost its client meanwhile.
    if (ctx.res.destroyed) return
    ctx.outcome = OUTCOME[status]
    const negotiable = codingNegotiable(stored, this.host.compression)
    const header = ctx.req.headers['accept-encoding']
    const accept = Array.isArray(header) ? header.join(', ') : header
    let encoding = negotiable ? negotiateEncoding(accept) : undefined
    let level: number | undefined
    if (encoding !== undefined && stored.variants[encoding] === undefined) {
      // Not compressed yet: a sampled estimate says whether it is worth it, and at which level.
      const choice = chooseCompression(stored.body, { accept, minBytes: this.host.compression.compressMinBytes })
      level = choice?.level
      if (choice === undefined) encoding = undefined
    }
    const options: ServeOptions = { encoding, varyOnAcceptEncoding: negotiable }
    if (evaluateConditional(ctx.method, ctx.req.headers, stored) === 'not-modified') {
      return this.sendNotModified(ctx, stored, status, options)
    }
    const body = encoding === undefined ? stored.body : await this.encoded(ctx, stored, encoding, level)
    if (ctx.res.destroyed) return
    const headers = withCacheFields(
      toHeaders(responseHeaders(stored, Date.now(), options)),
      status,
      ctx.requestId,
      this.host.closing,
    )
    headers['content-length'] = body.length
    ctx.res.writeHead(stored.status, headers)
    ctx.res.end(ctx.method === 'HEAD' ? undefined : body)
  }

  private sendNotModified(
    ctx: RequestContext,
    stored: StoredResponse,
    status: CacheStatus,
    options: ServeOptions = {},
  ): void {
    const headers = withCacheFields(
      toHeaders(notModifiedHeaders(stored, Date.now(), options)),
      status,
      ctx.requestId,
      this.host.closing,
    )
    ctx.res.writeHead(304, headers)
    ctx.res.end()
  }

  /**
   * The stored body in `encoding`: the entry's variant, else compressed now at `level` (on
   * the libuv pool past 16 KiB) and added to the entry in the background. Concurrent hits
   * wanting the same form share one compression.
   */
  private encoded(
    ctx: RequestContext,
    stored: StoredResponse,
    encoding: ContentEncoding,
    level: number | undefined,
  ): Promise<Buffer> {
    const variant = stored.variants[encoding]
    if (variant !== undefined) return Promise.resolve(variant)
    const request: CacheRequest = { method: 'GET', url: cacheKeyUrl(ctx.req.url), headers: ctx.req.headers }
    const key = `${encoding} ${stored.responseTime} ${primaryKey(request.url)}`
    let pending = this.encoding.get(key)
    if (pending === undefined) {
      pending = Compressor.compressAsync(stored.body, encoding, { level })
      this.encoding.set(key, pending)
      const added = pending
        .then(async (body) => {
          if (await this.store.addVariant(request, stored, encoding, body)) this.host.stored(ctx)
        })
        .catch(() => {})
        .finally(() => this.encoding.delete(key))
      this.host.track(added)
    }
    return pending
  }

  /** Revalidates `stored` off the request's path, once per key at a time (stale-while-revalidate). */
  private revalidateInBackground(
    ctx: RequestContext,
    request: CacheRequest,
    key: string,
    stored: StoredResponse,
  ): void {
    if (this.revalidating.has(key)) return
    this.revalidating.add(key)
    const work = this.refresh(ctx, request, stored).finally(() => this.revalidating.delete(key))
    this.host.track(work)
  }

  private async refresh(ctx: RequestContext, request: CacheRequest, stored: StoredResponse): Promise<void> {
    const requestTime = Date.now()
    let response: UpstreamResponse
    try {
      response = await this.host.fetch(ctx, revalidationHeaders(stored), this.host.gatewayClose, 'GET')
    } catch {
      return
    }
    if (response.statusCode === 304) {
      const updated = updateFrom304(stored, response.headers, requestTime, Date.now())
      await pump(response, [discard()])
      if (updated !== undefined) await this.save(ctx, request, updated)
      return
    }
    const candidate = this.candidate(ctx, response, requestTime)
    const tap = new BodyTap(this.maxObjectBytes)
    const end = await pump(response, [tap, discard()])
    const body = tap.body()
    if (candidate !== undefined && end === 'complete' && body !== undefined) {
      await this.save(ctx, request, { ...candidate, body })
    } else if (response.statusCode < 500) {
      // The origin now answers something not storable: the stale entry must not be served any longer.
      await this.store.invalidate(request.url).catch(() => {})
    }
  }

  /** What the gateway adds to a response it relays through the cache. */
  private missHeaders(): Record<string, string> {
    return this.host.closing ? { 'x-cache': 'MISS', connection: 'close' } : { 'x-cache': 'MISS' }
  }
}
