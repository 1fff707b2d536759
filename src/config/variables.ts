import { BALANCER_ALGORITHMS } from '../balancer/options'
import { HTTP_LIMITS_DEFAULTS, HTTP_LIMITS_RANGES } from '../core/http-listener'
import { RATE_LIMIT_ALGORITHMS } from '../ratelimit/quota'

/**
 * How a variable's value is read:
 * - `integer`: a whole number in `[min, max]`;
 * - `bytes`: a whole number of bytes, optionally with a unit (see {@link parseBytes});
 * - `duration-ms`: a whole number of milliseconds in `[min, max]`;
 * - `boolean`: `true`/`false`/`1`/`0`;
 * - `string`: any non-empty text;
 * - `url`: an absolute URL of one of `choices` as schemes;
 * - `host-port`: `host:port` (IPv6 hosts in brackets);
 * - `enum`: one of `choices` (or of the `aliases`' keys);
 * - `list`: comma-separated items, each checked by the reader of that variable.
 *
 * @see parseBytes
 */
export type VariableKind =
  'integer' | 'bytes' | 'duration-ms' | 'boolean' | 'string' | 'url' | 'host-port' | 'enum' | 'list'

/** Groups of variables, in the order `--help` and the README list them. */
export const SECTIONS = Object.freeze([
  'server',
  'admin',
  'redis',
  'cache',
  'queue',
  'rate-limit',
  'backends',
  'gateway',
  'profiling',
  'cluster',
] as const)

/** One of {@link SECTIONS}. */
export type Section = (typeof SECTIONS)[number]

/** One environment variable optlayer reads. */
export interface VariableSpec {
  /** The variable's name. */
  readonly name: string
  /** How its value is read. */
  readonly kind: VariableKind
  /** The group it is listed under. */
  readonly section: Section
  /** The value used when unset or empty, spelt as in the environment; undefined: none (or `defaultText`). */
  readonly default?: string
  /** What the default is when it is not a fixed value (`the rate`, `PROMETHEUS_PORT, else 8081`). */
  readonly defaultText?: string
  /** Smallest accepted number (integer, bytes, duration-ms, and each list item's weight). */
  readonly min?: number
  /** Largest accepted number. */
  readonly max?: number
  /** Accepted values of an `enum`, or URL schemes of a `url`. */
  readonly choices?: readonly string[]
  /** Other spellings of an `enum`'s values, mapped to ours. */
  readonly aliases?: Readonly<Record<string, string>>
  /** What the variable does, one sentence, for `--help` and the README. */
  readonly description: string
  /** A valid value, shown in the README. */
  readonly example: string
  /** A secret: examples and help never show a real value. */
  readonly secret?: boolean
}

const PORT_RANGE = { min: 0, max: 65_535 } as const
const MAX_RATE = 0xffff_ffff
const HTTP = HTTP_LIMITS_RANGES

/**
 * The specification's spellings of the rate-limiting algorithms. A leaky bucket used as a meter
 * admits what GCRA admits (GCRA is its virtual-scheduling form), so `leaky_bucket` is `gcra`.
 */
export const RATE_LIMIT_TYPE_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  token_bucket: 'token-bucket',
  sliding_window: 'sliding-window',
  sliding_log: 'sliding-log',
  fixed_window: 'fixed-window',
  leaky_bucket: 'gcra',
})

/** `NATIVE_FRONT`'s values: the front wherever it can serve, always, or never. */
export const NATIVE_FRONT_MODES = Object.freeze(['auto', 'true', 'false'] as const)

/** One of {@link NATIVE_FRONT_MODES}. */
export type NativeFrontMode = (typeof NATIVE_FRONT_MODES)[number]

/** `NATIVE_FRONT` was a boolean: its spellings stay valid, in any case. */
const NATIVE_FRONT_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  auto: 'auto',
  true: 'true',
  false: 'false',
  '1': 'true',
  '0': 'false',
})

/**
 * Every environment variable optlayer reads. The parser ({@link configFromEnv}), `optlayer serve
 * --help` and the README's configuration table are all made from this table.
 */
