import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

import { MetricsCollector } from '../monitoring/metrics-collector'
import { rateLimitHeaders, rejectTooManyRequests } from '../ratelimit/http'
import type { RateLimiter } from '../ratelimit/rate-limiter'
import { VERSION } from '../version'

/** Options of {@link OptlayerServer}. */
export interface OptlayerServerOptions {
  /** TCP port; 0 picks a free one. @default 8080 */
  port?: number
  /** Address to bind. @default '0.0.0.0' */
  host?: string
  /** Metrics to expose on `/metrics`. @default a new MetricsCollector */
  metrics?: MetricsCollector
  /**
   * Limits each client IP on every route but `/health` (so liveness probes are never
   * refused): over the limit, `429` with `Retry-After`; every limited response carries the
   * `RateLimit-*` headers. The server does not close it.
   */
  rateLimiter?: RateLimiter
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

/**
 * The HTTP face of optlayer (`optlayer serve`): `GET /health` and `GET /metrics` for now,
 * with an optional rate limit per client IP; the gateway routes come with their own issue.
 */
export class OptlayerServer {
  /** The metrics this server exposes and records into. */
  readonly metrics: MetricsCollector
  private readonly server: Server
  private readonly startedAt = Date.now()
  private closing = false

  constructor(private readonly options: OptlayerServerOptions = {}) {
    this.metrics = options.metrics ?? new MetricsCollector()
    this.server = createServer((req, res) => this.handle(req, res))
    this.server.keepAliveTimeout = 5_000
  }

  /** Starts listening; resolves with the bound URL. */
  listen(): Promise<URL> {
    const { port = 8080, host = '0.0.0.0' } = this.options
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => {
        this.server.off('error', reject)
        const address = this.server.address() as AddressInfo
        const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
        resolve(new URL(`http://${shown}:${address.port}`))
      })
    })
  }

  /** Stops accepting connections and resolves once in-flight requests have finished. */
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.server.listening) return resolve()
      this.closing = true
      this.server.close((err) => (err ? reject(err) : resolve()))
      this.server.closeIdleConnections()
    })
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now()
    res.once('finish', () => {
      this.metrics.recordRequest(performance.now() - started, res.statusCode < 500)
      // A keep-alive socket turns idle once its response is flushed; while closing, drop it
      // then instead of waiting for keepAliveTimeout.
      if (this.closing) setImmediate(() => this.server.closeIdleConnections())
    })
    const path = (req.url ?? '/').split('?', 1)[0]
    const route = path === '/health' ? this.health : path === '/metrics' ? this.exposeMetrics : undefined
    if (path !== '/health' && !this.admit(req, res)) return
    if (route === undefined) return sendJson(res, 404, { error: 'not found', path })
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      return sendJson(res, 405, { error: 'method not allowed' })
    }
    route.call(this, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) })
      else res.destroy()
    })
  }

  /** Decides the request against the rate limiter; answers 429 itself when denied. */
  private admit(req: IncomingMessage, res: ServerResponse): boolean {
    const limiter = this.options.rateLimiter
    if (limiter === undefined) return true
    const decision = limiter.allowSync(req.socket.remoteAddress ?? 'unknown')
    if (!decision.allowed) {
      rejectTooManyRequests(res, decision, limiter.quota.limit)
      return false
    }
    for (const [name, value] of Object.entries(rateLimitHeaders(decision, limiter.quota.limit)))
      res.setHeader(name, value)
    return true
  }

  private async health(res: ServerResponse): Promise<void> {
    sendJson(res, 200, { status: 'ok', version: VERSION, uptimeSeconds: (Date.now() - this.startedAt) / 1000 })
  }

  private async exposeMetrics(res: ServerResponse): Promise<void> {
    const body = await this.metrics.expose()
    res.writeHead(200, { 'content-type': this.metrics.contentType, 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }
}
