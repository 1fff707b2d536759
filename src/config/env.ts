import { isIP } from 'node:net'

import type { BackendConfig, BalancerAlgorithm } from '../balancer/options'
import { ConfigError } from '../core/errors'
import { NATIVE_FRONT_MIN_HEADER_BYTES } from '../front/native-front'
import type { HttpLimits } from '../core/http-listener'
import type { RateLimitAlgorithm } from '../ratelimit/quota'
import { backendsFromEnv } from './backends-config'
import { redisFromEnv, type RedisConfig } from './redis-config'
import { trustedProxiesFromEnv, type TrustedNetwork } from './trusted-proxies'
import { unknownVariableWarnings } from './unknown-variables'
import { booleanValue, bytesValue, enumValue, integerValue, raw, stringValue, type Env } from './values'
import type { NativeFrontMode, VariableName } from './variables'

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

/** The cache's budgets, from `CACHE_*`; `cacheOptionsFromConfig` turns them into `DistributedCache` options. */
export interface CacheConfig {
  /** `CACHE_L1_SIZE`: bytes of the in-process tier; 0: no L1. @default 10 MiB */
  l1Bytes: number
  /** `CACHE_L2_SIZE`: bytes of the native tier; 0: no L2. @default 256 MiB */
  l2Bytes: number
  /** `CACHE_ENTRY_SIZE`: expected bytes of one entry. @default 1 KiB */
  entryBytes: number
  /** `CACHE_DEFAULT_TTL_MS`; 0: until evicted. @default 300000 */
  defaultTtlMs: number
  /** `CACHE_MAX_OBJECT_SIZE`: largest cacheable serialized value. @default 1 MiB */
  maxObjectBytes: number
}

/** The gateway's own settings, from the `gateway` section of the table. */
export interface GatewayConfig {
  /** `USER_KEY_HEADER`, lower-cased. @default 'x-api-key' */
  userKeyHeader: string
  /** `TRUSTED_PROXIES`: networks whose `X-Forwarded-For` is believed. @default [] */
  trustedProxies: TrustedNetwork[]
  /** `GATEWAY_MAX_IN_FLIGHT`: requests proxied at once per process. @default 1024 */
  maxInFlight: number
  /** `GATEWAY_LATENCY_TOLERANCE_PERCENT`: with the native front, the bound follows latency. @default 0 (fixed) */
  latencyTolerancePercent: number
  /** `UPSTREAM_TIMEOUT_MS`. @default 30000 */
  upstreamTimeoutMs: number
  /** `COMPRESSION_MIN_SIZE`: smallest response compressed, in bytes. @default 1024 */
  compressionMinBytes: number
  /** `ACCESS_LOG`. @default false */
  accessLog: boolean
  /** `DEMO`: serve the in-process demo backend. @default true when `BACKENDS` is unset */
  demo: boolean
  /**
   * `NATIVE_FRONT` (and `NATIVE_FRONT_THREADS`): the native HTTP front owns the port, or false.
   * @default the front, where `HOST`, `HTTP_MAX_HEADER_SIZE`, `WORKERS` and `PORT` allow it
   */
  nativeFront: false | { threads: number }
}

/** Configuration of optlayer read from the environment. */
export interface OptlayerConfig {
  /** TCP port of `optlayer serve` (`PORT`). @default 8080 */
  port: number
  /** Address to bind (`HOST`). @default '0.0.0.0' */
  host: string
  /** The admin listener (`/metrics`, `/alerts`, `/dashboard`), from `ADMIN_*` and `PROMETHEUS_PORT`. */
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
  /** The shared Redis; undefined: every component is local to its process. */
  redis: RedisConfig | undefined
  /** The cache's budgets. */
  cache: CacheConfig
  /** `BACKENDS`, in order. @default [] */
  backends: BackendConfig[]
  /** The balancer of the backends. */
  balancer: { algorithm: BalancerAlgorithm }
  /** The gateway's own settings. */
  gateway: GatewayConfig
}

