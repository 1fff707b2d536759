import { mkdtemp, rm } from 'node:fs/promises'
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import {
  CircuitOpenError,
  ClosedError,
  InvalidArgumentError,
  NoBackendError,
  OptlayerError,
  TimeoutError,
  UnavailableError,
} from '../core/errors'
import {
  NativeFront,
  type NativeAdmission,
  type NativeFrontOptions,
  type NativeProcessPath,
  type NativeRateLimit,
} from '../front/native-front'
import { MetricSources } from '../monitoring/alert-sources'
import { AlertManager, type AlertManagerOptions, type AlertRule, type AlertsSnapshot } from '../monitoring/alerts'
import { DashboardData, type DashboardDataOptions } from '../monitoring/dashboard/data'
import { DASHBOARD_CSP, DASHBOARD_HTML } from '../monitoring/dashboard/page'
import { MetricReader } from '../monitoring/metric-reader'
import { METRICS_DEFAULTS, MetricsCollector } from '../monitoring/metrics-collector'
import { markFronted, peerAddress } from '../core/peer-address'
import { rateLimitHeaders, rejectTooManyRequests } from '../ratelimit/http'
import type { RateLimiter } from '../ratelimit/rate-limiter'
import { functionOption, knownOptions, optionNames } from '../core/validate'
import { VERSION } from '../version'
import {
  AccessToken,
  createLimitedServer,
  isLoopback,
  resolveHttpLimits,
  sendJson,
  type HttpLimits,
} from '../core/http-listener'

/**
 * The listener of the admin routes (`/metrics`, `/alerts`, `/dashboard`, `/dashboard/data`):
 * a port of its own, on loopback by default, as Envoy's admin interface, so that what the
 * public port serves never includes the process's internals.
 */
export interface AdminListenerOptions {
  /** TCP port (`ADMIN_PORT`); 0 picks a free one. @default 8081 */
  port?: number
  /** Address to bind (`ADMIN_HOST`); beyond loopback, set a `token`. @default '127.0.0.1' */
  host?: string
  /**
   * When set (`ADMIN_TOKEN`), every admin request needs `Authorization: Bearer <token>`, as
   * Prometheus sends with `authorization: { credentials }`, or the token as the password of
   * HTTP Basic credentials (any user name), which is what a browser prompts for on `/dashboard`.
   */
  token?: string
}

/** Options of {@link OptlayerServer}. */
export interface OptlayerServerOptions {
  /** TCP port of the public listener; 0 picks a free one. @default 8080 */
  port?: number
  /** Address of the public listener. @default '0.0.0.0' */
  host?: string
  /**
   * The admin routes' own listener; `false` serves no admin route at all.
   * @default { port: 8081, host: '127.0.0.1' }
   */
  admin?: AdminListenerOptions | false
  /** Timeouts and caps of both listeners. @default HTTP_LIMITS_DEFAULTS */
  http?: HttpLimits
  /** Metrics to expose on `/metrics`. @default a new MetricsCollector */
  metrics?: MetricsCollector
  /**
   * Limits each client IP on the public listener: over the limit, `429` with `Retry-After`;
   * every limited response carries the `RateLimit-*` headers. Probes (`/health`, `/ready`)
   * and the admin listener are never limited (see {@link RATE_LIMIT_EXEMPT_PATHS}). A
   * Redis-backed limiter is awaited; one that fails (closed, say) gets the request a 503.
   * The server does not close it.
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
  dashboard?: boolean | Pick<DashboardDataOptions, 'historyMs' | 'minStepMs' | 'names' | 'now' | 'clock'>
  /**
   * Where failures are reported, one line each: requests answered 500 or 503, refused
   * connections over `http.maxConnections`. Repeats within a second are counted into the next line.
   * @default console.error
   */
  log?: (line: string) => void
  /**
   * What the public listener does with a request for none of its own routes (`/health`,
   * `/ready`), instead of a 404: a gateway's handler, say. It answers whatever method; it
   * is rate limited by `rateLimiter` like any public request.
   */
  fallback?: RequestListener
  /**
   * What `/ready` asks besides the server not closing: the readiness of what the server
   * fronts (a gateway's backends, capacity and Redis, say). Not ok, throwing or rejecting:
   * 503 `not_ready` with the checks; ok: 200 with them.
   * @default none: ready while not closing
   */
  ready?: () => ReadinessCheck | Promise<ReadinessCheck>
  /**
   * The native HTTP front (`NATIVE_FRONT`): it listens on `port` and `host` (an IP
   * address) in place of the public listener, which then listens on a Unix socket in a
   * private directory and answers what the front relays to it. Hits the gateway publishes
   * to the front ({@link nativeFront}) are answered natively.
   * @default none: the public listener owns the port
   */
  nativeFront?: NativeFrontListenerOptions
}

