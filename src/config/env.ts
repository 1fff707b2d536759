import { ConfigError } from '../core/errors'
import { RATE_LIMIT_ALGORITHMS, type RateLimitAlgorithm } from '../ratelimit/quota'
import { HTTP_LIMITS_DEFAULTS, HTTP_LIMITS_RANGES, type HttpLimits } from '../core/http-listener'

/** The gateway's rate limit per client, from `RATE_LIMIT_*`. */
export interface RateLimitConfig {
  /** `RATE_LIMIT_TYPE`, or `'adaptive'` when `RATE_LIMIT_ADAPTIVE` is true. @default 'token-bucket' */
  algorithm: RateLimitAlgorithm
  /** From `RATE_LIMIT_PER_MINUTE` or `RATE_LIMIT_PER_SECOND`. */
  limit: number
  /** 60000 for a per-minute rate, 1000 for a per-second one. */
  windowMs: number
  /** `RATE_LIMIT_BURST`. @default limit */
  burst: number
}

/** Configuration of optlayer read from the environment. */
export interface OptlayerConfig {
  /** TCP port of `optlayer serve` (`PORT`). @default 8080 */
  port: number
  /** Address to bind (`HOST`). @default '0.0.0.0' */
  host: string
  /** The admin listener (`/metrics`, `/alerts`, `/dashboard`), from `ADMIN_PORT`, `ADMIN_HOST`, `ADMIN_TOKEN`. */
  admin: AdminConfig
  /** Timeouts and caps of every listener, from `HTTP_*`. */
  http: Required<HttpLimits>
  /** Rate limit per client; undefined (no limit) unless `RATE_LIMIT_PER_MINUTE` or `RATE_LIMIT_PER_SECOND` is set. */
  rateLimit: RateLimitConfig | undefined
  /** Gateway processes (`WORKERS`); 1 serves from the main process. @default 1 */
  workers: number
  /** Profiling endpoints, off unless `ENABLE_PROFILING` is true. */
  profiling: ProfilingConfig | undefined
  /** Limits of a `TaskQueue`: pass as its options (`new TaskQueue(configFromEnv().queue)`). */
  queue: QueueConfig
}

/** A task queue's limits, from `QUEUE_MAX_WORKERS` and `QUEUE_SIZE`. */
export interface QueueConfig {
  /** `QUEUE_MAX_WORKERS`, 1 to 65536. @default 16 */
  maxWorkers: number
  /** `QUEUE_SIZE`: most pending tasks, 1 to 2^30. @default 10000 */
  queueSize: number
}

/** The admin listener, from `ADMIN_PORT`, `ADMIN_HOST` and `ADMIN_TOKEN`. */
export interface AdminConfig {
  /** `ADMIN_PORT`; must differ from `PORT` (unless both are 0). @default 8081 */
  port: number
  /** `ADMIN_HOST`: loopback unless you mean otherwise. @default '127.0.0.1' */
  host: string
  /** `ADMIN_TOKEN`: when set, admin requests need `Authorization: Bearer <token>` (or it as a Basic password). */
  token: string | undefined
}

/** The profiling endpoints' server, from `ENABLE_PROFILING`, `PROFILING_PORT`, `PROFILING_HOST`, `PROFILING_TOKEN`. */
export interface ProfilingConfig {
  /** `PROFILING_PORT`. @default 6060 */
  port: number
  /** `PROFILING_HOST`: loopback unless you mean otherwise. @default '127.0.0.1' */
  host: string
  /** `PROFILING_TOKEN`: when set, requests need `Authorization: Bearer <token>`. */
  token: string | undefined
}

/** Defaults used for every variable that is unset or empty. */
export const CONFIG_DEFAULTS: Readonly<OptlayerConfig> = Object.freeze({
  port: 8080,
  host: '0.0.0.0',
  admin: Object.freeze({ port: 8081, host: '127.0.0.1', token: undefined }),
  http: HTTP_LIMITS_DEFAULTS,
  rateLimit: undefined,
  workers: 1,
  profiling: undefined,
  queue: Object.freeze({ maxWorkers: 16, queueSize: 10_000 }),
})

type Env = Readonly<Record<string, string | undefined>>

