/** A clock in milliseconds that moves only when a test says so, for components taking `now`. */
export interface FakeClock {
  /** The current time; pass it as a component's `now` option. */
  now: () => number
  /** Moves the time forward by `ms`. */
  advance(ms: number): void
}

/** A {@link FakeClock} starting at `start` ms (not 0, so "never" and "at time 0" stay distinct). */
export function fakeClock(start = 1_000): FakeClock {
  let time = start
  return {
    now: (): number => time,
    advance(ms: number): void {
      time += ms
    },
  }
}
