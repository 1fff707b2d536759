import { mkdirSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'

import test from 'ava'
import {
  DashboardData,
  MetricsCollector,
  OptlayerServer,
  RateLimiter,
  type DashboardPanel,
  type DashboardPayload,
} from 'optlayer'

import { fakeClock } from './helpers/fake-clock'
import { waitFor } from './helpers/wait'
import { chromium } from 'playwright-core'
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client'

// Rate-limit metrics cover every open RateLimiter of the process, so these tests run one at a time.

function panel(payload: DashboardPayload, id: DashboardPanel['id']): DashboardPanel {
  const found = payload.panels.find((p) => p.id === id)
  if (found === undefined) throw new Error(`no panel ${id}`)
  return found
}

function latest(payload: DashboardPayload, id: DashboardPanel['id']): Record<string, number | null> {
  return Object.fromEntries(panel(payload, id).lines.map((line) => [line.name, line.values.at(-1) ?? null]))
}

/** A request histogram as prom-client keeps one: the bucket arithmetic of the builder is exact on it. */
function requestHistogram(registry: Registry): Histogram<'outcome'> {
  return new Histogram({
    name: 'optlayer_request_duration_seconds',
    help: 'request durations',
    labelNames: ['outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  })
}

test.serial('the data builder turns counters into per-point rates, percentiles and ratios', async (t) => {
  const clock = fakeClock(Date.parse('2030-01-01T00:00:00Z'))
  const registry = new Registry()
  const requests = requestHistogram(registry)
  const data = new DashboardData(registry, { now: clock.now, maxAgeMs: 0, historyMs: 10_000, minStepMs: 500 })

  let payload = await data.build()
  t.is(payload.times.length, 1)
  t.deepEqual(latest(payload, 'requestRate'), { total: null, errors: null }, 'one reading has no rate yet')
  for (const [id, reason] of [
    ['cacheHitRatio', /no cache: optlayer_cache_hits_total and cache_misses_total are not registered/],
    ['queueDepth', /no task queue: optlayer_queue_depth is not registered/],
    ['backendHealth', /no load balancer: optlayer_balancer_backend_healthy is not registered/],
    ['heapUsed', /default metrics off/],
    ['rateLimitRejections', /no rate limiter: optlayer_ratelimit_decisions_total is not registered/],
  ] as const) {
    t.like(panel(payload, id), { status: 'no-data', lines: [] }, id)
    t.regex(panel(payload, id).reason ?? '', reason)
  }

  // 40 requests at 3 ms and 10 failures at 40 ms within one second.
  for (let i = 0; i < 40; i++) requests.observe({ outcome: 'ok' }, 0.003)
  for (let i = 0; i < 10; i++) requests.observe({ outcome: 'error' }, 0.04)
  clock.advance(1_000)
  payload = await data.build()
  t.deepEqual(latest(payload, 'requestRate'), { total: 50, errors: 10 })
  t.deepEqual(latest(payload, 'errorRate'), { errors: 20 })
  // histogram_quantile over the buckets: p50 ranks 25/40 into (2.5, 5] ms, p99 9.5/10 into (25, 50] ms.
  const latency = latest(payload, 'latency')
  t.is(latency['p50'], 4.0625)
  t.is(latency['p99'], 48.75)

  clock.advance(100)
  t.is((await data.build()).times.length, 2, 'polls closer than minStepMs share a point')

  const counter = (name: string, labelNames: string[]): Counter<string> =>
    new Counter({ name, help: name, labelNames, registers: [registry] })
  const gauge = (name: string, labelNames: string[]): Gauge<string> =>
    new Gauge({ name, help: name, labelNames, registers: [registry] })
  const hits = counter('optlayer_cache_hits_total', ['tier'])
  const misses = counter('optlayer_cache_misses_total', ['tier'])
  const depth = gauge('optlayer_queue_depth', ['priority'])
  const healthy = gauge('optlayer_balancer_backend_healthy', ['backend'])
  hits.inc({ tier: 'l1' }, 90)
  misses.inc({ tier: 'l1' }, 10)
  depth.set({ priority: 'high' }, 4)
  depth.set({ priority: 'low' }, 9)
  healthy.set({ backend: 'a' }, 1)
  healthy.set({ backend: 'b' }, 0)
  clock.advance(1_000)
  payload = await data.build()
  t.deepEqual(latest(payload, 'queueDepth'), { 'priority=high': 4, 'priority=low': 9 })
  t.deepEqual(latest(payload, 'backendHealth'), { healthy: 1, unhealthy: 1 })
  t.deepEqual(latest(payload, 'cacheHitRatio'), { l1: null }, 'a tier first seen has no interval yet')
  t.deepEqual(latest(payload, 'requestRate'), { total: 0, errors: 0 })
  t.deepEqual(latest(payload, 'latency'), { p50: null, p90: null, p99: null }, 'no request, no percentile')

  hits.inc({ tier: 'l1' }, 30)
  misses.inc({ tier: 'l1' }, 10)
  hits.inc({ tier: 'l2' }, 1)
  misses.inc({ tier: 'l2' }, 3)
  clock.advance(1_000)
  payload = await data.build()
  t.deepEqual(latest(payload, 'cacheHitRatio'), { l1: 75, l2: 25 })
  t.deepEqual(
    panel(payload, 'cacheHitRatio').lines.map((line) => line.values.length),
    [payload.times.length, payload.times.length],
    'a line that appeared later is padded with gaps',
  )

  for (let i = 0; i < 30; i++) {
    clock.advance(1_000)
    payload = await data.build()
  }
  t.true(payload.times.length <= 11, `history bounded by historyMs: ${payload.times.length} points`)
  t.true((payload.times[0] ?? 0) >= clock.now() - 10_000)
  t.throws(() => new DashboardData(registry, { minStepMs: 0 }), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
})

test.serial(
  'from a summary (native percentiles) it draws the quantiles of successes and the failures p99',
  async (t) => {
    const registry = new Registry()
    const summary = new Summary({
      name: 'optlayer_request_duration_seconds',
      help: 'request durations',
      labelNames: ['outcome'],
      percentiles: [0.5, 0.9, 0.99, 0.999],
      registers: [registry],
    })
    for (let i = 1; i <= 100; i++) summary.observe({ outcome: 'ok' }, i / 1000)
    summary.observe({ outcome: 'error' }, 2)
    const latency = latest(await new DashboardData(registry).build(), 'latency')
    t.deepEqual(Object.keys(latency), ['p50', 'p90', 'p99', 'p999', 'error p99'])
    t.true((latency['p50'] ?? 0) > 45 && (latency['p50'] ?? 0) < 55, `p50 ${latency['p50']}`)
    t.is(latency['error p99'], 2000)
  },
)

test.serial('on a MetricsCollector it counts requests and rate-limit rejections per limiter', async (t) => {
  const clock = fakeClock(Date.parse('2030-01-01T00:00:00Z'))
  const metrics = new MetricsCollector({ defaultMetrics: false })
  const data = new DashboardData(metrics, { now: clock.now, maxAgeMs: 0 })
  const limiter = new RateLimiter({ algorithm: 'fixed-window', limit: 2, windowMs: 60_000, name: 'unit' })
  t.teardown(() => limiter.close())
  t.regex(panel(await data.build(), 'rateLimitRejections').reason ?? '', /no rate limiter has decided yet/)

  for (let i = 0; i < 30; i++) metrics.recordRequest(2, true)
  for (let i = 0; i < 10; i++) metrics.recordRequest(30, false)
  for (let i = 0; i < 5; i++) limiter.allowSync('client')
  clock.advance(2_000)
  const payload = await data.build()
  t.deepEqual(latest(payload, 'requestRate'), { total: 20, errors: 5 })
  t.deepEqual(latest(payload, 'errorRate'), { errors: 25 })
  t.deepEqual(latest(payload, 'rateLimitRejections'), { unit: 1.5 }, '3 denials in 2 s')
  const p99 = latest(payload, 'latency')['p99']
  t.true(p99 !== null && p99 !== undefined && p99 > 1.9, `p99 ${p99}`)
})

/** Sends requests from another loopback address, so the limiter denies them and not the browser's polls. */
function trafficFrom(localAddress: string, url: URL, everyMs: number): () => Promise<void> {
  let stopped = false
  const inFlight = new Set<Promise<void>>()
  const timer = setInterval(() => {
    if (stopped) return
    const done = new Promise<void>((resolve) => {
      const req = request(new URL(`/work?n=${Date.now()}`, url), { localAddress }, (res) => {
        res.resume()
        res.on('end', resolve)
      })
      req.on('error', () => resolve())
      req.end()
    })
    inFlight.add(done)
    void done.then(() => inFlight.delete(done))
  }, everyMs)
  return async () => {
    stopped = true
    clearInterval(timer)
    await Promise.all(inFlight)
  }
}

/** The page's series colours (COLORS in src/monitoring/dashboard/page.ts). */
const SERIES_COLORS = ['#4e9af1', '#f1a14e', '#e05561', '#53c288', '#b07ce8', '#d6c84b', '#5fd0d6', '#e07cc0'].map(
  (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)),
)

test.serial('the dashboard draws live series in headless Chromium while traffic flows', async (t) => {
  const rateLimiter = new RateLimiter({ algorithm: 'token-bucket', limit: 20, windowMs: 1000, name: 'gateway' })
  const server = new OptlayerServer({ port: 0, host: '127.0.0.1', admin: { port: 0 }, rateLimiter })
  const url = await server.listen()
  const stopTraffic = trafficFrom('127.0.0.2', url, 15)
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] })
  t.teardown(async () => {
    await browser.close()
    await stopTraffic()
    await server.close()
    await rateLimiter.close()
  })
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const problems: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text())
  })
  page.on('pageerror', (error) => problems.push(error.message))

  const response = await page.goto(new URL('/dashboard', server.adminUrl).href)
  t.is(response?.status(), 200)
  t.regex((await response?.headerValue('content-security-policy')) ?? '', /script-src 'sha256-/)

  // Enough points on the charts that must have data: request rate, latency, rejections, heap.
  // Polled from here with plain evaluations: waitForFunction would eval() in the page, which
  // the page's CSP rightly forbids.
  const ready = `(() => {
    const s = window.__optlayerDashboard
    return !!s && s.drawn.requestRate >= 6 && s.drawn.latency >= 6 && s.drawn.rateLimitRejections >= 2 &&
      s.drawn.heapUsed >= 3 && s.drawn.eventLoopDelay >= 3
  })()`
  const drawn = async (): Promise<boolean> => (await page.evaluate(ready)) === true
  // A timeout is not fatal here: the assertions below say which chart stayed empty, after the screenshot.
  await waitFor('the dashboard charts to fill', drawn, 20_000, 200).catch(() => undefined)
  // Saved before the assertions so that a failing run leaves the picture to look at.
  const artifacts = join(__dirname, 'artifacts')
  mkdirSync(artifacts, { recursive: true })
  const screenshot = await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true })
  t.true(screenshot.length > 10_000, 'a screenshot with content was saved')
  const state = (await page.evaluate(`(() => {
    const s = window.__optlayerDashboard
    return { polls: s.polls, drawn: s.drawn, noData: s.noData, last: s.last }
  })()`)) as { polls: number; drawn: Record<string, number>; noData: Record<string, boolean>; last: DashboardPayload }
  t.true(state.polls >= 3)
  const rates = panel(state.last, 'requestRate').lines.find((line) => line.name === 'total')?.values ?? []
  t.true(
    rates.some((value) => value !== null && value > 5),
    `request rate points: ${JSON.stringify(rates)}`,
  )
  const rejections = panel(state.last, 'rateLimitRejections').lines.find((line) => line.name === 'gateway')
  t.true(
    (rejections?.values ?? []).some((value) => value !== null && value > 0),
    'the limiter denied traffic',
  )
  t.deepEqual(
    {
      cache: state.noData['cacheHitRatio'],
      queue: state.noData['queueDepth'],
      backends: state.noData['backendHealth'],
    },
    { cache: true, queue: true, backends: true },
    'components absent from this process show no data',
  )
  t.is(state.drawn['cacheHitRatio'], 0)

  // Read the pixels back: series-coloured pixels on the request-rate and latency charts, none on the cache chart.
  const seriesPixels = (await page.evaluate(`(() => {
    const colors = ${JSON.stringify(SERIES_COLORS)}
    const count = (id) => {
      const canvas = document.querySelector('[data-panel="' + id + '"] canvas')
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height)
      let n = 0
      for (let i = 0; i < data.length; i += 4) {
        const near = (c) => Math.abs(data[i] - c[0]) + Math.abs(data[i + 1] - c[1]) + Math.abs(data[i + 2] - c[2]) < 40
        if (colors.some(near)) n++
      }
      return n
    }
    return { requestRate: count('requestRate'), latency: count('latency'), cacheHitRatio: count('cacheHitRatio') }
  })()`)) as Record<string, number>
  t.true((seriesPixels['requestRate'] ?? 0) > 50, `request-rate series pixels: ${seriesPixels['requestRate']}`)
  t.true((seriesPixels['latency'] ?? 0) > 50, `latency series pixels: ${seriesPixels['latency']}`)
  t.is(seriesPixels['cacheHitRatio'], 0)
  // Every collector registers the cache component, so the panel knows the metric but has no lookups to draw.
  t.regex((await page.textContent('[data-panel="cacheHitRatio"] .note')) ?? '', /no cache lookups yet/)

  t.deepEqual(problems, [], 'no script errors and no CSP violations')
})

