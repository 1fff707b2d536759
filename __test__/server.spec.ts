import test from 'ava'
import { ConfigError, configFromEnv, MetricsCollector, OptlayerServer, RateLimiter } from 'optlayer'
import { Gauge } from 'prom-client'

import { runCli } from './helpers/cli'
import { slowloris } from './helpers/slow-client'

/** Both listeners on loopback and free ports. */
const LOCAL = { port: 0, host: '127.0.0.1', admin: { port: 0 } } as const

test('GET /health answers JSON and /metrics on the admin listener answers Prometheus text', async (t) => {
  const server = new OptlayerServer(LOCAL)
  const url = await server.listen()
  t.teardown(() => server.close())

  const health = await fetch(new URL('/health', url))
  t.is(health.status, 200)
  t.regex(health.headers.get('content-type') ?? '', /application\/json/)
  const body = (await health.json()) as { status: string; version: string }
  t.is(body.status, 'ok')
  t.regex(body.version, /^\d+\.\d+\.\d+/)

  t.like(await (await fetch(new URL('/ready', url))).json(), { status: 'ready' })
  t.is((await fetch(new URL('/metrics', url))).status, 404, 'the public listener serves no admin route')
  const metrics = await fetch(new URL('/metrics', server.adminUrl))
  t.is(metrics.status, 200)
  t.regex(metrics.headers.get('content-type') ?? '', /text\/plain/)
  const text = await metrics.text()
  t.regex(text, /^optlayer_process_cpu_user_seconds_total \d/m, 'prom-client default metrics')
  t.regex(text, /optlayer_request_duration_seconds_count\{outcome="ok"\} [1-9]/, 'the /health call was recorded')
})

test('unknown paths are 404 and other methods 405', async (t) => {
  const server = new OptlayerServer(LOCAL)
  const url = await server.listen()
  t.teardown(() => server.close())
  t.is((await fetch(new URL('/nope', url))).status, 404)
  const post = await fetch(new URL('/health', url), { method: 'POST', body: 'x' })
  t.is(post.status, 405)
  t.is(post.headers.get('allow'), 'GET, HEAD')
})

test('listen rejects when the port is taken', async (t) => {
  const first = new OptlayerServer(LOCAL)
  const url = await first.listen()
  t.teardown(() => first.close())
  const second = new OptlayerServer({ ...LOCAL, port: Number(url.port) })
  await t.throwsAsync(second.listen(), { code: 'EADDRINUSE' })
  // The admin port taken: the public listener it had opened is closed again.
  const third = new OptlayerServer({ ...LOCAL, admin: { port: Number(first.adminUrl?.port) } })
  await t.throwsAsync(third.listen(), { code: 'EADDRINUSE' })
  await third.close()
})

test('close waits for an in-flight request to finish', async (t) => {
  const metrics = new MetricsCollector({ defaultMetrics: false })
  let collecting!: () => void
  const collectStarted = new Promise<void>((resolve) => (collecting = resolve))
  new Gauge({
    name: 'slow_gauge',
    help: 'a gauge whose collection takes a while, to hold a request in flight',
    registers: [metrics.registry],
    async collect() {
      collecting()
      await new Promise((resolve) => setTimeout(resolve, 200))
      this.set(1)
    },
  })
  const server = new OptlayerServer({ ...LOCAL, metrics })
  const url = await server.listen()
  const adminUrl = server.adminUrl
  const inFlight = fetch(new URL('/metrics', adminUrl))
  await collectStarted
  const closed = server.close()
  const res = await inFlight
  t.is(res.status, 200)
  t.regex(await res.text(), /slow_gauge 1/)
  await closed
  await t.throwsAsync(fetch(new URL('/health', url)))
  await t.throwsAsync(fetch(new URL('/metrics', adminUrl)))
})

