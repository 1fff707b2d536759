import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'
import {
  cacheOptionsFromConfig,
  ConfigError,
  configFromEnv,
  DistributedCache,
  parseBytes,
  renderConfigTable,
  renderHelp,
  VARIABLES,
  type Env,
  type VariableName,
} from 'optlayer'

const root = join(__dirname, '..')

/** Reads `env` with the warnings collected instead of emitted. */
function read(env: Env): { config: ReturnType<typeof configFromEnv>; warnings: string[] } {
  const warnings: string[] = []
  return { config: configFromEnv(env, { warn: (message) => warnings.push(message) }), warnings }
}

/** What a variable needs besides itself to be read at all. */
const PREREQUISITES: Partial<Record<VariableName, Env>> = {
  PROFILING_PORT: { ENABLE_PROFILING: 'true' },
  PROFILING_HOST: { ENABLE_PROFILING: 'true' },
  PROFILING_TOKEN: { ENABLE_PROFILING: 'true' },
  RATE_LIMIT_TYPE: { RATE_LIMIT_PER_SECOND: '10' },
  RATE_LIMIT_BURST: { RATE_LIMIT_PER_SECOND: '10' },
  RATE_LIMIT_ADAPTIVE: { RATE_LIMIT_PER_SECOND: '10' },
  REDIS_PASSWORD: { REDIS_ADDR: 'redis:6379' },
  REDIS_TLS: { REDIS_ADDR: 'redis:6379' },
}

/** Per variable, values it refuses (with its prerequisites set). Text variables with no wrong value are absent. */
const BAD_VALUES: Partial<Record<VariableName, readonly string[]>> = {
  PORT: ['eighty', '-1', '65536', '80.5'],
  HTTP_HEADERS_TIMEOUT_MS: ['soon', '0'],
  HTTP_REQUEST_TIMEOUT_MS: ['0', '1e3'],
  HTTP_KEEP_ALIVE_TIMEOUT_MS: ['-5'],
  HTTP_MAX_CONNECTIONS: ['0', '1e4'],
  HTTP_MAX_HEADER_SIZE: ['512', '16KiB'],
  ADMIN_PORT: ['admin', '70000'],
  PROMETHEUS_PORT: ['prom', '65536'],
  METRICS_PORT: ['-1'],
  REDIS_URL: ['http://redis:6379', 'redis', 'tcp://redis:6379', 'rediss://'],
  REDIS_ADDR: ['redis', 'redis:0', 'redis:65536', 'redis://redis:6379', '::1:6379'],
  REDIS_CLUSTER_NODES: ['10.0.0.5:7000,', '10.0.0.5', '10.0.0.5:7000,redis://10.0.0.6:7000'],
  REDIS_TLS: ['yes'],
  CACHE_L1_SIZE: ['lots', '64XB', '-1', '1.5'],
  CACHE_L2_SIZE: ['64 gigs', '20Ti', '512'],
  CACHE_ENTRY_SIZE: ['8', 'big'],
  CACHE_DEFAULT_TTL_MS: ['forever', '1.5'],
  CACHE_MAX_OBJECT_SIZE: ['0', '4GiB'],
  QUEUE_MAX_WORKERS: ['0', 'many'],
  QUEUE_SIZE: ['lots', '0'],
  RATE_LIMIT_PER_MINUTE: ['0', 'lots'],
  RATE_LIMIT_PER_SECOND: ['0', '4294967296'],
  RATE_LIMIT_TYPE: ['leaky', 'token bucket'],
  RATE_LIMIT_BURST: ['0', 'x'],
  RATE_LIMIT_ADAPTIVE: ['maybe'],
  BACKENDS: [
    'ftp://10.0.0.1:9000',
    '10.0.0.1:9000',
    'http://10.0.0.1:9000=0',
    'http://10.0.0.1:9000=2000000',
    'http://a:1,,http://b:1',
    'http://a:1,http://a:1',
  ],
  LB_ALGORITHM: ['random', 'round_robin'],
  USER_KEY_HEADER: ['x api key', 'x-key:'],
  TRUSTED_PROXIES: ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.256', '10.0.0.0/8,', '10.0.0.0/-1'],
  GATEWAY_MAX_IN_FLIGHT: ['0', 'unbounded'],
  GATEWAY_LATENCY_TOLERANCE_PERCENT: ['-1', '1001', 'double'],
  UPSTREAM_TIMEOUT_MS: ['0', '10s'],
  COMPRESSION_MIN_SIZE: ['1 kilobyte'],
  ACCESS_LOG: ['on'],
  DEMO: ['sure'],
  NATIVE_FRONT: ['yes'],
  NATIVE_FRONT_THREADS: ['0', '65', 'two'],
  ENABLE_PROFILING: ['yes'],
  PROFILING_PORT: ['99999'],
  WORKERS: ['0', '257'],
}

