import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

import { codecStats, type CodecCounters } from '../compress/codec-stats'
import { Compressor } from '../compress/compressor'

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
    registerCodecMetrics(this.registry, prefix)
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

/** Codec counters live in plain fields on the hot path; Prometheus reads them at scrape time. */
function registerCodecMetrics(registry: Registry, prefix: string): void {
  const codecCounter = (name: string, help: string, field: keyof CodecCounters): void => {
    new Counter({
      name: `${prefix}codec_${name}`,
      help,
      labelNames: ['operation', 'algorithm'],
      registers: [registry],
      collect() {
        this.reset()
        for (const [operation, byAlgorithm] of Object.entries(codecStats())) {
          for (const [algorithm, counters] of Object.entries(byAlgorithm)) {
            this.inc({ operation, algorithm }, counters[field])
          }
        }
      },
    })
  }
  codecCounter('calls_total', 'Codec calls that succeeded.', 'calls')
  codecCounter('bytes_in_total', 'Bytes given to codecs.', 'bytesIn')
  codecCounter('bytes_out_total', 'Bytes produced by codecs; out/in is the ratio.', 'bytesOut')
  codecCounter('seconds_total', 'Time spent in codecs (small synchronous calls sampled).', 'seconds')
  new Gauge({
    name: `${prefix}codec_async_jobs`,
    help: 'Codec jobs on the thread pool (state="active") and waiting for a slot (state="waiting").',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const { active, waiting } = Compressor.asyncLoad
      this.set({ state: 'active' }, active)
      this.set({ state: 'waiting' }, waiting)
    },
  })
}