test.serial('/dashboard can be turned off; /dashboard/data answers JSON', async (t) => {
  const off = new OptlayerServer({ port: 0, host: '127.0.0.1', admin: { port: 0 }, dashboard: false })
  await off.listen()
  const offUrl = off.adminUrl
  t.teardown(() => off.close())
  t.is((await fetch(new URL('/dashboard', offUrl))).status, 404)
  t.is((await fetch(new URL('/dashboard/data', offUrl))).status, 404)

  const on = new OptlayerServer({ port: 0, host: '127.0.0.1', admin: { port: 0 }, dashboard: { historyMs: 5_000 } })
  await on.listen()
  const onUrl = on.adminUrl
  t.teardown(() => on.close())
  const res = await fetch(new URL('/dashboard/data', onUrl))
  t.is(res.status, 200)
  t.is(res.headers.get('cache-control'), 'no-store')
  const body = (await res.json()) as DashboardPayload
  t.is(body.version, 1)
  t.is(body.historyMs, 5_000)
  t.deepEqual(
    body.panels.map((p) => p.id),
    [
      'requestRate',
      'latency',
      'errorRate',
      'cacheHitRatio',
      'rateLimitRejections',
      'queueDepth',
      'backendHealth',
      'heapUsed',
      'eventLoopDelay',
    ],
  )
  const page = await fetch(new URL('/dashboard', onUrl))
  t.regex(page.headers.get('content-type') ?? '', /text\/html/)
  const html = await page.text()
  t.notRegex(html, /<script[^>]+src=|<link[^>]+stylesheet|(?:src|href)=["']?(?:https?:)?\/\//, 'no external assets')
})

test.serial('behind ADMIN_TOKEN a browser opens the dashboard with the token as its Basic password', async (t) => {
  const server = new OptlayerServer({ port: 0, host: '127.0.0.1', admin: { port: 0, token: 'dash-token' } })
  await server.listen()
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] })
  t.teardown(async () => {
    await browser.close()
    await server.close()
  })
  const dataAnswered = async (password: string): Promise<number[]> => {
    const context = await browser.newContext({ httpCredentials: { username: 'ops', password } })
    const page = await context.newPage()
    const data = page.waitForResponse((res) => res.url().endsWith('/dashboard/data'), { timeout: 10_000 })
    // Unused when the page itself is refused: closing the context then rejects it.
    data.catch(() => {})
    const response = await page.goto(new URL('/dashboard', server.adminUrl).href)
    const statuses = [response?.status() ?? 0]
    if (statuses[0] === 200) statuses.push((await data).status())
    await context.close()
    return statuses
  }
  t.deepEqual(await dataAnswered('dash-token'), [200, 200], 'the page and its data fetch')
  t.deepEqual(await dataAnswered('wrong'), [401])
})
