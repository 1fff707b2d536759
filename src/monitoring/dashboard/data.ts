import { knownOptions, nowOption, optionNames, wholeNumber } from '../../core/validate'
import {
  bucketQuantile,
  counterIncrease,
  counterSample,
  histogramIncrease,
  histogramSample,
  metricType,
  reduceValues,
  sumSample,
  summaryQuantile,
  METRIC_READER_DEFAULTS,
  toMetricReader,
  type CounterSample,
  type HistogramSample,
  type MetricJson,
  type MetricReader,
  type MetricReaderOptions,
  type MetricsInput,
} from '../metric-reader'

/**
 * Names (without the prefix) of the metrics the dashboard reads. Components that register
 * these names show up on the dashboard; those not registered show "no data". The defaults
 * follow `<component>_<metric>` as MetricsCollector's component registration names them
 * (components `cache`, `queue`, `balancer`).
 */
export interface DashboardMetricNames {
  /** Histogram (or summary) of request durations in seconds with an `outcome` label. @default 'request_duration_seconds' */
  requestDuration: string
  /** Counter with `limiter` and `outcome` labels; outcomes denied, rejected-at-cap, breaker-rejected count as rejections. @default 'ratelimit_decisions_total' */
  rateLimitDecisions: string
  /** Counter of cache hits with a `tier` label. @default 'cache_hits_total' */
  cacheHits: string
  /** Counter of cache misses with a `tier` label. @default 'cache_misses_total' */
  cacheMisses: string
  /** Gauge of queued tasks, optionally by label (e.g. `priority`). @default 'queue_depth' */
  queueDepth: string
  /** Gauge per `backend`: 1 healthy, 0 not. @default 'balancer_backend_healthy' */
  backendHealthy: string
  /** Gauge of V8 heap bytes in use. @default 'nodejs_heap_size_used_bytes' */
  heapUsed: string
  /** Prefix of prom-client's event-loop lag gauges. @default 'nodejs_eventloop_lag' */
  eventLoopLag: string
}

/** Options of {@link DashboardData}. */
export interface DashboardDataOptions extends MetricReaderOptions {
  /** How much history the ring buffer keeps and `/dashboard/data` returns. @default 120000 */
  historyMs?: number
  /**
   * Polls closer together than this share one point, so several open dashboards cost no more
   * collections than one.
   * @default 500
   */
  minStepMs?: number
  /** Metric names to read, where they differ from the defaults. */
  names?: Partial<DashboardMetricNames>
}

/** Defaults of every {@link DashboardData} option. */
export const DASHBOARD_DEFAULTS = Object.freeze({
  historyMs: 120_000,
  minStepMs: 500,
  names: Object.freeze<DashboardMetricNames>({
    requestDuration: 'request_duration_seconds',
    rateLimitDecisions: 'ratelimit_decisions_total',
    cacheHits: 'cache_hits_total',
    cacheMisses: 'cache_misses_total',
    queueDepth: 'queue_depth',
    backendHealthy: 'balancer_backend_healthy',
    heapUsed: 'nodejs_heap_size_used_bytes',
    eventLoopLag: 'nodejs_eventloop_lag',
  }),
})

/** Identifiers of the dashboard's panels, in display order. */
const OPTION_NAMES = optionNames<DashboardDataOptions>()(
  { ...METRIC_READER_DEFAULTS, ...DASHBOARD_DEFAULTS },
  { now: true, clock: true },
)

export type DashboardPanelId =
  | 'requestRate'
  | 'latency'
  | 'errorRate'
  | 'cacheHitRatio'
  | 'rateLimitRejections'
  | 'queueDepth'
  | 'backendHealth'
  | 'heapUsed'
  | 'eventLoopDelay'

/** One line of a chart: a value (or null, a gap) per entry of {@link DashboardPayload.times}. */
export interface DashboardLine {
  name: string
  values: (number | null)[]
}

/** One chart. `status: 'no-data'` means its component is absent, and `reason` says what is missing. */
export interface DashboardPanel {
  id: DashboardPanelId
  title: string
  /** 'req/s', 'ms', '%', '/s', 'tasks', 'backends' or 'bytes'. */
  unit: string
  status: 'ok' | 'no-data'
  reason: string | null
  lines: DashboardLine[]
}

/** What `GET /dashboard/data` answers. */
export interface DashboardPayload {
  version: 1
  /** Milliseconds since the epoch. */
  generatedAt: number
  historyMs: number
  /** Time of each point, milliseconds since the epoch, oldest first. */
  times: number[]
  panels: DashboardPanel[]
}

