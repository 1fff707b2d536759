import type { BackendEntry, PickRequest } from '../backend'
import { isExcluded, type PickExclusion, type Picker, type PickerContext } from './picker'

/**
 * Least outstanding requests, weighted as nginx's least_conn: the candidate with the smallest outstanding / weight.
 * Ties (all idle backends, typically) are broken at random in proportion to weight, so idle backends share traffic
 * by weight instead of the first one taking it all. Two passes over the candidates and one random number per pick;
 * loads are compared by cross-multiplication (no division), and by outstanding counts alone when all weights are
 * equal.
 * @internal
 */
export class LeastConnectionsPicker implements Picker {
  private candidates: readonly BackendEntry[] = []
  private uniform = true

  constructor(private readonly context: PickerContext) {}

  update(candidates: readonly BackendEntry[]): void {
    this.candidates = candidates
    this.reweigh()
  }

  reweigh(): void {
    const candidates = this.candidates
    this.uniform = candidates.every((entry) => entry.effectiveWeight === candidates[0]!.effectiveWeight)
  }

  pick(): BackendEntry | undefined {
    return this.uniform ? this.chooseUniform() : this.chooseWeighted(undefined)
  }

  pickExcluding(_request: PickRequest | undefined, excluded: PickExclusion): BackendEntry | undefined {
    return this.chooseWeighted(excluded)
  }

  private chooseUniform(): BackendEntry | undefined {
    const candidates = this.candidates
    const n = candidates.length
    let best = 0x7fffffff
    let ties = 0
    for (let i = 0; i < n; i++) {
      const outstanding = candidates[i]!.outstanding
      if (outstanding < best) {
        best = outstanding
        ties = 1
      } else if (outstanding === best) ties++
    }
    if (ties === 0) return undefined
    // All tied (all idle, typically): any candidate, uniformly, without a second pass.
    if (ties === n) return candidates[(this.context.random() * n) | 0]
    // The k-th of the tied candidates, k uniform.
    let k = ties === 1 ? 0 : (this.context.random() * ties) | 0
    for (let i = 0; i < n; i++) {
      const entry = candidates[i]!
      if (entry.outstanding === best && k-- === 0) return entry
    }
    return undefined
  }

  private chooseWeighted(excluded: PickExclusion | undefined): BackendEntry | undefined {
    const candidates = this.candidates
    const n = candidates.length
    let bestOutstanding = 0
    let bestWeight = 0
    let sum = 0
    for (let i = 0; i < n; i++) {
      const entry = candidates[i]!
      if (excluded !== undefined && isExcluded(entry, excluded)) continue
      const weight = entry.effectiveWeight
      // outstanding / weight against the best so far, without dividing.
      const lhs = entry.outstanding * bestWeight
      const rhs = bestOutstanding * weight
      if (bestWeight === 0 || lhs < rhs) {
        bestOutstanding = entry.outstanding
        bestWeight = weight
        sum = weight
      } else if (lhs === rhs) sum += weight
    }
    if (bestWeight === 0) return undefined
    let r = this.context.random() * sum
    let last: BackendEntry | undefined
    for (let i = 0; i < n; i++) {
      const entry = candidates[i]!
      if (entry.outstanding * bestWeight !== bestOutstanding * entry.effectiveWeight) continue
      if (excluded !== undefined && isExcluded(entry, excluded)) continue
      last = entry
      r -= entry.effectiveWeight
      if (r < 0) return entry
    }
    return last
  }
}
