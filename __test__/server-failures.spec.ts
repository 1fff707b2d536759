import test from 'ava'
import {
  MetricsCollector,
  OptlayerServer,
  RateLimiter,
  type AlertsProvider,
  type OptlayerServerOptions,
} from 'optlayer'

import { startStandalone } from './helpers/redis'

/** Both listeners on loopback and free ports, failures logged into `lines`. */
async function started(
  t: { teardown(fn: () => Promise<void>): void },
  options: OptlayerServerOptions,
): Promise<{ server: OptlayerServer; url: URL; lines: string[] }> {
  const lines: string[] = []
  const server = new OptlayerServer({
    port: 0,
    host: '127.0.0.1',
    admin: { port: 0 },
    log: (line) => lines.push(line),
    ...options,
  })
  const url = await server.listen()
  t.teardown(() => server.close())
  return { server, url, lines }
}

test('a Redis-backed rate limiter is awaited; with Redis killed its fallback answers and the server lives on', async (t) => {
  const redis = await startStandalone()
  t.teardown(() => redis.stop())
  const rateLimiter = new RateLimiter({
    algorithm: 'fixed-window',
    limit: 2,
    windowMs: 60_000,
    redis: { url: redis.url },
    prefix: 'spec:server:',
    timeoutMs: 300,
  })
  t.teardown(() => rateLimiter.close())
  const { server, url, lines } = await started(t, { rateLimiter })

  const first = await fetch(new URL('/work', url))
  t.is(first.status, 404)
  t.is(first.headers.get('ratelimit-remaining'), '1')
  t.is((await fetch(new URL('/work', url))).status, 404)
  t.is((await fetch(new URL('/work', url))).status, 429)
  t.like(rateLimiter.stats(), { mode: 'redis', redis: { allowed: 2, denied: 1 } })
  t.is((await fetch(new URL('/metrics', server.adminUrl))).status, 200, 'scrapes are not limited')

  await redis.kill('SIGKILL')
  // The limiter's fallback (a local share of the limit) decides while Redis is away.
  const during = await fetch(new URL('/work', url))
  t.is(during.status, 404)
  t.is(during.headers.get('ratelimit-limit'), '2')
  t.true(rateLimiter.stats().fallback.local >= 1)
  t.is((await fetch(new URL('/health', url))).status, 200)
  t.deepEqual(lines, [], 'a fallback decision is not a failure')

  // A limiter that can no longer decide at all makes the request unavailable, not the process.
  await rateLimiter.close()
  const closed = await fetch(new URL('/work', url))
  t.is(closed.status, 503)
  t.is(closed.headers.get('retry-after'), '1')
  t.deepEqual(await closed.json(), { error: 'unavailable' })
  t.is((await fetch(new URL('/ready', url))).status, 200, 'probes do not depend on the limiter')
  t.is(lines.length, 1)
  t.regex(lines[0] ?? '', /^optlayer: GET \/work answered 503: ERR_OPTLAYER_CLOSED: the rate limiter is closed$/)
})

test('a closed local rate limiter gets requests a 503 and one log line, the process lives on', async (t) => {
  const rateLimiter = new RateLimiter({ limit: 10 })
  await rateLimiter.close()
  const { url, lines } = await started(t, { rateLimiter })
  const res = await fetch(new URL('/work', url))
  t.is(res.status, 503)
  t.deepEqual(await res.json(), { error: 'unavailable' })
  t.is(res.headers.get('ratelimit-limit'), null)
  t.is((await fetch(new URL('/health', url))).status, 200)
  t.deepEqual(lines, ['optlayer: GET /work answered 503: ERR_OPTLAYER_CLOSED: the rate limiter is closed'])
})

test('a route handler that throws or rejects gets a 500 without its message, and one log line', async (t) => {
  const metrics = new MetricsCollector({ defaultMetrics: false })
  t.teardown(() => metrics.close())
  metrics.expose = () => Promise.reject(new Error('registry exploded'))
  const alerts: AlertsProvider = {
    snapshot() {
      throw new TypeError('alerts exploded')
    },
  }
  const { server, url, lines } = await started(t, { metrics, alerts })

  for (const path of ['/metrics', '/alerts']) {
    const res = await fetch(new URL(path, server.adminUrl))
    t.is(res.status, 500, path)
    t.deepEqual(await res.json(), { error: 'internal_error' }, 'the cause stays in the log')
  }
  t.deepEqual(lines, [
    'optlayer: GET /metrics answered 500: Error: registry exploded',
    'optlayer: GET /alerts answered 500: TypeError: alerts exploded',
  ])
  // Repeats within a second are counted into the next line instead of flooding the log.
  t.is((await fetch(new URL('/alerts', server.adminUrl))).status, 500)
  t.is(lines.length, 2)
  t.is((await fetch(new URL('/health', url))).status, 200)
  t.regex(await metrics.registry.metrics(), /optlayer_request_duration_seconds_count\{outcome="error"\} 3/)
})