/** Text variables: any non-empty value is theirs to take. */
const ANY_TEXT = new Set<string>([
  'HOST',
  'ADMIN_HOST',
  'ADMIN_TOKEN',
  'PROFILING_HOST',
  'PROFILING_TOKEN',
  'REDIS_PASSWORD',
])

test('every variable of the table has bad values that are refused with a ConfigError naming it', (t) => {
  for (const { name } of VARIABLES) {
    const bad = BAD_VALUES[name]
    if (bad === undefined) {
      t.true(ANY_TEXT.has(name), `${name} has no bad value listed`)
      continue
    }
    for (const value of bad) {
      const env = { ...PREREQUISITES[name], [name]: value }
      const error = t.throws(() => read(env), { instanceOf: ConfigError }, `${name}=${value}`)
      t.true(error?.message.startsWith(`${name} `), `"${error?.message}" starts with ${name}`)
    }
  }
})

test("every variable's example is accepted, and unset variables take the table's defaults", (t) => {
  for (const v of VARIABLES) {
    const example = v.example === '<secret>' ? 's3cret' : v.example
    t.notThrows(() => read({ ...PREREQUISITES[v.name], [v.name]: example }), `${v.name}=${example}`)
  }
  const { config, warnings } = read({})
  t.deepEqual(warnings, [])
  t.deepEqual(config.cache, {
    l1Bytes: 10 * 2 ** 20,
    l2Bytes: 256 * 2 ** 20,
    entryBytes: 1024,
    defaultTtlMs: 300_000,
    maxObjectBytes: 2 ** 20,
  })
  t.is(config.redis, undefined)
  t.deepEqual(config.backends, [])
  t.deepEqual(config.balancer, { algorithm: 'round-robin' })
  t.deepEqual(config.gateway, {
    userKeyHeader: 'x-api-key',
    trustedProxies: [],
    maxInFlight: 1024,
    latencyTolerancePercent: 0,
    upstreamTimeoutMs: 30_000,
    compressionMinBytes: 1024,
    accessLog: false,
    demo: true,
    nativeFront: { threads: 1 },
  })
})

test('sizes in bytes take decimal and binary units, any case', (t) => {
  const cases: Array<[string, number | undefined]> = [
    ['0', 0],
    ['65536', 65_536],
    ['512B', 512],
    ['64KiB', 65_536],
    ['64ki', 65_536],
    ['64MiB', 64 * 2 ** 20],
    ['64MB', 64_000_000],
    ['64m', 64_000_000],
    ['64 M', 64_000_000],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['2T', 2e12],
    ['0.5B', undefined],
    ['1.0001K', undefined],
    ['64XB', undefined],
    ['-1', undefined],
    ['MiB', undefined],
    ['', undefined],
  ]
  for (const [text, bytes] of cases) t.is(parseBytes(text), bytes, text)
  t.is(read({ CACHE_L1_SIZE: '64MiB' }).config.cache.l1Bytes, 64 * 2 ** 20)
  t.is(read({ CACHE_L2_SIZE: '1g' }).config.cache.l2Bytes, 1e9)
})

