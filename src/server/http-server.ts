import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

import { InvalidArgumentError } from '../core/errors'
import { MetricSources } from '../monitoring/alert-sources'
import { AlertManager, type AlertManagerOptions, type AlertRule, type AlertsSnapshot } from '../monitoring/alerts'
import { DashboardData, type DashboardDataOptions } from '../monitoring/dashboard/data'
import { DASHBOARD_CSP, DASHBOARD_HTML } from '../monitoring/dashboard/page'
import { MetricReader } from '../monitoring/metric-reader'
import { METRICS_DEFAULTS, MetricsCollector } from '../monitoring/metrics-collector'
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
  /**
   * Alerts listed at `/alerts`, usually an {@link AlertManager}. The server neither starts nor
   * closes it. Exclusive with `alertRules`.
   */
  alerts?: AlertsProvider
  /**
   * Rules of an alert manager the server owns: started by `listen()`, closed by `close()`.
   * A function receives {@link MetricSources} over this server's metrics to build rules from.
   */
  alertRules?: readonly AlertRule[] | ((sources: MetricSources) => readonly AlertRule[])
  /** Options of the owned alert manager (`alertRules`). @default ALERT_DEFAULTS */
  alertOptions?: Omit<AlertManagerOptions, 'rules'>
  /**
   * `/dashboard` and `/dashboard/data`: `false` turns them off; an object tunes the data
   * (history length, metric names).
   * @default true
   */
  dashboard?: boolean | Pick<DashboardDataOptions, 'historyMs' | 'minStepMs' | 'names' | 'clock'>
}

/** What `/alerts` needs of an alert manager (an interface, so that any copy of optlayer's class fits). */
export interface AlertsProvider {
  snapshot(): AlertsSnapshot
}

type Route = (res: ServerResponse) => Promise<void>

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

/**
 * The HTTP face of optlayer (`optlayer serve`): `GET /health`, `GET /metrics`, `GET /alerts`
 * and the live dashboard at `GET /dashboard` (fed by `GET /dashboard/data`), with an optional
 * rate limit per client IP; the gateway routes come with their own issue.
 */
export class OptlayerServer {
  /** The metrics this server exposes and records into. */
  readonly metrics: MetricsCollector
  private readonly server: Server
  private readonly startedAt = Date.now()
  private closing = false
  /** What `/alerts` lists: the `alerts` given, the manager built from `alertRules`, or nothing. */
  readonly alerts: AlertsProvider | undefined
  private readonly ownedAlerts: AlertManager | undefined
  /** Set when the server made its own collector, which it then closes. */
  private readonly ownedMetrics: MetricsCollector | undefined
  private readonly dashboard: DashboardData | undefined
  private readonly routes: ReadonlyMap<string, Route>

  constructor(private readonly options: OptlayerServerOptions = {}) {
    this.ownedMetrics = options.metrics === undefined ? new MetricsCollector() : undefined
    this.metrics = options.metrics ?? (this.ownedMetrics as MetricsCollector)
    if (options.alerts !== undefined && options.alertRules !== undefined) {
      throw new InvalidArgumentError('alerts and alertRules: expected one of them, got both')
    }
    if (options.alerts !== undefined && typeof options.alerts?.snapshot !== 'function') {
      throw new InvalidArgumentError('alerts: expected an AlertManager')
    }
    // One reader for the dashboard and the alert sources, so they share its short cache.
    // The collector's own prefix where it tells it (read structurally: older collectors do not).
    const { prefix } = this.metrics as { prefix?: unknown }
    const reader = new MetricReader(this.metrics.registry, {
      prefix: typeof prefix === 'string' ? prefix : METRICS_DEFAULTS.prefix,
    })
    if (options.alertRules !== undefined) {
      const rules =
        typeof options.alertRules === 'function'
          ? options.alertRules(new MetricSources(reader, { clock: options.alertOptions?.clock }))
          : options.alertRules
      this.ownedAlerts = new AlertManager({ ...options.alertOptions, rules })
    }
    this.alerts = this.ownedAlerts ?? options.alerts
    const dashboard = options.dashboard ?? true
    this.dashboard = dashboard === false ? undefined : new DashboardData(reader, dashboard === true ? {} : dashboard)
    const routes = new Map<string, Route>([
      ['/health', (res) => this.health(res)],
      ['/metrics', (res) => this.exposeMetrics(res)],
      ['/alerts', (res) => this.listAlerts(res)],
    ])
    if (this.dashboard !== undefined) {
      routes.set('/dashboard', (res) => this.dashboardPage(res))
      routes.set('/dashboard/data', (res) => this.dashboardData(res))
    }
    this.routes = routes
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
        this.ownedAlerts?.start()
        resolve(new URL(`http://${shown}:${address.port}`))
      })
    })
  }

  /**
   * Stops accepting connections and resolves once in-flight requests have finished; closes the
   * alert manager it owns (`alertRules`).
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve, reject) => {
      if (!this.server.listening) return resolve()
      this.closing = true
      this.server.close((err) => (err ? reject(err) : resolve()))
      this.server.closeIdleConnections()
    })
    await this.ownedAlerts?.close()
    await closed
    await this.ownedMetrics?.close()
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now()
    this.metrics.requestStarted()
    // 'close' fires for every response, finished or aborted, so nothing stays in flight.
    res.once('close', () => {
      this.metrics.requestFinished(performance.now() - started, res.writableFinished && res.statusCode < 500)
      // A keep-alive socket turns idle once its response is flushed; while closing, drop it
      // then instead of waiting for keepAliveTimeout.
      if (this.closing) setImmediate(() => this.server.closeIdleConnections())
    })
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
    const route = this.routes.get(path)
    if (path !== '/health' && !this.admit(req, res)) return
    if (route === undefined) return sendJson(res, 404, { error: 'not found', path })
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      return sendJson(res, 405, { error: 'method not allowed' })
    }
    route(res).catch((err: unknown) => {
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

  private async listAlerts(res: ServerResponse): Promise<void> {
    const snapshot: AlertsSnapshot & { enabled: boolean } = this.alerts
      ? { enabled: true, ...this.alerts.snapshot() }
      : { enabled: false, evaluatedAt: null, intervalMs: 0, active: [], resolved: [], rules: [] }
    sendJson(res, 200, snapshot)
  }

  private async dashboardPage(res: ServerResponse): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(DASHBOARD_HTML),
      'content-security-policy': DASHBOARD_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    })
    res.end(DASHBOARD_HTML)
  }

  private async dashboardData(res: ServerResponse): Promise<void> {
    if (this.dashboard === undefined) return sendJson(res, 404, { error: 'not found' })
    res.setHeader('cache-control', 'no-store')
    sendJson(res, 200, await this.dashboard.build())
  }
}
