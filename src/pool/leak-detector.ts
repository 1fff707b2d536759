/**
 * A resource held past `leakDetectionMs`, as emitted by the pool's `'leak'` event: a plain
 * object with `message` and `stack`, so it logs well as is (`logger.warn(report)`).
 */
export interface LeakReport {
  /** The pool's name. */
  pool: string
  /** The resource's number in its pool. */
  resourceId: number
  /** How long it had been held when reported, in ms. */
  heldMs: number
  /** The pool's `leakDetectionMs`. */
  thresholdMs: number
  /** Stack of the `acquire()` call that borrowed it, frames only. */
  stack: string
  /** One line saying what happened. */
  message: string
}

/** What the detector needs to know of one borrow; the pool's entries provide it. @internal */
export interface TrackedBorrow {
  readonly id: number
  /** Clock reading when it was lent. */
  borrowedAt: number
  /** From {@link captureTrace}, taken when it was acquired. */
  trace: object | undefined
  /** Set once reported, so a leak is reported once per borrow. */
  leakReported: boolean
}

/**
 * Captures the current stack into a new object, leaving out `above` and everything it called.
 * V8 records the frames now and formats them into text only when `stack` is first read, so
 * the formatting cost falls on leaks actually reported.
 * @internal
 */
export function captureTrace(above: (...args: never[]) => unknown): object {
  const holder = {}
  Error.captureStackTrace(holder, above)
  return holder
}

/** The frames of a trace from {@link captureTrace}, without the first ("Error") line. @internal */
export function formatTrace(trace: object | undefined): string | undefined {
  if (trace === undefined) return undefined
  const stack = (trace as { stack?: unknown }).stack
  if (typeof stack !== 'string') return undefined
  const newline = stack.indexOf('\n')
  return newline < 0 ? '' : stack.slice(newline + 1)
}

/**
 * Watches borrowed resources and reports each one held past a threshold once, with the
 * stack that acquired it, as HikariCP's `leakDetectionThreshold` does.
 *
 * HikariCP schedules a task per borrow; this keeps one timer for the whole pool, armed for
 * the earliest deadline among tracked borrows and re-armed after each scan, so lending costs
 * a Set insertion rather than a timer. The scan is O(borrowed), bounded by the pool's `max`.
 * @internal
 */
export class LeakDetector {
  private readonly tracked = new Set<TrackedBorrow>()
  private timer: NodeJS.Timeout | undefined = undefined
  private timerDue = Infinity

  constructor(
    /** Hold time that counts as a leak, in ms. */
    readonly thresholdMs: number,
    private readonly now: () => number,
    private readonly onLeak: (borrow: TrackedBorrow, heldMs: number) => void,
  ) {}

  /** Starts watching a borrow (its `borrowedAt` and `trace` set). */
  track(borrow: TrackedBorrow): void {
    borrow.leakReported = false
    this.tracked.add(borrow)
    if (this.timer === undefined) this.arm(borrow.borrowedAt + this.thresholdMs)
  }

  /** Stops watching a borrow (returned or destroyed). */
  untrack(borrow: TrackedBorrow): void {
    this.tracked.delete(borrow)
  }

  /** Tracked borrows held past the threshold as of `now`. */
  countLeaked(now: number): number {
    let leaked = 0
    for (const borrow of this.tracked) if (now - borrow.borrowedAt >= this.thresholdMs) leaked++
    return leaked
  }

  /** Stops the timer and forgets every borrow. */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.timerDue = Infinity
    this.tracked.clear()
  }

  private arm(due: number): void {
    if (this.timer !== undefined) {
      if (due >= this.timerDue) return
      clearTimeout(this.timer)
    }
    this.timerDue = due
    // Timers fire on whole milliseconds of another clock: round up, and scan() re-arms if early.
    this.timer = setTimeout(() => this.scan(), Math.max(1, Math.ceil(due - this.now())))
    // A leak report must not keep a process alive that has nothing else to do.
    this.timer.unref()
  }

  private scan(): void {
    this.timer = undefined
    this.timerDue = Infinity
    const now = this.now()
    let next = Infinity
    for (const borrow of this.tracked) {
      if (borrow.leakReported) continue
      const due = borrow.borrowedAt + this.thresholdMs
      if (due <= now) {
        borrow.leakReported = true
        this.onLeak(borrow, now - borrow.borrowedAt)
      } else if (due < next) next = due
    }
    if (next !== Infinity) this.arm(next)
  }
}
