import { cacheOptionsFromConfig } from '../config/cache-config'
import type { OptlayerConfig } from '../config/env'
import { UnavailableError } from '../core/errors'
import { startDemoBackend, type DemoBackend } from '../gateway/demo-backend'
import type { GatewayOptions } from '../gateway/options'
import { layerOptionsFromConfig } from '../layer/from-env'
import { OptimizationLayer } from '../layer/optimization-layer'
import { defaultAlertRules } from '../monitoring/alert-sources'
import { MetricsCollector } from '../monitoring/metrics-collector'
import { RateLimiter } from '../ratelimit/rate-limiter'
import type { AccessLogEntry } from './access-log'
import { demoProcessor } from './demo-processor'
import { OptlayerServer } from './http-server'
import { serveGateway } from './serve'

/** A running `optlayer serve`, as {@link serveFromConfig} composed it. */
export interface RunningServe {
  /** The public listener's URL. */
  readonly url: URL
  /** The admin listener's URL (`/metrics`, `/alerts`, `/dashboard`), when it has one. */
  readonly adminUrl: URL | undefined
  /** Where requests are recorded; what `/metrics` exposes. */
  readonly metrics: MetricsCollector
  /** The in-process demo backend, when `DEMO` is on. */
  readonly demo: DemoBackend | undefined
  /** Lines telling a newcomer what to try, empty unless the demo runs. */
  readonly hints: readonly string[]
  /** Stops accepting, lets requests in flight finish (up to `timeoutMs`), closes everything. */
  close(options?: { timeoutMs?: number }): Promise<void>
}

/** Options of {@link serveFromConfig}. */
export interface ServeFromConfigOptions {
  /** Where access log lines go when `ACCESS_LOG` is on. @default one JSON line each on stdout */
  accessLog?: (entry: AccessLogEntry) => void
}

/**
 * What `optlayer serve` runs in each process, from its configuration: with `BACKENDS` (or the
 * in-process demo backend when `DEMO` is on), the gateway proxies and caches every path and
 * an `OptimizationLayer` answers `POST /process` (through the same backends, or the demo
 * processor); with neither, only the probes and the admin routes are served, the rate limit
 * applying per client address.
 */
export async function serveFromConfig(
  config: OptlayerConfig,
  options: ServeFromConfigOptions = {},
): Promise<RunningServe> {
  const metrics = new MetricsCollector()
  const log = config.gateway.accessLog
    ? (options.accessLog ?? ((entry: AccessLogEntry) => process.stdout.write(`${JSON.stringify(entry)}\n`)))
    : undefined
  const demo = config.gateway.demo ? await startDemoBackend({ port: 0 }) : undefined
  const backends = demo === undefined ? config.backends : [{ id: 'demo', url: demo.url }]
  if (backends.length === 0) return serveProbesOnly(config, metrics)
  const opened: Array<{ close(): Promise<unknown> }> = demo === undefined ? [] : [demo]
  try {
    const layer = new OptimizationLayer({
      ...layerOptionsFromConfig(config, demo === undefined ? {} : { processor: demoProcessor }),
      name: 'serve',
      metrics,
    })
    opened.unshift({ close: () => layer.stop() })
    await startFailSoft(layer)
    const served = await serveGateway({
      ...config,
      gateway: gatewayOptionsFromConfig(config, backends),
      process: layer.handler(),
      processLayer: layer,
      processReady: () => layer.ready(),
      metrics,
      server: { alertRules: (sources) => defaultAlertRules(sources) },
      ...(log === undefined ? {} : { accessLog: log }),
      // Each worker process runs its own front on the one port: the kernel spreads connections.
      nativeFront: config.gateway.nativeFront && { ...config.gateway.nativeFront, reusePort: config.workers > 1 },
    })
    return {
      url: served.url,
      adminUrl: served.server.adminUrl,
      metrics,
      demo,
      hints: demo === undefined ? [] : demoHints(served.url, served.server.adminUrl),
      close: async (closing = {}) => {
        await served.close(closing)
        await layer.stop(closing)
        await demo?.close()
        await metrics.close()
      },
    }
  } catch (error) {
    await Promise.allSettled(opened.map((part) => part.close()))
    throw error
  }
}

/**
 * Starts the layer; a dependency still out of reach (Redis down at start-up) is reported and
 * the process serves anyway, as it would if the dependency failed later: the cache and the
 * limiter fail soft, and `/ready` tells the orchestrator.
 */
async function startFailSoft(layer: OptimizationLayer): Promise<void> {
  try {
    await layer.start()
  } catch (error) {
    if (!(error instanceof UnavailableError)) throw error
    console.error(`optlayer: ${error.message}; serving anyway`)
  }
}

/** The gateway's options from the configuration, proxying to `backends`. */
export function gatewayOptionsFromConfig(config: OptlayerConfig, backends: OptlayerConfig['backends']): GatewayOptions {
  const cache = cacheOptionsFromConfig(config.cache)
  return {
    backends,
    balancer: config.balancer,
    ...(config.redis === undefined ? {} : { redis: config.redis }),
    // Responses are kept in the byte-bounded native tier (and Redis): the L1 tier bounds
    // entries, not bytes, which for bodies up to CACHE_MAX_OBJECT_SIZE is no bound.
    cache: cache.l2 === false ? false : { l1: false, l2: cache.l2, defaultTtlMs: config.cache.defaultTtlMs },
    maxObjectBytes: config.cache.maxObjectBytes,
    upstreamTimeoutMs: config.gateway.upstreamTimeoutMs,
    maxInFlight: config.gateway.maxInFlight,
    latencyTolerancePercent: config.gateway.latencyTolerancePercent,
    trustedProxies: config.gateway.trustedProxies.map((network) => `${network.address}/${network.prefix}`),
    apiKeyHeader: config.gateway.userKeyHeader,
    compressMinBytes: config.gateway.compressionMinBytes,
  }
}

/** No backend to proxy to: the probes, the admin routes and the per-address rate limit. */
async function serveProbesOnly(config: OptlayerConfig, metrics: MetricsCollector): Promise<RunningServe> {
  const rateLimiter = config.rateLimit && new RateLimiter({ ...config.rateLimit, name: 'serve' })
  const server = new OptlayerServer({
    port: config.port,
    host: config.host,
    admin: config.admin,
    http: config.http,
    metrics,
    rateLimiter,
    alertRules: (sources) => defaultAlertRules(sources),
  })
  try {
    const url = await server.listen()
    return {
      url,
      adminUrl: server.adminUrl,
      metrics,
      demo: undefined,
      hints: [],
      close: async () => {
        await server.close()
        await rateLimiter?.close()
        await metrics.close()
      },
    }
  } catch (error) {
    await rateLimiter?.close()
    await metrics.close()
    throw error
  }
}

function demoHints(url: URL, adminUrl: URL | undefined): string[] {
  const local = `http://localhost:${url.port}`
  return [
    'no BACKENDS set: proxying to an in-process demo backend. Try:',
    `  curl -i ${local}/cacheable                      # X-Cache: MISS, then HIT`,
    `  curl -i -H 'accept-encoding: br' ${local}/large -o /dev/null   # compressed, cached`,
    `  curl -i ${local}/no-store                       # proxied every time`,
    `  curl -i -X POST ${local}/process -H 'content-type: application/json' -d '{"text":"to be or not to be"}'`,
    ...(adminUrl === undefined
      ? []
      : [`  open ${adminUrl.origin}/dashboard               # metrics at ${adminUrl.origin}/metrics`]),
  ]
}
