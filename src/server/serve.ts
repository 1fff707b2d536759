import type { RequestListener } from 'node:http'

import type { OptlayerConfig } from '../config/env'
import { Gateway } from '../gateway/gateway'
import type { GatewayOptions } from '../gateway/options'
import type { MetricsCollector } from '../monitoring/metrics-collector'
import { withAccessLog, type AccessLogEntry } from './access-log'
import type { NativeFrontOptions } from '../front/native-front'
import type { OptimizationLayer } from '../layer/optimization-layer'
import { OptlayerServer, type OptlayerServerOptions, type ReadinessCheck } from './http-server'

/**
 * What {@link serveGateway} runs: the listeners from the environment's configuration (a whole
 * `OptlayerConfig` may be passed; the fields not named here are not read) and the gateway's
 * options.
 */
export interface ServeGatewayConfig extends Pick<OptlayerConfig, 'port' | 'host' | 'admin' | 'http' | 'rateLimit'> {
  /**
   * The gateway's options. Its `rateLimit` comes from the configuration's `rateLimit`
   * (`RATE_LIMIT_*`) unless given here.
   */
  gateway: GatewayOptions
  /** Requests for `/process` go here instead of the gateway: an `OptimizationLayer`'s `handler()`. */
  process?: RequestListener
  /**
   * The layer whose `handler()` is `process`: with a native front (and no access log), the
   * front answers a request equal to one the handler answered while its result stays in the
   * layer cache's L2 store, applying the layer's rate limit.
   */
  processLayer?: Pick<OptimizationLayer, 'nativeProcessPath' | 'attachFront'>
  /**
   * The readiness of what serves `process` (an `OptimizationLayer`'s `ready()`), joined to
   * the gateway's on `/ready`, its checks named `process.<check>`.
   */
  processReady?: () => ReadinessCheck
  /** Metrics exposed on the admin listener's `/metrics`. @default a new MetricsCollector */
  metrics?: MetricsCollector
  /** Alert rules and the like for the server, as `OptlayerServer` takes them. */
  server?: Pick<OptlayerServerOptions, 'alertRules' | 'alertOptions' | 'alerts' | 'dashboard' | 'log'>
  /** Given, each request to the gateway or to `/process` is written to it once answered (`ACCESS_LOG`). */
  accessLog?: (entry: AccessLogEntry) => void
  /**
   * The native HTTP front (`NATIVE_FRONT`) on the public port. It answers the gateway's
   * fresh hits itself, applying its rate limit, unless the limiter does not decide in
   * process (Redis-backed, adaptive) or there is an access log (the front records none):
   * then it relays every request. @default false
   */
  nativeFront?: false | NativeFrontOptions
}

/** Where `config.process` is served. */
const PROCESS_PATH = '/process'

/** A running `optlayer serve`: the server, the gateway behind it and how to stop both. */
export interface ServedGateway {
  readonly server: OptlayerServer
  readonly gateway: Gateway
  /** The public listener's URL. */
  readonly url: URL
  /**
   * Stops accepting, lets the requests in flight finish (at most `timeoutMs`, the gateway's
   * `closeTimeoutMs` by default) and closes the gateway and the server.
   */
  close(options?: { timeoutMs?: number }): Promise<void>
}

/**
 * `optlayer serve` with the gateway: the public listener answers `/health` and `/ready`
 * itself (ready when the gateway is, and the `processReady` check when given), `/process` with `config.process` when given, and hands every other request to the
 * gateway (`OptlayerServer`'s `fallback`); the admin listener serves `/metrics`, `/alerts`
 * and the dashboard. The rate limit is the gateway's (per API key or client address behind
 * trusted proxies), not the server's per-peer one.
 *
 * @example
 * ```ts
 * const config = configFromEnv()
 * const served = await serveGateway({ ...config, gateway: { backends: [{ url: 'http://10.0.0.7:8080' }] } })
 * process.once('SIGTERM', () => void served.close())
 * ```
 */
export async function serveGateway(config: ServeGatewayConfig): Promise<ServedGateway> {
  const rateLimit = config.gateway.rateLimit ?? (config.rateLimit === undefined ? false : { ...config.rateLimit })
  const gateway = new Gateway({ ...config.gateway, rateLimit })
  const proxy = gateway.handler()
  const layer = config.process
  const routes: RequestListener =
    layer === undefined
      ? proxy
      : (req, res) => ((req.url ?? '/').split('?', 1)[0] === PROCESS_PATH ? layer(req, res) : proxy(req, res))
  const fallback = config.accessLog === undefined ? routes : withAccessLog(routes, config.accessLog)
  // The gateway's bound, held by a native front too; with an access log every request must
  // reach the gateway's listener to be logged. `/process` is the layer's, which sheds by its queue.
  const frontAdmission =
    config.accessLog === undefined
      ? { ...gateway.nativeAdmission(), exemptPaths: layer === undefined ? [] : [PROCESS_PATH] }
      : undefined
  const frontedProcess =
    config.accessLog === undefined ? config.processLayer?.nativeProcessPath(PROCESS_PATH) : undefined
  const server = new OptlayerServer({
    ...config.server,
    port: config.port,
    host: config.host,
    admin: config.admin,
    http: config.http,
    ...(config.metrics === undefined ? {} : { metrics: config.metrics }),
    fallback,
    ready: () => joinReadiness(gateway.ready(), config.processReady?.()),
    ...(config.nativeFront
      ? {
          nativeFront: {
            ...config.nativeFront,
            store: gateway.nativeStore(),
            rateLimit: gateway.nativeRateLimit(),
            admission: frontAdmission,
            process: frontedProcess,
          },
        }
      : {}),
  })
  let url: URL
  try {
    url = await server.listen()
  } catch (error) {
    await gateway.close({ timeoutMs: 1 })
    throw error
  }
  const front = server.nativeFront
  if (front !== undefined && config.accessLog === undefined) gateway.attachFront(front)
  if (front !== undefined && frontedProcess !== undefined) config.processLayer?.attachFront(front)
  let closed: Promise<void> | undefined
  return {
    server,
    gateway,
    url,
    close: (options = {}) => {
      // The gateway first: from then on new requests get 503 with Connection: close.
      closed ??= Promise.all([gateway.close(options), server.close()]).then(() => {})
      return closed
    },
  }
}

/** The gateway's readiness, and that of the `/process` handler (checks prefixed `process.`) when there is one. */
function joinReadiness(gateway: ReadinessCheck, process: ReadinessCheck | undefined): ReadinessCheck {
  if (process === undefined) return gateway
  const checks = { ...gateway.checks }
  for (const [name, ok] of Object.entries(process.checks)) checks[`process.${name}`] = ok
  return { ok: gateway.ok && process.ok, checks }
}
