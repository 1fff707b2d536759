/**
 * Counts of a few kinds of event (calls and failures, requests and retries) over a sliding
 * window of `windowMs`, kept in `buckets` equal buckets: the window slides one bucket at a
 * time, so it covers between `windowMs - windowMs / buckets` and `windowMs`. O(1) per event
 * and allocation-free; it owns no timer and reads no clock: callers pass their own `now`
 * (from the clock they were given), and buckets that fell out are dropped on the next call.
 * @internal
 */
export class SlidingWindowCounter {
  /** `kinds` counters per bucket, bucket after bucket. */
  private readonly ring: Float64Array
  /** Each kind's sum over the window. */
  private readonly totals: Float64Array
  private readonly bucketMs: number
  /** Index of the bucket `epoch` maps to. */
  private head = 0
  /** floor(now / bucketMs) of the head bucket; -Infinity before the first call. */
  private epoch = Number.NEGATIVE_INFINITY

  /**
   * @param windowMs length of the window, in ms (finite, above 0)
   * @param buckets buckets the window is divided into (a whole number, at least 1)
   * @param kinds kinds of event counted (a whole number, at least 1)
   */
  constructor(
    windowMs: number,
    private readonly buckets: number,
    private readonly kinds: number,
  ) {
    this.ring = new Float64Array(buckets * kinds)
    this.totals = new Float64Array(kinds)
    this.bucketMs = windowMs / buckets
  }

  /** Adds `count` events of `kind` (0 to `kinds` - 1) at `now`, after sliding the window there. */
  add(now: number, kind: number, count = 1): void {
    this.advance(now)
    this.totals[kind] = this.totals[kind]! + count
    const index = this.head * this.kinds + kind
    this.ring[index] = this.ring[index]! + count
  }

  /** Events of `kind` in the window as of the latest {@link add} or {@link advance}. */
  total(kind: number): number {
    return this.totals[kind]!
  }

  /** Slides the window to `now`, dropping the buckets that fell out of it. */
  advance(now: number): void {
    const epoch = Math.floor(now / this.bucketMs)
    const steps = epoch - this.epoch
    if (!(steps > 0)) return // a clock that stepped back keeps counting into the head bucket
    if (steps >= this.buckets) {
      this.ring.fill(0)
      this.totals.fill(0)
    } else {
      for (let i = 0; i < steps; i++) {
        this.head = this.head + 1 === this.buckets ? 0 : this.head + 1
        const start = this.head * this.kinds
        for (let kind = 0; kind < this.kinds; kind++) {
          this.totals[kind] = this.totals[kind]! - this.ring[start + kind]!
          this.ring[start + kind] = 0
        }
      }
    }
    this.epoch = epoch
  }

  /** Empties the window; the next call starts a new one wherever its `now` falls. */
  clear(): void {
    this.ring.fill(0)
    this.totals.fill(0)
    this.epoch = Number.NEGATIVE_INFINITY
  }
}