export const VARIABLES = Object.freeze([
  // server
  {
    name: 'PORT',
    kind: 'integer',
    section: 'server',
    default: '8080',
    ...PORT_RANGE,
    description: 'TCP port of the gateway',
    example: '8080',
  },
  {
    name: 'HOST',
    kind: 'string',
    section: 'server',
    default: '0.0.0.0',
    description: 'address to bind',
    example: '::',
  },
  {
    name: 'HTTP_HEADERS_TIMEOUT_MS',
    kind: 'duration-ms',
    section: 'server',
    default: String(HTTP_LIMITS_DEFAULTS.headersTimeoutMs),
    min: HTTP.headersTimeoutMs[0],
    max: HTTP.headersTimeoutMs[1],
    description: "longest wait for a request's headers; at most `HTTP_REQUEST_TIMEOUT_MS`",
    example: '5000',
  },
  {
    name: 'HTTP_REQUEST_TIMEOUT_MS',
    kind: 'duration-ms',
    section: 'server',
    default: String(HTTP_LIMITS_DEFAULTS.requestTimeoutMs),
    min: HTTP.requestTimeoutMs[0],
    max: HTTP.requestTimeoutMs[1],
    description: 'longest wait for a whole request, headers and body',
    example: '30000',
  },
  {
    name: 'HTTP_KEEP_ALIVE_TIMEOUT_MS',
    kind: 'duration-ms',
    section: 'server',
    default: String(HTTP_LIMITS_DEFAULTS.keepAliveTimeoutMs),
    min: HTTP.keepAliveTimeoutMs[0],
    max: HTTP.keepAliveTimeoutMs[1],
    description: 'idle keep-alive connections are closed after this',
    example: '65000',
  },
  {
    name: 'HTTP_MAX_CONNECTIONS',
    kind: 'integer',
    section: 'server',
    default: String(HTTP_LIMITS_DEFAULTS.maxConnections),
    min: HTTP.maxConnections[0],
    max: HTTP.maxConnections[1],
    description: 'open connections per listener and process; more are closed at once',
    example: '20000',
  },
  {
    name: 'HTTP_MAX_HEADER_SIZE',
    kind: 'integer',
    section: 'server',
    default: String(HTTP_LIMITS_DEFAULTS.maxHeaderSize),
    min: HTTP.maxHeaderSize[0],
    max: HTTP.maxHeaderSize[1],
    description: 'largest request head in bytes, else 431',
    example: '32768',
  },
  // admin
  {
    name: 'ADMIN_PORT',
    kind: 'integer',
    section: 'admin',
    defaultText: '`PROMETHEUS_PORT`, else `8081`',
    ...PORT_RANGE,
    description: 'TCP port of the admin routes (`/metrics`, `/alerts`, `/dashboard`); not `PORT`',
    example: '8081',
  },
  {
    name: 'PROMETHEUS_PORT',
    kind: 'integer',
    section: 'admin',
    ...PORT_RANGE,
    description:
      "port `/metrics` is scraped on: sets the admin listener's port when `ADMIN_PORT` is unset (else must equal it)",
    example: '9090',
  },
  {
    name: 'METRICS_PORT',
    kind: 'integer',
    section: 'admin',
    ...PORT_RANGE,
    description: 'another name of `PROMETHEUS_PORT`; set one of the two',
    example: '9090',
  },
  {
    name: 'ADMIN_HOST',
    kind: 'string',
    section: 'admin',
    default: '127.0.0.1',
    description: 'address of the admin listener; beyond loopback, set `ADMIN_TOKEN`',
    example: '0.0.0.0',
  },
  {
    name: 'ADMIN_TOKEN',
    kind: 'string',
    section: 'admin',
    description: 'when set, admin requests need it as a bearer token (or a Basic password)',
    example: '<secret>',
    secret: true,
  },
  // redis
  {
    name: 'REDIS_URL',
    kind: 'url',
    section: 'redis',
    choices: ['redis', 'rediss'],
    description:
      'Redis shared by the cache and the rate limiter; set one of `REDIS_URL`, `REDIS_ADDR`, `REDIS_CLUSTER_NODES`',
    example: 'redis://redis:6379/0',
  },
  {
    name: 'REDIS_ADDR',
    kind: 'host-port',
    section: 'redis',
    description: 'the same Redis as `host:port`',
    example: 'redis:6379',
  },
  {
    name: 'REDIS_CLUSTER_NODES',
    kind: 'list',
    section: 'redis',
    description: 'seed nodes of a Redis Cluster, comma-separated `host:port`',
    example: '10.0.0.5:7000,10.0.0.6:7000',
  },
  {
    name: 'REDIS_PASSWORD',
    kind: 'string',
    section: 'redis',
    description: 'password of `REDIS_URL` or `REDIS_ADDR` (not in a URL that has one; not with a Cluster)',
    example: '<secret>',
    secret: true,
  },
  {
    name: 'REDIS_TLS',
    kind: 'boolean',
    section: 'redis',
    default: 'false',
    description: '`true` connects over TLS (`rediss://`) to `REDIS_URL` or `REDIS_ADDR`',
    example: 'true',
  },
  // cache
  {
    name: 'CACHE_L1_SIZE',
    kind: 'bytes',
    section: 'cache',
    default: '10MiB',
    min: 0,
    max: 2 ** 40,
    description:
      'budget of the in-process L1 (live values), divided by `CACHE_ENTRY_SIZE` into entries; 0 turns L1 off',
    example: '64MiB',
  },
  {
    name: 'CACHE_L2_SIZE',
    kind: 'bytes',
    section: 'cache',
    default: '256MiB',
    min: 0,
    max: 2 ** 44,
    description: 'budget of the native L2 store (off the V8 heap); 0 turns L2 off',
    example: '1GiB',
  },
  {
    name: 'CACHE_ENTRY_SIZE',
    kind: 'bytes',
    section: 'cache',
    default: '1KiB',
    min: 16,
    max: 2 ** 31,
    description: "expected size of one cached entry: sizes L1's entry count and L2's admission memory",
    example: '4KiB',
  },
  {
    name: 'CACHE_DEFAULT_TTL_MS',
    kind: 'duration-ms',
    section: 'cache',
    default: '300000',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    description: 'how long a result stays cached when the request sets no TTL; 0: until evicted',
    example: '60000',
  },
  {
    name: 'CACHE_MAX_OBJECT_SIZE',
    kind: 'bytes',
    section: 'cache',
    default: '1MiB',
    min: 1,
    max: 2 ** 31,
    description: 'largest cacheable value (serialized); a larger response is served but not cached',
    example: '512KiB',
  },
  // queue
  {
    name: 'QUEUE_MAX_WORKERS',
    kind: 'integer',
    section: 'queue',
    default: '16',
    min: 1,
    max: 65_536,
    description: 'most work run at once (workers of the `TaskQueue`)',
    example: '64',
  },
  {
    name: 'QUEUE_SIZE',
    kind: 'integer',
    section: 'queue',
    default: '10000',
    min: 1,
    max: 2 ** 30,
    description: 'most work waiting for a worker; beyond it requests are shed',
    example: '1000',
  },
  // rate limit
  {
    name: 'RATE_LIMIT_PER_MINUTE',
    kind: 'integer',
    section: 'rate-limit',
    min: 1,
    max: MAX_RATE,
    description: 'requests per minute per client; unset (with `RATE_LIMIT_PER_SECOND`): no limit',
    example: '600',
  },
  {
    name: 'RATE_LIMIT_PER_SECOND',
    kind: 'integer',
    section: 'rate-limit',
    min: 1,
    max: MAX_RATE,
    description: 'the same per second; set one of the two',
    example: '10',
  },
  {
    name: 'RATE_LIMIT_TYPE',
    kind: 'enum',
    section: 'rate-limit',
    default: 'token-bucket',
    choices: RATE_LIMIT_ALGORITHMS,
    aliases: RATE_LIMIT_TYPE_ALIASES,
    description:
      'the algorithm; `token_bucket`, `sliding_window`, `sliding_log`, `fixed_window` and `leaky_bucket` (= `gcra`) too',
    example: 'sliding_window',
  },
  {
    name: 'RATE_LIMIT_BURST',
    kind: 'integer',
    section: 'rate-limit',
    defaultText: 'the rate',
    min: 1,
    max: MAX_RATE,
    description: 'burst of `token-bucket`, `gcra` and `adaptive`',
    example: '20',
  },
  {
    name: 'RATE_LIMIT_ADAPTIVE',
    kind: 'boolean',
    section: 'rate-limit',
    default: 'false',
    description: '`true` selects the adaptive algorithm',
    example: 'true',
  },
  // backends
  {
    name: 'BACKENDS',
    kind: 'list',
    section: 'backends',
    min: 0.001,
    max: 1e6,
    description: 'upstream services, comma-separated `http(s)://` URLs, each with an optional `=weight`',
    example: 'http://10.0.0.1:9000=3,http://10.0.0.2:9000',
  },
  {
    name: 'LB_ALGORITHM',
    kind: 'enum',
    section: 'backends',
    default: 'round-robin',
    choices: BALANCER_ALGORITHMS,
    description: 'how a backend is chosen',
    example: 'p2c-ewma',
  },
  // gateway
  {
    name: 'USER_KEY_HEADER',
    kind: 'string',
    section: 'gateway',
    default: 'x-api-key',
    description: 'request header holding the client key (rate limit, cache); absent, the client address is the key',
    example: 'authorization',
  },
  {
    name: 'TRUSTED_PROXIES',
    kind: 'list',
    section: 'gateway',
    description: 'comma-separated IPs or CIDRs (IPv4, IPv6) whose `X-Forwarded-For` is believed for the client address',
    example: '10.0.0.0/8,fd00::/8',
  },
  {
    name: 'GATEWAY_MAX_IN_FLIGHT',
    kind: 'integer',
    section: 'gateway',
    default: '1024',
    min: 1,
    max: 1_000_000,
    description: 'requests proxied at once per process; beyond it 503',
    example: '4096',
  },
  {
    name: 'GATEWAY_LATENCY_TOLERANCE_PERCENT',
    kind: 'integer',
    section: 'gateway',
    default: '0',
    min: 0,
    max: 1_000,
    description:
      'with NATIVE_FRONT, the in-flight bound follows latency below GATEWAY_MAX_IN_FLIGHT, keeping the mean within this % over the unqueued latency; 0: fixed',
    example: '100',
  },
  {
    name: 'UPSTREAM_TIMEOUT_MS',
    kind: 'duration-ms',
    section: 'gateway',
    default: '30000',
    min: 1,
    max: 3_600_000,
    description: 'longest wait for a backend to answer, else 504',
    example: '10000',
  },
  {
    name: 'COMPRESSION_MIN_SIZE',
    kind: 'bytes',
    section: 'gateway',
    default: '1KiB',
    min: 0,
    max: 2 ** 31,
    description: 'responses at least this large are compressed when the client accepts it',
    example: '2KiB',
  },
  {
    name: 'ACCESS_LOG',
    kind: 'boolean',
    section: 'gateway',
    default: 'false',
    description: '`true` logs one JSON line per request on stdout',
    example: 'true',
  },
  {
    name: 'NATIVE_FRONT',
    kind: 'enum',
    section: 'gateway',
    default: 'auto',
    choices: NATIVE_FRONT_MODES,
    aliases: NATIVE_FRONT_ALIASES,
    description:
      'a native HTTP/1.1 front owns `PORT`, answers fresh cache hits (and their rate limit) itself and relays the rest (everything with `ACCESS_LOG` or an adaptive or Redis limit); `auto`: wherever it can (`HOST` an IP address, `HTTP_MAX_HEADER_SIZE` at least 8192, not `WORKERS` with `PORT=0`), else `node:http` alone; `true`: the front or a start-up error; `false` (`0`): `node:http` alone',
    example: 'false',
  },
  {
    name: 'NATIVE_FRONT_THREADS',
    kind: 'integer',
    section: 'gateway',
    default: '1',
    min: 1,
    max: 64,
    description: "threads of the native front's runtime",
    example: '2',
  },
  {
    name: 'DEMO',
    kind: 'boolean',
    section: 'gateway',
    defaultText: '`true` without `BACKENDS`',
    description: 'serve an in-process demo backend; not with `BACKENDS`',
    example: 'false',
  },
  // profiling
  {
    name: 'ENABLE_PROFILING',
    kind: 'boolean',
    section: 'profiling',
    default: 'false',
    description: '`true` serves `/debug/pprof/` on a listener of its own',
    example: 'true',
  },
  {
    name: 'PROFILING_PORT',
    kind: 'integer',
    section: 'profiling',
    default: '6060',
    ...PORT_RANGE,
    description: 'its port (worker n of `WORKERS` adds n − 1)',
    example: '6060',
  },
  {
    name: 'PROFILING_HOST',
    kind: 'string',
    section: 'profiling',
    default: '127.0.0.1',
    description: 'its address',
    example: '0.0.0.0',
  },
  {
    name: 'PROFILING_TOKEN',
    kind: 'string',
    section: 'profiling',
    description: 'when set, profiling requests need it as a bearer token',
    example: '<secret>',
    secret: true,
  },
  // cluster
  {
    name: 'WORKERS',
    kind: 'integer',
    section: 'cluster',
    default: '1',
    min: 1,
    max: 256,
    description: 'gateway processes sharing the ports, with fleet-wide `/metrics`; 1 serves from the main process',
    example: '4',
  },
] as const satisfies readonly VariableSpec[])

/** The name of a variable of {@link VARIABLES}. */
export type VariableName = (typeof VARIABLES)[number]['name']

const BY_NAME: ReadonlyMap<string, VariableSpec> = new Map(VARIABLES.map((v) => [v.name, v]))

/** The entry of `name` in {@link VARIABLES}. */
export function variable(name: VariableName): VariableSpec {
  return BY_NAME.get(name) as VariableSpec
}

/** True when `name` is a variable of {@link VARIABLES}. */
export function isVariableName(name: string): name is VariableName {
  return BY_NAME.has(name)
}
