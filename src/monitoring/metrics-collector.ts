import { Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** Options of {@link MetricsCollector}. */
export interface MetricsCollectorOptions {
  /**
   * Registry to register into; pass one to merge optlayer's metrics with your own.
   * @default a new prom-client Registry
   */
  registry?: Registry
  /**
   * Prefix of every metric name.
   * @default 'optlayer_'
   */
  prefix?: string
  /**
   * Also collect prom-client's default process metrics (CPU, memory, event loop lag, GC).
   * @default true
   */
  defaultMetrics?: boolean
}

/** Defaults of every {@link MetricsCollector} option. */
export const METRICS_DEFAULTS = Object.freeze({ prefix: 'optlayer_', defaultMetrics: true })

/**
 * Prometheus metrics of one optlayer process, exposed through prom-client.
 *
 * @example
 * ```ts
 * const metrics = new MetricsCollector()
 * metrics.recordRequest(12.5, true)
 * const body = await metrics.expose() // Prometheus text format
 * ```
 */
export class MetricsCollector {
  /** The registry holding every metric this collector exposes. */
  readonly registry: Registry
  /** The Content-Type of {@link MetricsCollector.expose}'s output. */
  readonly contentType: string
  private readonly requestDuration: Histogram<'outcome'>

  constructor(options: MetricsCollectorOptions = {}) {
    const prefix = options.prefix ?? METRICS_DEFAULTS.prefix
    this.registry = options.registry ?? new Registry()
    this.contentType = this.registry.contentType
    if (options.defaultMetrics ?? METRICS_DEFAULTS.defaultMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix })
    }
    this.requestDuration = new Histogram({
      name: `${prefix}request_duration_seconds`,
      help: 'Duration of requests handled, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    })
  }

  /** Records one handled request of `durationMs` milliseconds that succeeded or not. */
  recordRequest(durationMs: number, ok: boolean): void {
    this.requestDuration.observe({ outcome: ok ? 'ok' : 'error' }, durationMs / 1000)
  }

  /** Renders every metric in the Prometheus text exposition format. */
  expose(): Promise<string> {
    return this.registry.metrics()
  }
}