const PANELS: readonly { id: DashboardPanelId; title: string; unit: string }[] = [
  { id: 'requestRate', title: 'Request rate', unit: 'req/s' },
  { id: 'latency', title: 'Latency percentiles', unit: 'ms' },
  { id: 'errorRate', title: 'Error rate', unit: '%' },
  { id: 'cacheHitRatio', title: 'Cache hit ratio by tier', unit: '%' },
  { id: 'rateLimitRejections', title: 'Rate-limit rejections', unit: '/s' },
  { id: 'queueDepth', title: 'Queue depth', unit: 'tasks' },
  { id: 'backendHealth', title: 'Backend health', unit: 'backends' },
  { id: 'heapUsed', title: 'Heap used', unit: 'bytes' },
  { id: 'eventLoopDelay', title: 'Event-loop delay p99', unit: 'ms' },
]

const REJECTED_OUTCOMES = new Set(['denied', 'rejected-at-cap', 'breaker-rejected'])

/** Cumulative readings at one instant; a point is the difference of two of them. */
interface RawSample {
  at: number
  requests: MetricJson | undefined
  requestHistogram: HistogramSample | undefined
  requestCounts: CounterSample | undefined
  decisions: CounterSample | undefined
  cacheHits: CounterSample | undefined
  cacheMisses: CounterSample | undefined
  queue: CounterSample | undefined
  backends: CounterSample | undefined
  heapBytes: number | undefined
  loopP99Seconds: number | undefined
}

type PanelPoint = { status: 'ok'; values: Record<string, number | null> } | { status: 'no-data'; reason: string }

interface Row {
  at: number
  panels: Record<DashboardPanelId, PanelPoint>
}

function noData(reason: string): PanelPoint {
  return { status: 'no-data', reason }
}

function labelText(labels: Record<string, string>, fallback: string): string {
  const text = Object.entries(labels)
    .map(([name, value]) => `${name}=${value}`)
    .join(',')
  return text === '' ? fallback : text
}

/**
 * Builds what the dashboard draws, from a MetricsCollector's registry.
 *
 * It keeps a short ring buffer of points on the server rather than leaving rates to the
 * browser: a freshly opened page shows the last minutes at once, counter resets and vanished
 * series are handled once in one place (the same arithmetic as the alert sources), and any
 * number of open pages share one sampling per `minStepMs`. Points are taken when polled, never
 * by a timer, so nothing runs while nobody looks.
 */
export class DashboardData {
  private readonly reader: MetricReader
  private readonly historyMs: number
  private readonly minStepMs: number
  private readonly names: DashboardMetricNames
  private readonly clock: () => number
  private readonly rows: Row[] = []
  private last: RawSample | undefined
  private sampling: Promise<void> | undefined

  constructor(metrics: MetricsInput, options: DashboardDataOptions = {}) {
    knownOptions('dashboard options', options, OPTION_NAMES)
    knownOptions('names', options.names, Object.keys(DASHBOARD_DEFAULTS.names))
    this.reader = toMetricReader(metrics, options)
    this.clock = nowOption(options, Date.now)
    this.historyMs = wholeNumber('historyMs', options.historyMs, 1000, undefined, DASHBOARD_DEFAULTS.historyMs)
    // At most historyMs, so that a history holds at least one step.
    this.minStepMs = wholeNumber('minStepMs', options.minStepMs, 1, this.historyMs, DASHBOARD_DEFAULTS.minStepMs)
    this.names = { ...DASHBOARD_DEFAULTS.names, ...options.names }
  }

  /** Takes a point unless one was taken less than `minStepMs` ago, and returns the whole history. */
  async build(): Promise<DashboardPayload> {
    const now = this.clock()
    if (this.last === undefined || now - this.last.at >= this.minStepMs) {
      this.sampling ??= this.sample(now).finally(() => (this.sampling = undefined))
      await this.sampling
    }
    return this.payload()
  }

  private async sample(now: number): Promise<void> {
    const raw = await this.read(now)
    const previous = this.last
    this.last = raw
    this.rows.push({ at: raw.at, panels: this.point(previous, raw) })
    const oldest = raw.at - this.historyMs
    while (this.rows.length > 0 && (this.rows[0]?.at ?? Infinity) < oldest) this.rows.shift()
    const cap = Math.ceil(this.historyMs / this.minStepMs) + 1
    if (this.rows.length > cap) this.rows.splice(0, this.rows.length - cap)
  }

