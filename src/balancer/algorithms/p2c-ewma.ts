import type { BackendEntry, PickRequest } from '../backend'
import { isExcluded, type PickExclusion, type Picker, type PickerContext } from './picker'

/**
 * Power of two choices over peak-EWMA load, as Finagle's `P2CPeakEwma` and Linkerd's balancer: draw two distinct
 * candidates at random and take the one with the lower cost × (outstanding + 1), where cost is the peak-sensitive
 * latency EWMA decayed to now. Two random choices avoid the herding of "always the least loaded" (Mitzenmacher), and
 * the latency term moves traffic off a backend that slows down before its queue builds up.
 *
 * Weights (and slow start) act on the draw: candidates are drawn in proportion to their effective weight, so equally
 * loaded backends share traffic by weight. Equal weights take a faster path: one random number gives both draws.
 *
 * The decay reads the balancer's cached clock (see CachedClock), never the clock itself: the decay time is seconds,
 * and a clock read costs more than the rest of the pick.
 * @internal
 */
export class P2cEwmaPicker implements Picker {
  private candidates: readonly BackendEntry[] = []
  /** Running sums of the candidates' effective weights. */
  private cumulative = new Float64Array(0)
  private uniform = true

  constructor(private readonly context: PickerContext) {}

  update(candidates: readonly BackendEntry[]): void {
    this.candidates = candidates
    if (this.cumulative.length < candidates.length) this.cumulative = new Float64Array(candidates.length)
    this.reweigh()
  }

  reweigh(): void {
    const candidates = this.candidates
    let sum = 0
    let uniform = true
    for (let i = 0; i < candidates.length; i++) {
      const weight = candidates[i]!.effectiveWeight
      if (weight !== candidates[0]!.effectiveWeight) uniform = false
      sum += weight
      this.cumulative[i] = sum
    }
    this.uniform = uniform
  }

  pick(): BackendEntry | undefined {
    const candidates = this.candidates
    const n = candidates.length
    if (n < 2) return candidates[0]
    let i: number
    let j: number
    if (this.uniform) {
      // One random number gives both draws: its integer part the first, its fraction the second.
      const r = this.context.random() * n
      i = r | 0
      j = ((r - i) * (n - 1)) | 0
      if (j >= i) j++
    } else {
      const cumulative = this.cumulative
      i = this.find(this.context.random() * cumulative[n - 1]!)
      // The second draw skips the first candidate's span of the weight line, so the two are distinct.
      const end = cumulative[i]!
      const start = i === 0 ? 0 : cumulative[i - 1]!
      let r = this.context.random() * (cumulative[n - 1]! - (end - start))
      if (r >= start) r += end - start
      j = this.find(r)
      if (j === i) j = i + 1 === n ? 0 : i + 1 // rounding at a span's edge
    }
    const a = candidates[i]!
    const b = candidates[j]!
    return lighter(b, a) ? b : a
  }

  pickExcluding(_request: PickRequest | undefined, excluded: PickExclusion): BackendEntry | undefined {
    // Retries are rare: filtering here keeps the draw exact without a second code path to maintain.
    const allowed = this.candidates.filter((entry) => !isExcluded(entry, excluded))
    if (allowed.length < 2) return allowed[0]
    const a = drawWeighted(allowed, this.context.random)
    const b = drawWeighted(
      allowed.filter((entry) => entry !== a),
      this.context.random,
    )
    return lighter(b, a) ? b : a
  }

  /** Index of the first running sum above `x`. */
  private find(x: number): number {
    const cumulative = this.cumulative
    let lo = 0
    let hi = this.candidates.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cumulative[mid]! > x) hi = mid
      else lo = mid + 1
    }
    return lo
  }
}

/** Whether `a` carries less load than `b` (see LatencyEwma.lighterThan). */
function lighter(a: BackendEntry, b: BackendEntry): boolean {
  return a.latency.lighterThan(b.latency, a.outstanding, b.outstanding)
}

/** One entry drawn in proportion to effective weight. */
function drawWeighted(entries: readonly BackendEntry[], random: () => number): BackendEntry {
  let total = 0
  for (const entry of entries) total += entry.effectiveWeight
  let r = random() * total
  for (const entry of entries) {
    r -= entry.effectiveWeight
    if (r < 0) return entry
  }
  return entries[entries.length - 1]!
}