test('Redis: one of REDIS_URL, REDIS_ADDR and REDIS_CLUSTER_NODES, with the password and TLS folded into the URL', (t) => {
  t.deepEqual(read({ REDIS_URL: 'redis://redis:6379/2' }).config.redis, { url: 'redis://redis:6379/2' })
  t.deepEqual(read({ REDIS_ADDR: 'redis.internal:6380' }).config.redis, { url: 'redis://redis.internal:6380' })
  t.deepEqual(read({ REDIS_ADDR: '[::1]:6379' }).config.redis, { url: 'redis://[::1]:6379' })
  t.deepEqual(read({ REDIS_ADDR: 'redis:6379', REDIS_PASSWORD: 'p@ss word', REDIS_TLS: 'true' }).config.redis, {
    url: 'rediss://:p%40ss%20word@redis:6379',
  })
  t.deepEqual(read({ REDIS_URL: 'rediss://user:pw@redis:6379', REDIS_TLS: 'true' }).config.redis, {
    url: 'rediss://user:pw@redis:6379',
  })
  t.deepEqual(read({ REDIS_CLUSTER_NODES: '10.0.0.5:7000, [fd00::6]:7001' }).config.redis, {
    cluster: [
      { host: '10.0.0.5', port: 7000 },
      { host: 'fd00::6', port: 7001 },
    ],
  })
  const refused: Array<[Env, string]> = [
    [{ REDIS_URL: 'redis://a:6379', REDIS_ADDR: 'b:6379' }, 'REDIS_URL and REDIS_ADDR'],
    [{ REDIS_ADDR: 'b:6379', REDIS_CLUSTER_NODES: 'c:7000' }, 'REDIS_ADDR and REDIS_CLUSTER_NODES'],
    [{ REDIS_PASSWORD: 'pw' }, 'REDIS_PASSWORD is set but no Redis is'],
    [{ REDIS_TLS: 'true' }, 'REDIS_TLS is set but no Redis is'],
    [{ REDIS_URL: 'redis://:pw@a:6379', REDIS_PASSWORD: 'other' }, 'REDIS_PASSWORD is set but REDIS_URL has'],
    [{ REDIS_CLUSTER_NODES: 'c:7000', REDIS_PASSWORD: 'pw' }, 'REDIS_PASSWORD is not supported with'],
    [{ REDIS_URL: 'https://redis:6379' }, 'REDIS_URL must be a URL starting with redis:// or rediss://'],
  ]
  for (const [env, message] of refused) {
    const error = t.throws(() => read(env), { instanceOf: ConfigError }, JSON.stringify(env))
    t.true(error?.message.startsWith(message), `"${error?.message}" starts with "${message}"`)
  }
})

test('RATE_LIMIT_TYPE takes the specification spellings and maps them to the limiter algorithms', (t) => {
  const algorithm = (type: string): string | undefined =>
    read({ RATE_LIMIT_PER_SECOND: '10', RATE_LIMIT_TYPE: type }).config.rateLimit?.algorithm
  t.is(algorithm('sliding_window'), 'sliding-window')
  t.is(algorithm('token_bucket'), 'token-bucket')
  t.is(algorithm('FIXED_WINDOW'), 'fixed-window')
  t.is(algorithm('leaky_bucket'), 'gcra')
  t.is(algorithm('sliding-log'), 'sliding-log')
})

test('PROMETHEUS_PORT (or METRICS_PORT) moves the admin listener when ADMIN_PORT is unset', (t) => {
  t.is(read({ PROMETHEUS_PORT: '9090' }).config.admin.port, 9090)
  t.is(read({ METRICS_PORT: '9090' }).config.admin.port, 9090)
  t.is(read({ METRICS_PORT: '9090', PROMETHEUS_PORT: '9090', ADMIN_PORT: '9090' }).config.admin.port, 9090)
  const refused: Array<[Env, string]> = [
    [{ ADMIN_PORT: '8081', PROMETHEUS_PORT: '9090' }, 'PROMETHEUS_PORT (9090) must equal ADMIN_PORT (8081)'],
    [{ METRICS_PORT: '9091', PROMETHEUS_PORT: '9090' }, 'METRICS_PORT (9091) and PROMETHEUS_PORT (9090) differ'],
    [{ PORT: '9090', PROMETHEUS_PORT: '9090' }, 'PROMETHEUS_PORT must differ from PORT'],
    [{ PORT: '9090', METRICS_PORT: '9090' }, 'METRICS_PORT must differ from PORT'],
  ]
  for (const [env, message] of refused) {
    const error = t.throws(() => read(env), { instanceOf: ConfigError }, JSON.stringify(env))
    t.true(error?.message.startsWith(message), `"${error?.message}" starts with "${message}"`)
  }
})

