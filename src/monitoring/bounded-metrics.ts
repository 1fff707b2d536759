import { Counter, Gauge, Histogram, type LabelValues, type Registry } from 'prom-client'

import { InvalidArgumentError, OptlayerError } from '../core/errors'
import { wholeNumber } from '../core/validate'

/** Label value every label of the overflow series carries. */
export const OVERFLOW_LABEL_VALUE = '__overflow__'

/** Options of the custom metrics of {@link MetricsCollector.counter} and its siblings. */
export interface BoundedMetricOptions<L extends string = string> {
  /** Full metric name (no prefix is added), e.g. `'myapp_jobs_total'`. */
  name: string
  /** What the metric measures, shown as `# HELP`. */
  help: string
  /** Names of the labels every observation carries. @default [] */
  labelNames?: readonly L[]
  /**
   * Most label sets (series) the metric keeps. Observations of a new label set beyond this
   * go to one overflow series (every label `'__overflow__'`) and count in
   * `<prefix>metrics_overflow_total{metric}`, so memory never grows past it.
   * @default the collector's `maxSeriesPerMetric` (1,000)
   */
  maxSeries?: number
}

/** Options of {@link MetricsCollector.histogram}. */
export interface BoundedHistogramOptions<L extends string = string> extends BoundedMetricOptions<L> {
  /** Upper bounds of the buckets, ascending. @default prom-client's defaults (5 ms to 10 s, in seconds) */
  buckets?: readonly number[]
}

type Labels<L extends string> = LabelValues<L>

/**
 * The admission of label sets into one metric: at most `maxSeries` distinct sets, the rest
 * folded into the overflow set. Keys are the label values in `labelNames` order.
 * @internal
 */
export class SeriesLimit<L extends string> {
  private readonly seen = new Set<string>()
  private readonly overflowLabels: Labels<L>

  constructor(
    private readonly metricName: string,
    private readonly labelNames: readonly L[],
    readonly maxSeries: number,
    private readonly onOverflow: (metric: string) => void,
  ) {
    this.overflowLabels = Object.fromEntries(labelNames.map((name) => [name, OVERFLOW_LABEL_VALUE])) as Labels<L>
  }

  /** Label sets admitted so far. */
  get size(): number {
    return this.seen.size
  }

  /**
   * Runs `observe` with `labels`, or with the overflow labels when `labels` would be one set
   * too many. A label set the metric refuses (an unknown label name) is not kept.
   */
  apply(labels: Labels<L> | undefined, observe: (labels: Labels<L>) => void): void {
    const key = this.key(labels)
    if (this.seen.has(key)) return observe(labels ?? ({} as Labels<L>))
    if (this.seen.size >= this.maxSeries) {
      this.onOverflow(this.metricName)
      return observe(this.overflowLabels)
    }
    this.seen.add(key)
    try {
      observe(labels ?? ({} as Labels<L>))
    } catch (err) {
      this.seen.delete(key)
      throw err instanceof OptlayerError
        ? err
        : new InvalidArgumentError(`${this.metricName}: ${err instanceof Error ? err.message : String(err)}`, {
            cause: err,
          })
    }
  }

  /** Forgets one label set, making room for another. */
  forget(labels: Labels<L> | undefined): void {
    this.seen.delete(this.key(labels))
  }

  /** Forgets every label set. */
  clear(): void {
    this.seen.clear()
  }

  private key(labels: Labels<L> | undefined): string {
    if (labels === undefined || this.labelNames.length === 0) return ''
    let key = ''
    for (const name of this.labelNames) key += `${String(labels[name] ?? '')}\u0000`
    return key
  }
}

/** Checks the options shared by every bounded metric; returns the label names and the series cap. */
export function checkBoundedOptions<L extends string>(
  options: BoundedMetricOptions<L>,
  defaultMaxSeries: number,
): { labelNames: readonly L[]; maxSeries: number } {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('invalid options: expected { name, help, labelNames?, maxSeries? }')
  }
  const maxSeries = wholeNumber('maxSeries', options.maxSeries, 1, undefined, defaultMaxSeries)
  const labelNames = options.labelNames ?? []
  if (!Array.isArray(labelNames) || labelNames.some((l) => typeof l !== 'string')) {
    throw new InvalidArgumentError('invalid labelNames: expected an array of strings')
  }
  return { labelNames, maxSeries }
}

