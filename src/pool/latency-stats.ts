import { BufferedHistogram } from '../core/buffered-histogram'
import type { LatencySnapshot } from '../core/latency-histogram'

/** A summary of recorded latencies, in milliseconds (0 for every figure while nothing was recorded). */
export interface LatencySummary {
  /** Values recorded. */
  count: number
  /** Arithmetic mean (exact). */
  mean: number
  /** Median, within 0.1 %; values under 1 µs read as 0 (an acquire served at once records exactly 0). */
  p50: number
  /** 90th percentile. */
  p90: number
  /** 99th percentile. */
  p99: number
  /** 99.9th percentile. */
  p999: number
  /** Largest value recorded (exact). */
  max: number
}

/**
 * The latencies of a pool or an upstream in a native HDR histogram, read as a
 * {@link LatencySummary}. {@link close} frees the native memory and keeps the last summary, so
 * that stats stay readable after the owner closed.
 * @internal
 */
export class LatencyStats {
  private readonly histogram = new BufferedHistogram()
  private final: LatencySummary | undefined = undefined

  /** Records one latency in ms, buffered (one native call per 512); ignored once closed. */
  record(ms: number): void {
    if (this.final === undefined) this.histogram.record(ms)
  }

  /** Count, mean, p50, p90, p99, p99.9 and max. */
  summary(): LatencySummary {
    return this.final ?? summarize(this.histogram.snapshot(), this.histogram.options.lowestMs)
  }

  /** Frees the native histogram; later summaries are the last one. Idempotent. */
  close(): void {
    if (this.final !== undefined) return
    this.final = this.summary()
    this.histogram.close()
  }
}

function summarize(s: LatencySnapshot, lowestMs: number): LatencySummary {
  // Values under the histogram's resolution are reported near it, not as 0; 0 is what they mean here.
  const quantile = (value: number | null): number => (value === null || value < lowestMs ? 0 : value)
  return {
    count: s.count,
    mean: s.meanMs ?? 0,
    p50: quantile(s.p50Ms),
    p90: quantile(s.p90Ms),
    p99: quantile(s.p99Ms),
    p999: quantile(s.p999Ms),
    max: s.maxMs ?? 0,
  }
}
