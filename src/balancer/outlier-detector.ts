import type { BackendEntry } from './backend'
import type { CachedClock } from '../core/cached-clock'
import type { ResolvedOutlierDetectionOptions } from './options'

/**
 * Passive outlier detection after Envoy's (consecutive_5xx / consecutive_gateway_failure with max_ejection_percent):
 * `consecutiveFailures` failed releases in a row eject a backend for `baseEjectionMs` × its ejection multiplier,
 * capped at `maxEjectionMs`. The multiplier grows by one per ejection and drops by one for every `baseEjectionMs`
 * spent without one, so a backend that keeps failing stays out longer each time while one that failed once long ago
 * starts over. No more than `maxEjectionPercent` of the backends are ejected at once (but at least one).
 *
 * Ejections end lazily: the balancer asks {@link OutlierDetector.wake} when it next looks at the clock.
 * @internal
 */
export class OutlierDetector {
  /** Backends ejected now. */
  ejected = 0
  /** Ejections refused because of maxEjectionPercent. */
  refused = 0

  constructor(
    readonly options: ResolvedOutlierDetectionOptions,
    private readonly clock: CachedClock,
  ) {}

  /**
   * Called after a failure was counted; ejects the backend (as of the clock's `t`) when that was the N-th in a row
   * and the cap allows. Returns true on ejection.
   */
  failure(entry: BackendEntry, total: number): boolean {
    if (entry.ejected || entry.consecutiveFailures < this.options.consecutiveFailures) return false
    const now = this.clock.t
    const { maxEjectionPercent, baseEjectionMs, maxEjectionMs } = this.options
    const withinCap = (this.ejected + 1) * 100 <= maxEjectionPercent * total
    if (!withinCap && !(this.ejected === 0 && maxEjectionPercent > 0)) {
      this.refused++
      return false
    }
    const calm = Math.floor(Math.max(now - entry.lastEjectionEnd, 0) / baseEjectionMs)
    entry.ejectionMultiplier = Math.max(entry.ejectionMultiplier - calm, 0) + 1
    entry.ejectedUntil = now + Math.min(baseEjectionMs * entry.ejectionMultiplier, maxEjectionMs)
    entry.ejected = true
    entry.ejections++
    entry.consecutiveFailures = 0
    this.ejected++
    return true
  }

  /** Ends the ejection of `entry` when it is due at `now`. Returns true when it ended. */
  wake(entry: BackendEntry, now: number): boolean {
    if (!entry.ejected || now < entry.ejectedUntil) return false
    this.release(entry)
    return true
  }

  /** Ends an ejection now (its time is up, or the backend is being removed). */
  release(entry: BackendEntry): void {
    if (!entry.ejected) return
    entry.ejected = false
    entry.lastEjectionEnd = entry.ejectedUntil
    entry.consecutiveFailures = 0
    this.ejected--
  }
}
