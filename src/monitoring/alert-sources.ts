import { getHeapStatistics } from 'node:v8'

import { InvalidArgumentError } from '../core/errors'
import { knownOptions, nowOption, numberInRange, optionNames, wholeNumber } from '../core/validate'
import type { AlertRule, AlertSource } from './alerts'
import {
  bucketQuantile,
  counterIncrease,
  counterSample,
  histogramIncrease,
  histogramSample,
  metricType,
  reduceValues,
  METRIC_READER_DEFAULTS,
  SampleWindow,
  sumSample,
  summaryQuantile,
  toMetricReader,
  type CounterSample,
  type HistogramSample,
  type LabelFilter,
  type MetricReader,
  type MetricReaderOptions,
  type MetricsInput,
} from './metric-reader'

/**
 * Names (without the prefix) of the metrics the built-in sources read. The defaults are what
 * {@link MetricsCollector} and prom-client's default metrics register.
 */
export interface SourceMetricNames {
  /** Histogram (or summary) of request durations in seconds, with an `outcome` label ('ok' | 'error'). @default 'request_duration_seconds' */
  requestDuration: string
  /** Gauge of V8 heap bytes in use. @default 'nodejs_heap_size_used_bytes' */
  heapUsed: string
  /** Gauge read when `heapUsed` is not registered. @default 'process_heap_bytes' */
  heapFallback: string
  /** Prefix of prom-client's event-loop lag gauges (`<this>_seconds`, `<this>_p99_seconds`, ...). @default 'nodejs_eventloop_lag' */
  eventLoopLag: string
}

/** Options of {@link MetricSources}. */
export interface MetricSourcesOptions extends MetricReaderOptions {
  /** Default window of windowed sources (rates, latency quantiles, error ratio). @default 60000 */
  windowMs?: number
  /** Metric names to read, where they differ from the defaults. */
  names?: Partial<SourceMetricNames>
}

/** Defaults of every {@link MetricSources} option. */
export const METRIC_SOURCES_DEFAULTS = Object.freeze({
  windowMs: 60_000,
  names: Object.freeze<SourceMetricNames>({
    requestDuration: 'request_duration_seconds',
    heapUsed: 'nodejs_heap_size_used_bytes',
    heapFallback: 'process_heap_bytes',
    eventLoopLag: 'nodejs_eventloop_lag',
  }),
})

const OPTION_NAMES = optionNames<MetricSourcesOptions>()(
  { ...METRIC_READER_DEFAULTS, ...METRIC_SOURCES_DEFAULTS },
  { now: true, clock: true },
)

/** Statistics prom-client keeps of the event-loop delay. */
export type EventLoopStatistic = 'p50' | 'p90' | 'p99' | 'mean' | 'max'

/** Options of a windowed source. */
export interface WindowOptions {
  /** The value covers what happened in the last `windowMs`. @default the MetricSources' windowMs */
  windowMs?: number
}

function windowOf(options: WindowOptions | undefined, fallback: number): number {
  return wholeNumber('windowMs', options?.windowMs, 1, undefined, fallback)
}

function quantileOf(quantile: number): number {
  return numberInRange('quantile', quantile, 0, 1, { above: true, below: true })
}

/**
 * Builds {@link AlertSource}s that read a MetricsCollector's registry, so rules work with
 * whatever registers the metrics: request latency quantiles, request rate and error ratio
 * come from the request-duration histogram (PromQL-style: bucket increases over the window,
 * `histogram_quantile` interpolation) or, when it is a summary, from its quantiles; heap and
 * event-loop delay from prom-client's default process metrics.
 *
 * Windowed sources keep their own samples: each call adds one, so call them at least twice
 * per window (an {@link AlertManager} does every `intervalMs`). The first call answers
 * undefined (no data) because there is nothing to difference against yet.
 */
export class MetricSources {
  /** The reader every source reads through; share it to share its cache. */
  readonly reader: MetricReader
  private readonly windowMs: number
  private readonly names: SourceMetricNames
  private readonly clock: () => number

