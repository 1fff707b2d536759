import { InvalidArgumentError } from '../../core/errors'
import type { BackendEntry, PickRequest } from '../backend'
import { BackendRing, hashString, ringPointsOf } from '../hash-ring'
import { describe, ringPoints } from '../options'
import { isExcluded, type PickExclusion, type Picker, type PickerContext } from './picker'
import { RoundRobinPicker } from './round-robin'

/**
 * Sticky picks on a consistent-hash ring keyed by `sessionId`, else `clientIp` (see {@link BackendRing}). Each backend
 * owns `virtualNodes` × weight points. An unavailable backend's keys go to the next available owner along the ring
 * and come back when it does; other keys never move. Picks without a key go round robin.
 * @internal
 */
export class ConsistentHashPicker implements Picker {
  private readonly ring = new BackendRing()
  private all: readonly BackendEntry[] = []
  private eligible = new Uint8Array(0)
  private readonly fallback: RoundRobinPicker

  constructor(private readonly context: PickerContext) {
    this.fallback = new RoundRobinPicker(context)
  }

  update(candidates: readonly BackendEntry[], all: readonly BackendEntry[], membership: boolean): void {
    this.fallback.update(candidates)
    this.all = all
    if (membership) {
      this.ring.build(all.map((entry) => (entry.ringPoints ??= ringPointsOf(entry.id, this.points(entry)))))
    }
    if (this.eligible.length !== all.length) this.eligible = new Uint8Array(all.length)
    else this.eligible.fill(0)
    for (const entry of candidates) this.eligible[entry.slot] = 1
    this.ring.setEligible(this.eligible)
  }

  pick(request: PickRequest | undefined): BackendEntry | undefined {
    const key = request === undefined ? undefined : (request.sessionId ?? request.clientIp)
    if (typeof key !== 'string' || this.ring.positions.length === 0) {
      checkKey(key)
      return this.fallback.pick()
    }
    const slot = this.ring.targets[this.ring.find(hashString(key))]!
    return slot < 0 ? undefined : this.all[slot]
  }

  pickExcluding(request: PickRequest | undefined, excluded: PickExclusion): BackendEntry | undefined {
    const key = request === undefined ? undefined : (request.sessionId ?? request.clientIp)
    if (typeof key !== 'string' || this.ring.positions.length === 0) {
      checkKey(key)
      return this.fallback.pickExcluding(request, excluded)
    }
    // Walk on from the key's point: a retry goes to the next eligible owner that was not tried yet.
    const { owners } = this.ring
    const start = this.ring.find(hashString(key))
    for (let step = 0; step < owners.length; step++) {
      const slot = owners[(start + step) % owners.length]!
      const entry = this.all[slot]!
      if (this.eligible[slot] === 1 && !isExcluded(entry, excluded)) return entry
    }
    return undefined
  }

  private points(entry: BackendEntry): number {
    return ringPoints(entry.weight, this.context.virtualNodes)
  }
}

/** A key that is neither a string nor absent is a caller's mistake, not a reason to stop being sticky silently. */
function checkKey(key: unknown): void {
  if (key !== undefined && typeof key !== 'string') {
    throw new InvalidArgumentError(`invalid sessionId or clientIp: expected a string, got ${describe(key)}`)
  }
}
