/**
 * A clock with its latest reading cached (the balancer's and the cache's hot paths).
 *
 * A clock read costs 50-60 ns on the machines optlayer is measured on, more than a whole pick, so hot paths call
 * {@link CachedClock.touch} and read `t`: with `coarseMs` > 0 an unref'd timer refreshes `t` every `coarseMs` while
 * touches keep coming, and stops itself after one quiet interval (an idle balancer costs no wake-ups). Decisions that
 * must be exact (an ejection or open period ending, slow start) call {@link CachedClock.read}. With `coarseMs` 0 (an
 * injected clock, in tests) `touch()` reads the clock every time.
 *
 * Time is read from `t` rather than returned: a number that crosses a call V8 did not inline is boxed in a new heap
 * number, and the release path must not allocate.
 * @internal
 */
export class CachedClock {
  /** The latest reading, in ms. */
  t: number
  private timer: NodeJS.Timeout | undefined = undefined
  /** Whether touch() was called since the timer last fired. */
  private used = false
  private stopped = false

  constructor(
    readonly now: () => number,
    private readonly coarseMs: number,
  ) {
    this.t = now()
  }

  /** Reads the clock and caches the reading. */
  read(): number {
    return (this.t = this.now())
  }

  /** Makes `t` a reading at most `coarseMs` old. */
  touch(): void {
    if (this.timer !== undefined) {
      this.used = true
      return
    }
    if (this.coarseMs > 0 && !this.stopped) this.start()
    this.t = this.now()
  }

  /** Stops the refresh timer for good (the balancer is closing). */
  stop(): void {
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  // Kept out of touch(): a function that creates a closure allocates its context on every call.
  private start(): void {
    this.used = false
    this.timer = setInterval(() => this.refresh(), this.coarseMs)
    this.timer.unref()
  }

  private refresh(): void {
    if (!this.used) {
      clearInterval(this.timer)
      this.timer = undefined
      return
    }
    this.used = false
    this.t = this.now()
  }
}
