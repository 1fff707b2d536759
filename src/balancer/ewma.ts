import type { CachedClock } from '../core/cached-clock'

/** Load of a backend with requests in flight and no latency observed yet (Finagle penalises the same case). */
const UNMEASURED_PENALTY = 2 ** 40

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
  /** The latest cost() result and its time: picks between two clock refreshes share one exponential. */
  private decayed = 0
  private decayedAt = Number.NaN

  /**
   * @param decayMs the decay time τ, in ms
   * @param clock whose `t` is the time of observations and reads (read, not passed: see CachedClock)
   */
  constructor(
    private readonly decayMs: number,
    private readonly clock: CachedClock,
  ) {}

  /** Adds one latency observed now (the clock's `t`). */
  observe(latencyMs: number): void {
    const now = this.clock.t
    if (this.samples++ === 0) {
      this.peak = latencyMs
      this.avg = latencyMs
      this.stamp = now
      this.decayedAt = Number.NaN
      return
    }
    const td = now - this.stamp
    if (td <= 0) {
      // No time has passed (the cached clock did not move): the weights are e^0 = 1, so only a new peak counts.
      if (latencyMs > this.peak) {
        this.peak = latencyMs
        this.decayedAt = Number.NaN
      }
      return
    }
    const w = Math.exp(-td / this.decayMs)
    const decayed = this.peak * w
    this.peak = latencyMs > decayed ? latencyMs : decayed * w + latencyMs * (1 - w)
    this.avg = this.avg * w + latencyMs * (1 - w)
    this.stamp = now
    this.decayedAt = Number.NaN
  }

  /** The peak EWMA now (the clock's `t`), decayed since the latest observation; 0 before any. */
  cost(): number {
    this.decay()
    return this.decayed
  }

  /**
   * Finagle's load: the decayed peak EWMA × (outstanding + 1); above any measured load when requests are in flight
   * but no latency was observed yet, so that a new backend gets one request at a time until its first latency is
   * known. Compared here rather than returned, so no number crosses a call boundary on the pick path.
   */
  lighterThan(other: LatencyEwma, outstanding: number, otherOutstanding: number): boolean {
    this.decay()
    other.decay()
    const mine =
      this.decayed === 0 && outstanding !== 0 ? UNMEASURED_PENALTY + outstanding : this.decayed * (outstanding + 1)
    const theirs =
      other.decayed === 0 && otherOutstanding !== 0
        ? UNMEASURED_PENALTY + otherOutstanding
        : other.decayed * (otherOutstanding + 1)
    return mine < theirs
  }

  /** Brings `decayed` to the clock's `t`; picks between two clock refreshes share one exponential. */
  private decay(): void {
    const now = this.clock.t
    if (now === this.decayedAt) return
    const td = now - this.stamp
    this.decayed = td > 0 ? this.peak * Math.exp(-td / this.decayMs) : this.peak
    this.decayedAt = now
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