  constructor(metrics: MetricsInput, options: MetricSourcesOptions = {}) {
    knownOptions('metric sources options', options, OPTION_NAMES)
    knownOptions('names', options.names, Object.keys(METRIC_SOURCES_DEFAULTS.names))
    this.reader = toMetricReader(metrics, options)
    this.windowMs = windowOf(options, METRIC_SOURCES_DEFAULTS.windowMs)
    this.names = { ...METRIC_SOURCES_DEFAULTS.names, ...options.names }
    this.clock = nowOption(options, Date.now)
  }

  /**
   * The `quantile` of request durations over the window, in milliseconds; undefined without
   * requests in the window. `outcome` restricts it to successful or failed requests.
   *
   * From a summary (MetricsCollector's native HDR percentiles) the window is the summary's own
   * and quantiles exist per outcome only: without `outcome` this is the highest of them, so a
   * slow failure path alerts too.
   */
  requestLatencyMs(quantile: number, options: WindowOptions & { outcome?: 'ok' | 'error' } = {}): AlertSource {
    const q = quantileOf(quantile)
    const window = new SampleWindow<HistogramSample>(windowOf(options, this.windowMs))
    const filter: LabelFilter | undefined = options.outcome === undefined ? undefined : { outcome: options.outcome }
    return async () => {
      const metric = await this.reader.read(this.names.requestDuration)
      if (metric === undefined) return undefined
      const type = metricType(metric)
      if (type === 'summary') {
        const seconds = summaryQuantile(metric, q, filter)
        return seconds === undefined ? undefined : seconds * 1000
      }
      if (type !== 'histogram') return undefined
      const sample = histogramSample(metric, filter)
      const base = window.push(this.clock(), sample)
      if (base === undefined) return undefined
      const increase = histogramIncrease(base.sample, sample)
      const seconds = bucketQuantile(q, increase.bounds, increase.buckets)
      return seconds === undefined ? undefined : seconds * 1000
    }
  }

  /** Requests per second over the window. */
  requestRate(options: WindowOptions = {}): AlertSource {
    const counts = this.requestCounts(windowOf(options, this.windowMs))
    return async () => {
      const window = await counts()
      return window === undefined ? undefined : sumSample(window.increase) / window.seconds
    }
  }

  /**
   * Failed requests over all requests in the window, from 0 to 1 (0.01 is 1%); undefined
   * without requests, or when the request metric has no `outcome` label.
   */
  errorRatio(options: WindowOptions = {}): AlertSource {
    const counts = this.requestCounts(windowOf(options, this.windowMs))
    return async () => {
      const window = await counts()
      if (window === undefined) return undefined
      const total = sumSample(window.increase)
      if (total <= 0 || ![...window.increase.values()].some(({ labels }) => 'outcome' in labels)) return undefined
      return sumSample(window.increase, (labels) => labels['outcome'] === 'error') / total
    }
  }

  /** V8 heap bytes in use (prom-client's `nodejs_heap_size_used_bytes`, else `process_heap_bytes`). */
  heapUsedBytes(): AlertSource {
    return async () => {
      const metric = (await this.reader.read(this.names.heapUsed)) ?? (await this.reader.read(this.names.heapFallback))
      return metric === undefined ? undefined : reduceValues(metric, 'sum')
    }
  }

  /**
   * Event-loop delay in milliseconds as prom-client measures it (`monitorEventLoopDelay`). Its
   * statistics cover the time since they were last collected, by any reader or scrape: reading
   * them restarts that span, so `/metrics` then shows the delay since this source's last call.
   */
  eventLoopDelayMs(statistic: EventLoopStatistic = 'p99'): AlertSource {
    if (!['p50', 'p90', 'p99', 'mean', 'max'].includes(statistic)) {
      throw new InvalidArgumentError(`statistic: expected one of p50, p90, p99, mean, max, got ${String(statistic)}`)
    }
    const base = this.names.eventLoopLag
    return async () => {
      const metric = await this.reader.read(`${base}_${statistic}_seconds`)
      const seconds = metric === undefined ? undefined : reduceValues(metric, 'max')
      return seconds === undefined ? undefined : seconds * 1000
    }
  }