function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`)
  }
  return value
}

/**
 * Reads and validates optlayer's environment variables. An invalid value throws a
 * {@link ConfigError} whose message names the variable.
 */
export function configFromEnv(env: Env = process.env): OptlayerConfig {
  const port = integer(env, 'PORT', CONFIG_DEFAULTS.port, 0, 65535)
  return {
    port,
    host: read(env, 'HOST') ?? CONFIG_DEFAULTS.host,
    admin: adminFromEnv(env, port),
    http: httpFromEnv(env),
    rateLimit: rateLimitFromEnv(env),
    workers: integer(env, 'WORKERS', CONFIG_DEFAULTS.workers, 1, 256),
    profiling: profilingFromEnv(env),
    queue: {
      maxWorkers: integer(env, 'QUEUE_MAX_WORKERS', CONFIG_DEFAULTS.queue.maxWorkers, 1, 65_536),
      queueSize: integer(env, 'QUEUE_SIZE', CONFIG_DEFAULTS.queue.queueSize, 1, 2 ** 30),
    },
  }
}

function adminFromEnv(env: Env, port: number): AdminConfig {
  const admin = {
    port: integer(env, 'ADMIN_PORT', CONFIG_DEFAULTS.admin.port, 0, 65535),
    host: read(env, 'ADMIN_HOST') ?? CONFIG_DEFAULTS.admin.host,
    token: read(env, 'ADMIN_TOKEN'),
  }
  if (admin.port !== 0 && admin.port === port) {
    throw new ConfigError(`ADMIN_PORT must differ from PORT: the admin routes have a listener of their own`)
  }
  return admin
}

/** Each limit of {@link HttpLimits} and the variable that sets it. */
const HTTP_VARIABLES: Readonly<Record<keyof HttpLimits, string>> = {
  headersTimeoutMs: 'HTTP_HEADERS_TIMEOUT_MS',
  requestTimeoutMs: 'HTTP_REQUEST_TIMEOUT_MS',
  keepAliveTimeoutMs: 'HTTP_KEEP_ALIVE_TIMEOUT_MS',
  maxConnections: 'HTTP_MAX_CONNECTIONS',
  maxHeaderSize: 'HTTP_MAX_HEADER_SIZE',
}

function httpFromEnv(env: Env): Required<HttpLimits> {
  const http = { ...HTTP_LIMITS_DEFAULTS }
  for (const [key, name] of Object.entries(HTTP_VARIABLES) as [keyof HttpLimits, string][]) {
    const [min, max] = HTTP_LIMITS_RANGES[key]
    http[key] = integer(env, name, HTTP_LIMITS_DEFAULTS[key], min, max)
  }
  if (http.headersTimeoutMs > http.requestTimeoutMs) {
    throw new ConfigError(
      `HTTP_HEADERS_TIMEOUT_MS (${http.headersTimeoutMs}) must not exceed HTTP_REQUEST_TIMEOUT_MS (${http.requestTimeoutMs})`,
    )
  }
  return http
}

function profilingFromEnv(env: Env): ProfilingConfig | undefined {
  if (!boolean(env, 'ENABLE_PROFILING')) {
    for (const name of ['PROFILING_PORT', 'PROFILING_HOST', 'PROFILING_TOKEN']) {
      if (read(env, name) !== undefined) throw new ConfigError(`${name} is set but ENABLE_PROFILING is not true`)
    }
    return undefined
  }
  return {
    port: integer(env, 'PROFILING_PORT', 6060, 0, 65535),
    host: read(env, 'PROFILING_HOST') ?? '127.0.0.1',
    token: read(env, 'PROFILING_TOKEN'),
  }
}

const MAX_RATE = 0xffff_ffff

function rateLimitFromEnv(env: Env): RateLimitConfig | undefined {
  const perMinute = read(env, 'RATE_LIMIT_PER_MINUTE')
  const perSecond = read(env, 'RATE_LIMIT_PER_SECOND')
  if (perMinute !== undefined && perSecond !== undefined) {
    throw new ConfigError('RATE_LIMIT_PER_MINUTE and RATE_LIMIT_PER_SECOND are both set; set one')
  }
  const type = read(env, 'RATE_LIMIT_TYPE')
  if (type !== undefined && !RATE_LIMIT_ALGORITHMS.includes(type as RateLimitAlgorithm)) {
    throw new ConfigError(`RATE_LIMIT_TYPE must be one of ${RATE_LIMIT_ALGORITHMS.join(', ')}, got "${type}"`)
  }
  const adaptive = boolean(env, 'RATE_LIMIT_ADAPTIVE')
  if (perMinute === undefined && perSecond === undefined) {
    for (const name of ['RATE_LIMIT_TYPE', 'RATE_LIMIT_BURST', 'RATE_LIMIT_ADAPTIVE']) {
      if (read(env, name) !== undefined) {
        throw new ConfigError(`${name} is set but no rate is: set RATE_LIMIT_PER_MINUTE or RATE_LIMIT_PER_SECOND`)
      }
    }
    return undefined
  }
  if (adaptive && type !== undefined && type !== 'adaptive') {
    throw new ConfigError(`RATE_LIMIT_ADAPTIVE=true contradicts RATE_LIMIT_TYPE=${type}`)
  }
  const limit =
    perMinute !== undefined
      ? integer(env, 'RATE_LIMIT_PER_MINUTE', 0, 1, MAX_RATE)
      : integer(env, 'RATE_LIMIT_PER_SECOND', 0, 1, MAX_RATE)
  const algorithm: RateLimitAlgorithm = adaptive
    ? 'adaptive'
    : ((type as RateLimitAlgorithm | undefined) ?? 'token-bucket')
  const burst = integer(env, 'RATE_LIMIT_BURST', limit, 1, MAX_RATE)
  if (burst !== limit && !['token-bucket', 'gcra', 'adaptive'].includes(algorithm)) {
    throw new ConfigError(`RATE_LIMIT_BURST applies to token-bucket, gcra and adaptive only, not ${algorithm}`)
  }
  return { algorithm, limit, windowMs: perMinute !== undefined ? 60_000 : 1000, burst }
}

function boolean(env: Env, name: string): boolean {
  const raw = read(env, name)?.toLowerCase()
  if (raw === undefined || raw === 'false' || raw === '0') return false
  if (raw === 'true' || raw === '1') return true
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`)
}