/**
 * {@link OptlayerServerOptions.nativeFront}. Its `headersTimeoutMs`, `keepAliveTimeoutMs`,
 * `maxHeaderBytes` and `maxConnections` default to the server's `http` limits (`headersTimeoutMs`,
 * `keepAliveTimeoutMs`, `maxHeaderSize`, `maxConnections`), so the limits hold whichever listener
 * owns the port.
 */
export interface NativeFrontListenerOptions extends NativeFrontOptions {
  /**
   * The cache's native L2 store the front answers published hits from: a `Gateway`'s
   * `nativeStore()`. None: every request is relayed.
   */
  store?: unknown
  /** The gateway's rate limit, applied to the hits the front answers (a `Gateway`'s `nativeRateLimit()`). */
  rateLimit?: NativeRateLimit
  /**
   * The gateway's bound on requests in flight, held by the front on what it relays (a
   * `Gateway`'s `nativeAdmission()`); the public listener's own routes are never refused,
   * nor the `exemptPaths` given (routes the gateway does not serve).
   */
  admission?: NativeAdmission
  /**
   * The layer's handler path, answered from the results it publishes (an
   * `OptimizationLayer`'s `nativeProcessPath()`); none: its requests are relayed.
   */
  process?: NativeProcessPath
}

/** The answer of an {@link OptlayerServerOptions.ready} hook, as `Gateway.ready()` and `OptimizationLayer.ready()` give it. */
export interface ReadinessCheck {
  /** Every check passed. */
  ok: boolean
  /** Each check by name. */
  checks: Record<string, boolean>
}

/** Defaults of {@link OptlayerServerOptions}. */
export const SERVER_DEFAULTS = Object.freeze({
  port: 8080,
  host: '0.0.0.0',
  admin: Object.freeze({ port: 8081, host: '127.0.0.1' }),
})

const SERVER_NAMES = optionNames<OptlayerServerOptions>()(SERVER_DEFAULTS, {
  http: true,
  metrics: true,
  rateLimiter: true,
  alerts: true,
  alertRules: true,
  alertOptions: true,
  dashboard: true,
  log: true,
  fallback: true,
  ready: true,
  nativeFront: true,
})
const ADMIN_NAMES = optionNames<AdminListenerOptions>()(SERVER_DEFAULTS.admin, { token: true })
const DASHBOARD_NAMES = optionNames<Exclude<OptlayerServerOptions['dashboard'], boolean | undefined>>()(
  {},
  { historyMs: true, minStepMs: true, names: true, now: true, clock: true },
)

/**
 * Paths of the public listener the rate limiter never sees: Kubernetes probes must not be
 * refused. The admin listener is never limited either (a Prometheus scrape must not be).
 */
export const RATE_LIMIT_EXEMPT_PATHS: ReadonlySet<string> = new Set(['/health', '/ready'])

/** What `/alerts` needs of an alert manager (an interface, so that any copy of optlayer's class fits). */
export interface AlertsProvider {
  snapshot(): AlertsSnapshot
}

