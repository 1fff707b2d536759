import type { BackendEntry, PickRequest } from '../backend'
import { isExcluded, type Exclusion, type Picker, type PickerContext } from './picker'

/**
 * Load of a backend that has requests in flight but no latency observed yet: above any measured load, so that a new
 * backend gets one request at a time until its first latency is known (Finagle penalises the same case).
 */
const UNMEASURED_PENALTY = 2 ** 40

/**
 * Power of two choices over peak-EWMA load, as Finagle's `P2CPeakEwma` and Linkerd's balancer: draw two distinct
 * candidates at random and take the one with the lower cost × (outstanding + 1) / weight, where cost is the
 * peak-sensitive latency EWMA decayed to now. Two random choices avoid the herding of "always the least loaded"
 * (Mitzenmacher), and the latency term moves traffic off a backend that slows down before its queue builds up.
 *
 * The decay reads the balancer's cached clock (updated by every release that reports a latency), never the clock
 * itself: the decay time is seconds, and a clock read costs more than the rest of the pick.
 * @internal
 */
export class P2cEwmaPicker implements Picker {
  private candidates: readonly BackendEntry[] = []

  constructor(private readonly context: PickerContext) {}

  update(candidates: readonly BackendEntry[]): void {
    this.candidates = candidates
  }

  pick(): BackendEntry | undefined {
    const candidates = this.candidates
    const n = candidates.length
    if (n < 2) return candidates[0]
    // One random number gives both draws: its integer part the first, its fraction the second.
    const r = this.context.random() * n
    const i = r | 0
    let j = ((r - i) * (n - 1)) | 0
    if (j >= i) j++
    const a = candidates[i]!
    const b = candidates[j]!
    const now = this.context.clock.t
    return load(b, now) < load(a, now) ? b : a
  }

  pickExcluding(_request: PickRequest | undefined, excluded: Exclusion): BackendEntry | undefined {
    // Retries are rare: filtering here keeps the draw exact without a second code path to maintain.
    const allowed = this.candidates.filter((entry) => !isExcluded(entry, excluded))
    const n = allowed.length
    if (n < 2) return allowed[0]
    const i = (this.context.random() * n) | 0
    let j = (this.context.random() * (n - 1)) | 0
    if (j >= i) j++
    const now = this.context.clock.t
    return load(allowed[j]!, now) < load(allowed[i]!, now) ? allowed[j] : allowed[i]
  }
}

/** Finagle's load: the decayed peak EWMA × (outstanding + 1), here divided by the effective weight. */
function load(entry: BackendEntry, now: number): number {
  const cost = entry.latency.cost(now)
  if (cost === 0 && entry.outstanding !== 0) return UNMEASURED_PENALTY + entry.outstanding
  return (cost * (entry.outstanding + 1)) / entry.effectiveWeight
}