test('BACKENDS, LB_ALGORITHM, TRUSTED_PROXIES and DEMO', (t) => {
  const { config } = read({
    BACKENDS: 'http://10.0.0.1:9000=3, https://api.internal/v1?a=b , http://[fd00::2]:9000=0.5',
    LB_ALGORITHM: 'least-connections',
    TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.7, fd00::/8, ::1',
    USER_KEY_HEADER: 'X-Api-Key',
  })
  t.deepEqual(config.backends, [
    { id: 'http://10.0.0.1:9000', url: 'http://10.0.0.1:9000', weight: 3 },
    { id: 'https://api.internal/v1?a=b', url: 'https://api.internal/v1?a=b' },
    { id: 'http://[fd00::2]:9000', url: 'http://[fd00::2]:9000', weight: 0.5 },
  ])
  t.is(config.balancer.algorithm, 'least-connections')
  t.deepEqual(config.gateway.trustedProxies, [
    { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
    { address: '192.168.1.7', prefix: 32, family: 'ipv4' },
    { address: 'fd00::', prefix: 8, family: 'ipv6' },
    { address: '::1', prefix: 128, family: 'ipv6' },
  ])
  t.is(config.gateway.userKeyHeader, 'x-api-key')
  t.false(config.gateway.demo, 'no demo backend in front of real ones')
  t.false(read({ DEMO: 'false' }).config.gateway.demo)
  t.throws(() => read({ DEMO: 'true', BACKENDS: 'http://a:1' }), { instanceOf: ConfigError, message: /^DEMO=true/ })
})

test('variables with an optlayer prefix that optlayer does not read are warned about, others are not', (t) => {
  const { warnings } = read({
    RATE_LIMIT_PER_MINUTES: '5',
    CACHE_SIZE: '1m',
    HTTP_PROXY: 'http://proxy:3128',
    PATH: '/bin',
  })
  t.deepEqual(warnings, [
    'CACHE_SIZE is not an optlayer variable and is ignored (see optlayer serve --help)',
    'RATE_LIMIT_PER_MINUTES is not an optlayer variable and is ignored (see optlayer serve --help)',
  ])
})

test('cacheOptionsFromConfig: L1 takes entries (bytes / entry size), L2 bytes; a cache built from them has those sizes', (t) => {
  const { config } = read({ CACHE_L1_SIZE: '4MiB', CACHE_ENTRY_SIZE: '2KiB', CACHE_L2_SIZE: '32MiB' })
  const options = cacheOptionsFromConfig(config.cache)
  t.deepEqual(options, {
    defaultTtlMs: 300_000,
    maxValueBytes: 2 ** 20,
    l1: { maxEntries: 2048 },
    l2: { maxBytes: 32 * 2 ** 20, estimatedEntryBytes: 2048 },
  })
  const cache = new DistributedCache(options)
  t.teardown(() => cache.close())
  const stats = cache.stats()
  t.is(stats.l1?.maxEntries, 2048)
  t.is(stats.l2?.maxBytes, 32 * 2 ** 20)
  const off = cacheOptionsFromConfig(read({ CACHE_L1_SIZE: '0', CACHE_L2_SIZE: '0' }).config.cache)
  t.like(off, { l1: false, l2: false })
  t.deepEqual(cacheOptionsFromConfig(read({ CACHE_L1_SIZE: '100' }).config.cache).l1, { maxEntries: 1 }, 'at least one')
})

test("the README's configuration table is the one rendered from the table of variables", (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const section = /<!-- config-table:start -->\n\n([\s\S]*?)\n\n<!-- config-table:end -->/.exec(readme)
  t.truthy(section, 'README.md has the config-table markers')
  t.is(section?.[1], renderConfigTable(), 'stale: run npm run config-table')
})

test('optlayer serve --help lists every variable', (t) => {
  const help = renderHelp()
  for (const { name } of VARIABLES) t.regex(help, new RegExp(`^    ${name} `, 'm'))
})

/** Every `.ts` file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) return sources(path)
    return path.endsWith('.ts') ? [path] : []
  })
}

test('every environment variable the code reads is in the table', (t) => {
  const known = new Set<string>(VARIABLES.map((v) => v.name))
  const used = new Set<string>()
  for (const file of sources(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8')
    // process.env.NAME, process.env['NAME'], env.NAME, env['NAME'] and the readers' (env, 'NAME').
    for (const pattern of [
      /\benv\.([A-Z][A-Z0-9_]+)\b/g,
      /\benv\[['"]([A-Z][A-Z0-9_]+)['"]\]/g,
      /\(env, '([A-Z][A-Z0-9_]+)'\)/g,
    ]) {
      for (const match of text.matchAll(pattern)) used.add(match[1] ?? '')
    }
  }
  t.true(used.size > 30, `found ${used.size} variables read`)
  t.deepEqual(
    [...used].filter((name) => !known.has(name)),
    [],
  )
})
