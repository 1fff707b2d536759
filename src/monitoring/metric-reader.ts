import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client'

import { InvalidArgumentError } from '../core/errors'
import { knownOptions, nowOption, numberInRange, optionNames } from '../core/validate'

/** One metric as prom-client reports it, its series possibly carrying `metricName` (`_bucket`, `_sum`, `_count`). */
export type MetricJson = MetricObjectWithValues<MetricValue<string> & { metricName?: string }>

/** Options of {@link MetricReader}. */
export interface MetricReaderOptions {
  /**
   * Prefix of the metric names, as given to the {@link MetricsCollector} that registered them.
   * @default 'optlayer_'
   */
  prefix?: string
  /**
   * A read younger than this is answered from the previous one, so the dashboard and the alert
   * rules share one collection instead of running every `collect()` once each.
   * @default 250
   */
  maxAgeMs?: number
  /** Milliseconds since the epoch; inject a fake for tests. @default Date.now */
  now?: () => number
  /** @deprecated Renamed `now`, as in every other component; accepted until the next major release. */
  clock?: () => number
}

/** Defaults of every {@link MetricReader} option. */
export const METRIC_READER_DEFAULTS = Object.freeze({ prefix: 'optlayer_', maxAgeMs: 250 })

/** Every option name of {@link MetricReaderOptions}. @internal */
export const METRIC_READER_OPTION_NAMES = optionNames<MetricReaderOptions>()(METRIC_READER_DEFAULTS, {
  now: true,
  clock: true,
})

/**
 * Reads single metrics of a prom-client registry by name, caching each for a short while.
 *
 * Each read runs only that metric's `collect()` (and that of the sibling which sets it), never
 * the whole registry's: a dashboard polling every second costs a handful of collections, not a
 * full scrape of every series. One side effect remains: prom-client's event-loop statistics
 * restart at each collection, whoever triggers it.
 */
export class MetricReader {
  /** The prefix added to every name given to {@link MetricReader.read}. */
  readonly prefix: string
  private readonly maxAgeMs: number
  private readonly clock: () => number
  private readonly cache = new Map<string, { at: number; value: Promise<MetricJson | undefined> }>()

  constructor(
    readonly registry: Registry,
    options: MetricReaderOptions = {},
  ) {
    knownOptions('metric reader options', options, METRIC_READER_OPTION_NAMES)
    this.prefix = options.prefix ?? METRIC_READER_DEFAULTS.prefix
    this.maxAgeMs = numberInRange('maxAgeMs', options.maxAgeMs, 0, undefined, {
      fallback: METRIC_READER_DEFAULTS.maxAgeMs,
      unit: 'milliseconds',
    })
    this.clock = nowOption(options, Date.now)
    if (!/^[a-zA-Z_:]?[a-zA-Z0-9_:]*$/.test(this.prefix)) {
      throw new InvalidArgumentError(`prefix: expected a Prometheus metric name prefix, got "${this.prefix}"`)
    }
  }

  /** The metric `prefix + name` with its current series, or undefined when nothing registered it. */
  read(name: string): Promise<MetricJson | undefined> {
    const now = this.clock()
    const cached = this.cache.get(name)
    if (cached !== undefined && now - cached.at < this.maxAgeMs) return cached.value
    const metric = this.registry.getSingleMetric(this.prefix + name)
    const owner = collectedBy(name)
    const value =
      metric === undefined
        ? Promise.resolve(undefined)
        : (owner === undefined ? Promise.resolve() : this.read(owner)).then(() => metric.get() as Promise<MetricJson>)
    this.cache.set(name, { at: now, value })
    // A failed collect must not stay cached.
    value.catch(() => {
      if (this.cache.get(name)?.value === value) this.cache.delete(name)
    })
    return value
  }
}

/**
 * prom-client sets some default metrics in the `collect()` of a sibling ("use this one
 * metric's collect to set all metrics' values"): read alone, they would report the value of
 * the last full scrape. This names the sibling to read first.
 */
function collectedBy(name: string): string | undefined {
  if (name === 'nodejs_heap_size_used_bytes' || name === 'nodejs_external_memory_bytes') {
    return 'nodejs_heap_size_total_bytes'
  }
  if (name === 'process_heap_bytes' || name === 'process_virtual_memory_bytes') return 'process_resident_memory_bytes'
  if (name === 'process_cpu_system_seconds_total' || name === 'process_cpu_seconds_total') {
    return 'process_cpu_user_seconds_total'
  }
  if (/^nodejs_heap_space_size_(used|available)_bytes$/.test(name)) return 'nodejs_heap_space_size_total_bytes'
  if (/^nodejs_eventloop_lag_(min|max|mean|stddev|p50|p90|p99)_seconds$/.test(name)) {
    return 'nodejs_eventloop_lag_seconds'
  }
  return undefined
}

/** The metric type as a string ("counter", "gauge", "histogram", "summary"); prom-client types it as an enum. */
export function metricType(metric: MetricJson): string {
  return String(metric.type)
}