/** A task queue's limits, from `QUEUE_MAX_WORKERS` and `QUEUE_SIZE`. */
export interface QueueConfig {
  /** `QUEUE_MAX_WORKERS`, 1 to 65536. @default 16 */
  maxWorkers: number
  /** `QUEUE_SIZE`: most pending tasks, 1 to 2^30. @default 10000 */
  queueSize: number
}

/** The admin listener, from `ADMIN_PORT` (or `PROMETHEUS_PORT`), `ADMIN_HOST` and `ADMIN_TOKEN`. */
export interface AdminConfig {
  /** `ADMIN_PORT`, else `PROMETHEUS_PORT`; must differ from `PORT` (unless both are 0). @default 8081 */
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

/** Options of {@link configFromEnv}. */
export interface ConfigFromEnvOptions {
  /** Told of variables that look like optlayer's but are not (a misspelling, say). @default process warnings */
  warn?: (message: string) => void
}

/**
 * Reads and validates optlayer's environment variables, each through its entry of the table
 * `VARIABLES`. An invalid value throws a {@link ConfigError} whose message names the variable
 * and what it expects; a variable that looks like one of optlayer's but is not is warned about.
 */
export function configFromEnv(env: Env = process.env, options: ConfigFromEnvOptions = {}): OptlayerConfig {
  const config = readConfig(env)
  const warn = options.warn ?? ((message: string) => process.emitWarning(message, 'OptlayerConfigWarning'))
  for (const message of unknownVariableWarnings(env)) warn(message)
  return config
}

function readConfig(env: Env): OptlayerConfig {
  const port = integerValue(env, 'PORT') as number
  const backends = backendsFromEnv(env)
  return {
    port,
    host: stringValue(env, 'HOST') as string,
    admin: adminFromEnv(env, port),
    http: httpFromEnv(env),
    rateLimit: rateLimitFromEnv(env),
    workers: integerValue(env, 'WORKERS') as number,
    profiling: profilingFromEnv(env),
    queue: {
      maxWorkers: integerValue(env, 'QUEUE_MAX_WORKERS') as number,
      queueSize: integerValue(env, 'QUEUE_SIZE') as number,
    },
    redis: redisFromEnv(env),
    cache: {
      l1Bytes: bytesValue(env, 'CACHE_L1_SIZE') as number,
      l2Bytes: l2BytesFromEnv(env),
      entryBytes: bytesValue(env, 'CACHE_ENTRY_SIZE') as number,
      defaultTtlMs: integerValue(env, 'CACHE_DEFAULT_TTL_MS') as number,
      maxObjectBytes: bytesValue(env, 'CACHE_MAX_OBJECT_SIZE') as number,
    },
    backends,
    balancer: { algorithm: enumValue<BalancerAlgorithm>(env, 'LB_ALGORITHM') as BalancerAlgorithm },
    gateway: gatewayFromEnv(env, backends.length > 0),
  }
}

/** The native store needs a budget of at least 1 KiB; 0 means no L2 at all. */
const L2_MIN_BYTES = 1024

function l2BytesFromEnv(env: Env): number {
  const bytes = bytesValue(env, 'CACHE_L2_SIZE') as number
  if (bytes > 0 && bytes < L2_MIN_BYTES) {
    throw new ConfigError(
      `CACHE_L2_SIZE must be 0 (no L2) or at least ${L2_MIN_BYTES} bytes, got "${raw(env, 'CACHE_L2_SIZE')}"`,
    )
  }
  return bytes
}

function adminFromEnv(env: Env, port: number): AdminConfig {
  const prometheus = metricsPort(env)
  const adminPort = integerValue(env, 'ADMIN_PORT')
  if (adminPort !== undefined && prometheus !== undefined && adminPort !== prometheus.port) {
    throw new ConfigError(
      `${prometheus.name} (${prometheus.port}) must equal ADMIN_PORT (${adminPort}): /metrics is served by the admin listener`,
    )
  }
  const admin = {
    port: adminPort ?? prometheus?.port ?? 8081,
    host: stringValue(env, 'ADMIN_HOST') as string,
    token: stringValue(env, 'ADMIN_TOKEN'),
  }
  if (admin.port !== 0 && admin.port === port) {
    const name = adminPort === undefined && prometheus !== undefined ? prometheus.name : 'ADMIN_PORT'
    throw new ConfigError(`${name} must differ from PORT: the admin routes have a listener of their own`)
  }
  return admin
}

/** `PROMETHEUS_PORT` or its synonym `METRICS_PORT`, and which of them was set. */
function metricsPort(env: Env): { name: VariableName; port: number } | undefined {
  const prometheus = integerValue(env, 'PROMETHEUS_PORT')
  const metrics = integerValue(env, 'METRICS_PORT')
  if (prometheus !== undefined && metrics !== undefined && prometheus !== metrics) {
    throw new ConfigError(`METRICS_PORT (${metrics}) and PROMETHEUS_PORT (${prometheus}) differ; set one`)
  }
  if (prometheus !== undefined) return { name: 'PROMETHEUS_PORT', port: prometheus }
  return metrics === undefined ? undefined : { name: 'METRICS_PORT', port: metrics }
}

/** Each limit of {@link HttpLimits} and the variable that sets it. */
const HTTP_VARIABLES: Readonly<Record<keyof HttpLimits, VariableName>> = {
  headersTimeoutMs: 'HTTP_HEADERS_TIMEOUT_MS',
  requestTimeoutMs: 'HTTP_REQUEST_TIMEOUT_MS',
  keepAliveTimeoutMs: 'HTTP_KEEP_ALIVE_TIMEOUT_MS',
  maxConnections: 'HTTP_MAX_CONNECTIONS',
  maxHeaderSize: 'HTTP_MAX_HEADER_SIZE',
}

function httpFromEnv(env: Env): Required<HttpLimits> {
  const http = {} as Required<HttpLimits>
  for (const [key, name] of Object.entries(HTTP_VARIABLES) as [keyof HttpLimits, VariableName][]) {
    http[key] = integerValue(env, name) as number
  }
  if (http.headersTimeoutMs > http.requestTimeoutMs) {
    throw new ConfigError(
      `HTTP_HEADERS_TIMEOUT_MS (${http.headersTimeoutMs}) must not exceed HTTP_REQUEST_TIMEOUT_MS (${http.requestTimeoutMs})`,
    )
  }
  return http
}

function profilingFromEnv(env: Env): ProfilingConfig | undefined {
  if (booleanValue(env, 'ENABLE_PROFILING') !== true) {
    for (const name of ['PROFILING_PORT', 'PROFILING_HOST', 'PROFILING_TOKEN'] as const) {
      if (raw(env, name) !== undefined) throw new ConfigError(`${name} is set but ENABLE_PROFILING is not true`)
    }
    return undefined
  }
  return {
    port: integerValue(env, 'PROFILING_PORT') as number,
    host: stringValue(env, 'PROFILING_HOST') as string,
    token: stringValue(env, 'PROFILING_TOKEN'),
  }
}

function rateLimitFromEnv(env: Env): RateLimitConfig | undefined {
  const perMinute = integerValue(env, 'RATE_LIMIT_PER_MINUTE')
  const perSecond = integerValue(env, 'RATE_LIMIT_PER_SECOND')
  if (perMinute !== undefined && perSecond !== undefined) {
    throw new ConfigError('RATE_LIMIT_PER_MINUTE and RATE_LIMIT_PER_SECOND are both set; set one')
  }
  const type = enumValue<RateLimitAlgorithm>(env, 'RATE_LIMIT_TYPE') as RateLimitAlgorithm
  const adaptive = booleanValue(env, 'RATE_LIMIT_ADAPTIVE') === true
  const limit = perMinute ?? perSecond
  if (limit === undefined) {
    for (const name of ['RATE_LIMIT_TYPE', 'RATE_LIMIT_BURST', 'RATE_LIMIT_ADAPTIVE'] as const) {
      if (raw(env, name) !== undefined) {
        throw new ConfigError(`${name} is set but no rate is: set RATE_LIMIT_PER_MINUTE or RATE_LIMIT_PER_SECOND`)
      }
    }
    return undefined
  }
  if (adaptive && raw(env, 'RATE_LIMIT_TYPE') !== undefined && type !== 'adaptive') {
    throw new ConfigError(`RATE_LIMIT_ADAPTIVE=true contradicts RATE_LIMIT_TYPE=${type}`)
  }
  const algorithm: RateLimitAlgorithm = adaptive ? 'adaptive' : type
  const burst = integerValue(env, 'RATE_LIMIT_BURST') ?? limit
  if (burst !== limit && !['token-bucket', 'gcra', 'adaptive'].includes(algorithm)) {
    throw new ConfigError(`RATE_LIMIT_BURST applies to token-bucket, gcra and adaptive only, not ${algorithm}`)
  }
  return { algorithm, limit, windowMs: perMinute !== undefined ? 60_000 : 1000, burst }
}

function gatewayFromEnv(env: Env, hasBackends: boolean): GatewayConfig {
  const demo = booleanValue(env, 'DEMO')
  if (demo === true && hasBackends) {
    throw new ConfigError('DEMO=true contradicts BACKENDS: the demo backend serves only when no backend is given')
  }
  const header = stringValue(env, 'USER_KEY_HEADER') as string
  // Node lower-cases incoming header names: a name given in capitals must still match.
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header)) {
    throw new ConfigError(`USER_KEY_HEADER must be an HTTP header name, got "${header}"`)
  }
  return {
    userKeyHeader: header.toLowerCase(),
    trustedProxies: trustedProxiesFromEnv(env),
    maxInFlight: integerValue(env, 'GATEWAY_MAX_IN_FLIGHT') as number,
    latencyTolerancePercent: integerValue(env, 'GATEWAY_LATENCY_TOLERANCE_PERCENT') as number,
    upstreamTimeoutMs: integerValue(env, 'UPSTREAM_TIMEOUT_MS') as number,
    compressionMinBytes: bytesValue(env, 'COMPRESSION_MIN_SIZE') as number,
    accessLog: booleanValue(env, 'ACCESS_LOG') as boolean,
    demo: demo ?? !hasBackends,
    nativeFront: nativeFrontFromEnv(env),
  }
}

