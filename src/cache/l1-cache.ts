/**
 * One L1 entry: a live JavaScript value (or `NOT_FOUND`, a remembered miss) with its
 * deadlines. @internal
 */
export interface L1Entry {
  key: string
  value: unknown
  /** Epoch ms after which the entry is gone. */
  expiresAt: number
  /** Epoch ms after which the value is stale (served only by `getOrLoad`, while it reloads). */
  freshUntil: number
  /** Set by every hit; cleared as the eviction hand passes (CLOCK). */
  referenced: boolean
  /** Position in the hand's ring. */
  slot: number
}

/** The value of an L1 entry that records "the loader found nothing". @internal */
export const NOT_FOUND: unique symbol = Symbol('optlayer.cache.notFound')

/**
 * The L1 tier: live values under string keys, bounded by entry count, evicted by CLOCK
 * (second chance). Why CLOCK and not LRU: a hit only sets a flag, where LRU moves the entry
 * in a list; it keeps lru-cache's hit cost while approximating its choice of victim. Why
 * not lru-cache itself: the entries carry two deadlines (fresh, expired) and the "not
 * found" marker, and the tier must drop keys named by invalidation messages cheaply.
 * @internal
 */
export class L1Cache {
  private readonly index = new Map<string, L1Entry>()
  private readonly ring: (L1Entry | undefined)[] = []
  private readonly freeSlots: number[] = []
  private hand = 0
  /** Entries evicted to make room. */
  evictions = 0

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.index.size
  }

  /** The fresh entry of `key` at `now`, marked as used: the hot path, one comparison. */
  getFresh(key: string, now: number): L1Entry | undefined {
    const entry = this.index.get(key)
    // `set` keeps freshUntil ≤ expiresAt, so a fresh entry is a live one.
    if (entry !== undefined && entry.freshUntil > now) {
      entry.referenced = true
      return entry
    }
    if (entry !== undefined && entry.expiresAt <= now) this.remove(entry)
    return undefined
  }

  /** The live entry of `key` at `now`, fresh or stale, marked as used; an expired one is dropped. */
  get(key: string, now: number): L1Entry | undefined {
    const entry = this.index.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= now) {
      this.remove(entry)
      return undefined
    }
    entry.referenced = true
    return entry
  }

  /** Stores `value` (replacing any entry of `key`), evicting an unused entry when full. */
  set(key: string, value: unknown, fresh: number, expiresAt: number): void {
    const freshUntil = Math.min(fresh, expiresAt)
    const old = this.index.get(key)
    if (old !== undefined) {
      old.value = value
      old.freshUntil = freshUntil
      old.expiresAt = expiresAt
      old.referenced = true
      return
    }
    if (this.index.size >= this.maxEntries) this.evictOne()
    const slot = this.freeSlots.pop() ?? this.ring.length
    const entry: L1Entry = { key, value, expiresAt, freshUntil, referenced: false, slot }
    this.ring[slot] = entry
    this.index.set(key, entry)
  }

  /** Drops `key`; returns whether it was held. */
  delete(key: string): boolean {
    const entry = this.index.get(key)
    if (entry === undefined) return false
    this.remove(entry)
    return true
  }

  clear(): void {
    this.index.clear()
    this.ring.length = 0
    this.freeSlots.length = 0
    this.hand = 0
  }

  private remove(entry: L1Entry): void {
    this.index.delete(entry.key)
    this.ring[entry.slot] = undefined
    this.freeSlots.push(entry.slot)
  }

  private evictOne(): void {
    // Each pass clears the flags it meets, so this ends within two turns of the ring.
    for (;;) {
      if (this.hand >= this.ring.length) this.hand = 0
      const entry = this.ring[this.hand++]
      if (entry === undefined) continue
      if (entry.referenced) {
        entry.referenced = false
        continue
      }
      this.remove(entry)
      this.evictions++
      return
    }
  }
}