/** Label selector: a series matches when every given label has the given value. */
export type LabelFilter = Readonly<Record<string, string>>

function matches(labels: Readonly<Record<string, unknown>>, filter: LabelFilter | undefined): boolean {
  if (filter === undefined) return true
  for (const [name, value] of Object.entries(filter)) if (String(labels[name]) !== value) return false
  return true
}

/** A stable key of a label set minus the labels named in `omit`. */
export function seriesKey(labels: Readonly<Record<string, unknown>>, omit: readonly string[] = []): string {
  return Object.keys(labels)
    .filter((name) => !omit.includes(name))
    .sort()
    .map((name) => `${name}=${JSON.stringify(String(labels[name]))}`)
    .join(',')
}

/** Cumulative values of counter-like series by series key, for deltas between two reads. */
export type CounterSample = Map<string, { labels: Record<string, string>; value: number }>

function stringLabels(labels: Readonly<Record<string, unknown>>, omit: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(labels)) if (!omit.includes(name)) out[name] = String(value)
  return out
}

/**
 * The series of a counter or gauge (or the `_count` series of a histogram or summary when
 * `part` is `'count'`) that match `filter`.
 */
export function counterSample(metric: MetricJson, filter?: LabelFilter, part?: 'count' | 'sum'): CounterSample {
  const sample: CounterSample = new Map()
  const wanted = part === undefined ? undefined : `${metric.name}_${part}`
  for (const series of metric.values) {
    if (
      wanted !== undefined
        ? series.metricName !== wanted
        : series.metricName !== undefined && series.metricName !== metric.name
    )
      continue
    if (!matches(series.labels, filter)) continue
    sample.set(seriesKey(series.labels), { labels: stringLabels(series.labels), value: series.value })
  }
  return sample
}

/**
 * Increase of each series from `before` to `after`, Prometheus-style: a series that went down
 * was reset (or recreated), so its whole current value counts; a new series counts whole too;
 * a series that vanished contributes nothing.
 */
export function counterIncrease(before: CounterSample, after: CounterSample): CounterSample {
  const out: CounterSample = new Map()
  for (const [key, { labels, value }] of after) {
    const previous = before.get(key)?.value
    out.set(key, { labels, value: previous === undefined || value < previous ? value : value - previous })
  }
  return out
}

/** Sum of a sample's values, optionally of the series matching `filter` only. */
export function sumSample(sample: CounterSample, filter?: (labels: Record<string, string>) => boolean): number {
  let total = 0
  for (const { labels, value } of sample.values()) if (filter === undefined || filter(labels)) total += value
  return total
}

/** Cumulative bucket counts of a histogram's series (label sets without `le`), by series key. */
export interface HistogramSample {
  /** Upper bounds of the buckets in ascending order, `Infinity` last. */
  bounds: number[]
  /** Cumulative counts per bound, and the total count, of each series. */
  series: Map<string, { labels: Record<string, string>; buckets: number[]; count: number }>
}

/** The bucket counts of a histogram metric's series that match `filter`. */
export function histogramSample(metric: MetricJson, filter?: LabelFilter): HistogramSample {
  const boundSet = new Set<number>()
  const series: HistogramSample['series'] = new Map()
  const bucketName = `${metric.name}_bucket`
  const countName = `${metric.name}_count`
  const perSeries = new Map<string, Map<number, number>>()
  for (const value of metric.values) {
    if (!matches(value.labels, filter)) continue
    const key = seriesKey(value.labels, ['le'])
    let entry = series.get(key)
    if (entry === undefined) {
      entry = { labels: stringLabels(value.labels, ['le']), buckets: [], count: 0 }
      series.set(key, entry)
      perSeries.set(key, new Map())
    }
    if (value.metricName === bucketName) {
      const le = value.labels['le']
      const bound = le === '+Inf' ? Infinity : Number(le)
      boundSet.add(bound)
      perSeries.get(key)?.set(bound, value.value)
    } else if (value.metricName === countName) {
      entry.count = value.value
    }
  }
  const bounds = [...boundSet].sort((a, b) => a - b)
  for (const [key, entry] of series) {
    const counts = perSeries.get(key)
    entry.buckets = bounds.map((bound) => counts?.get(bound) ?? 0)
  }
  return { bounds, series }
}

/**
 * Bucket increases from `before` to `after`, summed over all series (or those `filter` keeps);
 * a series whose count went down, or whose buckets changed, was reset and counts whole.
 */
export function histogramIncrease(
  before: HistogramSample,
  after: HistogramSample,
  filter?: (labels: Record<string, string>) => boolean,
): { bounds: number[]; buckets: number[]; count: number } {
  const buckets = after.bounds.map(() => 0)
  let count = 0
  for (const [key, entry] of after.series) {
    if (filter !== undefined && !filter(entry.labels)) continue
    const previous = before.series.get(key)
    const comparable = previous !== undefined && previous.buckets.length === entry.buckets.length
    const reset = !comparable || entry.count < previous.count
    for (let i = 0; i < buckets.length; i++) {
      buckets[i] = (buckets[i] ?? 0) + (entry.buckets[i] ?? 0) - (reset ? 0 : (previous.buckets[i] ?? 0))
    }
    count += entry.count - (reset ? 0 : previous.count)
  }
  return { bounds: after.bounds, buckets, count }
}

