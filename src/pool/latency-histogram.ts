/** A summary of recorded latencies, in milliseconds, from {@link LatencyHistogram.snapshot}. */
export interface LatencySummary {
  /** Values recorded. */
  count: number
  /** Arithmetic mean (exact); 0 when nothing was recorded. */
  mean: number
  /** Median, within the histogram's relative error (see {@link LatencyHistogram}). */
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

// Buckets: one for values below 1 µs (an acquire served at once records exactly 0), then
// SUB_BUCKETS linear sub-buckets per power of two of microseconds, as HDR histograms do:
// every bucket is at most 1/SUB_BUCKETS of its value wide, so percentiles are within ±3 %.
const SUB_BUCKETS = 16
const SUB_SHIFT = 4
// 2^31 µs is about 36 minutes; longer values land in the last bucket (max stays exact).
const POWERS = 31
const BUCKETS = 1 + POWERS * SUB_BUCKETS

/**
 * A fixed-size log-linear histogram of latencies for pool metrics: O(1) and allocation-free
 * per record, 2 KiB of counters, percentiles within about 3 % (the bucket's midpoint is
 * reported). A stand-in until the native `stats` crate's HDR histogram is exposed.
 */
export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS)
  private total = 0
  private sum = 0
  private largest = 0

  /** Records one latency in milliseconds (negative values count as 0). */
  record(ms: number): void {
    this.total++
    if (!(ms > 0.001)) {
      this.counts[0]!++
      return
    }
    this.sum += ms
    if (ms > this.largest) this.largest = ms
    const us = ms * 1000
    if (us >= 2 ** POWERS) {
      this.counts[BUCKETS - 1]!++
      return
    }
    const whole = us >>> 0
    const power = 31 - Math.clz32(whole) // floor(log2(us)), us >= 1
    const sub = ((us / 2 ** power - 1) * SUB_BUCKETS) | 0
    this.counts[1 + (power << SUB_SHIFT) + sub]!++
  }

  /** Records a latency of zero: the hot path's "served at once", without reading a clock. */
  recordZero(): void {
    this.total++
    this.counts[0]!++
  }

  /** The value (ms) below which `q` (in [0, 1]) of the recorded values fall. */
  percentile(q: number): number {
    if (this.total === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.total))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!
      if (seen >= rank) return Math.min(bucketMidpointMs(i), this.largest)
    }
    return this.largest
  }

  /** Count, mean, p50, p90, p99, p99.9 and max. */
  snapshot(): LatencySummary {
    return {
      count: this.total,
      mean: this.total === 0 ? 0 : this.sum / this.total,
      p50: this.percentile(0.5),
      p90: this.percentile(0.9),
      p99: this.percentile(0.99),
      p999: this.percentile(0.999),
      max: this.largest,
    }
  }

  /** Forgets everything recorded. */
  reset(): void {
    this.counts.fill(0)
    this.total = 0
    this.sum = 0
    this.largest = 0
  }
}

function bucketMidpointMs(index: number): number {
  if (index === 0) return 0
  const power = (index - 1) >> SUB_SHIFT
  const sub = (index - 1) & (SUB_BUCKETS - 1)
  return (2 ** power * (1 + (sub + 0.5) / SUB_BUCKETS)) / 1000
}