type Route = (res: ServerResponse) => Promise<void>

/** One of the server's two listeners and what it serves. */
interface Listener {
  readonly name: 'public' | 'admin'
  readonly server: Server
  readonly port: number
  readonly host: string
  readonly routes: ReadonlyMap<string, Route>
  readonly token: AccessToken | undefined
  url?: URL
}

/** Failures that say a dependency or component cannot serve now, rather than a fault: 503. */
const UNAVAILABLE = [UnavailableError, ClosedError, TimeoutError, CircuitOpenError, NoBackendError]
/** Repeats of a failure line within this time are counted, not printed. */
const LOG_INTERVAL_MS = 1_000

/**
 * The HTTP face of optlayer (`optlayer serve`). The public listener answers `GET /health`
 * (liveness) and `GET /ready` (readiness: 503 once closing), with an optional rate limit per
 * client IP; the gateway routes are to join it there. The admin listener, on loopback by
 * default and optionally behind a token, answers `GET /metrics`, `GET /alerts` and the live
 * dashboard at `GET /dashboard` (fed by `GET /dashboard/data`).
 *
 * A failing handler never takes the process down: the request gets a 503 when a component
 * is unavailable or closed, a 500 otherwise, and the failure one line in `log`.
 */
export class OptlayerServer {
  /** The metrics this server exposes and records into. */
  readonly metrics: MetricsCollector
  private readonly startedAt = Date.now()
  private closing = false
  /** What `/alerts` lists: the `alerts` given, the manager built from `alertRules`, or nothing. */
  readonly alerts: AlertsProvider | undefined
  private readonly ownedAlerts: AlertManager | undefined
  /** Set when the server made its own collector, which it then closes. */
  private readonly ownedMetrics: MetricsCollector | undefined
  private readonly dashboard: DashboardData | undefined
  private readonly listeners: readonly Listener[]
  private readonly log: (line: string) => void
  private readonly limits: Required<HttpLimits>
  private readonly logged = new Map<string, { at: number; suppressed: number }>()
  /** The native front, once listening with one. */
  private front: NativeFront | undefined
  /** The private directory of the public listener's socket behind the native front. */
  private socketDir: string | undefined

