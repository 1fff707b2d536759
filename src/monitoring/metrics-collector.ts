import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

import { codecStats, type CodecCounters } from '../compress/codec-stats'
import { Compressor } from '../compress/compressor'
import { RateLimiter } from '../ratelimit/rate-limiter'

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
    registerRateLimitMetrics(this.registry, prefix)
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

/** Decisions of every open {@link RateLimiter}, by outcome and by who decided; read at scrape time. */
function registerRateLimitMetrics(registry: Registry, prefix: string): void {
  new Counter({
    name: `${prefix}ratelimit_decisions_total`,
    help: 'Rate-limit decisions by limiter, deciding source (local, redis, fallback mode) and outcome.',
    labelNames: ['limiter', 'source', 'outcome'],
    registers: [registry],
    collect() {
      this.reset()
      for (const limiter of RateLimiter.open()) {
        const { mode, redis, fallback, local, adaptive } = limiter.stats()
        const name = limiter.name
        const count = (source: string, outcome: string, value: number): void => {
          if (value > 0) this.inc({ limiter: name, source, outcome }, value)
        }
        if (mode === 'redis') {
          count('redis', 'allowed', redis.allowed)
          count('redis', 'denied', redis.denied)
          count('fallback-local', 'decided', fallback.local)
          count('fallback-open', 'allowed', fallback.failOpen)
          count('fallback-closed', 'denied', fallback.failClosed)
        } else if (local !== undefined) {
          count('local', 'allowed', local.allowed)
          count('local', 'denied', local.denied)
          count('local', 'rejected-at-cap', local.rejectedAtCap)
        } else if (adaptive !== undefined) {
          count('adaptive', 'allowed', adaptive.allowed)
          count('adaptive', 'denied', adaptive.denied)
          count('adaptive', 'breaker-rejected', adaptive.breakerRejections)
        }
      }
    },
  })
  new Counter({
    name: `${prefix}ratelimit_redis_unavailable_total`,
    help: 'Decisions for which Redis could not answer and the fallback decided.',
    labelNames: ['limiter'],
    registers: [registry],
    collect() {
      this.reset()
      for (const limiter of RateLimiter.open()) {
        const { mode, redis } = limiter.stats()
        if (mode === 'redis') this.inc({ limiter: limiter.name }, redis.unavailable)
      }
    },
  })
  new Gauge({
    name: `${prefix}ratelimit_keys`,
    help: 'Keys tracked by each local rate-limit store.',
    labelNames: ['limiter'],
    registers: [registry],
    collect() {
      this.reset()
      for (const limiter of RateLimiter.open()) {
        const { local, adaptive } = limiter.stats()
        const keys = local?.keys ?? adaptive?.keys
        if (keys !== undefined) this.set({ limiter: limiter.name }, keys)
      }
    },
  })
}
