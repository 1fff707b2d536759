import type { Metric, Registry } from 'prom-client'

import type { LatencyHistogram } from '../core/latency-histogram'
import type { LatencyWindow } from './latency-window'

/** One labelled series of a {@link LatencySummaryMetric}. @internal */
export interface LatencySeries {
  /** Labels of the series (never `quantile`). */
  labels: Readonly<Record<string, string>>
  /** The cumulative histogram: `_count` and `_sum` come from all of it. */
  histogram: LatencyHistogram
  /** Quantiles come from this sliding window of the histogram; without one, from all of it. */
  window?: LatencyWindow | undefined
}

/** What prom-client's registry renders: the `get()` result of a summary. */
interface SummaryObject {
  name: string
  help: string
  type: 'summary'
  aggregator: 'sum'
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[]
}

/**
 * A Prometheus summary whose figures come from native HDR histograms at scrape time:
 * `<name>{quantile="0.99",...}` in seconds over a sliding window, `<name>_sum` and
 * `<name>_count` since start. Recording never touches it; a scrape costs two native reads a
 * series.
 *
 * Why a summary and not a histogram: the quantiles are computed from every value at 0.1 %
 * precision (and, in a fleet, from the exact merge of every process's histogram), where
 * `histogram_quantile` over a dozen buckets interpolates within a bucket as wide as the
 * value. The price is that quantiles of separate deployments cannot be averaged in PromQL;
 * `_sum` and `_count` still add up.
 *
 * It follows the shape prom-client's registry renders (`get()`), so it registers like any
 * prom-client metric.
 * @internal
 */
export class LatencySummaryMetric {
  /** Metric type, as prom-client's registry reads it. */
  readonly type = 'summary'
  /** How prom-client's cluster aggregation would combine it (fleets use {@link LatencySummaryMetric} directly). */
  readonly aggregator = 'sum'

  constructor(
    /** Full metric name. */
    readonly name: string,
    /** `# HELP` text. */
    readonly help: string,
    private readonly series: () => readonly LatencySeries[],
    private readonly quantiles: readonly number[],
    private readonly onReset: () => void = () => {},
  ) {}

  /** Registers the metric in `registry`; prom-client types only its own classes as metrics. */
  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric)
    return this
  }

  /** The series as prom-client's registry renders them (latencies in seconds). */
  async get(): Promise<SummaryObject> {
    const values: SummaryObject['values'] = []
    for (const { labels, histogram, window } of this.series()) {
      const since = window?.since()
      const quantiles = histogram.percentiles(this.quantiles, since === undefined ? {} : { since })
      this.quantiles.forEach((quantile, i) => {
        // NaN (no value in the window) renders as Prometheus' NaN, as the Go client does.
        values.push({ labels: { ...labels, quantile }, value: (quantiles[i] ?? NaN) / 1000 })
      })
      const { count, sumMs } = histogram.snapshot()
      values.push({ metricName: `${this.name}_sum`, labels: { ...labels }, value: sumMs / 1000 })
      values.push({ metricName: `${this.name}_count`, labels: { ...labels }, value: count })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** Called by `registry.resetMetrics()`: forgets what the histograms recorded. */
  reset(): void {
    this.onReset()
  }
}