/**
 * The `q`-quantile of cumulative bucket counts, interpolated linearly inside the bucket it
 * falls in, exactly as PromQL's `histogram_quantile` does (the first bucket starts at 0; a
 * quantile in the `+Inf` bucket is the highest finite bound). Undefined without observations.
 */
export function bucketQuantile(
  q: number,
  bounds: readonly number[],
  cumulative: readonly number[],
): number | undefined {
  const total = cumulative[cumulative.length - 1] ?? 0
  if (total <= 0 || bounds.length === 0) return undefined
  const rank = q * total
  let index = cumulative.findIndex((count) => count >= rank)
  if (index < 0) index = cumulative.length - 1
  const upper = bounds[index] ?? Infinity
  if (upper === Infinity) return bounds.length > 1 ? bounds[bounds.length - 2] : undefined
  const lower = index === 0 ? 0 : (bounds[index - 1] ?? 0)
  const below = index === 0 ? 0 : (cumulative[index - 1] ?? 0)
  const inBucket = (cumulative[index] ?? 0) - below
  if (inBucket <= 0) return upper
  return lower + (upper - lower) * ((rank - below) / inBucket)
}

/**
 * The `q`-quantile a summary reports (its `quantile` label), the highest over its label sets
 * so that an alert on any outcome's tail fires. Undefined when the summary has no such quantile.
 */
export function summaryQuantile(metric: MetricJson, q: number, filter?: LabelFilter): number | undefined {
  let highest: number | undefined
  for (const series of metric.values) {
    const quantile = series.labels['quantile']
    if (quantile === undefined || Math.abs(Number(quantile) - q) > 1e-9 || !matches(series.labels, filter)) continue
    if (Number.isFinite(series.value) && (highest === undefined || series.value > highest)) highest = series.value
  }
  return highest
}

/** Sum (or max, min, average) of a gauge's or counter's series that match `filter`; undefined without any. */
export function reduceValues(
  metric: MetricJson,
  reduce: 'sum' | 'max' | 'min' | 'avg',
  filter?: LabelFilter,
): number | undefined {
  const values = [...counterSample(metric, filter).values()].map((series) => series.value)
  if (values.length === 0) return undefined
  switch (reduce) {
    case 'sum':
      return values.reduce((a, b) => a + b, 0)
    case 'max':
      return Math.max(...values)
    case 'min':
      return Math.min(...values)
    case 'avg':
      return values.reduce((a, b) => a + b, 0) / values.length
  }
}

/** Anything a {@link MetricReader} can be made from: a MetricsCollector (its `registry`), a Registry, or a reader. */
export type MetricsInput = MetricReader | Registry | { readonly registry: Registry }

/** A reader over `input`, reusing it when it is one already (so its cache is shared). */
export function toMetricReader(input: MetricsInput, options?: MetricReaderOptions): MetricReader {
  if (input instanceof MetricReader) return input
  const expected = 'metrics: expected a MetricsCollector, a prom-client Registry or a MetricReader'
  if (typeof input !== 'object' || input === null) throw new InvalidArgumentError(expected)
  // A reader from another copy of optlayer (duplicate install) fails instanceof but still works.
  const reader = input as Partial<MetricReader>
  if (typeof reader.read === 'function' && typeof reader.prefix === 'string') return input as MetricReader
  const registry = 'registry' in input ? input.registry : input
  if (typeof (registry as Partial<Registry> | undefined)?.getSingleMetric !== 'function') {
    throw new InvalidArgumentError(expected)
  }
  // Only the reader's own options: the caller's may hold more (a MetricSources' windowMs).
  const { prefix, maxAgeMs, now, clock } = options ?? {}
  return new MetricReader(registry, { prefix, maxAgeMs, now, clock })
}

/**
 * Samples kept over a sliding time window, so that a windowed value (a rate, a quantile of
 * what was observed lately) is the difference between now and the sample `windowMs` ago.
 */
export class SampleWindow<T> {
  private readonly samples: { at: number; sample: T }[] = []

  constructor(private readonly windowMs: number) {}

  /**
   * Adds the sample taken `at`, and answers the baseline to difference it against: the newest
   * sample at least `windowMs` old, or the oldest one while the window is still filling, or
   * undefined for the very first sample.
   */
  push(at: number, sample: T): { at: number; sample: T } | undefined {
    this.samples.push({ at, sample })
    const cutoff = at - this.windowMs
    while (this.samples.length > 2 && (this.samples[1]?.at ?? Infinity) <= cutoff) this.samples.shift()
    // Bounded even when read far more often than the window needs: thin out the middle.
    if (this.samples.length > 1024) this.samples.splice(1, 1)
    const base = this.samples[0]
    return this.samples.length >= 2 && base !== undefined && base.at < at ? base : undefined
  }
}