  /**
   * Sets the listeners up; {@link listen} opens them.
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option (the
   *   HTTP limits, the admin token, the alert rules and the dashboard's included) is invalid or
   *   unknown, or both `alerts` and `alertRules` are given; the message names it. An
   *   `alertRules` function's own throw passes through.
   */
  constructor(private readonly options: OptlayerServerOptions = {}) {
    knownOptions('server options', options, SERVER_NAMES)
    functionOption('fallback', options.fallback)
    functionOption('ready', options.ready)
    knownOptions('admin', options.admin === false ? undefined : options.admin, ADMIN_NAMES)
    // prefix and maxAgeMs are those of the server's one reader, so the dashboard object takes only these.
    knownOptions('dashboard', typeof options.dashboard === 'object' ? options.dashboard : undefined, DASHBOARD_NAMES)
    if (options.alerts !== undefined && options.alertRules !== undefined) {
      throw new InvalidArgumentError('alerts and alertRules: expected one of them, got both')
    }
    if (options.alerts !== undefined && typeof options.alerts?.snapshot !== 'function') {
      throw new InvalidArgumentError('alerts: expected an AlertManager')
    }
    const limits = resolveHttpLimits(options.http)
    this.limits = limits
    const adminOptions = options.admin ?? {}
    const adminToken =
      adminOptions === false || adminOptions.token === undefined ? undefined : new AccessToken(adminOptions.token, true)
    this.log = options.log ?? ((line) => console.error(line))
    this.ownedMetrics = options.metrics === undefined ? new MetricsCollector() : undefined
    this.metrics = options.metrics ?? (this.ownedMetrics as MetricsCollector)
    // One reader for the dashboard and the alert sources, so they share its short cache.
    // The collector's own prefix where it tells it (read structurally: older collectors do not).
    const { prefix } = this.metrics as { prefix?: unknown }
    const reader = new MetricReader(this.metrics.registry, {
      prefix: typeof prefix === 'string' ? prefix : METRICS_DEFAULTS.prefix,
    })
    if (options.alertRules !== undefined) {
      const rules =
        typeof options.alertRules === 'function'
          ? options.alertRules(
              new MetricSources(reader, { now: options.alertOptions?.now, clock: options.alertOptions?.clock }),
            )
          : options.alertRules
      this.ownedAlerts = new AlertManager({ ...options.alertOptions, rules })
    }
    this.alerts = this.ownedAlerts ?? options.alerts
    const dashboard = options.dashboard ?? true
    this.dashboard = dashboard === false ? undefined : new DashboardData(reader, dashboard === true ? {} : dashboard)

    const listener = (
      name: Listener['name'],
      port: number,
      host: string,
      routes: ReadonlyMap<string, Route>,
      token: AccessToken | undefined,
    ): Listener => {
      const self: Listener = {
        name,
        server: createLimitedServer(limits, (req, res) => this.handle(self, req, res)),
        port,
        host,
        routes,
        token,
      }
      // Node closes connections over maxConnections before any request: say so, or they vanish unseen.
      self.server.on('drop', () =>
        this.report(
          `drop:${name}`,
          `optlayer: ${name} listener at its ${limits.maxConnections} connections; refusing more`,
        ),
      )
      return self
    }
    const publicRoutes = new Map<string, Route>([
      ['/health', (res) => this.health(res)],
      ['/ready', (res) => this.ready(res)],
    ])
    const listeners = [
      listener(
        'public',
        options.port ?? SERVER_DEFAULTS.port,
        options.host ?? SERVER_DEFAULTS.host,
        publicRoutes,
        undefined,
      ),
    ]
    if (adminOptions !== false) {
      const adminRoutes = new Map<string, Route>([
        ['/metrics', (res) => this.exposeMetrics(res)],
        ['/alerts', (res) => this.listAlerts(res)],
      ])
      if (this.dashboard !== undefined) {
        adminRoutes.set('/dashboard', (res) => this.dashboardPage(res))
        adminRoutes.set('/dashboard/data', (res) => this.dashboardData(res))
      }
      listeners.push(
        listener(
          'admin',
          adminOptions.port ?? SERVER_DEFAULTS.admin.port,
          adminOptions.host ?? SERVER_DEFAULTS.admin.host,
          adminRoutes,
          adminToken,
        ),
      )
    }
    this.listeners = listeners
  }

  /** The admin listener's URL once listening; undefined before, or with `admin: false`. */
  get adminUrl(): URL | undefined {
    return this.listeners.find((l) => l.name === 'admin')?.url
  }

  /**
   * Starts both listeners; resolves with the public listener's URL (the admin one is
   * {@link adminUrl}). If either cannot listen, neither stays open.
   */
  async listen(): Promise<URL> {
    const fronted = this.options.nativeFront
    try {
      for (const listener of this.listeners) {
        listener.url =
          listener.name === 'public' && fronted !== undefined
            ? await this.listenBehindFront(listener, fronted)
            : await listenOn(listener)
      }
    } catch (err) {
      await Promise.all(this.listeners.map((l) => closeListener(l.server)))
      await this.front?.close()
      await this.removeSocketDir()
      throw err
    }
    const admin = this.listeners.find((l) => l.name === 'admin')
    if (admin !== undefined && admin.token === undefined && !isLoopback(admin.host)) {
      this.log(
        `optlayer: admin routes on ${admin.url?.origin ?? admin.host} are reachable beyond loopback without a token`,
      )
    }
    this.ownedAlerts?.start()
    return this.listeners[0]?.url as URL
  }