  /** The current value of any gauge (or counter): its series matching `labels`, reduced. */
  gauge(name: string, options: { labels?: LabelFilter; reduce?: 'sum' | 'max' | 'min' | 'avg' } = {}): AlertSource {
    const reduce = options.reduce ?? 'sum'
    return async () => {
      const metric = await this.reader.read(name)
      return metric === undefined ? undefined : reduceValues(metric, reduce, options.labels)
    }
  }

  /** Per-second increase of any counter over the window, summed over the series matching `labels`. */
  counterRate(name: string, options: WindowOptions & { labels?: LabelFilter } = {}): AlertSource {
    const window = new SampleWindow<CounterSample>(windowOf(options, this.windowMs))
    return async () => {
      const metric = await this.reader.read(name)
      if (metric === undefined) return undefined
      const at = this.clock()
      const sample = counterSample(metric, options.labels)
      const base = window.push(at, sample)
      if (base === undefined) return undefined
      return sumSample(counterIncrease(base.sample, sample)) / ((at - base.at) / 1000)
    }
  }

  /** Request counts by series (outcome) increased over the window, from the histogram's or summary's `_count`. */
  private requestCounts(windowMs: number): () => Promise<{ increase: CounterSample; seconds: number } | undefined> {
    const window = new SampleWindow<CounterSample>(windowMs)
    return async () => {
      const metric = await this.reader.read(this.names.requestDuration)
      if (metric === undefined) return undefined
      const type = metricType(metric)
      const at = this.clock()
      const sample = counterSample(metric, undefined, type === 'histogram' || type === 'summary' ? 'count' : undefined)
      const base = window.push(at, sample)
      if (base === undefined) return undefined
      return { increase: counterIncrease(base.sample, sample), seconds: (at - base.at) / 1000 }
    }
  }
}

/** Thresholds of {@link defaultAlertRules}. */
export interface DefaultAlertRulesOptions {
  /** `RequestLatencyP99High`: p99 request latency above this many ms. @default 500 */
  latencyP99Ms?: number
  /** `ErrorRateHigh`: failed requests above this ratio. @default 0.01 */
  errorRatio?: number
  /** `HeapUsedHigh`: heap used above this many bytes. @default 90% of V8's heap size limit */
  heapUsedBytes?: number
  /** `EventLoopDelayHigh`: event-loop delay p99 above this many ms. @default 200 */
  eventLoopDelayP99Ms?: number
  /** How long each condition must hold before it fires. @default 60000 */
  forMs?: number
}

/**
 * A starting set of rules for a gateway: p99 latency, error ratio (over 1-minute windows),
 * heap use and event-loop delay, each firing after holding for `forMs`.
 */
export function defaultAlertRules(sources: MetricSources, options: DefaultAlertRulesOptions = {}): AlertRule[] {
  const forMs = options.forMs ?? 60_000
  const heapLimit = options.heapUsedBytes ?? Math.floor(getHeapStatistics().heap_size_limit * 0.9)
  const latency = options.latencyP99Ms ?? 500
  const errors = options.errorRatio ?? 0.01
  const delay = options.eventLoopDelayP99Ms ?? 200
  return [
    {
      name: 'RequestLatencyP99High',
      source: sources.requestLatencyMs(0.99),
      threshold: latency,
      forMs,
      unit: 'ms',
      summary: `p99 request latency above ${latency} ms`,
    },
    {
      name: 'ErrorRateHigh',
      source: sources.errorRatio(),
      threshold: errors,
      forMs,
      unit: 'ratio',
      severity: 'critical',
      summary: `more than ${errors * 100}% of requests failing`,
    },
    {
      name: 'HeapUsedHigh',
      source: sources.heapUsedBytes(),
      threshold: heapLimit,
      forMs,
      unit: 'bytes',
      summary: `V8 heap use above ${Math.round(heapLimit / 2 ** 20)} MiB`,
    },
    {
      name: 'EventLoopDelayHigh',
      source: sources.eventLoopDelayMs('p99'),
      threshold: delay,
      forMs,
      unit: 'ms',
      summary: `event-loop delay p99 above ${delay} ms`,
    },
  ]
}
