import type { BackendEntry, PickRequest } from '../backend'
import { isExcluded, type PickExclusion, type Picker, type PickerContext } from './picker'

/**
 * Plain round robin over the candidates, weights ignored. A backend in slow start is skipped with probability
 * 1 − effectiveWeight / weight, which gives it its ramping share without turning the rotation into a weighted one.
 * @internal
 */
export class RoundRobinPicker implements Picker {
  private candidates: readonly BackendEntry[] = []
  private next = 0

  constructor(private readonly context: PickerContext) {}

  update(candidates: readonly BackendEntry[]): void {
    this.candidates = candidates
  }

  pick(): BackendEntry | undefined {
    const candidates = this.candidates
    const n = candidates.length
    if (n === 0) return undefined
    let i = this.next
    if (i >= n) i = 0
    this.next = i + 1
    const entry = candidates[i]!
    return entry.effectiveWeight < entry.weight ? this.ramping(i) : entry
  }

  /** Slow path while some backend ramps: try candidates in turn, admitting each with its ramp share. */
  private ramping(start: number): BackendEntry {
    const candidates = this.candidates
    const n = candidates.length
    let i = start
    for (let step = 0; step < n; step++) {
      i = start + step < n ? start + step : start + step - n
      const entry = candidates[i]!
      if (entry.effectiveWeight >= entry.weight || this.context.random() * entry.weight < entry.effectiveWeight) break
    }
    this.next = i + 1
    return candidates[i]!
  }

  /**
   * The next candidate in the rotation not excluded, leaving the rotation where it is: a retry's
   * pick is an extra one. Were it to move the cursor, with two backends a failing one would be
   * the first pick of every request (the retry stepping over the other) until ejected.
   */
  pickExcluding(_request: PickRequest | undefined, excluded: PickExclusion): BackendEntry | undefined {
    const candidates = this.candidates
    const n = candidates.length
    for (let step = 0; step < n; step++) {
      const entry = candidates[(this.next + step) % n]!
      if (!isExcluded(entry, excluded)) return entry
    }
    return undefined
  }
}