/** prom-client's constructor errors (bad names, duplicates) as typed errors. */
export function construct<T>(name: string, make: () => T): T {
  try {
    return make()
  } catch (err) {
    throw new InvalidArgumentError(`invalid metric ${name}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    })
  }
}

/** What the bounded metrics share: the series limit and the underlying prom-client metric. */
abstract class BoundedMetric<L extends string, M extends { remove(labels: Labels<L>): void; reset(): void }> {
  /** @internal */
  protected readonly limit: SeriesLimit<L>

  constructor(
    /** The prom-client metric holding the series (registered in the collector's registry). */
    readonly metric: M,
    limit: SeriesLimit<L>,
  ) {
    this.limit = limit
  }

  /** Label sets held now, the overflow set excluded. */
  get series(): number {
    return this.limit.size
  }

  /** The most label sets this metric keeps. */
  get maxSeries(): number {
    return this.limit.maxSeries
  }

  /** Drops one label set's series, making room for another. */
  remove(labels: Labels<L>): void {
    this.metric.remove(labels)
    this.limit.forget(labels)
  }

  /** Drops every series. */
  reset(): void {
    this.metric.reset()
    this.limit.clear()
  }
}

/** A prom-client Counter whose label sets are capped (see {@link BoundedMetricOptions.maxSeries}). */
export class BoundedCounter<L extends string = string> extends BoundedMetric<L, Counter<L>> {
  /** Adds `value` (default 1) to the series of `labels`. */
  inc(labels?: Labels<L>, value = 1): void {
    this.limit.apply(labels, (l) => this.metric.inc(l, value))
  }
}

/** A prom-client Gauge whose label sets are capped (see {@link BoundedMetricOptions.maxSeries}). */
export class BoundedGauge<L extends string = string> extends BoundedMetric<L, Gauge<L>> {
  /** Sets the series of `labels` to `value`. */
  set(labels: Labels<L> | undefined, value: number): void {
    this.limit.apply(labels, (l) => this.metric.set(l, value))
  }

  /** Adds `value` (default 1) to the series of `labels`. */
  inc(labels?: Labels<L>, value = 1): void {
    this.limit.apply(labels, (l) => this.metric.inc(l, value))
  }

  /** Subtracts `value` (default 1) from the series of `labels`. */
  dec(labels?: Labels<L>, value = 1): void {
    this.limit.apply(labels, (l) => this.metric.dec(l, value))
  }
}

/** A prom-client Histogram whose label sets are capped (see {@link BoundedMetricOptions.maxSeries}). */
export class BoundedHistogram<L extends string = string> extends BoundedMetric<L, Histogram<L>> {
  /** Observes `value` in the series of `labels`. */
  observe(labels: Labels<L> | undefined, value: number): void {
    this.limit.apply(labels, (l) => this.metric.observe(l, value))
  }
}

/** Builds the bounded metrics of one collector, counting overflows in one counter. @internal */
export class BoundedMetricFactory {
  private readonly overflow: Counter<'metric'>

  /**
   * @param beforeCollect awaited before the overflow counter reports, so that overflows
   *   counted while other metrics collect (component reads) show in the same scrape.
   */
  constructor(
    private readonly registry: Registry,
    prefix: string,
    private readonly defaultMaxSeries: number,
    beforeCollect: () => Promise<unknown> = async () => {},
  ) {
    this.overflow = new Counter({
      name: `${prefix}metrics_overflow_total`,
      help: 'Observations of a new label set beyond a metric maxSeries (for components: label sets, each scrape), folded into its __overflow__ series.',
      labelNames: ['metric'],
      registers: [registry],
      async collect() {
        await beforeCollect()
      },
    })
  }

  /** Counts one overflowed observation (or folded series) of `metric`. */
  readonly countOverflow = (metric: string, by = 1): void => {
    this.overflow.inc({ metric }, by)
  }

  /** A bounded counter registered in the registry. */
  counter<L extends string>(options: BoundedMetricOptions<L>): BoundedCounter<L> {
    const { labelNames, maxSeries } = checkBoundedOptions(options, this.defaultMaxSeries)
    const metric = construct(
      options.name,
      () => new Counter<L>({ name: options.name, help: options.help, labelNames, registers: [this.registry] }),
    )
    return new BoundedCounter(metric, new SeriesLimit(options.name, labelNames, maxSeries, this.countOverflow))
  }

  /** A bounded gauge registered in the registry. */
  gauge<L extends string>(options: BoundedMetricOptions<L>): BoundedGauge<L> {
    const { labelNames, maxSeries } = checkBoundedOptions(options, this.defaultMaxSeries)
    const metric = construct(
      options.name,
      () => new Gauge<L>({ name: options.name, help: options.help, labelNames, registers: [this.registry] }),
    )
    return new BoundedGauge(metric, new SeriesLimit(options.name, labelNames, maxSeries, this.countOverflow))
  }

  /** A bounded histogram registered in the registry. */
  histogram<L extends string>(options: BoundedHistogramOptions<L>): BoundedHistogram<L> {
    const { labelNames, maxSeries } = checkBoundedOptions(options, this.defaultMaxSeries)
    const buckets = options.buckets === undefined ? undefined : [...options.buckets]
    const metric = construct(
      options.name,
      () =>
        new Histogram<L>({
          name: options.name,
          help: options.help,
          labelNames,
          registers: [this.registry],
          ...(buckets === undefined ? {} : { buckets }),
        }),
    )
    return new BoundedHistogram(metric, new SeriesLimit(options.name, labelNames, maxSeries, this.countOverflow))
  }
}