  private async read(at: number): Promise<RawSample> {
    const names = this.names
    const [requests, decisions, hits, misses, queue, backends, heap, lagP99] = await Promise.all([
      this.reader.read(names.requestDuration),
      this.reader.read(names.rateLimitDecisions),
      this.reader.read(names.cacheHits),
      this.reader.read(names.cacheMisses),
      this.reader.read(names.queueDepth),
      this.reader.read(names.backendHealthy),
      this.reader.read(names.heapUsed),
      this.reader.read(`${names.eventLoopLag}_p99_seconds`),
    ])
    const type = requests === undefined ? undefined : metricType(requests)
    const summed = type === 'histogram' || type === 'summary'
    return {
      at,
      requests,
      requestHistogram: requests !== undefined && type === 'histogram' ? histogramSample(requests) : undefined,
      requestCounts:
        requests === undefined ? undefined : counterSample(requests, undefined, summed ? 'count' : undefined),
      decisions: decisions && counterSample(decisions),
      cacheHits: hits && counterSample(hits),
      cacheMisses: misses && counterSample(misses),
      queue: queue && counterSample(queue),
      backends: backends && counterSample(backends),
      heapBytes: heap && reduceValues(heap, 'sum'),
      loopP99Seconds: lagP99 && reduceValues(lagP99, 'max'),
    }
  }

  /** The values of every panel between the previous reading and this one. */
  private point(previous: RawSample | undefined, raw: RawSample): Row['panels'] {
    const seconds = previous === undefined ? 0 : (raw.at - previous.at) / 1000
    const rate = (increase: number): number | null => (seconds > 0 ? increase / seconds : null)
    const names = this.names
    const prefix = this.reader.prefix

    let requestRate: PanelPoint
    let latency: PanelPoint
    let errorRate: PanelPoint
    if (raw.requests === undefined || raw.requestCounts === undefined) {
      const missing = noData(`no request metric: ${prefix}${names.requestDuration} is not registered`)
      requestRate = latency = errorRate = missing
    } else {
      const increase = previous?.requestCounts && counterIncrease(previous.requestCounts, raw.requestCounts)
      const total = increase && sumSample(increase)
      const errors = increase && sumSample(increase, (labels) => labels['outcome'] === 'error')
      requestRate = {
        status: 'ok',
        values: { total: total === undefined ? null : rate(total), errors: errors === undefined ? null : rate(errors) },
      }
      const hasOutcome = [...raw.requestCounts.values()].some(({ labels }) => 'outcome' in labels)
      errorRate = !hasOutcome
        ? noData(`${prefix}${names.requestDuration} has no outcome label`)
        : { status: 'ok', values: { errors: total && errors !== undefined ? (errors / total) * 100 : null } }
      latency = { status: 'ok', values: this.latency(previous, raw) }
    }

    return {
      requestRate,
      latency,
      errorRate,
      cacheHitRatio: this.cacheHitRatio(previous, raw),
      rateLimitRejections: this.rejections(previous, raw, rate),
      queueDepth:
        raw.queue === undefined
          ? noData(`no task queue: ${prefix}${names.queueDepth} is not registered`)
          : raw.queue.size === 0
            ? noData('no task queue reports its depth yet')
            : {
                status: 'ok',
                values: Object.fromEntries([...raw.queue.values()].map((s) => [labelText(s.labels, 'depth'), s.value])),
              },
      backendHealth: this.backendHealth(raw),
      heapUsed:
        raw.heapBytes === undefined
          ? noData(`${prefix}${names.heapUsed} is not registered (default metrics off?)`)
          : { status: 'ok', values: { used: raw.heapBytes } },
      eventLoopDelay:
        raw.loopP99Seconds === undefined
          ? noData(`${prefix}${names.eventLoopLag}_p99_seconds is not registered (default metrics off?)`)
          : { status: 'ok', values: { p99: raw.loopP99Seconds * 1000 } },
    }
  }

  private latency(previous: RawSample | undefined, raw: RawSample): Record<string, number | null> {
    const quantiles = { p50: 0.5, p90: 0.9, p99: 0.99 }
    const values: Record<string, number | null> = {}
    const ms = (seconds: number | undefined): number | null => (seconds === undefined ? null : seconds * 1000)
    if (raw.requests !== undefined && metricType(raw.requests) === 'summary') {
      // A summary's quantiles (native HDR, over its own sliding window) exist per outcome and
      // cannot be merged: draw those of successful requests, and the failures' p99 beside them.
      const summary = raw.requests
      const hasOk = summary.values.some((series) => series.labels['outcome'] === 'ok')
      const filter = hasOk ? { outcome: 'ok' } : undefined
      for (const [name, q] of Object.entries({ ...quantiles, p999: 0.999 })) {
        const seconds = summaryQuantile(summary, q, filter)
        if (seconds !== undefined || name !== 'p999') values[name] = ms(seconds)
      }
      if (hasOk) values['error p99'] = ms(summaryQuantile(summary, 0.99, { outcome: 'error' }))
      return values
    }
    const increase =
      previous?.requestHistogram && raw.requestHistogram
        ? histogramIncrease(previous.requestHistogram, raw.requestHistogram)
        : undefined
    for (const [name, q] of Object.entries(quantiles)) {
      values[name] = ms(increase && bucketQuantile(q, increase.bounds, increase.buckets))
    }
    return values
  }

