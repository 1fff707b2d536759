import type { BackendEntry, PickRequest } from '../backend'
import { isExcluded, type Exclusion, type Picker, type PickerContext } from './picker'

/**
 * Least outstanding requests, weighted as nginx's least_conn: the candidate with the smallest outstanding / weight.
 * Ties (all idle backends, typically) are broken at random in proportion to weight with one random number, so idle
 * backends share traffic by weight instead of the first one taking it all.
 * @internal
 */
export class LeastConnectionsPicker implements Picker {
  private candidates: readonly BackendEntry[] = []
  /** Scratch for ties: their indices and the running sum of their weights. */
  private tieIndex = new Int32Array(0)
  private tieWeight = new Float64Array(0)

  constructor(private readonly context: PickerContext) {}

  update(candidates: readonly BackendEntry[]): void {
    this.candidates = candidates
    if (this.tieIndex.length < candidates.length) {
      this.tieIndex = new Int32Array(candidates.length)
      this.tieWeight = new Float64Array(candidates.length)
    }
  }

  pick(): BackendEntry | undefined {
    return this.choose(undefined)
  }

  pickExcluding(_request: PickRequest | undefined, excluded: Exclusion): BackendEntry | undefined {
    return this.choose(excluded)
  }

  private choose(excluded: Exclusion | undefined): BackendEntry | undefined {
    const candidates = this.candidates
    const tieIndex = this.tieIndex
    const tieWeight = this.tieWeight
    let ties = 0
    let sum = 0
    let bestLoad = Infinity
    for (let i = 0; i < candidates.length; i++) {
      const entry = candidates[i]!
      if (excluded !== undefined && isExcluded(entry, excluded)) continue
      const weight = entry.effectiveWeight
      const load = entry.outstanding / weight
      if (load < bestLoad) {
        bestLoad = load
        ties = 0
        sum = 0
      } else if (load > bestLoad) continue
      sum += weight
      tieIndex[ties] = i
      tieWeight[ties++] = sum
    }
    if (ties === 0) return undefined
    if (ties === 1) return candidates[tieIndex[0]!]
    const target = this.context.random() * sum
    let t = 0
    while (t < ties - 1 && tieWeight[t]! <= target) t++
    return candidates[tieIndex[t]!]
  }
}