test('a rate limiter refuses a client over its limit with 429 and RateLimit headers, never the probes or the admin routes', async (t) => {
  const rateLimiter = new RateLimiter({ algorithm: 'fixed-window', limit: 2, windowMs: 60_000 })
  const server = new OptlayerServer({ ...LOCAL, rateLimiter })
  const url = await server.listen()
  t.teardown(async () => {
    await server.close()
    await rateLimiter.close()
  })
  const exempt = [
    ...['/health', '/ready'].map((path) => new URL(path, url)),
    ...['/metrics', '/alerts', '/dashboard/data'].map((path) => new URL(path, server.adminUrl)),
  ]
  // Before and after the client is refused: exempt requests neither spend its quota nor are refused.
  for (const target of [...exempt, ...exempt]) {
    const res = await fetch(target)
    t.is(res.status, 200, `${target.pathname} is never limited`)
    t.is(res.headers.get('ratelimit-limit'), null)
  }
  const first = await fetch(new URL('/work', url))
  t.is(first.status, 404)
  t.is(first.headers.get('ratelimit-limit'), '2')
  t.is(first.headers.get('ratelimit-remaining'), '1')
  t.is((await fetch(new URL('/work', url))).status, 404)
  const refused = await fetch(new URL('/work', url))
  t.is(refused.status, 429)
  t.is(refused.headers.get('ratelimit-remaining'), '0')
  t.true(Number(refused.headers.get('retry-after')) >= 1)
  t.like(await refused.json(), { error: 'too_many_requests' })
  for (const target of exempt) t.is((await fetch(target)).status, 200, `${target.pathname} after a refusal`)
})

test('configFromEnv applies defaults and names the bad variable', (t) => {
  // The gateway's sections (redis, cache, backends, balancer, gateway) are checked in config.spec.ts.
  const { redis, cache, backends, balancer, gateway, ...serverConfig } = configFromEnv({})
  t.deepEqual(serverConfig, {
    port: 8080,
    host: '0.0.0.0',
    admin: { port: 8081, host: '127.0.0.1', token: undefined },
    http: {
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 10_000,
      maxHeaderSize: 16_384,
    },
    rateLimit: undefined,
    workers: 1,
    profiling: undefined,
    queue: { maxWorkers: 16, queueSize: 10_000 },
  })
  t.like(configFromEnv({ PORT: ' 9090 ', HOST: '127.0.0.1' }), { port: 9090, host: '127.0.0.1' })
  for (const bad of ['abc', '-1', '65536', '80.5', '1e3']) {
    t.throws(() => configFromEnv({ PORT: bad }), {
      instanceOf: ConfigError,
      code: 'ERR_OPTLAYER_CONFIG',
      message: new RegExp(`^PORT must be an integer between 0 and 65535, got "${bad.replace('.', '\\.')}"$`),
    })
  }
})

test('WORKERS and the profiling variables are validated, naming the variable', (t) => {
  t.is(configFromEnv({ WORKERS: '4' }).workers, 4)
  t.deepEqual(configFromEnv({ ENABLE_PROFILING: 'true' }).profiling, {
    port: 6060,
    host: '127.0.0.1',
    token: undefined,
  })
  t.deepEqual(configFromEnv({ ENABLE_PROFILING: '1', PROFILING_PORT: '7070', PROFILING_TOKEN: 's3cret' }).profiling, {
    port: 7070,
    host: '127.0.0.1',
    token: 's3cret',
  })
  for (const [env, name] of [
    [{ WORKERS: '0' }, 'WORKERS'],
    [{ ENABLE_PROFILING: 'yes' }, 'ENABLE_PROFILING'],
    [{ PROFILING_PORT: '7070' }, 'PROFILING_PORT'],
    [{ ENABLE_PROFILING: 'true', PROFILING_PORT: '99999' }, 'PROFILING_PORT'],
  ] as const) {
    const error = t.throws(() => configFromEnv(env), { instanceOf: ConfigError })
    t.true(error?.message.includes(name), `${error?.message} names ${name}`)
  }
})

