import { ConfigError } from '../core/errors'
import {
  badValue,
  booleanValue,
  hostPortValue,
  listValue,
  parseHostPort,
  raw,
  stringValue,
  urlValue,
  type Env,
} from './values'
import { variable } from './variables'

/**
 * The Redis the cache and the rate limiter share, from `REDIS_URL`, `REDIS_ADDR` or
 * `REDIS_CLUSTER_NODES`: a server's URL (with `REDIS_PASSWORD` and `REDIS_TLS` folded in) or a
 * Cluster's seed nodes. The same shape as the layer's `redis` option.
 */
export type RedisConfig = { url: string } | { cluster: Array<{ host: string; port: number }> }

const SOURCES = ['REDIS_URL', 'REDIS_ADDR', 'REDIS_CLUSTER_NODES'] as const

/** Reads the Redis variables; undefined when none names a server. */
export function redisFromEnv(env: Env): RedisConfig | undefined {
  const set = SOURCES.filter((name) => raw(env, name) !== undefined)
  if (set.length > 1) throw new ConfigError(`${set.join(' and ')} are set together; set one`)
  const password = stringValue(env, 'REDIS_PASSWORD')
  const tls = booleanValue(env, 'REDIS_TLS') === true
  if (set.length === 0) {
    for (const name of ['REDIS_PASSWORD', 'REDIS_TLS'] as const) {
      if (raw(env, name) !== undefined) {
        throw new ConfigError(`${name} is set but no Redis is: set REDIS_URL or REDIS_ADDR`)
      }
    }
    return undefined
  }
  if (set[0] === 'REDIS_CLUSTER_NODES') {
    // The Cluster client takes its seeds as host and port only: a password or TLS would be dropped silently.
    for (const name of ['REDIS_PASSWORD', 'REDIS_TLS'] as const) {
      if (raw(env, name) !== undefined) throw new ConfigError(`${name} is not supported with REDIS_CLUSTER_NODES`)
    }
    const spec = variable('REDIS_CLUSTER_NODES')
    const cluster = (listValue(env, 'REDIS_CLUSTER_NODES') ?? []).map((node) => {
      const address = parseHostPort(node)
      if (address === undefined) throw badValue(spec, 'comma-separated host:port', node)
      return address
    })
    return { cluster }
  }
  const url =
    set[0] === 'REDIS_URL'
      ? (urlValue(env, 'REDIS_URL') as URL)
      : addressUrl(hostPortValue(env, 'REDIS_ADDR') as { host: string; port: number })
  if (password !== undefined) {
    if (url.password !== '') throw new ConfigError('REDIS_PASSWORD is set but REDIS_URL has a password already')
    url.password = encodeURIComponent(password)
  }
  if (tls) {
    if (url.protocol === 'redis:') url.protocol = 'rediss:'
  }
  return { url: url.href }
}

function addressUrl({ host, port }: { host: string; port: number }): URL {
  return new URL(`redis://${host.includes(':') ? `[${host}]` : host}:${port}`)
}