  /**
   * Stops accepting connections and resolves once in-flight requests have finished; closes the
   * alert manager it owns (`alertRules`).
   */
  async close(): Promise<void> {
    this.closing = true
    // The front first: what it relays finishes while the public listener still answers.
    this.front?.setClosing()
    await this.front?.close()
    const closed = Promise.all(this.listeners.map((l) => closeListener(l.server)))
    await this.ownedAlerts?.close()
    await closed
    await this.removeSocketDir()
    await this.ownedMetrics?.close()
  }

  /** The native front, when the server listens with one (after {@link listen}). */
  get nativeFront(): NativeFront | undefined {
    return this.front
  }

  /**
   * Puts `listener` on a Unix socket only this process can reach (a directory of mode 0700)
   * and the native front on its port; resolves with the front's URL.
   */
  private async listenBehindFront(listener: Listener, options: NativeFrontListenerOptions): Promise<URL> {
    const { store, rateLimit, admission, process, ...frontOptions } = options
    this.socketDir = await mkdtemp(join(tmpdir(), 'optlayer-front-'))
    const upstream = join(this.socketDir, 'gateway.sock')
    listener.server.on('connection', markFronted)
    await listenOnPath(listener.server, upstream)
    // The front's own answers go into this server's request figures: their latency into
    // the native histogram behind request_duration_seconds, their count as a request source.
    const latency = this.metrics.requestLatency.ok.nativeHistogram
    // The front owns the public connections: the listener's limits are its own unless given.
    const { headersTimeoutMs, keepAliveTimeoutMs, maxHeaderSize, maxConnections } = this.limits
    const front = new NativeFront(
      {
        port: listener.port,
        host: listener.host,
        upstream,
        store,
        rateLimit,
        latency,
        process,
        admission: admission && {
          ...admission,
          exemptPaths: [...listener.routes.keys(), ...(admission.exemptPaths ?? [])],
        },
      },
      {
        ...frontOptions,
        headersTimeoutMs: frontOptions.headersTimeoutMs ?? headersTimeoutMs,
        keepAliveTimeoutMs: frontOptions.keepAliveTimeoutMs ?? keepAliveTimeoutMs,
        maxHeaderBytes: frontOptions.maxHeaderBytes ?? maxHeaderSize,
        maxConnections: frontOptions.maxConnections ?? maxConnections,
      },
    )
    this.front = front
    this.metrics.addRequestSource(() => {
      const { hits, limited, processHits, processLimited, shed } = front.stats()
      return { requests: hits + limited + processHits + processLimited + shed, errors: shed }
    })
    const shown = listener.host.includes(':') ? `[${listener.host}]` : listener.host
    return new URL(`http://${shown}:${front.port}`)
  }

  private async removeSocketDir(): Promise<void> {
    if (this.socketDir === undefined) return
    await rm(this.socketDir, { recursive: true, force: true })
    this.socketDir = undefined
  }

  private handle(listener: Listener, req: IncomingMessage, res: ServerResponse): void {
    this.serve(listener, req, res).catch((err: unknown) => this.fail(listener, req, res, err))
  }

