/**
 * Latency estimates of one backend, over observations that arrive at irregular times.
 *
 * `cost` is the peak-sensitive EWMA of Finagle's `PeakEwma` balancer (also Linkerd's): an observation above the
 * current estimate replaces it at once, one below pulls it down with weight 1 − e^(−Δt/τ), and the estimate decays
 * toward 0 while nothing is observed, so that a backend that was slow once is tried again later. `mean` is the plain
 * time-weighted EWMA of the same observations, for stats. Weights depend on the time between observations
 * (Eckner's EWMA for unevenly spaced series), not on their count.
 * @internal
 */
export class LatencyEwma {
  /** Peak EWMA as of `stamp`, in ms; 0 until the first observation. */
  private peak = 0
  /** Time-weighted mean as of `stamp`, in ms. */
  private avg = 0
  /** When the latest observation was made. */
  private stamp = 0
  private samples = 0

  /** @param decayMs the decay time τ, in ms */
  constructor(private readonly decayMs: number) {}

  /** Adds one latency observed at `now`. */
  observe(latencyMs: number, now: number): void {
    if (this.samples++ === 0) {
      this.peak = latencyMs
      this.avg = latencyMs
      this.stamp = now
      return
    }
    const w = Math.exp(-Math.max(now - this.stamp, 0) / this.decayMs)
    const decayed = this.peak * w
    this.peak = latencyMs > decayed ? latencyMs : decayed * w + latencyMs * (1 - w)
    this.avg = this.avg * w + latencyMs * (1 - w)
    this.stamp = now
  }

  /** The peak EWMA at `now`, decayed since the latest observation; 0 before any. */
  cost(now: number): number {
    const td = now - this.stamp
    return td > 0 ? this.peak * Math.exp(-td / this.decayMs) : this.peak
  }

  /** The time-weighted mean of the observations; 0 before any. */
  mean(): number {
    return this.avg
  }

  /** How many latencies were observed. */
  count(): number {
    return this.samples
  }
}