test('the admin and HTTP_* variables are validated, naming the variable', (t) => {
  t.deepEqual(
    configFromEnv({
      ADMIN_PORT: '9901',
      ADMIN_HOST: '0.0.0.0',
      ADMIN_TOKEN: 'scrape-me',
      HTTP_HEADERS_TIMEOUT_MS: '5000',
      HTTP_REQUEST_TIMEOUT_MS: '5000',
      HTTP_KEEP_ALIVE_TIMEOUT_MS: '65000',
      HTTP_MAX_CONNECTIONS: '512',
      HTTP_MAX_HEADER_SIZE: '8192',
    }),
    {
      ...configFromEnv({}),
      admin: { port: 9901, host: '0.0.0.0', token: 'scrape-me' },
      http: {
        headersTimeoutMs: 5_000,
        requestTimeoutMs: 5_000,
        keepAliveTimeoutMs: 65_000,
        maxConnections: 512,
        maxHeaderSize: 8_192,
      },
    },
  )
  t.is(configFromEnv({ PORT: '0', ADMIN_PORT: '0' }).admin.port, 0, 'two free ports')
  for (const [env, message] of [
    [{ ADMIN_PORT: 'admin' }, /^ADMIN_PORT must be an integer between 0 and 65535, got "admin"$/],
    [{ PORT: '9000', ADMIN_PORT: '9000' }, /^ADMIN_PORT must differ from PORT/],
    [{ HTTP_HEADERS_TIMEOUT_MS: 'soon' }, /^HTTP_HEADERS_TIMEOUT_MS must be an integer between 1 and 3600000/],
    [{ HTTP_REQUEST_TIMEOUT_MS: '0' }, /^HTTP_REQUEST_TIMEOUT_MS must be an integer/],
    [{ HTTP_KEEP_ALIVE_TIMEOUT_MS: '-5' }, /^HTTP_KEEP_ALIVE_TIMEOUT_MS must be an integer/],
    [{ HTTP_MAX_CONNECTIONS: '1e4' }, /^HTTP_MAX_CONNECTIONS must be an integer between 1 and 1000000/],
    [{ HTTP_MAX_HEADER_SIZE: '512' }, /^HTTP_MAX_HEADER_SIZE must be an integer between 1024 and 1048576/],
    [
      { HTTP_HEADERS_TIMEOUT_MS: '40000' },
      /^HTTP_HEADERS_TIMEOUT_MS \(40000\) must not exceed HTTP_REQUEST_TIMEOUT_MS \(30000\)$/,
    ],
  ] as const) {
    t.throws(() => configFromEnv(env), { instanceOf: ConfigError, message })
  }
})

test('optlayer serve keeps the admin routes on their listener behind ADMIN_TOKEN and cuts slow clients off', async (t) => {
  const run = runCli({
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_PORT: '0',
    ADMIN_TOKEN: 's3cret',
    HTTP_HEADERS_TIMEOUT_MS: '500',
    HTTP_REQUEST_TIMEOUT_MS: '1000',
  })
  t.teardown(() => run.kill('SIGKILL'))
  const origin = await run.listening
  const admin = await run.admin
  t.regex(admin, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.not(admin, origin)
  for (const path of ['/metrics', '/alerts', '/dashboard']) {
    t.is((await fetch(`${origin}${path}`)).status, 404, `public ${path}`)
    t.is((await fetch(`${admin}${path}`)).status, 401, `admin ${path} without the token`)
    t.is((await fetch(`${admin}${path}`, { headers: { authorization: 'Bearer s3cret' } })).status, 200, path)
  }
  for (const target of [origin, admin]) {
    const slow = await slowloris(new URL(target), { giveUpMs: 15_000 })
    t.true(slow.closedByServer && slow.openMs < 5_000, `${target}: closed after ${slow.openMs} ms`)
  }
  run.kill('SIGTERM')
  t.is(await run.exited, 0)
})

test('optlayer serve serves /health and exits cleanly on SIGTERM', async (t) => {
  const run = runCli({ PORT: '0', HOST: '127.0.0.1', ADMIN_PORT: '0' })
  t.teardown(() => run.kill('SIGKILL'))
  const origin = await run.listening
  const res = await fetch(`${origin}/health`)
  t.is(res.status, 200)
  run.kill('SIGTERM')
  t.is(await run.exited, 0)
  t.regex(run.output().stdout, /SIGTERM received, closing/)
})

test('optlayer serve applies RATE_LIMIT_PER_MINUTE per client', async (t) => {
  const run = runCli({
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_PORT: '0',
    RATE_LIMIT_PER_MINUTE: '1',
    RATE_LIMIT_TYPE: 'fixed-window',
  })
  t.teardown(() => run.kill('SIGKILL'))
  const origin = await run.listening
  t.is((await fetch(`${origin}/work`)).status, 404)
  t.is((await fetch(`${origin}/work`)).status, 429)
  t.is((await fetch(`${origin}/health`)).status, 200)
  run.kill('SIGTERM')
  t.is(await run.exited, 0)
})

test('optlayer serve refuses a bad environment variable, naming it', async (t) => {
  const run = runCli({ PORT: 'eighty' })
  await t.throwsAsync(run.listening)
  t.is(await run.exited, 1)
  t.regex(run.output().stderr, /ERR_OPTLAYER_CONFIG: PORT must be an integer between 0 and 65535, got "eighty"/)

  const limits = runCli({ PORT: '0', HTTP_MAX_CONNECTIONS: 'many' })
  t.is(await limits.exited, 1)
  t.regex(
    limits.output().stderr,
    /ERR_OPTLAYER_CONFIG: HTTP_MAX_CONNECTIONS must be an integer between 1 and 1000000, got "many"/,
  )
})