  private async serve(listener: Listener, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now()
    this.metrics.requestStarted()
    // 'close' fires for every response, finished or aborted, so nothing stays in flight.
    res.once('close', () => {
      try {
        this.metrics.requestFinished(performance.now() - started, res.writableFinished && res.statusCode < 500)
      } catch (err) {
        this.report('metrics', `optlayer: recording a request failed: ${describe(err)}`)
      }
      // A keep-alive socket turns idle once its response is flushed; while closing, drop it
      // then instead of waiting for keepAliveTimeout.
      if (this.closing) setImmediate(() => listener.server.closeIdleConnections())
    })
    if (listener.token !== undefined && !listener.token.allows(req)) {
      return sendJson(res, 401, { error: 'unauthorized' }, { 'www-authenticate': listener.token.challenge('optlayer') })
    }
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
    const route = listener.routes.get(path)
    // No await without a limiter: an await defers the rest of every request to a microtask.
    const limiter =
      listener.name === 'public' && !RATE_LIMIT_EXEMPT_PATHS.has(path) ? this.options.rateLimiter : undefined
    if (limiter !== undefined && !(await this.admit(limiter, req, res))) return
    if (route === undefined && listener.name === 'public' && this.options.fallback !== undefined) {
      return this.options.fallback(req, res)
    }
    if (route === undefined) return sendJson(res, 404, { error: 'not found', path })
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      return sendJson(res, 405, { error: 'method not allowed' })
    }
    await route(res)
  }

  /** Answers a request whose handling failed (503 or 500) and reports it; never throws. */
  private fail(listener: Listener, req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const unavailable = UNAVAILABLE.some((type) => err instanceof type)
    const status = unavailable ? 503 : 500
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
    // Repeats are counted per route; unknown paths share one count, so that a client cannot
    // spread a flood of failures over lines (or entries of the count) of its own.
    const kind = `fail:${status}:${listener.name}:${listener.routes.has(path) ? path : '*'}`
    this.report(kind, `optlayer: ${req.method ?? '?'} ${path} answered ${status}: ${describe(err)}`)
    try {
      if (res.headersSent) return void res.destroy()
      // Headers set before the failure (RateLimit-*) would describe a request that was not served.
      for (const name of res.getHeaderNames()) res.removeHeader(name)
      if (unavailable) sendJson(res, 503, { error: 'unavailable' }, { 'retry-after': '1' })
      else sendJson(res, 500, { error: 'internal_error' })
    } catch {
      res.destroy()
    }
  }

  /** Logs `line`, or counts it when a line of the same `kind` went out less than a second ago. */
  private report(kind: string, line: string): void {
    const now = Date.now()
    const last = this.logged.get(kind)
    if (last !== undefined && now - last.at < LOG_INTERVAL_MS) {
      last.suppressed++
      return
    }
    const more = last?.suppressed ? ` (and ${last.suppressed} more like it)` : ''
    this.logged.set(kind, { at: now, suppressed: 0 })
    try {
      this.log(line + more)
    } catch {
      // A failing logger must not turn a reported failure into a crash.
    }
  }

  /** Decides the request against the rate limiter; answers 429 itself when denied. */
  private async admit(limiter: RateLimiter, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    // allow(), not allowSync(): a Redis-backed limiter can only decide asynchronously.
    const decision = await limiter.allow(peerAddress(req) ?? 'unknown')
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

  /**
   * Readiness: a closing server asks the load balancer to stop sending it traffic, and so
   * does one whose `ready` hook says what it fronts cannot serve.
   */
  private async ready(res: ServerResponse): Promise<void> {
    if (this.closing) return sendJson(res, 503, { status: 'closing' })
    const hook = this.options.ready
    if (hook === undefined) return sendJson(res, 200, { status: 'ready' })
    let check: ReadinessCheck
    try {
      check = await hook()
    } catch (err) {
      // A probe must get an answer: a failing check is a "not ready", reported once a second at most.
      this.report('ready', `optlayer: the readiness check failed: ${describe(err)}`)
      return sendJson(res, 503, { status: 'not_ready', checks: {} })
    }
    const ok = check.ok === true
    sendJson(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not_ready', checks: check.checks })
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

function describe(err: unknown): string {
  if (err instanceof OptlayerError) return `${err.code}: ${err.message}`
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

function listenOn(listener: Listener): Promise<URL> {
  const { server, port, host } = listener
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      const address = server.address() as AddressInfo
      const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
      resolve(new URL(`http://${shown}:${address.port}`))
    })
  })
}

function listenOnPath(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    // Exclusive: in a cluster worker the socket stays this process's, not shared through the primary.
    server.listen({ path, exclusive: true }, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/** Stops accepting and resolves once the open connections have finished. */
function closeListener(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) return resolve()
    server.close((err) => (err ? reject(err) : resolve()))
    server.closeIdleConnections()
  })
}