/**
 * `NATIVE_FRONT`: `auto` (the default) puts the front in wherever it can serve and falls back to
 * `node:http` alone; `true` insists and stops start-up naming what prevents it.
 * `NATIVE_FRONT_THREADS` is checked whatever the mode: a bad value is a mistake either way.
 */
function nativeFrontFromEnv(env: Env): GatewayConfig['nativeFront'] {
  const threads = integerValue(env, 'NATIVE_FRONT_THREADS') as number
  const mode = enumValue<NativeFrontMode>(env, 'NATIVE_FRONT') as NativeFrontMode
  if (mode === 'false') return false
  const insisted = mode === 'true'
  // The front binds the address itself, without a name lookup.
  const host = stringValue(env, 'HOST') as string
  if (isIP(host) === 0) {
    if (!insisted) return false
    throw new ConfigError(`HOST must be an IP address with NATIVE_FRONT=true, got "${raw(env, 'HOST')}"`)
  }
  // The front enforces the listener's limits; it cannot read a head in less than its buffer.
  const maxHeaderSize = integerValue(env, 'HTTP_MAX_HEADER_SIZE') as number
  if (maxHeaderSize < NATIVE_FRONT_MIN_HEADER_BYTES) {
    if (!insisted) return false
    throw new ConfigError(
      `HTTP_MAX_HEADER_SIZE must be at least ${NATIVE_FRONT_MIN_HEADER_BYTES} with NATIVE_FRONT=true, got ${maxHeaderSize}`,
    )
  }
  // Workers share one port through the cluster module only on node:http: fronts binding port 0
  // would each get a port of their own.
  const sharedEphemeralPort = (integerValue(env, 'WORKERS') as number) > 1 && integerValue(env, 'PORT') === 0
  if (sharedEphemeralPort && !insisted) return false
  return { threads }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}

// Last: it reads the tables above.
/** The configuration of an empty environment: every variable at its default. */
export const CONFIG_DEFAULTS: Readonly<OptlayerConfig> = deepFreeze(readConfig({}))
