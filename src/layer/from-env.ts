import { cacheOptionsFromConfig } from '../config/cache-config'
import { configFromEnv, type ConfigFromEnvOptions, type OptlayerConfig } from '../config/env'
import type { Env } from '../config/values'
import type { OptimizationLayerOptions } from './options'

/**
 * The options of an `OptimizationLayer` described by the environment: the shared Redis
 * (`REDIS_*`), the cache's budgets (`CACHE_*`), the limit per user key (`RATE_LIMIT_*`; none
 * when no rate is set), the queue (`QUEUE_*`), the backends and their balancer (`BACKENDS`,
 * `LB_ALGORITHM`), the user key header, and `UPSTREAM_TIMEOUT_MS` as the bound of a miss's
 * work (the queue's `timeoutMs`) and of a backend's answer. `overrides` win, option by
 * option (a `processor`, say, when `BACKENDS` is unset).
 *
 * @throws {ConfigError} a variable is invalid; the message names it
 */
export function layerOptionsFromEnv<D, R>(
  env: Env = process.env,
  overrides: OptimizationLayerOptions<D, R> = {},
  options: ConfigFromEnvOptions = {},
): OptimizationLayerOptions<D, R> {
  return layerOptionsFromConfig(configFromEnv(env, options), overrides)
}

/**
 * The options of an `OptimizationLayer` described by a configuration already read (see
 * {@link layerOptionsFromEnv} for the mapping); `overrides` win, option by option.
 */
export function layerOptionsFromConfig<D, R>(
  config: OptlayerConfig,
  overrides: OptimizationLayerOptions<D, R> = {},
): OptimizationLayerOptions<D, R> {
  const timeoutMs = config.gateway.upstreamTimeoutMs
  return {
    ...(config.redis === undefined ? {} : { redis: config.redis }),
    cache: cacheOptionsFromConfig(config.cache),
    rateLimit: config.rateLimit ?? false,
    queue: { ...config.queue, timeoutMs },
    ...(config.backends.length === 0
      ? {}
      : {
          backends: config.backends,
          balancer: config.balancer,
          upstream: { headersTimeoutMs: timeoutMs, bodyTimeoutMs: timeoutMs },
        }),
    userKeyHeader: config.gateway.userKeyHeader,
    ...overrides,
  }
}
