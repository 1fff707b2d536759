/**
 * The bound on requests in flight: past `max`, a request is refused at once (the caller
 * answers 503), so that overload never builds an unbounded queue of waiting requests and
 * their sockets. Also what `close()` waits on to let the requests in flight finish.
 */
export class InFlightLimit {
  private active = 0
  private idle: (() => void)[] = []

  constructor(readonly max: number) {}

  /** Requests admitted and not yet finished. */
  get inFlight(): number {
    return this.active
  }

  /** Whether no request can be admitted now. */
  get saturated(): boolean {
    return this.active >= this.max
  }

  /** Admits one request unless `max` are in flight; every admitted one must {@link leave}. */
  tryEnter(): boolean {
    if (this.active >= this.max) return false
    this.active++
    return true
  }

  /** One admitted request finished. */
  leave(): void {
    this.active--
    if (this.active === 0) {
      const waiters = this.idle
      this.idle = []
      for (const resolve of waiters) resolve()
    }
  }

  /** Resolves once nothing is in flight. */
  drained(): Promise<void> {
    if (this.active === 0) return Promise.resolve()
    return new Promise((resolve) => this.idle.push(resolve))
  }
}
