/**
 * The balancer's clock with its latest reading cached: picks read `t` instead of the clock (a clock read costs more
 * than a whole pick), and every path that needs fresh time calls `read()` first.
 * @internal
 */
export class CachedClock {
  /** The latest reading, in ms. */
  t: number

  constructor(readonly now: () => number) {
    this.t = now()
  }

  /** Reads the clock and caches the reading. */
  read(): number {
    return (this.t = this.now())
  }
}