  private cacheHitRatio(previous: RawSample | undefined, raw: RawSample): PanelPoint {
    const { cacheHits, cacheMisses } = this.names
    if (raw.cacheHits === undefined || raw.cacheMisses === undefined) {
      return noData(`no cache: ${this.reader.prefix}${cacheHits} and ${cacheMisses} are not registered`)
    }
    if (raw.cacheHits.size === 0 && raw.cacheMisses.size === 0) return noData('no cache lookups yet')
    const byTier = (sample: CounterSample): Map<string, number> => {
      const out = new Map<string, number>()
      for (const { labels, value } of sample.values()) {
        const tier = labels['tier'] ?? 'all'
        out.set(tier, (out.get(tier) ?? 0) + value)
      }
      return out
    }
    const hits = byTier(previous?.cacheHits ? counterIncrease(previous.cacheHits, raw.cacheHits) : new Map())
    const misses = byTier(previous?.cacheMisses ? counterIncrease(previous.cacheMisses, raw.cacheMisses) : new Map())
    const tiers = new Set([...byTier(raw.cacheHits).keys(), ...byTier(raw.cacheMisses).keys()])
    const values: Record<string, number | null> = {}
    for (const tier of [...tiers].sort()) {
      const hit = hits.get(tier) ?? 0
      const lookups = hit + (misses.get(tier) ?? 0)
      values[tier] = previous === undefined || lookups === 0 ? null : (hit / lookups) * 100
    }
    return { status: 'ok', values }
  }

  private rejections(
    previous: RawSample | undefined,
    raw: RawSample,
    rate: (increase: number) => number | null,
  ): PanelPoint {
    if (raw.decisions === undefined) {
      return noData(`no rate limiter: ${this.reader.prefix}${this.names.rateLimitDecisions} is not registered`)
    }
    if (raw.decisions.size === 0) return noData('no rate limiter has decided yet')
    const increase = previous?.decisions ? counterIncrease(previous.decisions, raw.decisions) : undefined
    const values: Record<string, number | null> = {}
    for (const { labels } of raw.decisions.values()) {
      const limiter = labels['limiter'] ?? 'limiter'
      if (limiter in values) continue
      const rejected =
        increase &&
        sumSample(increase, (l) => (l['limiter'] ?? 'limiter') === limiter && REJECTED_OUTCOMES.has(l['outcome'] ?? ''))
      values[limiter] = rejected === undefined ? null : rate(rejected)
    }
    return { status: 'ok', values }
  }

  private backendHealth(raw: RawSample): PanelPoint {
    if (raw.backends === undefined) {
      return noData(`no load balancer: ${this.reader.prefix}${this.names.backendHealthy} is not registered`)
    }
    if (raw.backends.size === 0) return noData('no backends configured')
    let healthy = 0
    for (const { value } of raw.backends.values()) if (value > 0) healthy++
    return { status: 'ok', values: { healthy, unhealthy: raw.backends.size - healthy } }
  }

  private payload(): DashboardPayload {
    const latest = this.rows[this.rows.length - 1]
    const panels = PANELS.map(({ id, title, unit }): DashboardPanel => {
      const current = latest?.panels[id]
      if (current === undefined || current.status === 'no-data') {
        return { id, title, unit, status: 'no-data', reason: current?.reason ?? 'no points yet', lines: [] }
      }
      // Lines in order of first appearance; a line absent from a point is a gap there.
      const names: string[] = []
      for (const row of this.rows) {
        const point = row.panels[id]
        if (point.status === 'ok')
          for (const name of Object.keys(point.values)) if (!names.includes(name)) names.push(name)
      }
      const lines = names.map((name) => ({
        name,
        values: this.rows.map((row) => {
          const point = row.panels[id]
          return point.status === 'ok' ? (point.values[name] ?? null) : null
        }),
      }))
      return { id, title, unit, status: 'ok', reason: null, lines }
    })
    return {
      version: 1,
      generatedAt: this.clock(),
      historyMs: this.historyMs,
      times: this.rows.map((row) => row.at),
      panels,
    }
  }
}
