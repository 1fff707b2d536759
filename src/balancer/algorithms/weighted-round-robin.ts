import type { BackendEntry, PickRequest } from '../backend'
import { isExcluded, type Exclusion, type Picker } from './picker'

/**
 * nginx's smooth weighted round robin (ngx_http_upstream_round_robin.c, 2012): every pick adds each candidate's
 * weight to its `current`, takes the candidate with the largest `current` and subtracts the total weight from it.
 * Over any run of Σweights picks each backend gets exactly its weight, interleaved rather than in bursts (5/1/1 picks
 * `a a b a c a a`). O(candidates) per pick, which for the handful of backends of an upstream is a few ns each.
 * @internal
 */
export class WeightedRoundRobinPicker implements Picker {
  private candidates: readonly BackendEntry[] = []

  update(candidates: readonly BackendEntry[], all: readonly BackendEntry[]): void {
    // A backend that left the rotation rejoins with a clean slate rather than with credit or debt from before.
    for (const entry of all) if (!entry.available) entry.swrrCurrent = 0
    this.candidates = candidates
  }

  pick(): BackendEntry | undefined {
    const candidates = this.candidates
    let best: BackendEntry | undefined
    let bestCurrent = -Infinity
    let total = 0
    for (let i = 0; i < candidates.length; i++) {
      const entry = candidates[i]!
      const weight = entry.effectiveWeight
      const current = entry.swrrCurrent + weight
      entry.swrrCurrent = current
      total += weight
      if (current > bestCurrent) {
        best = entry
        bestCurrent = current
      }
    }
    if (best !== undefined) best.swrrCurrent = bestCurrent - total
    return best
  }

  pickExcluding(_request: PickRequest | undefined, excluded: Exclusion): BackendEntry | undefined {
    let best: BackendEntry | undefined
    let total = 0
    for (const entry of this.candidates) {
      if (isExcluded(entry, excluded)) continue
      entry.swrrCurrent += entry.effectiveWeight
      total += entry.effectiveWeight
      if (best === undefined || entry.swrrCurrent > best.swrrCurrent) best = entry
    }
    if (best !== undefined) best.swrrCurrent -= total
    return best
  }
}
