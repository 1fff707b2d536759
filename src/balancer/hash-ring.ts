/**
 * 32-bit hash of a string's UTF-16 code units: FNV-1a, then MurmurHash3's fmix32 finalizer so that keys differing in
 * their last characters (IP addresses, numbered ids) spread over the whole range. Allocation-free.
 * @internal
 */
export function hashString(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  }
  return fmix32(h)
}

/** MurmurHash3's 32-bit finalizer: a bijection with full avalanche. @internal */
export function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * Ring points of a backend: `count` positions derived from its id alone, so that adding or removing another backend
 * never moves them (what makes remapping minimal). Point i is fmix32 of the id's hash plus i × the golden ratio.
 * @internal
 */
export function ringPointsOf(id: string, count: number): Uint32Array {
  const base = hashString(id)
  const points = new Uint32Array(count)
  for (let i = 0; i < count; i++) points[i] = fmix32((base + Math.imul(i, 0x9e3779b9)) | 0)
  return points
}

// A point and its owner's slot share one float64 sort key: point × 2^20 + slot < 2^52.
const SLOT_BITS = 2 ** 20

/**
 * A consistent-hash ring (Karger et al. 1997, as ketama and Envoy's ring_hash build it): every backend owns points on
 * a 32-bit circle, and a key belongs to the owner of the first point at or after its hash. A backend added to N
 * takes about 1/(N+1) of the keys, each from the backend that held it; nothing else moves.
 *
 * `targets` precomputes, for every point, the first owner at or after it that is eligible, so that skipping
 * unavailable backends by walking the ring costs nothing per lookup; it is recomputed when eligibility changes.
 *
 * Not the public XXH64 `HashRing` (src/core/hash-ring.ts), which places cache keys alike in every process: that one
 * takes whole weights up to 1000 per node where backends weigh 0.001 to 1e6, and a lookup there is a native call that
 * copies the key in and the node's name out (about 1.5 µs, against well under 0.2 µs for a whole pick here).
 * @internal
 */
export class BackendRing {
  /** Sorted point hashes. */
  positions = new Uint32Array(0)
  /** Owner slot of each point. */
  owners = new Int32Array(0)
  /** First eligible owner slot at or after each point; -1 when none is eligible. */
  targets = new Int32Array(0)
  /**
   * Lookup table over the top bits of a hash: `index[h >>> shift]` is the first point at or after the start of h's
   * bucket. With about one point per bucket, a lookup is one table read and a step or two instead of a binary search.
   */
  private index = new Int32Array(1)
  private shift = 31

  /** Rebuilds the points from each slot's own points (`pointsOf[slot]`). */
  build(pointsOf: readonly Uint32Array[]): void {
    let total = 0
    for (const points of pointsOf) total += points.length
    const keys = new Float64Array(total)
    let k = 0
    for (let slot = 0; slot < pointsOf.length; slot++) {
      for (const point of pointsOf[slot]!) keys[k++] = point * SLOT_BITS + slot
    }
    keys.sort()
    this.positions = new Uint32Array(total)
    this.owners = new Int32Array(total)
    this.targets = new Int32Array(total)
    for (let i = 0; i < total; i++) {
      const key = keys[i]!
      const slot = key % SLOT_BITS
      this.positions[i] = (key - slot) / SLOT_BITS
      this.owners[i] = slot
    }
    const bits = Math.min(Math.max(Math.ceil(Math.log2(Math.max(total, 2))), 1), 20)
    this.shift = 32 - bits
    this.index = new Int32Array(1 << bits)
    let point = 0
    for (let bucket = 0; bucket < this.index.length; bucket++) {
      const start = bucket * 2 ** this.shift
      while (point < total && this.positions[point]! < start) point++
      this.index[bucket] = point
    }
  }

  /** Recomputes `targets` for the slots marked 1 in `eligible`. */
  setEligible(eligible: Uint8Array): void {
    const n = this.owners.length
    let next = -1
    // Two passes backwards: the second wraps the circle so the last points see the first eligible one.
    for (let i = 2 * n - 1; i >= 0; i--) {
      const index = i < n ? i : i - n
      const owner = this.owners[index]!
      if (eligible[owner] === 1) next = owner
      if (i < n) this.targets[index] = next
    }
  }

  /** Index of the first point at or after `hash`, wrapping to 0 past the last one. Requires a non-empty ring. */
  find(hash: number): number {
    const positions = this.positions
    const n = positions.length
    let i = this.index[hash >>> this.shift]!
    while (i < n && positions[i]! < hash) i++
    return i === n ? 0 : i
  }
}
